"""BayesianNet: a Jittor Module that builds a directed graphical model."""

import contextlib
import copy

import jittor as jt

from ..distributions import Distribution, get_distribution
from .stochastic import NODE_OPTIONS, StochasticTensor

__all__ = ["BayesianNet", "particles"]


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
    latest call.
    """

    def __init__(self):
        super().__init__()
        self._nodes = {}
        self._observed = {}
        self._cache = {}
        # Set by objectives (see particles()): how many particles latent nodes
        # draw, which observed names carry a particle axis, and whether
        # reductions over the data batch axis are left to the objective.
        self._particles = None
        self._particle_names = frozenset()
        self._per_point = False
        self._particle_ranks = set()  # ranks of this call's particle-carrying values

    def __call__(self, *args, **kwargs):
        self._nodes = {}
        self._particle_ranks = set()
        return super().__call__(*args, **kwargs)

    # -- the tutorial's API ---------------------------------------------------
    @property
    def nodes(self):
        """Dict of name -> :class:`StochasticTensor` created in the latest call."""
        return self._nodes

    @property
    def observed(self):
        """Dict of name -> observed value given to :meth:`observe`."""
        return self._observed

    @property
    def cache(self):
        """A dict for the user's intermediate Vars (e.g. ``x_mean``)."""
        return self._cache

    def observe(self, observed=None):
        """Record the observed values for this call and clear the nodes."""
        if observed is None:
            observed = {}
        if not isinstance(observed, dict):
            raise TypeError(
                f"observed must be a dict of name -> value, got {type(observed).__name__}"
            )
        self._observed = dict(observed)
        self._nodes = {}
        self._particle_ranks = set()
        return self

    def stochastic_node(self, distribution, name, **kwargs):
        """Add a random variable and return its value (a Jittor Var).

        Parameters
        ----------
        distribution : str, Distribution subclass or instance
            E.g. ``'Normal'``.
        name : str
            Unique within one call. If ``name`` is observed, the node takes the
            observed value; otherwise it samples from the distribution.
        **kwargs
            The distribution's parameters (e.g. ``mean``, ``std``) and the node
            options ``reparameterize`` (alias ``is_reparameterized``),
            ``n_samples``, ``group_ndims``, ``reduce_mean_dims``,
            ``reduce_sum_dims``, ``multiplier``; also ``dtype`` and
            ``validate_args`` for the distribution.
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
        observation = self._observed.get(name)
        node = StochasticTensor(
            self, name, dist, observation=observation,
            particle_observed=name in self._particle_names, **opts)
        self._nodes[name] = node
        return node.tensor

    sn = stochastic_node

    def log_joint(self):
        """Sum of every node's ``log_prob()`` (broadcast together)."""
        return self._log_joint(self._nodes.values(), per_point=False)

    def _log_joint(self, nodes, per_point):
        nodes = list(nodes)
        if not nodes:
            raise ValueError(f"{type(self).__name__} has no nodes: call the net first")
        total = None
        for node in nodes:
            lp = node._reduced_log_prob(per_point)
            total = lp if total is None else total + lp
        return total

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
                dist.group_ndims = group_ndims
            return dist
        else:
            raise TypeError(
                f"node '{name}': distribution must be a name, a Distribution class or "
                f"instance, got {type(distribution).__name__}"
            )
        allowed = set(cls.param_names) | {"dtype", "validate_args"}
        unknown = sorted(set(params) - allowed)
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


@contextlib.contextmanager
def particles(net, k, particle_names=(), per_point=False):
    """Run ``net`` with ``k`` particles (used by objectives and evaluators).

    Inside the block, latent nodes that do not set ``n_samples`` draw ``k``
    samples along a new leading axis, observed values named in
    ``particle_names`` are taken to carry that axis, and with ``per_point``
    the nodes leave reductions over the data batch axis to the caller.
    """
    saved = (net._particles, net._particle_names, net._per_point)
    net._particles = k
    net._particle_names = frozenset(particle_names)
    net._per_point = per_point
    try:
        yield net
    finally:
        net._particles, net._particle_names, net._per_point = saved
