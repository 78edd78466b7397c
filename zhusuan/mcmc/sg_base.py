"""The stochastic-gradient MCMC protocol: :class:`SGMCMC`.

The samplers themselves live in :mod:`zhusuan.mcmc.sg_langevin` (SGLD,
PSGLD) and :mod:`zhusuan.mcmc.sg_hamiltonian` (SGHMC, SGNHT). Upstream
ZhuSuan-Jittor's module path ``zhusuan.mcmc.SGMCMC`` re-exports this class.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Union

import jittor as jt
import numpy as np

from ..framework.bn import BayesianNet
from ..numerics import as_var, const, dtype_name

__all__ = ["SGMCMC"]

#: A learning rate: a number, or a function of the step count ``t`` (None:
#: the subclass's default, where it has one).
LearningRate = Union[float, Callable[[int], float], None]


def _randn(shape, dtype):
    # jt.randn ignores dtype='float64' (it draws float32 and casts); the
    # underlying op draws in the requested dtype from the same seeded stream.
    return jt.ops.random(tuple(shape), dtype, "normal")


def _nan_unless_finite(x):
    """A one-element Var: 0 if every element of ``x`` is finite, else nan
    (0 * inf and 0 * nan are nan), so one fetch checks a whole tensor."""
    return (x * const(0.0, dtype_name(x))).sum()


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``float(value)`` after checking that it is a finite real number in the
    interval given by ``low``/``high`` (open ends where asked); the error names
    the argument."""
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        sign = ">" if low_open else ">="
        raise ValueError(f"{name} must be {sign} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        sign = "<" if high_open else "<="
        raise ValueError(f"{name} must be {sign} {high}, got {value!r}")
    return value


def check_resample_period(name: str, value: Any) -> int | None:
    """``None`` or 0 (never) or a positive int -> an int (0 meaning never)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be None or an integer >= 0, got {value!r}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class SGMCMC(jt.Module):
    r"""Base class of the stochastic-gradient MCMC samplers.

    A sampler keeps the state of one or more Markov chains over the latent
    nodes of a :class:`~zhusuan.framework.bn.BayesianNet`: the current sample
    of every latent, the sampler's auxiliary variables (momenta, a
    preconditioner, a thermostat) and the step counter ``t``. Each update
    runs the net with the current samples observed, takes the gradient of
    ``bn.log_joint()`` with respect to them (``jt.grad`` through the same
    fused log-densities the variational objectives use) and applies the
    sampler's update rule. Minibatch gradients are the caller's business:
    observe a minibatch and give its likelihood node ``multiplier=N / n``
    (or ``reduce_mean_dims`` over the batch and ``multiplier=N``), which makes
    the log joint an unbiased estimate of the full-data one.

    Protocol (upstream ZhuSuan-Jittor's):

    ``sample(bn, observed, resample=True)``
        (Re)initialises the chains: calls ``bn(observed)`` once, takes every
        node whose name is not in ``observed`` as a latent, stores detached
        copies of their values (so the chains start from a draw of the
        prior, or of whatever the net samples), resets ``t`` to 0 and the
        auxiliary variables, and returns ``{name: value}``.
    ``sample(bn, observed, step=k)``
        Performs ``k`` updates, each calling ``bn({**latents, **observed})``,
        and returns the current ``{name: value}``. ``observed`` may differ
        from call to call (a new minibatch each time).

    Several chains run at once when the latents carry a leading chain axis
    (e.g. a prior with ``mean=jt.zeros([n_chains, d])``). The log joint is
    summed to a scalar before differentiating, so each chain moves along the
    gradient of its own log-density as long as the chains do not interact.
    Do not average over the chain axis (``reduce_mean_dims`` on it, as
    upstream's BNN example does over its particles): that divides every
    chain's gradient by the number of chains.

    The state is detached and evaluated (``jt.sync``) after every update, so
    the graph does not grow across steps. Each update is checked: a latent
    that is not a node of the net in that call, or whose gradient or new value
    is not finite, raises an error naming it, and the chain keeps its state
    from before the update. (A latent that is a node but on which the log
    joint does not depend gets a zero gradient from Jittor, with a warning,
    and cannot be detected.)

    Parameters
    ----------
    learning_rate : float or callable, optional
        The step size :math:`\eta` of the subclass's update; a positive
        number, or a function of the update index ``t`` (0, 1, ...) returning
        one (a schedule, e.g. ``lambda t: 1e-3 * (1 + t / 100) ** -0.55``).
        Subclasses that take no learning rate may pass ``None``.

    Attributes
    ----------
    t : int
        Updates performed since the chains were (re)initialised.

    Notes
    -----
    Writing a sampler: a subclass implements :meth:`_transition` (and
    :meth:`_init_aux` if it keeps per-latent auxiliary variables). A
    complete toy sampler, unadjusted Langevin with a fixed step, on a
    conjugate Normal model::

        import zhusuan as zs
        import jittor as jt

        class ToyLangevin(zs.mcmc.SGMCMC):
            def _transition(self, qs, grad_fn, lr):
                grads = grad_fn(qs)
                return {k: q + 0.5 * lr * grads[k] + lr ** 0.5 * jt.randn(q.shape)
                        for k, q in qs.items()}, {}

        class Model(zs.BayesianNet):
            def execute(self, observed):
                self.observe(observed)
                mu = self.sn('Normal', name='mu', mean=jt.zeros([100]), std=1.)
                # 100 chains; each sees the data point x = 1 with noise sd 1.
                self.sn('Normal', name='x', mean=mu, std=1.)
                return self

        sampler = ToyLangevin(learning_rate=0.1)
        obs = {'x': jt.ones([100])}
        sampler.sample(Model(), obs, resample=True)
        draws = sampler.run(Model(), obs, n_steps=300, burn_in=100,
                            progress=False)['mu']
        print(draws.mean(), draws.var())  # posterior N(0.5, 0.5), up to
                                          # Monte-Carlo and step-size error

    :meth:`_transition` may call ``grad_fn`` at any point (SGHMC's
    second-order integrator evaluates it at a half step); every call runs the
    net once.
    """

    def __init__(self, learning_rate: LearningRate = None) -> None:
        super().__init__()
        self.learning_rate: LearningRate
        if learning_rate is None or callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = check_number("learning_rate", learning_rate, low=0.0,
                                              low_open=True)
        self.t = 0
        # Underscored: Jittor's Module does not take them for parameters.
        # name -> detached Var (None before the first call)
        self._latent: Any = None
        self._aux: dict[str, dict[str, jt.Var]] = {}  # name -> {aux name -> detached Var}

    # -- upstream's interface ------------------------------------------------------
    def execute(self, bn: BayesianNet, observed: Mapping[str, Any], resample: bool = False,
                step: int = 1) -> dict[str, jt.Var]:
        """Same as :meth:`sample` (a Module's call runs ``execute``)."""
        return self.sample(bn, observed, resample=resample, step=step)

    def sample(self, bn: BayesianNet, observed: Mapping[str, Any], resample: bool = False,
               step: int = 1) -> dict[str, jt.Var]:
        """Initialise the chains or advance them; returns ``{name: sample}``.

        Parameters
        ----------
        bn : BayesianNet
            The model; its latent nodes are those not in ``observed``.
        observed : dict
            Name -> value of the observed nodes (e.g. a minibatch).
        resample : bool
            Re-initialise the chains from a fresh call of ``bn(observed)``
            (see the class docstring) and return those values without an
            update. A call with ``resample=False`` before the chains were
            ever initialised initialises them first (upstream crashes), then
            performs the ``step`` updates.
        step : int
            Number of updates to perform (0 returns the current state).

        Returns
        -------
        dict
            Latent name -> Var of the current samples (detached; the chain
            holds these Vars, do not modify them in place).
        """
        observed = self._check_observed(observed)
        if resample or self._latent is None:
            self._initialise(bn, observed)
            if resample:
                return dict(self._latent)
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        for _ in range(int(step)):
            self._update(bn, observed)
        return dict(self._latent)

    def initialize(self) -> None:
        """Reset the step counter ``t`` to 0 (upstream's method): the learning
        rate schedule and the momentum-resampling period restart; the
        samples and auxiliary variables are kept."""
        self.t = 0

    # -- conveniences ----------------------------------------------------------------
    @property
    def latents(self) -> dict[str, jt.Var] | None:
        """Name -> Var of the current samples (``None`` before initialisation)."""
        return None if self._latent is None else dict(self._latent)

    def run(self, bn: BayesianNet, observed: Mapping[str, Any], n_steps: int,
            burn_in: int = 0, thin: int = 1, progress: bool = True) -> dict[str, np.ndarray]:
        """Perform ``n_steps`` updates and collect samples as numpy arrays.

        If the chains were never initialised, they are first initialised
        from ``bn(observed)`` as by ``sample(..., resample=True)``.

        Parameters
        ----------
        bn : BayesianNet
        observed : dict or callable
            The observed values, or a function of the update index ``t``
            returning them (e.g. the ``t``-th minibatch).
        n_steps : int
            Number of updates.
        burn_in : int
            Updates of this call whose samples are discarded.
        thin : int
            Keep every ``thin``-th sample after the burn-in.
        progress : bool
            Show a tqdm progress bar (if tqdm is installed; it is an extra of
            the examples and tests, not a dependency of zhusuan).

        Returns
        -------
        dict
            Name -> ``numpy.ndarray`` of shape ``[n_kept] + sample shape`` with
            ``n_kept = len(range(burn_in, n_steps, thin))`` (the sample after
            update ``i`` is kept when ``i >= burn_in`` and
            ``(i - burn_in) % thin == 0``, counting updates of this call from 0).
        """
        for name, value, low in (("n_steps", n_steps, 0), ("burn_in", burn_in, 0),
                                 ("thin", thin, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                    or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        get_observed = observed if callable(observed) else (lambda t: observed)
        if self._latent is None:
            self._initialise(bn, self._check_observed(get_observed(self.t)))
        steps = range(n_steps)
        bar = None
        if progress:
            try:
                from tqdm import tqdm
            except ImportError:  # progress bars are optional
                tqdm = None
            if tqdm is not None:
                bar = steps = tqdm(steps, desc=type(self).__name__, unit="step")
        kept: dict[str, list[np.ndarray]] = {name: [] for name in self._latent}
        try:
            for i in steps:
                self._update(bn, self._check_observed(get_observed(self.t)))
                if i >= burn_in and (i - burn_in) % thin == 0:
                    for name, value in self._latent.items():
                        kept[name].append(value.numpy())
        finally:
            if bar is not None:
                bar.close()
        return {name: (np.stack(vs) if vs else
                       np.zeros((0,) + tuple(self._latent[name].shape)))
                for name, vs in kept.items()}

    def state_dict(self) -> dict[str, Any]:
        """The chain state as name -> Var: ``'latent:<name>'`` for the samples,
        ``'aux:<key>:<name>'`` for the auxiliary variables and ``'t'`` (int32)
        for the step counter. With :meth:`load_state_dict` this checkpoints a
        run exactly (up to the random stream)."""
        if self._latent is None:
            raise RuntimeError(f"{type(self).__name__} has no chain state yet: call "
                               "sample(..., resample=True) first")
        out = {f"latent:{k}": v for k, v in self._latent.items()}
        for name, aux in self._aux.items():
            for key, value in aux.items():
                out[f"aux:{key}:{name}"] = value
        out["t"] = jt.array(np.array([self.t], dtype=np.int32))
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> SGMCMC:
        """Restore what :meth:`state_dict` returned (Vars or numpy arrays)."""
        latent: dict[str, jt.Var] = {}
        aux: dict[str, dict[str, jt.Var]] = {}
        t = None
        for key, value in state.items():
            if key == "t":
                value = value.numpy() if isinstance(value, jt.Var) else value
                t = int(np.asarray(value).reshape(-1)[0])
                continue
            kind, _, rest = key.partition(":")
            value = as_var(value).detach()
            if kind == "latent":
                latent[rest] = value
            elif kind == "aux":
                akey, _, name = rest.partition(":")
                aux.setdefault(name, {})[akey] = value
            else:
                raise KeyError(f"unexpected key {key!r} in an SGMCMC state")
        if t is None or not latent:
            raise KeyError("an SGMCMC state needs 't' and at least one 'latent:<name>'")
        stray = sorted(set(aux) - set(latent))
        if stray:
            raise KeyError(f"auxiliary variables of {stray}, which have no "
                           "'latent:<name>' in the state")
        if self._aux_keys is not None:
            for name in latent:
                missing = [k for k in self._aux_keys if k not in aux.get(name, {})]
                if missing:
                    keys = [f"aux:{k}:{name}" for k in missing]
                    raise KeyError(f"the state has no {keys}: {type(self).__name__} "
                                   f"keeps {list(self._aux_keys)} for every latent")
        self._latent, self._aux, self.t = latent, aux, t
        return self

    # -- for subclasses ---------------------------------------------------------------
    #: Names of the auxiliary variables kept per latent (checked by
    #: load_state_dict; None: not checked).
    _aux_keys: tuple[str, ...] | None = None

    def _init_aux(self, name, q, lr):
        """Auxiliary variables of latent ``name`` with value ``q`` at
        initialisation, as a dict of Vars (default: none). ``lr`` is the
        learning rate at ``t = 0``."""
        return {}

    def _transition(self, qs, grad_fn, lr):
        """One update: ``(new samples, new auxiliary variables)``, two dicts
        keyed like ``qs`` (the auxiliary one like ``self._aux``).

        ``grad_fn(values)`` runs the net with ``values`` (name -> Var)
        observed and returns name -> gradient of the log joint; ``lr`` is the
        learning rate of this update (a Python float); ``self.t`` is its index.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _transition")

    def _lr(self, t):
        """The learning rate of update ``t``."""
        lr = self.learning_rate
        if lr is None:
            return None
        if not callable(lr):
            return lr
        value = lr(t)
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"learning_rate({t}) returned {value!r}; the learning "
                             "rate schedule must return a positive finite number")
        return float(value)

    # -- internals ------------------------------------------------------------------
    @staticmethod
    def _check_observed(observed):
        if observed is None:
            return {}
        if not isinstance(observed, dict):
            raise TypeError("observed must be a dict of name -> value, got "
                            f"{type(observed).__name__}")
        return observed

    def _initialise(self, bn, observed):
        bn(observed)
        latent = {}
        for name, node in bn.nodes.items():
            if name in observed:
                continue
            value = node.tensor
            if "float" not in dtype_name(value):
                raise TypeError(f"latent '{name}' has dtype {value.dtype}; "
                                f"{type(self).__name__} needs continuous "
                                "(floating-point) latents")
            latent[name] = value.detach()
        if not latent:
            raise ValueError(f"{type(self).__name__}: every node of "
                             f"{type(bn).__name__} is observed; there is nothing to "
                             "sample")
        lr0 = self._lr(0)
        aux = {name: self._init_aux(name, q, lr0) for name, q in latent.items()}
        jt.sync(list(latent.values()) + [v for a in aux.values() for v in a.values()])
        self._latent, self._aux, self.t = latent, aux, 0

    def _update(self, bn, observed):
        """One update of every chain (upstream's name for it)."""
        clash = sorted(set(observed) & set(self._latent))
        if clash:
            raise ValueError(f"{clash} are latents of this chain but are observed now; "
                             "call sample(..., resample=True) to restart the chains")
        grad_flags = []

        def grad_fn(values):
            names = list(values)
            # enable_grad: a caller's jt.no_grad() would make every gradient 0.
            with jt.enable_grad():
                bn({**values, **observed})
                for name in names:
                    if name not in bn.nodes:
                        raise ValueError(
                            f"latent '{name}' is not a node of {type(bn).__name__} "
                            "in this call, so the log joint does not depend on it")
                log_joint = bn.log_joint()
                if log_joint.numel() != 1:
                    log_joint = log_joint.sum()  # independent chains / data points
                grads = jt.grad(log_joint, [values[k] for k in names])
            grads = dict(zip(names, grads, strict=True))
            grad_flags.extend((k, _nan_unless_finite(g)) for k, g in grads.items())
            return grads

        new_q, new_aux = self._transition(dict(self._latent), grad_fn, self._lr(self.t))
        new_q = {k: v.detach() for k, v in new_q.items()}
        new_aux = {k: {a: v.detach() for a, v in d.items()} for k, d in new_aux.items()}
        state_flags = [(name, _nan_unless_finite(q)) for name, q in new_q.items()]
        jt.sync(list(new_q.values()) + [v for d in new_aux.values() for v in d.values()]
                + [f for _, f in grad_flags + state_flags])
        for what, flags in (("gradient of the log joint with respect to", grad_flags),
                            ("value of", state_flags)):
            bad = [name for name, f in flags if not math.isfinite(f.item())]
            if bad:
                names = ", ".join(f"'{name}'" for name in dict.fromkeys(bad))
                raise FloatingPointError(
                    f"non-finite {what} latent{'s' if len(bad) > 1 else ''} {names} at "
                    f"update t={self.t}; lower the learning rate or check the model "
                    "(the chain keeps its state from before this update)")
        self._latent, self._aux = new_q, new_aux
        self.t += 1
