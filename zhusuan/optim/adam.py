"""Adam as one fused update of every parameter."""

import math

import numpy as np

from ..kernels import optim as _kernels
from ._base import FusedOptimizer, _real

__all__ = ["Adam"]


class Adam(FusedOptimizer):
    r"""Adam (Kingma & Ba, 2015), a drop-in for :class:`jittor.optim.Adam`
    whose update runs as one fused pass over all parameters.

    For each parameter :math:`p` with gradient :math:`g` at step :math:`t`
    (counted by ``backward``, from 1):

    .. math::
        d &= g + \lambda p \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) d \\
        v &\leftarrow \beta_2 v + (1 - \beta_2) d^2 \\
        p &\leftarrow p - \alpha_t \frac{m}{\sqrt{v} + \epsilon},
        \qquad \alpha_t = \mathrm{lr} \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}

    with :math:`\lambda` = ``weight_decay`` (L2 added to the gradient, as in
    Jittor and ``torch.optim.Adam``, not decoupled as in AdamW) and
    :math:`m, v` starting at zero. This is Algorithm 1 of Kingma & Ba
    ("Adam: A Method for Stochastic Optimization", ICLR 2015) with the bias
    corrections folded into the step size as in their Section 2, and with
    :math:`\epsilon` added to :math:`\sqrt{v}` before the correction of
    :math:`v` (Jittor's order, so :math:`\epsilon` acts as
    :math:`\epsilon \sqrt{1 - \beta_2^t}` would in the paper's formula).

    Rounding is Jittor's: for float32 parameters each constant
    (:math:`\beta_1`, :math:`1 - \beta_1` computed in double, ...) is rounded
    once to float32 and :math:`\alpha_t` is computed in float32 as Jittor
    computes it (``lr * sqrt(1 - b2**t) / (1 - b1**t)`` with float32
    operations); the element update uses the fused multiply-adds of Jittor's
    compiled kernel (``csrc/include/zhusuan/optim.h``). float64 parameters
    get double constants and a double :math:`\alpha_t` (Jittor rounds them to
    float32 even there, a relative difference below 1e-7).

    What "drop-in" covers: the constructor ``Adam(params, lr, eps=1e-8,
    betas=(0.9, 0.999), weight_decay=0)`` with ``params`` a list of Vars or
    of parameter-group dicts (``{'params': [...], 'lr': ..., 'betas': ...,
    'eps': ..., 'weight_decay': ...}``, missing keys taken from the
    optimiser); ``step(loss)``, ``step()`` after ``backward(loss)``,
    ``backward``, ``zero_grad``, ``clip_grad_norm``, ``add_param_group``,
    ``Var.opt_grad``; ``state_dict()`` / ``load_state_dict()`` in Jittor's
    format (state in each group's ``'m'`` and ``'values'`` lists, the step
    count in ``n_step``), interchangeable with ``jt.optim.Adam``'s;
    ``lr``, ``betas``, ``eps`` and ``weight_decay`` may be changed on the
    optimiser or in a group between steps; ``param_groups``. Parameters that
    are ``stop_grad`` are skipped; one that the loss does not reach gets a
    zero gradient (Jittor logs "grads[i] ... doesn't have gradient. It will
    be set to zero") and is still updated (its moments decay, weight decay
    applies), exactly as in Jittor.

    What differs: the parameters and the state are updated *in place*. A
    lazy Var computed from a parameter before ``step`` and evaluated only
    after it sees the new value (the loss given to ``step`` or ``backward``
    is always evaluated first), and a parameter sharing memory with another
    Var (e.g. a reshape of it) changes that Var too. Invalid hyper-parameters
    (``lr <= 0``, betas outside [0, 1), negative ``eps`` or
    ``weight_decay``), a parameter listed twice and non-float parameters
    raise instead of training silently wrong (Jittor checks none of these).

    Args:
        params: a list of Vars, or of parameter-group dicts.
        lr: the learning rate, > 0.
        eps: added to :math:`\sqrt{v}`, >= 0.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
        weight_decay: :math:`\lambda` >= 0.
        backend: ``'native'``, ``'jit'`` or ``'jittor'`` (keyword only; not
            in Jittor's signature); default: the backend of
            :mod:`zhusuan.kernels`, or the next one that can run here (see
            :func:`zhusuan.optim.backend_info`).

    Example::

        model = Net()
        optimizer = zs.optim.Adam(model.parameters(), 1e-3)
        for x in batches:
            loss = model(x)
            optimizer.step(loss)
    """

    _state_keys = ("values", "m")  # Jittor's names: v (second moment), m (first)

    def __init__(self, params, lr, eps=1e-8, betas=(0.9, 0.999), weight_decay=0, *,
                 backend=None):
        self.eps = eps
        self.betas = betas
        self.weight_decay = weight_decay
        super().__init__(params, lr, backend=backend)

    def _hyper(self, pg, k=0):
        lr = self._lr(pg, k)
        eps = _real(self._get(pg, "eps"), f"eps (group {k})")
        if eps < 0:
            raise ValueError(f"eps (group {k}) must be >= 0, got {eps!r}")
        betas = self._get(pg, "betas")
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas (group {k}) must be a pair (beta1, beta2), "
                             f"got {betas!r}") from None
        b1 = _real(b1, f"betas[0] (group {k})")
        b2 = _real(b2, f"betas[1] (group {k})")
        for i, b in enumerate((b1, b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"betas[{i}] (group {k}) must be in [0, 1), got {b!r}")
        wd = _real(self._get(pg, "weight_decay"), f"weight_decay (group {k})")
        if wd < 0:
            raise ValueError(f"weight_decay (group {k}) must be >= 0, got {wd!r}")
        return lr, eps, b1, b2, wd

    def _update(self, backend, by_dtype, deps):
        t = float(self.n_step)
        if t < 1:
            raise RuntimeError("Adam.step() before any backward(): the step count is 0")
        for dtype, (tensors, hypers) in by_dtype.items():
            rows = np.array([_row(h, t, dtype) for h in hypers], dtype=np.float64)
            params, grads, values, m = (list(x) for x in zip(*tensors, strict=True))
            _kernels.adam_step(backend, params, grads, m, values, rows, deps)


def _row(hyper, t, dtype):
    """The coefficient row of zhusuan/optim.h for one group at step t."""
    lr, eps, b1, b2, wd = hyper
    if dtype == "float32":
        # Jittor: lr * jt.sqrt(1 - b2**t) / (1 - b1**t), every operation in
        # float32 (the Python floats become float32 constants).
        f = np.float32
        step_size = float(f(lr) * np.sqrt(f(1.0 - b2**t)) / f(1.0 - b1**t))
    else:
        step_size = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    return (b1, 1.0 - b1, b2, 1.0 - b2, eps, wd, step_size)
