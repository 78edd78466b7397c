"""Numerically stable helpers on Jittor Vars, kept in one place.

Jittor's own versions of several of these are traps (``logsumexp`` without a
max shift, ``log_sigmoid`` as ``log(sigmoid(x))``, ``softplus`` with a
threshold, no ``log1p``), so everything in zhusuan that needs them imports
them from here.

Constants are built in the dtype of the Var they meet: a Python float mixed
into a float64 Jittor op is rounded to float32 first (an error of about 1e-8
relative), so :func:`const` creates a typed constant instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import jittor as jt
import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "dtype_name",
    "const",
    "as_var",
    "log1p",
    "expm1",
    "softplus",
    "log_sigmoid",
    "logsumexp",
    "log_mean_exp",
    "clamp_probs",
    "probs_to_logits",
    "HALF_LOG_2PI",
    "VarLike",
]

FLOAT_DTYPES = ("float32", "float64")
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# What the public API accepts where it takes a tensor (as_var turns any of
# them into a Var): a Jittor Var, a NumPy array or scalar, a Python number or
# a (nested) sequence of numbers.
VarLike = Union[jt.Var, np.ndarray, np.generic, float, int, Sequence]


def dtype_name(x: jt.Var | np.ndarray) -> str:
    """The dtype of a Var as a string such as ``'float32'``."""
    return str(x.dtype)


def const(value: float, dtype: str) -> jt.Var:
    """A constant Var of shape [1] holding ``value`` exactly in ``dtype``."""
    with jt.flag_scope(auto_convert_64_to_32=0):
        return jt.array(np.asarray([value], dtype=dtype))


def as_var(value: VarLike, dtype: str | None = None, name: str = "value") -> jt.Var:
    """Turn a Var, numpy array or Python number into a Var.

    Numpy float64 input keeps float64 (we do not rely on Jittor's global
    ``auto_convert_64_to_32``). ``dtype`` casts when given.
    """
    if isinstance(value, jt.Var):
        return value if dtype is None or dtype_name(value) == dtype else value.cast(dtype)
    if isinstance(value, (bool, int, float, np.number, np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if dtype is None:
            dtype = "float64" if arr.dtype == np.float64 else "float32"
        with jt.flag_scope(auto_convert_64_to_32=0):
            return jt.array(arr.astype(dtype))
    raise TypeError(
        f"{name} must be a jittor Var, numpy array or number, got {type(value).__name__}"
    )


class _Log1p(jt.Function):
    def execute(self, u):
        # Imported here: zhusuan.kernels imports this module.
        from .kernels._libm import log1p_values

        self.u = u
        return log1p_values(u)

    def grad(self, g):
        return g / (self.u + const(1.0, dtype_name(self.u)))


def log1p(u: jt.Var) -> jt.Var:
    """``log(1 + u)``, accurate for small ``u``, with derivative ``1 / (1 + u)``.

    Jittor has no ``log1p``, and rounding tricks such as Goldberg's
    ``log(w) * u / (w - 1)`` do not survive its kernels, which are compiled
    with ``-Ofast`` (the compiler may rewrite ``(1 + u) - 1`` as ``u``). So the
    value comes from the C library's ``log1p`` (a tiny ``jt.code`` kernel in
    :mod:`zhusuan.kernels._libm`) and the derivative is attached by a
    :class:`jittor.Function`; ``log1p(-1) = -inf`` (a ``u - u.detach()``
    trick would give NaN there).
    """
    return _Log1p.apply(u)


def expm1(x: jt.Var) -> jt.Var:
    """``exp(x) - 1``, accurate for small ``x`` (Jittor's ``expm1`` is
    ``exp(x) - 1``, which loses every digit below ``eps``).

    Written ``tanh(x / 2) (exp(x) + 1)``: the same value, with no
    cancellation (``tanh`` is accurate near 0, and ``exp(x) + 1`` adds
    positive terms), for which autodiff gives ``exp(x)``; ``-1`` at
    ``-inf``, ``inf`` where ``exp(x)`` overflows.
    """
    dt = dtype_name(x)
    return jt.tanh(x * const(0.5, dt)) * (jt.exp(x) + const(1.0, dt))


def softplus(x: jt.Var) -> jt.Var:
    """``log(1 + exp(x))`` without overflow or loss for very negative ``x``.

    ``max(x, 0)`` is written ``(x + |x|) / 2`` (the same value, exactly): at
    ``x = 0`` Jittor's ``abs`` has gradient +1 while ``maximum`` gives the tie
    to its other operand, so ``maximum(x, 0) + log1p(exp(-|x|))`` had gradient
    -1/2 there instead of sigmoid(0) = 1/2. Sharing one ``|x|`` makes the
    subgradient choices cancel: ``(1 + s)/2 - s/2 = 1/2`` whatever ``s`` is.
    """
    a = jt.abs(x)
    return (x + a) * const(0.5, dtype_name(x)) + log1p(jt.exp(-a))


def log_sigmoid(x: jt.Var) -> jt.Var:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for any finite ``x``."""
    return -softplus(-x)


def logsumexp(x: jt.Var, dim: int, keepdims: bool = False) -> jt.Var:
    """``log(sum(exp(x), dim))`` with the max shift that Jittor's version lacks.

    Rows whose maximum is -inf give -inf (not NaN).
    """
    m = jt.max(x, dim=dim, keepdims=True).detach()
    m = jt.ternary(jt.isinf(m), jt.zeros_like(m), m)
    out = jt.log(jt.sum(jt.exp(x - m), dim=dim, keepdims=True)) + m
    if not keepdims:
        out = out.squeeze(dim) if len(out.shape) > 1 else out
    return out


def log_mean_exp(x: jt.Var, dim: int, keepdims: bool = False) -> jt.Var:
    """``log(mean(exp(x), dim))``, stable (see :func:`logsumexp`)."""
    n = x.shape[dim]
    return logsumexp(x, dim, keepdims) - const(math.log(n), dtype_name(x))


# (smallest positive normal, largest number below 1) per dtype; written out
# because np.finfo warns once Jittor has set flush-to-zero mode.
_PROB_BOUNDS = {
    "float32": (2.0**-126, 1.0 - 2.0**-24),
    "float64": (2.0**-1022, 1.0 - 2.0**-53),
}


def clamp_probs(p: jt.Var) -> jt.Var:
    """Clamp probabilities into the open interval (0, 1) as the dtype allows.

    The bounds are the smallest positive normal number and the largest number
    below one, so the clamp changes nothing that is representable inside
    (0, 1); it only stops an exact 0 or 1 (a saturated float sigmoid) from
    turning into an infinite logit.
    """
    dt = dtype_name(p)
    lo, hi = _PROB_BOUNDS[dt]
    # Typed constants, not jt.clamp(p, lo, hi): Jittor rounds Python floats to
    # float32, where 2**-1022 is 0 and 1 - 2**-53 is 1, so a float64 clamp
    # would let exact 0 and 1 through (and give infinite logits).
    return jt.minimum(jt.maximum(p, const(lo, dt)), const(hi, dt))


def probs_to_logits(p: jt.Var) -> jt.Var:
    """``log(p) - log(1 - p)`` computed with ``log1p`` on clamped ``p``."""
    pc = clamp_probs(p)
    return jt.log(pc) - log1p(-pc)


def lgamma(x: jt.Var) -> jt.Var:
    r"""``log Gamma(x)`` for ``x > 0``, differentiable, in the dtype of ``x``.

    For ``x < 10`` the recurrence ``log Gamma(x) = log Gamma(x + 10) -
    log(x (x+1) ... (x+9))`` moves the argument to ``y >= 10``, where Stirling's
    series with the Bernoulli terms up to ``y^{-13}`` is accurate to below
    1e-17 relative (the first omitted term is ``3617 / (122400 y^{15})``).
    Autodiff of the series gives the digamma series, equally accurate.
    ``lgamma(0) = +inf``.
    """
    dt = dtype_name(x)
    small = x < const(10.0, dt)
    # The product is only evaluated where it is used (elsewhere at x = 1), so
    # neither its value nor its gradient can overflow on the other branch.
    xs = jt.ternary(small, x, jt.ones_like(x))
    prod = xs
    for k in range(1, 10):
        prod = prod * (xs + const(float(k), dt))
    shift = jt.ternary(small, jt.log(prod), jt.zeros_like(x))
    y = jt.ternary(small, x + const(10.0, dt), x)
    r = const(1.0, dt) / y
    r2 = r * r
    series = const(1.0 / 156.0, dt)
    for coef in (-691.0 / 360360.0, 1.0 / 1188.0, -1.0 / 1680.0, 1.0 / 1260.0,
                 -1.0 / 360.0, 1.0 / 12.0):
        series = const(coef, dt) + r2 * series
    stirling = ((y - const(0.5, dt)) * jt.log(y) - y + const(HALF_LOG_2PI, dt)
                + r * series)
    return stirling - shift


def digamma(x: jt.Var) -> jt.Var:
    r"""``psi(x) = d log Gamma(x) / dx`` for ``x > 0``, differentiable.

    ``psi(x) = psi(x + 10) - sum_{k<10} 1 / (x + k)`` for ``x < 10``, then the
    asymptotic series with the Bernoulli terms up to ``y^{-14}`` (the first
    omitted term, ``3617 / (8160 y^{16})``, is below 5e-17 at ``y = 10``).
    """
    dt = dtype_name(x)
    small = x < const(10.0, dt)
    xs = jt.ternary(small, x, jt.ones_like(x))
    recip = const(1.0, dt) / xs
    for k in range(1, 10):
        recip = recip + const(1.0, dt) / (xs + const(float(k), dt))
    shift = jt.ternary(small, recip, jt.zeros_like(x))
    y = jt.ternary(small, x + const(10.0, dt), x)
    r = const(1.0, dt) / y
    r2 = r * r
    series = const(1.0 / 12.0, dt)
    for coef in (691.0 / 32760.0, 1.0 / 132.0, 1.0 / 240.0, 1.0 / 252.0,
                 1.0 / 120.0, 1.0 / 12.0):
        series = const(coef, dt) - r2 * series
    return jt.log(y) - const(0.5, dt) * r - r2 * series - shift
