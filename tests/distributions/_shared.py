"""Tolerances (with their derivations) and finite differences shared by the
distribution tests.

Finite differences
    Central differences in float64 with step ``FD_STEP``: truncation error
    h^2 f''' / 6 ~ 1e-12 for the smooth functions tested; rounding error
    ~eps |f| / h, with |f| the size of the terms the perturbed entry affects
    (log-densities of magnitude up to ~100: ~2e-8; test functions of a
    sample grow with the gradient, e.g. z^2 / 2 against z^2 per unit of a
    LogNormal's mean: ~2e-10 relative). Relative and absolute 1e-6 leave a
    margin of 30 to 50. A float32 detour anywhere in the graph makes the
    rounding error ~1e-1, so these checks are also float64-integrity checks.

Statistical tests
    ``N_SAMPLES`` draws per batch entry; a sample mean (of the draws, of
    their squared deviations, or of per-draw gradient terms) must lie within
    ``N_SE`` standard errors of its expectation. For a normal estimator the
    two-sided tail is P(|Z| > 6) = 2.0e-9. The means tested are of N i.i.d.
    terms whose skewness over sqrt(N) is <= ~0.03 for means of draws and
    <= ~0.12 for variances and gradient identities; the first Edgeworth
    correction, phi(z) skew (z^2 - 1) / 6 = 4e-9 at z = 6, keeps the false
    positive rate below 1e-8 per assertion. Goodness-of-fit tests
    (Kolmogorov-Smirnov, chi-square, exact binomial) reject at level
    ``ALPHA``, which is their false positive rate per batch entry.
"""

import numpy as np

FD_STEP = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-6

N_SAMPLES = 20000
N_SE = 6.0
ALPHA = 1e-4


def central_difference(fn, arrays, name, h=FD_STEP):
    """d sum(fn(arrays)) / d arrays[name], elementwise, by central differences.

    ``fn`` returns a number or an array of terms; the differences are taken
    term by term before summing, so the terms a perturbed entry does not
    affect cancel exactly and only the affected ones contribute rounding
    error.
    """
    base = np.asarray(arrays[name], np.float64)
    grad = np.zeros_like(base)
    for idx in np.ndindex(*base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += h
        minus[idx] -= h
        up = np.asarray(fn({**arrays, name: plus}))
        down = np.asarray(fn({**arrays, name: minus}))
        grad[idx] = np.sum(up - down) / (2 * h)
    return grad
