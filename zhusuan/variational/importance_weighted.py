"""Importance-weighted bounds: IWAE (SGVB) and VIMCO."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jittor as jt

from ..framework.bn import BayesianNet
from ..numerics import const, log_mean_exp
from .base import NetRun, VariationalObjective

__all__ = ["ImportanceWeightedObjective", "iw_objective", "log_weights"]


def log_weights(run: NetRun) -> jt.Var:
    """``log p(x, z_i) - log q(z_i | x)``, shape [k, batch]."""
    if not run.has_particles:
        raise ValueError("an importance-weighted objective needs particles: pass "
                         "n_samples=k (k >= 1) to the objective")
    # Both nets have nodes here (q its latents, p the observed data).
    return run.log_p() - run.log_q()  # type: ignore[operator]


class ImportanceWeightedObjective(VariationalObjective):
    r"""The k-sample importance-weighted bound (Burda et al., 2016).

    .. math::
        \mathcal{L}_k(x) = \mathbb{E}\Big[\log \frac1k \sum_{i=1}^k
        \frac{p(x, z_i)}{q(z_i \mid x)}\Big], \qquad z_i \sim q(z \mid x)

    It rises with k toward :math:`\log p(x)`. The variational net's latent
    nodes are asked for ``n_samples`` particles along axis 0; the nodes'
    reductions over the data batch axis are left to the objective, which
    averages the per-data-point bound over the batch.

    Estimators: ``sgvb`` (IWAE, reparameterised latents) and ``vimco``
    (Mnih & Rezende, 2016; any latents, k >= 2). Calling the objective uses
    ``estimator``.
    """

    def __init__(self, generator: BayesianNet, variational: BayesianNet,
                 n_samples: int | None = None, axis: int = 0,
                 estimator: str = "sgvb") -> None:
        super().__init__(generator, variational, n_samples)
        if axis != 0:
            raise ValueError("the particle axis is always axis 0 in zhusuan "
                             f"(docs/design.md, 'Particles'); got axis={axis!r}")
        if estimator not in ("sgvb", "vimco"):
            raise ValueError(f"estimator must be 'sgvb' or 'vimco', got {estimator!r}")
        self.axis = axis
        self.estimator = estimator

    def execute(self, observed: Mapping[str, Any]) -> jt.Var:
        return self.sgvb(observed) if self.estimator == "sgvb" else self.vimco(observed)

    def bound(self, observed: Mapping[str, Any]) -> jt.Var:
        """The k-sample bound, one value per data point."""
        run = self._run(observed, per_point=True)
        return log_mean_exp(log_weights(run), 0)

    def sgvb(self, observed: Mapping[str, Any]) -> jt.Var:
        """The IWAE surrogate cost: minus the bound, averaged over the batch."""
        run = self._run(observed, per_point=True)
        for s in run.q_nodes(reparameterized=False):
            raise ValueError(f"sgvb() needs reparameterised latents, but node "
                             f"'{s.name}' is not; use vimco()")
        return -run.reduce_batch(log_mean_exp(log_weights(run), 0))

    def vimco(self, observed: Mapping[str, Any]) -> jt.Var:
        r"""VIMCO surrogate cost.

        Each particle's learning signal is the bound minus the bound with
        that particle's log-weight replaced by the mean of the others' (a
        leave-one-out control variate):

        .. math::
            \text{cost} = -\Big[\sum_i \operatorname{sg}\big(\hat L -
            \hat L_{-i}\big)\log q(z_i) + \hat L\Big]
        """
        run = self._run(observed, per_point=True)
        log_q = run.log_q(detach_value=True)
        log_w = run.log_p(detach_value=True) - log_q
        k = log_w.shape[0]
        if k < 2:
            raise ValueError("vimco() needs n_samples >= 2")
        dt = str(log_w.dtype)
        lw = log_w.detach()
        # Leave-one-out: replace log w_i by the mean of the other k-1.
        others_mean = (lw.sum(0, keepdims=True) - lw) / const(k - 1, dt)
        # For each i, the bound over {w_j, j != i} plus the replacement.
        eye = jt.init.eye(k, dt).reshape([k, k] + [1] * (len(lw.shape) - 1))
        stacked = jt.ternary(eye > 0, others_mean.unsqueeze(1) + lw.unsqueeze(0) * 0,
                             lw.unsqueeze(0) + others_mean.unsqueeze(1) * 0)
        loo = log_mean_exp(stacked, 1)  # [k, batch]
        full = log_mean_exp(lw, 0)
        signal = (full.unsqueeze(0) - loo).detach()
        bound = log_mean_exp(log_w, 0)
        return -run.reduce_batch((signal * log_q).sum(0) + bound)


iw_objective = ImportanceWeightedObjective
