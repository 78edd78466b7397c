"""Upstream ZhuSuan-Jittor's module path ``zhusuan.framework.stochastic_tensor``
(the class lives in :mod:`zhusuan.framework.stochastic`)."""

from .stochastic import StochasticTensor

__all__ = ["StochasticTensor"]
