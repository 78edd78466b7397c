r"""Flow: the distribution of an invertible transform of a latent variable."""

from __future__ import annotations

from typing import Any

from .. import kernels
from .._checks import is_int
from ..distributions.base import Distribution, upstream_options
from ..transforms.base import Transform, per_sample_log_det, split_output
from ..transforms.sequential import Sequential

__all__ = ["Flow"]


class Flow(Distribution):
    r"""A normalizing flow: :math:`x = f^{-1}(z)` with :math:`z \sim p_Z`
    (``latent``) and :math:`f` (``transform``) invertible, data to noise.

    .. math::
        \log p(x) = \log p_Z(f(x))
                    + \log\left|\det \frac{\partial f}{\partial x}\right|
                  = \log p_Z(z)
                    - \log\left|\det \frac{\partial f^{-1}}{\partial z}\right|

    * :meth:`log_prob` runs the transform forward, ``(z, log_det) =
      transform(x)``, and uses the first form;
    * :meth:`sample` draws :math:`z` from ``latent`` and returns
      ``transform(z, inverse=True)``;
    * a reparameterised node of a :class:`~zhusuan.framework.BayesianNet`
      samples and scores in one pass with the second form (the inverse's
      log-determinant), so transforms without a tractable forward direction
      (:class:`~zhusuan.transforms.Planar`, or the costly one of
      :class:`~zhusuan.transforms.IAF`) work as variational posteriors. This
      needs every layer to return its inverse's log-determinant
      (:attr:`Transform.has_inverse_log_det`); otherwise the sample is scored
      by the forward direction.

    Shapes. The events are the last ``event_ndims`` axes of the latent's
    ``batch_shape + value_shape``; they form the flow's ``value_shape``, and
    the axes before them its ``batch_shape`` (upstream's NICE: a latent
    ``Logistic`` with ``loc`` of shape ``[784]`` gives ``value_shape [784]``,
    ``batch_shape []``). The transform keeps the shape of its input. The
    latent's density is summed over the event axes (its own ``group_ndims``
    is not used); the transform's log-determinant may be elementwise or per
    sample (see :mod:`zhusuan.transforms.base`).

    Parameters
    ----------
    latent : Distribution
        The base distribution :math:`p_Z`.
    transform : Transform
        Data to noise in its forward direction, e.g. a
        :class:`~zhusuan.transforms.Sequential`, whose ``event_ndims`` must
        equal the flow's.
    dtype : str, optional
        float32 or float64; defaults to the latent's and must equal it.
    group_ndims : int
        Trailing batch axes summed by :meth:`log_prob`.
    event_ndims : int
        How many trailing axes of the latent's shape form one event (1: a
        flow over vectors).
    is_reparameterized : bool, optional
        Defaults to the latent's.
    """

    param_names = ("latent", "transform", "event_ndims")
    is_continuous = True

    def __init__(self, latent: Distribution | None = None, transform: Transform | None = None,
                 dtype: str | None = None, group_ndims: int = 0, event_ndims: int = 1,
                 is_reparameterized: bool | None = None, validate_args: bool = False,
                 **kwargs: Any) -> None:
        opts = upstream_options("Flow", kwargs)
        if latent is None or transform is None:
            missing = [n for n, v in (("latent", latent), ("transform", transform))
                       if v is None]
            raise ValueError(f"Flow: {' and '.join(repr(m) for m in missing)} "
                             "required")
        if not isinstance(latent, Distribution):
            raise TypeError(f"Flow: latent must be a Distribution, got "
                            f"{type(latent).__name__}")
        if not isinstance(transform, Transform):
            raise TypeError(f"Flow: transform must be a zhusuan Transform (e.g. "
                            f"Sequential), got {type(transform).__name__}")
        if not is_int(event_ndims, 0):
            raise ValueError(f"Flow: event_ndims must be a non-negative int, got "
                             f"{event_ndims!r}")
        event_ndims = int(event_ndims)
        full = list(latent.batch_shape) + list(latent.value_shape)
        latent_event = len(latent.value_shape)
        if not latent_event <= event_ndims <= len(full):
            raise ValueError(
                f"Flow: event_ndims={event_ndims} must lie between the rank of the "
                f"latent's value_shape ({latent_event}) and the rank of its shape "
                f"{full} ({len(full)})")
        if isinstance(transform, Sequential) and transform.event_ndims != event_ndims:
            raise ValueError(
                f"Flow: event_ndims={event_ndims} but the Sequential transform sums "
                f"log-determinants over {transform.event_ndims} axes; build it with "
                f"Sequential(..., event_ndims={event_ndims})")
        if dtype is None:
            dtype = latent.dtype
        elif latent.dtype is not None and dtype != latent.dtype:
            raise ValueError(f"Flow: dtype={dtype!r} differs from the latent's "
                             f"{latent.dtype!r}")
        if opts.get("param_dtype") not in (None, dtype):
            raise ValueError(f"Flow: param_dtype={opts['param_dtype']!r} differs from "
                             f"dtype {dtype!r}")
        opts.pop("param_dtype", None)
        # Whether this flow can be reparameterised is the latent's business.
        self.has_rsample = bool(latent.has_rsample or latent.is_reparameterized)
        if is_reparameterized is None:
            is_reparameterized = latent.is_reparameterized
        super().__init__(dtype=dtype, group_ndims=group_ndims,
                         is_reparameterized=is_reparameterized,
                         validate_args=validate_args,
                         value_shape=full[len(full) - event_ndims:], **opts)
        self._latent = latent
        self._transform = transform
        self.event_ndims = event_ndims
        self._batch = full[:len(full) - event_ndims]

    # -- shapes -----------------------------------------------------------------
    @property
    def latent(self) -> Distribution:
        """The base distribution."""
        return self._latent

    @property
    def transform(self) -> Transform:
        """The transform (data to noise in its forward direction)."""
        return self._transform

    def _batch_shape(self):
        return list(self._batch)

    def _params(self):
        return []

    def _full_shape(self, given):
        value = list(given.shape)
        event = self.value_shape
        if len(value) < len(event) or value[len(value) - len(event):] != event:
            raise ValueError(f"Flow: a value of shape {value} does not end with the "
                             f"flow's event shape {event}")
        try:
            return kernels.broadcast_shapes(value, self.batch_shape + event)
        except ValueError:
            raise ValueError(f"Flow: a value of shape {value} does not broadcast to "
                             f"the flow's shape {self.batch_shape + event}") from None

    def _detached(self):
        raise NotImplementedError(
            "Flow: scoring with the parameters detached (the path-derivative "
            "estimator) would need the transform's parameters detached, which a "
            "jittor Module does not offer; use use_path_derivative=False")

    # -- densities ----------------------------------------------------------------
    def _latent_log_prob(self, z):
        """log p_Z(z) summed over the event axes (one value per sample)."""
        lat = self._latent
        z = lat._prepare_value(z)
        full = list(lat._full_shape(z))
        rank = len(full) - len(lat.value_shape)
        n = self.event_ndims - len(lat.value_shape)
        return lat._log_prob_reduced(z, list(range(rank - n, rank)), 1.0)

    def _reduced(self, x, z, log_det, sign, axes, weight):
        """log p_Z(z) + sign * log_det per sample, broadcast to the batch
        shape of ``x``, then summed over ``axes`` and times ``weight``."""
        lp = self._latent_log_prob(z)
        ld = per_sample_log_det(log_det, list(x.shape), self.event_ndims, "Flow")
        if ld is not None:
            lp = lp + ld if sign > 0 else lp - ld
        full = list(self._full_shape(x))
        batch = full[:len(full) - self.event_ndims]
        if batch and list(lp.shape) != batch:
            lp = lp.broadcast(batch)
        # Axes past the batch rank are event axes (a StochasticTensor lists
        # them with the group axes); the per-sample density has summed them.
        axes = [a for a in axes if a < len(batch)]
        return self._reduce(lp, axes, weight)

    def _single(self, outputs, direction):
        if len(outputs) != 1:
            raise ValueError(f"Flow: the transform's {direction} direction returned "
                             f"{len(outputs)} variables; a Flow transforms exactly one")
        return outputs[0]

    def _log_prob_reduced(self, given, axes, weight):
        outputs, log_det = self._transform.forward_and_log_det(given)
        z = self._single(outputs, "forward")
        if list(z.shape) != list(given.shape):
            raise ValueError(f"Flow: the transform maps shape {list(given.shape)} to "
                             f"{list(z.shape)}; it must keep the shape")
        return self._reduced(given, z, log_det, +1, axes, weight)

    # -- sampling -----------------------------------------------------------------
    def _draw_latent(self, n_samples):
        lat = self._latent
        if lat._upstream_style:  # its _sample follows upstream's conventions
            return lat.sample(n_samples)
        # The flow, not the latent, decides whether the sample is detached
        # (Distribution.sample does it).
        return lat._sample(n_samples)

    def _sample(self, n_samples):
        z = self._draw_latent(n_samples)
        out = self._transform(z, inverse=True)
        if not isinstance(self._transform, Sequential):  # (it returns outputs only)
            out, _ = split_output(out, self._transform, "inverse")
        return self._single(out, "inverse")

    def _rsample_log_prob(self, n_samples, axes, weight):
        if not self.is_reparameterized or not self._transform.has_inverse_log_det:
            return None
        z = self._draw_latent(n_samples)
        outputs, log_det = self._transform.inverse_and_log_det(z)
        x = self._single(outputs, "inverse")
        return x, self._reduced(x, z, log_det, -1, axes, weight)
