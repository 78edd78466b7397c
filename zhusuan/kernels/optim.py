"""The optimiser updates (Adam, SGD with momentum) on each backend.

:mod:`zhusuan.optim` builds the optimisers; this module runs their update,
one fused pass over every parameter of a step, on the backend chosen as for
the probabilistic ops (:func:`zhusuan.kernels.get_backend`, or an
optimiser's own ``backend=``). The math of one element is
``csrc/include/zhusuan/optim.h``; the three implementations:

``native``
    ``zhusuan._C.adam_step`` / ``sgd_step``: one OpenMP pass over all
    parameters' elements, in place, called *eagerly* on zero-copy numpy
    views of Jittor's buffers (``Var.data``) right after one ``jt.sync`` of
    everything the update reads (the loss too, see below).
``jit``
    one ``jt.code`` node for all parameters whose C++ source includes the same
    header and runs the same host loop (also OpenMP); it writes into the
    parameter and state buffers in place (``jt.code(inputs, outputs=...)``,
    whose outputs share the given Vars' memory) and runs lazily, inside
    Jittor's graph.
``jittor``
    Jittor's own expressions from ``jittor/optim.py``, one small graph per
    parameter (the reference; float32 results equal jt.optim's).

Why eager in-place calls for ``native``: handing Jittor's buffers to native
code costs nothing once they are computed, because ``Var.data`` is a numpy
view of the Var's memory (``Var.numpy()`` copies), and in place the update
moves the least memory. Measured by ``benches/optim_handoff.py`` on the
tutorial VAE's parameters (14 tensors, 1.35 M float32; 2 cores, load 3,
OMP_WAIT_POLICY=passive; medians, and the fixed cost on 14 one-element
tensors):

=====================================  =========  ==========
mechanism                              1.35 M     fixed cost
=====================================  =========  ==========
eager ``Var.data`` + one ``_C`` call   0.98 ms    27 us
``jt.code`` one node, in place         1.06 ms    78 us
``numpy_code`` per tensor, in place    1.18 ms    88 us
``numpy_code`` per tensor, new outputs 3.94 ms    124 us
``jt.code`` one node, new outputs      5.96 ms    81 us
``jt.optim.Adam``                      3.74 ms    526 us
=====================================  =========  ==========

``jt.numpy_code`` (how the probabilistic ops call ``_C``) takes at most 10
inputs and 10 outputs per node, so it needs a node (and a native call) per
parameter or two; writing new outputs (the functional style of
``p.update``) moves three more arrays and allocates them every step. The
in-place ``jt.code`` node is the ``jit`` backend: nearly as fast, lazy, and
inside the graph.

In-place updates change what a *lazy* Var computed from a parameter before
the step sees if it is evaluated only after the step: the optimisers
evaluate the loss given to ``step(loss)`` before they write (the native
backend syncs it with the gradients; the jit node takes it as an input), so
training loops behave exactly as with jt.optim. Parameters are written
where they are: a parameter whose memory is shared with another Var (a
reshape of another array) would change that Var too.
"""

import jittor as jt
import numpy as np

from ..numerics import const
from . import _ext

__all__ = [
    "adam_step",
    "sgd_step",
    "available",
    "unavailable_reason",
    "resolve",
    "backend_info",
    "ADAM_COEFS",
    "SGD_COEFS",
]

# Fastest first (benches/bench_optim.py).
_PREFERENCE = ("native", "jit", "jittor")

# Column order of the coefficient rows (csrc/include/zhusuan/optim.h).
ADAM_COEFS = ("beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps",
              "weight_decay", "step_size")
SGD_COEFS = ("lr", "momentum", "one_minus_dampening", "weight_decay", "nesterov")

_INCLUDE = _ext.INCLUDE_DIR  # installed, or the checkout's csrc/include
_HEADER = _INCLUDE / "zhusuan" / "optim.h"


# ------------------------------------------------------------ availability ----
def unavailable_reason(backend):
    """Why ``backend`` cannot run the optimiser updates here ('' if it can)."""
    if backend == "jittor":
        return ""
    if backend == "native":
        if jt.flags.use_cuda:
            if _ext.C_CUDA is None:
                return f"zhusuan._C_cuda is not built ({_ext.C_CUDA_ERROR})"
            if not hasattr(_ext.C_CUDA, "adam_step"):
                return "zhusuan._C_cuda predates the optimiser kernels; rebuild it"
            return ""
        if _ext.C is None:
            return f"zhusuan._C is not built ({_ext.C_ERROR})"
        if not hasattr(_ext.C, "adam_step"):
            return ("zhusuan._C predates the optimiser kernels (no adam_step); rebuild "
                    "it with `pip install -e .`")
        return ""
    if backend == "jit":
        if jt.flags.use_cuda:
            return ("the jit optimiser kernel has no CUDA source; use 'native' or "
                    "'jittor'")
        if not _HEADER.is_file():
            return (f"{_HEADER} is missing (an install ships the headers in "
                    "zhusuan/include, a checkout in csrc/include); reinstall with "
                    "`pip install .`")
        return ""
    return f"unknown backend {backend!r}"


def available(backend):
    return unavailable_reason(backend) == ""


def resolve(requested=None):
    """``(backend, why)``: ``requested`` if given (an error if it cannot run
    here), else the backend of the probabilistic ops
    (:func:`zhusuan.kernels.get_backend`), else the next available one in the
    order native, jit, jittor (e.g. an extension built before the optimiser
    kernels existed)."""
    if requested is not None:
        if requested not in _PREFERENCE:
            raise ValueError(
                f"unknown backend {requested!r}; choose one of {_PREFERENCE}")
        reason = unavailable_reason(requested)
        if reason:
            raise RuntimeError(
                f"optimiser backend {requested!r} is not available: {reason}")
        return requested, "requested (backend=...)"
    from . import get_backend

    chosen = get_backend()
    reason = unavailable_reason(chosen)
    if not reason:
        return chosen, f"the zhusuan.kernels backend ({chosen})"
    for name in _PREFERENCE[_PREFERENCE.index(chosen) + 1:]:
        if available(name):
            return name, (f"the zhusuan.kernels backend {chosen!r} cannot run the "
                          f"optimiser here ({reason}); next available")
    raise AssertionError("the jittor backend is always available")


def backend_info(requested=None):
    """A dict like :func:`zhusuan.kernels.backend_info` for the optimiser
    updates: each backend's availability (or the reason it is missing), the
    one an optimiser built now would use and why, and how each runs."""
    chosen, why = resolve(requested)
    mechanism = {
        "native": "one OpenMP pass of zhusuan._C over all parameters, in place, on "
                  "Var.data views after one jt.sync (GPU: numpy_code nodes of two "
                  "tensors calling zhusuan._C_cuda)",
        "jit": "one in-place jt.code node over all parameters compiling "
               "csrc/include/zhusuan/optim.h (the same OpenMP loop)",
        "jittor": "jittor/optim.py's expressions, one fused Jittor kernel per "
                  "parameter",
    }
    return {
        "chosen": chosen,
        "why": why,
        "backends": {name: {"available": available(name),
                            "reason": unavailable_reason(name),
                            "mechanism": mechanism[name]}
                     for name in _PREFERENCE},
    }


# ---------------------------------------------------------------- entry ----
def adam_step(backend, params, grads, exp_avg, exp_avg_sq, coefs, deps=()):
    """One Adam update of every tensor, in place (``jittor``: by ``update``).

    ``params``, ``grads``, ``exp_avg`` (Jittor's ``m``) and ``exp_avg_sq``
    (Jittor's ``values``) are equally long lists of Vars of one dtype, tensor
    by tensor of equal shapes; ``coefs`` a float64 array [n, 7] in the order
    of :data:`ADAM_COEFS`, each value rounded once to that dtype by the
    kernel; ``deps`` Vars that must be evaluated before any parameter is
    written (the loss).
    """
    if not params:
        return
    _IMPLS[backend][0](params, grads, exp_avg, exp_avg_sq, coefs, deps)


def sgd_step(backend, params, grads, buffers, coefs, deps=()):
    """One SGD update (see :func:`adam_step`; ``coefs`` [n, 5] in the order of
    :data:`SGD_COEFS`, nesterov as 0 or 1)."""
    if not params:
        return
    _IMPLS[backend][1](params, grads, buffers, coefs, deps)


# ------------------------------------------------------------------ native ----
def _native_adam(params, grads, m, v, coefs, deps):
    if jt.flags.use_cuda:
        return _native_cuda("adam_step", [params, grads, m, v], coefs, deps)
    # One sync for everything the kernel reads or writes (and the loss):
    # afterwards every Var has its buffer and .data is a view of it.
    jt.sync([*params, *grads, *m, *v, *deps])
    _ext.C.adam_step([p.data for p in params], [g.data for g in grads],
                     [x.data for x in m], [x.data for x in v], coefs)


def _native_sgd(params, grads, buf, coefs, deps):
    if jt.flags.use_cuda:
        return _native_cuda("sgd_step", [params, grads, buf], coefs, deps)
    jt.sync([*params, *grads, *buf, *deps])
    _ext.C.sgd_step([p.data for p in params], [g.data for g in grads],
                    [x.data for x in buf], coefs)


def _native_cuda(name, lists, coefs, deps):
    """On the GPU: jt.numpy_code hands cupy views of the buffers (Var.data
    would copy them to the host). It takes at most 10 inputs, so one node per
    two tensors (8 inputs), each updating its inputs in place by one
    _C_cuda launch; the 1-element outputs only carry the dependency. Compiles
    and is wired like the probabilistic ops' CUDA path; not run here (no
    device)."""
    mod = _ext.C_CUDA
    k = len(lists)
    n = len(lists[0])
    dtype = str(lists[0][0].dtype)
    # One dependency input per node, however many losses are pending.
    if len(deps) > 1:
        deps = [sum(d.sum() for d in deps)]
    done = []
    for start in range(0, n, 2):
        idx = list(range(start, min(start + 2, n)))
        ins = [lst[i] for i in idx for lst in lists]
        rows = np.ascontiguousarray(coefs[idx])
        body = _cuda_body(getattr(mod, name), k, len(idx), rows, dtype)
        done.append(jt.numpy_code([1], dtype, ins + list(deps), body))
    jt.sync(done)


def _cuda_body(fn, k, m, rows, dtype):
    """The numpy_code body of one node: its inputs are k arrays for each of m
    tensors (then the dependencies); fn is the _C_cuda update."""

    def body(np_, data):
        import cupy

        arrays = data["inputs"][: m * k]  # the dependencies come last
        per = [[(int(a.data.ptr), int(a.size)) for a in arrays[j::k]]
               for j in range(k)]
        fn(*per, rows, dtype, cupy.cuda.get_current_stream().ptr)

    return body


# --------------------------------------------------------------------- jit ----
_FLAGS = {
    "FLAGS: -fno-fast-math -fno-math-errno -fno-trapping-math -ffp-contract=off "
    f'-I"{_INCLUDE}" -I"{_INCLUDE / "zhusuan"}" ': 1
}


def _jit_source(op, n, n_arrays, n_coef, groups, dtype):
    """C++ body of the in-place jt.code node.

    Inputs: the gradients, then every written array again (so that the Vars
    whose memory the outputs take over stay alive until the node runs, and
    are computed first), then the dependencies; outputs: the written arrays
    (array a of tensor t is out{a * n + t}). ``groups[t]``: the row of
    coefficients tensor t uses, read from ``data`` as c{row}_{k}.
    """
    ctype = {"float32": "float", "float64": "double"}[dtype]
    ptrs = [", ".join(f"out{a * n + t}_p" for t in range(n)) for a in range(n_arrays)]
    lines = [f"using T = {ctype};"]
    for a, ps in enumerate(ptrs):
        lines.append(f"T* const A{a}[] = {{{ps}}};")
    lines.append(f"const T* const G[] = {{{', '.join(f'in{t}_p' for t in range(n))}}};")
    lines.append("const std::int64_t S[] = {"
                 + ", ".join(f"(std::int64_t)in{t}->num" for t in range(n)) + "};")
    rows = sorted(set(groups))
    lines.append(f"double R[{len(rows)}][{n_coef}];")
    for r in rows:
        for k in range(n_coef):
            lines.append(f'R[{r}][{k}] = data["c{r}_{k}"];')
    lines.append(f"double C[{n * n_coef}];")
    gmap = ", ".join(str(g) for g in groups)
    lines.append(f"const int grp[] = {{{gmap}}};")
    lines.append(f"for (int t = 0; t < {n}; ++t) for (int k = 0; k < {n_coef}; ++k) "
                 f"C[t * {n_coef} + k] = R[grp[t]][k];")
    if op == "adam":
        lines.append(f"zhusuan::optim::host::adam_step<T>(A0, G, A1, A2, S, C, {n});")
    else:
        lines.append(f"zhusuan::optim::host::sgd_step<T>(A0, G, A1, S, C, {n});")
    return "\n".join(lines)


def _jit_run(op, params, grads, written, coefs, deps):
    n = len(params)
    dtype = str(params[0].dtype)
    n_coef = coefs.shape[1]
    # Identical rows (one per parameter group, usually) are passed once.
    rows, groups, index = [], [], {}
    for row in map(tuple, coefs.tolist()):
        if row not in index:
            index[row] = len(rows)
            rows.append(row)
        groups.append(index[row])
    data = {f"c{r}_{k}": float(x)
            for r, row in enumerate(rows) for k, x in enumerate(row)}
    src = _jit_source(op, n, len(written), n_coef, groups, dtype)
    outs = [x for arrays in written for x in arrays]
    inputs = [*grads, *outs, *deps]
    res = jt.code(inputs, outs, cpu_header=f'#include "{_HEADER}"', cpu_src=src,
                  data=data)
    res[0].compile_options = _FLAGS


def _jit_adam(params, grads, m, v, coefs, deps):
    _jit_run("adam", params, grads, [params, m, v], coefs, deps)


def _jit_sgd(params, grads, buf, coefs, deps):
    _jit_run("sgd", params, grads, [params, buf], coefs, deps)


# ------------------------------------------------------------------ jittor ----
def _constants(row, dtype):
    """The coefficient row as constants of the update's dtype: Python floats
    for float32 (Jittor turns them into float32 constants, as jt.optim's
    expressions do), exact [1]-shaped Vars for float64 (a Python float would
    be rounded to float32)."""
    if dtype == "float32":
        return [float(x) for x in row]
    return [const(float(x), dtype) for x in row]


def _jittor_adam(params, grads, m, v, coefs, deps):
    # jittor/optim.py's Adam.step, term for term, with its coefficients.
    dtype = str(params[0].dtype)
    for p, g, mi, vi, row in zip(params, grads, m, v, coefs, strict=True):
        b0, c0, b1, c1, eps, wd, step_size = _constants(row, dtype)
        g = p * wd + g
        mi.update(b0 * mi + c0 * g)
        vi.update(b1 * vi + c1 * g * g)
        p.update(p - mi * step_size / (jt.sqrt(vi) + eps))


def _jittor_sgd(params, grads, buf, coefs, deps):
    # jittor/optim.py's SGD.step, term for term.
    dtype = str(params[0].dtype)
    for p, g, b, row in zip(params, grads, buf, coefs, strict=True):
        nesterov = row[4] != 0.0
        lr, momentum, keep, wd = _constants(row[:4], dtype)
        dp = p * wd + g
        b.update(momentum * b + dp * keep)
        if nesterov:
            p.update(p - (dp + momentum * b) * lr)
        else:
            p.update(p - b * lr)


_IMPLS = {
    "native": (_native_adam, _native_sgd),
    "jit": (_jit_adam, _jit_sgd),
    "jittor": (_jittor_adam, _jittor_sgd),
}
