"""HMC and NUTS on a one-dimensional non-Gaussian target, p(x) ∝ exp(2x² − x⁴)
(two modes at ±1 with a barrier at 0 that is e times less dense), against
its density computed by quadrature.

Each sampler runs 32 chains from a spread of starting points; the draws of
every chain are thinned to about one per integrated autocorrelation time
(the chains' own ESS from ``zs.diagnostics``), so the pooled, thinned draws
are close to independent. Two checks with stated false-positive rates:

* a Kolmogorov–Smirnov test of the thinned draws against the exact CDF
  (quadrature of the unnormalised density), at level 1e-4;
* a kernel density test: the mean of the target's log-density ratio
  log p(x) − log q̂(x) is not what is compared (it needs the KDE's bias);
  instead the KDE of the thinned draws (scipy.stats.gaussian_kde, Scott's
  bandwidth h) is compared with the exact density smoothed by the same
  Gaussian kernel (p * N(0, h²), by quadrature), at grid points, within 5
  standard errors of a KDE value (sqrt(f(x) R(K) / (n h)) for n
  independent draws, R(K) = 1/(2 sqrt(pi)) for the Gaussian kernel).
  Comparing with the smoothed density removes the kernel's bias exactly, so
  the tolerance is the KDE's sampling error only.

The mass in each mode (x > 0) is 1/2 by symmetry; it is checked within 5
binomial standard errors of the thinned count, which is what fails when the
chains do not cross the barrier.
"""

import numpy as np
import pytest
from scipy import integrate, stats

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

N_CHAINS = 32
N_SE = 5.0

pytestmark = pytest.mark.slow


def log_density(x):
    return 2 * x ** 2 - x ** 4


_Z = integrate.quad(lambda t: np.exp(log_density(t)), -np.inf, np.inf)[0]


def density(x):
    return np.exp(log_density(x)) / _Z


def cdf(x):
    return np.array([integrate.quad(density, -np.inf, v)[0] for v in np.atleast_1d(x)])


def thinned(draws):
    """Pool the chains' draws [n, chains], each chain thinned to about one
    draw per integrated autocorrelation time (n / ESS per chain)."""
    n = draws.shape[0]
    ess = float(np.squeeze(zs.diagnostics.ess(draws, method="bulk")))
    step = max(1, int(np.ceil(n * N_CHAINS / ess)))
    return draws[::step].reshape(-1), step


def run(sampler, seed):
    jt.set_global_seed(seed)

    def log_joint(values):
        x = values["x"]
        return (2 * x ** 2 - x ** 4).sum(-1)

    start = np.linspace(-1.5, 1.5, N_CHAINS, dtype=np.float32).reshape(N_CHAINS, 1)
    draws = sampler.run(log_joint, {}, {"x": jt.array(start)}, n_warmup=300,
                        n_samples=1500, progress=False)
    return np.asarray(draws["x"], np.float64)[..., 0]          # [n, chains]


@pytest.mark.parametrize("kind", ["hmc", "nuts"])
def test_double_well_matches_its_density(kind, seed):
    sampler = (zs.mcmc.HMC(step_size=0.2, n_leapfrogs=8, adapt_step_size=True)
               if kind == "hmc" else zs.mcmc.NUTS(step_size=0.2, adapt_step_size=True))
    x, step = thinned(run(sampler, seed))
    n = x.size
    assert n > 2000, (n, step)   # enough draws for the checks to have power

    # Kolmogorov–Smirnov against the exact CDF, level 1e-4.
    ks = stats.kstest(x, cdf)
    assert ks.pvalue > 1e-4, (ks, step)

    # Both modes visited in equal measure.
    right = np.mean(x > 0)
    assert abs(right - 0.5) < N_SE * np.sqrt(0.25 / n), (right, n)

    # KDE against the exact density smoothed by the same kernel.
    kde = stats.gaussian_kde(x)
    h = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(-1.6, 1.6, 17)
    smoothed = np.array([
        integrate.quad(lambda t, g=g: density(t) * stats.norm.pdf(g, t, h), -3, 3)[0]
        for g in grid])
    se = np.sqrt(smoothed / (2 * np.sqrt(np.pi)) / (n * h))
    assert np.all(np.abs(kde(grid) - smoothed) < N_SE * se), (kde(grid), smoothed, se)
