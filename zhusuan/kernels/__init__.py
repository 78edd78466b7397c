"""Fused probabilistic kernels and the backends that run them.

This package is the only place in zhusuan that knows about backends. Every op
has one mathematical definition (``csrc/include/zhusuan/*.h``) and up to three
implementations:

``native``
    the pybind11 extension ``zhusuan._C`` (C++/OpenMP), called inside the
    Jittor graph; the fast path.
``jit``
    Jittor ``jt.code`` whose C++ source includes the same headers; the
    fallback when the extension is not built.
``jittor``
    plain Jittor ops (:mod:`zhusuan.kernels.reference`); the reference.

Choose with :func:`set_backend`, or the environment variable
``ZHUSUAN_BACKEND``; :func:`backend_info` reports what is built, what is
chosen and why.

The ops (all arguments are Jittor Vars that broadcast together, numpy style;
``axes`` are axes of the broadcast shape that are summed; ``weight`` is a
Python float multiplied into the result; the result has the broadcast shape
without ``axes``, or ``[1]`` when every axis is reduced):

* ``normal_log_prob(x, mean, scale, logstd, axes, weight)``: ``scale`` is the
  standard deviation, or its log when ``logstd`` is true.
* ``bernoulli_log_prob(x, logits, axes, weight)``.
* ``normal_rsample(mean, scale, eps, logstd, axes, weight) -> (z, log_q)``:
  ``eps`` has the full sample shape; ``z = mean + std * eps`` and ``log_q`` is
  the reduced log-density of ``z``, computed in the same pass. Its gradient
  is the total derivative (through ``z`` as well), as SGVB needs.
* ``family_log_prob(family, x, params, axes, weight)``: the elementwise
  families of ``csrc/include/zhusuan/families.h`` (Gamma, Beta, Laplace, ...;
  :data:`FAMILIES` maps each name to its parameter names), ``params`` in
  that order and form (e.g. ``log_rate`` for Poisson). Gradients reach ``x``
  and every parameter (0 for discrete values and for values outside the
  support, where the log-density is -inf).
* ``log_mean_exp(x, dim)``.
"""

import os

from . import _ext, reference
from ._families import FAMILIES
from ._shapes import broadcast_shapes, normalize_axes, reduced_shape

__all__ = [
    "BACKENDS",
    "set_backend",
    "get_backend",
    "backend_info",
    "normal_log_prob",
    "bernoulli_log_prob",
    "normal_rsample",
    "family_log_prob",
    "FAMILIES",
    "log_mean_exp",
    "broadcast_shapes",
    "normalize_axes",
    "reduced_shape",
]

BACKENDS = ("native", "jit", "jittor")
# Fastest first: the default is the first one that is available (see
# benches/ for the measurements behind this order).
_PREFERENCE = ("native", "jit", "jittor")

_modules = {"jittor": reference}
_errors = {}
_state = {"name": None, "why": None}


def _load(name):
    """Import a backend module on first use; remember why it failed."""
    if name in _modules:
        return _modules[name]
    if name in _errors:
        return None
    try:
        if name == "native":
            from . import native as mod
        elif name == "jit":
            from . import jit as mod
        else:
            raise ValueError(name)
        mod.check_available()
    except Exception as exc:  # report, never crash on import
        _errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    _modules[name] = mod
    return mod


def set_backend(name):
    """Select the backend by name (``'native'``, ``'jit'`` or ``'jittor'``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    if _load(name) is None:
        raise RuntimeError(f"backend {name!r} is not available: {_errors[name]}")
    _state["name"] = name
    _state["why"] = "set_backend()"


def _choose_default():
    env = os.environ.get("ZHUSUAN_BACKEND")
    if env:
        set_backend(env)
        _state["why"] = f"ZHUSUAN_BACKEND={env}"
        return
    for name in _PREFERENCE:
        if _load(name) is not None:
            _state["name"] = name
            _state["why"] = "fastest available backend (default)"
            return


def get_backend():
    """The name of the backend in use."""
    if _state["name"] is None:
        _choose_default()
    return _state["name"]


def backend_info():
    """A dict: each backend's availability (or the reason it is missing),
    the chosen one and why. The ``native`` entry also has ``isa``: the
    instruction set its CPU kernels run with (``active``), those compiled in
    and those this CPU supports, and why (``ZHUSUAN_ISA`` or the default);
    None without the extension."""
    chosen = get_backend()
    info = {"chosen": chosen, "why": _state["why"], "backends": {}}
    for name in BACKENDS:
        ok = _load(name) is not None
        info["backends"][name] = {"available": ok, "reason": _errors.get(name, "")}
    info["backends"]["native"]["isa"] = _ext.isa_info()
    return info


def _impl():
    return _modules[get_backend()]


def normal_log_prob(x, mean, scale, logstd, axes, weight=1.0):
    return _impl().normal_log_prob(x, mean, scale, bool(logstd), tuple(axes), float(weight))


def bernoulli_log_prob(x, logits, axes, weight=1.0):
    return _impl().bernoulli_log_prob(x, logits, tuple(axes), float(weight))


def normal_rsample(mean, scale, eps, logstd, axes, weight=1.0):
    return _impl().normal_rsample(mean, scale, eps, bool(logstd), tuple(axes), float(weight))


def family_log_prob(family, x, params, axes, weight=1.0):
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {sorted(FAMILIES)}")
    params = tuple(params)
    if len(params) != len(FAMILIES[family]):
        raise ValueError(
            f"{family}: expected parameters {FAMILIES[family]}, got {len(params)} values"
        )
    return _impl().family_log_prob(family, x, params, tuple(axes), float(weight))


def log_mean_exp(x, dim):
    return _impl().log_mean_exp(x, dim)
