"""Invertible layers for normalizing flows.

Upstream ZhuSuan-Jittor's: :class:`InvertibleTransform`,
:func:`get_coupling_mask`, :class:`AdditiveCoupling` (NICE), :class:`Scaling`.
zhusuan's additions: :class:`AffineCoupling` (RealNVP), :class:`Planar`
(Rezende & Mohamed), :class:`MADE` and :class:`IAF` (Kingma et al.).
"""

from __future__ import annotations

from .autoregressive import IAF, MADE
from .base import InvertibleTransform
from .coupling import AdditiveCoupling, AffineCoupling, get_coupling_mask
from .planar import Planar
from .scaling import Scaling

__all__ = [
    "InvertibleTransform",
    "get_coupling_mask",
    "AdditiveCoupling",
    "AffineCoupling",
    "Scaling",
    "Planar",
    "MADE",
    "IAF",
]
