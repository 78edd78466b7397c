"""``Distribution.prob`` against scipy's densities and mass functions, and
``repr`` naming the family, the parameters as given and their shapes."""

import zhusuan as zs

import numpy as np
import pytest
from scipy import stats

D = zs.distributions


@pytest.mark.parametrize("make, value, oracle", [
    (lambda: D.Normal(mean=np.array([0.0, 1.0]), std=np.array([2.0, 0.5])),
     np.array([0.3, 1.2]), lambda x: stats.norm.pdf(x, [0.0, 1.0], [2.0, 0.5])),
    (lambda: D.Bernoulli(logits=np.array([-1.0, 2.0])),
     np.array([1.0, 0.0]), lambda x: stats.bernoulli.pmf(x, 1 / (1 + np.exp([1.0, -2.0])))),
    (lambda: D.Poisson(rate=np.array([0.5, 4.0])),
     np.array([2.0, 3.0]), lambda x: stats.poisson.pmf(x, [0.5, 4.0])),
    (lambda: D.Gamma(alpha=np.array([0.7, 3.0]), beta=np.array([2.0, 0.5])),
     np.array([0.4, 5.0]), lambda x: stats.gamma.pdf(x, [0.7, 3.0], scale=[0.5, 2.0])),
    (lambda: D.Dirichlet(alpha=np.array([0.5, 1.0, 2.0])),
     np.array([0.2, 0.3, 0.5]), lambda x: stats.dirichlet.pdf(x, [0.5, 1.0, 2.0])),
])
def test_prob_is_scipys_density(float64, make, value, oracle):
    got = make().prob(value).numpy()
    np.testing.assert_allclose(got, oracle(value), rtol=1e-12)


def test_repr_names_family_parameters_and_shapes():
    d = D.Normal(mean=np.zeros((4, 3), np.float32), std=1.0, group_ndims=1)
    assert repr(d) == "Normal(mean: [4, 3], std: [1], dtype=float32, group_ndims=1)"
    assert repr(D.Normal(mean=0.0, logstd=np.zeros(2, np.float32))) == (
        "Normal(mean: [1], logstd: [2], dtype=float32)")
    assert repr(D.Bernoulli(probs=np.full(3, 0.5, np.float32))) == (
        "Bernoulli(probs: [3], dtype=float32)")


# family, its parameters, scipy's frozen distribution of the same parameters
# (broadcast to the batch shape [2, 3]).
_M = np.array([[0.0, 1.0, -2.0]])
_S = np.array([[0.5], [2.0]])
_L = np.array([[-3.0, 0.0, 4.0]])
MOMENT_CASES = [
    ("Normal(std)", lambda: D.Normal(mean=_M, std=_S), stats.norm(_M, _S)),
    ("Normal(logstd)", lambda: D.Normal(mean=_M, logstd=np.log(_S)), stats.norm(_M, _S)),
    ("Bernoulli(logits)", lambda: D.Bernoulli(logits=_L),
     stats.bernoulli(1 / (1 + np.exp(-_L)))),
    ("Bernoulli(probs)", lambda: D.Bernoulli(probs=np.array([0.1, 0.5, 0.97])),
     stats.bernoulli(np.array([0.1, 0.5, 0.97]))),
    ("Laplace", lambda: D.Laplace(loc=_M, scale=_S), stats.laplace(_M, _S)),
    ("Logistic", lambda: D.Logistic(loc=_M, scale=_S), stats.logistic(_M, _S)),
    ("Exponential", lambda: D.Exponential(rate=_S), stats.expon(scale=1 / _S)),
]


@pytest.mark.parametrize("name, make, frozen", MOMENT_CASES, ids=[c[0] for c in MOMENT_CASES])
def test_variance_and_entropy_are_scipys(float64, name, make, frozen):
    d = make()
    want_shape = d.batch_shape
    var, ent = d.variance.numpy(), d.entropy().numpy()
    assert list(var.shape) == want_shape and list(ent.shape) == want_shape
    np.testing.assert_allclose(var, np.broadcast_to(frozen.var(), want_shape), rtol=1e-12)
    np.testing.assert_allclose(ent, np.broadcast_to(frozen.entropy(), want_shape),
                               rtol=1e-12, atol=1e-15)


def test_float32_variance_and_entropy_keep_the_dtype():
    d = D.Normal(mean=np.zeros(3, np.float32), logstd=np.full(3, -40.0, np.float32))
    var, ent = d.variance, d.entropy()
    assert var.dtype == "float32" and ent.dtype == "float32"
    np.testing.assert_allclose(ent.numpy(), 0.5 * np.log(2 * np.pi * np.e) - 40.0, rtol=1e-6)


def test_families_without_a_closed_form_say_so():
    with pytest.raises(NotImplementedError, match="Dirichlet has no closed-form entropy"):
        D.Dirichlet(alpha=np.ones(3)).entropy()
