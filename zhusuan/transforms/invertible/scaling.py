r"""NICE's diagonal scaling layer."""

from __future__ import annotations

import jittor as jt

from .base import InvertibleTransform, as_dtype_of, check_trailing, positive_int

__all__ = ["Scaling"]


class Scaling(InvertibleTransform):
    r"""Elementwise scaling by a learnt diagonal (the last layer of NICE,
    Dinh et al., 2015):

    .. math::
        z = x \odot e^{s}, \qquad x = z \odot e^{-s}, \qquad
        \log\left|\det \frac{\partial z}{\partial x}\right| = \sum_i s_i

    The parameter ``log_scale`` (:math:`s`, shape ``[1, n_dim]``) starts at 0.
    The forward log-determinant is elementwise: :math:`s` with one leading
    axis of size 1 per batch axis of the input (``[1, n_dim]`` for an input
    ``[B, n_dim]``, as upstream); the inverse returns :math:`-s`. Inputs are
    never modified in place.

    Parameters
    ----------
    n_dim : int
        Size of the last axis of the input.
    """

    has_inverse_log_det = True

    def __init__(self, n_dim: int) -> None:
        super().__init__()
        if not positive_int(n_dim):
            raise ValueError(f"Scaling: n_dim must be a positive int, got {n_dim!r}")
        self.n_dim = n_dim = int(n_dim)
        self.log_scale = jt.zeros([1, n_dim], dtype="float32")

    def _log_scale_for(self, x):
        check_trailing(x, [self.n_dim], "Scaling")
        s = as_dtype_of(self.log_scale, x)
        return s.reshape([1] * (len(x.shape) - 1) + [self.n_dim])

    def _forward(self, x, **kwargs):
        s = self._log_scale_for(x)
        return x * jt.exp(s), s

    def _inverse(self, z, **kwargs):
        s = self._log_scale_for(z)
        return z * jt.exp(-s), -s
