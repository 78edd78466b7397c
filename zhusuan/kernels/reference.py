"""The ``jittor`` backend: every fused op written with plain Jittor ops.

This is the reference the other backends are tested against. Each function
has exactly the signature documented in :mod:`zhusuan.kernels`; gradients come
from Jittor's autodiff of these expressions.
"""

import jittor as jt

from ..numerics import HALF_LOG_2PI, const, dtype_name, log1p
from ._shapes import broadcast_shapes, reduced_shape

__all__ = ["normal_log_prob", "bernoulli_log_prob", "normal_rsample", "log_mean_exp"]


def _reduce(elem, axes, weight):
    """Sum ``elem`` over ``axes`` and multiply by ``weight``."""
    out = elem
    if axes:
        # Accumulate in float64 (DESIGN.md: float32 sums over 10^6 terms stay
        # accurate); a plain float32 sum was off by 1e-3 relative at B=4096.
        dt = dtype_name(elem)
        wide = out if dt == "float64" else out.cast("float64")
        out = jt.sum(wide, dims=tuple(axes))
        out = out if dt == "float64" else out.cast(dt)
    if weight != 1.0:
        out = out * const(weight, dtype_name(out))
    return out.reshape(reduced_shape(elem.shape, axes))


def _expand(*vs):
    """Broadcast every input to the common shape, explicitly.

    Jittor 1.3.11 miscompiles a fused elementwise kernel in which a shape-[1]
    input broadcast against a longer axis is read twice, once the float32
    version of that kernel exists in the process: the float64 one then
    returns wrong values (tests/distributions: float64 after float32). An
    explicit (lazy, never materialised) broadcast avoids that code path.
    """
    full = list(broadcast_shapes(*[list(v.shape) for v in vs]))
    return [v if list(v.shape) == full else v.broadcast(full) for v in vs]


def _log_scale(scale, logstd):
    return scale if logstd else jt.log(scale)


def normal_log_prob(x, mean, scale, logstd, axes, weight):
    dt = dtype_name(x)
    x, mean, scale = _expand(x, mean, scale)
    log_s = _log_scale(scale, logstd)
    inv_s = jt.exp(-scale) if logstd else const(1.0, dt) / scale
    z = (x - mean) * inv_s
    elem = -const(0.5, dt) * z * z - log_s - const(HALF_LOG_2PI, dt)
    return _reduce(elem, axes, weight)


def bernoulli_log_prob(x, logits, axes, weight):
    x, logits = _expand(x, logits)
    # x l - softplus(l) = -[x softplus(-l) + (1 - x) softplus(l)], with
    # softplus(+-l) = max(+-l, 0) + log1p(exp(-|l|)). No large terms cancel,
    # so for x = 1, l = 30 the result keeps its -9.4e-14 even in float32
    # (Jittor compiles kernels with -Ofast, which may reorder a subtraction).
    dt = dtype_name(logits)
    a = jt.abs(logits)
    half = const(0.5, dt)
    t = log1p(jt.exp(-a))
    sp_pos = (a + logits) * half + t  # softplus(l)
    sp_neg = (a - logits) * half + t  # softplus(-l)
    elem = -(x * sp_neg + (const(1.0, dt) - x) * sp_pos)
    return _reduce(elem, axes, weight)


def normal_rsample(mean, scale, eps, logstd, axes, weight):
    dt = dtype_name(eps)
    mean, scale, eps = _expand(mean, scale, eps)
    s = jt.exp(scale) if logstd else scale
    z = mean + s * eps
    log_s = _log_scale(scale, logstd)
    elem = -const(0.5, dt) * eps * eps - log_s - const(HALF_LOG_2PI, dt)
    return z, _reduce(elem, axes, weight)


def log_mean_exp(x, dim):
    from ..numerics import log_mean_exp as lme

    return lme(x, dim)

