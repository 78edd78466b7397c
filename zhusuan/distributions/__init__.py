"""Distributions. Look one up by name with :func:`get_distribution`.

Every class here can be used by name in a :class:`zhusuan.BayesianNet`
(``bn.sn('Gamma', 'z', alpha=..., beta=...)``).
"""

from __future__ import annotations

from .base import Distribution
from .bernoulli import Bernoulli
from .kl import kl_divergence, register_kl
from .multivariate import (
    Categorical,
    Concrete,
    Dirichlet,
    ExpConcrete,
    MatrixVariateNormalCholesky,
    Multinomial,
    MultivariateNormalCholesky,
    OnehotCategorical,
    UnnormalizedMultinomial,
)
from .normal import Normal
from .univariate import (
    Beta,
    BinConcrete,
    Binomial,
    Cauchy,
    Exponential,
    FoldNormal,
    Gamma,
    Geometric,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    Laplace,
    Logistic,
    LogNormal,
    Poisson,
    StudentT,
    Uniform,
)

# One line per family module; REGISTRY (below) is built from _CLASSES.
_CLASSES: list[type[Distribution]] = [Normal, Bernoulli]
_CLASSES += [FoldNormal, Laplace, Logistic, Exponential, HalfNormal, LogNormal, Uniform,
             Poisson, Geometric, Binomial, Gamma, Beta, StudentT, BinConcrete]
_CLASSES += [Cauchy, HalfCauchy, InverseGamma]  # plain Jittor, not yet fused
_CLASSES += [Categorical, OnehotCategorical, Multinomial, UnnormalizedMultinomial,
             Dirichlet, MultivariateNormalCholesky, MatrixVariateNormalCholesky,
             ExpConcrete, Concrete]

__all__ = (["Distribution", "get_distribution", "REGISTRY"]
           + ["kl_divergence", "register_kl"]
           + [c.__name__ for c in _CLASSES])

REGISTRY = {cls.__name__: cls for cls in _CLASSES}


def get_distribution(name: str) -> type[Distribution]:
    """The Distribution class called ``name``; ValueError naming the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown distribution {name!r}; available: {sorted(REGISTRY)}"
        ) from None
