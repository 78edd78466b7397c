"""zs.mcmc.HMC and zs.mcmc.NUTS against targets with known posteriors.

Targets: a 4-dimensional normal with a dense covariance of condition number
100 (tests/mcmc/_gaussian.py) and the conjugate Bayesian linear regression
of the SG-MCMC tests (tests/mcmc/_linear_regression.py, closed-form
posterior), each as a BayesianNet with 64 chains along axis 0.

Monte-Carlo error. The chains are independent, so each chain's time average
is one independent estimate: the standard error of a pooled moment is the
spread of the per-chain estimates over sqrt(n_chains) (batch means with one
batch per chain), which accounts for the autocorrelation within chains (the
ESS). The chains start from exact draws of the target, so there is no
burn-in bias to bound; the warm-up then adapts the step size and the mass
matrix.

False positives: a comparison fails when a moment is more than N_SE = 5
standard errors from the truth; with the standard error estimated from 64
chains (t with 63 degrees of freedom) that is 5e-6 per comparison, and a
test makes at most 28: below 2e-4 per test. The acceptance and divergence
checks are not statistical at these sizes (see each test).
"""

import numpy as np
import pytest
from _gaussian import D, GaussianNet, dense_gaussian, exact_draws
from _linear_regression import LinearRegression, observed, posterior, regression_data

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

N_CHAINS = 64
N_SE = 5.0

pytestmark = pytest.mark.slow


def moments(draws):
    """Pooled mean and covariance of draws [n, chains, d], with standard errors
    from the per-chain estimates."""
    draws = np.asarray(draws, np.float64)
    c = draws.shape[1]
    mean = draws.mean((0, 1))
    per_mean = draws.mean(0)
    dev = draws - mean
    per_cov = np.einsum("tci,tcj->cij", dev, dev) / draws.shape[0]
    return (mean, per_mean.std(0, ddof=1) / np.sqrt(c),
            per_cov.mean(0), per_cov.std(0, ddof=1) / np.sqrt(c))


def assert_moments(draws, mean, cov):
    m, se_m, s, se_s = moments(draws)
    z_mean = (m - mean) / se_m
    z_cov = (s - cov) / se_s
    assert np.all(np.abs(z_mean) < N_SE), ("mean", m, mean, z_mean)
    iu = np.triu_indices(len(mean))
    assert np.all(np.abs(z_cov[iu]) < N_SE), ("covariance", s, cov, z_cov)


def gaussian_start(rng, dtype="float32"):
    mean, cov = dense_gaussian()
    net = GaussianNet(mean, cov, N_CHAINS, dtype)
    x0 = exact_draws(mean, cov, [N_CHAINS], rng).astype(dtype)
    return mean, cov, net, {"x": jt.array(x0)}


def check_mass(sampler, cov, last_window, dense):
    """The adapted inverse mass matrices against the regularised covariance.

    Each chain's matrix is Stan's regularised Welford estimate from the
    ``last_window`` draws of its last slow window: expectation
    n/(n+5) Cov + 1e-3 * 5/(n+5) I for independent draws. Autocorrelated
    draws shrink the sample covariance's expectation by at most tau / n
    relative (tau the integrated autocorrelation time, below 3 for these
    adapted samplers on a Gaussian), added to the tolerance as
    3 / n * sqrt(Cov_ii Cov_jj).
    """
    n = last_window
    want = n / (n + 5) * cov + 1e-3 * 5 / (n + 5) * np.eye(len(cov))
    inv = sampler.inverse_mass
    sd = np.sqrt(np.diag(cov))
    bias = 3.0 / n * np.outer(sd, sd)
    if not dense:
        want, bias = np.diag(want), np.diag(bias)
        assert inv.shape == (N_CHAINS, len(cov))
    else:
        assert inv.shape == (N_CHAINS, len(cov), len(cov))
    got, se = inv.mean(0), inv.std(0, ddof=1) / np.sqrt(N_CHAINS)
    assert np.all(np.abs(got - want) < N_SE * se + bias), (got, want, se)


def test_hmc_with_dense_mass_adaptation_samples_a_dense_gaussian(rng):
    mean, cov, net, x0 = gaussian_start(rng)
    hmc = zs.mcmc.HMC(step_size=0.1, n_leapfrogs=8, adapt_step_size=True,
                      adapt_mass=True, dense_mass=True)
    draws = hmc.run(net, {}, x0, n_warmup=400, n_samples=300, progress=False)["x"]
    assert draws.shape == (300, N_CHAINS, D)
    assert_moments(draws, mean, cov)
    # 400 warm-up iterations: windows (75, 99), (100, 149), (150, 349).
    check_mass(hmc, cov, 200, dense=True)
    assert hmc.n_divergences.sum() == 0


def test_nuts_with_diagonal_mass_adaptation_samples_a_dense_gaussian(rng):
    mean, cov, net, x0 = gaussian_start(rng)
    nuts = zs.mcmc.NUTS()  # Stan's defaults: diagonal mass, target 0.8, depth 10
    draws = nuts.run(net, {}, x0, n_warmup=250, n_samples=150, progress=False)["x"]
    assert_moments(draws, mean, cov)
    # 250 warm-up iterations: windows (75, 99), (100, 199).
    check_mass(nuts, cov, 100, dense=False)
    depth, n_steps = nuts.stats["tree_depth"], nuts.stats["n_steps"]
    assert depth.shape == (150, N_CHAINS) and depth.min() >= 1 and depth.max() <= 10
    # The accepted doublings, plus the states of a last, rejected subtree.
    assert np.all((n_steps >= 2 ** depth - 1) & (n_steps <= 2 ** (depth + 1) - 1))
    assert nuts.n_divergences.sum() == 0


@pytest.mark.parametrize("kind", ["hmc", "nuts"])
def test_conjugate_linear_regression_posterior(kind, rng):
    x, y = regression_data()
    mu, sig, _ = posterior(x, y)
    net, obs = LinearRegression(n_chains=N_CHAINS), observed(x, y, N_CHAINS)
    w0 = mu + rng.normal(size=(N_CHAINS, len(mu))) @ np.linalg.cholesky(sig).T
    # (Each leapfrog step of this net costs ~5 ms here, so the runs are short;
    # a dense mass matrix keeps NUTS's trees small.)
    if kind == "hmc":
        sampler = zs.mcmc.HMC(step_size=0.05, n_leapfrogs=4, adapt_step_size=True,
                              adapt_mass=True)
    else:
        sampler = zs.mcmc.NUTS(max_tree_depth=5, dense_mass=True)
    draws = sampler.run(net, obs, {"w": jt.array(w0.astype("float32"))}, n_warmup=100,
                        n_samples=150, progress=False)["w"]
    assert_moments(draws, mu, sig)


@pytest.mark.parametrize("target", [0.65, 0.9])
def test_step_size_adaptation_reaches_the_target_acceptance(target, rng):
    # Dual averaging drives the mean acceptance statistic of each adaptation
    # interval to the target. Checked over the terminal buffer of the
    # warm-up (50 iterations x 64 chains, restarted at the last window's
    # end): its mean is within 0.06 of the target (the averaging's residual
    # is O(gamma / sqrt(t)) in log step size; measured within 0.03 here).
    _, _, net, x0 = gaussian_start(rng)
    hmc = zs.mcmc.HMC(step_size=0.1, n_leapfrogs=5, adapt_step_size=True,
                      adapt_mass=True, target_acceptance_rate=target)
    hmc.run(net, {}, x0, n_warmup=250, n_samples=100, progress=False)
    terminal = hmc.warmup_stats["acceptance_rate"][-50:]
    assert abs(terminal.mean() - target) < 0.06, terminal.mean()
    # After the warm-up the step is the averaged one, which accepts at least
    # as often as the target on this target (Stan's behaviour too).
    assert hmc.stats["acceptance_rate"].mean() > target - 0.06
    assert np.all(hmc.stats["step_size"] == hmc.current_step_size)


def test_divergent_trajectories_are_detected_and_counted(rng):
    # HMC: step 1.5 exceeds the leapfrog's stability limit 2 sigma_min = 0.6
    # by a factor 2.5; along the narrowest direction the map's eigenvalue is
    # about -23, so the energy grows by ~23^2 per step and every trajectory
    # of 10 steps passes an energy error of 1000. NUTS stops a trajectory at
    # its first U-turn, which an oscillating unstable trajectory makes early,
    # so its first state must already diverge: step 1e4 multiplies the
    # narrow coordinate by ~5e8 in one step (energy error ~1e18 z^2 for the
    # start's standardised narrow coordinate z; below 1000 with probability
    # ~3e-8 per chain and iteration, 1e-5 for the test). Every iteration of
    # every chain diverges and is rejected.
    mean, cov, net, x0 = gaussian_start(rng)
    for sampler in (zs.mcmc.HMC(step_size=1.5, n_leapfrogs=10),
                    zs.mcmc.NUTS(step_size=1e4, adapt_step_size=False,
                                 adapt_mass=False)):
        x = x0
        for i in range(5):
            x, info = sampler.sample(net, {}, x)
            assert np.all(info.diverging) and not np.any(info.accepted)
            np.testing.assert_array_equal(sampler.n_divergences, i + 1)
        np.testing.assert_allclose(x["x"].numpy(), x0["x"].numpy())
        assert np.all(info.step_size == sampler.step_size)
    nuts_info = info
    assert np.all(nuts_info.tree_depth == 0) and np.all(nuts_info.n_steps == 1)
    # A stable step does not diverge; the threshold is the energy error.
    hmc = zs.mcmc.HMC(step_size=0.1, n_leapfrogs=10)
    _, info = hmc.sample(net, {}, x0)
    assert not np.any(info.diverging)
    # The criterion is one-sided, H - H0 > max_delta_energy anywhere along the
    # trajectory: at a threshold of 1e-9 every chain whose end point gained
    # energy is divergent (float32 energies of order 10 differ by > 1e-6).
    hmc = zs.mcmc.HMC(step_size=0.1, n_leapfrogs=10, max_delta_energy=1e-9)
    _, info = hmc.sample(net, {}, x0)
    gained = info.accepted & (info.hamiltonian - info.orig_hamiltonian > 1e-9)
    assert gained.sum() > 10 and np.all(info.diverging[gained])
    np.testing.assert_array_equal(hmc.n_divergences, info.diverging.astype(int))
