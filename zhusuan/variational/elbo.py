"""Upstream ZhuSuan-Jittor's module path ``zhusuan.variational.elbo``.

The objective lives in :mod:`zhusuan.variational.exclusive_kl`;
``from zhusuan.variational.elbo import ELBO`` keeps working.
"""

from __future__ import annotations

from .exclusive_kl import ELBO, EvidenceLowerBoundObjective

__all__ = ["ELBO", "EvidenceLowerBoundObjective"]
