"""SGD with momentum as one fused update of every parameter."""

import numpy as np

from ..kernels import optim as _kernels
from ._base import FusedOptimizer, _real

__all__ = ["SGD"]


class SGD(FusedOptimizer):
    r"""Stochastic gradient descent with momentum, a drop-in for
    :class:`jittor.optim.SGD` whose update runs as one fused pass over all
    parameters.

    For each parameter :math:`p` with gradient :math:`g` and momentum buffer
    :math:`b` (starting at zero):

    .. math::
        d &= g + \lambda p \\
        b &\leftarrow \mu b + (1 - \tau) d \\
        p &\leftarrow p - \mathrm{lr}\, b
        \qquad \text{(nesterov: } p \leftarrow p - \mathrm{lr} (d + \mu b))

    with :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening`` and
    :math:`\lambda` = ``weight_decay``: the heavy-ball method (Polyak, 1964)
    and Nesterov's momentum in the form of Sutskever et al. ("On the
    importance of initialization and momentum in deep learning", ICML 2013),
    as ``torch.optim.SGD`` and Jittor write them. Jittor's buffer starts at
    zero, so its first step is :math:`(1 - \tau) d` where torch's is
    :math:`d`; we follow Jittor. With ``momentum=0`` it is plain SGD (the
    buffer then holds :math:`(1 - \tau) d`).

    Rounding is Jittor's (float32 constants, the fused multiply-adds of its
    compiled kernel; ``csrc/include/zhusuan/optim.h``); float64 parameters
    get double constants.

    Drop-in coverage and the in-place caveat are those of
    :class:`zhusuan.optim.Adam`: Jittor's constructor
    ``SGD(params, lr, momentum=0, weight_decay=0, dampening=0,
    nesterov=False)``, parameter groups, ``step``, ``backward``,
    ``zero_grad``, ``state_dict`` / ``load_state_dict`` (buffers in each
    group's ``'values'``), mutable hyper-parameters. Invalid values raise:
    ``lr <= 0``, negative ``momentum`` or ``weight_decay``, ``dampening``
    outside [0, 1], and, as in torch, ``nesterov`` without momentum or with
    dampening.

    Args:
        params: a list of Vars, or of parameter-group dicts.
        lr: the learning rate, > 0.
        momentum: :math:`\mu` >= 0.
        weight_decay: :math:`\lambda` >= 0.
        dampening: :math:`\tau` in [0, 1].
        nesterov: Nesterov momentum (needs ``momentum > 0`` and
            ``dampening == 0``).
        backend: as for :class:`zhusuan.optim.Adam` (keyword only).
    """

    _state_keys = ("values",)  # Jittor's name for the momentum buffers

    def __init__(self, params, lr, momentum=0, weight_decay=0, dampening=0,
                 nesterov=False, *, backend=None):
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov
        super().__init__(params, lr, backend=backend)

    def _hyper(self, pg, k=0):
        lr = self._lr(pg, k)
        momentum = _real(self._get(pg, "momentum"), f"momentum (group {k})")
        if momentum < 0:
            raise ValueError(f"momentum (group {k}) must be >= 0, got {momentum!r}")
        wd = _real(self._get(pg, "weight_decay"), f"weight_decay (group {k})")
        if wd < 0:
            raise ValueError(f"weight_decay (group {k}) must be >= 0, got {wd!r}")
        damp = _real(self._get(pg, "dampening"), f"dampening (group {k})")
        if not 0.0 <= damp <= 1.0:
            raise ValueError(f"dampening (group {k}) must be in [0, 1], got {damp!r}")
        nesterov = bool(self._get(pg, "nesterov"))
        if nesterov and (momentum <= 0 or damp != 0):
            raise ValueError(f"nesterov (group {k}) needs momentum > 0 and dampening "
                             f"0, got momentum {momentum!r} and dampening {damp!r}")
        return (lr, momentum, 1.0 - damp, wd, 1.0 if nesterov else 0.0)

    def _update(self, backend, by_dtype, deps):
        for _dtype, (tensors, hypers) in by_dtype.items():
            rows = np.array(hypers, dtype=np.float64)
            params, grads, buffers = (list(x) for x in zip(*tensors, strict=True))
            _kernels.sgd_step(backend, params, grads, buffers, rows, deps)
