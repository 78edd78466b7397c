"""Inclusive KL (KL(p || q)): reweighted wake-sleep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jittor as jt

from ..framework.bn import BayesianNet
from ..numerics import log_mean_exp, logsumexp
from .base import VariationalObjective
from .importance_weighted import log_weights

__all__ = ["InclusiveKLObjective", "klpq"]


class InclusiveKLObjective(VariationalObjective):
    r"""Reweighted wake-sleep (Bornschein & Bengio, 2015).

    With k particles from q and self-normalised weights
    :math:`\tilde w_i \propto p(x, z_i) / q(z_i | x)`:

    * :meth:`rws`: the proposal's update, a Monte-Carlo estimate of
      :math:`\mathrm{KL}(p(z|x) \| q(z|x))`'s gradient:
      cost :math:`-\sum_i \operatorname{sg}(\tilde w_i) \log q(z_i)`;
    * :meth:`importance`: the model's update, the importance-sampled
      gradient of :math:`\log p(x)`:
      cost :math:`-\sum_i \operatorname{sg}(\tilde w_i) \log p(x, z_i)`.

    Samples are never differentiated through. Calling the objective returns
    the sum of both costs, averaged over the batch.
    """

    def __init__(self, generator: BayesianNet, variational: BayesianNet,
                 n_samples: int | None = None, axis: int = 0) -> None:
        super().__init__(generator, variational, n_samples)
        if axis != 0:
            raise ValueError("the particle axis is always axis 0 in zhusuan "
                             f"(docs/design.md, 'Particles'); got axis={axis!r}")
        self.axis = axis

    def execute(self, observed: Mapping[str, Any]) -> jt.Var:
        run = self._run(observed, per_point=True)
        w = self._weights(run)
        cost = -(w * (run.log_q(detach_value=True) + run.log_p(detach_value=True))).sum(0)
        return run.reduce_batch(cost)

    def _weights(self, run):
        """Self-normalised importance weights over the particle axis, detached."""
        log_w = log_weights(run).detach()
        return jt.exp(log_w - logsumexp(log_w, 0, keepdims=True)).detach()

    def rws(self, observed: Mapping[str, Any]) -> jt.Var:
        """The proposal's (q's) wake-phase cost."""
        run = self._run(observed, per_point=True)
        return run.reduce_batch(-(self._weights(run) * run.log_q(detach_value=True)).sum(0))

    def importance(self, observed: Mapping[str, Any]) -> jt.Var:
        """The model's (p's) importance-weighted cost."""
        run = self._run(observed, per_point=True)
        return run.reduce_batch(-(self._weights(run) * run.log_p(detach_value=True)).sum(0))

    def bound(self, observed: Mapping[str, Any]) -> jt.Var:
        """The k-sample importance-weighted bound, one value per data point."""
        run = self._run(observed, per_point=True)
        return log_mean_exp(log_weights(run), 0)


klpq = InclusiveKLObjective
