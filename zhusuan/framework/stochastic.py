"""StochasticTensor: one node of a BayesianNet."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jittor as jt

from .. import debug as _debug
from .. import kernels
from ..distributions.base import Distribution, _check_n_samples
from ..numerics import VarLike

if TYPE_CHECKING:  # (bn imports this module)
    from .bn import BayesianNet

__all__ = ["StochasticTensor", "NODE_OPTIONS"]

NODE_OPTIONS = (
    "reparameterize",
    "is_reparameterized",
    "n_samples",
    "group_ndims",
    "reduce_mean_dims",
    "reduce_sum_dims",
    "multiplier",
)

# n_samples=-1: upstream ZhuSuan-Jittor's "do not sample when the node is
# created" (its NICE example builds a Flow node in ``__init__``).
DEFERRED = -1


def _dims(value, node, what):
    if value is None:
        return ()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),)
    try:
        dims = tuple(value)
    except TypeError:
        raise TypeError(f"node '{node}': {what} must be a list of ints, got {value!r}") from None
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"node '{node}': {what} must be a list of ints, got {value!r}")
    return tuple(int(d) for d in dims)


class _Flag:
    """A bool that can also be called: ``node.is_observed`` and upstream's
    ``node.is_observed()`` both work."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = bool(value)

    def __bool__(self):
        return self._value

    def __call__(self):
        return self._value

    def __eq__(self, other):
        return bool(self) == bool(other)

    def __hash__(self):
        return hash(self._value)

    def __repr__(self):
        return repr(self._value)


class StochasticTensor:
    """A random variable in a :class:`BayesianNet`.

    Holds the distribution, the value (observed, or sampled once when the node
    is created and then cached: reading :attr:`tensor` or calling
    :meth:`log_prob` again never resamples) and the node's reduction options.

    Shapes (docs/design.md, "Particles"). The node's log-density has the
    broadcast shape of its value and its parameters. Its leading axes are, in
    order:

    * the *particle axis* that an inference algorithm (an objective or an
      evaluator) adds on its own (:attr:`particle_axis`). The node's dims never
      see it: it is excluded from ``reduce_mean_dims``/``reduce_sum_dims``;
    * the node's own sample axis when the user gave ``n_samples=k``: axis 0 of
      what the user's code sees, and the dims count it (upstream
      ZhuSuan-Jittor's meaning: ``reduce_mean_dims=[0]`` averages over the
      samples);
    * the batch axes of the parameters.

    ``log_prob()`` sums the value axes and the last ``group_ndims`` batch axes,
    then averages over ``reduce_mean_dims`` and sums over ``reduce_sum_dims``
    (positions in what remains, negative allowed), then multiplies by
    ``multiplier``.

    An observed value must broadcast to the node's shape without adding axes:
    it may have fewer leading axes or size-1 axes. A node whose parameters
    are all scalars has no shape of its own and takes its value's.

    Construction is the net's business (:meth:`BayesianNet.stochastic_node`);
    the signature follows upstream ZhuSuan-Jittor's, whose ``sn`` also passed
    the distribution's own arguments here (they are accepted and ignored).
    """

    def __init__(self, bn: BayesianNet, name: str, dist: Distribution,
                 observation: VarLike | None = None, n_samples: int | None = None,
                 reduce_mean_dims: Sequence[int] | None = None,
                 reduce_sum_dims: Sequence[int] | None = None,
                 multiplier: float | None = None, **kwargs: Any) -> None:
        ignorable = set(getattr(dist, "param_names", ())) | set(NODE_OPTIONS) | {
            "dtype", "validate_args", "param_dtype", "is_continues", "use_path_derivative"}
        unknown = sorted(set(kwargs) - ignorable)
        if unknown:
            raise TypeError(f"node '{name}': unknown argument(s) {unknown}")
        self._bn = bn
        self._name = name
        self._dist = dist
        if n_samples != DEFERRED:
            n_samples = _check_n_samples(n_samples, f"node '{name}'")
        self.n_samples = n_samples
        self.reduce_mean_dims = _dims(reduce_mean_dims, name, "reduce_mean_dims")
        self.reduce_sum_dims = _dims(reduce_sum_dims, name, "reduce_sum_dims")
        overlap = set(self.reduce_mean_dims) & set(self.reduce_sum_dims)
        if overlap:
            raise ValueError(
                f"node '{name}': dims {sorted(overlap)} are in both reduce_mean_dims "
                "and reduce_sum_dims"
            )
        if multiplier is not None and (isinstance(multiplier, (bool, jt.Var))
                                       or not isinstance(multiplier, numbers.Real)):
            raise TypeError(f"node '{name}': multiplier must be a Python number, got "
                            f"{type(multiplier).__name__}")
        self.multiplier = multiplier
        self._log_prob: dict[tuple, jt.Var] = {}
        # The inference context is the net's at creation time: log-densities
        # may be asked for after the algorithm's context has been left.
        ctx = bn.context
        k = self._ctx_particles = ctx.n_particles
        self._user_axis = n_samples is not None and n_samples != DEFERRED
        if self._user_axis and k is not None:
            raise ValueError(
                f"node '{name}' draws its own n_samples={n_samples} particles, and the "
                f"inference algorithm asks the net for {k} particles of its own; remove "
                "n_samples from the node (the algorithm adds the particle axis), or "
                "give the algorithm no n_samples")
        if observation is not None:
            self._observed = True
            self._tensor = dist._prepare_value(observation, node=name)
            self._params_carry = k is not None and self._inherits(
                dist, k, value_rank=len(self._tensor.shape))
            self._particle_axis = name in ctx.carried or self._params_carry
            self._check_observed_shape(carried=name in ctx.carried)
        else:
            self._observed = False
            self._params_carry = k is not None and self._inherits(dist, k)
            self._particle_axis = k is not None
            self._tensor = None
            if n_samples != DEFERRED:
                self._draw(ctx.per_point)
        if self._particle_axis and self._tensor is not None:
            bn._particle_ranks.add(len(self._tensor.shape))
        if _debug.ACTIVE[0] and self._observed:
            _debug.check_node(self, "observed value", self._tensor)

    def _draw(self, per_point=False):
        k = self.n_samples if self._user_axis else self._ctx_particles
        if self._params_carry:
            k = None  # the parameters already carry the particle axis
        fused = None
        if self._dist.is_reparameterized:
            axes, weight = self._plan(self._dist._sample_shape(k), per_point)
            fused = self._dist._rsample_log_prob(k, axes, weight)
        if fused is not None:
            self._tensor, self._log_prob[(per_point, False, False)] = fused
        else:
            self._tensor = self._dist.sample(k)
        if _debug.ACTIVE[0]:
            _debug.check_node(self, "sample", self._tensor)
            if fused is not None:
                _debug.check_node(self, "log-density", fused[1])

    # -- the public API (upstream ZhuSuan-Jittor's, plus zhusuan's) ----------------
    @property
    def bn(self) -> BayesianNet:
        """The :class:`BayesianNet` this node belongs to."""
        return self._bn

    @property
    def net(self) -> BayesianNet:
        """Alias of :attr:`bn`."""
        return self._bn

    @property
    def name(self) -> str:
        return self._name

    @property
    def dist(self) -> Distribution:
        """The node's :class:`~zhusuan.distributions.Distribution`."""
        return self._dist

    @property
    def dtype(self) -> str:
        """The dtype of the node's value (that of its distribution)."""
        return self._dist.dtype

    @property
    def is_observed(self) -> _Flag:
        """Whether the node was given a value; usable as a bool or, as upstream
        wrote it, called: ``node.is_observed()``."""
        return _Flag(self._observed)

    @property
    def tensor(self) -> jt.Var:
        """The node's value: the observation, or its cached sample (a node
        created with ``n_samples=-1`` draws it on first access)."""
        if self._tensor is None:
            self._draw()
        return self._tensor

    @property
    def shape(self) -> list[int]:
        return list(self.tensor.shape)

    def log_prob(self, sample: VarLike | None = None) -> jt.Var:
        """The node's log-density with its reductions and multiplier applied.

        With ``sample`` (upstream's argument), the log-density of that value
        instead of the node's own, with the same reductions. It broadcasts
        against the parameters as :meth:`Distribution.log_prob` allows
        (extra leading axes included) and is not cached.
        """
        if sample is None:
            return self.reduced_log_prob()
        value = self._dist._prepare_value(sample, node=self._name)
        axes, weight = self._plan(self._dist._full_shape(value), per_point=False)
        return self._dist._log_prob_reduced(value, axes, weight)

    def __repr__(self):
        kind = "observed" if self._observed else "latent"
        shape = self.shape if self._tensor is not None else "not drawn"
        return (f"StochasticTensor(name={self._name!r}, {kind}, "
                f"dist={type(self._dist).__name__}, shape={shape})")

    # -- the interface to inference algorithms (docs/design.md) --------------------
    @property
    def particle_axis(self) -> bool:
        """Whether the node's value carries the leading particle axis of the
        inference algorithm that ran the net (not a user's ``n_samples`` axis)."""
        return bool(self._particle_axis)

    @property
    def batch_reduction(self) -> str | None:
        """``'mean'`` or ``'sum'`` if the node reduces the data batch axis
        (axis 0 of its log-density after ``group_ndims``), else None."""
        if 0 in self.reduce_mean_dims:
            return "mean"
        if 0 in self.reduce_sum_dims:
            return "sum"
        return None

    def reduced_log_prob(self, per_point: bool = False, stop_params: bool = False,
                         detach_value: bool = False) -> jt.Var:
        """The node's reduced log-density, for an inference algorithm; cached
        per mode.

        ``per_point``: leave the reductions over the data batch axis (axis 0
        of the log-density after ``group_ndims``, particle axis excluded) to
        the caller, and sum every other axis the node does not average, so the
        result has one value per (particle and) data point.
        ``stop_params``: parameters detached, the value keeps its gradient (the
        path-derivative estimator). ``detach_value``: the value detached, the
        parameters keep theirs (score-function and wake-sleep updates).
        """
        key = (bool(per_point), bool(stop_params), bool(detach_value))
        if key not in self._log_prob:
            value = self.tensor
            axes, weight = self._plan(self._dist._full_shape(value), per_point)
            dist = self._dist._detached() if stop_params else self._dist
            value = value.detach() if detach_value else value
            self._log_prob[key] = dist._log_prob_reduced(value, axes, weight)
            if _debug.ACTIVE[0]:
                _debug.check_node(self, "log-density", self._log_prob[key])
        return self._log_prob[key]

    def reduce_elementwise(self, elem: jt.Var, per_point: bool = False) -> jt.Var:
        """Apply this node's reductions to an elementwise term of its shape
        (e.g. an analytic KL), broadcasting it to the node's value first."""
        full = list(self._dist._full_shape(self.tensor))
        if list(elem.shape) != full:
            elem = elem.broadcast(full)
        axes, weight = self._plan(full, per_point)
        out = jt.sum(elem, dims=tuple(axes)) if axes else elem
        if weight != 1.0:
            from ..numerics import const

            out = out * const(weight, str(out.dtype))
        return out.reshape(kernels.reduced_shape(full, axes))

    # -- internals ----------------------------------------------------------------
    def _inherits(self, dist, k, value_rank=None):
        """Whether the parameters already carry the particle axis.

        They do when they were computed from an earlier particle-carrying value
        of this call (q(h2 | h1) with h1 drawn with k particles; p(x | z) with
        z observed with q's particles): their leading axis has size k and
        their rank is that of such a value. A latent node then draws one
        sample per particle instead of k new ones. An observed node's
        parameters also carry it when their rank differs from that of those
        values but exceeds the observed value's, whose leading axis they add
        (a regression's mean [k, batch] from weights [k, d_out, d_in], with y
        observed as [batch]).
        """
        shape = dist.batch_shape + dist.value_shape
        ranks = self._bn._particle_ranks
        if not shape or shape[0] != k or not ranks:
            return False
        return len(shape) in ranks or (value_rank is not None and value_rank < len(shape))

    def _node_shape(self):
        """The node's shape as its parameters (and n_samples) define it."""
        shape = list(self._dist.batch_shape + self._dist.value_shape)
        return ([self.n_samples] if self._user_axis else []) + shape

    def _check_observed_shape(self, carried):
        value = list(self._tensor.shape)
        node = self._node_shape()
        core = value
        if carried and not self._params_carry:
            k = self._ctx_particles
            if not value or value[0] != k:
                raise ValueError(
                    f"node '{self._name}': its observed value of shape {value} should carry "
                    f"the inference algorithm's {k} particles along axis 0")
            core = value[1:]
        if all(d == 1 for d in node) and not self._user_axis:
            return  # scalar parameters: the value defines the node's shape
        fits = len(core) <= len(node) and all(
            c == n or c == 1 or n == 1
            for c, n in zip(reversed(core), reversed(node), strict=False))
        if not fits:
            extra = len(core) > len(node)
            raise ValueError(
                f"node '{self._name}': observed value has shape {value}, which does not "
                f"broadcast to the node's shape {node}"
                + (" (after the inference algorithm's particle axis)" if core is not value
                   else "")
                + ("; it has more axes than the node (an observed value may have fewer "
                   "leading axes or size-1 axes, never extra ones)" if extra else "")
            )

    def _plan(self, full, per_point):
        """Axes of ``full`` to sum and the weight to apply, per docs/design.md."""
        full = list(full)
        has_p = self._particle_axis or self._params_carry
        off = 1 if has_p else 0
        base = full[off:]
        vrank = len(self._dist.value_shape)
        rank = len(base) - vrank
        g = self._dist.group_ndims
        if g > rank:
            raise ValueError(
                f"node '{self._name}': group_ndims={g} exceeds the rank of its batch "
                f"shape {base[:rank]}"
            )
        # Axes of the base shape after the value axes and group axes are summed.
        group_axes = list(range(rank - g, len(base)))
        nrest = rank - g  # positions the reduce dims refer to
        try:
            mean_pos = kernels.normalize_axes(self.reduce_mean_dims, nrest)
            sum_pos = kernels.normalize_axes(self.reduce_sum_dims, nrest)
        except ValueError:
            raise ValueError(
                f"node '{self._name}': reduce_mean_dims={list(self.reduce_mean_dims)} / "
                f"reduce_sum_dims={list(self.reduce_sum_dims)} out of range for its "
                f"log-density of shape {base[:nrest]}"
                + (f" (particle axis of size {full[0]} excluded)" if has_p else "")
            ) from None
        if set(mean_pos) & set(sum_pos):
            raise ValueError(
                f"node '{self._name}': the same axis is in reduce_mean_dims and "
                "reduce_sum_dims"
            )
        if per_point:
            if self._user_axis:
                raise ValueError(
                    f"node '{self._name}' draws its own n_samples={self.n_samples} "
                    "particles, so its axis 0 is not the data batch axis that a "
                    "per-data-point bound (ELBO.bound, REINFORCE, importance-weighted "
                    "objectives, is_loglikelihood) reduces; remove n_samples from the "
                    "node and pass n_samples=k to the objective")
            # Reductions over the data batch axis (axis 0 of the log-density)
            # are left to the caller; every other axis is part of one data
            # point's density and is summed if the node did not average it.
            mean_pos = tuple(p for p in mean_pos if p != 0)
            sum_pos = tuple(p for p in range(1, nrest) if p not in mean_pos)
        weight = 1.0
        for p in mean_pos:
            weight /= base[p]
        if self.multiplier is not None:
            weight *= float(self.multiplier)
        axes = [off + a for a in group_axes]
        axes += [off + p for p in mean_pos + sum_pos]
        return sorted(axes), weight
