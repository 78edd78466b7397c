"""BayesianNet: a Jittor Module that builds a directed graphical model."""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import inspect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import jittor as jt

from .._checks import check_int
from ..distributions import Distribution, get_distribution
from ..distributions.base import _UPSTREAM_OPTIONS
from .stochastic import DEFERRED, NODE_OPTIONS, StochasticTensor

__all__ = ["BayesianNet", "InferenceContext", "particles"]


class InferenceContext:
    """How an inference algorithm asks a net to run (docs/design.md, "The
    interface between nets and inference algorithms").

    Parameters
    ----------
    n_particles : int or None
        Latent nodes that set no ``n_samples`` of their own draw this many
        samples along a new leading axis, the *particle axis*, which their
        reduce dims do not see. None: no particle axis.
    carried : iterable of str
        Observed names whose values carry that particle axis (the samples of
        another net run with the same context).
    per_point : bool
        The reduction the algorithm will read first (a hint: fused samplers
        compute that log-density in their sampling pass; both modes can be
        read afterwards, see :meth:`StochasticTensor.reduced_log_prob`).
    check_observed : bool
        Whether a call of the net checks that every observed name is used
        (algorithms that run several nets on one dict check the union
        themselves, with :meth:`BayesianNet.unused_observed`).
    """

    __slots__ = ("n_particles", "carried", "per_point", "check_observed")

    def __init__(self, n_particles: int | None = None, carried: Iterable[str] = (),
                 per_point: bool = False, check_observed: bool = True) -> None:
        self.n_particles = n_particles
        self.carried = frozenset(carried)
        self.per_point = bool(per_point)
        self.check_observed = bool(check_observed)

    def __repr__(self) -> str:
        return (f"InferenceContext(n_particles={self.n_particles}, "
                f"carried={sorted(self.carried)}, per_point={self.per_point})")


_DEFAULT_CONTEXT = InferenceContext()


class _ObservedDict(dict):
    """The observed values of one call; remembers which names the net's code
    read, so that a name neither read nor given to a node can be reported."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def _all_read(self):
        self.read.update(super().keys())

    def keys(self):
        self._all_read()
        return super().keys()

    def values(self):
        self._all_read()
        return super().values()

    def items(self):
        self._all_read()
        return super().items()

    def __iter__(self):
        self._all_read()
        return super().__iter__()

    def copy(self):
        self._all_read()
        return dict(super().items())


class BayesianNet(jt.Module):
    """A directed graphical model written as a Jittor Module.

    Subclass it, call ``super().__init__()`` in ``__init__`` and write
    ``execute(self, observed)``: call ``self.observe(observed)`` and add nodes
    with :meth:`sn` (alias :meth:`stochastic_node`); return ``self``.

    Example::

        class Model(BayesianNet):
            def execute(self, observed):
                self.observe(observed)
                z = self.sn('Normal', name='z', mean=jt.zeros([8, 2]), std=1.,
                            reduce_sum_dims=[1])
                self.sn('Bernoulli', name='x', logits=z.sum(1, keepdims=True),
                        reduce_sum_dims=[1])
                return self

        net = Model()({'x': jt.ones([8, 1])})
        net.log_joint()          # log p(x, z) per data point, shape [8]

    Every call of the net starts afresh: nodes are created (and latent ones
    sampled) once per call; ``nodes``, ``observed`` and ``cache`` describe the
    latest call. After a call, every observed name must have been used: given
    to a node, or read from ``self.observed`` by ``execute`` (a misspelled
    name is an error, not a node silently sampled instead).

    Parameters
    ----------
    observed : dict, optional
        Initial observations (upstream ZhuSuan-Jittor's argument), used by
        nodes created before the first :meth:`observe`, e.g. in ``__init__``.
    """

    def __init__(self, observed: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._nodes: dict[str, StochasticTensor] = {}
        self._cache: dict[str, Any] = {}
        self._observed = _ObservedDict()
        if observed is not None:
            self._set_observed(observed)
        self._context = _DEFAULT_CONTEXT
        # ranks of this call's particle-carrying values
        self._particle_ranks: set[int] = set()
        self._log_joint_cache: jt.Var | None = None
        self._n_calls = 0

    @property
    def n_calls(self) -> int:
        """How many times the net has been called (its latest call's number)."""
        return self.__dict__.get("_n_calls", 0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._n_calls = self.n_calls + 1
        self._nodes = {}
        self._particle_ranks = set()
        self._log_joint_cache = None
        out = super().__call__(*args, **kwargs)
        if self._context.check_observed:
            self._check_observed_used()
        return out

    # -- the tutorial's API ---------------------------------------------------
    @property
    def nodes(self) -> dict[str, StochasticTensor]:
        """Dict of name -> :class:`StochasticTensor` created in the latest call."""
        return self._nodes

    @property
    def observed(self) -> dict[str, Any]:
        """Dict of name -> observed value given to :meth:`observe`."""
        return self._observed

    @property
    def cache(self) -> dict[str, Any]:
        """A dict for the user's intermediate Vars (e.g. ``x_mean``)."""
        return self._cache

    def observe(self, observed: Mapping[str, Any] | None = None) -> BayesianNet:
        """Record the observed values for this call and clear the nodes."""
        self._set_observed({} if observed is None else observed)
        self._nodes = {}
        self._particle_ranks = set()
        self._log_joint_cache = None
        # Values that carry an algorithm's particles mark their rank, so that
        # parameters computed from them are known to carry the axis too.
        for name in self._context.carried:
            value = self._observed.get(name)
            if value is not None and hasattr(value, "shape"):
                self._particle_ranks.add(len(value.shape))
        self._observed.read = set()
        return self

    def _set_observed(self, observed):
        if not isinstance(observed, dict):
            raise TypeError(
                f"observed must be a dict of name -> value, got {type(observed).__name__}"
            )
        bad = sorted(repr(k) for k in observed if not isinstance(k, str))
        if bad:
            raise TypeError(f"observed names must be strings, got {', '.join(bad)}")
        self._observed = _ObservedDict(observed)

    def stochastic_node(self, distribution: str | type[Distribution] | Distribution,
                        name: str, **kwargs: Any) -> jt.Var | None:
        """Add a random variable and return its value (a Jittor Var).

        Parameters
        ----------
        distribution : str, Distribution subclass or instance
            E.g. ``'Normal'``.
        name : str
            Unique within one call. If ``name`` is observed, the node takes the
            observed value; otherwise it samples from the distribution.
        **kwargs
            The distribution's parameters (e.g. ``mean``, ``std``) and other
            constructor arguments (``dtype``, ``validate_args``, ...), and the
            node options ``reparameterize`` (alias ``is_reparameterized``),
            ``n_samples``, ``group_ndims``, ``reduce_mean_dims``,
            ``reduce_sum_dims``, ``multiplier``. ``n_samples=k`` adds a
            leading sample axis that the node's reduce dims count;
            ``n_samples=-1`` draws nothing now (the node's value is drawn
            when first read; this returns None).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"node name must be a non-empty string, got {name!r}")
        if name in self._nodes:
            raise ValueError(f"duplicate node name '{name}' in one call of "
                             f"{type(self).__name__}")
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in NODE_OPTIONS}
        if "reparameterize" in opts and "is_reparameterized" in opts:
            raise TypeError(f"node '{name}': pass 'reparameterize' or "
                            "'is_reparameterized', not both")
        rep = opts.pop("reparameterize", opts.pop("is_reparameterized", None))
        group_ndims = opts.pop("group_ndims", None)
        dist = self._make_distribution(distribution, name, kwargs, rep, group_ndims)
        observation = dict.get(self._observed, name)
        node = StochasticTensor(self, name, dist, observation=observation, **opts)
        self._nodes[name] = node
        if node.n_samples == DEFERRED and observation is None:
            return None
        return node.tensor

    sn = stochastic_node

    def log_joint(self, use_cache: bool = False) -> jt.Var:
        """Sum of every node's ``log_prob()`` (broadcast together).

        ``use_cache=True`` returns the sum computed earlier in this call, if
        any (upstream ZhuSuan-Jittor's argument; the nodes cache their own
        log-densities either way).
        """
        if use_cache and self._log_joint_cache is not None:
            return self._log_joint_cache
        nodes = list(self._nodes.values())
        if not nodes:
            raise ValueError(f"{type(self).__name__} has no nodes: call the net first")
        total = None
        for node in nodes:
            lp = node.log_prob()
            total = lp if total is None else total + lp
        self._log_joint_cache = total
        return total

    # -- the interface to inference algorithms (docs/design.md) ------------------
    @property
    def context(self) -> InferenceContext:
        """The :class:`InferenceContext` the net runs under (the default: no
        particles, per-call observed check)."""
        return self._context

    @contextlib.contextmanager
    def inference(self, n_particles: int | None = None, carried: Iterable[str] = (),
                  per_point: bool = False, check_observed: bool = True
                  ) -> Iterator[BayesianNet]:
        """Run the net under an :class:`InferenceContext` inside the block."""
        n_particles = check_int(n_particles, "n_particles", 1, allow_none=True)
        saved = self._context
        self._context = InferenceContext(n_particles, carried, per_point, check_observed)
        try:
            yield self
        finally:
            self._context = saved

    def unused_observed(self) -> set[str]:
        """Observed names of the latest call that no node took and that the
        net's code did not read."""
        return set(dict.keys(self._observed)) - set(self._nodes) - self._observed.read

    def _check_observed_used(self):
        unused = self.unused_observed()
        if unused:
            raise ValueError(describe_unused(unused, [self]))

    # -- internals ----------------------------------------------------------------
    def _make_distribution(self, distribution, name, params, rep, group_ndims):
        if isinstance(distribution, str):
            try:
                cls = get_distribution(distribution)
            except ValueError as exc:
                raise ValueError(f"node '{name}': {exc}") from None
        elif isinstance(distribution, type) and issubclass(distribution, Distribution):
            cls = distribution
        elif isinstance(distribution, Distribution):
            if params:
                raise TypeError(
                    f"node '{name}': got a Distribution instance and also the "
                    f"arguments {sorted(params)}; pass only node options"
                )
            dist = copy.copy(distribution)  # never mutate the user's object
            if rep is not None:
                if rep and not dist.has_rsample:
                    raise ValueError(f"node '{name}': {type(dist).__name__} cannot be "
                                     "reparameterized")
                dist.is_reparameterized = bool(rep)
            if group_ndims is not None:
                _check_group_ndims(group_ndims, name)
                dist.group_ndims = int(group_ndims)
            return dist
        else:
            raise TypeError(
                f"node '{name}': distribution must be a name, a Distribution class or "
                f"instance, got {type(distribution).__name__}"
            )
        accepted = _constructor_keywords(cls)
        if accepted is not None:
            unknown = sorted(set(params) - accepted)
            if unknown:
                raise TypeError(
                    f"node '{name}': unknown argument(s) {unknown} for {cls.__name__}; "
                    f"parameters are {list(cls.param_names)}, node options are "
                    f"{list(NODE_OPTIONS)}"
                )
        if rep is not None:
            params["is_reparameterized"] = bool(rep)
        if group_ndims is not None:
            params["group_ndims"] = group_ndims
        try:
            return cls(**params)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"node '{name}': {exc}") from None


def _check_group_ndims(group_ndims, name):
    return check_int(group_ndims, "group_ndims", 0, f"node '{name}'")


@functools.lru_cache(maxsize=None)
def _constructor_keywords(cls):
    """The keyword arguments ``cls(...)`` accepts, or None if it takes any
    (per class, computed once: ``inspect.signature`` was a fifth of the
    Python time of building a small net's nodes)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params) and cls._upstream_style:
        return None
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    names.discard("self")
    return frozenset(names | set(cls.param_names) | set(_UPSTREAM_OPTIONS))


def describe_unused(unused: Iterable[str], nets: Sequence[BayesianNet]) -> str:
    """The error message for observed names that no net used."""
    nodes = sorted({n for net in nets for n in net.nodes})
    parts = []
    for key in sorted(unused):
        close = [n for n in nodes if n.lower() == key.lower()]
        close = close or difflib.get_close_matches(key, nodes, n=1)
        parts.append(repr(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
    who = " or ".join(type(net).__name__ for net in nets)
    return (f"observed name(s) {', '.join(parts)} name no node of {who} and were not "
            f"read by its execute(); its nodes are {nodes}")


@contextlib.contextmanager
def particles(net: BayesianNet, k: int | None, particle_names: Iterable[str] = (),
              per_point: bool = False) -> Iterator[BayesianNet]:
    """``net.inference(k, particle_names, per_point)``: run ``net`` with ``k``
    particles (kept for code written against earlier versions)."""
    with net.inference(k, carried=particle_names, per_point=per_point) as n:
        yield n
