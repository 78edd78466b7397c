"""The univariate Normal distribution."""

from __future__ import annotations

import math
from typing import Any

import jittor as jt

from .. import kernels
from ..numerics import VarLike, const, dtype_name
from .base import Distribution, _randn, upstream_options

__all__ = ["Normal"]


class Normal(Distribution):
    r"""Normal (Gaussian) distribution, parameterised by ``mean`` and exactly one
    of ``std`` or ``logstd``.

    .. math::
        \log p(x) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \tfrac12\log 2\pi

    Reparameterised sampling: ``x = mean + std * eps`` with ``eps ~ N(0, 1)``.
    The parameter given is the one used in the kernels (``logstd`` is never
    exponentiated and logged again).

    Parameters
    ----------
    mean : Var or float
    std : Var or float, optional
        Standard deviation, > 0.
    logstd : Var or float, optional
        Log of the standard deviation.
    """

    param_names = ("mean", "std", "logstd")
    is_continuous = True
    has_rsample = True
    _param_attrs = ("mean", "_scale")

    def __init__(self, mean: VarLike = 0.0, std: VarLike | None = None,
                 logstd: VarLike | None = None, dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        opts = upstream_options(type(self).__name__, kwargs)
        if (std is None) == (logstd is None):
            raise ValueError(
                "Normal: pass exactly one of 'std' or 'logstd' "
                f"(got {'both' if std is not None else 'neither'})"
            )
        super().__init__(dtype=dtype, group_ndims=group_ndims,
                         is_reparameterized=is_reparameterized,
                         validate_args=validate_args, **opts)
        self._infer_dtype(mean, std, logstd)
        self.mean = self._param(mean, "mean")
        self._use_logstd = logstd is not None
        self._scale = self._param(logstd if self._use_logstd else std,
                                  "logstd" if self._use_logstd else "std")
        if dtype_name(self.mean) != self._dtype:
            self.mean = self.mean.cast(self._dtype)
        try:
            kernels.broadcast_shapes(self.mean.shape, self._scale.shape,
                                     what=["mean", "std/logstd"])
        except ValueError as exc:
            raise ValueError(f"Normal: {exc}") from None
        if validate_args and not self._use_logstd:
            bad = (self._scale <= 0).any()
            if bool(bad.item()):
                raise ValueError(
                    f"Normal: std must be > 0 (shape {list(self._scale.shape)})"
                )

    @property
    def std(self) -> jt.Var:
        return jt.exp(self._scale) if self._use_logstd else self._scale

    @property
    def logstd(self) -> jt.Var:
        return self._scale if self._use_logstd else jt.log(self._scale)

    @property
    def variance(self) -> jt.Var:
        return self._over_batch(jt.exp(2 * self.logstd))

    def entropy(self) -> jt.Var:
        """0.5 log(2 pi e) + log std."""
        return self._over_batch(
            self.logstd + const(0.5 * (1.0 + math.log(2 * math.pi)), self.dtype))

    def _params(self):
        return [self.mean, self._scale]

    def _param_labels(self):
        return ["mean", "logstd" if self._use_logstd else "std"]

    def _sample(self, n_samples):
        eps = _randn(self._sample_shape(n_samples), self.dtype)
        return self.mean + self.std * eps

    def _log_prob_reduced(self, given, axes, weight):
        return kernels.normal_log_prob(given, self.mean, self._scale,
                                       self._use_logstd, axes, weight)

    def _rsample_log_prob(self, n_samples, axes, weight):
        eps = _randn(self._sample_shape(n_samples), self.dtype)
        return kernels.normal_rsample(self.mean, self._scale, eps,
                                      self._use_logstd, axes, weight)
