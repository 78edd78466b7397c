"""Upstream ZhuSuan-Jittor's module path for SGLD.

``from zhusuan.mcmc.SGLD import SGLD`` works as upstream; the code lives in
:mod:`zhusuan.mcmc.sg_langevin`. As upstream, the package attribute
``zhusuan.mcmc.SGLD`` is the class, not this module.
"""

from __future__ import annotations

from .sg_langevin import SGLD

__all__ = ["SGLD"]
