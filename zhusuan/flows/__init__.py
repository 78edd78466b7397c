"""Normalizing flows as distributions.

:class:`Flow` is registered under its name, so a
:class:`~zhusuan.framework.BayesianNet` can create one with
``self.sn('Flow', name='x', latent=..., transform=...)``.
"""

from __future__ import annotations

from ..distributions import REGISTRY
from .flow import Flow

REGISTRY["Flow"] = Flow

__all__ = ["Flow"]
