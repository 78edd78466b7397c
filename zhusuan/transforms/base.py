r"""The :class:`Transform` base class and the log-determinant conventions.

Directions (upstream ZhuSuan-Jittor's): the *forward* direction maps data to
noise, :math:`x \mapsto z = f(x)`, and returns the log-determinant of its
Jacobian, :math:`\log|\det \partial f / \partial x|`, so that
:math:`\log p(x) = \log p_Z(f(x)) + \log|\det \partial f/\partial x|`. The
*inverse* direction maps noise to data, :math:`z \mapsto x = f^{-1}(z)`, and
(in zhusuan, not upstream) also returns the log-determinant of *its* Jacobian,
:math:`\log|\det \partial f^{-1}/\partial z| = -\log|\det \partial
f/\partial x|` at :math:`x = f^{-1}(z)`, when it is known, so that a flow can
score its own samples: :math:`\log p(x) = \log p_Z(z) - \log|\det \partial
f^{-1}/\partial z|`.

Return values. A transform of one variable returns ``(y, log_det)``; a
transform of several returns them flat, ``(y, v, log_det)``, or nested,
``((y, v), log_det)``. :func:`split_output` reads all three forms.

Log-determinant shapes. ``log_det`` is None (meaning 0: a volume-preserving
map), or a Var in one of two forms:

* *elementwise*: the rank of the transformed variable (e.g. ``[1, D]`` or
  ``[B, D]`` for an input ``[B, D]``), broadcastable to it; the
  log-determinant is the sum, over the *event axes* (the last
  ``event_ndims`` axes), of its broadcast to the input's shape (e.g. the log
  of the diagonal of a triangular Jacobian);
* *per sample*: already summed, with the input's shape minus the event axes
  (``[B]`` for an input ``[B, D]``, or anything broadcastable to that).

:func:`per_sample_log_det` turns either form into the second (by rank: a
log-determinant with the rank of the input is elementwise), which is what
:class:`~zhusuan.transforms.Sequential` and
:class:`~zhusuan.flows.Flow` do before adding log-determinants up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import jittor as jt

from ..numerics import const, dtype_name

#: What :meth:`Transform.forward_and_log_det` and
#: :meth:`Transform.inverse_and_log_det` return: the outputs and the
#: log-determinant (None, elementwise or per sample).
TransformOutput = tuple[tuple[jt.Var, ...], Optional[jt.Var]]

__all__ = ["Transform", "split_output", "per_sample_log_det"]


class Transform(jt.Module):
    r"""Base class of transforms: a :class:`jittor.Module` with two directions.

    Subclasses implement ``_forward(*inputs, **kwargs)`` (data to noise) and,
    when it exists, ``_inverse(*inputs, **kwargs)`` (noise to data); each
    returns the transformed variables and a log-determinant (see the module
    docstring for the forms). Calling the module, ``t(*inputs,
    inverse=False, **kwargs)``, runs :meth:`execute`, which dispatches on
    ``inverse``.

    Set the class attribute ``has_inverse_log_det = True`` when ``_inverse``
    returns the log-determinant of the inverse map (None only when it is 0).
    It is False by default because upstream ZhuSuan-Jittor's transforms
    return None from ``_inverse`` whatever their Jacobian; a
    :class:`~zhusuan.flows.Flow` whose transform does not declare it scores
    its samples with the forward direction instead.

    Example: an elementwise affine map ``z = a x + b``::

        class Affine(Transform):
            has_inverse_log_det = True

            def __init__(self, a, b):
                super().__init__()
                self.a, self.b = jt.array(a), jt.array(b)

            def _forward(self, x, **kwargs):
                ld = jt.log(jt.abs(self.a)).broadcast(x.shape)  # elementwise
                return self.a * x + self.b, ld

            def _inverse(self, z, **kwargs):
                ld = -jt.log(jt.abs(self.a)).broadcast(z.shape)
                return (z - self.b) / self.a, ld
    """

    has_inverse_log_det = False

    def __init__(self) -> None:
        super().__init__()
        self.is_invertible = True

    def _forward(self, *args, **kwargs):
        """Data to noise: ``(outputs..., log_det)``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement the forward (data -> noise) "
            "direction")

    def _inverse(self, *args, **kwargs):
        """Noise to data: ``(outputs..., log_det)``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement the inverse (noise -> data) "
            "direction")

    def execute(self, *args: Any, inverse: bool = False, **kwargs: Any) -> Any:
        """Run the forward (``inverse=False``, data to noise) or the inverse
        (noise to data) direction; ``kwargs`` are passed on to it."""
        if inverse:
            return self._inverse(*args, **kwargs)
        return self._forward(*args, **kwargs)

    def forward_and_log_det(self, *args: Any, **kwargs: Any) -> TransformOutput:
        """The forward direction as ``(tuple_of_outputs, log_det)`` whatever
        form the transform returns (log_det as returned: None, elementwise or
        per sample)."""
        return split_output(self(*args, inverse=False, **kwargs), self, "forward")

    def inverse_and_log_det(self, *args: Any, **kwargs: Any) -> TransformOutput:
        """The inverse direction as ``(tuple_of_outputs, log_det)``; the
        log-determinant is only meaningful if :attr:`has_inverse_log_det`."""
        return split_output(self(*args, inverse=True, **kwargs), self, "inverse")


def split_output(out: Any, who: Any = None, direction: str = "forward") -> TransformOutput:
    """``(tuple_of_outputs, log_det)`` from a transform's return value, which
    is ``(y, log_det)``, ``(y, v, ..., log_det)`` or ``((y, v, ...), log_det)``.
    """
    name = type(who).__name__ if who is not None else "transform"
    if not isinstance(out, tuple) or len(out) < 2:
        raise TypeError(
            f"{name}: the {direction} direction must return (outputs..., log_det) or "
            f"((outputs...), log_det), got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, tuple) else ""))
    log_det = out[-1]
    if log_det is not None and not isinstance(log_det, jt.Var):
        raise TypeError(f"{name}: the {direction} direction's log_det must be a Var or "
                        f"None, got {type(log_det).__name__}")
    if isinstance(out[0], tuple):
        if len(out) != 2:
            raise TypeError(f"{name}: the {direction} direction returned nested "
                            f"outputs and {len(out) - 1} more values; expected "
                            "((outputs...), log_det)")
        outputs = out[0]
    else:
        outputs = out[:-1]
    return tuple(outputs), log_det


def per_sample_log_det(log_det: jt.Var | None, input_shape: Sequence[int],
                       event_ndims: int = 1, who: str = "transform") -> jt.Var | None:
    """A log-determinant in per-sample form (see the module docstring).

    An elementwise one (the rank of ``input_shape``, the shape of the
    transformed variable) is summed over its last ``event_ndims`` axes,
    counting each entry once per element of the input it broadcasts over
    (Scaling's ``[1, D]`` on events ``[H, D]`` counts ``H`` times); a
    per-sample one (lower rank) is returned as it is; None stays None.
    """
    if log_det is None:
        return None
    input_shape = [int(d) for d in input_shape]
    in_rank = len(input_shape)
    shape = list(log_det.shape)
    rank = len(shape)
    if rank > in_rank:
        raise ValueError(
            f"{who}: log_det of shape {shape} has more axes than the transformed "
            f"variable of shape {input_shape}")
    if rank < in_rank or event_ndims == 0:
        return log_det
    if event_ndims > rank:
        raise ValueError(f"{who}: event_ndims={event_ndims} exceeds the rank of the "
                         f"transformed variable of shape {input_shape}")
    axes = list(range(rank - event_ndims, rank))
    repeat = 1
    for a in axes:
        if shape[a] == 1 and input_shape[a] != 1:
            repeat *= input_shape[a]
        elif shape[a] != input_shape[a]:
            raise ValueError(f"{who}: log_det of shape {shape} does not broadcast to "
                             f"the transformed variable of shape {input_shape}")
    out = log_det.sum(dims=tuple(axes))
    if repeat != 1:
        out = out * const(float(repeat), dtype_name(out))
    return out
