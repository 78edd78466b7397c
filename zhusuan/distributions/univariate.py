"""The univariate families beyond Normal and Bernoulli.

Each class converts what users pass into the form the kernels use (log-space
where one exists: ``logstd``, ``log_rate``, ``logits``) and hands its
log-density to the generic fused op ``kernels.family_log_prob`` (the math is
in ``csrc/include/zhusuan/families.h``, one block per family); except
BinConcrete, whose density is written here in Jittor ops.

Samples are reparameterised where the family allows it: location-scale and
inverse-CDF families directly, Gamma, Beta and StudentT through the implicit
gradients of :func:`zhusuan.distributions.gamma.standard_gamma`
(InverseGamma as ``beta / Gamma(alpha)``). Discrete
families (Poisson, Geometric, Binomial) sample float counts in the
distribution's dtype and are never reparameterised.
"""

from __future__ import annotations

import math
from typing import Any

import jittor as jt
import numpy as np

from .. import kernels
from ..numerics import (
    VarLike,
    const,
    digamma,
    dtype_name,
    expm1,
    lgamma,
    log1p,
    probs_to_logits,
    softplus,
)
from .base import Distribution, _rand, _randn, upstream_options
from .gamma import seed_var, seeded_rng, standard_gamma

__all__ = [
    "FoldNormal",
    "Laplace",
    "Logistic",
    "Exponential",
    "HalfNormal",
    "LogNormal",
    "Uniform",
    "Poisson",
    "Geometric",
    "Binomial",
    "Gamma",
    "Beta",
    "StudentT",
    "BinConcrete",
    "Cauchy",
    "HalfCauchy",
    "InverseGamma",
]


def _one_of(cls, a_name, a, b_name, b):
    if (a is None) == (b is None):
        raise ValueError(
            f"{cls}: pass exactly one of '{a_name}' or '{b_name}' "
            f"(got {'both' if a is not None else 'neither'})"
        )


def _rand_open(shape, dtype):
    """Uniform draws strictly inside (0, 1): [0, 1) draws with 0 replaced by
    the dtype's smallest normal number (so log(u) is finite)."""
    u = _rand(shape, dtype)
    tiny = const(float(np.finfo(dtype).tiny), dtype)
    return jt.maximum(u, tiny)


def _where(cond, a, b):
    """``a`` where ``cond`` holds, else ``b`` (``a`` and ``cond`` of one
    shape, ``b`` broadcast to it)."""
    shape = list(a.shape)
    return jt.ternary(cond, a, b if list(b.shape) == shape else b.broadcast(shape))


_LOG_2PI = math.log(2.0 * math.pi)

# The closed-form moments below broadcast the parameters to the batch shape
# first and make every constant afresh for each use (Distribution._batch_params).


class _Family(Distribution):
    """A univariate family: parameter set-up, validation and the fused
    log-density. Subclasses set ``_family`` (the kernel family's name) and
    ``_kernel_attrs`` (attributes holding the kernel's parameters, in the
    kernel's order)."""

    _family: str | None = None
    _kernel_attrs: tuple[str, ...] = ()

    def _setup(self, dtype, group_ndims, is_reparameterized, validate_args, kwargs, **given):
        opts = upstream_options(type(self).__name__, kwargs)
        super().__init__(dtype=dtype, group_ndims=group_ndims,
                         is_reparameterized=is_reparameterized,
                         validate_args=validate_args, **opts)
        self._infer_dtype(*given.values())
        out = {}
        for name, value in given.items():
            v = self._param(value, name)
            out[name] = v if dtype_name(v) == self._dtype else v.cast(self._dtype)
        try:
            kernels.broadcast_shapes(*[list(v.shape) for v in out.values()],
                                     what=list(out))
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        return out

    def _check(self, name, value, ok, what):
        """Under validate_args: raise unless ``ok`` (a boolean Var) holds everywhere."""
        if self.validate_args:
            if list(ok.shape) != list(value.shape):
                ok = ok.broadcast(value.shape)
            n_bad = int((~ok.numpy()).sum())
            if n_bad:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be {what} (shape "
                    f"{list(value.shape)}): {n_bad} of {value.numel()} entries are not"
                )

    # Support check of observed values under validate_args: None, ">= 0" or "> 0".
    _support: str | None = None

    def _validate_value(self, value, what):
        if self._support is None:
            return
        ok = value >= 0 if self._support == ">= 0" else value > 0
        if not bool(ok.all().item()):
            raise ValueError(f"{what}: {type(self).__name__} values must be {self._support}")

    def _params(self):
        return [getattr(self, a) for a in self._kernel_attrs]

    def _log_prob_reduced(self, given, axes, weight):
        return kernels.family_log_prob(self._family, given, self._params(), axes, weight)

    def _base_noise(self, n_samples, draw=_randn):
        return draw(self._sample_shape(n_samples), self.dtype)


class _LogScaleMixin:
    """``std`` or ``logstd`` for the families parameterised by the scale of a
    Normal (the kernels take logstd)."""

    def _init_scale(self, std, logstd, args, **others):
        """Set up ``others`` and exactly one of std / logstd; the kernels get
        ``self._logstd``. ``args``: (dtype, group_ndims, is_reparameterized,
        validate_args, kwargs)."""
        _one_of(type(self).__name__, "std", std, "logstd", logstd)
        name = "std" if std is not None else "logstd"
        p = self._setup(*args, **others, **{name: std if std is not None else logstd})
        if std is not None:
            self._check("std", p["std"], p["std"] > 0, "> 0")
            self._logstd = jt.log(p["std"])
        else:
            self._logstd = p["logstd"]
        return p

    @property
    def logstd(self) -> jt.Var:
        return self._logstd

    @property
    def std(self) -> jt.Var:
        return jt.exp(self._logstd)


class FoldNormal(_LogScaleMixin, _Family):
    r"""The distribution of ``|y|`` for ``y ~ N(mean, std^2)``.

    .. math:: p(x) = \frac{1}{\sigma}\left[\phi\!\left(\frac{x-\mu}{\sigma}\right)
              + \phi\!\left(\frac{x+\mu}{\sigma}\right)\right],\quad x \ge 0

    computed as a log-sum-exp of the two Gaussian terms. Reparameterised:
    ``|mean + std * eps|``.
    """

    param_names = ("mean", "std", "logstd")
    has_rsample = True
    _family = "FoldNormal"
    _support = ">= 0"
    _kernel_attrs = ("mean", "_logstd")
    _param_attrs = ("mean", "_logstd")

    def __init__(self, mean: VarLike = 0.0, std: VarLike | None = None,
                 logstd: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        args = (dtype, group_ndims, is_reparameterized, validate_args, kwargs)
        self.mean = self._init_scale(std, logstd, args, mean=mean)["mean"]

    @property
    def variance(self) -> jt.Var:
        r"""``std^2 (1 - 4 g (t + g))`` with ``t = |mean| / std`` and
        ``g = phi(t) - t Phi(-t)``: ``mean^2 + std^2 - E|y|^2`` rearranged
        so that nothing cancels when ``|mean| >> std`` (there ``g`` is tiny
        and the variance tends to ``std^2``). The distribution's mean has no
        attribute: ``mean`` is the underlying normal's (upstream's name)."""
        dt = self.dtype
        mean, logstd = self._batch_params(self.mean, self._logstd)
        t = jt.abs(mean) * jt.exp(-logstd)
        pdf = jt.exp(const(-0.5, dt) * t * t - const(0.5 * _LOG_2PI, dt))
        tail = const(0.5, dt) * (const(1.0, dt) - jt.erf(t * const(math.sqrt(0.5), dt)))
        g = pdf - t * tail
        return (jt.exp(const(2.0, dt) * logstd)
                * (const(1.0, dt) - const(4.0, dt) * g * (t + g)))

    def _sample(self, n_samples):
        return jt.abs(self.mean + self.std * self._base_noise(n_samples))


class HalfNormal(_LogScaleMixin, _Family):
    r"""The distribution of ``|y|`` for ``y ~ N(0, std^2)``: ``p(x) = 2 N(x; 0, std)``
    for ``x >= 0``. Reparameterised: ``std * |eps|``."""

    param_names = ("std", "logstd")
    has_rsample = True
    _family = "HalfNormal"
    _support = ">= 0"
    _kernel_attrs = ("_logstd",)
    _param_attrs = ("_logstd",)

    def __init__(self, std: VarLike | None = None, logstd: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        self._init_scale(std, logstd, (dtype, group_ndims, is_reparameterized, validate_args,
                                       kwargs))

    @property
    def mean(self) -> jt.Var:
        """``std sqrt(2 / pi)``, from ``logstd``."""
        return jt.exp(self._logstd + const(0.5 * math.log(2.0 / math.pi), self.dtype))

    @property
    def variance(self) -> jt.Var:
        """``std^2 (1 - 2 / pi)``, from ``logstd``."""
        dt = self.dtype
        return jt.exp(const(2.0, dt) * self._logstd + const(math.log(1.0 - 2.0 / math.pi), dt))

    def entropy(self) -> jt.Var:
        """``log std + log(pi e / 2) / 2``."""
        return self._logstd + const(0.5 * math.log(0.5 * math.pi * math.e), self.dtype)

    def _sample(self, n_samples):
        return self.std * jt.abs(self._base_noise(n_samples))


class LogNormal(_LogScaleMixin, _Family):
    r"""The distribution of ``exp(y)`` for ``y ~ N(mean, std^2)``.

    .. math:: \log p(x) = -\log x - \log\sigma - \tfrac12\log 2\pi
              - \frac{(\log x - \mu)^2}{2\sigma^2},\quad x > 0

    Reparameterised: ``exp(mean + std * eps)``.
    """

    param_names = ("mean", "std", "logstd")
    has_rsample = True
    _family = "LogNormal"
    _support = "> 0"
    _kernel_attrs = ("mean", "_logstd")
    _param_attrs = ("mean", "_logstd")

    def __init__(self, mean: VarLike = 0.0, std: VarLike | None = None,
                 logstd: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        args = (dtype, group_ndims, is_reparameterized, validate_args, kwargs)
        self.mean = self._init_scale(std, logstd, args, mean=mean)["mean"]

    @property
    def variance(self) -> jt.Var:
        """``(exp(s) - 1) exp(2 mean + s)`` with ``s = std^2``, computed as
        ``exp(2 mean + 2 s + log(-expm1(-s)))``: ``exp(s)`` never overflows
        where the variance is finite, and nothing cancels for small ``std``.
        The distribution's mean, ``exp(mean + s / 2)``, has no attribute:
        ``mean`` is the underlying normal's (upstream's name)."""
        dt = self.dtype
        mean, logstd = self._batch_params(self.mean, self._logstd)
        s = jt.exp(const(2.0, dt) * logstd)
        return jt.exp(const(2.0, dt) * mean + const(2.0, dt) * s + jt.log(-expm1(-s)))

    def entropy(self) -> jt.Var:
        """``mean + log std + (1 + log 2 pi) / 2``."""
        mean, logstd = self._batch_params(self.mean, self._logstd)
        return mean + logstd + const(0.5 * (1.0 + _LOG_2PI), self.dtype)

    def _sample(self, n_samples):
        return jt.exp(self.mean + self.std * self._base_noise(n_samples))


class _LocScale(_Family):
    """A location-scale family given ``loc`` and ``scale`` (> 0)."""

    param_names = ("loc", "scale")
    has_rsample = True
    _kernel_attrs = ("loc", "scale")
    _param_attrs = _kernel_attrs

    def __init__(self, loc: VarLike = 0.0, scale: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        loc=loc, scale=scale)
        self.loc, self.scale = p["loc"], p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")

    @property
    def mean(self) -> jt.Var:
        """``loc`` (both location-scale families here are symmetric about it)."""
        return self._batch_params(self.loc)[0]


class Laplace(_LocScale):
    r"""Laplace distribution: :math:`\log p(x) = -|x - \mathrm{loc}|/b - \log 2b`.

    Reparameterised by the inverse CDF: ``loc + b log(2u)`` for ``u < 1/2``,
    ``loc - b log(2 - 2u)`` otherwise, ``u ~ U(0, 1)``.
    """

    _family = "Laplace"

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand_open)
        dt = self.dtype
        two, half = const(2.0, dt), const(0.5, dt)
        lower = jt.log(two * u)
        upper = -jt.log(two - two * u)
        return self.loc + self.scale * jt.where(u < half, lower, upper)

    @property
    def variance(self) -> jt.Var:
        (scale,) = self._batch_params(self.scale)
        return const(2.0, self.dtype) * scale * scale

    def entropy(self) -> jt.Var:
        """1 + log(2 b)."""
        (scale,) = self._batch_params(self.scale)
        return jt.log(const(2.0, self.dtype) * scale) + const(1.0, self.dtype)


class Logistic(_LocScale):
    r"""Logistic distribution, :math:`z = (x - \mathrm{loc})/s`,
    :math:`\log p(x) = -z - 2\,\mathrm{softplus}(-z) - \log s`.

    Reparameterised: ``loc + s (log u - log(1 - u))``.
    """

    _family = "Logistic"

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand_open)
        return self.loc + self.scale * (jt.log(u) - log1p(-u))

    @property
    def variance(self) -> jt.Var:
        (scale,) = self._batch_params(self.scale)
        return const(math.pi ** 2 / 3, self.dtype) * scale * scale

    def entropy(self) -> jt.Var:
        """log s + 2."""
        (scale,) = self._batch_params(self.scale)
        return jt.log(scale) + const(2.0, self.dtype)


class Exponential(_Family):
    r"""Exponential distribution: :math:`\log p(x) = \log\lambda - \lambda x`,
    ``x >= 0``. Reparameterised: ``-log(1 - u) / rate``."""

    param_names = ("rate",)
    has_rsample = True
    _family = "Exponential"
    _support = ">= 0"
    _kernel_attrs = ("rate",)
    _param_attrs = _kernel_attrs

    def __init__(self, rate: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        rate=rate)
        self.rate = p["rate"]
        self._check("rate", self.rate, self.rate > 0, "> 0")

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand)
        return -log1p(-u) / self.rate

    @property
    def mean(self) -> jt.Var:
        return const(1.0, self.dtype) / self.rate

    @property
    def variance(self) -> jt.Var:
        """``1 / rate^2``, divided twice (``rate^2`` could overflow)."""
        (rate,) = self._batch_params(self.rate)
        return const(1.0, self.dtype) / rate / rate

    def entropy(self) -> jt.Var:
        """1 - log(rate)."""
        return const(1.0, self.dtype) - jt.log(self.rate)


class Uniform(_Family):
    r"""Uniform distribution on ``[minval, maxval)``: :math:`\log p(x) =
    -\log(\mathrm{maxval} - \mathrm{minval})` inside, ``-inf`` outside.
    Reparameterised: ``minval + (maxval - minval) u``."""

    param_names = ("minval", "maxval")
    has_rsample = True
    _family = "Uniform"
    _kernel_attrs = ("minval", "maxval")
    _param_attrs = _kernel_attrs

    def __init__(self, minval: VarLike = 0.0, maxval: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        minval=minval, maxval=maxval)
        self.minval, self.maxval = p["minval"], p["maxval"]
        self._check("maxval", self.maxval, self.maxval > self.minval, "> minval")

    def _validate_value(self, value, what):
        ok = jt.logical_and(value >= self.minval, value < self.maxval)
        if not bool(ok.all().item()):
            raise ValueError(f"{what}: Uniform values must lie in [minval, maxval)")

    @property
    def mean(self) -> jt.Var:
        """``(minval + maxval) / 2``, halved before the sum (no overflow)."""
        dt = self.dtype
        lo, hi = self._batch_params(self.minval, self.maxval)
        return lo * const(0.5, dt) + hi * const(0.5, dt)

    @property
    def variance(self) -> jt.Var:
        """``(maxval - minval)^2 / 12``."""
        lo, hi = self._batch_params(self.minval, self.maxval)
        width = hi - lo
        return width * width / const(12.0, self.dtype)

    def entropy(self) -> jt.Var:
        """``log(maxval - minval)``."""
        lo, hi = self._batch_params(self.minval, self.maxval)
        return jt.log(hi - lo)

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand)
        return self.minval + (self.maxval - self.minval) * u


def _check_counts(value, what, family):
    ok = jt.logical_and(value >= 0, value == jt.floor(value))
    if not bool(ok.all().item()):
        raise ValueError(f"{what}: {family} values must be non-negative integers")


def _numpy_draw(shape, dtype, inputs, fn):
    """Draw with NumPy inside the graph: ``fn(rng, *arrays)`` returns an array
    of ``shape``. The generator is seeded from Jittor's, so
    ``jt.set_global_seed`` makes the draws reproducible."""
    seed = seed_var()

    def body(np_, data):
        *arrays, s = data["inputs"]
        rng = seeded_rng(s)
        arrays = [np.broadcast_to(a, shape) for a in arrays]
        data["outputs"][0][...] = fn(rng, *arrays)

    ins = [v.clone() if list(v.shape) == [1] else v for v in inputs]
    return jt.numpy_code(list(shape), dtype, [*ins, seed], body).detach()


class Poisson(_Family):
    r"""Poisson distribution, given ``rate`` or ``log_rate``:
    :math:`\log p(k) = k \log\lambda - \lambda - \log k!`.

    The kernels take the log-rate (a ``rate`` is logged once). Samples are
    float counts (NumPy's sampler, seeded from Jittor's generator).
    """

    param_names = ("rate", "log_rate")
    is_continuous = False
    _family = "Poisson"
    _kernel_attrs = ("log_rate",)
    _param_attrs = _kernel_attrs

    def __init__(self, rate: VarLike | None = None, log_rate: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        _one_of("Poisson", "rate", rate, "log_rate", log_rate)
        name = "rate" if rate is not None else "log_rate"
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        **{name: rate if rate is not None else log_rate})
        if rate is not None:
            self._check("rate", p["rate"], p["rate"] >= 0, ">= 0")
            self.log_rate = jt.log(p["rate"])
        else:
            self.log_rate = p["log_rate"]

    @property
    def rate(self) -> jt.Var:
        return jt.exp(self.log_rate)

    @property
    def mean(self) -> jt.Var:
        """The rate, ``exp(log_rate)``. (The entropy has no closed form.)"""
        return self.rate

    @property
    def variance(self) -> jt.Var:
        """The rate, ``exp(log_rate)``."""
        return self.rate

    def _validate_value(self, value, what):
        _check_counts(value, what, "Poisson")

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        return _numpy_draw(shape, self.dtype, [self.rate],
                           lambda rng, lam: rng.poisson(lam.astype(np.float64)))


class Geometric(_Family):
    r"""Number of failures before the first success of Bernoulli trials with
    success probability ``p = sigmoid(logits)``:
    :math:`\log p(k) = k \log(1-p) + \log p = -k\,\mathrm{softplus}(l) -
    \mathrm{softplus}(-l)`. Sampled by the inverse CDF
    ``floor(log u / log(1 - p))``."""

    param_names = ("logits", "probs")
    is_continuous = False
    _family = "Geometric"
    _kernel_attrs = ("logits",)
    _param_attrs = _kernel_attrs

    def __init__(self, logits: VarLike | None = None, probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        _one_of("Geometric", "logits", logits, "probs", probs)
        name = "logits" if logits is not None else "probs"
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        **{name: logits if logits is not None else probs})
        if probs is not None:
            pr = p["probs"]
            self._check("probs", pr, jt.logical_and(pr > 0, pr <= 1), "in (0, 1]")
            self.logits = probs_to_logits(pr)
        else:
            self.logits = p["logits"]

    @property
    def probs(self) -> jt.Var:
        return jt.sigmoid(self.logits)

    @property
    def mean(self) -> jt.Var:
        """``(1 - p) / p = exp(-logits)``."""
        return jt.exp(-self.logits)

    @property
    def variance(self) -> jt.Var:
        """``(1 - p) / p^2 = exp(softplus(-logits) - logits)``."""
        return jt.exp(softplus(-self.logits) - self.logits)

    def entropy(self) -> jt.Var:
        r"""``(-(1 - p) log(1 - p) - p log p) / p``, written
        ``exp(-l) softplus(l) + softplus(-l)`` for the logits ``l``. The
        first term is ``log1p(u) / u`` with ``u = exp(l)`` for ``l < 0``
        (``u`` kept at or above the smallest normal number, where the ratio
        is 1), so that neither factor overflows or underflows."""
        dt = self.dtype
        lg = self.logits
        tiny = float(np.finfo(dt).tiny)
        u = jt.maximum(jt.exp(jt.minimum(lg, const(0.0, dt))), const(tiny, dt))
        hi = jt.maximum(lg, const(0.0, dt))
        first = _where(lg < const(0.0, dt), log1p(u) / u, jt.exp(-hi) * softplus(hi))
        return first + softplus(-lg)

    def _validate_value(self, value, what):
        _check_counts(value, what, "Geometric")

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand_open)
        # log(1 - p) = -softplus(l)
        return jt.floor(jt.log(u) / -softplus(self.logits))


class Binomial(_Family):
    r"""Binomial distribution: successes in ``n_experiments`` trials of
    probability ``sigmoid(logits)``:
    :math:`\log p(k) = \log\binom{n}{k} - k\,\mathrm{softplus}(-l) -
    (n-k)\,\mathrm{softplus}(l)`. Samples: NumPy's sampler."""

    param_names = ("logits", "probs", "n_experiments")
    is_continuous = False
    _family = "Binomial"
    _kernel_attrs = ("logits", "n_experiments")
    _param_attrs = ("logits",)

    def __init__(self, logits: VarLike | None = None, n_experiments: VarLike | None = None,
                 probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        _one_of("Binomial", "logits", logits, "probs", probs)
        if n_experiments is None:
            raise ValueError("Binomial: n_experiments is required")
        name = "logits" if logits is not None else "probs"
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        n_experiments=n_experiments,
                        **{name: logits if logits is not None else probs})
        n = p["n_experiments"]
        if not bool(jt.logical_and(n >= 0, n == jt.floor(n)).all().item()):
            raise ValueError(
                f"Binomial: n_experiments must be non-negative integers (shape {list(n.shape)})"
            )
        self.n_experiments = n.detach()
        if probs is not None:
            pr = p["probs"]
            self._check("probs", pr, jt.logical_and(pr >= 0, pr <= 1), "in [0, 1]")
            self.logits = probs_to_logits(pr)
        else:
            self.logits = p["logits"]

    @property
    def probs(self) -> jt.Var:
        return jt.sigmoid(self.logits)

    @property
    def mean(self) -> jt.Var:
        """``n_experiments sigmoid(logits)``. (The entropy has no closed form.)"""
        n, logits = self._batch_params(self.n_experiments, self.logits)
        return n * jt.sigmoid(logits)

    @property
    def variance(self) -> jt.Var:
        """``n_experiments sigmoid(logits) sigmoid(-logits)``."""
        n, logits = self._batch_params(self.n_experiments, self.logits)
        return n * jt.sigmoid(logits) * jt.sigmoid(-logits)

    def _validate_value(self, value, what):
        _check_counts(value, what, "Binomial")
        if not bool((value <= self.n_experiments).all().item()):
            raise ValueError(f"{what}: Binomial values must be <= n_experiments")

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        return _numpy_draw(
            shape, self.dtype, [self.n_experiments, self.probs],
            lambda rng, n, pr: rng.binomial(n.astype(np.int64), pr.astype(np.float64)))


class _AlphaBeta(_Family):
    """Two positive parameters ``alpha`` and ``beta`` (Gamma, Beta,
    InverseGamma): their constructor and names."""

    param_names: tuple[str, ...] = ("alpha", "beta")
    _kernel_attrs: tuple[str, ...] = ("alpha", "beta")
    _param_attrs: tuple[str, ...] = _kernel_attrs

    def __init__(self, alpha: VarLike, beta: VarLike,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        alpha=alpha, beta=beta)
        self.alpha, self.beta = p["alpha"], p["beta"]
        self._check("alpha", self.alpha, self.alpha > 0, "> 0")
        self._check("beta", self.beta, self.beta > 0, "> 0")


class Gamma(_AlphaBeta, _Family):
    r"""Gamma distribution with shape ``alpha`` and rate ``beta``:
    :math:`\log p(x) = \alpha\log\beta - \log\Gamma(\alpha) + (\alpha-1)\log x
    - \beta x`.

    Reparameterised with implicit gradients: ``standard_gamma(alpha) / beta``.
    """

    has_rsample = True
    _family = "Gamma"
    _support = ">= 0"

    @property
    def mean(self) -> jt.Var:
        """``alpha / beta``."""
        return self.alpha / self.beta

    @property
    def variance(self) -> jt.Var:
        """``alpha / beta^2``, divided twice (``beta^2`` could overflow)."""
        alpha, beta = self._batch_params(self.alpha, self.beta)
        return alpha / beta / beta

    def entropy(self) -> jt.Var:
        """``alpha - log beta + lgamma(alpha) + (1 - alpha) digamma(alpha)``."""
        a, beta = self._batch_params(self.alpha, self.beta)
        return (a - jt.log(beta) + lgamma(a)
                + (const(1.0, self.dtype) - a) * digamma(a))

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        return standard_gamma(self.alpha.broadcast(shape), "Gamma: alpha") / self.beta


class Beta(_AlphaBeta, _Family):
    r"""Beta distribution:
    :math:`\log p(x) = (\alpha-1)\log x + (\beta-1)\log(1-x) - \log B(\alpha,\beta)`.

    Reparameterised with implicit gradients: ``X / (X + Y)`` with
    ``X ~ Gamma(alpha, 1)``, ``Y ~ Gamma(beta, 1)``.
    """

    has_rsample = True
    _family = "Beta"

    @property
    def mean(self) -> jt.Var:
        """``alpha / (alpha + beta)``."""
        a, b = self._batch_params(self.alpha, self.beta)
        return a / (a + b)

    @property
    def variance(self) -> jt.Var:
        """``m (1 - m) / (alpha + beta + 1)`` with ``m`` the mean, written
        ``(alpha / s) (beta / s) / (s + 1)``, ``s = alpha + beta``."""
        a, b = self._batch_params(self.alpha, self.beta)
        s = a + b
        return a / s * (b / s) / (s + const(1.0, self.dtype))

    def entropy(self) -> jt.Var:
        """``log B(alpha, beta) - (alpha - 1) digamma(alpha) - (beta - 1)
        digamma(beta) + (alpha + beta - 2) digamma(alpha + beta)``."""
        dt = self.dtype
        a, b = self._batch_params(self.alpha, self.beta)
        s = a + b
        return (lgamma(a) + lgamma(b) - lgamma(s)
                - (a - const(1.0, dt)) * digamma(a) - (b - const(1.0, dt)) * digamma(b)
                + (s - const(2.0, dt)) * digamma(s))

    def _validate_value(self, value, what):
        if not bool(jt.logical_and(value >= 0, value <= 1).all().item()):
            raise ValueError(f"{what}: Beta values must lie in [0, 1]")

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        x = standard_gamma(self.alpha.broadcast(shape), "Beta: alpha")
        y = standard_gamma(self.beta.broadcast(shape), "Beta: beta")
        return x / (x + y)


class StudentT(_Family):
    r"""Student's t distribution with ``df`` degrees of freedom, ``loc`` and
    ``scale``; :math:`z = (x - \mathrm{loc})/s`,
    :math:`\log p(x) = \log\Gamma(\tfrac{\nu+1}{2}) - \log\Gamma(\tfrac{\nu}{2})
    - \tfrac12\log(\nu\pi) - \log s - \tfrac{\nu+1}{2}\log(1 + z^2/\nu)`.

    Reparameterised: ``loc + s eps / sqrt(2 G / df)`` with ``eps ~ N(0, 1)``
    and ``G ~ Gamma(df / 2, 1)`` (implicit gradients for df).
    """

    param_names = ("df", "loc", "scale")
    has_rsample = True
    _family = "StudentT"
    _kernel_attrs = ("df", "loc", "scale")
    _param_attrs = _kernel_attrs

    def __init__(self, df: VarLike, loc: VarLike = 0.0, scale: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        df=df, loc=loc, scale=scale)
        self.df, self.loc, self.scale = p["df"], p["loc"], p["scale"]
        self._check("df", self.df, self.df > 0, "> 0")
        self._check("scale", self.scale, self.scale > 0, "> 0")

    @property
    def mean(self) -> jt.Var:
        """``loc`` where ``df > 1``; NaN (undefined) elsewhere, as in
        torch.distributions (SciPy says inf there)."""
        dt = self.dtype
        df, loc = self._batch_params(self.df, self.loc)
        return _where(df > const(1.0, dt), loc, const(math.nan, dt))

    @property
    def variance(self) -> jt.Var:
        """``scale^2 df / (df - 2)`` where ``df > 2``, inf where
        ``1 < df <= 2``, NaN (undefined) where ``df <= 1``."""
        dt = self.dtype
        df, scale = self._batch_params(self.df, self.scale)
        big = df > const(2.0, dt)
        dm2 = _where(big, df - const(2.0, dt), const(1.0, dt))  # no division by <= 0
        undefined = _where(df > const(1.0, dt), jt.full_like(df, math.inf),
                           const(math.nan, dt))
        return _where(big, scale * scale * df / dm2, undefined)

    def entropy(self) -> jt.Var:
        r"""``(df + 1) / 2 (digamma((df + 1) / 2) - digamma(df / 2))
        + log(sqrt(df) B(df / 2, 1 / 2)) + log scale``."""
        dt = self.dtype
        df, scale = self._batch_params(self.df, self.scale)
        h = df * const(0.5, dt)
        h1 = (df + const(1.0, dt)) * const(0.5, dt)
        log_beta = lgamma(h) + const(0.5 * math.log(math.pi), dt) - lgamma(h1)
        return (h1 * (digamma(h1) - digamma(h)) + const(0.5, dt) * jt.log(df)
                + log_beta + jt.log(scale))

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        half = const(0.5, self.dtype)
        g = standard_gamma((self.df * half).broadcast(shape), "StudentT: df / 2")
        eps = _randn(shape, self.dtype)
        return self.loc + self.scale * eps * jt.sqrt(self.df * half / g)


class BinConcrete(Distribution):
    r"""Binary Concrete (relaxed Bernoulli) distribution of Maddison, Mnih &
    Teh (2017), with ``temperature`` and ``logits`` (or ``probs``): samples in
    (0, 1), ``sigmoid((logits + log u - log(1 - u)) / temperature)``.

    .. math:: \log p(x) = \log\tau + l - (\tau + 1)(\log x + \log(1-x))
              - 2\,\mathrm{logaddexp}(l - \tau\log x,\ -\tau\log(1-x))

    Reparameterised. Not fused (its density is written in Jittor ops).
    """

    param_names = ("temperature", "logits", "probs")
    has_rsample = True
    _param_attrs = ("temperature", "logits")

    def __init__(self, temperature: VarLike, logits: VarLike | None = None,
                 probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        opts = upstream_options("BinConcrete", kwargs)
        _one_of("BinConcrete", "logits", logits, "probs", probs)
        super().__init__(dtype=dtype, group_ndims=group_ndims,
                         is_reparameterized=is_reparameterized, validate_args=validate_args,
                         **opts)
        self._infer_dtype(temperature, logits, probs)
        self.temperature = self._param(temperature, "temperature")
        if probs is not None:
            pr = self._param(probs, "probs")
            if validate_args and not bool(jt.logical_and(pr >= 0, pr <= 1).all().item()):
                raise ValueError(f"BinConcrete: probs must lie in [0, 1] (shape {list(pr.shape)})")
            self.logits = probs_to_logits(pr)
        else:
            self.logits = self._param(logits, "logits")
        self.temperature = (self.temperature if dtype_name(self.temperature) == self._dtype
                            else self.temperature.cast(self._dtype))
        try:
            kernels.broadcast_shapes(list(self.temperature.shape), list(self.logits.shape),
                                     what=["temperature", "logits"])
        except ValueError as exc:
            raise ValueError(f"BinConcrete: {exc}") from None
        if validate_args and not bool((self.temperature > 0).all().item()):
            raise ValueError("BinConcrete: temperature must be > 0 "
                             f"(shape {list(self.temperature.shape)})")

    def _params(self):
        return [self.temperature, self.logits]

    def _validate_value(self, value, what):
        if not bool(jt.logical_and(value > 0, value < 1).all().item()):
            raise ValueError(f"{what}: BinConcrete values must lie in (0, 1)")

    def _sample(self, n_samples):
        u = _rand_open(self._sample_shape(n_samples), self.dtype)
        return jt.sigmoid((self.logits + jt.log(u) - log1p(-u)) / self.temperature)

    def _log_prob_reduced(self, given, axes, weight):
        t, lg = self.temperature, self.logits
        # Outside the open interval the density is 0 (-inf, as every family);
        # the logs below see 1/2 there, so no NaN reaches the gradient.
        inside = jt.logical_and(given > 0, given < 1)
        given = jt.where(inside, given, jt.full_like(given, 0.5))
        log_x, log_1mx = jt.log(given), log1p(-given)
        a = lg - t * log_x
        b = -t * log_1mx
        m = jt.maximum(a, b)
        lse = m + log1p(jt.exp(-jt.abs(a - b)))
        one, two = const(1.0, self.dtype), const(2.0, self.dtype)
        elem = jt.log(t) + lg - (t + one) * (log_x + log_1mx) - two * lse
        elem = jt.where(inside, elem, jt.full_like(elem, float("-inf")))
        return self._reduce(elem, axes, weight)


class Cauchy(_Family):
    r"""Cauchy distribution with location ``loc`` and scale ``scale`` (> 0):

    .. math:: \log p(x) = -\log\pi - \log s - \log(1 + z^2),
              \quad z = (x - \mathrm{loc}) / s.

    Reparameterised by the inverse CDF: ``loc + s tan(pi (u - 1/2))``.
    """

    param_names = ("loc", "scale")
    has_rsample = True
    _family = "Cauchy"
    _param_attrs = ("loc", "scale")
    _kernel_attrs = ("loc", "scale")

    def __init__(self, loc: VarLike = 0.0, scale: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        loc=loc, scale=scale)
        self.loc, self.scale = p["loc"], p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")

    @property
    def mean(self) -> jt.Var:
        """NaN: a Cauchy distribution has no mean (as SciPy and
        torch.distributions say)."""
        return self._over_batch(const(math.nan, self.dtype))

    @property
    def variance(self) -> jt.Var:
        """NaN: a Cauchy distribution has no variance (as SciPy says)."""
        return self._over_batch(const(math.nan, self.dtype))

    def entropy(self) -> jt.Var:
        """``log(4 pi scale)``."""
        (scale,) = self._batch_params(self.scale)
        return jt.log(scale) + const(math.log(4 * math.pi), self.dtype)


    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand_open)
        return self.loc + self.scale * jt.tan(const(np.pi, self.dtype)
                                              * (u - const(0.5, self.dtype)))


class HalfCauchy(_Family):
    r"""The distribution of ``|y|`` for ``y ~ Cauchy(0, scale)``:

    .. math:: \log p(x) = \log 2 - \log\pi - \log s - \log(1 + (x / s)^2),
              \quad x \ge 0.

    Reparameterised: ``s tan(pi u / 2)``.
    """

    param_names = ("scale",)
    has_rsample = True
    _family = "HalfCauchy"
    _support = ">= 0"
    _param_attrs = ("scale",)
    _kernel_attrs = ("scale",)

    def __init__(self, scale: VarLike = 1.0,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        scale=scale)
        self.scale = p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")

    @property
    def mean(self) -> jt.Var:
        """inf: the integral diverges (as SciPy says)."""
        return self._over_batch(const(math.inf, self.dtype))

    @property
    def variance(self) -> jt.Var:
        """inf (as SciPy says)."""
        return self._over_batch(const(math.inf, self.dtype))

    def entropy(self) -> jt.Var:
        """``log(2 pi scale)``."""
        return jt.log(self.scale) + const(math.log(2 * math.pi), self.dtype)



    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand)
        return self.scale * jt.tan(const(0.5 * np.pi, self.dtype) * u)


class InverseGamma(_AlphaBeta, _Family):
    r"""Inverse-Gamma distribution with shape ``alpha`` and scale ``beta``
    (ZhuSuan-TF's parameterisation): the law of ``1 / X`` for
    ``X ~ Gamma(alpha, rate=beta)``,

    .. math:: \log p(x) = \alpha\log\beta - \log\Gamma(\alpha)
              - (\alpha + 1)\log x - \beta / x, \quad x > 0.

    Reparameterised with the implicit gradients of the Gamma draw:
    ``beta / standard_gamma(alpha)``.
    """

    has_rsample = True
    _family = "InverseGamma"
    _support = "> 0"

    def _beta_over_am1(self):
        """``alpha > 1`` and ``beta / (alpha - 1)`` there (``beta``
        elsewhere, so that no branch divides by <= 0), batch-shaped."""
        dt = self.dtype
        alpha, beta = self._batch_params(self.alpha, self.beta)
        above = alpha > const(1.0, dt)
        return above, beta / _where(above, alpha - const(1.0, dt), const(1.0, dt))

    @property
    def mean(self) -> jt.Var:
        """``beta / (alpha - 1)`` where ``alpha > 1``, inf elsewhere."""
        above, m = self._beta_over_am1()
        return _where(above, m, const(math.inf, self.dtype))

    @property
    def variance(self) -> jt.Var:
        """``beta^2 / ((alpha - 1)^2 (alpha - 2))`` where ``alpha > 2``, inf
        elsewhere."""
        dt = self.dtype
        (alpha,) = self._batch_params(self.alpha)
        big = alpha > const(2.0, dt)
        am2 = _where(big, alpha - const(2.0, dt), const(1.0, dt))
        _, m = self._beta_over_am1()
        return _where(big, m * m / am2, const(math.inf, dt))

    def entropy(self) -> jt.Var:
        """``alpha + log beta + lgamma(alpha) - (1 + alpha) digamma(alpha)``."""
        a, beta = self._batch_params(self.alpha, self.beta)
        return (a + jt.log(beta) + lgamma(a)
                - (const(1.0, self.dtype) + a) * digamma(a))



    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        alpha = self.alpha.broadcast(shape)
        return self.beta / standard_gamma(alpha, "InverseGamma: alpha")
