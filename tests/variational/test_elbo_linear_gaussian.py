"""ELBO, SGVB and importance-sampled log-likelihood on a linear-Gaussian model.

Model: z ~ N(0, I), x | z ~ N(a z + b, s^2 I), elementwise. Closed forms:
marginal x ~ N(b, a^2 + s^2); posterior z | x ~ N(mu, v) with
v = s^2 / (s^2 + a^2), mu = v a (x - b) / s^2; and for q = N(m, sd^2)

    ELBO = E_q log p(x|z) + E_q log p(z) + H[q]
         = -1/2 log(2 pi s^2) - ((x - a m - b)^2 + a^2 sd^2) / (2 s^2)
           -1/2 log(2 pi) - (m^2 + sd^2) / 2 + 1/2 log(2 pi e sd^2).

The nets are written in the tutorial's style (reduce_mean_dims=[0],
reduce_sum_dims=[1], no n_samples). Monte-Carlo tolerances are 5 standard
errors (two-sided false-positive rate about 6e-7 per check).
"""

import math

import zhusuan as zs
from zhusuan import BayesianNet

import jittor as jt
import numpy as np
import pytest

A, B, S = 2.0, 0.5, 0.5  # exact in binary, so float64 constants stay exact
N, D = 16, 3


@pytest.fixture
def f64():
    old = jt.flags.auto_convert_64_to_32
    jt.flags.auto_convert_64_to_32 = 0
    jt.set_global_seed(7)
    yield
    jt.flags.auto_convert_64_to_32 = old


class P(BayesianNet):
    def __init__(self):
        super().__init__()

    def execute(self, observed):
        self.observe(observed)
        z = self.sn("Normal", name="z", mean=jt.zeros([N, D], "float64"),
                    std=jt.ones([N, D], "float64"), reparameterize=False,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn("Normal", name="x", mean=z * A + B, std=S,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class Q(BayesianNet):
    def __init__(self, m, sd, reparameterize=True):
        super().__init__()
        self._m = m  # underscored: not a Jittor parameter of the module
        self._sd = sd
        self.rep = reparameterize

    def execute(self, observed):
        self.observe(observed)
        self.sn("Normal", name="z", mean=self._m, std=self._sd,
                reparameterize=self.rep, reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


def data(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, D))
    return A * z + B + S * rng.normal(size=(N, D))


def log_marginal(x):
    var = A * A + S * S
    return (-0.5 * np.log(2 * np.pi * var) - (x - B) ** 2 / (2 * var)).sum(1)


def posterior(x):
    v = S * S / (S * S + A * A)
    return v * A * (x - B) / (S * S), np.full_like(x, math.sqrt(v))


def elbo_closed_form(x, m, sd):
    ll = -0.5 * np.log(2 * np.pi * S * S) - ((x - A * m - B) ** 2 + A * A * sd**2) / (2 * S * S)
    prior = -0.5 * np.log(2 * np.pi) - (m**2 + sd**2) / 2
    ent = 0.5 * np.log(2 * np.pi * np.e * sd**2)
    return (ll + prior + ent).sum(1)


def test_bound_is_exact_at_the_true_posterior(f64):
    x = data()
    m, sd = posterior(x)
    model = zs.variational.ELBO(P(), Q(jt.array(m), jt.array(sd)), n_samples=5)
    got = model.bound({"x": x}).numpy()
    assert got.shape == (N,)  # one value per data point
    # log p(x, z) - log q(z) = log p(x) for every z: no Monte-Carlo error.
    np.testing.assert_allclose(got, log_marginal(x), rtol=1e-10)
    ll = zs.evaluation.is_loglikelihood(P(), Q(jt.array(m), jt.array(sd)), {"x": x},
                                        n_samples=3)
    np.testing.assert_allclose(ll, log_marginal(x), rtol=1e-10)


def test_bound_matches_closed_form_and_lies_below_log_marginal(f64):
    x = data(1)
    m, sd = posterior(x)
    m, sd = m + 0.4, sd * 1.6
    k = 4000
    model = zs.variational.ELBO(P(), Q(jt.array(m), jt.array(sd)), n_samples=k)
    got = float(model.bound({"x": x}).numpy().mean())
    want = elbo_closed_form(x, m, sd).mean()
    # Standard error from the per-particle bound, estimated on the same draws.
    from zhusuan.variational.exclusive_kl import run_pair

    lp, lq, _ = run_pair(P(), Q(jt.array(m), jt.array(sd)), {"x": x}, k)
    per_particle = (lp - lq).numpy()
    se = per_particle.std() / math.sqrt(k)
    assert abs(got - want) < 5 * se, (got, want, se)
    assert want < log_marginal(x).mean()


def test_sgvb_gradient_matches_closed_form(f64):
    x = data(2)
    m0, sd0 = posterior(x)
    m = jt.array(m0 + 0.3)
    sd = jt.array(sd0 * 1.5)
    k = 4000
    model = zs.variational.ELBO(P(), Q(m, sd), n_samples=k)
    cost = model({"x": x})
    g = jt.grad(cost, m).numpy()
    mn, sdn = m.numpy(), sd.numpy()
    # d ELBO / d m = a (x - a m - b) / s^2 - m, averaged over the batch.
    want = -(A * (x - A * mn - B) / (S * S) - mn) / N
    # Per-particle gradient a(x - a z - b)/s^2 - z has sd (a^2/s^2 + 1) sd_q.
    se = (A * A / (S * S) + 1) * sdn / math.sqrt(k) / N
    assert np.all(np.abs(g - want) < 5 * se), np.max(np.abs(g - want) / se)


def test_is_loglikelihood_approaches_log_marginal(f64):
    x = data(3)
    m, sd = posterior(x)
    m, sd = m + 0.3, sd * 1.3
    true = log_marginal(x)
    # Oracle for the error scale: the relative variance of the weights, from a
    # large numpy sample of the same q (independent of zhusuan).
    rng = np.random.default_rng(11)
    z = m + sd * rng.normal(size=(200000, N, D))
    logw = (-0.5 * np.log(2 * np.pi) - z**2 / 2
            - 0.5 * np.log(2 * np.pi * S * S) - (x - A * z - B) ** 2 / (2 * S * S)
            + 0.5 * np.log(2 * np.pi * sd**2) + (z - m) ** 2 / (2 * sd**2)).sum(-1)
    w = np.exp(logw - true)
    relvar = w.var(0)  # Var(w) / p(x)^2 per data point
    ests = {}
    for k in (1, 10, 1000):
        ll = zs.evaluation.is_loglikelihood(P(), Q(jt.array(m), jt.array(sd)),
                                            {"x": x}, n_samples=k)
        assert ll.shape == (N,)
        ests[k] = ll.mean()
    # k = 1: the estimator's expectation is exactly the ELBO.
    se1 = np.sqrt(logw.var(0).mean() / N)
    assert abs(ests[1] - elbo_closed_form(x, m, sd).mean()) < 5 * se1
    # Large k (delta method): bias -relvar / (2k), sd sqrt(relvar / k).
    k = 1000
    bias = -(relvar / (2 * k)).mean()
    se = np.sqrt((relvar / k).mean() / N)
    assert abs(ests[k] - true.mean() - bias) < 5 * se
    assert abs(ests[1000] - true.mean()) < abs(ests[1] - true.mean())


def test_sgvb_rejects_non_reparameterized_latent(f64):
    x = data()
    m, sd = posterior(x)
    model = zs.variational.ELBO(P(), Q(jt.array(m), jt.array(sd), reparameterize=False))
    with pytest.raises(ValueError, match=r"SGVB.*node 'z'.*not reparameterised"):
        model.sgvb({"x": x})
    strict = zs.variational.ELBO(P(), Q(jt.array(m), jt.array(sd), reparameterize=False),
                                 estimator="sgvb")
    with pytest.raises(ValueError, match=r"SGVB.*node 'z'.*not reparameterised"):
        strict({"x": x})
    # The bound itself is still available.
    np.testing.assert_allclose(model.bound({"x": x}).numpy(), log_marginal(x),
                               rtol=1e-10)


def test_alias_and_module():
    assert zs.variational.EvidenceLowerBoundObjective is zs.variational.ELBO
    assert isinstance(zs.variational.ELBO(P(), Q(0.0, 1.0)), jt.Module)


def test_analytic_kl_is_refused_on_the_score_function_path(f64):
    x = data()
    m, sd = posterior(x)
    q = Q(jt.array(m), jt.array(sd), reparameterize=False)
    for estimator in ("reinforce", "auto"):
        model = zs.variational.ELBO(P(), q, estimator=estimator, analytic_kl=True)
        with pytest.raises(ValueError, match="analytic_kl=True applies to the SGVB"):
            model({"x": x})
