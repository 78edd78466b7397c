"""StochasticTensor: one node of a BayesianNet."""

import jittor as jt

from .. import kernels
from ..distributions.base import _check_n_samples

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


def _dims(value, node, what):
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    try:
        dims = tuple(value)
    except TypeError:
        raise TypeError(f"node '{node}': {what} must be a list of ints, got {value!r}") from None
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"node '{node}': {what} must be a list of ints, got {value!r}")
    return dims


class StochasticTensor:
    """A random variable in a :class:`BayesianNet`.

    Holds the distribution, the value (observed, or sampled once when the node
    is created and then cached: reading ``tensor`` or calling ``log_prob()``
    again never resamples) and the node's reduction options.

    Shapes. Let ``S`` be the broadcast shape of the value and the parameters.
    If the node carries a leading *sample axis* (it was sampled with
    ``n_samples``, its observed value came with particles from an objective,
    or its parameters carry them), that axis is ``S[0]`` and is never touched
    by the node's reductions; the rest of ``S`` is the node's *base shape*.
    ``log_prob()`` sums the last ``group_ndims`` axes of the base shape, then
    averages over ``reduce_mean_dims`` and sums over ``reduce_sum_dims``
    (positions in what remains of the base shape, negative allowed), then
    multiplies by ``multiplier``. See docs/design.md, "Particles".
    """

    def __init__(self, net, name, dist, n_samples=None, reduce_mean_dims=None,
                 reduce_sum_dims=None, multiplier=None, observation=None,
                 particle_observed=False):
        self.net = net
        self.name = name
        self.dist = dist
        _check_n_samples(n_samples, f"node '{name}'")
        self.n_samples = n_samples
        self.reduce_mean_dims = _dims(reduce_mean_dims, name, "reduce_mean_dims")
        self.reduce_sum_dims = _dims(reduce_sum_dims, name, "reduce_sum_dims")
        overlap = set(self.reduce_mean_dims) & set(self.reduce_sum_dims)
        if overlap:
            raise ValueError(
                f"node '{name}': dims {sorted(overlap)} are in both reduce_mean_dims "
                "and reduce_sum_dims"
            )
        self.multiplier = multiplier
        self._log_prob = {}
        # The particle context is the net's at creation time: log-densities may
        # be asked for after the objective's context has been left.
        ctx_k = self._ctx_particles = net._particles
        if observation is not None:
            self.is_observed = True
            self._tensor = dist._prepare_value(observation, node=name)
            self._sample_axis = bool(particle_observed)
            self._check_observed_shape()
        else:
            self.is_observed = False
            k = n_samples if n_samples is not None else ctx_k
            if n_samples is None and ctx_k is not None and self._inherits(dist, ctx_k):
                k = None  # the parameters already carry the particle axis
                self._sample_axis = True
            else:
                self._sample_axis = k is not None
            fused = None
            if dist.is_reparameterized:
                axes, weight = self._plan(self._sampled_shape(k), per_point=net._per_point)
                fused = dist._rsample_log_prob(k, axes, weight)
            if fused is not None:
                self._tensor, self._log_prob[(net._per_point, False, False)] = fused
            else:
                self._tensor = dist.sample(k)
        if self._sample_axis:
            net._particle_ranks.add(len(self._tensor.shape))

    # -- public API -------------------------------------------------------------
    @property
    def tensor(self):
        """The node's value: the observation, or its cached sample."""
        return self._tensor

    @property
    def shape(self):
        return list(self._tensor.shape)

    def log_prob(self):
        """The node's log-density with its reductions and multiplier applied."""
        return self._reduced_log_prob(per_point=False)

    def __repr__(self):
        kind = "observed" if self.is_observed else "latent"
        return (f"StochasticTensor(name={self.name!r}, {kind}, "
                f"dist={type(self.dist).__name__}, shape={self.shape})")

    # -- internals ----------------------------------------------------------------
    def _inherits(self, dist, k):
        """Whether a latent node's parameters already carry the particle axis.

        They do when they were computed from an earlier particle-carrying node
        of this call (q(h2 | h1) with h1 drawn with k particles): their leading
        axis has size k and their rank is that of such a node's value. Such a
        node draws one sample per particle instead of k new ones.
        """
        shape = dist.batch_shape + dist.value_shape
        return bool(shape) and shape[0] == k and len(shape) in self.net._particle_ranks

    def _sampled_shape(self, k):
        return self.dist._sample_shape(k)

    def _full_shape(self):
        return list(self.dist._full_shape(self._tensor))

    def _check_observed_shape(self):
        value = list(self._tensor.shape)
        batch = self.dist.batch_shape + self.dist.value_shape
        core = value[1:] if self._sample_axis else value
        if (not self._sample_axis and self._ctx_particles is not None
                and len(batch) == len(core) + 1):
            batch = batch[1:]  # the parameters carry the particle axis
        # Every trailing axis of the value must equal the parameters' axis, or
        # the parameter must broadcast along it (size 1); a value of size 1 where
        # the parameters are larger is a shape bug, not a broadcast.
        n = min(len(core), len(batch))
        ok = all(core[-1 - i] == batch[-1 - i] or batch[-1 - i] == 1 for i in range(n))
        if ok and len(core) < len(batch) and not self._sample_axis:
            ok = False
        if not ok:
            raise ValueError(
                f"node '{self.name}': observed value has shape {value}, which does not "
                f"match the distribution's shape {batch}"
                + (" (after its leading sample axis)" if self._sample_axis else "")
            )

    def _base(self, full):
        """(has_sample_axis, base_shape) for the broadcast shape ``full``."""
        if self._sample_axis:
            return True, list(full[1:])
        if self._ctx_particles is not None and len(full) == len(self._tensor.shape) + 1:
            # The parameters carry the particle axis (e.g. x given z-particles).
            return True, list(full[1:])
        return False, list(full)

    def _plan(self, full, per_point):
        """Axes of ``full`` to sum and the weight to apply, per docs/design.md."""
        has_s, base = self._base(full)
        off = 1 if has_s else 0
        vrank = len(self.dist.value_shape)
        rank = len(base) - vrank
        g = self.dist.group_ndims
        if g > rank:
            raise ValueError(
                f"node '{self.name}': group_ndims={g} exceeds the rank of its batch "
                f"shape {base[:rank]}"
            )
        # Axes of the base shape after the value axes and group axes are summed.
        group_axes = list(range(rank - g, len(base)))
        rest = list(range(rank - g))  # positions the reduce dims refer to
        nrest = len(rest)
        try:
            mean_pos = kernels.normalize_axes(self.reduce_mean_dims, nrest)
            sum_pos = kernels.normalize_axes(self.reduce_sum_dims, nrest)
        except ValueError:
            raise ValueError(
                f"node '{self.name}': reduce_mean_dims={list(self.reduce_mean_dims)} / "
                f"reduce_sum_dims={list(self.reduce_sum_dims)} out of range for its "
                f"log-density of shape {base[:nrest]}"
                + (f" (sample axis of size {full[0]} excluded)" if has_s else "")
            ) from None
        if set(mean_pos) & set(sum_pos):
            raise ValueError(
                f"node '{self.name}': the same axis is in reduce_mean_dims and "
                "reduce_sum_dims"
            )
        if per_point:
            # Reductions over the data batch axis (axis 0 of the log-density)
            # are left to the objective; every other axis is part of one data
            # point's density and is summed if the node did not reduce it.
            mean_pos = tuple(p for p in mean_pos if p != 0)
            sum_pos = tuple(p for p in range(1, nrest) if p not in mean_pos)
        weight = 1.0
        for p in mean_pos:
            weight /= base[p]
        if self.multiplier is not None:
            if isinstance(self.multiplier, jt.Var):
                raise TypeError(
                    f"node '{self.name}': multiplier must be a Python number"
                )
            weight *= float(self.multiplier)
        axes = [off + a for a in group_axes]
        axes += [off + rest[p] for p in mean_pos + sum_pos]
        return sorted(axes), weight

    def _reduced_log_prob(self, per_point, stop_params=False, detach_value=False):
        """The reduced log-density; cached per mode.

        ``stop_params``: parameters detached, the value keeps its gradient (the
        path-derivative estimator). ``detach_value``: the value detached, the
        parameters keep theirs (score-function and wake-sleep updates).
        """
        key = (per_point, stop_params, detach_value)
        if key not in self._log_prob:
            axes, weight = self._plan(self._full_shape(), per_point)
            dist = self.dist._detached() if stop_params else self.dist
            value = self._tensor.detach() if detach_value else self._tensor
            self._log_prob[key] = dist._log_prob_reduced(value, axes, weight)
        return self._log_prob[key]

    def _batch_reduction(self):
        """'mean' or 'sum' if the node reduces the data batch axis (axis 0 of
        its log-density after group_ndims), else None."""
        if 0 in self.reduce_mean_dims:
            return "mean"
        if 0 in self.reduce_sum_dims:
            return "sum"
        return None

    def _reduce_elementwise(self, elem, per_point):
        """Apply this node's reductions to an elementwise term of its shape
        (e.g. an analytic KL), broadcasting it to the node's value first."""
        full = self._full_shape()
        if list(elem.shape) != list(full):
            elem = elem.broadcast(list(full))
        axes, weight = self._plan(full, per_point)
        out = jt.sum(elem, dims=tuple(axes)) if axes else elem
        if weight != 1.0:
            from ..numerics import const

            out = out * const(weight, str(out.dtype))
        return out.reshape(kernels.reduced_shape(full, axes))
