"""Upstream ZhuSuan-Jittor's module path for the SGMCMC base class.

``from zhusuan.mcmc.SGMCMC import SGMCMC`` works as upstream; the code lives
in :mod:`zhusuan.mcmc.sg_base`. As upstream, the package attribute
``zhusuan.mcmc.SGMCMC`` is the class, not this module.
"""

from __future__ import annotations

from .sg_base import SGMCMC

__all__ = ["SGMCMC"]
