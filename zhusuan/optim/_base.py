"""What zhusuan's optimisers share: Jittor's Optimizer, plus the fused step.

The optimisers subclass :class:`jittor.optim.Optimizer`, so that everything
but the update itself is Jittor's own code: the constructor's parameter
groups, ``backward`` (``jt.grad`` into ``param_groups[i]['grads']``),
``zero_grad``, ``clip_grad_norm``, ``Var.opt_grad``, ``state_dict`` /
``load_state_dict`` and the MPI handling. ``step`` computes the gradients the
same way (``pre_step``) and then runs one fused update of every parameter on
a :mod:`zhusuan.kernels.optim` backend.

Under MPI (``mpirun``, see :mod:`zhusuan.distributed`) the update sees the
gradients Jittor's ``backward`` has all-reduced (the mean over ranks, before
they reach the kernel), so every rank applies the same update to the same
parameters. Those start equal: the constructor broadcasts rank 0's values
(Jittor broadcasts them only in the first ``backward``, after that step's
gradients were taken at each rank's own initial values).
"""

import math
import numbers

import jittor as jt
import numpy as np

from .. import distributed as _dist
from ..kernels import optim as _kernels

__all__ = ["FusedOptimizer"]

_FLOATS = ("float32", "float64")


def _real(value, what):
    if isinstance(value, jt.Var) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


class FusedOptimizer(jt.optim.Optimizer):
    """Base class: a Jittor optimiser whose update is one fused kernel.

    Subclasses set ``_state_keys`` (the per-parameter state lists each group
    holds, named as in Jittor's optimiser of the same name) and implement
    ``_hyper(group, k)`` (the validated hyper-parameters of group k) and
    ``_update(backend, by_dtype, deps)``: ``by_dtype`` maps each dtype to
    ``(tensors, hypers)``, ``tensors`` a list of (param, grad, *states)
    tuples and ``hypers`` their groups' hyper-parameters; ``deps`` the Vars
    to evaluate before any parameter is written.
    """

    _state_keys = ()

    def __init__(self, params, lr, backend=None):
        if isinstance(params, jt.Var):
            raise TypeError("params must be a list of Vars or of parameter-group "
                            "dicts, not a single Var")
        params = list(params)
        if not params:
            raise ValueError("the optimiser got no parameters (an empty list)")
        super().__init__(params, lr)
        self._backend, self._backend_why = _kernels.resolve(backend)
        self._pending = []  # losses given to backward() since the last step
        seen = set()
        for k, pg in enumerate(self.param_groups):
            self._init_group(pg, k, seen)
        for k, pg in enumerate(self.param_groups):
            self._hyper(pg, k)  # every group's hyper-parameters are valid
        # Under MPI, every rank starts from rank 0's parameters.
        _dist.broadcast_parameters([p for pg in self.param_groups for p in pg["params"]])

    # ------------------------------------------------------------ groups ----
    def _init_group(self, pg, k, seen):
        if "params" not in pg:
            raise ValueError(f"parameter group {k} has no 'params' list")
        params = pg["params"]
        if isinstance(params, jt.Var):
            params = pg["params"] = [params]
        pg["params"] = params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, jt.Var):
                raise TypeError(f"parameter {i} of group {k} is a {type(p).__name__}, "
                                "not a jittor Var")
            if str(p.dtype) not in _FLOATS:
                raise TypeError(f"parameter {i} of group {k} (shape {list(p.shape)}) "
                                f"has dtype {p.dtype}; only float32 and float64 are "
                                "updated")
            if id(p) in seen:
                raise ValueError(f"parameter {i} of group {k} (shape {list(p.shape)}) "
                                 "appears more than once among the parameters; each "
                                 "parameter must be given once")
            seen.add(id(p))
        for key in self._state_keys:
            # Zeros of the parameter's shape and dtype, like Jittor's.
            pg[key] = [jt.zeros(p.shape, p.dtype).stop_grad() for p in params]

    def add_param_group(self, group):
        seen = {id(p) for pg in self.param_groups for p in pg["params"]}
        self._init_group(group, len(self.param_groups), seen)
        self._hyper(group, len(self.param_groups))
        _dist.broadcast_parameters(group["params"])
        self.param_groups.append(group)

    def _get(self, pg, key):
        return pg.get(key, getattr(self, key))

    def _lr(self, pg, k):
        lr = _real(self._get(pg, "lr"), f"lr (group {k})")
        if lr <= 0:
            raise ValueError(f"lr (group {k}) must be positive, got {lr!r}")
        return lr

    # -------------------------------------------------------------- step ----
    @property
    def backend(self):
        """The backend that runs the update (see :func:`zhusuan.optim.backend_info`)."""
        return self._backend

    def __repr__(self):
        n = sum(len(pg["params"]) for pg in self.param_groups)
        return (f"<{type(self).__name__}: {n} parameters in {len(self.param_groups)} "
                f"group(s), backend {self._backend!r} ({self._backend_why})>")

    def backward(self, loss, retain_graph=False):
        """Jittor's ``Optimizer.backward`` (gradients accumulate until
        ``zero_grad`` or ``step``). The loss is remembered so that ``step``
        evaluates it before writing the parameters in place."""
        super().backward(loss, retain_graph)
        self._pending.append(loss)

    def step(self, loss=None, retain_graph=False):
        """``backward(loss)`` when a loss is given, then one fused update of
        every parameter that is not ``stop_grad`` (as Jittor skips them).

        The hyper-parameters are checked first, so that a bad value raises
        before any gradient is computed or any state changes.
        """
        hypers = [self._hyper(pg, k) for k, pg in enumerate(self.param_groups)]
        self.pre_step(loss, retain_graph)
        try:
            if any("grads" not in pg for pg in self.param_groups):
                raise RuntimeError("step() without a loss needs gradients from an "
                                   "earlier backward(loss)")
            by_dtype = {}
            for pg, hyper in zip(self.param_groups, hypers, strict=True):
                lists = [pg["params"], pg["grads"], *(pg[s] for s in self._state_keys)]
                for arrays in zip(*lists, strict=True):
                    p = arrays[0]
                    if p.is_stop_grad():
                        continue
                    entry = by_dtype.setdefault(str(p.dtype), ([], []))
                    entry[0].append(arrays)
                    entry[1].append(hyper)
            self._update(self._backend, by_dtype, self._pending)
        finally:
            self._pending = []
            self.post_step()

    # ------------------------------------------------------------- state ----
    def load_state_dict(self, state):
        """Jittor's ``load_state_dict``, then each state array is copied into a
        fresh Var of its parameter's dtype (the update writes in place, so it
        must own its buffers; ``jt.save`` round trips may also have turned
        float64 arrays into float32)."""
        super().load_state_dict(state)
        for k, pg in enumerate(self.param_groups):
            for key in (*self._state_keys, "grads"):
                if key not in pg:
                    if key == "grads":
                        continue
                    raise ValueError(
                        f"the state dict has no '{key}' for parameter group {k}")
                arrays = pg[key]
                if len(arrays) != len(pg["params"]):
                    raise ValueError(f"the state dict's '{key}' of group {k} has "
                                     f"{len(arrays)} arrays for {len(pg['params'])} "
                                     "parameters")
                pairs = zip(arrays, pg["params"], strict=True)
                pg[key] = [self._own(x, p, key, k, i) for i, (x, p) in enumerate(pairs)]

    @staticmethod
    def _own(x, p, key, k, i):
        data = x.numpy() if isinstance(x, jt.Var) else np.asarray(x)
        if list(data.shape) != list(p.shape) and data.size != int(np.prod(p.shape)):
            raise ValueError(f"the state dict's '{key}'[{i}] of group {k} has shape "
                             f"{list(data.shape)}; its parameter has {list(p.shape)}")
        data = np.ascontiguousarray(data.reshape(p.shape), dtype=str(p.dtype))
        with jt.flag_scope(auto_convert_64_to_32=0):
            return jt.array(data).stop_grad()
