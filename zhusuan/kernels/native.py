"""The ``native`` backend: the compiled extension inside the Jittor graph.

Each fused op is a :class:`jittor.Function`. Its ``execute`` is a
``jt.numpy_code`` node whose Python body hands Jittor's buffers (numpy arrays
on the CPU) to ``zhusuan._C``, which writes the results in place; its ``grad``
is again ``jt.numpy_code`` calling the fused backward kernels of ``_C``.

Gradients are grouped by who usually needs them: the value ``x`` in one
node, the distribution's parameters in another. Jittor evaluates lazily, so a
gradient nobody asks for (the data's, in a likelihood term) is never
computed; inputs marked ``stop_grad`` get none at all.

On a GPU (``jt.flags.use_cuda``) ``numpy_code`` hands cupy arrays instead,
and the same ops go to ``zhusuan._C_cuda`` by device pointer on cupy's
current stream. That path compiles but has not run here (no device).

The math, shapes and signatures are those of :mod:`zhusuan.kernels`.
"""

import jittor as jt
import numpy as np

from . import _ext
from ._fused import family_op, fused_ops, materialize

__all__ = [
    "check_available",
    "normal_log_prob",
    "bernoulli_log_prob",
    "normal_rsample",
    "family_log_prob",
    "log_mean_exp",
]


def check_available():
    """Raise ImportError, saying how to fix it, when ``zhusuan._C`` is missing."""
    if _ext.C is not None:
        return
    msg = (
        f"the native extension zhusuan._C is not built ({_ext.C_ERROR}). Build it "
        "with `pip install .` (or `pip install -e .` in a checkout; needs a C++17 "
        "compiler with OpenMP; scikit-build-core, CMake, ninja and pybind11 come "
        "from PyPI); see docs/install.md. Meanwhile the 'jit' and 'jittor' backends "
        "work without it."
    )
    log = _ext.build_log()
    if log:
        msg += "\n--- zhusuan/_native_build.log ---\n" + log.strip()
    raise ImportError(msg)


# ------------------------------------------------------------------ calls ----
def _call(name, arrays, **kw):
    """Run op ``name`` of the extension that matches where the arrays live."""
    flat = [b for a in arrays.values() for b in (a if isinstance(a, list) else [a])]
    if all(a is None or isinstance(a, np.ndarray) for a in flat):
        getattr(_ext.C, name)(**arrays, **kw)
    else:
        _call_cuda(name, arrays, kw)


def _call_cuda(name, arrays, kw):
    mod = _ext.C_CUDA
    if mod is None:
        raise RuntimeError(
            "zhusuan: the native backend got device arrays but zhusuan._C_cuda is not "
            f"built ({_ext.C_CUDA_ERROR}); rebuild on a machine with nvcc, or use "
            "zhusuan.kernels.set_backend('jittor')"
        )
    import cupy  # only ever reached with cupy arrays in hand

    dtypes = set()

    def dev(a):
        if a is None:
            return mod.DevArray(0, [])
        if not a.flags.c_contiguous:
            a = cupy.ascontiguousarray(a)
        dtypes.add(str(a.dtype))
        return mod.DevArray(int(a.data.ptr), [int(d) for d in a.shape])

    converted = {
        key: [dev(b) for b in a] if isinstance(a, list) else dev(a)
        for key, a in arrays.items()
    }
    stream = cupy.cuda.get_current_stream().ptr
    getattr(mod, name)(**converted, dtype=dtypes.pop(), stream=stream, **kw)


def _code(shapes, dtype, inputs, body):
    """``jt.numpy_code`` with one output (a Var) or several (a tuple)."""
    if len(shapes) == 1:
        return jt.numpy_code(shapes[0], dtype, inputs, body)
    return jt.numpy_code(shapes, [dtype] * len(shapes), inputs, body)


def _outputs(data, names):
    """Map gradient names to numpy_code outputs (None for the others)."""
    outs = data["outputs"]
    return {n: (outs[names.index(n)] if n in names else None) for n in _ALL_GRADS}


_ALL_GRADS = ("grad_x", "grad_mean", "grad_scale", "grad_logits")


# ------------------------------------------------------------- the Functions ----
class _NormalLogProb(jt.Function):
    def __init__(self, logstd, p, weight, need, dtype):
        self.kw = dict(logstd=logstd, axes=p.axes, weight=weight)
        self.p, self.need, self.dtype = p, need, dtype

    def execute(self, x, mean, scale):
        self.saved = (x, mean, scale)
        kw = self.kw

        def forward(np_, data):
            x, m, s = data["inputs"]
            _call(
                "normal_log_prob_forward",
                dict(x=x, mean=m, scale=s, out=data["outputs"][0]),
                **kw,
            )

        return jt.numpy_code(self.p.out_shape, self.dtype, [x, mean, scale], forward)

    def grad(self, g):
        if g is None:
            return None, None, None
        ins = [*self.saved, *materialize([g])]
        groups = [
            ("grad_x",) if self.need[0] else (),
            tuple(n for n, k in (("grad_mean", 1), ("grad_scale", 2)) if self.need[k]),
        ]
        shapes = {
            "grad_x": self.p.shapes[0],
            "grad_mean": self.p.shapes[1],
            "grad_scale": self.p.shapes[2],
        }
        res = {}
        for names in groups:
            if not names:
                continue
            res.update(self._backward(ins, names, [shapes[n] for n in names]))
        return res.get("grad_x"), res.get("grad_mean"), res.get("grad_scale")

    def _backward(self, ins, names, shapes):
        kw = self.kw

        def backward(np_, data):
            x, m, s, g = data["inputs"]
            outs = _outputs(data, names)
            _call(
                "normal_log_prob_backward",
                dict(
                    x=x,
                    mean=m,
                    scale=s,
                    grad_out=g,
                    grad_x=outs["grad_x"],
                    grad_mean=outs["grad_mean"],
                    grad_scale=outs["grad_scale"],
                ),
                **kw,
            )

        out = _code(shapes, self.dtype, ins, backward)
        return dict(zip(names, out if len(names) > 1 else (out,), strict=True))


class _BernoulliLogProb(jt.Function):
    """Forward and backward of ``bernoulli_log_prob``.

    When the logits want a gradient (and ``jt.flags.no_grad`` is off), the
    forward kernel also saves each element's derivative with respect to the
    logits (one array of the broadcast shape), and the backward is then
    ``reduce_product`` of it with the upstream gradient: the exp and the
    division per element are paid once, in the pass that reads the logits
    anyway. The gradient of ``x`` (rarely wanted: x is usually data) is
    computed from x and the logits in its own lazy node.
    """

    def __init__(self, p, weight, need, dtype):
        self.kw = dict(axes=p.axes, weight=weight)
        self.p, self.need, self.dtype = p, need, dtype
        self.dlogits = None

    def execute(self, x, logits):
        self.saved = (x, logits)
        kw, p = self.kw, self.p

        if not (self.need[1] and not jt.flags.no_grad):

            def forward(np_, data):
                x, logits = data["inputs"]
                out = data["outputs"][0]
                _call(
                    "bernoulli_log_prob_forward",
                    dict(x=x, logits=logits, out=out),
                    **kw,
                )

            return jt.numpy_code(p.out_shape, self.dtype, [x, logits], forward)

        def forward_saving(np_, data):
            x, logits = data["inputs"]
            out, dlogits = data["outputs"]
            _call(
                "bernoulli_log_prob_forward",
                dict(x=x, logits=logits, out=out, dlogits=dlogits),
                **kw,
            )

        out, self.dlogits = jt.numpy_code(
            [p.out_shape, p.full], [self.dtype] * 2, [x, logits], forward_saving
        )
        return out

    def grad(self, g):
        if g is None:
            return None, None
        (g,) = materialize([g])
        grad_x = self._backward([*self.saved, g], "grad_x") if self.need[0] else None
        if not self.need[1]:
            return grad_x, None
        if self.dlogits is None:
            return grad_x, self._backward([*self.saved, g], "grad_logits")
        kw = self.kw

        def backward(np_, data):
            d, g = data["inputs"]
            _call(
                "reduce_product",
                dict(values=d, grad_out=g, out=data["outputs"][0]),
                **kw,
            )

        shape = self.p.shapes[1]
        return grad_x, jt.numpy_code(shape, self.dtype, [self.dlogits, g], backward)

    def _backward(self, ins, name):
        kw = self.kw

        def backward(np_, data):
            x, logits, g = data["inputs"]
            outs = _outputs(data, [name])
            _call(
                "bernoulli_log_prob_backward",
                dict(
                    x=x,
                    logits=logits,
                    grad_out=g,
                    grad_x=outs["grad_x"],
                    grad_logits=outs["grad_logits"],
                ),
                **kw,
            )

        shape = self.p.shapes[0 if name == "grad_x" else 1]
        return jt.numpy_code(shape, self.dtype, ins, backward)


class _NormalRsample(jt.Function):
    def __init__(self, logstd, p, weight, need, dtype):
        self.kw = dict(logstd=logstd, axes=p.axes, weight=weight)
        self.p, self.need, self.dtype = p, need, dtype

    def execute(self, mean, scale, eps):
        self.saved = (mean, scale, eps)
        kw = self.kw

        def forward(np_, data):
            m, s, e = data["inputs"]
            z, lq = data["outputs"]
            _call(
                "normal_rsample_forward",
                dict(mean=m, scale=s, eps=e, z=z, log_q=lq),
                **kw,
            )

        return jt.numpy_code(
            [self.p.full, self.p.out_shape],
            [self.dtype] * 2,
            [mean, scale, eps],
            forward,
        )

    def grad(self, gz, glq):
        names = tuple(
            n for n, k in (("grad_mean", 0), ("grad_scale", 1)) if self.need[k]
        )
        if (gz is None and glq is None) or not names:
            return None, None, None
        has = (gz is not None, glq is not None)
        ins = [*self.saved] + materialize([g for g in (gz, glq) if g is not None])
        kw = self.kw

        def backward(np_, data):
            m, s, e, *gs = data["inputs"]
            gs = iter(gs)
            gz_ = next(gs) if has[0] else None
            glq_ = next(gs) if has[1] else None
            outs = _outputs(data, names)
            _call(
                "normal_rsample_backward",
                dict(
                    mean=m,
                    scale=s,
                    eps=e,
                    grad_z=gz_,
                    grad_log_q=glq_,
                    grad_mean=outs["grad_mean"],
                    grad_scale=outs["grad_scale"],
                ),
                **kw,
            )

        shapes = {"grad_mean": self.p.shapes[0], "grad_scale": self.p.shapes[1]}
        out = _code([shapes[n] for n in names], self.dtype, ins, backward)
        res = dict(zip(names, out if len(names) > 1 else (out,), strict=True))
        # eps is noise: no gradient, whatever asks.
        return res.get("grad_mean"), res.get("grad_scale"), None


class _FamilyLogProb(jt.Function):
    """Forward and backward of ``family_log_prob`` for any family of
    ``csrc/include/zhusuan/families.h``: one ``family_log_prob_forward`` pass,
    and backward passes grouped like the Normal's (the value's gradient in
    one lazy node, the parameters' in another)."""

    def __init__(self, family, p, weight, need, dtype):
        self.family, self.p, self.need, self.dtype = family, p, need, dtype
        self.kw = dict(family=family, axes=p.axes, weight=weight)

    def execute(self, x, *params):
        self.saved = (x, *params)
        kw = self.kw

        def forward(np_, data):
            x, *ps = data["inputs"]
            _call(
                "family_log_prob_forward",
                dict(x=x, params=list(ps), out=data["outputs"][0]),
                **kw,
            )

        return jt.numpy_code(self.p.out_shape, self.dtype, [x, *params], forward)

    def grad(self, g):
        n = len(self.saved)
        if g is None:
            return (None,) * n
        ins = [*self.saved, *materialize([g])]
        groups = [[0] if self.need[0] else [], [k for k in range(1, n) if self.need[k]]]
        res = [None] * n
        for which in groups:
            if which:
                outs = self._backward(ins, which)
                for k, v in zip(which, outs, strict=True):
                    res[k] = v
        return tuple(res)

    def _backward(self, ins, which):
        kw, n = self.kw, len(self.saved)

        def backward(np_, data):
            x, *rest = data["inputs"]
            ps, g = rest[:-1], rest[-1]
            outs = iter(data["outputs"])
            grads = [next(outs) if k in which else None for k in range(n)]
            _call(
                "family_log_prob_backward",
                dict(x=x, params=list(ps), grad_out=g, grads=grads),
                **kw,
            )

        out = _code([self.p.shapes[k] for k in which], self.dtype, ins, backward)
        return out if len(which) > 1 else (out,)


# ------------------------------------------------------------------- the ops ----
normal_log_prob, bernoulli_log_prob, normal_rsample, log_mean_exp = fused_ops(
    _NormalLogProb, _BernoulliLogProb, _NormalRsample
)
family_log_prob = family_op(_FamilyLogProb)
