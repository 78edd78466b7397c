"""The model API: BayesianNet and StochasticTensor.

Upstream ZhuSuan-Jittor's module paths ``zhusuan.framework.bn`` and
``zhusuan.framework.stochastic_tensor`` both exist.
"""

from .bn import BayesianNet, InferenceContext, particles
from .stochastic import StochasticTensor

__all__ = ["BayesianNet", "StochasticTensor", "InferenceContext", "particles"]
