"""The ``jittor`` backend: every fused op written with plain Jittor ops.

This is the reference the other backends are tested against. Each function
has exactly the signature documented in :mod:`zhusuan.kernels`; gradients come
from Jittor's autodiff of these expressions.
"""

import jittor as jt

from ..numerics import HALF_LOG_2PI, const, dtype_name, softplus
from ._shapes import reduced_shape

__all__ = ["normal_log_prob", "bernoulli_log_prob", "normal_rsample", "log_mean_exp"]


def _reduce(elem, axes, weight):
    """Sum ``elem`` over ``axes`` and multiply by ``weight``."""
    out = elem
    if axes:
        out = jt.sum(out, dims=tuple(axes))
    if weight != 1.0:
        out = out * const(weight, dtype_name(out))
    return out.reshape(reduced_shape(elem.shape, axes))


def _log_scale(scale, logstd):
    return scale if logstd else jt.log(scale)


def normal_log_prob(x, mean, scale, logstd, axes, weight):
    dt = dtype_name(x)
    log_s = _log_scale(scale, logstd)
    inv_s = jt.exp(-scale) if logstd else 1.0 / scale
    z = (x - mean) * inv_s
    elem = -const(0.5, dt) * z * z - log_s - const(HALF_LOG_2PI, dt)
    return _reduce(elem, axes, weight)


def bernoulli_log_prob(x, logits, axes, weight):
    elem = x * logits - softplus(logits)
    return _reduce(elem, axes, weight)


def normal_rsample(mean, scale, eps, logstd, axes, weight):
    dt = dtype_name(eps)
    s = jt.exp(scale) if logstd else scale
    z = mean + s * eps
    log_s = _log_scale(scale, logstd)
    elem = -const(0.5, dt) * eps * eps - log_s - const(HALF_LOG_2PI, dt)
    return z, _reduce(elem, axes, weight)


def log_mean_exp(x, dim):
    from ..numerics import log_mean_exp as lme

    return lme(x, dim)

