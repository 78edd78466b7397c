"""The Distribution base class: shapes, sampling and validation in one place.

A distribution holds its parameters as given (broadcast, never tiled) and
knows three shapes:

* ``batch_shape``: the broadcast shape of its parameters, minus
  ``value_shape``;
* ``value_shape``: the shape of one event (``[]`` for univariate families);
* a sample of ``sample(n_samples)`` has shape
  ``[n_samples] + batch_shape + value_shape`` (no leading axis when
  ``n_samples`` is None).

``log_prob(given)`` sums the last ``group_ndims`` batch axes. Subclasses
implement ``_log_prob_reduced(given, axes, weight)`` (the elementwise density
summed over ``axes`` of the broadcast shape, times ``weight``, which is where
the fused kernels come in) and ``_sample(n_samples)``.
"""

import copy

import jittor as jt
import numpy as np

from .. import kernels
from ..numerics import FLOAT_DTYPES, as_var, dtype_name

__all__ = ["Distribution"]


class Distribution:
    """Base class of every distribution.

    Subclasses set the class attributes:

    * ``param_names``: the keyword arguments they accept as parameters;
    * ``is_continuous``;
    * ``has_rsample``: whether reparameterised sampling exists.

    Parameters
    ----------
    dtype : str or None
        Dtype of samples (float32 or float64). Defaults to the parameters'.
    group_ndims : int
        How many trailing batch axes form one event in ``log_prob``.
    is_reparameterized : bool
        Whether samples carry gradients to the parameters.
    validate_args : bool
        Check parameter constraints and the support of observed values.
    """

    param_names = ()
    is_continuous = True
    has_rsample = False

    def __init__(self, dtype=None, group_ndims=0, is_reparameterized=None,
                 validate_args=False, value_shape=()):
        if dtype is not None and dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"{type(self).__name__}: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}"
            )
        self._dtype = dtype
        if not isinstance(group_ndims, int) or group_ndims < 0:
            raise ValueError(
                f"{type(self).__name__}: group_ndims must be a non-negative int, "
                f"got {group_ndims!r}"
            )
        self.group_ndims = group_ndims
        if is_reparameterized is None:
            is_reparameterized = self.has_rsample
        if is_reparameterized and not self.has_rsample:
            raise ValueError(
                f"{type(self).__name__} has no reparameterised sampler; "
                "pass is_reparameterized=False"
            )
        self.is_reparameterized = bool(is_reparameterized)
        self.validate_args = bool(validate_args)
        self._value_shape = tuple(value_shape)

    # -- shapes ---------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def value_shape(self):
        return list(self._value_shape)

    @property
    def batch_shape(self):
        full = kernels.broadcast_shapes(*[list(p.shape) for p in self._params()])
        if self._value_shape:
            full = full[: len(full) - len(self._value_shape)]
        return list(full)

    # Attributes holding parameter Vars (for _detached); set by subclasses.
    _param_attrs = ()

    def _params(self):
        """The parameter Vars that determine the batch shape."""
        raise NotImplementedError

    def _detached(self):
        """A shallow copy whose parameters carry no gradient."""
        other = copy.copy(self)
        for attr in self._param_attrs:
            value = getattr(self, attr)
            if isinstance(value, jt.Var):
                setattr(other, attr, value.detach())
        return other

    def _infer_dtype(self, *values):
        """Fix the dtype from the parameters when none was given.

        float64 if any parameter given as a Var or numpy array/scalar is
        float64, else float32. Python numbers are weak: they take the dtype of
        the arrays they meet (as in NumPy and Jittor), so the default
        ``mean=0.0`` does not turn a float32 model into float64, and the
        order of the parameters does not matter.
        """
        if self._dtype is not None:
            return
        strong = [dtype_name(v) if isinstance(v, jt.Var) else str(v.dtype)
                  for v in values if isinstance(v, (jt.Var, np.ndarray, np.generic))]
        self._dtype = "float64" if "float64" in strong else "float32"

    def _param(self, value, name):
        """Turn a user's parameter into a Var of the distribution's dtype."""
        v = as_var(value, dtype=self._dtype, name=f"{type(self).__name__}.{name}")
        if self._dtype is None:
            if dtype_name(v) not in FLOAT_DTYPES:
                v = v.cast("float32")
            self._dtype = dtype_name(v)
        return v

    # -- sampling and densities -------------------------------------------------
    def sample(self, n_samples=None):
        """Draw a sample of shape ``[n_samples] + batch_shape + value_shape``.

        Reparameterised (gradients reach the parameters) when
        ``is_reparameterized``; otherwise the sample is detached.
        """
        _check_n_samples(n_samples, type(self).__name__)
        s = self._sample(n_samples)
        return s if self.is_reparameterized else s.detach()

    def log_prob(self, given):
        """Log-density of ``given``, summed over the last ``group_ndims`` axes."""
        given = self._prepare_value(given)
        full = self._full_shape(given)
        rank = len(full) - len(self._value_shape)
        if self.group_ndims > rank:
            raise ValueError(
                f"{type(self).__name__}: group_ndims={self.group_ndims} exceeds the "
                f"batch rank of shape {list(full)}"
            )
        axes = list(range(rank - self.group_ndims, rank))
        return self._log_prob_reduced(given, axes, 1.0)

    def _prepare_value(self, given, node=None):
        what = f"node '{node}'" if node else type(self).__name__
        v = as_var(given, dtype=self.dtype, name=f"{what} value")
        if dtype_name(v) != self.dtype:
            v = v.cast(self.dtype)
        if self.validate_args:
            self._validate_value(v, what)
        return v

    def _validate_value(self, value, what):
        """Check the support of an observed value (subclasses)."""

    def _full_shape(self, given):
        shapes = [list(given.shape)] + [list(p.shape) for p in self._params()]
        return kernels.broadcast_shapes(*shapes)

    def _sample(self, n_samples):
        raise NotImplementedError

    def _log_prob_reduced(self, given, axes, weight):
        raise NotImplementedError

    def _rsample_log_prob(self, n_samples, axes, weight):
        """A reparameterised sample and its reduced log-density in one pass.

        Returns None when the family has no fused sampler (the caller then
        samples and scores separately).
        """
        return None

    @staticmethod
    def _reduce(elem, axes, weight):
        """Sum a per-event log-density ``elem`` over ``axes`` (accumulated in
        float64) and multiply by ``weight``: the reduction of an unfused
        family, identical to the reference backend's."""
        return kernels.reference._reduce(elem, axes, weight)

    def _sample_shape(self, n_samples):
        shape = self.batch_shape + self.value_shape
        return ([n_samples] if n_samples is not None else []) + shape


def _check_n_samples(n_samples, who):
    if n_samples is None:
        return
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"{who}: n_samples must be None or an integer >= 1, got {n_samples!r}")


def _randn(shape, dtype):
    # jt.randn / jt.random ignore dtype='float64' (they always draw float32),
    # and a cast keeps float32 resolution (24 bits); the underlying op draws
    # in the requested dtype, from the same seeded generator.
    return jt.ops.random(tuple(shape), dtype, "normal")


def _rand(shape, dtype):
    """Uniform draws on [0, 1) in ``dtype`` (see :func:`_randn`)."""
    return jt.ops.random(tuple(shape), dtype, "uniform")
