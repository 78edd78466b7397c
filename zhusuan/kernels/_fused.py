"""Python plumbing shared by the ``native`` and ``jit`` backends.

Both wrap each fused op in a :class:`jittor.Function` whose forward and
backward are native kernels; what they share is the argument handling: one
float dtype for all operands, the broadcast shape and reduction plan, and
which inputs want a gradient.
"""

import jittor as jt

from ..numerics import dtype_name
from ..numerics import log_mean_exp as _log_mean_exp
from ._families import FAMILIES
from ._shapes import broadcast_shapes, normalize_axes, reduced_shape

__all__ = [
    "Plan",
    "common_dtype",
    "plan",
    "wants_grad",
    "materialize",
    "fused_ops",
    "family_op",
]


def common_dtype(*vs):
    """Cast Vars to one float dtype: float64 if any is float64, else float32.

    The casts are ordinary Jittor ops outside the fused kernel, so gradients
    flow back through them to the caller's dtype.
    """
    dts = [dtype_name(v) for v in vs]
    dt = "float64" if "float64" in dts else "float32"
    return [v if d == dt else v.cast(dt) for v, d in zip(vs, dts, strict=True)], dt


class Plan:
    """Shapes of one call: the broadcast shape, the normalised axes, the
    output shape and every operand's shape (as lists of ints)."""

    __slots__ = ("full", "axes", "out_shape", "shapes")

    def __init__(self, op, vs, names, axes):
        self.shapes = [list(v.shape) for v in vs]
        try:
            self.full = list(broadcast_shapes(*self.shapes, what=list(names)))
            self.axes = list(normalize_axes(axes, len(self.full)))
        except ValueError as exc:
            raise ValueError(f"{op}: {exc}") from None
        self.out_shape = list(reduced_shape(self.full, self.axes))


def plan(op, vs, names, axes):
    return Plan(op, vs, names, axes)


def wants_grad(v):
    """False for Vars that can never receive a gradient (stop_grad)."""
    return isinstance(v, jt.Var) and not v.is_stop_grad()


def materialize(vs):
    """Copy shape-[1] Vars into ordinary ones before they enter a custom op.

    Works around a Jittor 1.3.11 bug: a ``jt.array`` of shape [1] is marked
    "force fuse" (inlined as a constant into fused kernels). When such a Var
    reaches ``jt.numpy_code`` or ``jt.code`` through ``jt.Function`` (which
    tapes its inputs) the ArrayOp is never run, and the custom op reads
    whatever its buffer held before (seen here: zeros, or a previous
    Var's bits). A clone is an ordinary op whose output is always written.
    The same applies to the upstream gradient of a [1]-shaped output.
    """
    return [v.clone() if v is not None and list(v.shape) == [1] else v for v in vs]


def fused_ops(normal_fn, bernoulli_fn, rsample_fn):
    """The backend's public ops, given its three :class:`jittor.Function`
    classes, each constructed as ``cls(*config, plan, weight, need, dtype)``
    (``config``: ``(logstd,)`` for the Normal ops, nothing for Bernoulli).

    Returns ``(normal_log_prob, bernoulli_log_prob, normal_rsample,
    log_mean_exp)`` with the signatures of :mod:`zhusuan.kernels`.
    """

    def normal_log_prob(x, mean, scale, logstd, axes, weight):
        (x, mean, scale), dt = common_dtype(*materialize([x, mean, scale]))
        p = plan("normal_log_prob", (x, mean, scale), ("x", "mean", "scale"), axes)
        need = [wants_grad(v) for v in (x, mean, scale)]
        return normal_fn(bool(logstd), p, float(weight), need, dt)(x, mean, scale)

    def bernoulli_log_prob(x, logits, axes, weight):
        (x, logits), dt = common_dtype(*materialize([x, logits]))
        p = plan("bernoulli_log_prob", (x, logits), ("x", "logits"), axes)
        need = [wants_grad(v) for v in (x, logits)]
        return bernoulli_fn(p, float(weight), need, dt)(x, logits)

    def normal_rsample(mean, scale, eps, logstd, axes, weight):
        (mean, scale, eps), dt = common_dtype(*materialize([mean, scale, eps]))
        p = plan("normal_rsample", (mean, scale, eps), ("mean", "scale", "eps"), axes)
        if list(eps.shape) != p.full:
            raise ValueError(
                f"normal_rsample: eps has shape {list(eps.shape)} but must have the "
                f"full sample shape {p.full} (mean {p.shapes[0]}, scale {p.shapes[1]})"
            )
        need = [wants_grad(v) for v in (mean, scale)]
        return rsample_fn(bool(logstd), p, float(weight), need, dt)(mean, scale, eps)

    def log_mean_exp(x, dim):
        """Not a fused kernel: the stable Jittor version from
        :mod:`zhusuan.numerics`."""
        return _log_mean_exp(x, dim)

    return normal_log_prob, bernoulli_log_prob, normal_rsample, log_mean_exp


def family_op(family_fn):
    """The backend's ``family_log_prob``, given its :class:`jittor.Function`
    class, constructed as ``cls(family, plan, weight, need, dtype)`` and
    applied to ``(x, *params)``."""

    def family_log_prob(family, x, params, axes, weight):
        vs, dt = common_dtype(*materialize([x, *params]))
        p = plan(f"{family}.log_prob", vs, ("x",) + FAMILIES[family], axes)
        need = [wants_grad(v) for v in vs]
        return family_fn(family, p, float(weight), need, dt)(*vs)

    return family_log_prob
