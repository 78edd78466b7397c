"""The evidence lower bound (exclusive KL) and its gradient estimators."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jittor as jt

from ..framework.bn import BayesianNet
from ..numerics import const
from .base import VariationalObjective, mean_all, mean_over_particles, run_nets
from .kl import analytic_kl_elementwise

__all__ = ["EvidenceLowerBoundObjective", "ELBO", "run_pair"]


def run_pair(generator: BayesianNet, variational: BayesianNet, observed: Mapping[str, Any],
             n_samples: int | None = None, per_point: bool = False
             ) -> tuple[jt.Var | None, jt.Var | None, BayesianNet]:
    """``(log_p, log_q, q)`` after one joint call (see :func:`run_nets`)."""
    run = run_nets(generator, variational, observed, n_samples, per_point)
    return run.log_p(), run.log_q(), run.q


class EvidenceLowerBoundObjective(VariationalObjective):
    r"""The evidence lower bound, as a Module.

    .. math::
        \mathcal{L}(x) = \mathbb{E}_{q(z|x)}[\log p(x, z) - \log q(z|x)]
        \le \log p(x)

    Calling the objective, ``model(observed)``, returns the surrogate cost to
    minimise (what ``optimizer.step`` takes) for ``estimator``:

    * ``'auto'`` (default): reparameterised latents by SGVB, the others by
      REINFORCE (score function with the baselines below); when every latent
      is reparameterised this is exactly :meth:`sgvb`;
    * ``'sgvb'``: :meth:`sgvb`; ``'reinforce'``: :meth:`reinforce`.

    The SGVB cost is the negative ELBO reduced as the nodes'
    ``reduce_mean_dims``/``reduce_sum_dims`` say; with ``n_samples=k`` the
    nets draw k particles (docs/design.md, "Particles") and the cost averages them.

    Parameters
    ----------
    generator, variational : BayesianNet
        The model p(x, z) (its latent nodes observed with q's samples) and the
        approximate posterior q(z | x).
    estimator : {'auto', 'sgvb', 'reinforce'}
    n_samples : int, optional
        Particles per data point (default: as the nets say, one).
    use_path_derivative : bool
        "Sticking the landing" (Roeder et al., 2017): score q's density with
        its parameters detached, dropping the score term whose expectation is
        zero, so the gradient variance vanishes when q is the posterior.
    analytic_kl : bool
        Replace ``log p(z) - log q(z)`` by ``-KL(q || p)`` in closed form for
        latents whose q and p are both Normal (like Pyro's
        ``TraceMeanField_ELBO``). Opt-in.
    variance_reduction : bool
        Subtract a moving average of the REINFORCE signal (a baseline).
    decay : float
        Decay of that moving average.
    variance_normalization : bool
        Divide the REINFORCE signal by a moving estimate of its standard
        deviation (as ZhuSuan does).
    """

    def __init__(self, generator: BayesianNet, variational: BayesianNet,
                 estimator: str = "auto", n_samples: int | None = None,
                 use_path_derivative: bool = False, analytic_kl: bool = False,
                 variance_reduction: bool = True, decay: float = 0.8,
                 variance_normalization: bool = False) -> None:
        super().__init__(generator, variational, n_samples)
        if estimator not in ("auto", "sgvb", "reinforce"):
            raise ValueError(f"estimator must be 'auto', 'sgvb' or 'reinforce', got "
                             f"{estimator!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.estimator = estimator
        self.use_path_derivative = bool(use_path_derivative)
        self.analytic_kl = bool(analytic_kl)
        self.variance_reduction = bool(variance_reduction)
        self.decay = float(decay)
        self.variance_normalization = bool(variance_normalization)
        # Baseline state (underscored: not Jittor parameters).
        self._moving_mean = None
        self._moving_var = None

    def execute(self, observed: Mapping[str, Any], reduce_mean: bool = True,
                baseline: jt.Var | None = None) -> jt.Var:
        """The surrogate cost of ``estimator`` for ``observed``.

        ``reduce_mean=False`` (upstream ZhuSuan-Jittor's argument) returns it
        before the final mean: the negative ELBO as the nodes' reductions
        leave it (one value per data point when no node reduces the batch
        axis, per particle when the objective draws several).
        """
        if self.estimator == "sgvb":
            return self.sgvb(observed, reduce_mean=reduce_mean)
        if self.estimator == "reinforce":
            return self.reinforce(observed, baseline=baseline, reduce_mean=reduce_mean)
        return self._auto(observed, baseline, reduce_mean)

    # -- the bound ------------------------------------------------------------------
    def _elbo_terms(self, run):
        """log p - log q with the options applied (path derivative, analytic KL)."""
        kl_names = self._analytic_kl_names(run) if self.analytic_kl else []
        log_p = run.log_p(exclude=kl_names)
        q_rest = [s for s in run.q_nodes() if s.name not in kl_names]
        rep = [s for s in q_rest if s.dist.is_reparameterized]
        other = [s for s in q_rest if not s.dist.is_reparameterized]
        terms = log_p
        if rep:
            terms = terms - self._log_q_reparameterized(run, rep)
        if other:
            terms = terms - run.log_q(other)
        for name in kl_names:
            qs = run.q.nodes[name]
            kl = analytic_kl_elementwise(qs.dist, run.p.nodes[name].dist)
            neg_kl = -qs.reduce_elementwise(kl, run.per_point)
            terms = neg_kl if terms is None else terms + neg_kl
        return terms

    def _log_q_reparameterized(self, run, nodes):
        """log q of reparameterised latents, with their parameters detached
        ("sticking the landing") where the objective or the node's
        distribution asks for the path derivative."""
        path = [s for s in nodes if self.use_path_derivative or s.dist.use_path_derivative]
        plain = [s for s in nodes if s not in path]
        if not path:
            return run.log_q(plain)
        out = run.log_q(path, stop_params=True)
        return out if not plain else out + run.log_q(plain)

    def _analytic_kl_names(self, run):
        names = []
        for name in run.latent:
            qd, pd = run.q.nodes[name].dist, run.p.nodes[name].dist
            if type(qd).__name__ == "Normal" and type(pd).__name__ == "Normal":
                names.append(name)
        if not names:
            raise ValueError("analytic_kl=True, but no latent has Normal q and p")
        return names

    def bound(self, observed: Mapping[str, Any]) -> jt.Var:
        """The ELBO itself, one value per data point (batch axis kept)."""
        run = self._run(observed, per_point=True)
        elbo = run.log_p() - run.log_q()
        return mean_over_particles(elbo, run.has_particles)

    # -- estimators -------------------------------------------------------------------
    def sgvb(self, observed: Mapping[str, Any], reduce_mean: bool = True) -> jt.Var:
        """SGVB surrogate cost (the negative ELBO); latents must be
        reparameterised."""
        return self._sgvb_cost(self._run(observed, per_point=False), reduce_mean)

    def _sgvb_cost(self, run, reduce_mean=True):
        for s in run.q_nodes(reparameterized=False):
            raise ValueError(
                f"SGVB needs reparameterised latents, but node '{s.name}' "
                f"({type(s.dist).__name__}) is not reparameterised; set "
                "reparameterize=True on it, or use reinforce()")
        elbo = mean_over_particles(self._elbo_terms(run), run.has_particles)
        return -mean_all(elbo) if reduce_mean else -elbo

    def reinforce(self, observed: Mapping[str, Any], baseline: jt.Var | None = None,
                  reduce_mean: bool = True) -> jt.Var:
        r"""REINFORCE (score-function) surrogate cost.

        .. math::
            \text{cost} = -\big[\operatorname{sg}(\ell - b)\log q(z)
            + \log p(x, z)\big], \quad \ell = \log p(x, z) - \log q(z)

        with ``z`` detached, ``b`` a moving average of the signal (decay
        ``decay``; off with ``variance_reduction=False``) plus, if given, the
        learned, input-dependent baseline ``baseline`` (a Var with one value
        per data point, trained by the added ``0.5 (sg(l) - baseline)^2``).
        """
        self._no_analytic_kl("reinforce()")
        run = self._run(observed, per_point=True)
        log_p = run.log_p(detach_value=True)
        log_q = run.log_q(detach_value=True)
        cost = self._score_cost(log_p, log_q, log_q, log_p, baseline)
        cost = mean_over_particles(cost, run.has_particles)
        return run.reduce_batch(cost) if reduce_mean else cost

    def _no_analytic_kl(self, where):
        if self.analytic_kl:
            raise ValueError(f"analytic_kl=True applies to the SGVB estimator only, "
                             f"not to {where}")

    def _auto(self, observed, baseline, reduce_mean=True):
        # One run of the nets: with every latent reparameterised (the
        # tutorial's VAE) it is the SGVB cost; otherwise the same samples are
        # read per data point for the score-function terms.
        run = self._run(observed, per_point=False)
        if not run.q_nodes(reparameterized=False):
            return self._sgvb_cost(run, reduce_mean)
        self._no_analytic_kl("the score-function terms of estimator='auto'")
        run = run.as_per_point()
        rep = run.q_nodes(reparameterized=True)
        other = run.q_nodes(reparameterized=False)
        log_p, log_q = run.log_p(), run.log_q()
        pathwise = log_p if not rep else log_p - self._log_q_reparameterized(run, rep)
        cost = self._score_cost(log_p, log_q, run.log_q(other, detach_value=True),
                                pathwise, baseline)
        cost = mean_over_particles(cost, run.has_particles)
        return run.reduce_batch(cost) if reduce_mean else cost

    def _score_cost(self, log_p, log_q, score_log_q, pathwise, baseline):
        signal = (log_p - log_q).detach()
        cost = None
        if baseline is not None:
            cost = const(0.5, str(signal.dtype)) * (signal - baseline) ** 2
            signal = signal - baseline.detach()
        signal = self._apply_moving_baseline(signal)
        score = -(signal.detach() * score_log_q) - pathwise
        return score if cost is None else score + cost

    def _apply_moving_baseline(self, signal):
        if not self.variance_reduction:
            return signal
        d = self.decay
        batch_mean = float(signal.mean().item())
        if self._moving_mean is None:
            self._moving_mean = batch_mean
        else:
            self._moving_mean = d * self._moving_mean + (1 - d) * batch_mean
        dt = str(signal.dtype)
        centred = signal - const(self._moving_mean, dt)
        if self.variance_normalization:
            batch_var = float((centred ** 2).mean().item())
            self._moving_var = batch_var if self._moving_var is None else (
                d * self._moving_var + (1 - d) * batch_var)
            centred = centred / const(math.sqrt(max(self._moving_var, 1.0)), dt)
        return centred


ELBO = EvidenceLowerBoundObjective
