"""The ``jit`` backend: Jittor's ``jt.code`` compiling our headers.

Every fused op is a :class:`jittor.Function` whose forward and backward are
``jt.code`` kernels. Their C++ source is generated here for the broadcast
pattern at hand (rank, which operand broadcasts along which axis, which axes
are reduced) and includes the per-element math of
``csrc/include/zhusuan/{normal,bernoulli}.h``, the same functions the native
extension and the CUDA kernels call. Sizes and strides are read at run time
and the weight is passed as data, so a kernel is compiled once per pattern,
not per batch size.

The loops: kept axes outside, reduced axes inside with a double accumulator,
the innermost loop marked ``omp simd``. No OpenMP threads (this is the
fallback; the native backend is the tuned one). Jittor compiles these sources
with ``-Ofast``; we append ``-fno-fast-math`` (the math relies on IEEE
inf/NaN and on the compensated log1p not being reassociated) and
``-fno-trapping-math`` (so that the selects vectorise, as in CMakeLists.txt).

Needs the headers on disk: a wheel installs them in ``zhusuan/include``, a
checkout (and an editable install) has them in ``csrc/include``
(``_ext.INCLUDE_DIR``); :func:`check_available` says so when they are missing.
"""

import jittor as jt

from . import _ext
from ._fused import family_op, fused_ops, materialize

__all__ = [
    "check_available",
    "normal_log_prob",
    "bernoulli_log_prob",
    "normal_rsample",
    "family_log_prob",
    "log_mean_exp",
    "INCLUDE_DIR",
]

# Installed with the package, or the checkout's csrc/include (_ext.INCLUDE_DIR).
INCLUDE_DIR = _ext.INCLUDE_DIR / "zhusuan"
_HEADERS = ("isa_namespace.h", "common.h", "special.h", "normal.h", "bernoulli.h",
            "families.h")
# -I: Jittor's compile cache scans a source's #include "..." lines itself and
# looks only in the -I directories of the command (families.h includes
# special.h by a relative path).
_FLAGS = {
    f'FLAGS: -fno-fast-math -fno-trapping-math -ffp-contract=fast -I"{INCLUDE_DIR}" ': 1
}


def check_available():
    """Raise ImportError when the headers are not where the kernels include them."""
    missing = [h for h in _HEADERS if not (INCLUDE_DIR / h).is_file()]
    if missing:
        raise ImportError(
            f"the jit backend compiles csrc/include/zhusuan/*.h, but {missing} are "
            f"not in {INCLUDE_DIR} (an install ships them in zhusuan/include, a "
            "checkout in csrc/include). Reinstall with `pip install .` (or `-e .` "
            "from a checkout), or use the 'native' or 'jittor' backend."
        )


def _header():
    return "\n".join(
        f'#include "{INCLUDE_DIR / h}"' for h in ("normal.h", "bernoulli.h", "families.h")
    )


# ------------------------------------------------------- source generation ----
class _Arr:
    """How one array of a kernel maps onto the broadcast shape F.

    ``dmap[d]`` is the axis of the array that runs along axis d of F, or None
    when the array is constant along d (broadcast, or d has size 1).
    """

    def __init__(self, kind, index, dmap):
        self.kind, self.index, self.dmap = kind, index, dmap

    def size(self, d):
        return f"{self.kind}{self.index}_shape{self.dmap[d]}"

    def offset(self, dims, last):
        terms = []
        for d in dims:
            j = self.dmap[d]
            if j is None:
                continue
            stride = "1" if d == last else f"{self.kind}{self.index}_stride{j}"
            terms.append(f"i{d} * {stride}")
        return " + ".join(terms) if terms else "0"


def _operand(index, shape, full):
    """An input of shape ``shape`` broadcast (right-aligned) to ``full``."""
    off = len(full) - len(shape)
    dmap = [None] * len(full)
    for d in range(len(full)):
        j = d - off
        if j >= 0 and shape[j] != 1 and full[d] != 1:
            dmap[d] = j
    return dmap


def _reduced(full, axes):
    """Map of the reduced output (F without ``axes``, or [1]) onto F."""
    dmap, j = [None] * len(full), 0
    for d in range(len(full)):
        if d in axes:
            continue
        if full[d] != 1:
            dmap[d] = j
        j += 1
    return dmap


def _source(full, inputs, out, term, side=None):
    """C++ body: out = weight * sum over the axes ``out`` does not keep of ``term``.

    ``inputs``: list of _Arr ('in'); ``term``: C++ expression in v0, v1, ...
    (the inputs' values at the element); ``out``: _Arr ('out'), whose dmap
    also says which axes are kept; ``side``: optional (_Arr, expression)
    written at every element (the rsample's z).
    """
    dims = [d for d in range(len(full)) if full[d] != 1]
    last = dims[-1] if dims else None
    kept = [d for d in dims if out.dmap[d] is not None]
    red = [d for d in dims if out.dmap[d] is None]

    def size(d):
        for a in inputs:
            if a.dmap[d] is not None:
                return a.size(d)
        return out.size(d)

    body = [
        f"const auto v{k} = in{a.index}_p[{a.offset(dims, last)}];"
        for k, a in enumerate(inputs)
    ]
    if side is not None:
        s_arr, s_expr = side
        body.append(f"out{s_arr.index}_p[{s_arr.offset(dims, last)}] = {s_expr};")
    o = f"out{out.index}"
    lines = ['const double zs_w = data["w"];']
    loops = [
        (d, f"for (long long i{d} = 0; i{d} < {size(d)}; ++i{d}) {{")
        for d in kept + red
    ]
    if red:
        head = [h for d, h in loops if d in kept]
        inner = [h for d, h in loops if d in red]
        lines += head + ["double zs_acc = 0.0;"]
        lines += inner[:-1] + ["#pragma omp simd reduction(+ : zs_acc)", inner[-1]]
        lines += body + [f"zs_acc += static_cast<double>({term});"] + ["}"] * len(red)
        lines += [
            f"{o}_p[{out.offset(kept, last)}] = static_cast<{o}_type>(zs_acc * zs_w);"
        ]
        lines += ["}"] * len(kept)
    else:
        heads = [h for _, h in loops]
        if heads:
            heads = heads[:-1] + ["#pragma omp simd", heads[-1]]
        lines += heads + body
        lines += [
            f"{o}_p[{out.offset(kept, last)}] = "
            f"static_cast<{o}_type>(static_cast<double>({term}) * zs_w);"
        ]
        lines += ["}"] * len(kept)
    return "\n".join(lines)


def _run(shapes, dtype, inputs, src, weight):
    """One jt.code node (several outputs when ``shapes`` has several)."""
    multi = len(shapes) > 1
    outs = jt.code(
        shapes if multi else shapes[0],
        [dtype] * len(shapes) if multi else dtype,
        inputs,
        cpu_header=_header(),
        cpu_src=src,
        data={"w": float(weight)},
    )
    first = outs[0] if multi else outs
    first.compile_options = _FLAGS
    return outs


# ------------------------------------------------------------- the Functions ----
_NORMAL = "zhusuan::normal::"
_BERNOULLI = "zhusuan::bernoulli::"


def _bool(b):
    return "true" if b else "false"


class _NormalOp(jt.Function):
    """What both Normal ops keep: the scale form, the plan, the weight, which
    inputs want a gradient and the dtype."""

    def __init__(self, logstd, p, weight, need, dtype):
        self.logstd, self.p, self.weight, self.need, self.dtype = (
            logstd,
            p,
            weight,
            need,
            dtype,
        )


class _NormalLogProb(_NormalOp):
    def execute(self, x, mean, scale):
        self.saved = (x, mean, scale)
        p = self.p
        ins = [_Arr("in", k, _operand(k, s, p.full)) for k, s in enumerate(p.shapes)]
        term = f"{_NORMAL}log_prob<{_bool(self.logstd)}>(v0, v1, v2)"
        src = _source(p.full, ins, _Arr("out", 0, _reduced(p.full, p.axes)), term)
        return _run([p.out_shape], self.dtype, [x, mean, scale], src, self.weight)

    def grad(self, g):
        if g is None:
            return None, None, None
        p = self.p
        (g,) = materialize([g])
        ins = [_Arr("in", k, _operand(k, s, p.full)) for k, s in enumerate(p.shapes)]
        ins.append(_Arr("in", 3, _reduced(p.full, p.axes)))
        grads = []
        for k in range(3):
            if not self.need[k]:
                grads.append(None)
                continue
            out = _Arr("out", 0, _operand(k, p.shapes[k], p.full))
            term = (
                f"{_NORMAL}LogProbGradFn<{_bool(self.logstd)}, {k}>{{}}(v0, v1, v2, v3)"
            )
            src = _source(p.full, ins, out, term)
            grads.append(
                _run([p.shapes[k]], self.dtype, [*self.saved, g], src, self.weight)
            )
        return tuple(grads)


class _BernoulliLogProb(jt.Function):
    def __init__(self, p, weight, need, dtype):
        self.p, self.weight, self.need, self.dtype = p, weight, need, dtype

    def execute(self, x, logits):
        self.saved = (x, logits)
        p = self.p
        ins = [_Arr("in", k, _operand(k, s, p.full)) for k, s in enumerate(p.shapes)]
        src = _source(
            p.full,
            ins,
            _Arr("out", 0, _reduced(p.full, p.axes)),
            f"{_BERNOULLI}log_prob(v0, v1)",
        )
        return _run([p.out_shape], self.dtype, [x, logits], src, self.weight)

    def grad(self, g):
        if g is None:
            return None, None
        p = self.p
        (g,) = materialize([g])
        ins = [_Arr("in", k, _operand(k, s, p.full)) for k, s in enumerate(p.shapes)]
        ins.append(_Arr("in", 2, _reduced(p.full, p.axes)))
        grads = []
        for k in range(2):
            if not self.need[k]:
                grads.append(None)
                continue
            out = _Arr("out", 0, _operand(k, p.shapes[k], p.full))
            src = _source(
                p.full, ins, out, f"{_BERNOULLI}LogProbGradFn<{k}>{{}}(v0, v1, v2)"
            )
            grads.append(
                _run([p.shapes[k]], self.dtype, [*self.saved, g], src, self.weight)
            )
        return tuple(grads)


class _NormalRsample(_NormalOp):
    def execute(self, mean, scale, eps):
        self.saved = (mean, scale, eps)
        p = self.p
        ls = _bool(self.logstd)
        ins = [_Arr("in", k, _operand(k, s, p.full)) for k, s in enumerate(p.shapes)]
        # Outputs: out0 = z (the full shape), out1 = log_q (reduced).
        z = _Arr("out", 0, _operand(0, p.full, p.full))
        src = _source(
            p.full,
            ins,
            _Arr("out", 1, _reduced(p.full, p.axes)),
            f"{_NORMAL}rsample_log_prob<{ls}>(v1, v2)",
            side=(z, f"{_NORMAL}rsample<{ls}>(v0, v1, v2)"),
        )
        z, log_q = _run(
            [p.full, p.out_shape], self.dtype, [mean, scale, eps], src, self.weight
        )
        return z, log_q

    def grad(self, gz, glq):
        if gz is None and glq is None:
            return None, None, None
        p = self.p
        ls = _bool(self.logstd)
        mean, scale, eps = self.saved
        gz, glq = materialize([gz, glq])
        grads = [None, None, None]
        if self.need[0] and gz is not None:
            src = _source(
                p.full,
                [_Arr("in", 0, _operand(0, p.full, p.full))],
                _Arr("out", 0, _operand(0, p.shapes[0], p.full)),
                f"{_NORMAL}RsampleGradMeanFn{{}}(v0)",
            )
            grads[0] = _run([p.shapes[0]], self.dtype, [gz], src, 1.0)
        elif self.need[0]:
            grads[0] = jt.zeros(p.shapes[0], dtype=self.dtype)
        if self.need[1]:
            # Operands scale, eps, gz, glq; an absent gradient is replaced by
            # a stride-0 read of scale, which the functor ignores.
            ins = [
                _Arr("in", 0, _operand(0, p.shapes[1], p.full)),
                _Arr("in", 1, _operand(1, p.full, p.full)),
            ]
            vars_ = [scale, eps]
            for g, dmap in (
                (gz, _operand(0, p.full, p.full)),
                (glq, _reduced(p.full, p.axes)),
            ):
                if g is not None:
                    ins.append(_Arr("in", len(vars_), dmap))
                    vars_.append(g)
                else:
                    ins.append(_Arr("in", 0, [None] * len(p.full)))
            fn = (
                f"{_NORMAL}RsampleGradScaleFn<{ls}, {_bool(gz is not None)}, "
                f"{_bool(glq is not None)}>{{{self.weight!r}}}"
            )
            src = _source(
                p.full,
                ins,
                _Arr("out", 0, _operand(1, p.shapes[1], p.full)),
                f"{fn}(v0, v1, v2, v3)",
            )
            grads[1] = _run([p.shapes[1]], self.dtype, vars_, src, 1.0)
        return tuple(grads)


class _FamilyLogProb(jt.Function):
    """``family_log_prob``: the forward is ``F::log_prob`` of the family's
    struct in families.h, each wanted gradient one kernel of
    ``g * F::grad<k>``."""

    def __init__(self, family, p, weight, need, dtype):
        self.fam = f"zhusuan::families::{family}"
        self.p, self.weight, self.need, self.dtype = p, weight, need, dtype

    def _ins(self):
        return [_Arr("in", k, _operand(k, s, self.p.full)) for k, s in enumerate(self.p.shapes)]

    def execute(self, x, *params):
        self.saved = (x, *params)
        p = self.p
        args = ", ".join(f"v{k}" for k in range(len(self.saved)))
        src = _source(p.full, self._ins(), _Arr("out", 0, _reduced(p.full, p.axes)),
                      f"{self.fam}::log_prob({args})")
        return _run([p.out_shape], self.dtype, list(self.saved), src, self.weight)

    def grad(self, g):
        n = len(self.saved)
        if g is None:
            return (None,) * n
        p = self.p
        (g,) = materialize([g])
        ins = self._ins() + [_Arr("in", n, _reduced(p.full, p.axes))]
        args = ", ".join(f"v{k}" for k in range(n))
        grads = []
        for k in range(n):
            if not self.need[k]:
                grads.append(None)
                continue
            out = _Arr("out", 0, _operand(k, p.shapes[k], p.full))
            term = f"v{n} * {self.fam}::grad<{k}>({args})"
            src = _source(p.full, ins, out, term)
            grads.append(_run([p.shapes[k]], self.dtype, [*self.saved, g], src, self.weight))
        return tuple(grads)


# ------------------------------------------------------------------- the ops ----
normal_log_prob, bernoulli_log_prob, normal_rsample, log_mean_exp = fused_ops(
    _NormalLogProb, _BernoulliLogProb, _NormalRsample
)
family_log_prob = family_op(_FamilyLogProb)
