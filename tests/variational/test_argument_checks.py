"""Argument checks, empty batches, chunked log-likelihoods and the learned
REINFORCE baseline (issue 15, findings 5 and 8).

Model (float64): z ~ N(0, 1), x | z ~ N(A z + B, S^2), elementwise over
[batch, D]; the exact posterior is q(z | x) = N(mu, v) with
v = S^2 / (S^2 + A^2), mu = v A (x - B) / S^2, and under it
log p(x, z) - log q(z | x) = log p(x) for every z: importance weights with
no Monte-Carlo error, so estimators can be checked exactly.
"""

import math

import numpy as np
import pytest

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan import BayesianNet
from zhusuan.numerics import const

A, B, S = 2.0, 0.5, 0.5
V = S * S / (S * S + A * A)
N, D = 6, 3


class P(BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        n = observed["x"].shape[0]
        z = self.sn("Normal", name="z", mean=jt.zeros([n, D], "float64"),
                    std=jt.ones([n, D], "float64"), reduce_mean_dims=[0],
                    reduce_sum_dims=[1])
        self.sn("Normal", name="x", mean=z * A + B, std=S, reduce_mean_dims=[0],
                reduce_sum_dims=[1])
        return self


class Q(BayesianNet):
    """The exact posterior, shifted by ``delta`` (zeros: exact)."""

    def __init__(self, delta=None, reparameterize=True):
        super().__init__()
        self._delta = delta
        self.rep = reparameterize

    def execute(self, observed):
        self.observe(observed)
        x = observed["x"]
        # float64 constants: a Python float in a float64 Jittor op may be
        # rounded to float32 (docs/design.md).
        mu = x * const(V * A / (S * S), "float64") - const(V * A * B / (S * S), "float64")
        if self._delta is not None:
            mu = mu + self._delta
        self.sn("Normal", name="z", mean=mu, std=math.sqrt(V), reparameterize=self.rep,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return A * rng.normal(size=(n, D)) + B + S * rng.normal(size=(n, D))


def log_marginal(x):
    var = A * A + S * S
    return (-0.5 * np.log(2 * np.pi * var) - (x - B) ** 2 / (2 * var)).sum(1)


# -- is_loglikelihood: chunks and counts --------------------------------------------------
@pytest.mark.parametrize("chunk_size", [None, 1, 3, 4, 7, 10, 25, np.int64(3)])
def test_is_loglikelihood_is_exact_with_any_chunking(chunk_size, float64):
    """10 particles in chunks of 3 + 3 + 3 + 1 (etc.): with exact weights the
    estimate is log p(x) exactly, so a last chunk of the wrong size (e.g. 3
    instead of 1: 12 weights divided by 10) would be off by log(12/10)."""
    x = jt.array(data())
    ll = zs.evaluation.is_loglikelihood(P(), Q(), {"x": x}, n_samples=10,
                                        chunk_size=chunk_size)
    np.testing.assert_allclose(ll, log_marginal(data()), rtol=1e-12)


def test_is_loglikelihood_chunks_match_one_chunk_off_the_posterior(float64):
    """Off the posterior the estimate is random; the chunked estimate uses
    the same estimator (a log-mean-exp of exactly n_samples weights), so its
    mean over the batch agrees with the one-chunk estimate within their
    Monte-Carlo spread, and the standard errors agree too."""
    x = jt.array(data(n=60, seed=1))
    delta = jt.array(np.full([60, D], 0.05))
    one, se1 = zs.evaluation.is_loglikelihood(P(), Q(delta), {"x": x}, n_samples=20,
                                              chunk_size=20, return_stderr=True)
    many, se2 = zs.evaluation.is_loglikelihood(P(), Q(delta), {"x": x}, n_samples=20,
                                               chunk_size=6, return_stderr=True)
    # Each estimate has sd about its delta-method stderr; the batch mean of
    # the difference of two independent ones has sd sqrt(2 mean(se^2) / 60).
    sd = math.sqrt((np.mean(se1**2) + np.mean(se2**2)) / 60)
    assert abs(one.mean() - many.mean()) < 5 * sd, (one.mean(), many.mean(), sd)
    # A last chunk of 6 instead of 2 would shift every estimate by log(24/20).
    assert 5 * sd < math.log(24 / 20)


@pytest.mark.parametrize("name, value", [
    ("chunk_size", 0), ("chunk_size", -3), ("chunk_size", 2.5), ("chunk_size", True),
    ("chunk_size", "3"), ("n_samples", 0), ("n_samples", True), ("n_samples", 2.5),
    ("n_samples", None),
])
def test_is_loglikelihood_checks_its_counts(name, value):
    kwargs = {"n_samples": 4, name: value}
    with pytest.raises(ValueError, match=rf"is_loglikelihood: {name} must be .*an integer "
                                         r">= 1, got"):
        zs.evaluation.is_loglikelihood(P(), Q(), {"x": jt.array(data())}, **kwargs)


def test_is_loglikelihood_accepts_numpy_integers(float64):
    x = jt.array(data())
    ll = zs.evaluation.is_loglikelihood(P(), Q(), {"x": x}, n_samples=np.int64(10),
                                        chunk_size=np.int32(4))
    np.testing.assert_allclose(ll, log_marginal(data()), rtol=1e-12)


def test_objectives_and_samplers_accept_numpy_integer_counts(float64):
    x = jt.array(data())
    bound = zs.variational.ELBO(P(), Q(), n_samples=np.int64(3)).bound({"x": x}).numpy()
    np.testing.assert_allclose(bound, log_marginal(data()), rtol=1e-12)
    d = zs.distributions.Normal(mean=jt.zeros([2], "float64"), std=1.0)
    assert list(d.sample(np.int64(4)).shape) == [4, 2]
    for bad in (True, 0, 1.0):
        with pytest.raises(ValueError, match="EvidenceLowerBoundObjective: n_samples must "
                                             "be None or an integer"):
            zs.variational.ELBO(P(), Q(), n_samples=bad)
        with pytest.raises(ValueError, match="Normal: n_samples must be None or an integer"):
            d.sample(bad)


# -- empty batches ------------------------------------------------------------------
EMPTY_CALLS = {
    "ELBO": lambda obs: zs.variational.ELBO(P(), Q())(obs),
    "ELBO.bound": lambda obs: zs.variational.ELBO(P(), Q()).bound(obs),
    "ELBO-reinforce": lambda obs: zs.variational.ELBO(
        P(), Q(reparameterize=False), estimator="reinforce")(obs),
    "IWAE": lambda obs: zs.variational.ImportanceWeightedObjective(
        P(), Q(), n_samples=3)(obs),
    "VIMCO": lambda obs: zs.variational.ImportanceWeightedObjective(
        P(), Q(reparameterize=False), n_samples=3, estimator="vimco")(obs),
    "InclusiveKL": lambda obs: zs.variational.InclusiveKLObjective(
        P(), Q(), n_samples=3)(obs),
    "is_loglikelihood": lambda obs: zs.evaluation.is_loglikelihood(
        P(), Q(), obs, n_samples=4),
    "AIS": lambda obs: zs.evaluation.AIS(P(), Q(), n_temperatures=2).run(obs, n_chains=2),
}


@pytest.mark.parametrize("who", list(EMPTY_CALLS))
def test_empty_batch_is_a_clear_error_everywhere(who, float64):
    """Before: ZeroDivisionError from ELBO, Jittor's internal shape error from
    is_loglikelihood."""
    empty = {"x": jt.array(np.zeros([0, D]))}
    with pytest.raises(ValueError, match=r"observed 'x' is empty \(shape \[0, 3\]\)"):
        EMPTY_CALLS[who](empty)


# -- the learned REINFORCE baseline ------------------------------------------------------
def test_learned_baseline_gradients_have_the_right_sign(float64, rng):
    """REINFORCE with a learned, input-dependent baseline b (one value per data
    point), no moving average. At the exact posterior the signal
    l = log p(x, z) - log q(z | x) equals log p(x) for every z, so the
    gradients have closed forms (batch mean over N):

    * of the baseline's loss 0.5 (l - b)^2: d/db_i = -(l_i - b_i) / N;
    * of the score term -(l - b) log q(z) with respect to q's mean:
      -(l_i - b_i) (z_ij - mu_ij) / v / N.

    A baseline subtracted with the wrong sign (l + b) or trained the wrong
    way fails one of them."""
    x = data()
    ll = log_marginal(x)
    b0 = ll + rng.normal(size=N) * 3.0  # a baseline that is off by O(1) nats
    b = jt.array(b0)
    delta = jt.array(np.zeros([N, D]))
    q = Q(delta, reparameterize=False)
    model = zs.variational.ELBO(P(), q, estimator="reinforce", variance_reduction=False)
    cost = model({"x": jt.array(x)}, baseline=b)
    g_b, g_delta = jt.grad(cost, [b, delta])
    z = q.nodes["z"].tensor.numpy()
    mu = x * (V * A / (S * S)) - V * A * B / (S * S)
    np.testing.assert_allclose(g_b.numpy(), -(ll - b0) / N, rtol=1e-10)
    want = -((ll - b0)[:, None]) * (z - mu) / V / N
    np.testing.assert_allclose(g_delta.numpy(), want, rtol=1e-9, atol=1e-12)
