"""Sequential: a chain of transforms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import jittor as jt
from jittor import nn

from .._checks import is_int
from ..numerics import dtype_name
from .base import Transform, TransformOutput, per_sample_log_det

__all__ = ["Sequential"]


class Sequential(Transform):
    r"""Chain transforms: the forward direction runs ``modules`` in order, the
    inverse direction in reverse order.

    .. math::
        \log\left|\det \frac{\partial (f_K \circ \dots \circ f_1)}{\partial x}
        \right| = \sum_{k=1}^K \log\left|\det \frac{\partial f_k}{\partial h_{k-1}}
        \right|

    Each layer receives the previous layer's outputs as positional arguments
    (several variables may flow through the chain) and the ``kwargs`` given
    to the call. Each layer's log-determinant is first brought to per-sample
    form (:func:`~zhusuan.transforms.base.per_sample_log_det`: summed over
    the last ``event_ndims`` axes when it has the rank of the layer's first
    input), so layers that return elementwise log-determinants (Scaling's
    ``[1, D]``) and per-sample ones (``[B]``) can be mixed.

    Parameters
    ----------
    modules : list of Transform
    event_ndims : int
        How many trailing axes of the (first) transformed variable form one
        event.

    Returns
    -------
    Forward: ``(outputs, log_det)``, ``outputs`` a tuple of Vars and
    ``log_det`` the per-sample total (``zeros([1])`` in the input's dtype
    when every layer is volume-preserving). Inverse: the tuple of outputs
    only, as upstream; :meth:`inverse_and_log_det` gives the inverse's
    log-determinant too.
    """

    def __init__(self, modules: Sequence[Transform], event_ndims: int = 1) -> None:
        super().__init__()
        if isinstance(modules, Transform) or not isinstance(modules, (list, tuple)):
            raise TypeError("Sequential: modules must be a list of Transforms, got "
                            f"{type(modules).__name__}")
        bad = [f"{i}: {type(m).__name__}" for i, m in enumerate(modules)
               if not isinstance(m, Transform)]
        if bad:
            raise TypeError(f"Sequential: every module must be a Transform; got "
                            f"{', '.join(bad)}")
        if not is_int(event_ndims, 0):
            raise ValueError(f"Sequential: event_ndims must be a non-negative int, "
                             f"got {event_ndims!r}")
        self.event_ndims = int(event_ndims)
        self.layers = nn.Sequential(list(modules))

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Transform:
        return self.layers[i]

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.layers)

    @property  # (a class attribute of Transform; a property of the layers here)
    def has_inverse_log_det(self) -> bool:  # type: ignore[override]
        """Whether every layer's inverse returns its log-determinant."""
        return all(layer.has_inverse_log_det for layer in self.layers)

    def _chain(self, inputs, inverse, kwargs):
        layers = list(self.layers)
        if inverse:
            layers = layers[::-1]
        total = None
        values = tuple(inputs)
        for layer in layers:
            if not values:
                raise ValueError("Sequential: a layer returned no outputs")
            shape = list(values[0].shape)
            if isinstance(layer, Sequential):
                # (Its _inverse returns the outputs only.)
                values, log_det = layer._chain(values, inverse, kwargs)
            elif inverse:
                values, log_det = layer.inverse_and_log_det(*values, **kwargs)
            else:
                values, log_det = layer.forward_and_log_det(*values, **kwargs)
            who = f"Sequential layer {type(layer).__name__}"
            log_det = per_sample_log_det(log_det, shape, self.event_ndims, who)
            if log_det is not None:
                total = log_det if total is None else total + log_det
        if total is None:
            dt = dtype_name(inputs[0]) if inputs and isinstance(inputs[0], jt.Var) \
                else "float32"
            total = jt.zeros([1], dtype=dt)
        return values, total

    def _forward(self, *x, **kwargs):
        return self._chain(x, False, kwargs)

    def _inverse(self, *z, **kwargs):
        return self._chain(z, True, kwargs)[0]

    def forward_and_log_det(self, *x: Any, **kwargs: Any) -> TransformOutput:
        return self._chain(x, False, kwargs)

    def inverse_and_log_det(self, *z: Any, **kwargs: Any) -> TransformOutput:
        """``(outputs, log_det)`` of the inverse direction, ``log_det`` per
        sample; a ValueError if a layer does not return its inverse's
        log-determinant (see :attr:`Transform.has_inverse_log_det`)."""
        missing = [type(m).__name__ for m in self.layers if not m.has_inverse_log_det]
        if missing:
            raise ValueError(
                f"Sequential: the inverse log-determinant is unknown: {missing} do not "
                "declare has_inverse_log_det")
        return self._chain(z, True, kwargs)
