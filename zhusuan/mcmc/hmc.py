r"""Hamiltonian Monte Carlo: :class:`HMC` (static trajectories), the machinery
it shares with :class:`~zhusuan.mcmc.nuts.NUTS`, and the leapfrog integrator.

Sources. The sampler is Neal's HMC (Neal, "MCMC using Hamiltonian dynamics",
Handbook of MCMC, 2011) with ZhuSuan-TF's interface and argument meanings
(``zhusuan/hmc.py``: ``step_size``, ``n_leapfrogs``, ``adapt_step_size``,
``target_acceptance_rate``, ``gamma``, ``t0``, ``kappa``, ``adapt_mass``; an
``HMCInfo`` per iteration). The adaptation is Stan's (Stan Reference Manual,
"MCMC sampling"): dual averaging of the step size (Hoffman & Gelman 2014), a
diagonal or dense mass matrix from Welford estimates over doubling windows,
the step-size search of Hoffman & Gelman's Algorithm 4 after every mass
update; see :mod:`zhusuan.mcmc.adaptation`.

How a BayesianNet is sampled (docs/design.md, "The interface between nets
and inference algorithms"). All latents of all chains are packed into one
state matrix ``z`` of shape [n_chains, dim] (each latent flattened after its
chain axes). A leapfrog step unpacks ``z`` into the latents' shapes, runs
``bn({**observed, **latents})``, takes ``bn.log_joint()`` (one value per
chain) and its gradient with ``jt.grad``, the same path as the variational
objectives, and finishes the momentum update: one Jittor graph for all
chains and latents, evaluated with one ``jt.sync``. The bookkeeping between
steps (energies, acceptance, adaptation, the NUTS tree) runs on NumPy
arrays of shape [n_chains], in float64.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Union

import jittor as jt
import numpy as np

from ..framework.bn import BayesianNet
from ..numerics import VarLike, as_var, dtype_name
from .adaptation import DualAveraging, WarmupSchedule, WelfordCovariance
from .sg_base import check_number

__all__ = ["HMC", "HMCInfo", "leapfrog"]

#: A model for the samplers: a BayesianNet, or a function of the observed and
#: latent values (keyword arguments) returning the log joint of each chain.
Model = Union[BayesianNet, Callable[..., jt.Var]]


# -- the target: a model's log joint as a function of the packed state --------------
_CONTRACT = (
    "it must have one value per chain, shape [n_chains], with the chains along "
    "axis 0 of every latent. Sum each node's event axes into its log-density, e.g. a "
    "prior Normal(mean=jt.zeros([n_chains, D]), std=1., group_ndims=1) and a "
    "likelihood with group_ndims or reduce_sum_dims over its data axes; never reduce "
    "over the chain axis")


class _Target:
    """The log joint of ``model`` as a function of the packed latent state.

    ``model`` is a :class:`BayesianNet` (its ``log_joint()`` after a call with
    the latents and ``observed`` observed must have one value per chain) or,
    as in ZhuSuan-TF, a function of the dict of every node's value (latents and
    observed together) returning the log joint, whose shape then defines the
    chain axes (any number of them; each latent starts with them).
    """

    def __init__(self, model, observed, latent, who):
        self.who = who
        self.model, self.observed = model, observed
        if not isinstance(latent, dict) or not latent:
            raise TypeError(f"{who}: latent must be a non-empty dict of name -> "
                            "current value (a Var with a leading chain axis)")
        clash = sorted(set(latent) & set(observed))
        if clash:
            raise ValueError(f"{who}: {clash} are both latent and observed")
        values = {}
        for name, v in latent.items():
            v = as_var(v, name=f"latent '{name}'")
            if "float" not in dtype_name(v):
                raise TypeError(f"{who}: latent '{name}' has dtype {v.dtype}; HMC "
                                "needs continuous (floating-point) latents")
            values[name] = v.detach()
        dtypes = {dtype_name(v) for v in values.values()}
        if len(dtypes) > 1:
            raise TypeError(f"{who}: the latents mix dtypes {sorted(dtypes)}; give "
                            "them one floating dtype")
        self.dtype = dtypes.pop()
        self.names = list(values)
        with jt.no_grad():
            try:
                lj = self._log_joint(values)
            except RuntimeError as exc:  # e.g. node log-densities that do not add up
                raise ValueError(f"{who}: the log joint cannot be computed "
                                 f"({self._node_shapes()}); " + _CONTRACT) from exc
        lj_shape = list(lj.shape)
        shapes = {k: list(v.shape) for k, v in values.items()}
        self.chain_shape = self._chain_shape(lj_shape, shapes)
        nc = len(self.chain_shape)
        self.n_chains = int(np.prod(self.chain_shape, dtype=np.int64))
        self.event_shapes = {k: s[nc:] for k, s in shapes.items()}
        self.sizes = [int(np.prod(self.event_shapes[k], dtype=np.int64))
                      for k in self.names]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.dim = int(self.offsets[-1])
        self.latent_shapes = shapes

    def _node_shapes(self):
        if not isinstance(self.model, BayesianNet):
            return "a log-joint function"
        shapes = []
        for name, node in self.model.nodes.items():
            try:
                shapes.append(f"'{name}' {list(node.log_prob().shape)}")
            except RuntimeError:
                shapes.append(f"'{name}' ?")
        return "node log-densities: " + ", ".join(shapes)

    # The contract on the log joint's shape, with errors that say what to change.
    def _chain_shape(self, lj_shape, shapes):
        who = self.who
        described = ", ".join(f"'{k}' {s}" for k, s in shapes.items())
        if isinstance(self.model, BayesianNet):
            if len(lj_shape) != 1:
                raise ValueError(
                    f"{who}: bn.log_joint() has shape {lj_shape} (latents: "
                    f"{described}; {self._node_shapes()}); " + _CONTRACT)
            n = lj_shape[0]
            if all(len(s) >= 1 and s[0] == n for s in shapes.values()):
                return [n]
            if n == 1:
                # One chain whose latents have no chain axis, unless a latent's
                # node averages its axis 0 away: upstream's particle style, which
                # would average the chains' log-densities (and their gradients).
                averaged = [k for k in shapes
                            if self.model.nodes[k].batch_reduction == "mean"]
                if averaged:
                    raise ValueError(
                        f"{who}: bn.log_joint() has one value, and the node(s) of "
                        f"latent(s) {averaged} average over axis 0 (reduce_mean_dims); "
                        "for several chains " + _CONTRACT + ". (A single chain whose "
                        "latents have no chain axis must not average them either: "
                        "that tempers the posterior.)")
                return []  # one chain, latents without a chain axis
            raise ValueError(
                f"{who}: bn.log_joint() has {n} values (one per chain), but the "
                f"latents do not all have {n} chains along axis 0 ({described})")
        # A log-joint function: its shape is the chain shape (ZhuSuan-TF's rule).
        if lj_shape == [1] and not all(s[:1] == [1] for s in shapes.values()):
            return []
        bad = [k for k, s in shapes.items() if s[:len(lj_shape)] != lj_shape]
        if bad:
            raise ValueError(
                f"{who}: the log joint has shape {lj_shape}, which are the chain axes, "
                f"but latent(s) {bad} do not start with them ({described})")
        return lj_shape

    def _log_joint(self, values):
        if isinstance(self.model, BayesianNet):
            bn = self.model
            bn({**self.observed, **values})
            missing = [k for k in values if k not in bn.nodes]
            if missing:
                raise ValueError(f"{self.who}: latent(s) {missing} are not nodes of "
                                 f"{type(bn).__name__} in this call")
            stray = sorted(set(bn.nodes) - set(values) - set(self.observed))
            if stray:
                raise ValueError(
                    f"{self.who}: node(s) {stray} of {type(bn).__name__} are neither "
                    "latent nor observed, so they would be redrawn at every step; pass "
                    "them in latent (to sample them) or in observed")
            return bn.log_joint()
        out = self.model({**self.observed, **values})
        if not isinstance(out, jt.Var):
            raise TypeError(f"{self.who}: the log-joint function returned "
                            f"{type(out).__name__}, not a Var")
        return out

    # -- packing ----------------------------------------------------------------------
    def pack(self, latent):
        """Name -> value (Var or array) to a float array [n_chains, dim]."""
        parts = []
        for k in self.names:
            v = latent[k]
            v = v.numpy() if isinstance(v, jt.Var) else np.asarray(v)
            if list(v.shape) != self.latent_shapes[k]:
                raise ValueError(f"{self.who}: latent '{k}' has shape {list(v.shape)}, "
                                 f"expected {self.latent_shapes[k]}")
            parts.append(v.reshape(self.n_chains, -1))
        return np.concatenate(parts, axis=1).astype(self.dtype)

    def unpack_numpy(self, z):
        z = np.asarray(z)
        return {k: z[:, self.offsets[i]:self.offsets[i + 1]].reshape(
            self.latent_shapes[k]) for i, k in enumerate(self.names)}

    def unpack(self, z):
        out = {}
        for i, k in enumerate(self.names):
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            part = z if (a, b) == (0, self.dim) else z[:, a:b]
            out[k] = part.reshape(self.latent_shapes[k])
        return out

    def log_prob_grad(self, z):
        """``(log joint [n_chains], its gradient [n_chains, dim])`` at ``z`` (a
        Var [n_chains, dim]), lazily (nothing is evaluated here)."""
        with jt.enable_grad():  # a caller's no_grad() would zero every gradient
            lj = self._log_joint(self.unpack(z))
            if list(lj.shape) != (self.chain_shape or [1]):
                raise ValueError(f"{self.who}: the log joint changed shape from "
                                 f"{self.chain_shape or [1]} to {list(lj.shape)}")
            grad = jt.grad(lj.sum(), z)
        return lj.reshape([self.n_chains]), grad


def _column(x, dtype):
    """A [n, 1] Var holding the float64 numbers ``x`` in ``dtype``."""
    return as_var(np.asarray(x, np.float64).reshape(-1, 1), dtype=dtype)


def _velocity_var(p, inv_mass):
    if len(inv_mass.shape) == 3:  # dense: M^-1 p per chain, as a broadcast sum
        return (inv_mass * p.unsqueeze(1)).sum(-1)
    return inv_mass * p


def leapfrog(target: Any, z: jt.Var, p: jt.Var, grad: jt.Var, step_size: jt.Var,
             inv_mass: jt.Var) -> tuple[jt.Var, ...]:
    r"""One leapfrog (velocity Verlet) step of every chain, as one Jittor graph.

    .. math::
        p_{1/2} = p + \tfrac{\epsilon}{2} \nabla\log\pi(z), \quad
        z' = z + \epsilon M^{-1} p_{1/2}, \quad
        p' = p_{1/2} + \tfrac{\epsilon}{2} \nabla\log\pi(z')

    ``z``, ``p``, ``grad`` are Vars [n_chains, dim] (``grad`` the gradient of
    the log joint at ``z``); ``step_size`` is an array [n_chains] (a chain
    with step 0 stays where it is; a negative step integrates backwards in
    time); ``inv_mass`` a Var [n_chains, dim] (diagonal) or
    [n_chains, dim, dim]. Returns detached, evaluated Vars
    ``(z', p', grad', log_prob')`` after a single ``jt.sync``.
    """
    dt = target.dtype
    step = np.asarray(step_size, np.float64)
    eps, half = _column(step, dt), _column(0.5 * step, dt)
    p_half = p + half * grad
    z_new = z + eps * _velocity_var(p_half, inv_mass)
    log_prob, grad_new = target.log_prob_grad(z_new)
    p_new = p_half + half * grad_new
    out = [z_new, p_new, grad_new, log_prob]
    jt.sync(out)
    return tuple(v.detach() for v in out)


# -- per-iteration information ---------------------------------------------------------
class HMCInfo:
    """Statistics of one iteration of :class:`HMC` or :class:`NUTS`, one value
    per chain (NumPy arrays of shape [n_chains], the chains flattened).

    Attributes (ZhuSuan-TF's names first):

    ``samples``
        name -> Var, the new state (what :meth:`HMC.sample` returns).
    ``acceptance_rate``
        the acceptance statistic: HMC's Metropolis acceptance probability
        :math:`\\min(1, e^{-\\Delta H})`; for NUTS, Stan's mean of that over
        every state of the trajectory. Step-size adaptation drives its mean to
        ``target_acceptance_rate``.
    ``updated_step_size``
        the step size after this iteration's adaptation; ``step_size`` the one
        this iteration used.
    ``init_momentum``
        name -> array, the momentum drawn at the start.
    ``orig_hamiltonian``, ``hamiltonian``
        :math:`H = -\\log p + \\tfrac12 p^\\top M^{-1} p` at the start and at
        the proposal (for NUTS: at the state the trajectory chose).
    ``orig_log_prob``, ``log_prob``
        the log joint at the start and at the new state.
    ``accepted``
        whether the chain moved (HMC: the proposal was accepted).
    ``diverging``, ``n_divergences``
        whether the energy error exceeded ``max_delta_energy`` (or became
        non-finite) along the trajectory; running counts after warm-up.
    ``n_steps``, ``tree_depth``
        leapfrog steps taken; NUTS's tree depth (HMC: None).
    ``energy``
        :math:`H` at the new state (Stan's ``energy__``, for BFMI).
    ``warmup``
        whether this iteration adapted the step size or the mass matrix.
    """

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self):
        acc = float(np.mean(self.acceptance_rate))
        n = len(self.acceptance_rate)
        return (f"HMCInfo(acceptance_rate={acc:.3f} (mean of {n}"
                f" chains), step_size={np.median(self.step_size):.3g} (median), "
                f"divergent={int(np.sum(self.diverging))}, warmup={self.warmup})")


def _check_int(name, value, low):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _flag(name, value):
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, True or False, got {value!r}")
    return bool(value)


class _Hamiltonian:
    """What HMC and NUTS share: initialisation, momenta, adaptation, the
    ``sample``/``run`` protocol and checkpoints. Subclasses implement
    :meth:`_trajectory`."""

    # The chains: a _Target (or an _Unbound one, restored from a checkpoint)
    # or None before the first call; the position; each chain's step size and
    # inverse mass matrix.
    _target: Any
    _z: Any
    _step: np.ndarray
    _inv_mass: np.ndarray

    def __init__(self, step_size: float = 1.0, adapt_step_size: bool | None = None,
                 target_acceptance_rate: float = 0.8, gamma: float = 0.05, t0: float = 10.0,
                 kappa: float = 0.75, adapt_mass: bool | None = None, dense_mass: bool = False,
                 n_warmup: int | None = None, max_delta_energy: float = 1000.0,
                 find_step_size: bool = True) -> None:
        who = type(self).__name__
        self.step_size = check_number("step_size", step_size, low=0.0, low_open=True)
        self.adapt_step_size = _flag("adapt_step_size", adapt_step_size)
        self.adapt_mass = _flag("adapt_mass", adapt_mass)
        if self.adapt_mass and not self.adapt_step_size:
            # ZhuSuan-TF's rule: a new mass matrix needs a new step size.
            raise ValueError(f"{who}: adapt_mass needs adapt_step_size as well")
        self.target_acceptance_rate = check_number(
            "target_acceptance_rate", target_acceptance_rate, low=0.0, high=1.0,
            low_open=True, high_open=True)
        self.gamma = check_number("gamma", gamma, low=0.0, low_open=True)
        self.t0 = check_number("t0", t0, low=0.0)
        self.kappa = check_number("kappa", kappa, low=0.5, high=1.0, low_open=True)
        self.dense_mass = bool(dense_mass)
        self.n_warmup = (None if n_warmup is None
                         else _check_int("n_warmup", n_warmup, 0))
        self.max_delta_energy = check_number("max_delta_energy", max_delta_energy,
                                             low=0.0, low_open=True)
        self.find_step_size = bool(find_step_size)
        self._target = None
        self._z = None
        self.stats = None
        self.warmup_stats = None

    # -- public state ------------------------------------------------------------------
    @property
    def n_chains(self) -> int | None:
        return None if self._target is None else self._target.n_chains

    @property
    def latents(self) -> dict[str, jt.Var] | None:
        """Name -> Var of the chains' current state (None before the first call)."""
        if self._z is None:
            return None
        return {k: as_var(v, dtype=self._dtype)
                for k, v in self._unpack(self._z).items()}

    @property
    def current_step_size(self) -> np.ndarray | None:
        """The step size of each chain, [n_chains] (None before the first call)."""
        return None if not hasattr(self, "_step") else self._step.copy()

    @property
    def inverse_mass(self) -> np.ndarray | None:
        """Each chain's inverse mass matrix (the adapted posterior covariance),
        [n_chains, dim] (diagonal) or [n_chains, dim, dim], in the packed order
        of the latents (``latent_names``, each flattened)."""
        return None if not hasattr(self, "_inv_mass") else self._inv_mass.copy()

    @property
    def latent_names(self) -> list[str] | None:
        return None if self._target is None else list(self._target.names)

    def reset(self) -> None:
        """Forget the chains (the next :meth:`sample` or :meth:`run` starts
        afresh: new step sizes, mass matrices and warm-up)."""
        self._target = None
        self._z = None

    def set_step_size(self, step_size: float | np.ndarray) -> None:
        """Set the step size of every chain (a number or an array [n_chains]);
        for a caller that tunes it itself (e.g. :class:`zhusuan.evaluation.AIS`)."""
        if self._target is None:
            raise RuntimeError(f"{type(self).__name__} has no chains yet")
        step = np.broadcast_to(np.asarray(step_size, np.float64),
                               (self._target.n_chains,)).copy()
        if not np.all(np.isfinite(step) & (step > 0)):
            raise ValueError("step sizes must be positive and finite")
        self._step = step

    # -- the protocol ---------------------------------------------------------------
    def sample(self, bn: Model, observed: Mapping[str, Any], latent: Mapping[str, VarLike]
               ) -> tuple[dict[str, jt.Var], HMCInfo]:
        """One iteration of every chain: ``(samples, info)``.

        Parameters
        ----------
        bn : BayesianNet or callable
            The model. A BayesianNet is run with ``{**observed, **latent}``
            observed and ``bn.log_joint()`` must have shape [n_chains] (one
            value per chain, the chains along axis 0 of every latent; a single
            chain may also be given without a chain axis, its log joint then
            having shape [1]). As in ZhuSuan-TF, a function of the dict of all
            values (observed and latent) returning the log joint is accepted
            too; its shape is then the chain shape (any number of leading
            axes, shared by every latent).
        observed : dict
            Name -> value of the observed nodes; may change between calls
            (e.g. the other block of a Gibbs-style scheme).
        latent : dict
            Name -> current state (Var or array) of each latent to sample,
            e.g. what the previous call returned. The first call fixes the
            latents' names and shapes; a call with others starts afresh
            (new step sizes, mass matrices and warm-up).

        Returns
        -------
        samples : dict
            Name -> Var of the new state.
        info : HMCInfo
        """
        observed = {} if observed is None else observed
        if not isinstance(observed, dict):
            raise TypeError("observed must be a dict of name -> value, got "
                            f"{type(observed).__name__}")
        if not isinstance(latent, dict) or not latent:
            raise TypeError(f"{type(self).__name__}.sample: latent must be a non-empty "
                            "dict of name -> current value")
        if self._needs_init(latent):
            self._initialise(bn, observed, latent)
        else:
            self._set_position(bn, observed, latent)
        return self._iterate()

    def run(self, bn: Model, observed: Mapping[str, Any],
            latent: Mapping[str, VarLike] | None = None, n_samples: int = 1000,
            n_warmup: int = 1000, thin: int = 1, progress: bool = True
            ) -> dict[str, np.ndarray]:
        """Warm up, then sample; returns name -> array [n_kept, *chain shape, ...].

        Parameters
        ----------
        bn, observed
            As for :meth:`sample`.
        latent : dict, optional
            Initial state. Default: the sampler's current state if it has one
            (a second ``run`` continues the chains), else one call of
            ``bn(observed)`` (its draws of the nodes not observed, e.g. prior
            draws).
        n_samples : int
            Samples kept per chain.
        n_warmup : int
            Warm-up iterations (Stan's windowed adaptation of whatever
            ``adapt_step_size``/``adapt_mass`` switch on), not kept. 0 keeps
            the current step sizes and mass matrices.
        thin : int
            Keep every ``thin``-th iteration after the warm-up.
        progress : bool
            A tqdm progress bar (if tqdm is installed) with the phase, the
            median step size, the running acceptance rate and the divergences.

        Per-iteration statistics are kept in :attr:`stats` (sampling) and
        :attr:`warmup_stats`: dicts of arrays [n_iterations, n_chains] with
        ``acceptance_rate``, ``step_size``, ``diverging``, ``n_steps``,
        ``tree_depth`` (NUTS), ``energy`` and ``log_prob``.
        """
        n_samples = _check_int("n_samples", n_samples, 0)
        n_warmup = _check_int("n_warmup", n_warmup, 0)
        thin = _check_int("thin", thin, 1)
        observed = {} if observed is None else observed
        if latent is not None:
            if self._needs_init(latent):
                self._initialise(bn, observed, latent)
            else:
                self._set_position(bn, observed, latent)
        elif self._target is None:
            if not isinstance(bn, BayesianNet):
                raise ValueError(f"{type(self).__name__}.run: give latent (the initial "
                                 "state) when the model is a function")
            with jt.no_grad():
                bn(observed)
            init = {k: n.tensor.detach() for k, n in bn.nodes.items()
                    if k not in observed}
            if not init:
                raise ValueError(f"{type(self).__name__}: every node of "
                                 f"{type(bn).__name__} is observed; nothing to sample")
            self._initialise(bn, observed, init)
        else:
            self._set_position(bn, observed, None)
        self._start_warmup(n_warmup)
        bar = _progress_bar(progress, n_warmup + n_samples * thin, type(self).__name__)
        kept: dict[str, list[np.ndarray]] = {k: [] for k in self._target.names}
        stats = {"warmup": _StatsLog(), "sampling": _StatsLog()}
        try:
            for i in range(n_warmup + n_samples * thin):
                phase = "warmup" if i < n_warmup else "sampling"
                samples, info = self._iterate(phase=phase)
                stats[phase].add(info)
                if phase == "sampling" and (i - n_warmup) % thin == 0:
                    for k, v in self._unpack(self._z).items():
                        kept[k].append(v)
                if bar is not None:
                    log = stats[phase]
                    bar.set_description(f"{type(self).__name__} {phase}", refresh=False)
                    bar.set_postfix(step=f"{np.median(self._step):.3g}",
                                    acc=f"{log.mean_acceptance():.2f}",
                                    div=int(log.divergences()), refresh=False)
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        self.warmup_stats = stats["warmup"].arrays()
        self.stats = stats["sampling"].arrays()
        shapes = self._target.latent_shapes
        return {k: (np.stack(v) if v else np.zeros([0] + shapes[k], self._dtype))
                for k, v in kept.items()}

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The sampler's state as name -> NumPy array (and the generator's state):
        the chains' position, step sizes, mass matrices and warm-up progress.
        :meth:`load_state_dict` restores it; the next :meth:`sample` or
        :meth:`run` then re-evaluates the model at the restored position."""
        if self._target is None:
            raise RuntimeError(f"{type(self).__name__} has no state yet")
        t = self._target
        state = {
            "names": np.array(t.names), "latent_shapes": [list(t.latent_shapes[k])
                                                          for k in t.names],
            "chain_shape": np.array(t.chain_shape, np.int64), "dtype": t.dtype,
            "z": self._z.copy(), "step": self._step.copy(),
            "inv_mass": self._inv_mass.copy(), "t": np.array(self.t),
            "warmup_t": np.array(self._warmup_t),
            "schedule_n": np.array(-1 if self._schedule.n_warmup is None
                                   else self._schedule.n_warmup),
            "adapting": np.array(self._adapting_prev),
            "n_divergences": self.n_divergences.copy(),
            "n_warmup_divergences": self.n_warmup_divergences.copy(),
            "rng": self._rng.bit_generator.state,
        }
        state.update({f"da:{k}": v for k, v in self._da.state().items()})
        state.update({f"welford:{k}": v for k, v in self._welford.state().items()})
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> _Hamiltonian:
        names = [str(n) for n in state["names"]]
        shapes = {k: list(map(int, s)) for k, s in zip(names, state["latent_shapes"],
                                                       strict=True)}
        dtype = str(state["dtype"])
        z = np.asarray(state["z"], dtype)
        self._target = _Unbound(names, shapes, list(map(int, state["chain_shape"])),
                                dtype, type(self).__name__)
        self._setup_arrays(self._target, z)
        self._step = np.array(state["step"], np.float64)
        self._set_inv_mass(np.array(state["inv_mass"], np.float64))
        self.t = int(state["t"])
        n = int(state["schedule_n"])
        self._schedule = WarmupSchedule(None if n < 0 else n)
        self._warmup_t = int(state["warmup_t"])
        self._adapting_prev = bool(state["adapting"])
        self.n_divergences = np.array(state["n_divergences"], np.int64)
        self.n_warmup_divergences = np.array(state["n_warmup_divergences"], np.int64)
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        self._da.load({k[3:]: v for k, v in state.items() if k.startswith("da:")})
        self._welford.load({k[8:]: v for k, v in state.items()
                            if k.startswith("welford:")})
        return self

    # -- internals: set-up ----------------------------------------------------------
    def _needs_init(self, latent):
        t = self._target
        if t is None:
            return True
        if sorted(latent) != sorted(t.names):
            return True
        for k, v in latent.items():
            shape = list(v.shape) if hasattr(v, "shape") else list(np.shape(v))
            if shape != t.latent_shapes[k]:
                return True
        return False

    def _initialise(self, bn, observed, latent):
        target = _Target(bn, observed, latent, type(self).__name__)
        self._target = target
        self._setup_arrays(target, target.pack(latent))
        c = target.n_chains
        self._step = np.full(c, self.step_size)
        d = target.dim
        self._set_inv_mass(np.tile(np.eye(d), (c, 1, 1)) if self.dense_mass
                           else np.ones((c, d)))
        self.t = 0
        self.n_divergences = np.zeros(c, np.int64)
        self.n_warmup_divergences = np.zeros(c, np.int64)
        # NumPy draws (momenta, uniforms, directions) from a generator seeded by
        # Jittor's, so jt.set_global_seed makes a run reproducible.
        seed = jt.randint(0, 2**31 - 1, shape=(2,)).numpy().astype(np.int64)
        self._rng = np.random.default_rng([int(s) for s in seed])
        self._schedule = WarmupSchedule(self.n_warmup)
        self._warmup_t = 0
        self._adapting_prev = False
        self._evaluate()

    def _setup_arrays(self, target, z):
        self._dtype = target.dtype
        self._z = np.asarray(z, target.dtype)
        self._logp = self._grad = None
        self._returned = None
        self._da = DualAveraging(np.full(target.n_chains, self.step_size),
                                 self.target_acceptance_rate, self.gamma, self.t0,
                                 self.kappa)
        self._welford = WelfordCovariance(target.n_chains, target.dim, self.dense_mass)

    def _unpack(self, z):
        return self._target.unpack_numpy(z)

    def _set_inv_mass(self, inv_mass):
        self._inv_mass = inv_mass
        self._inv_mass_var = as_var(inv_mass, dtype=self._dtype)
        if inv_mass.ndim == 3:
            # p = L^-T n with L L^T = M^-1 has covariance M.
            chol = np.linalg.cholesky(inv_mass)
            self._mass_factor = np.linalg.inv(np.swapaxes(chol, -1, -2))
        else:
            self._mass_factor = 1.0 / np.sqrt(inv_mass)

    def _set_position(self, bn, observed, latent):
        """Point the target at ``bn``/``observed`` and move to ``latent`` (None:
        stay); re-evaluate the log joint unless nothing changed since the last
        evaluation."""
        t = self._target
        if isinstance(t, _Unbound):
            here = self._unpack(self._z) if latent is None else latent
            t = self._target = t.bind(bn, observed, here)
            self._logp = None
        same_model = t.model is bn and _same_values(t.observed, observed)
        same_state = latent is None or (self._returned is not None and all(
            latent[k] is self._returned.get(k) for k in t.names))
        t.model, t.observed = bn, observed
        if same_model and same_state and self._logp is not None:
            return
        if latent is not None:
            self._z = t.pack(latent)
        self._evaluate()

    def _evaluate(self):
        z = as_var(self._z, dtype=self._dtype)
        logp, grad = self._target.log_prob_grad(z)
        jt.sync([logp, grad])
        self._logp, self._grad = logp.numpy().astype(np.float64), grad.numpy()
        bad = ~np.isfinite(self._logp) | ~np.all(np.isfinite(self._grad), axis=1)
        if bad.any():
            raise FloatingPointError(
                f"{type(self).__name__}: the log joint or its gradient is not finite "
                f"at the current state of chain(s) "
                f"{np.flatnonzero(bad)[:10].tolist()}; "
                "start from another state")

    # -- internals: one iteration ---------------------------------------------------
    def _momentum(self):
        n = self._rng.standard_normal(self._z.shape)
        if self._inv_mass.ndim == 3:
            p = np.einsum("cij,cj->ci", self._mass_factor, n)
        else:
            p = self._mass_factor * n
        return p.astype(self._dtype)

    def _kinetic(self, p):
        p = np.asarray(p, np.float64)
        return 0.5 * np.einsum("ci,ci->c", p, self._velocity(p))

    def _velocity(self, p):
        p = np.asarray(p, np.float64)
        if self._inv_mass.ndim == 3:
            return np.einsum("cij,cj->ci", self._inv_mass, p)
        return self._inv_mass * p

    def _leapfrog(self, z, p, grad, step):
        """One step from NumPy or Var state; returns Vars and numpy log probs."""
        dt = self._dtype
        z, p, grad = (v if isinstance(v, jt.Var) else as_var(v, dtype=dt)
                      for v in (z, p, grad))
        return leapfrog(self._target, z, p, grad, step, self._inv_mass_var)

    def _find_step_size(self):
        """Hoffman & Gelman's Algorithm 4 for every chain at once: double (or
        halve) each chain's step until one leapfrog step from its current state,
        with fresh momentum, crosses acceptance 0.8 (as Stan's init_stepsize)."""
        step = self._step.copy()
        last = np.zeros(len(step))
        direction = np.zeros(len(step))
        active = np.ones(len(step), bool)
        tiny, huge = 2.2250738585072014e-308, 1e7
        for _ in range(100):
            if not active.any():
                break
            step = np.where(active, step * 2.0 ** direction, step)
            p = self._momentum()
            h0 = -self._logp + self._kinetic(p)
            _, p1, _, logp1 = self._leapfrog(self._z, p, self._grad,
                                             np.where(active, step, 0.0))
            h1 = -logp1.numpy().astype(np.float64) + self._kinetic(p1.numpy())
            delta = np.where(np.isnan(h1), np.inf, h1 - h0)
            new = np.where(-delta > math.log(0.8), 1.0, -1.0)
            last = np.where(active, direction, last)
            direction = np.where(active, new, direction)
            active &= (last == 0) | (direction == last)
            active &= (step > tiny) & (step < huge)
        self._step = np.clip(step, tiny, huge)

    def _start_warmup(self, n_warmup):
        self._schedule = WarmupSchedule(n_warmup)
        self._warmup_t = 0
        self._welford = WelfordCovariance(self._target.n_chains, self._target.dim,
                                          self.dense_mass)
        self._adapting_prev = False

    def _iterate(self, phase=None):
        sched = self._schedule
        in_warmup = sched.in_warmup(self._warmup_t)
        adapt_step = bool(self.adapt_step_size) and in_warmup
        adapt_mass = bool(self.adapt_mass) and in_warmup
        adapting = adapt_step or adapt_mass
        if adapt_step and not self._adapting_prev:
            # Adaptation starts (again): search a step size, centre the averaging on it.
            if self.find_step_size:
                self._find_step_size()
            self._da.restart(self._step)
        if self._adapting_prev and not adapt_step and self.adapt_step_size is not None:
            self._step = self._da.final_step_size  # the adaptation just ended
        step_used = self._step.copy()
        logp0 = self._logp
        p0 = self._momentum()
        h0 = -logp0 + self._kinetic(p0)
        result = self._trajectory(p0, h0)
        self._z, self._logp = result["z"], result["log_prob"]
        self._grad = result["grad"]
        # Adaptation (Stan's order: step size, then the mass-matrix window).
        wt = self._warmup_t
        if adapt_step:
            self._step = self._da.update(result["accept_stat"])
        if adapt_mass and sched.in_slow_window(wt):
            self._welford.update(np.asarray(self._z, np.float64))
            if sched.ends_slow_window(wt):
                self._set_inv_mass(self._welford.covariance(regularize=True))
                self._welford = WelfordCovariance(self._target.n_chains,
                                                  self._target.dim, self.dense_mass)
                if self.find_step_size:
                    self._find_step_size()
                self._da.restart(self._step)
        if adapt_step and not sched.in_warmup(wt + 1):
            self._step = self._da.final_step_size
        if in_warmup:
            self._warmup_t += 1
        self._adapting_prev = adapting and sched.in_warmup(self._warmup_t)
        diverging = result["diverging"]
        if adapting:
            self.n_warmup_divergences += diverging
        else:
            self.n_divergences += diverging
        self.t += 1
        samples = {k: as_var(v, dtype=self._dtype)
                   for k, v in self._unpack(self._z).items()}
        self._returned = samples
        info = HMCInfo(
            samples=samples, acceptance_rate=result["accept_stat"],
            step_size=step_used, updated_step_size=self._step.copy(),
            init_momentum=self._unpack(p0), orig_hamiltonian=h0,
            hamiltonian=result["energy"], orig_log_prob=logp0,
            log_prob=self._logp.copy(), accepted=result["accepted"],
            diverging=diverging, n_divergences=self.n_divergences.copy(),
            n_steps=result["n_steps"], tree_depth=result.get("tree_depth"),
            energy=result["energy"], warmup=adapting)
        return samples, info

    def _trajectory(self, p0, h0):
        raise NotImplementedError


class _Unbound:
    """A target restored from a checkpoint, before a model is given again."""

    def __init__(self, names, shapes, chain_shape, dtype, who):
        self.names, self.latent_shapes, self.chain_shape = names, shapes, chain_shape
        self.dtype, self.who = dtype, who
        self.n_chains = int(np.prod(chain_shape, dtype=np.int64))
        nc = len(chain_shape)
        sizes = [int(np.prod(shapes[k][nc:], dtype=np.int64)) for k in names]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.dim = int(self.offsets[-1])
        self.model = self.observed = None

    unpack_numpy = _Target.unpack_numpy

    def bind(self, bn, observed, latent):
        target = _Target(bn, observed, latent, self.who)
        if (target.names != self.names or target.latent_shapes != self.latent_shapes
                or target.dtype != self.dtype):
            raise ValueError(f"{self.who}: the model's latents "
                             f"({target.latent_shapes}, {target.dtype}) differ from "
                             "the checkpoint's "
                             f"({self.latent_shapes}, {self.dtype})")
        return target


def _same_values(a, b):
    return a is b or (a.keys() == b.keys() and all(a[k] is b[k] for k in a))


def _progress_bar(progress, total, desc):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are an extra, not a dependency
        return None
    import sys

    return tqdm(total=total, desc=desc, unit="it",
                mininterval=0.2 if sys.stderr.isatty() else 30.0)


class _StatsLog:
    KEYS = ("acceptance_rate", "step_size", "diverging", "n_steps", "tree_depth",
            "energy", "log_prob")

    def __init__(self):
        self.rows = {k: [] for k in self.KEYS}

    def add(self, info):
        for k in self.KEYS:
            v = getattr(info, k)
            if v is not None:
                self.rows[k].append(np.asarray(v))

    def mean_acceptance(self):
        rows = self.rows["acceptance_rate"]
        return float(np.mean(rows)) if rows else float("nan")

    def divergences(self):
        rows = self.rows["diverging"]
        return int(np.sum(rows)) if rows else 0

    def arrays(self):
        return {k: np.stack(v) for k, v in self.rows.items() if v}


class HMC(_Hamiltonian):
    r"""Hamiltonian Monte Carlo with a fixed number of leapfrog steps (Neal 2011),
    ZhuSuan-TF's sampler, with Stan's warm-up.

    One iteration draws a momentum :math:`p \sim \mathcal N(0, M)`, integrates
    Hamilton's equations for :math:`H(z, p) = -\log p(z, x) + \frac12 p^\top
    M^{-1} p` with ``n_leapfrogs`` leapfrog steps of size :math:`\epsilon`,
    and accepts the end point with probability :math:`\min(1, e^{-\Delta H})`.

    Many chains run at once along the leading axis of every latent, each with
    its own step size and mass matrix (and its own adaptation of both). The
    model's log joint must have one value per chain: write the net for
    ``n_chains`` copies of the model, e.g. a prior
    ``sn('Normal', 'w', mean=jt.zeros([n_chains, D]), std=1., group_ndims=1)``
    and a likelihood whose data axes are summed (``group_ndims`` or
    ``reduce_sum_dims``), so that ``bn.log_joint()`` has shape [n_chains].
    A wrong shape is an error that says so.

    Parameters (ZhuSuan-TF's meanings)
    ----------
    step_size : float
        Initial (or, without adaptation, fixed) leapfrog step size.
    n_leapfrogs : int
        Leapfrog steps per iteration.
    adapt_step_size : bool or None
        Adapt the step size during the warm-up by dual averaging (Hoffman &
        Gelman 2014), towards ``target_acceptance_rate``. As in ZhuSuan-TF it
        may be switched off between calls (``hmc.adapt_step_size = False``):
        the step size then becomes the averaged one. It also stops by itself
        after ``n_warmup`` iterations.
    target_acceptance_rate : float
        :math:`\delta` of the dual averaging.
    gamma, t0, kappa : float
        Dual-averaging constants (Stan's defaults; ZhuSuan-TF used t0=100).
    adapt_mass : bool or None
        Adapt the mass matrix (needs ``adapt_step_size``): the inverse mass
        matrix becomes each chain's regularised sample covariance over Stan's
        doubling windows.
    dense_mass : bool
        A dense mass matrix instead of a diagonal one.
    n_warmup : int or None
        Length of the warm-up for :meth:`sample` (``run`` sets its own); None
        is an open-ended warm-up that lasts until the flags are switched off.
    max_delta_energy : float
        An energy error above this along the trajectory (or a non-finite
        one) marks the iteration divergent (Stan's 1000).
    find_step_size : bool
        Search a reasonable step size (Hoffman & Gelman's Algorithm 4) when
        the adaptation starts and after every mass-matrix update.

    Example::

        class Model(zs.BayesianNet):
            def execute(self, observed):
                self.observe(observed)
                w = self.sn('Normal', name='w', mean=jt.zeros([4, 3]), std=1.,
                            group_ndims=1)                       # 4 chains
                self.sn('Normal', name='y', mean=(w.unsqueeze(1) * x).sum(-1),
                        std=1., group_ndims=1)                   # y [4, n]
                return self

        hmc = zs.mcmc.HMC(step_size=0.1, n_leapfrogs=10, adapt_step_size=True,
                          adapt_mass=True)
        draws = hmc.run(Model(), {'y': y}, n_warmup=500, n_samples=1000)
        print(zs.diagnostics.summary(draws))
        # or by hand, as in ZhuSuan-TF:
        w = {'w': jt.zeros([4, 3])}
        for i in range(100):
            w, info = hmc.sample(Model(), {'y': y}, w)
    """

    def __init__(self, step_size: float = 1.0, n_leapfrogs: int = 10,
                 adapt_step_size: bool | None = None, target_acceptance_rate: float = 0.8,
                 gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75,
                 adapt_mass: bool | None = None, dense_mass: bool = False,
                 n_warmup: int | None = None, max_delta_energy: float = 1000.0,
                 find_step_size: bool = True) -> None:
        super().__init__(step_size, adapt_step_size, target_acceptance_rate, gamma, t0,
                         kappa, adapt_mass, dense_mass, n_warmup, max_delta_energy,
                         find_step_size)
        self.n_leapfrogs = _check_int("n_leapfrogs", n_leapfrogs, 1)

    def _trajectory(self, p0, h0):
        z = as_var(self._z, dtype=self._dtype)
        p = as_var(p0, dtype=self._dtype)
        grad = as_var(self._grad, dtype=self._dtype)
        diverging = np.zeros(len(h0), bool)
        for _ in range(self.n_leapfrogs):
            z, p, grad, logp = self._leapfrog(z, p, grad, self._step)
            h = -logp.numpy().astype(np.float64) + self._kinetic(p.numpy())
            delta = np.where(np.isfinite(h), h - h0, np.inf)
            diverging |= delta > self.max_delta_energy
            if diverging.all():
                break  # every chain has left the rails; the rest is wasted work
        logp = logp.numpy().astype(np.float64)
        accept_prob = np.where(np.isfinite(delta), np.exp(np.minimum(0.0, -delta)), 0.0)
        accepted = self._rng.random(len(h0)) < accept_prob
        z_new = np.where(accepted[:, None], z.numpy(), self._z)
        g_new = np.where(accepted[:, None], grad.numpy(), self._grad)
        return {"z": z_new, "grad": g_new,
                "log_prob": np.where(accepted, logp, self._logp),
                "accept_stat": accept_prob, "accepted": accepted,
                "diverging": diverging, "energy": np.where(accepted, h, h0),
                "n_steps": np.full(len(h0), self.n_leapfrogs)}
