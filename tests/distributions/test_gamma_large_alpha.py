"""The implicit gradient of Gamma draws for alpha >= LARGE_ALPHA (1e4), the
branch of zhusuan/distributions/gamma.py that the series does not reach
(issue 15, finding 8: a 1% error there passed every test).

Oracle: the implicit derivative dx/dalpha = -(dF/dalpha)(x) / f(x) with

    dF/dalpha (x) = int_0^x f(t) (log t - digamma(alpha)) dt,

integrated by adaptive quadrature in float64 (scipy.integrate.quad, relative
tolerance 1e-13; the integrand is negligible below alpha - 60 sqrt(alpha)).
A finite difference of scipy's regularised incomplete gamma function is not
accurate enough here: it disagrees with itself by 1e-4 between step sizes.

The branch is exact to O(alpha^-3/2): against this oracle its error is
below (|z|^3 + |z|) / 12 / alpha^1.5 (z = (x - alpha) / sqrt(alpha),
measured on z in [-5, 5]); the bound asserted is (|z|^3 + |z| + 1) / 8 /
alpha^1.5, e.g. 4e-6 at z = 3, alpha = 1e4.
"""

import math
import warnings

import numpy as np
import pytest
from scipy import integrate, special, stats

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on


def _implicit_oracle(x, alpha):
    psi = special.digamma(alpha)
    lo = max(0.0, alpha - 60.0 * math.sqrt(alpha))
    log_fx = stats.gamma.logpdf(x, alpha)

    def integrand(t):
        return math.exp(stats.gamma.logpdf(t, alpha) - log_fx) * (math.log(t) - psi)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, _ = integrate.quad(integrand, lo, x, epsabs=0.0, epsrel=1e-13, limit=200,
                                points=[alpha] if lo < alpha < x else None)
    return -val


@pytest.mark.parametrize("alpha", [1e4, 1e5])
def test_large_alpha_implicit_gradient_matches_quadrature(alpha, float64):
    a = jt.array(np.full([8], alpha))
    x = zs.distributions.Gamma(alpha=a, beta=1.0).sample()
    g = jt.grad(x.sum(), a).numpy()
    xs = x.numpy()
    want = np.array([_implicit_oracle(float(xi), alpha) for xi in xs])
    z = np.abs(xs - alpha) / math.sqrt(alpha)
    bound = (z**3 + z + 1.0) / 8.0 / alpha**1.5
    assert np.all(np.abs(g - want) <= bound), (g - want, bound)
