"""Upstream ZhuSuan-Jittor's module path ``zhusuan.distributions.logistic``.

The family itself lives in :mod:`zhusuan.distributions.univariate` with the
other fused univariate families; this module re-exports it so that
``from zhusuan.distributions.logistic import Logistic`` keeps working.
"""

from .univariate import Logistic

__all__ = ["Logistic"]
