"""Evaluation: importance-sampled log-likelihood, and annealed importance
sampling (:class:`AIS`) with HMC transitions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jittor as jt
import numpy as np

from ._checks import check_int
from .framework.bn import BayesianNet
from .mcmc.hmc import HMC
from .numerics import const, dtype_name
from .variational.base import check_nonempty, run_nets
from .variational.exclusive_kl import run_pair

__all__ = ["is_loglikelihood", "AIS"]


def is_loglikelihood(generator: BayesianNet, variational: BayesianNet,
                     observed: Mapping[str, Any], n_samples: int = 1000,
                     chunk_size: int | None = None, return_stderr: bool = False
                     ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Importance-sampled estimate of :math:`\log p(x)`, one per data point.

    .. math::
        \log p(x) \approx \log \frac1k \sum_{i=1}^k
        \frac{p(x, z_i)}{q(z_i \mid x)}, \qquad z_i \sim q(z \mid x)

    The nets may be written in the tutorial's style (no ``n_samples``,
    reductions over the batch axis in ``reduce_mean_dims``): the estimator
    asks the variational net's latent nodes for particles along a new leading
    axis, and every node leaves its reductions over the data batch axis
    (axis 0 of its log-density) to the estimator (docs/design.md, "Particles").

    Particles are drawn ``chunk_size`` at a time (default: as many as keep
    about 2^22 elements of the widest node per chunk), and combined with a
    log-sum-exp in float64, so k = 1000 fits in memory.

    Parameters
    ----------
    generator, variational : BayesianNet
    observed : dict
        Observed values; the first axis of each is the data batch axis.
    n_samples : int
        Number of importance samples ``k`` per data point.
    chunk_size : int, optional
        Particles per chunk (an integer >= 1; the last chunk takes the
        remainder).
    return_stderr : bool
        Also return each estimate's Monte-Carlo standard error by the delta
        method, :math:`\mathrm{sd}(w) / (\sqrt k\,\bar w)` (it does not
        include the estimator's downward bias, about half its square).

    Returns
    -------
    numpy.ndarray of float64, shape [batch] (and the standard errors, same shape)
    """
    n_samples = check_int(n_samples, "n_samples", 1, "is_loglikelihood")
    chunk_size = check_int(chunk_size, "chunk_size", 1, "is_loglikelihood",
                           allow_none=True)
    if not isinstance(observed, dict):
        raise TypeError(f"is_loglikelihood: observed must be a dict of name -> value, "
                        f"got {type(observed).__name__}")
    check_nonempty(observed)
    if chunk_size is None:
        width = max(int(np.prod(v.shape)) for v in observed.values()) if observed else 1
        chunk_size = max(1, min(n_samples, (1 << 22) // max(width, 1)))
    parts = []
    done = 0
    with jt.no_grad():
        while done < n_samples:
            k = min(chunk_size, n_samples - done)
            log_p, log_q, _ = run_pair(generator, variational, observed, k,
                                       per_point=True)
            # Both nets have nodes here (q its latents, p the observed data).
            log_w = (log_p - log_q).numpy().astype(np.float64)  # type: ignore[operator]
            parts.append(log_w.reshape(k, -1))
            done += k
            jt.sync_all()
            jt.gc()
    log_w = np.concatenate(parts, axis=0)
    m = log_w.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    estimate = np.log(np.exp(log_w - m).sum(axis=0)) + m - math.log(n_samples)
    if not return_stderr:
        return estimate
    return estimate, _delta_stderr(log_w)


def _delta_stderr(log_w):
    """sd(w) / (sqrt(k) mean(w)) per column of log-weights [k, batch]."""
    k = log_w.shape[0]
    m = log_w.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    w = np.exp(log_w - m)
    if k < 2:
        return np.full(w.shape[1:], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return w.std(axis=0, ddof=1) / (np.sqrt(k) * w.mean(axis=0))


def _sigmoid_schedule(n):
    """ZhuSuan-TF's annealing schedule: a sigmoid of t / n, rescaled to run
    from 0 to 1, denser at both ends (n + 1 temperatures)."""
    t = np.arange(n + 1) / n
    s = 1.0 / (1.0 + np.exp(-4.0 * (2.0 * t - 1.0)))
    return (s - s[0]) / (s[-1] - s[0])


class AIS:
    r"""Annealed importance sampling (Neal, 2001) of :math:`\log p(x)`, one
    estimate per data point, with HMC transitions (ZhuSuan-TF's ``AIS``).

    For temperatures :math:`0 = \beta_0 < \beta_1 < \dots < \beta_T = 1` the
    intermediate targets are
    :math:`f_t(z) = (1 - \beta_t) \log q(z \mid x) + \beta_t \log p(x, z)`:
    each of ``n_chains`` chains per data point starts from a draw of the
    proposal :math:`q` and makes one HMC transition that leaves
    :math:`f_t` invariant at every temperature; its log-weight is

    .. math:: \log w = \sum_{t=1}^{T} (\beta_t - \beta_{t-1})
              \big(\log p(x, z_{t-1}) - \log q(z_{t-1} \mid x)\big),

    and :math:`\log\frac1K\sum_k w_k` estimates :math:`\log p(x)` (a
    stochastic lower bound; unbiased in :math:`p(x)`). With :math:`T = 1` it
    is plain importance sampling with proposal q.

    The nets are those of :func:`is_loglikelihood` (tutorial-style nets
    work: the chains are the particles of docs/design.md, "Particles", and
    every node is read per data point), so the HMC chain shape is
    [n_chains, batch]. The log-weights are accumulated in float64 from
    :math:`\log p - \log q` evaluated at each transition's starting point.

    Step size: one step size for all chains, adapted after every transition
    by a factor 1.02 up or down according to whether the mean acceptance
    rate over all chains is above or below ``target_acceptance_rate`` (the
    rule of Wu, Burda, Salakhutdinov & Grosse 2017 for decoder-based models);
    ``n_adapt`` transitions at the first temperature tune it before the run
    (then the chains restart from fresh proposal draws). Pooling over all
    chains keeps each chain's transitions almost independent of its own
    history (an adaptation that depended on it would bias the weights).

    Parameters
    ----------
    generator : BayesianNet
        The model p(x, z).
    proposal : BayesianNet
        The initial distribution q(z | x) of the latents (e.g. the
        variational net, or a net with the prior's latent nodes only).
    hmc : zhusuan.mcmc.HMC, optional
        Supplies ``n_leapfrogs``, the initial ``step_size`` and
        ``max_delta_energy`` (its own adaptation is not used). Default:
        ``HMC(step_size=0.1, n_leapfrogs=10)``.
    n_temperatures : int
        T, the number of transitions.
    n_adapt : int
        Step-size tuning transitions before the run.
    schedule : 'sigmoid', 'linear' or array
        The temperatures: ZhuSuan-TF's sigmoid schedule, a linear one, or
        T + 1 increasing numbers from 0 to 1.
    target_acceptance_rate : float
        The acceptance rate the step-size tuning aims at.
    verbose : bool
        A tqdm progress bar (if installed) with the temperature and the
        acceptance rate.

    Attributes
    ----------
    log_weights, stderr, acceptance_rate, step_sizes
        Set by :meth:`run`: the log importance weights [n_chains, batch],
        the delta-method Monte-Carlo standard error of each estimate
        (:math:`\mathrm{sd}(w) / (\sqrt K\,\bar w)`), the mean acceptance
        rate per transition, and the step sizes.
    """

    def __init__(self, generator: BayesianNet, proposal: BayesianNet, hmc: HMC | None = None,
                 n_temperatures: int = 1000, n_adapt: int = 30,
                 schedule: str | np.ndarray = "sigmoid", target_acceptance_rate: float = 0.65,
                 verbose: bool = False) -> None:
        self.generator, self.proposal = generator, proposal
        self.hmc = HMC(step_size=0.1, n_leapfrogs=10) if hmc is None else hmc
        if not isinstance(self.hmc, HMC):
            raise TypeError(f"hmc must be a zhusuan.mcmc.HMC, got {type(hmc).__name__}")
        n_temperatures = check_int(n_temperatures, "n_temperatures", 1, "AIS")
        n_adapt = check_int(n_adapt, "n_adapt", 0, "AIS")
        self.n_temperatures, self.n_adapt = n_temperatures, n_adapt
        if isinstance(schedule, str):
            if schedule == "sigmoid":
                betas = _sigmoid_schedule(n_temperatures)
            elif schedule == "linear":
                betas = np.linspace(0.0, 1.0, n_temperatures + 1)
            else:
                raise ValueError(f"schedule must be 'sigmoid', 'linear' or an array, "
                                 f"got {schedule!r}")
        else:
            betas = np.asarray(schedule, np.float64)
            if (betas.shape != (n_temperatures + 1,) or betas[0] != 0.0
                    or betas[-1] != 1.0 or np.any(np.diff(betas) <= 0)):
                raise ValueError("schedule must be n_temperatures + 1 increasing "
                                 "numbers from 0 to 1")
        self.betas = betas
        if not 0.0 < target_acceptance_rate < 1.0:
            raise ValueError("target_acceptance_rate must be in (0, 1)")
        self.target_acceptance_rate = float(target_acceptance_rate)
        self.verbose = bool(verbose)

    # -- the nets at given latents ------------------------------------------------
    def _log_p_q(self, observed, z, k):
        """Per-point ``(log p(x, z), log q(z | x))``, each [k, batch], lazily."""
        names = list(z)
        joint = {**observed, **z}
        with self.proposal.inference(k, carried=names, per_point=True,
                                     check_observed=False):
            self.proposal(joint)
        with self.generator.inference(k, carried=names, per_point=True,
                                      check_observed=False):
            self.generator(joint)
        log_q = None
        for n in names:
            t = self.proposal.nodes[n].reduced_log_prob(per_point=True)
            log_q = t if log_q is None else log_q + t
        log_p = None
        for node in self.generator.nodes.values():
            t = node.reduced_log_prob(per_point=True)
            log_p = t if log_p is None else log_p + t
        return log_p, log_q

    def _draw(self, observed, k):
        with jt.no_grad():
            run = run_nets(self.generator, self.proposal, observed, k, per_point=True)
            stray = [n for n in run.latent if not run.q.nodes[n].particle_axis]
            if stray:
                raise ValueError(f"AIS: latent node(s) {stray} of the proposal draw "
                                 "their own samples (n_samples); AIS draws the chains "
                                 "as particles")
            z = {n: run.q.nodes[n].tensor.detach() for n in run.latent}
            jt.sync(list(z.values()))
        return z

    def _increment(self, observed, z, k):
        with jt.no_grad():
            log_p, log_q = self._log_p_q(observed, z, k)
            diff = log_p - log_q
            jt.sync([diff])
        return diff.numpy().astype(np.float64)

    def _target(self, observed, k, beta):
        def log_fn(values):
            z = {n: values[n] for n in self._names}
            log_p, log_q = self._log_p_q(observed, z, k)
            dt = dtype_name(log_p)
            return const(1.0 - beta, dt) * log_q + const(beta, dt) * log_p
        return log_fn

    def _transition(self, observed, k, beta, z, rate=1.02):
        z, info = self.hmc.sample(self._target(observed, k, beta), {}, z)
        acc = float(np.mean(info.acceptance_rate))
        factor = rate if acc > self.target_acceptance_rate else 1.0 / rate
        self._step *= factor
        self.hmc.set_step_size(self._step)
        return z, acc

    def run(self, observed: Mapping[str, Any], n_chains: int = 16) -> np.ndarray:
        """Estimate :math:`\\log p(x)` of each data point of ``observed`` with
        ``n_chains`` AIS chains each; returns a float64 array [batch]."""
        n_chains = check_int(n_chains, "n_chains", 1, "AIS.run")
        k = n_chains
        hmc = self.hmc
        hmc.adapt_step_size = hmc.adapt_mass = None  # AIS tunes the step itself
        z = self._draw(observed, k)
        self._names = list(z)
        self._step = float(hmc.step_size)
        hmc.reset()  # new chains
        bar = None
        if self.verbose:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                bar = tqdm(total=self.n_adapt + self.n_temperatures, desc="AIS",
                           unit="temp")
        accs, steps = [], []
        try:
            if self.n_adapt:
                w = z
                for _ in range(self.n_adapt):
                    # Coarser steps while tuning (x1.1), fine ones during the run.
                    w, acc = self._transition(observed, k, self.betas[1], w, rate=1.1)
                    if bar is not None:
                        bar.set_postfix(acc=f"{acc:.2f}", step=f"{self._step:.3g}",
                                        refresh=False)
                        bar.update(1)
                z = self._draw(observed, k)  # fresh chains for the run
            log_w = np.zeros(())
            for t in range(1, self.n_temperatures + 1):
                # The increment at z_{t-1}, then a transition leaving f_t invariant
                # (the last one's result is not needed).
                inc = self._increment(observed, z, k)
                log_w = log_w + (self.betas[t] - self.betas[t - 1]) * inc
                if t < self.n_temperatures:
                    steps.append(self._step)
                    z, acc = self._transition(observed, k, self.betas[t], z)
                    accs.append(acc)
                    if bar is not None:
                        bar.set_postfix(beta=f"{self.betas[t]:.3f}", acc=f"{acc:.2f}",
                                        step=f"{self._step:.3g}", refresh=False)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        log_w = np.asarray(log_w, np.float64).reshape(k, -1)
        self.log_weights = log_w
        m = log_w.max(axis=0)
        m = np.where(np.isfinite(m), m, 0.0)
        self.stderr = _delta_stderr(log_w)
        self.acceptance_rate = np.array(accs)
        self.step_sizes = np.array(steps)
        return np.log(np.exp(log_w - m).mean(axis=0)) + m
