"""Optimisers whose update is one fused native pass over all parameters.

Drop-ins for Jittor's :class:`jittor.optim.Adam` and
:class:`jittor.optim.SGD` (same constructors, parameter groups, ``step``,
``backward``, ``zero_grad``, ``state_dict`` / ``load_state_dict`` in Jittor's
format). The update of one element is written once, in
``csrc/include/zhusuan/optim.h``, and runs on the backends of
:mod:`zhusuan.kernels.optim`; :func:`backend_info` says which one an
optimiser uses and why.
"""

from ..kernels.optim import backend_info
from .adam import Adam
from .sgd import SGD

__all__ = ["Adam", "SGD", "backend_info"]
