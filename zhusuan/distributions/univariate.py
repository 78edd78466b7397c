"""The univariate families beyond Normal and Bernoulli.

Each class converts what users pass into the form the kernels use (log-space
where one exists: ``logstd``, ``log_rate``, ``logits``) and hands its
log-density to the generic fused op ``kernels.family_log_prob`` (the math is
in ``csrc/include/zhusuan/families.h``, one block per family); except
BinConcrete, whose density is written here in Jittor ops.

Samples are reparameterised where the family allows it: location-scale and
inverse-CDF families directly, Gamma, Beta and StudentT through the implicit
gradients of :func:`zhusuan.distributions.gamma.standard_gamma`. Cauchy,
HalfCauchy and InverseGamma, like BinConcrete, write their densities in
Jittor ops (to be moved onto the fused family op's table). Discrete
families (Poisson, Geometric, Binomial) sample float counts in the
distribution's dtype and are never reparameterised.
"""

import math

import jittor as jt
import numpy as np

from .. import kernels
from ..numerics import const, dtype_name, lgamma, log1p, probs_to_logits, softplus
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


class _Family(Distribution):
    """A univariate family: parameter set-up, validation and the fused
    log-density. Subclasses set ``_family`` (the kernel family's name) and
    ``_kernel_attrs`` (attributes holding the kernel's parameters, in the
    kernel's order)."""

    _family = None
    _kernel_attrs = ()

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
    _support = None

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
    def logstd(self):
        return self._logstd

    @property
    def std(self):
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

    def __init__(self, mean=0.0, std=None, logstd=None, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        args = (dtype, group_ndims, is_reparameterized, validate_args, kwargs)
        self.mean = self._init_scale(std, logstd, args, mean=mean)["mean"]

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

    def __init__(self, std=None, logstd=None, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        self._init_scale(std, logstd, (dtype, group_ndims, is_reparameterized, validate_args,
                                       kwargs))

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

    def __init__(self, mean=0.0, std=None, logstd=None, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        args = (dtype, group_ndims, is_reparameterized, validate_args, kwargs)
        self.mean = self._init_scale(std, logstd, args, mean=mean)["mean"]

    def _sample(self, n_samples):
        return jt.exp(self.mean + self.std * self._base_noise(n_samples))


class _LocScale(_Family):
    """A location-scale family given ``loc`` and ``scale`` (> 0)."""

    param_names = ("loc", "scale")
    has_rsample = True
    _kernel_attrs = ("loc", "scale")
    _param_attrs = _kernel_attrs

    def __init__(self, loc=0.0, scale=1.0, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        loc=loc, scale=scale)
        self.loc, self.scale = p["loc"], p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")


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
    def variance(self):
        return self._over_batch(2 * self.scale * self.scale)

    def entropy(self):
        """1 + log(2 b)."""
        return self._over_batch(jt.log(2 * self.scale) + const(1.0, self.dtype))


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
    def variance(self):
        return self._over_batch(const(math.pi ** 2 / 3, self.dtype) * self.scale * self.scale)

    def entropy(self):
        """log s + 2."""
        return self._over_batch(jt.log(self.scale) + const(2.0, self.dtype))


class Exponential(_Family):
    r"""Exponential distribution: :math:`\log p(x) = \log\lambda - \lambda x`,
    ``x >= 0``. Reparameterised: ``-log(1 - u) / rate``."""

    param_names = ("rate",)
    has_rsample = True
    _family = "Exponential"
    _support = ">= 0"
    _kernel_attrs = ("rate",)
    _param_attrs = _kernel_attrs

    def __init__(self, rate=1.0, dtype=None, group_ndims=0, is_reparameterized=True,
                 validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        rate=rate)
        self.rate = p["rate"]
        self._check("rate", self.rate, self.rate > 0, "> 0")

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand)
        return -log1p(-u) / self.rate

    @property
    def variance(self):
        return self._over_batch(1 / (self.rate * self.rate))

    def entropy(self):
        """1 - log(rate)."""
        return self._over_batch(const(1.0, self.dtype) - jt.log(self.rate))


class Uniform(_Family):
    r"""Uniform distribution on ``[minval, maxval)``: :math:`\log p(x) =
    -\log(\mathrm{maxval} - \mathrm{minval})` inside, ``-inf`` outside.
    Reparameterised: ``minval + (maxval - minval) u``."""

    param_names = ("minval", "maxval")
    has_rsample = True
    _family = "Uniform"
    _kernel_attrs = ("minval", "maxval")
    _param_attrs = _kernel_attrs

    def __init__(self, minval=0.0, maxval=1.0, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        minval=minval, maxval=maxval)
        self.minval, self.maxval = p["minval"], p["maxval"]
        self._check("maxval", self.maxval, self.maxval > self.minval, "> minval")

    def _validate_value(self, value, what):
        ok = jt.logical_and(value >= self.minval, value < self.maxval)
        if not bool(ok.all().item()):
            raise ValueError(f"{what}: Uniform values must lie in [minval, maxval)")

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

    def __init__(self, rate=None, log_rate=None, dtype=None, group_ndims=0,
                 is_reparameterized=False, validate_args=False, **kwargs):
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
    def rate(self):
        return jt.exp(self.log_rate)

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

    def __init__(self, logits=None, probs=None, dtype=None, group_ndims=0,
                 is_reparameterized=False, validate_args=False, **kwargs):
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
    def probs(self):
        return jt.sigmoid(self.logits)

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

    def __init__(self, logits=None, n_experiments=None, probs=None, dtype=None,
                 group_ndims=0, is_reparameterized=False, validate_args=False, **kwargs):
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
    def probs(self):
        return jt.sigmoid(self.logits)

    def _validate_value(self, value, what):
        _check_counts(value, what, "Binomial")
        if not bool((value <= self.n_experiments).all().item()):
            raise ValueError(f"{what}: Binomial values must be <= n_experiments")

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        return _numpy_draw(
            shape, self.dtype, [self.n_experiments, self.probs],
            lambda rng, n, pr: rng.binomial(n.astype(np.int64), pr.astype(np.float64)))


class _AlphaBeta:
    """Two positive parameters ``alpha`` and ``beta`` (Gamma, Beta,
    InverseGamma): their constructor and names."""

    param_names = ("alpha", "beta")
    _kernel_attrs = ("alpha", "beta")
    _param_attrs = _kernel_attrs

    def __init__(self, alpha, beta, dtype=None, group_ndims=0, is_reparameterized=True,
                 validate_args=False, **kwargs):
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

    def __init__(self, df, loc=0.0, scale=1.0, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        df=df, loc=loc, scale=scale)
        self.df, self.loc, self.scale = p["df"], p["loc"], p["scale"]
        self._check("df", self.df, self.df > 0, "> 0")
        self._check("scale", self.scale, self.scale > 0, "> 0")

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

    def __init__(self, temperature, logits=None, probs=None, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
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


# -- families written in Jittor ops (not yet on the fused family op) -------------------
# Cauchy, HalfCauchy and InverseGamma compute their log-densities with plain
# Jittor ops, as BinConcrete does; they are to move onto the fused family op's
# table (csrc/include/zhusuan/families.h) once that layer's rewrite lands.


class _PlainFamily(_Family):
    """A univariate family whose log-density is Jittor code: ``_elementwise``
    returns the per-element log-density inside the support; outside it the
    density is ``-inf`` with zero gradient (the formula sees ``_inside_value``
    there, so no NaN reaches the gradient)."""

    _inside_value = 1.0

    def _inside(self, given):
        return None  # the whole real line

    def _elementwise(self, given):
        raise NotImplementedError

    def _log_prob_reduced(self, given, axes, weight):
        inside = self._inside(given)
        if inside is not None:
            given = jt.where(inside, given, jt.full_like(given, self._inside_value))
        elem = self._elementwise(given)
        if inside is not None:
            elem = jt.where(inside, elem, jt.full_like(elem, float("-inf")))
        return self._reduce(elem, axes, weight)


_LOG_PI = float(np.log(np.pi))


class Cauchy(_PlainFamily):
    r"""Cauchy distribution with location ``loc`` and scale ``scale`` (> 0):

    .. math:: \log p(x) = -\log\pi - \log s - \log(1 + z^2),
              \quad z = (x - \mathrm{loc}) / s.

    Reparameterised by the inverse CDF: ``loc + s tan(pi (u - 1/2))``.
    """

    param_names = ("loc", "scale")
    has_rsample = True
    _param_attrs = ("loc", "scale")
    _kernel_attrs = ("loc", "scale")

    def __init__(self, loc=0.0, scale=1.0, dtype=None, group_ndims=0,
                 is_reparameterized=True, validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        loc=loc, scale=scale)
        self.loc, self.scale = p["loc"], p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")

    def _elementwise(self, given):
        z = (given - self.loc) / self.scale
        return -const(_LOG_PI, self.dtype) - jt.log(self.scale) - log1p(z * z)

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand_open)
        return self.loc + self.scale * jt.tan(const(np.pi, self.dtype)
                                              * (u - const(0.5, self.dtype)))


class HalfCauchy(_PlainFamily):
    r"""The distribution of ``|y|`` for ``y ~ Cauchy(0, scale)``:

    .. math:: \log p(x) = \log 2 - \log\pi - \log s - \log(1 + (x / s)^2),
              \quad x \ge 0.

    Reparameterised: ``s tan(pi u / 2)``.
    """

    param_names = ("scale",)
    has_rsample = True
    _support = ">= 0"
    _param_attrs = ("scale",)
    _kernel_attrs = ("scale",)

    def __init__(self, scale=1.0, dtype=None, group_ndims=0, is_reparameterized=True,
                 validate_args=False, **kwargs):
        p = self._setup(dtype, group_ndims, is_reparameterized, validate_args, kwargs,
                        scale=scale)
        self.scale = p["scale"]
        self._check("scale", self.scale, self.scale > 0, "> 0")

    def _inside(self, given):
        return given >= 0

    def _elementwise(self, given):
        z = given / self.scale
        return (const(float(np.log(2.0)) - _LOG_PI, self.dtype) - jt.log(self.scale)
                - log1p(z * z))

    def _sample(self, n_samples):
        u = self._base_noise(n_samples, _rand)
        return self.scale * jt.tan(const(0.5 * np.pi, self.dtype) * u)


class InverseGamma(_AlphaBeta, _PlainFamily):
    r"""Inverse-Gamma distribution with shape ``alpha`` and scale ``beta``
    (ZhuSuan-TF's parameterisation): the law of ``1 / X`` for
    ``X ~ Gamma(alpha, rate=beta)``,

    .. math:: \log p(x) = \alpha\log\beta - \log\Gamma(\alpha)
              - (\alpha + 1)\log x - \beta / x, \quad x > 0.

    Reparameterised with the implicit gradients of the Gamma draw:
    ``beta / standard_gamma(alpha)``.
    """

    has_rsample = True
    _support = "> 0"


    def _inside(self, given):
        return given > 0

    def _elementwise(self, given):
        one = const(1.0, self.dtype)
        return (self.alpha * jt.log(self.beta) - lgamma(self.alpha)
                - (self.alpha + one) * jt.log(given) - self.beta / given)

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        alpha = self.alpha.broadcast(shape)
        return self.beta / standard_gamma(alpha, "InverseGamma: alpha")
