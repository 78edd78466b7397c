"""Gamma draws with implicit reparameterisation gradients.

``standard_gamma(alpha)`` draws ``x ~ Gamma(alpha, 1)`` elementwise and gives
``x`` the gradient of Figurnov, Mohamed & Mnih (2018), "Implicit
Reparameterization Gradients": with F(x; alpha) the CDF (the regularised
lower incomplete gamma function P(alpha, x)) held fixed,

    dx/dalpha = -(dF/dalpha)(x; alpha) / f(x; alpha),

f the density. Gamma(alpha, beta) = standard_gamma(alpha) / beta, Beta and
Dirichlet are normalised Gamma draws, StudentT's scale mixes one in, so all
of them are reparameterised through this one function.

dF/dalpha comes from the power series of P in float64,

    P(a, x) = exp(L) S,  L = a log x - x - lgamma(a + 1),
    S = sum_n t_n,  t_0 = 1,  t_n = t_{n-1} x / (a + n),

differentiated term by term (forward mode: dt_n/da = (dt_{n-1}/da) x / (a+n)
- t_n / (a + n), dL/da = log x - digamma(a + 1)). All terms are positive,
so the sum has no cancellation; it needs about x + a few sqrt(x) terms,
which the loop runs until every element has converged. For alpha above
``LARGE_ALPHA`` the Cornish-Fisher expansion of Gamma(alpha, 1),
x = alpha + sqrt(alpha) z + (z^2 - 1) / 3 + O(alpha^-1/2) at fixed quantile
z, gives dx/dalpha = 1 + (x - alpha) / (2 alpha) - (z^2 - 1) / (6 alpha) with
z = (x - alpha) / sqrt(alpha), exact to O(alpha^-3/2) (about
(|z|^3 + |z|) / (12 alpha^1.5), 3e-6 at alpha = 1e4, z = 3; the first two
terms alone, the normal approximation, were off by 0.7 / alpha).

The draws are NumPy's (``Generator.standard_gamma``, Marsaglia & Tsang),
seeded from Jittor's generator, so ``jt.set_global_seed`` makes them
reproducible. Both passes run inside the Jittor graph as ``jt.numpy_code``
(CPU; NumPy is a dependency already).
"""

import jittor as jt
import numpy as np

from ..numerics import dtype_name

__all__ = ["standard_gamma", "gamma_cdf_dalpha", "seed_var", "seeded_rng", "LARGE_ALPHA"]

LARGE_ALPHA = 1e4
_MAX_TERMS = 100000


def _digamma(a):
    """digamma for a > 0 in float64 (recurrence to >= 10, asymptotic series)."""
    a = np.array(a, dtype=np.float64, copy=True)
    acc = np.zeros_like(a)
    for _ in range(10):
        small = a < 10
        acc -= np.where(small, 1.0 / a, 0.0)
        a = np.where(small, a + 1.0, a)
    inv2 = 1.0 / (a * a)
    tail = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return acc + np.log(a) - 0.5 / a - tail


def _lgamma(a):
    from math import lgamma

    return np.vectorize(lgamma, otypes=[np.float64])(a)


def gamma_cdf_dalpha(x, alpha):
    """d/dalpha of the regularised lower incomplete gamma P(alpha, x), and
    log f(x; alpha) (the Gamma(alpha, 1) log-density), in float64 arrays."""
    x = np.asarray(x, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    x, a = np.broadcast_arrays(x, a)
    pos = x > 0
    xs = np.where(pos, x, 1.0)
    log_x = np.log(xs)
    big_l = a * log_x - xs - _lgamma(a + 1.0)
    dl = log_x - _digamma(a + 1.0)
    t = np.ones_like(xs)
    dt = np.zeros_like(xs)
    s = np.ones_like(xs)
    ds = np.zeros_like(xs)
    active = np.ones(xs.shape, dtype=bool)
    for n in range(1, _MAX_TERMS):
        inv = 1.0 / (a + n)
        dt = dt * xs * inv - t * xs * inv * inv
        t = t * xs * inv
        s = s + np.where(active, t, 0.0)
        ds = ds + np.where(active, dt, 0.0)
        # Stop where the terms have become negligible (they decrease once
        # n > x - a, geometrically after that).
        active &= ~((n > xs - a) & (t < 1e-17 * s) & (np.abs(dt) <= 1e-17 * np.abs(ds) + 1e-300))
        if not active.any():
            break
    dp = np.exp(big_l) * (s * dl + ds)
    log_f = (a - 1.0) * log_x - xs - _lgamma(a)
    return np.where(pos, dp, 0.0), log_f


def _dx_dalpha(x, alpha):
    """Implicit derivative of a Gamma(alpha, 1) draw x with respect to alpha."""
    dp, log_f = gamma_cdf_dalpha(x, alpha)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g = -dp * np.exp(-log_f)
    big = np.asarray(alpha) >= LARGE_ALPHA
    if np.any(big):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (x - alpha) / np.sqrt(alpha)
            approx = 1.0 + (x - alpha) / (2.0 * alpha) - (z * z - 1.0) / (6.0 * alpha)
        g = np.where(big, approx, g)
    return np.where(np.isfinite(g), g, 0.0)


def seed_var():
    """A fresh draw from Jittor's generator to seed a NumPy sampler with
    (pass it into the ``jt.numpy_code`` and turn it into a generator with
    :func:`seeded_rng`), so ``jt.set_global_seed`` reproduces NumPy draws."""
    return jt.ops.random((4,), "float32", "uniform")


def seeded_rng(seed_array):
    """The NumPy generator seeded by the bits of a :func:`seed_var` value."""
    words = np.frombuffer(np.ascontiguousarray(seed_array).tobytes(), dtype=np.uint32)
    return np.random.default_rng(words.tolist())


class _StandardGamma(jt.Function):
    def execute(self, alpha, seed, what="alpha"):
        dt = dtype_name(alpha)

        def draw(np_, data):
            a, s = data["inputs"]
            ok = np.isfinite(a) & (a > 0)
            if not ok.all():
                # NumPy would draw garbage (NaN) or fail with "shape < 0".
                raise ValueError(
                    f"{what} must be finite and > 0 to sample a Gamma variate: "
                    f"{int((~ok).sum())} of {a.size} entries are not "
                    f"(min {np.min(a)!r})"
                )
            rng = seeded_rng(s)
            out = data["outputs"][0]
            out[...] = rng.standard_gamma(a.astype(np.float64)).astype(out.dtype)
            # float32 cannot hold draws below its smallest normal (tiny alpha):
            # keep them positive so that log x stays finite.
            np.maximum(out, np.finfo(out.dtype).tiny, out=out)

        self.alpha = alpha
        self.x = jt.numpy_code(list(alpha.shape), dt, [alpha, seed], draw)
        return self.x

    def grad(self, g):
        if g is None:
            return None, None

        def backward(np_, data):
            x, a, gout = data["inputs"]
            out = data["outputs"][0]
            d = _dx_dalpha(x.astype(np.float64), a.astype(np.float64))
            out[...] = (gout.astype(np.float64) * d).astype(out.dtype)

        dt = dtype_name(self.alpha)
        return (
            jt.numpy_code(list(self.alpha.shape), dt, [self.x, self.alpha, g], backward),
            None,
        )


def standard_gamma(alpha, what="alpha"):
    """Gamma(alpha, 1) draws of alpha's shape, with implicit reparameterisation
    gradients to alpha (see the module docstring). alpha must be finite and
    > 0: otherwise the draw raises a ValueError starting with ``what`` (the
    caller's name for the parameter, e.g. ``"Dirichlet: alpha"``)."""
    seed = seed_var()
    if list(alpha.shape) == [1]:
        alpha = alpha.clone()  # see kernels._fused.materialize
    return _StandardGamma.apply(alpha, seed, what)
