"""Debugging aids: a guard against non-finite numbers in a model.

With the guard on, every node of a :class:`~zhusuan.framework.BayesianNet`
checks its value (sample or observation) when it is created and its
log-density when it is computed; the first one with a NaN or an infinity
raises :class:`NonFiniteError` naming the node, its distribution, the range
of each of its parameters and the call of the net, instead of a NaN loss
epochs later::

    with zs.debug.check_numerics():
        loss = model({"x": x})

or, for a whole run, ``zs.debug.enable_check_numerics()``.

Each check reads the checked Var (a synchronisation of Jittor's lazy graph),
so the guard slows training down; when it is off the nodes pay one flag
check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["check_numerics", "enable_check_numerics", "numerics_checked",
           "NonFiniteError"]

# The switch the nodes read (a list, so that importers share the object).
ACTIVE = [False]


class NonFiniteError(FloatingPointError):
    """A node's value or log-density has NaN or infinite entries (see
    :func:`check_numerics`)."""


def enable_check_numerics(enabled: bool = True) -> bool:
    """Turn the non-finite guard on (or off, ``enabled=False``) globally.
    Returns the previous setting."""
    previous = ACTIVE[0]
    ACTIVE[0] = bool(enabled)
    return previous


def numerics_checked() -> bool:
    """Whether the non-finite guard is on."""
    return ACTIVE[0]


@contextlib.contextmanager
def check_numerics(enabled: bool = True) -> Iterator[None]:
    """A context manager: inside it, every node checks its value and its
    log-density for NaN and infinities (see the module's docstring); the
    previous setting is restored on exit."""
    previous = enable_check_numerics(enabled)
    try:
        yield
    finally:
        ACTIVE[0] = previous


def _describe(values):
    a = np.asarray(values, dtype=np.float64)
    n_nan = int(np.isnan(a).sum())
    n_inf = int(np.isinf(a).sum())
    return a, n_nan, n_inf


def _param_ranges(dist):
    parts = []
    try:
        pairs = list(zip(dist._param_labels(), dist._params(), strict=True))
    except Exception:  # an upstream-style subclass: its Var attributes
        pairs = [(k.lstrip("_"), v) for k, v in vars(dist).items()
                 if hasattr(v, "numpy") and hasattr(v, "shape")]
    for label, var in pairs:
        a, n_nan, n_inf = _describe(var.numpy())
        finite = a[np.isfinite(a)]
        rng = (f"[{finite.min():.6g}, {finite.max():.6g}]" if finite.size
               else "no finite entry")
        bad = ", ".join(s for s in (f"{n_nan} NaN" if n_nan else "",
                                     f"{n_inf} inf" if n_inf else "") if s)
        parts.append(f"{label} {rng}" + (f" ({bad})" if bad else "")
                     + f" shape {list(var.shape)}")
    return "; ".join(parts) if parts else "none"


def check_node(node: Any, what: str, var: Any) -> None:
    """Raise :class:`NonFiniteError` if ``var`` (the node's ``what``: its
    sample, observed value or log-density) has a non-finite entry."""
    a, n_nan, n_inf = _describe(var.numpy())
    if not (n_nan or n_inf):
        return
    net = node.bn
    dist = node.dist
    kinds = ", ".join(s for s in (f"{n_nan} NaN" if n_nan else "",
                                  f"{n_inf} inf" if n_inf else "") if s)
    raise NonFiniteError(
        f"check_numerics: node '{node.name}' ({type(dist).__name__}) has a non-finite "
        f"{what} in call {getattr(net, 'n_calls', '?')} of {type(net).__name__}: "
        f"{n_nan + n_inf} of {a.size} entries ({kinds}), shape {list(a.shape)}; "
        f"parameters: {_param_ranges(dist)}"
    )
