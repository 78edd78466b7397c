"""zs.evaluation.AIS against the closed-form marginal likelihood of a linear
Gaussian model, and against plain importance sampling.

Model (per data point b): z_b ~ N(0, I_d), x_b | z_b ~ N(W z_b + c, s^2 I_o),
so x_b ~ N(c, W W^T + s^2 I) exactly (scipy's multivariate normal is the
oracle) and the posterior is N(m_b, S) with S = (I + W^T W / s^2)^-1,
m_b = S W^T (x_b - c) / s^2. The nets are written in the tutorial's style
(mean over the batch), as for is_loglikelihood.

Checks:

1. With the exact posterior as the proposal every intermediate target is
   the posterior, and every chain's log-weight equals log p(x_b) up to
   float32 rounding of the increments (deterministic).
2. With the prior as the proposal (d = 4, s = 0.1: the posterior occupies a
   fraction ~1e-6 of the prior's mass), AIS's estimates agree with the truth
   within their Monte-Carlo error, pooled over the 16 data points: the sum
   of the errors over the root sum of the squared standard errors is below
   5 (about 1e-4 for the test once the estimated standard errors' own
   spread is allowed for; measured |z| < 2.3 over several seeds), and their
   RMSE is less than a third of that of importance sampling with the prior
   and the same budget of net evaluations (K T (L + 2) samples; measured
   0.43 against 3.2 nats).
"""

import numpy as np
import pytest
from scipy import stats

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

D, N_OBS, B = 4, 8, 16
SIGMA = 0.1


def linear_gaussian(rng):
    w = rng.normal(size=(N_OBS, D))
    c = rng.normal(size=N_OBS)
    z = rng.normal(size=(B, D))
    x = z @ w.T + c + SIGMA * rng.normal(size=(B, N_OBS))
    cov = w @ w.T + SIGMA ** 2 * np.eye(N_OBS)
    truth = stats.multivariate_normal(c, cov).logpdf(x)
    post_cov = np.linalg.inv(np.eye(D) + w.T @ w / SIGMA ** 2)
    post_mean = (x - c) @ w @ post_cov.T / SIGMA ** 2
    return w, c, x, truth, post_mean, post_cov


class Generator(zs.BayesianNet):
    def __init__(self, w, c):
        super().__init__()
        self.w, self.c = jt.array(w.astype("float32")), jt.array(c.astype("float32"))

    def execute(self, observed):
        self.observe(observed)
        z = self.sn("Normal", name="z", mean=jt.zeros([B, D]), std=1.0,
                    reduce_sum_dims=[1], reduce_mean_dims=[0])
        mean = (z.unsqueeze(-2) * self.w).sum(-1) + self.c
        self.sn("Normal", name="x", mean=mean, std=SIGMA, reduce_sum_dims=[1],
                reduce_mean_dims=[0])
        return self


class Prior(zs.BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        self.sn("Normal", name="z", mean=jt.zeros([B, D]), std=1.0,
                reduce_sum_dims=[1], reduce_mean_dims=[0])
        return self


class Posterior(zs.BayesianNet):
    def __init__(self, mean, cov):
        super().__init__()
        self.mean = jt.array(mean.astype("float32"))
        self.tril = jt.array(np.linalg.cholesky(cov).astype("float32"))

    def execute(self, observed):
        self.observe(observed)
        self.sn("MultivariateNormalCholesky", name="z", mean=self.mean,
                cov_tril=self.tril, reduce_mean_dims=[0])
        return self


def test_exact_posterior_proposal_gives_exact_weights(rng):
    w, c, x, truth, m, s = linear_gaussian(rng)
    obs = {"x": jt.array(x.astype("float32"))}
    ais = zs.evaluation.AIS(Generator(w, c), Posterior(m, s),
                            hmc=zs.mcmc.HMC(step_size=0.05, n_leapfrogs=3),
                            n_temperatures=20, n_adapt=0)
    est = ais.run(obs, n_chains=4)
    assert est.shape == (B,) and ais.log_weights.shape == (4, B)
    # float32 log-densities of magnitude ~30 (x's term with s = 0.1): each
    # increment's log p - log q is exact to ~1e-5 relative, weighted by
    # increments summing to 1.
    np.testing.assert_allclose(ais.log_weights, np.broadcast_to(truth, (4, B)),
                               rtol=0, atol=2e-3)
    np.testing.assert_allclose(est, truth, rtol=0, atol=2e-3)
    assert ais.acceptance_rate.shape == (19,)


@pytest.mark.slow
def test_agrees_with_the_truth_and_beats_importance_sampling(rng):
    w, c, x, truth, _, _ = linear_gaussian(rng)
    obs = {"x": jt.array(x.astype("float32"))}
    k, t, leapfrogs = 16, 1000, 5
    ais = zs.evaluation.AIS(Generator(w, c), Prior(),
                            hmc=zs.mcmc.HMC(step_size=0.05, n_leapfrogs=leapfrogs),
                            n_temperatures=t, n_adapt=20)
    est = ais.run(obs, n_chains=k)
    err = est - truth
    pooled = err.sum() / np.sqrt((ais.stderr ** 2).sum())
    assert abs(pooled) < 5.0, (err, ais.stderr)
    # The step size was tuned: the mean acceptance is near the target 0.65.
    assert abs(ais.acceptance_rate.mean() - 0.65) < 0.1
    budget = k * t * (leapfrogs + 2)  # net evaluations per data point
    is_est, is_se = zs.evaluation.is_loglikelihood(Generator(w, c), Prior(), obs,
                                                   n_samples=budget, return_stderr=True)
    assert is_se.shape == (B,) and np.all(is_se >= 0)
    rmse_ais = np.sqrt(np.mean(err ** 2))
    rmse_is = np.sqrt(np.mean((is_est - truth) ** 2))
    assert rmse_ais < rmse_is / 3, (rmse_ais, rmse_is)


def test_arguments():
    with pytest.raises(ValueError, match="n_temperatures"):
        zs.evaluation.AIS(Prior(), Prior(), n_temperatures=0)
    with pytest.raises(ValueError, match="schedule"):
        zs.evaluation.AIS(Prior(), Prior(), n_temperatures=3, schedule=[0, 0.5, 1])
    with pytest.raises(TypeError, match="HMC"):
        zs.evaluation.AIS(Prior(), Prior(), hmc=zs.mcmc.NUTS())
    sched = zs.evaluation.AIS(Prior(), Prior(), n_temperatures=10).betas
    assert sched[0] == 0 and sched[-1] == 1 and np.all(np.diff(sched) > 0)
