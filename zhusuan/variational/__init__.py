"""Variational objectives."""

from .exclusive_kl import ELBO, EvidenceLowerBoundObjective

__all__ = ["ELBO", "EvidenceLowerBoundObjective"]
