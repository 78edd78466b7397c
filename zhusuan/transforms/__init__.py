"""Transforms for normalizing flows (docs/design.md, "transforms").

A :class:`Transform` is a :class:`jittor.Module` with a forward direction
(data to noise, returning the log-determinant of its Jacobian) and an
inverse direction (noise to data); :class:`Sequential` chains them. The
layers are in :mod:`zhusuan.transforms.invertible`, re-exported here, so
``from zhusuan.transforms import *`` gives them all.
"""

from __future__ import annotations

from . import invertible
from .base import Transform, per_sample_log_det, split_output
from .invertible import *  # noqa: F401,F403
from .invertible import __all__ as _invertible_all
from .sequential import Sequential

__all__ = ["Transform", "Sequential", "per_sample_log_det", "split_output",
           "invertible"] + list(_invertible_all)
