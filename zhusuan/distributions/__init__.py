"""Distributions. Look one up by name with :func:`get_distribution`."""

from .base import Distribution
from .bernoulli import Bernoulli
from .normal import Normal

__all__ = ["Distribution", "Normal", "Bernoulli", "get_distribution", "REGISTRY"]

REGISTRY = {cls.__name__: cls for cls in (Normal, Bernoulli)}


def get_distribution(name):
    """The Distribution class called ``name``; ValueError naming the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown distribution {name!r}; available: {sorted(REGISTRY)}"
        ) from None
