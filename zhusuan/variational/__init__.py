"""Variational objectives and their gradient estimators."""

from __future__ import annotations

from .base import VariationalObjective
from .exclusive_kl import ELBO, EvidenceLowerBoundObjective
from .importance_weighted import ImportanceWeightedObjective, iw_objective
from .inclusive_kl import InclusiveKLObjective, klpq

__all__ = [
    "VariationalObjective",
    "ELBO",
    "EvidenceLowerBoundObjective",
    "ImportanceWeightedObjective",
    "iw_objective",
    "InclusiveKLObjective",
    "klpq",
]
