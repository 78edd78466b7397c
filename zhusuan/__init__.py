"""zhusuan: Bayesian deep learning on Jittor, with fused probabilistic kernels.

``import zhusuan`` first makes Jittor usable offline on a machine without a
GPU (see :mod:`zhusuan._jittor_env`), then imports it.
"""

from ._jittor_env import configure as _configure_jittor

_configure_jittor()

from . import (  # noqa: E402
    datasets,
    debug,
    diagnostics,
    distributed,
    distributions,
    evaluation,
    flows,
    framework,
    kernels,
    mcmc,
    optim,
    transforms,
    utils,
    variational,
)
from .distributions import Bernoulli, Distribution, Normal  # noqa: E402
from .framework import BayesianNet, StochasticTensor  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BayesianNet",
    "StochasticTensor",
    "Distribution",
    "Normal",
    "Bernoulli",
    "datasets",
    "debug",
    "diagnostics",
    "distributed",
    "distributions",
    "evaluation",
    "flows",
    "framework",
    "kernels",
    "mcmc",
    "optim",
    "transforms",
    "utils",
    "variational",
    "__version__",
]
