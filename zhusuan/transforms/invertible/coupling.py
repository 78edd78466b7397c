r"""Coupling layers: NICE's additive coupling and RealNVP's affine coupling.

A coupling layer splits its input with a binary mask :math:`m`: the masked
part :math:`m \odot x` passes unchanged and conditions an invertible
elementwise map of the rest, so the Jacobian is triangular and both
directions are one network evaluation.
"""

from __future__ import annotations

from typing import Any

import jittor as jt
import numpy as np
from jittor import nn

from ..._checks import is_int
from .base import InvertibleTransform, as_dtype_of, check_trailing, positive_int

__all__ = ["get_coupling_mask", "AdditiveCoupling", "AffineCoupling"]

_SPLIT_TYPES = ("ChessBoard",)


def get_coupling_mask(n_dim: int, n_channel: int, n_mask: int,
                      split_type: str = "ChessBoard") -> list[jt.Var]:
    """Masks for a stack of coupling layers.

    ``'ChessBoard'`` (the only split implemented) alternates dimensions: the
    first mask is ``arange(n_dim) % 2`` (odd dimensions pass unchanged, even
    ones are transformed) and each next mask is one minus the previous one,
    so consecutive layers transform complementary halves.

    Parameters
    ----------
    n_dim : int
        Length of the (flattened) variable.
    n_channel : int
        Number of channels; only 1 is supported (flatten channels into
        ``n_dim``).
    n_mask : int
        How many masks (one per coupling layer).
    split_type : str

    Returns
    -------
    A list of ``n_mask`` float32 Vars of shape ``[n_dim]`` that carry no
    gradient.
    """
    if split_type not in _SPLIT_TYPES:
        raise NotImplementedError(
            f"get_coupling_mask: split_type {split_type!r} is not implemented; the "
            f"implemented split types are {list(_SPLIT_TYPES)}")
    for name, value in (("n_dim", n_dim), ("n_channel", n_channel)):
        if not positive_int(value):
            raise ValueError(f"get_coupling_mask: {name} must be a positive int, "
                             f"got {value!r}")
    if not is_int(n_mask, 0):
        raise ValueError(f"get_coupling_mask: n_mask must be a non-negative int, "
                         f"got {n_mask!r}")
    n_dim, n_channel, n_mask = int(n_dim), int(n_channel), int(n_mask)
    if n_channel != 1:
        raise NotImplementedError(
            f"get_coupling_mask: n_channel={n_channel} is not implemented for "
            f"{split_type!r}; only n_channel=1 (flatten the channels into n_dim)")
    masks = []
    mask = (np.arange(n_dim) % 2).astype(np.float32)
    with jt.no_grad():
        for _ in range(n_mask):
            masks.append(jt.array(mask).stop_grad())
            mask = 1.0 - mask
    return masks


def _default_mlp(in_dim, mid_dim, hidden, out_dim):
    """in_dim -> mid_dim, (hidden - 1) x (mid_dim -> mid_dim), -> out_dim; ReLU
    between the linear layers (NICE's coupling network)."""
    layers = [nn.Linear(in_dim, mid_dim), nn.ReLU()]
    for _ in range(hidden - 1):
        layers += [nn.Linear(mid_dim, mid_dim), nn.ReLU()]
    layers.append(nn.Linear(mid_dim, out_dim))
    return nn.Sequential(*layers)


class _Coupling(InvertibleTransform):
    """Mask and inner network set-up shared by the coupling layers."""

    has_inverse_log_det = True
    _out_factor = 1  # the default network outputs _out_factor * in_out_dim values

    def __init__(self, in_out_dim: int = -1, mid_dim: int = -1, hidden: int = -1,
                 mask: jt.Var | None = None, inner_nn: Any = None) -> None:
        super().__init__()
        who = type(self).__name__
        if mask is None:
            raise ValueError(f"{who}: mask is required, e.g. "
                             "get_coupling_mask(n_dim, 1, n_layers)[i]")
        if isinstance(mask, jt.Var):
            mask_np = mask.numpy()
        else:
            try:
                mask_np = np.asarray(mask, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{who}: mask must be a Var or an array of 0s and 1s, "
                                f"got {type(mask).__name__}") from None
        if mask_np.ndim == 0 or mask_np.size == 0:
            raise ValueError(f"{who}: mask must have at least one axis and one "
                             f"element, got shape {list(mask_np.shape)}")
        if not np.all((mask_np == 0) | (mask_np == 1)):
            raise ValueError(f"{who}: mask must hold only 0s and 1s")
        given = {"in_out_dim": in_out_dim, "mid_dim": mid_dim, "hidden": hidden}
        if inner_nn is None:
            bad = [f"{k}={v!r}" for k, v in given.items() if not positive_int(v)]
            if bad:
                raise ValueError(
                    f"{who}: without inner_nn, in_out_dim, mid_dim and hidden must be "
                    f"positive ints (got {', '.join(bad)})")
            if list(mask_np.shape) != [in_out_dim]:
                raise ValueError(f"{who}: mask of shape {list(mask_np.shape)} does not "
                                 f"match in_out_dim={in_out_dim}")
            inner_nn = _default_mlp(in_out_dim, mid_dim, hidden,
                                    self._out_factor * in_out_dim)
        else:
            if not callable(inner_nn):
                raise TypeError(f"{who}: inner_nn must be callable (a jittor Module), "
                                f"got {type(inner_nn).__name__}")
            extra = [k for k in ("mid_dim", "hidden") if given[k] != -1]
            if extra:
                raise ValueError(f"{who}: {' and '.join(extra)} configure the default "
                                 "network; pass them or inner_nn, not both")
            if in_out_dim != -1 and mask_np.shape[-1] != in_out_dim:
                raise ValueError(f"{who}: mask of shape {list(mask_np.shape)} does not "
                                 f"match in_out_dim={in_out_dim}")
        self.nn = inner_nn
        # Private (not a parameter, not in the state dict): the mask is part of
        # the layer's structure, rebuilt by its constructor.
        self._mask = jt.array(mask_np.astype(np.float32)).stop_grad()
        self._kept = jt.array((1.0 - mask_np).astype(np.float32)).stop_grad()

    @property
    def mask(self) -> jt.Var:
        """The mask (1: passed unchanged and fed to the network)."""
        return self._mask

    def _masks(self, x):
        check_trailing(x, self._mask.shape, type(self).__name__, "the mask's")
        return as_dtype_of(self._mask, x), as_dtype_of(self._kept, x)


class AdditiveCoupling(_Coupling):
    r"""NICE's additive coupling layer (Dinh et al., 2015), volume preserving.

    .. math::
        z = x + (1 - m) \odot t(m \odot x), \qquad
        x = z - (1 - m) \odot t(m \odot z), \qquad
        \log\left|\det \frac{\partial z}{\partial x}\right| = 0

    Both directions return ``log_det=None``.

    Parameters
    ----------
    in_out_dim, mid_dim, hidden : int
        The default network :math:`t`: ``in_out_dim -> mid_dim``, then
        ``hidden - 1`` more ``mid_dim -> mid_dim`` layers, then ``-> in_out_dim``,
        with ReLU in between. Required unless ``inner_nn`` is given.
    mask : Var or array of 0/1
        Required; e.g. from :func:`get_coupling_mask`. The input's trailing
        axes must have the mask's shape.
    inner_nn : callable, optional
        A network to use as :math:`t` instead (input and output of the
        input's shape).

    References: L. Dinh, D. Krueger, Y. Bengio. NICE: Non-linear Independent
    Components Estimation. ICLR 2015 workshop.
    """

    def _forward(self, x, **kwargs):
        m, kept = self._masks(x)
        return x + kept * self.nn(m * x), None

    def _inverse(self, z, **kwargs):
        m, kept = self._masks(z)
        return z - kept * self.nn(m * z), None


class AffineCoupling(_Coupling):
    r"""RealNVP's affine coupling layer (Dinh et al., 2017).

    .. math::
        z &= m \odot x + (1 - m) \odot \left(x \odot e^{s(m \odot x)}
             + t(m \odot x)\right), \\
        x &= m \odot z + (1 - m) \odot \left(z - t(m \odot z)\right)
             \odot e^{-s(m \odot z)}, \\
        \log\left|\det \frac{\partial z}{\partial x}\right|
          &= \sum_i (1 - m_i)\, s_i(m \odot x),

    with the log-scale bounded, :math:`s = \tanh(\tilde s)`, so one layer
    scales each dimension by a factor in :math:`(e^{-1}, e)` (an unbounded
    exponential makes training unstable; RealNVP bounds it the same way).

    The network returns ``(s_raw, t)``, or one Var whose last axis holds
    ``s_raw`` then ``t`` (the default network, ``in_out_dim -> mid_dim ->
    ... -> 2 in_out_dim``). The forward log-determinant is elementwise,
    :math:`(1 - m) \odot s` with the input's shape; the inverse returns its
    negative.

    Parameters are as for :class:`AdditiveCoupling`.

    References: L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation
    using Real NVP. ICLR 2017.
    """

    _out_factor = 2

    def _log_scale_shift(self, h, kept):
        out = self.nn(h)
        if isinstance(out, (tuple, list)):
            if len(out) != 2:
                raise ValueError(f"AffineCoupling: inner_nn returned {len(out)} "
                                 "values; expected (s, t)")
            s_raw, t = out
        else:
            d = h.shape[-1]
            if out.shape[-1] != 2 * d:
                raise ValueError(
                    f"AffineCoupling: inner_nn output of shape {list(out.shape)} "
                    f"should end with 2 * {d} (s and t), or be a pair (s, t)")
            s_raw, t = out[..., :d], out[..., d:]
        return kept * jt.tanh(s_raw), kept * t

    def _forward(self, x, **kwargs):
        m, kept = self._masks(x)
        s, t = self._log_scale_shift(m * x, kept)
        return x * jt.exp(s) + t, s

    def _inverse(self, z, **kwargs):
        m, kept = self._masks(z)
        s, t = self._log_scale_shift(m * z, kept)
        return (z - t) * jt.exp(-s), -s
