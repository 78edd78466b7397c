"""What every variational objective shares: running q then p on q's samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jittor as jt
import numpy as np

from .._checks import check_int
from ..framework.bn import BayesianNet, describe_unused
from ..framework.stochastic import StochasticTensor
from ..numerics import const

__all__ = ["VariationalObjective", "NetRun", "run_nets"]


class NetRun:
    """The two nets after one joint call.

    ``p`` and ``q`` are the called nets, ``latent`` the names of q's latent
    (sampled) nodes; ``per_point`` says whether the log-densities read through
    this run leave the data batch axis to the objective (one run can be read
    both ways: :meth:`as_per_point`); ``has_particles`` whether the latent
    samples carry the objective's leading particle axis. Everything here goes
    through the nodes' public interface (docs/design.md, "The interface
    between nets and inference algorithms").
    """

    def __init__(self, p: BayesianNet, q: BayesianNet, latent: Sequence[str],
                 per_point: bool, has_particles: bool) -> None:
        self.p, self.q, self.latent = p, q, latent
        self.per_point, self.has_particles = per_point, has_particles

    def as_per_point(self, per_point: bool = True) -> NetRun:
        """The same nets and samples, read in the other reduction mode."""
        return NetRun(self.p, self.q, self.latent, per_point, self.has_particles)

    def q_nodes(self, reparameterized: bool | None = None) -> list[StochasticTensor]:
        nodes = [self.q.nodes[n] for n in self.latent]
        if reparameterized is None:
            return nodes
        return [s for s in nodes if s.dist.is_reparameterized == reparameterized]

    def reduce_batch(self, x: jt.Var) -> jt.Var:
        """Reduce a per-data-point quantity over the batch as the nodes do.

        In per-point mode the nodes leave their reductions over the data batch
        axis to the objective: a sum if every node that reduces it sums
        (``reduce_sum_dims`` containing 0), a mean otherwise (the tutorial's
        ``reduce_mean_dims=[0]``, or no batch reduction at all). Nodes that
        disagree (one averages, another sums) are an error.
        """
        kinds: dict[str, list[str]] = {}
        for net in (self.p, self.q):
            for name, node in net.nodes.items():
                kind = node.batch_reduction
                if kind is not None:
                    kinds.setdefault(kind, []).append(name)
        if len(kinds) > 1:
            raise ValueError(
                "nodes disagree on the reduction over the data batch axis: "
                f"mean over it in {sorted(kinds['mean'])}, sum in {sorted(kinds['sum'])}")
        if "sum" in kinds:
            return x.sum().reshape([1])
        return mean_all(x)

    def log_p(self, exclude: Iterable[str] = (), detach_value: bool = False
              ) -> jt.Var | None:
        """Sum of the generator's nodes (except ``exclude``), or None."""
        return _sum(s.reduced_log_prob(self.per_point, detach_value=detach_value)
                    for name, s in self.p.nodes.items() if name not in exclude)

    def log_q(self, nodes: Iterable[StochasticTensor] | None = None, stop_params: bool = False,
              detach_value: bool = False) -> jt.Var | None:
        """Sum of q's latent nodes (or of ``nodes``), or None."""
        nodes = self.q_nodes() if nodes is None else nodes
        return _sum(s.reduced_log_prob(self.per_point, stop_params=stop_params,
                                       detach_value=detach_value) for s in nodes)


def _sum(terms):
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total


def run_nets(generator: BayesianNet, variational: BayesianNet, observed: Mapping[str, Any],
             n_samples: int | None = None, per_point: bool = False) -> NetRun:
    """Run the variational net, then the generator with q's latent samples
    observed (docs/design.md, "Particles").

    Both nets run under :meth:`BayesianNet.inference` with ``n_samples``
    particles; an observed name that neither net used is an error naming it.
    ``per_point`` is the mode the returned run reads in.
    """
    if not isinstance(observed, dict):
        raise TypeError(f"observed must be a dict of name -> value, got "
                        f"{type(observed).__name__}")
    check_nonempty(observed)
    with variational.inference(n_samples, per_point=per_point, check_observed=False):
        q = variational(observed)
        q = variational if q is None else q
        latent = [n for n, s in q.nodes.items() if not s.is_observed]
        if not latent:
            raise ValueError("the variational net has no latent (unobserved) nodes")
        clash = sorted(set(latent) & set(observed))
        if clash:
            raise ValueError(f"latent node(s) {clash} of the variational net are also "
                             "observed")
        joint = dict(observed)
        joint.update({n: q.nodes[n].tensor for n in latent})
        carried = [n for n in latent if q.nodes[n].particle_axis]
    with generator.inference(n_samples, carried=carried, per_point=per_point,
                             check_observed=False):
        p = generator(joint)
        p = generator if p is None else p
        missing = sorted(set(latent) - set(p.nodes))
        if missing:
            raise ValueError(f"latent node(s) {missing} of the variational net have no "
                             "node of the same name in the generator")
    unused = q.unused_observed() & p.unused_observed()
    if unused:
        raise ValueError(describe_unused(unused, [p, q]))
    return NetRun(p, q, latent, per_point, bool(carried))


def check_nonempty(observed: Mapping[str, Any]) -> None:
    """ValueError naming the first observed value that has no entries (an
    empty data batch): every objective and evaluator would otherwise average
    over nothing (a division by zero, or Jittor's shape error)."""
    for name, value in observed.items():
        shape = list(value.shape) if hasattr(value, "shape") else list(np.shape(value))
        if 0 in shape:
            raise ValueError(
                f"observed '{name}' is empty (shape {shape}): objectives and "
                "evaluators need at least one data point")


class VariationalObjective(jt.Module):
    """Base class: holds the two nets and the number of particles.

    Subclasses implement ``bound(observed)`` (the value of the bound, one
    number per data point) and estimator methods returning surrogate costs.
    """

    def __init__(self, generator: BayesianNet, variational: BayesianNet,
                 n_samples: int | None = None) -> None:
        super().__init__()
        n_samples = check_int(n_samples, "n_samples", 1, type(self).__name__,
                              allow_none=True)
        self.generator = generator
        self.variational = variational
        self.n_samples = n_samples

    def _run(self, observed, per_point):
        return run_nets(self.generator, self.variational, observed, self.n_samples,
                        per_point)


def mean_all(x: jt.Var) -> jt.Var:
    """Mean over every axis, as a [1] Var."""
    n = x.numel()
    if n <= 1:
        return x.reshape([1])
    # Not jt.mean: its gradient of a float64 Var is 1/n rounded to float32
    # (a relative error of 3e-8 in every float64 gradient).
    return (x.sum() * const(1.0 / n, str(x.dtype))).reshape([1])


def mean_over_particles(x: jt.Var, has_particles: bool) -> jt.Var:
    """Average the leading particle axis away, if there is one."""
    return jt.mean(x, dim=0) if has_particles else x
