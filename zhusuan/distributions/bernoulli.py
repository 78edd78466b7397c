"""The Bernoulli distribution, computed from logits."""

from __future__ import annotations

from typing import Any

import jittor as jt

from .. import kernels
from ..numerics import VarLike, probs_to_logits, softplus
from .base import Distribution, _rand, upstream_options

__all__ = ["Bernoulli"]


class Bernoulli(Distribution):
    r"""Bernoulli distribution over {0, 1}, given exactly one of ``logits`` or
    ``probs``.

    .. math::
        \log p(x) = x\,\ell - \operatorname{softplus}(\ell),
        \qquad \ell = \log\frac{p}{1-p}

    The density is always computed from logits. ``probs`` are converted once
    with ``log(p) - log1p(-p)`` after clamping to the open interval the dtype
    can represent (see :func:`zhusuan.numerics.clamp_probs`), so a saturated
    probability of exactly 0 or 1 gives a large finite logit, never ``log(0)``.
    Samples are float in {0, 1} and never reparameterised.
    """

    param_names = ("logits", "probs")
    is_continuous = False
    has_rsample = False
    _param_attrs = ("logits", "_probs")

    def __init__(self, logits: VarLike | None = None, probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        opts = upstream_options(type(self).__name__, kwargs)
        if (logits is None) == (probs is None):
            raise ValueError(
                "Bernoulli: pass exactly one of 'logits' or 'probs' "
                f"(got {'both' if logits is not None else 'neither'})"
            )
        super().__init__(dtype=dtype, group_ndims=group_ndims,
                         is_reparameterized=is_reparameterized,
                         validate_args=validate_args, **opts)
        self._infer_dtype(logits, probs)
        if probs is not None:
            self._probs = self._param(probs, "probs")
            if validate_args:
                bad = jt.logical_or(self._probs < 0, self._probs > 1).any()
                if bool(bad.item()):
                    raise ValueError(
                        "Bernoulli: probs must lie in [0, 1] "
                        f"(shape {list(self._probs.shape)})"
                    )
            self.logits = probs_to_logits(self._probs)
        else:
            self.logits = self._param(logits, "logits")
            self._probs = None

    @property
    def probs(self) -> jt.Var:
        return self._probs if self._probs is not None else jt.sigmoid(self.logits)

    @property
    def mean(self) -> jt.Var:
        """The probability of 1: ``probs`` as given, or ``sigmoid(logits)``."""
        return self._over_batch(self.probs)

    @property
    def variance(self) -> jt.Var:
        return self._over_batch(jt.sigmoid(self.logits) * jt.sigmoid(-self.logits))

    def entropy(self) -> jt.Var:
        """softplus(l) - l sigmoid(l), from the logits l (no log of 0)."""
        lg = self.logits
        return self._over_batch(softplus(lg) - lg * jt.sigmoid(lg))

    def _params(self):
        return [self.logits]

    def _validate_value(self, value, what):
        bad = jt.logical_and(value != 0, value != 1).any()
        if bool(bad.item()):
            raise ValueError(f"{what}: Bernoulli values must be 0 or 1")

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        u = _rand(shape, self.dtype)
        return (u < self.probs).cast(self.dtype)

    def _log_prob_reduced(self, given, axes, weight):
        return kernels.bernoulli_log_prob(given, self.logits, axes, weight)
