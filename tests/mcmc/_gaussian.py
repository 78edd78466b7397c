"""Gaussian targets with known moments for the HMC/NUTS tests.

``dense_gaussian()`` is a 4-dimensional normal with a dense, ill-conditioned
covariance (condition number 100, correlations up to 0.9, scales from 0.3 to
3), written as a BayesianNet whose only node is a
MultivariateNormalCholesky latent with one copy per chain, so that the
samplers see it through ``bn.log_joint()`` like any model.
"""

import numpy as np

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt  # noqa: F401

# isort: on

D = 4


def dense_gaussian():
    """(mean, covariance) of the target; fixed, not drawn from a test's seed
    (the step sizes and budgets of the tests are chosen for it)."""
    rng = np.random.default_rng(20240611)
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    eig = np.array([0.09, 0.5, 2.0, 9.0])  # condition number 100
    cov = q @ np.diag(eig) @ q.T
    mean = np.array([1.0, -2.0, 0.5, 3.0])
    return mean, cov


class GaussianNet(zs.BayesianNet):
    """``n_chains`` copies of x ~ N(mean, cov) along axis 0."""

    def __init__(self, mean, cov, n_chains, dtype="float32"):
        super().__init__()
        self.n_chains = n_chains
        self.mean = zs.numerics.as_var(
            np.broadcast_to(mean, (n_chains, len(mean))).astype(dtype))
        self.tril = zs.numerics.as_var(np.linalg.cholesky(cov).astype(dtype))

    def execute(self, observed):
        self.observe(observed)
        self.sn("MultivariateNormalCholesky", name="x", mean=self.mean,
                cov_tril=self.tril)
        return self


def exact_draws(mean, cov, shape, rng):
    """Independent draws of the target, [*shape, D]."""
    noise = rng.normal(size=tuple(shape) + (len(mean),))
    return mean + noise @ np.linalg.cholesky(cov).T
