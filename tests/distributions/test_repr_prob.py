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

