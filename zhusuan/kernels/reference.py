"""The ``jittor`` backend: every fused op written with plain Jittor ops.

This is the reference the other backends are tested against. Each function
has exactly the signature documented in :mod:`zhusuan.kernels`; gradients come
from Jittor's autodiff of these expressions.
"""

import jittor as jt

from ..numerics import HALF_LOG_2PI, const, dtype_name, lgamma, log1p
from ._shapes import broadcast_shapes, reduced_shape

__all__ = [
    "normal_log_prob",
    "bernoulli_log_prob",
    "normal_rsample",
    "family_log_prob",
    "FAMILIES",
    "log_mean_exp",
]


def _reduce(elem, axes, weight):
    """Sum ``elem`` over ``axes`` and multiply by ``weight``."""
    out = elem
    if axes:
        # Accumulate in float64 (docs/design.md: float32 sums over 10^6 terms stay
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


# The largest |a| for which exp(a) and exp(-a) are finite normal numbers
# (csrc/include/zhusuan/normal.h, exp_range).
_EXP_RANGE = {"float32": 87.0, "float64": 708.0}


def _inv_std_factors(logstd):
    """``exp(-logstd)`` as two finite factors, as normal.h's
    ``inv_std_factors``: ``(exp(-s), 1)`` inside the exponential's range,
    else ``exp(-s/2)`` twice (clamped to the range). Each branch sees only
    finite values, so no ``0 * inf`` reaches the value or the gradient."""
    dt = dtype_name(logstd)
    lim = _EXP_RANGE[dt]
    direct = jt.abs(logstd) <= const(lim, dt)
    half = -const(0.5, dt) * logstd
    half = jt.minimum(jt.maximum(half, const(-lim, dt)), const(lim, dt))
    e = jt.exp(jt.where(direct, -logstd, half))
    return e, jt.where(direct, jt.ones_like(e), e)


def _unfused(v):
    """``v`` computed in a kernel of its own. Jittor compiles fused kernels
    with -Ofast, which may reassociate ``(d * f1) * f2`` into
    ``d * (f1 * f2)``: an overflow (0 * inf = NaN) where the factors exist
    precisely because their product overflows. ``stop_fuse`` marks the
    reference's own intermediate Var, never a user's."""
    v.stop_fuse()
    return v


class _Standardise(jt.Function):
    """``z = d * exp(-logstd)`` from the two factors of
    :func:`_inv_std_factors`, each product in a kernel of its own (see
    :func:`_unfused`), with the gradients ``g * exp(-logstd)`` (the factors
    again) and ``-g z`` (0 where the factors are clamped: z is then 0 or
    its square overflows)."""

    def execute(self, d, logstd):
        dt = dtype_name(logstd)
        self.f1, self.f2 = _inv_std_factors(logstd)
        self.live = jt.abs(logstd) <= const(2.0 * _EXP_RANGE[dt], dt)
        self.z = _unfused(_unfused(d * self.f1) * self.f2)
        return self.z

    def grad(self, g):
        g_d = _unfused(_unfused(g * self.f2) * self.f1)
        # 0 where no gradient arrives (g = 0 times an overflowed z is NaN).
        live = jt.logical_and(self.live, g != const(0.0, dtype_name(g)))
        g_s = jt.where(live, -(g * self.z), jt.zeros_like(self.z))
        return g_d, g_s


class _Ratio(jt.Function):
    """``a / b`` with the gradients ``g / b`` and ``-(g a / b) / b``: Jittor's
    own divides by ``b * b``, which underflows for ``|b| < 1e-19`` in
    float32 (the gradient in std of Normal(std=1e-30) was NaN)."""

    def execute(self, a, b):
        self.b = b
        self.q = a / b
        return self.q

    def grad(self, g):
        return g / self.b, -(g * self.q) / self.b


def normal_log_prob(x, mean, scale, logstd, axes, weight):
    # From the standardised residual z (csrc/include/zhusuan/normal.h): exact
    # for every finite scale, e.g. log N(0; 0, exp(-90)) = 89.08 in float32.
    dt = dtype_name(x)
    x, mean, scale = _expand(x, mean, scale)
    log_s = _log_scale(scale, logstd)
    if logstd:
        z = _Standardise.apply(x - mean, scale)
    else:
        z = _Ratio.apply(x - mean, scale)
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


# ------------------------------------------------------------ the families ----
# The elementwise log-density of each family of csrc/include/zhusuan/families.h,
# in plain Jittor ops, with the parameters in the same order and form. Values
# outside the support get -inf (selected with jt.where, so the gradient there
# is 0, as in the kernels).
def _c(v, like):
    return const(v, dtype_name(like))


def _neg_inf_where(ok, lp):
    return jt.where(ok, lp, jt.full_like(lp, float("-inf")))


def _safe(ok, x, fill):
    """x where ok, else ``fill`` (a point inside the support): the logs of a
    family then never see an out-of-support value, so no NaN reaches the
    backward pass through the masked branch (0 * NaN is NaN)."""
    return jt.where(ok, x, jt.full_like(x, fill))


def _softplus_pair(logits):
    """(softplus(l), softplus(-l)) sharing log1p(exp(-|l|)), as bernoulli.h."""
    a = jt.abs(logits)
    half = _c(0.5, logits)
    t = log1p(jt.exp(-a))
    return (a + logits) * half + t, (a - logits) * half + t


def _xlogy(x, y):
    """x * log(y), read as 0 where x == 0."""
    return jt.where(x == _c(0.0, x), jt.zeros_like(x), x * jt.log(y))


def _laplace(x, loc, scale):
    return -jt.abs(x - loc) / scale - jt.log(scale) - _c(LN2, x)


def _logistic(x, loc, scale):
    z = (x - loc) / scale
    a = jt.abs(z)
    return -a - _c(2.0, x) * log1p(jt.exp(-a)) - jt.log(scale)


def _exponential(x, rate):
    return _neg_inf_where(x >= _c(0.0, x), jt.log(rate) - rate * x)


# The families given log sigma scale by 1 / sigma through _Standardise (two
# finite factors, as families.h through normal.h): exact for every finite
# log sigma.
def _half_normal(x, logstd):
    z = _Standardise.apply(x, logstd)
    lp = _c(LN2 - HALF_LOG_2PI, x) - logstd - _c(0.5, x) * z * z
    return _neg_inf_where(x >= _c(0.0, x), lp)


def _fold_normal(x, mean, logstd):
    a = _Standardise.apply(x - mean, logstd)
    b = _Standardise.apply(x + mean, logstd)
    # t = 2 x mean / sigma^2, exactly 0 when x or mean is (as families.h).
    zero = jt.logical_or(x == _c(0.0, x), mean == _c(0.0, x))
    nonzero = jt.logical_not(zero)
    u = _Standardise.apply(_safe(nonzero, x, 1.0), logstd)
    v = _Standardise.apply(_safe(nonzero, mean, 1.0), logstd)
    t = jt.where(zero, jt.zeros_like(x), _c(2.0, x) * u * v)
    # The residual of smaller magnitude, selected (not min(a^2, b^2), whose
    # gradient multiplies the other branch's inf by 0 where z overflows).
    c = jt.where(jt.abs(a) <= jt.abs(b), a, b)
    lp = (-_c(0.5, x) * c * c + log1p(jt.exp(-jt.abs(t)))
          - _c(HALF_LOG_2PI, x) - logstd)
    return _neg_inf_where(x >= _c(0.0, x), lp)


def _log_normal(x, mean, logstd):
    ok = x > _c(0.0, x)
    x = _safe(ok, x, 1.0)
    y = jt.log(x)
    z = _Standardise.apply(y - mean, logstd)
    lp = -y - logstd - _c(HALF_LOG_2PI, x) - _c(0.5, x) * z * z
    return _neg_inf_where(ok, lp)


def _uniform(x, minval, maxval):
    ok = jt.logical_and(x >= minval, x < maxval)
    return _neg_inf_where(ok, -jt.log(maxval - minval))


# Discrete values (and Binomial's n) get no gradient, as in families.h.
def _poisson(x, log_rate):
    x = x.detach()
    xr = jt.where(x == _c(0.0, x), jt.zeros_like(x), x * log_rate)
    lp = xr - jt.exp(log_rate) - lgamma(x + _c(1.0, x))
    return _neg_inf_where(x >= _c(0.0, x), lp)


def _geometric(x, logits):
    x = x.detach()
    sp_pos, sp_neg = _softplus_pair(logits)
    return _neg_inf_where(x >= _c(0.0, x), -x * sp_pos - sp_neg)


def _binomial(x, logits, n):
    x, n = x.detach(), n.detach()
    sp_pos, sp_neg = _softplus_pair(logits)
    one = _c(1.0, x)
    lp = (lgamma(n + one) - lgamma(x + one) - lgamma(n - x + one)
          - x * sp_neg - (n - x) * sp_pos)
    return _neg_inf_where(jt.logical_and(x >= _c(0.0, x), x <= n), lp)


def _gamma(x, alpha, beta):
    ok = x >= _c(0.0, x)
    x = _safe(ok, x, 1.0)
    lp = (alpha * jt.log(beta) - lgamma(alpha) + _xlogy(alpha - _c(1.0, x), x) - beta * x)
    return _neg_inf_where(ok, lp)


def _beta(x, a, b):
    one = _c(1.0, x)
    ok = jt.logical_and(x >= _c(0.0, x), x <= one)
    x = _safe(ok, x, 0.5)
    lb = jt.where(b == one, jt.zeros_like(x), (b - one) * log1p(-x))
    lp = _xlogy(a - one, x) + lb - lgamma(a) - lgamma(b) + lgamma(a + b)
    return _neg_inf_where(ok, lp)


def _student_t(x, df, loc, scale):
    z = (x - loc) / scale
    half = _c(0.5, x)
    return (lgamma(half * (df + _c(1.0, x))) - lgamma(half * df)
            - half * (jt.log(df) + _c(LOG_PI, x)) - jt.log(scale)
            - half * (df + _c(1.0, x)) * log1p(z * z / df))


def _log1p_square(d, s):
    """log1p((d / s)^2) as families.h computes it: for |z| > 1 as
    2 log|z| + log1p(1 / z^2), finite where z^2 overflows. Each
    branch sees only inputs it is defined at (``_safe``), so the masked one
    sends no NaN into the backward pass."""
    far = jt.abs(d) > s  # |z| > 1
    near = jt.logical_not(far)
    d_far, s_far = _safe(far, d, 2.0), _safe(far, s, 1.0)
    z_near = _safe(near, d, 0.0) / _safe(near, s, 1.0)
    # 2 log|z| + log1p(1 / z^2) with log|z| = log|d| - log s: in logs, so no
    # step of the backward pass forms d / s^2 or s / d^2 (either overflows).
    two_log_z = _c(2.0, d) * (jt.log(jt.abs(d_far)) - jt.log(s_far))
    lp_far = two_log_z + log1p(jt.exp(-two_log_z))
    return jt.where(far, lp_far, log1p(z_near * z_near))


def _cauchy(x, loc, scale):
    return -_c(LOG_PI, x) - jt.log(scale) - _log1p_square(x - loc, scale)


def _half_cauchy(x, scale):
    ok = x >= _c(0.0, x)
    x = _safe(ok, x, 1.0)
    return _neg_inf_where(ok, _c(LN2 - LOG_PI, x) - jt.log(scale) - _log1p_square(x, scale))


def _inverse_gamma(x, alpha, beta):
    ok = x > _c(0.0, x)
    x = _safe(ok, x, 1.0)
    lp = (alpha * jt.log(beta) - lgamma(alpha) - (alpha + _c(1.0, x)) * jt.log(x) - beta / x)
    return _neg_inf_where(ok, lp)


LN2 = 0.69314718055994530941723212145818
LOG_PI = 1.1447298858494001741434273513530587

FAMILIES = {
    "Laplace": _laplace,
    "Logistic": _logistic,
    "Exponential": _exponential,
    "HalfNormal": _half_normal,
    "FoldNormal": _fold_normal,
    "LogNormal": _log_normal,
    "Uniform": _uniform,
    "Poisson": _poisson,
    "Geometric": _geometric,
    "Binomial": _binomial,
    "Gamma": _gamma,
    "Beta": _beta,
    "StudentT": _student_t,
    "Cauchy": _cauchy,
    "HalfCauchy": _half_cauchy,
    "InverseGamma": _inverse_gamma,
}


def family_log_prob(family, x, params, axes, weight):
    x, *params = _expand(x, *params)
    return _reduce(FAMILIES[family](x, *params), axes, weight)


def log_mean_exp(x, dim):
    from ..numerics import log_mean_exp as lme

    return lme(x, dim)

