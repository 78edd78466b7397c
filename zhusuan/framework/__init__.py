"""The model API: BayesianNet and StochasticTensor."""

from .bn import BayesianNet, particles
from .stochastic import StochasticTensor

__all__ = ["BayesianNet", "StochasticTensor", "particles"]
