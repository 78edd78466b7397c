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

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jittor as jt
import numpy as np

from .. import kernels
from .._checks import check_int
from ..numerics import FLOAT_DTYPES, VarLike, as_var, dtype_name

__all__ = ["Distribution", "upstream_options", "check_finite"]


class _InstanceFirst:
    """A read-only computed attribute that an instance attribute of the same
    name takes precedence over (a non-data descriptor): the base class's
    ``mean``, which families whose parameter is called ``mean`` keep as an
    attribute of the instance."""

    def __init__(self, fget: Callable[[Any], jt.Var]) -> None:
        self.fget = fget
        self.__doc__ = fget.__doc__

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return self.fget(obj)


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
    param_dtype : str or None
        Upstream ZhuSuan-Jittor's dtype of the parameters. zhusuan computes
        in one dtype, so this must equal ``dtype`` when both are given; it is
        kept as :attr:`param_dtype`.
    is_continuous : bool or None
        Overrides the class attribute (upstream passes it positionally).
    is_reparameterized : bool
        Whether samples carry gradients to the parameters.
    use_path_derivative : bool
        Score this distribution's samples with its parameters detached in the
        ELBO ("sticking the landing", Roeder et al. 2017), as
        ``ELBO(use_path_derivative=True)`` does for every latent.
    group_ndims : int
        How many trailing batch axes form one event in ``log_prob``.
    validate_args : bool
        Check parameter constraints and the support of observed values.

    Notes
    -----
    The positional order ``(dtype, param_dtype, is_continuous,
    is_reparameterized, use_path_derivative, group_ndims)`` is upstream
    ZhuSuan-Jittor's, so that its user subclasses work unchanged. Such a
    subclass implements ``_batch_shape()``, ``_sample(n_samples)`` and
    ``_log_prob(given)`` (the elementwise log-density) and passes its own
    parameters on as keyword arguments, which are accepted here; zhusuan's
    families reject unknown keyword arguments themselves (see
    :func:`upstream_options`). ``_sample`` of such a subclass is called with
    ``n_samples=1`` for a single draw (upstream's convention), and a draw
    for ``n_samples=1`` without the leading axis gets it (zhusuan's shape
    contract, docs/design.md).
    """

    param_names: tuple[str, ...] = ()
    is_continuous: bool = True
    has_rsample: bool = False
    _upstream_style = False  # set per subclass by __init_subclass__
    # Set by the constructor (the dtype by the first parameter, when not given).
    group_ndims: int
    is_reparameterized: bool
    use_path_derivative: bool
    validate_args: bool
    _dtype: str | None
    _value_shape: tuple[int, ...]

    def __init__(self, dtype: str | None = None, param_dtype: str | None = None,
                 is_continuous: bool | None = None, is_reparameterized: bool | None = None,
                 use_path_derivative: bool = False, group_ndims: int = 0,
                 validate_args: bool = False, value_shape: Sequence[int] = (),
                 **kwargs: Any) -> None:
        name = type(self).__name__
        if dtype is not None and dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name}: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
        if param_dtype is not None:
            if param_dtype not in FLOAT_DTYPES:
                raise ValueError(f"{name}: param_dtype must be one of {FLOAT_DTYPES}, "
                                 f"got {param_dtype!r}")
            if dtype is not None and param_dtype != dtype:
                raise ValueError(f"{name}: dtype={dtype!r} and param_dtype={param_dtype!r} "
                                 "differ; zhusuan computes in one dtype")
            dtype = param_dtype
        self._dtype = dtype
        if (isinstance(group_ndims, bool) or not isinstance(group_ndims, numbers.Integral)
                or group_ndims < 0):
            raise ValueError(f"{name}: group_ndims must be a non-negative int, "
                             f"got {group_ndims!r}")
        self.group_ndims = int(group_ndims)
        if is_continuous is not None:
            self.is_continuous = bool(is_continuous)
        if is_reparameterized is None:
            is_reparameterized = self.has_rsample
        if is_reparameterized and not self.has_rsample and not self._upstream_style:
            # (An upstream-style subclass decides for itself, as upstream did.)
            raise ValueError(f"{name} has no reparameterised sampler; "
                             "pass is_reparameterized=False")
        self.is_reparameterized = bool(is_reparameterized)
        self.use_path_derivative = bool(use_path_derivative)
        self.validate_args = bool(validate_args)
        self._value_shape = tuple(value_shape)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # An upstream-style subclass writes the elementwise ``_log_prob``.
        cls._upstream_style = hasattr(cls, "_log_prob")

    @property
    def param_dtype(self) -> str | None:
        """The dtype of the parameters (the same as :attr:`dtype` here)."""
        return self._dtype

    # -- shapes ---------------------------------------------------------------
    @property
    def dtype(self) -> str:
        """``'float32'`` or ``'float64'``: of the samples, the parameters and
        the densities."""
        # Fixed by the constructor (given, or by the parameters); None only
        # in an upstream-style subclass that never set it.
        return self._dtype  # type: ignore[return-value]

    @property
    def value_shape(self) -> list[int]:
        return list(self._value_shape)

    @property
    def batch_shape(self) -> list[int]:
        """The broadcast shape of the parameters, without ``value_shape``."""
        return list(self._batch_shape())

    def _batch_shape(self):
        # Upstream ZhuSuan-Jittor's hook; zhusuan's families derive it from
        # their parameters (``_params``).
        full = kernels.broadcast_shapes(*[list(p.shape) for p in self._params()])
        if self._value_shape:
            full = full[: len(full) - len(self._value_shape)]
        return full

    # Attributes holding parameter Vars (for _detached); set by subclasses.
    _param_attrs: tuple[str, ...] = ()

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

    def _param(self, value, name, neg_inf_ok=False):
        """Turn a user's parameter into a Var of the distribution's dtype.

        Under ``validate_args`` a parameter with NaN or infinite entries is a
        ValueError naming it and counting them (``neg_inf_ok``: ``-inf`` is
        a meaningful value, as for the logits of a class of probability 0).
        """
        v = as_var(value, dtype=self._dtype, name=f"{type(self).__name__}.{name}")
        if self._dtype is None:
            if dtype_name(v) not in FLOAT_DTYPES:
                v = v.cast("float32")
            self._dtype = dtype_name(v)
        if getattr(self, "validate_args", False):
            check_finite(v, f"{type(self).__name__}: parameter '{name}'", neg_inf_ok)
        self.__dict__.setdefault("_given_params", set()).add(name)
        return v

    # Parameters the kernels take in another form than the one a user may
    # give (the kernels' name: the user's), for error messages.
    _ALIASES: Mapping[str, str] = {"logstd": "std", "log_rate": "rate", "logits": "probs"}

    def _param_labels(self):
        """The names of the Vars of :meth:`_params`, as the user gave them
        (``std`` rather than the ``logstd`` computed from it): error
        messages name them."""
        attrs = list(getattr(self, "_kernel_attrs", ())) + list(self._param_attrs)
        given = self.__dict__.get("_given_params", ())
        labels = []
        for k, var in enumerate(self._params()):
            attr = next((a for a in attrs if getattr(self, a, None) is var), None)
            name = attr.lstrip("_") if attr else f"parameter {k}"
            if name not in given and self._ALIASES.get(name) in given:
                name = self._ALIASES[name]
            labels.append(name)
        return labels

    # -- sampling and densities -------------------------------------------------
    def sample(self, n_samples: int | None = None) -> jt.Var:
        """Draw a sample of shape ``[n_samples] + batch_shape + value_shape``.

        Reparameterised (gradients reach the parameters) when
        ``is_reparameterized``; otherwise the sample is detached.
        """
        n_samples = _check_n_samples(n_samples, type(self).__name__)
        if self._upstream_style:
            s = self._sample(1 if n_samples is None else n_samples)
            if n_samples == 1 and len(s.shape) == len(self.batch_shape + self.value_shape):
                s = s.unsqueeze(0)
        else:
            s = self._sample(n_samples)
        return s if self.is_reparameterized else s.detach()

    def log_prob(self, given: VarLike) -> jt.Var:
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

    # ``mean`` is a default that an instance attribute of that name hides
    # (see _InstanceFirst): Normal and the Gaussians with Cholesky factors
    # keep their parameter there, as upstream does.
    @_InstanceFirst
    def mean(self) -> jt.Var:
        """The mean of each element, shape ``batch_shape + value_shape``
        (families with a closed form define it; the others raise).

        Normal, MultivariateNormalCholesky and MatrixVariateNormalCholesky
        keep their ``mean`` parameter here, as given (not broadcast). For
        FoldNormal and LogNormal, ``mean`` is upstream's name of the mean of
        the underlying normal, not the distribution's mean."""
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form mean in zhusuan")

    @property
    def variance(self) -> jt.Var:
        """The variance of each element, shape ``batch_shape + value_shape``
        (families with a closed form define it; the others raise)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form variance in zhusuan")

    def entropy(self) -> jt.Var:
        """The differential entropy (or the Shannon entropy of a discrete
        family) of each element in nats, shape ``batch_shape`` (families with
        a closed form define it; the others raise)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form entropy in zhusuan")

    def _over_batch(self, v):
        """``v`` broadcast to the distribution's batch shape."""
        return jt.broadcast(v, shape=self.batch_shape)

    def _over_values(self, v):
        """``v`` broadcast to ``batch_shape + value_shape``."""
        return jt.broadcast(v, shape=self.batch_shape + self.value_shape)

    def _batch_params(self, *vs):
        """The Vars ``vs`` broadcast (lazily, never materialised) to the
        batch shape, for the closed-form moments. Jittor 1.3.11 miscompiles
        a float64 kernel that reads twice a shape-[1] input broadcast against
        a longer axis (zhusuan/kernels/reference.py, ``_expand``): the
        moments broadcast their parameters first and make each constant
        afresh for each use."""
        shape = self.batch_shape
        return [v if list(v.shape) == shape else v.broadcast(shape) for v in vs]

    def prob(self, given: VarLike) -> jt.Var:
        """Density (or mass) of ``given``: ``exp(log_prob(given))``, as in
        torch.distributions and ZhuSuan. Computations should stay in
        log-space (:meth:`log_prob`); this underflows to 0 where the
        log-density is below about -87 (float32) or -745 (float64)."""
        return jt.exp(self.log_prob(given))

    def __repr__(self) -> str:
        """The family, each parameter's name (as the user gave it) and
        shape, the dtype and ``group_ndims``, e.g.
        ``Normal(mean: [4, 3], std: [1], dtype=float32)``."""
        parts = []
        try:
            params = list(zip(self._param_labels(), self._params(), strict=False))
        except (NotImplementedError, AttributeError):
            params = []  # an upstream-style subclass that keeps its own
        parts += [f"{name}: {list(var.shape)}" for name, var in params]
        parts.append(f"dtype={self._dtype}")
        if self.group_ndims:
            parts.append(f"group_ndims={self.group_ndims}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _prepare_value(self, given, node=None):
        what = f"node '{node}'" if node else type(self).__name__
        v = as_var(given, dtype=self.dtype, name=f"{what} value")
        if dtype_name(v) != self.dtype:
            v = v.cast(self.dtype)
        if self.validate_args:
            cls = type(self).__name__
            check_finite(v, f"{what} ({cls}): value" if node else f"{cls}: value")
            self._validate_value(v, what)
        return v

    def _validate_value(self, value, what):
        """Check the support of an observed value (subclasses)."""

    def _full_shape(self, given):
        if self._upstream_style:
            shapes = [list(given.shape), self.batch_shape + self.value_shape]
            names = ["value", "batch_shape + value_shape"]
        else:
            shapes = [list(given.shape)] + [list(p.shape) for p in self._params()]
            names = ["value"] + self._param_labels()
        try:
            return kernels.broadcast_shapes(*shapes, what=names)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}.log_prob: {exc}") from None

    def _sample(self, n_samples):
        raise NotImplementedError

    def _log_prob_reduced(self, given, axes, weight):
        if not self._upstream_style:
            raise NotImplementedError
        # An upstream-style subclass: its elementwise ``_log_prob`` (one value
        # per event), broadcast to the batch shape, reduced here.
        full = list(self._full_shape(given))
        batch = full[: len(full) - len(self._value_shape)] or [1]
        elem = self._log_prob(given)
        if list(elem.shape) != batch:
            elem = elem.broadcast(batch)
        return self._reduce(elem, [a for a in axes if a < len(batch)], weight)

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


def check_finite(var: jt.Var, what: str, neg_inf_ok: bool = False) -> None:
    """ValueError unless every entry of ``var`` is finite (``-inf`` allowed
    when ``neg_inf_ok``); the message starts with ``what`` and counts the
    NaN and infinite entries. Reads the Var once (a sync): for
    ``validate_args``, off the hot path."""
    a = np.asarray(var.numpy())
    n_nan = int(np.isnan(a).sum())
    n_pinf = int(np.isposinf(a).sum())
    n_ninf = 0 if neg_inf_ok else int(np.isneginf(a).sum())
    bad = n_nan + n_pinf + n_ninf
    if bad:
        kinds = ", ".join(f"{n} {k}" for n, k in
                          ((n_nan, "NaN"), (n_pinf, "+inf"), (n_ninf, "-inf")) if n)
        allowed = " (-inf is allowed)" if neg_inf_ok else ""
        raise ValueError(
            f"{what} must be finite{allowed}: {bad} of {a.size} entries are not "
            f"({kinds}), shape {list(a.shape)}"
        )


def _check_n_samples(n_samples, who):
    """``n_samples`` as an int (or None); ValueError unless None or an
    integral number >= 1 (``numpy.int64`` included, ``True`` refused)."""
    return check_int(n_samples, "n_samples", 1, who, allow_none=True)


def _randn(shape, dtype):
    # jt.randn / jt.random ignore dtype='float64' (they always draw float32),
    # and a cast keeps float32 resolution (24 bits); the underlying op draws
    # in the requested dtype, from the same seeded generator.
    return jt.ops.random(tuple(shape), dtype, "normal")


def _rand(shape, dtype):
    """Uniform draws on [0, 1) in ``dtype`` (see :func:`_randn`)."""
    return jt.ops.random(tuple(shape), dtype, "uniform")


# Keyword arguments that upstream ZhuSuan-Jittor's families accept besides
# their parameters, and the name zhusuan's base class gives them.
_UPSTREAM_OPTIONS = {
    "param_dtype": "param_dtype",
    "is_continues": "is_continuous",  # upstream's spelling
    "is_continuous": "is_continuous",
    "use_path_derivative": "use_path_derivative",
}


def upstream_options(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Split a family's leftover keyword arguments: those upstream accepted
    (``param_dtype``, ``is_continues``, ``use_path_derivative``) come back
    as base-class options; anything else is a TypeError naming it."""
    unknown = sorted(k for k in kwargs if k not in _UPSTREAM_OPTIONS)
    if unknown:
        raise TypeError(f"{name}: unknown argument(s) {unknown}")
    return {_UPSTREAM_OPTIONS[k]: v for k, v in kwargs.items()}
