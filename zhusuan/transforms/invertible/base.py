"""The base class of invertible transforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jittor as jt

from ..._checks import is_int
from ...numerics import dtype_name
from ..base import Transform

__all__ = ["InvertibleTransform"]


class InvertibleTransform(Transform):
    """Base class of transforms with both directions (upstream
    ZhuSuan-Jittor's): subclasses implement ``_forward`` (data to noise) and
    ``_inverse`` (noise to data), each returning ``(outputs..., log_det)``
    (see :mod:`zhusuan.transforms.base` for the log-determinant forms).

    zhusuan's own layers also return the inverse's log-determinant from
    ``_inverse`` and say so with ``has_inverse_log_det = True``; a subclass
    written for upstream (``_inverse`` returning None) keeps the default
    False.
    """

    def __init__(self) -> None:
        super().__init__()
        self.is_invertible = True


def as_dtype_of(v: jt.Var, x: jt.Var) -> jt.Var:
    """``v`` in the dtype of ``x`` (a cast only when they differ)."""
    dt = dtype_name(x)
    return v if dtype_name(v) == dt else v.cast(dt)


def check_trailing(x: Any, shape: Sequence[int], who: str, what: str = "the layer's") -> None:
    """A ValueError unless ``x`` is a Var whose trailing axes are ``shape``."""
    if not isinstance(x, jt.Var):
        raise TypeError(f"{who}: input must be a jittor Var, got {type(x).__name__}")
    shape = list(shape)
    xs = list(x.shape)
    if len(xs) < len(shape) or xs[len(xs) - len(shape):] != shape:
        raise ValueError(f"{who}: input of shape {xs} does not end with {what} "
                         f"shape {shape}")


def positive_int(value: Any) -> bool:
    return is_int(value, 1)
