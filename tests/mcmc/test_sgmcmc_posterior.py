"""The SG-MCMC samplers against the closed-form posterior of a linear regression.

Every test runs 1024 independent chains along a leading axis of one net
(tests/mcmc/_linear_regression.py) with full-batch gradients, unless it says
otherwise, and compares the pooled sample mean and variance of each weight
with the posterior's, within N_SE standard errors. The standard errors are
batch means with one batch per chain, so they include the autocorrelation
of each chain. The SGLD and minibatch tests start from prior draws
(``resample=True``); the others start from exact posterior draws
(``load_state_dict``), which leaves only the step-size bias to bound and
spares a long burn-in (SGNHT's thermostat, in particular, needs thousands of
updates to settle after the fall from a prior draw).

A fixed step size biases a sampler's stationary distribution. For SGLD and
SGHMC the update is linear in the state for this model, so the expectation
of the pooled moments of the discretised chain (burn-in included) follows in
closed form (_linear_regression.propagate); each test asserts that its
distance from the posterior is below BIAS_FRACTION of the standard error, so
the comparison with the posterior is a valid test at that step size. SGNHT
and PSGLD are not linear; their tests say how their bias is bounded.

False positives: each test makes up to 6 comparisons at 5 standard errors
with a bias below a quarter of one; with the standard error estimated from
1024 chains (t with 1023 degrees of freedom) that is about 1e-6 per
comparison, 1e-5 per test.
"""

import zhusuan as zs

import numpy as np
import pytest
from _linear_regression import (
    N_CHAINS,
    SW,
    D,
    LinearRegression,
    chain_statistics,
    observed,
    posterior,
    propagate,
    regression_data,
    resample_momentum,
    sghmc_map,
    sgld_map,
)

N_SE = 5.0
BIAS_FRACTION = 0.25

pytestmark = pytest.mark.slow


def assert_within(stat, se, target, what):
    z = (stat - target) / se
    assert np.all(np.abs(z) < N_SE), f"{what}: {stat} vs {target}, z = {z}"


def check_posterior(draws, mu, sig, pred_mean=None, pred_var=None):
    """Sample moments within N_SE of the posterior; the discretised chain's
    exact moments (when known) within BIAS_FRACTION of a standard error."""
    mean, se_mean, var, se_var = chain_statistics(draws)
    if pred_mean is not None:
        assert np.all(np.abs(pred_mean - mu) < BIAS_FRACTION * se_mean), \
            ("step-size bias of the mean too large for this test",
             (pred_mean - mu) / se_mean)
    if pred_var is not None:
        assert np.all(np.abs(pred_var - np.diag(sig)) < BIAS_FRACTION * se_var), \
            ("step-size bias of the variance too large for this test",
             (pred_var - np.diag(sig)) / se_var)
    assert_within(mean, se_mean, mu, "mean")
    assert_within(var, se_var, np.diag(sig), "variance")
    return mean, se_mean, var, se_var


def posterior_start(sampler, mu, sig, rng, **aux):
    """Start the chains from exact posterior draws (load_state_dict)."""
    w0 = mu + rng.normal(size=(N_CHAINS, D)) @ np.linalg.cholesky(sig).T
    state = {"latent:w": w0.astype("float32"), "t": 0}
    state.update({f"aux:{k}:w": np.asarray(v, "float32") for k, v in aux.items()})
    sampler.load_state_dict(state)


def momentum_posterior_start(mu, sig, lr):
    """Moments of (w - mu, v) for w from the posterior and v ~ N(0, lr)."""
    p0 = np.zeros((2 * D, 2 * D))
    p0[:D, :D] = sig
    p0[D:, D:] = lr * np.eye(D)
    return np.zeros(2 * D), p0


def test_sgld_with_a_schedule_from_prior_draws():
    # A large step for the fall from the prior, then a small one for sampling.
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    n_steps, burn_in = 4000, 1500

    def lr(t):
        return 2e-3 if t < 500 else 2e-4

    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.SGLD(lr)
    sampler.sample(net, obs, resample=True)  # chains start from prior draws
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    assert draws.shape == (n_steps - burn_in, N_CHAINS, D)
    m, p = propagate(-mu, SW**2 * np.eye(D), lambda t: sgld_map(lam, lr(t)),
                     n_steps, burn_in)
    check_posterior(draws, mu, sig, m + mu, np.diag(p))


def test_sghmc_second_order_defaults(rng):
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    lr, n_steps, burn_in = 1.5e-4, 3000, 500
    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.SGHMC(lr)  # friction 0.25, redraw v every 20, 2nd order
    posterior_start(sampler, mu, sig, rng,
                    v=np.sqrt(lr) * rng.normal(size=(N_CHAINS, D)))
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    mat, q = sghmc_map(lam, lr, 0.25, 2 * 0.25 * lr, second_order=True)
    m0, p0 = momentum_posterior_start(mu, sig, lr)
    m, p = propagate(m0, p0, lambda t: (mat, q), n_steps, burn_in,
                     before=resample_momentum(20, lr, D))
    check_posterior(draws, mu, sig, m[:D] + mu, np.diag(p)[:D])


def test_sghmc_first_order_matches_its_discretised_chain(rng):
    # The first-order integrator is biased by O(friction), not O(lr): with
    # these arguments the stationary variance is about 20% below the
    # posterior's (some 45 standard errors), so the oracle here is the exact
    # law of the discretised chain, not the posterior.
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    lr, friction, n_steps, burn_in = 3e-4, 0.25, 3000, 500
    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.SGHMC(lr, friction=friction, variance_estimate=0.05,
                            n_iter_resample_v=50, second_order=False)
    posterior_start(sampler, mu, sig, rng,
                    v=np.sqrt(lr) * rng.normal(size=(N_CHAINS, D)))
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    mat, q = sghmc_map(lam, lr, friction, 2 * (friction - 0.05) * lr,
                       second_order=False)
    m0, p0 = momentum_posterior_start(mu, sig, lr)
    m, p = propagate(m0, p0, lambda t: (mat, q), n_steps, burn_in,
                     before=resample_momentum(50, lr, D))
    mean, se_mean, var, se_var = chain_statistics(draws)
    assert_within(mean, se_mean, m[:D] + mu, "mean")
    assert_within(var, se_var, np.diag(p)[:D], "variance of the discretised chain")


def test_sgnht(rng):
    # SGNHT with exact gradients and extra noise a: its thermostat settles at
    # alpha = a (where E v^2 = lr), where the update is SGHMC with friction a
    # and noise 2 a lr. The oracle for the step-size bias is that linear chain;
    # the thermostat's fluctuation (sd about 0.02 per coordinate) adds about
    # +0.1% to the variance in a 4096-chain numpy simulation of this
    # recursion, a third of this test's standard error, of the opposite sign
    # to the linear chain's bias (-0.12 standard errors).
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    lr, a, n_steps, burn_in = 3e-4, 0.1, 3000, 500
    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.SGNHT(lr, variance_extra=a)  # vector thermostat, 2nd order
    posterior_start(sampler, mu, sig, rng,
                    v=np.sqrt(lr) * rng.normal(size=(N_CHAINS, D)),
                    alpha=np.full((N_CHAINS, D), a))
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    mat, q = sghmc_map(lam, lr, a, 2 * a * lr, second_order=True)
    m0, p0 = momentum_posterior_start(mu, sig, lr)
    m, p = propagate(m0, p0, lambda t: (mat, q), n_steps, burn_in)
    check_posterior(draws, mu, sig, m[:D] + mu, np.diag(p)[:D])
    # The thermostat: 3072 coordinates, each within about 0.02 of a.
    alpha = sampler.state_dict()["aux:alpha:w"].numpy()
    assert alpha.shape == (N_CHAINS, D)
    assert abs(alpha.mean() - a) < 0.01, alpha.mean()


def test_psgld_mean_with_defaults(rng):
    # decay=0.9, epsilon=1e-3: the preconditioner follows the position, and
    # without the Gamma term the stationary law is wider than the posterior
    # (see PSGLD's docstring). Its mean is still exact: started from posterior
    # draws (symmetric about mu), every step commutes with the reflection
    # w -> 2 mu - w (g -> -g, V and G unchanged, symmetric noise), so
    # E w_t = mu for every t, with no bias to bound.
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    lr, n_steps, burn_in = 3e-3, 3000, 500
    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.PSGLD(lr)
    posterior_start(sampler, mu, sig, rng, v=np.zeros((N_CHAINS, D)))
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    mean, se_mean, var, se_var = chain_statistics(draws)
    assert_within(mean, se_mean, mu, "mean")
    # The documented bias, for the record: far more than N_SE standard errors.
    assert np.all(var > np.diag(sig) + N_SE * se_var), (var, np.diag(sig), se_var)


def test_psgld_variance_with_a_slowly_varying_preconditioner(rng):
    # With epsilon far above the gradients, G = 1 / (epsilon + sqrt(V)) varies
    # by a factor 1 +- |g| / epsilon: PSGLD is SGLD with step lr / epsilon up to
    # that factor. Bias: the discretisation, from the linear chain with G
    # frozen at 1 / (epsilon + E|g|), plus the Gamma term left out, which in the
    # small-step limit (density proportional to posterior / G, per coordinate)
    # inflates the variance by E|g| / (epsilon + E|g|), with E|g_i| =
    # sqrt(2 Lam_ii / pi) since g = -Lam (w - mu) ~ N(0, Lam).
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    eps = 1e4
    lr, n_steps, burn_in = 2e-4 * eps, 4000, 500
    net, obs = LinearRegression(), observed(x, y)
    sampler = zs.mcmc.PSGLD(lr, epsilon=eps)
    posterior_start(sampler, mu, sig, rng, v=np.zeros((N_CHAINS, D)))
    draws = sampler.run(net, obs, n_steps, burn_in=burn_in, progress=False)["w"]
    abs_g = np.sqrt(2 * np.diag(lam) / np.pi)
    mat, q = sgld_map(lam, lr, precond=1.0 / (eps + abs_g))
    m, p = propagate(np.zeros(D), sig, lambda t: (mat, q), n_steps, burn_in)
    pred_var = np.diag(p) * (1 + abs_g / (eps + abs_g))
    check_posterior(draws, mu, sig, m + mu, pred_var)


def test_sgld_minibatches_with_multiplier(rng):
    # Each chain sees its own minibatch of n of the N points per update, with
    # multiplier N / n. The gradient is then -Lam_B w + b_B with E Lam_B = Lam
    # and E b_B = Lam mu, drawn independently of w_t, so the mean obeys the
    # full-batch recursion m' = (I - lr/2 Lam) m exactly (the variance is
    # inflated by the gradient noise and is not compared).
    x, y = regression_data()
    mu, sig, lam = posterior(x, y)
    n, lr, n_steps, burn_in = 10, 1e-3, 3000, 1000
    n_data = len(y)
    net = LinearRegression(multiplier=n_data / n)

    def minibatch(t):
        idx = np.argsort(rng.random((N_CHAINS, n_data)), axis=1)[:, :n]
        return observed(x[idx], y[idx])  # x [chains, n, D], y [chains, n]

    sampler = zs.mcmc.SGLD(lr)
    sampler.sample(net, minibatch(0), resample=True)
    draws = sampler.run(net, minibatch, n_steps, burn_in=burn_in, progress=False)["w"]
    mat, _ = sgld_map(lam, lr)
    m, _ = propagate(-mu, np.zeros((D, D)), lambda t: (mat, np.zeros((D, D))),
                     n_steps, burn_in)
    mean, se_mean, var, se_var = chain_statistics(draws)
    assert np.all(np.abs(m) < BIAS_FRACTION * se_mean), m / se_mean
    assert_within(mean, se_mean, mu, "mean")
    assert np.all(np.isfinite(var)) and np.all(var > 0)
