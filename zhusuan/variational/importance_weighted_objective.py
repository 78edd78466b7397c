"""Upstream ZhuSuan-Jittor's documented module path
``zhusuan.variational.importance_weighted_objective`` (the objective lives in
:mod:`zhusuan.variational.importance_weighted`)."""

from __future__ import annotations

from .importance_weighted import ImportanceWeightedObjective, iw_objective

__all__ = ["ImportanceWeightedObjective", "iw_objective"]
