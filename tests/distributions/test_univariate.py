"""The univariate families of zhusuan/distributions/univariate.py against
independent oracles.

Families: FoldNormal, HalfNormal, LogNormal (std or logstd), Laplace,
Logistic, Exponential, Uniform, Poisson (rate or log_rate), Geometric,
Binomial, BinConcrete (logits or probs), Gamma, Beta, StudentT.

What is checked:

1. log-densities against ``scipy.stats`` (BinConcrete: the closed-form
   density of Maddison et al. 2017 in float64 NumPy, itself checked to
   integrate to one), every parameterisation, with broadcasting (value
   [4, 3] against parameters [3] and [4, 1]): in float32 on the ``native``
   and ``jittor`` backends, in float64 on ``native``, ``jit`` and ``jittor``
   (in the gradient test, whose graphs compute the value too); extreme
   parameters (saturated logits, tiny and huge scales, concentrations below
   one, large counts), values outside the support (-inf, gradient 0), the
   boundaries of the support, group_ndims;
2. samples (float64): shape, mean and variance within a sample-size-derived
   number of standard errors, and a Kolmogorov-Smirnov (continuous) or
   chi-square (discrete) test against the oracle;
3. gradients in float64: reparameterised samples of the location-scale and
   inverse-CDF families against central differences of the seed-fixed
   sample; the implicit gradients of Gamma, Beta and StudentT against
   ``scipy.special`` (d/dalpha of the regularised incomplete gamma function,
   the inverse CDF at a fixed quantile) and against the closed-form
   derivatives of their moments; gradients of log_prob with respect to every
   parameter and the value against central differences of the oracle, on
   ``native`` and ``jittor`` (the ``jit`` backend's gradient kernels are
   checked by tests/kernels/test_family_parity.py);
4. backend parity, directly: ``native`` against ``jittor`` in float32
   (log_prob) and in float64 (log_prob and its gradients), ``jit`` against
   ``jittor`` in float64 (log_prob);
5. errors under ``validate_args`` and for missing / conflicting parameters;
6. use by name in a BayesianNet.

Policy for randomised tests (after torch.distributions' and NumPyro's test
suites), as in test_normal_bernoulli.py:

* Inputs come from the per-test ``rng`` fixture and Jittor's per-test seed
  (see ``tests/conftest.py``), so every run draws the same numbers.
* Each statistical assertion states its false-positive rate (FPR): the
  probability that a *correct* implementation fails it for a seed chosen at
  random. With the seed fixed a test either always passes or always fails.
* Tolerances are the named constants below, each with its justification;
  any local override carries a comment.
* Oracles never call zhusuan: ``scipy.stats`` / ``scipy.special`` and
  NumPy float64 closed forms for densities, central finite differences in
  float64 for gradients.
* A float32 case is compared with its oracle evaluated in float64 on the
  float32-rounded inputs, so the tolerance measures zhusuan's arithmetic and
  not the rounding of the inputs.

Cost: every distinct Jittor graph compiles once on a cold cache (~1 s; the
jit backend's kernels ~1.2 s each), so the tests share shapes (one broadcast
pattern for every log_prob test) and run the jit backend in float64 only.
Parameters of shape [1] are avoided in float64 gradient tests (a Jittor
1.3.11 bug, see tests/kernels/test_parity.py).
"""

import contextlib
from dataclasses import dataclass
from typing import Callable, Optional

import zhusuan as zs
from zhusuan import kernels
from zhusuan.distributions import (
    Beta,
    BinConcrete,
    Binomial,
    Exponential,
    FoldNormal,
    Gamma,
    Geometric,
    HalfNormal,
    Laplace,
    Logistic,
    LogNormal,
    Poisson,
    StudentT,
    Uniform,
)
from zhusuan.distributions.gamma import gamma_cdf_dalpha

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _shared import ALPHA, FD_ATOL, FD_RTOL, N_SAMPLES, N_SE, central_difference
from scipy import integrate, special, stats

# -- tolerances ----------------------------------------------------------------

# float64 log-densities are sums of at most five terms (lgamma of arguments
# below ~15, logs, products) of magnitude at most ~30 by construction of the
# inputs, each rounded a handful of times (glibc's lgamma is within 2 ulp):
# <= ~10 ulp of the largest term, ~1e-13 absolute. scipy's own error is of
# the same size. 1e-12 leaves a margin of ten and is 10^4 times smaller than
# the ~1e-8 error of a value that took a detour through float32.
RTOL64 = 1e-12
ATOL64 = 1e-12
# float32: ulp(1) = 1.2e-7; a few ulp of terms of magnitude <= ~30 is a few
# times 1e-6 absolute. 1e-5 relative and absolute holds with a margin of
# about three and is still 100 times below a wrong constant or a lost term.
RTOL32 = 1e-5
ATOL32 = 1e-5

# Large counts (rates and trials up to 1e6): log p is a difference of terms
# of magnitude M (lgamma(n + 1) ~ 1.3e7 at n = 1e6) that cancel to a result
# of order ten, so no implementation that evaluates those terms can be
# accurate relative to the result. Each of the <= 5 terms carries <= 3
# roundings (lgamma <= 2 ulp, a product, an exactly representable integer
# argument), the sum <= 4 more: <= ~19 units of roundoff u = eps / 2 of M,
# i.e. < 10 eps M. LARGE_EPS_MULT = 16 leaves a margin of 1.6; in float64 the
# scipy oracle's error (same analysis) is included in that margin.
LARGE_EPS_MULT = 16.0

# Backend parity (elementwise, relative, with a floor of the same fraction of
# the array's largest magnitude, as in tests/kernels/test_family_parity.py:
# where a result is a difference of nearly equal terms every implementation
# has an absolute error of a few ulp of the terms). The backends evaluate the
# same formulas (families.h vs reference.py) with different operation orders
# and differentiation (hand-written vs autodiff): a few ulp of terms <= ~30.
PARITY_RTOL = {"float64": 1e-12, "float32": 1e-5}

# d/dalpha of the regularised incomplete gamma P(alpha, x) by fourth-order
# central differences of scipy.special.gammainc with step h = 1e-3 alpha:
# truncation h^4 |d^5 P/d alpha^5| / 30 <= ~4e-12 / alpha^2 (the alpha
# derivatives of P grow like k! / alpha^(k+1) for small alpha), 1.6e-9 at
# alpha = 0.05; roundoff 1.5 delta / h with gammainc's absolute error
# delta <= 1e-14, <= 3e-10. The library's series sums positive terms in
# float64 (relative error ~1e-13). atol 1e-8 and rtol 1e-7 leave a margin of
# at least five.
CDF_FD_REL_STEP = 1e-3
CDF_GRAD_RTOL = 1e-7
CDF_GRAD_ATOL = 1e-8
# The same differences of scipy.special.gammaincinv (the draw at a fixed
# quantile, relative accuracy ~1e-13 away from the extreme tails): roundoff
# 1.5e-13 x / h = 1.5e-10 x / alpha against derivatives of order x / alpha,
# plus the library's series; rtol 1e-6 leaves a margin of 1000 for draws
# with quantile in [1e-9, 1 - 1e-9].
INV_GRAD_RTOL = 1e-6


def tolerances(dtype, n_terms=1):
    """assert_allclose tolerances for ``dtype``; sums of ``n_terms`` elementwise
    log-densities get ``n_terms`` times the absolute tolerance."""
    if dtype == "float64":
        return {"rtol": RTOL64, "atol": ATOL64 * n_terms}
    return {"rtol": RTOL32, "atol": ATOL32 * n_terms}


def eps(dtype):
    return float(np.finfo(np.dtype(dtype)).eps)


# -- the BinConcrete oracle ------------------------------------------------------


def binconcrete_pdf(x, temperature, logits, one_minus_x=None):
    """Binary Concrete density (Maddison, Mnih & Teh 2017, appendix):
    p(x) = tau a x^(-tau-1) (1-x)^(-tau-1) / (a x^(-tau) + (1-x)^(-tau))^2,
    a = exp(logits), written as in the paper (no log-space rewriting), in
    float64 (``one_minus_x`` may be given where 1 - x would round)."""
    x, t, a = (np.asarray(v, np.float64) for v in (x, temperature, np.exp(logits)))
    omx = 1.0 - x if one_minus_x is None else np.asarray(one_minus_x, np.float64)
    num = t * a * x ** (-t - 1.0) * omx ** (-t - 1.0)
    return num / (a * x ** (-t) + omx ** (-t)) ** 2


def _logit_domain(temperature, logits):
    """The density of Y = logit(X) (smooth on the real line, unlike p(x) for
    tau < 1, so quad integrates it to ~1e-14), and the interval holding all
    but ~e^-80 of its mass (Y is logistic with location logits / tau and
    scale 1 / tau, whatever the oracle says: the tests check the oracle
    against that)."""

    def q(y):
        x, omx = special.expit(y), special.expit(-y)
        return binconcrete_pdf(x, temperature, logits, omx) * x * omx

    half = 80.0 / temperature
    return q, logits / temperature - half, logits / temperature + half


class _BinConcreteGen(stats.rv_continuous):
    """The oracle as a scipy distribution, for moments and KS tests. Its CDF,
    P(X <= x) = sigmoid(tau logit(x) - logits), follows from X =
    sigmoid((logits + L) / tau) with L standard logistic; a test checks it
    against the integral of the density."""

    def _argcheck(self, temperature, logits):
        return (temperature > 0) & np.isfinite(logits)

    def _pdf(self, x, temperature, logits):
        return binconcrete_pdf(x, temperature, logits)

    def _cdf(self, x, temperature, logits):
        return special.expit(temperature * special.logit(x) - logits)

    def _munp(self, n, temperature, logits):
        # Moments by quad in the logit domain (scipy's default integrates
        # x^n p(x) over [0, 1], where p is singular for tau < 1).
        def one(t, lg):
            q, lo, hi = _logit_domain(t, lg)
            return integrate.quad(lambda y: special.expit(y) ** n * q(y), lo, hi,
                                  epsabs=1e-13, limit=200)[0]
        return np.vectorize(one, otypes=[np.float64])(temperature, logits)


binconcrete = _BinConcreteGen(a=0.0, b=1.0, name="binconcrete")


# -- the table of cases -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One parameterisation of one family.

    ``draw(rng, s1, s2)`` returns the constructor's keyword arguments as
    float64 arrays (the first parameter of shape ``s1``, the second ``s2``;
    one-parameter families use ``s1``); ``value(rng, shape, p)`` draws points
    inside the support given the parameters ``p`` broadcast to ``shape``;
    ``oracle(**params)`` is the frozen scipy distribution. ``sample_draw``
    (default ``draw``) keeps the moments finite for the sample tests.
    """

    name: str
    cls: type
    draw: Callable
    value: Callable
    oracle: Callable
    reparam: str  # "direct" (location-scale / inverse CDF), "implicit", "none"
    sample_draw: Optional[Callable] = None

    def logp(self, x, **params):
        d = self.oracle(**params)
        return d.logpdf(x) if self.cls.is_continuous else d.logpmf(x)


def _u(rng, lo, hi, shape):
    return rng.uniform(lo, hi, size=shape)


def _exp_u(rng, lo, hi, shape):
    return np.exp(rng.uniform(lo, hi, size=shape))


def _counts(rng, shape, p):
    return rng.integers(0, 11, size=shape).astype(np.float64)


def _trials(rng, shape):
    return rng.integers(1, 11, size=shape).astype(np.float64)


def _binomial_values(rng, shape, p):
    return rng.integers(0, p["n_experiments"] + 1, size=shape).astype(np.float64)


def _unit_values(rng, shape, p):
    return rng.uniform(0.02, 0.98, size=shape)


def _real_values(rng, shape, p):
    return rng.normal(0.0, 3.0, size=shape)


def _positive_values(rng, shape, p):
    return np.abs(rng.normal(0.0, 2.5, size=shape))


def _foldnorm(mean, std):
    # scipy's foldnorm wants c >= 0; |Y| has the same law for +-mean.
    return stats.foldnorm(np.abs(mean) / std, scale=std)


def _mean_scale(scale_name, lo=-1.0, hi=1.0):
    def draw(rng, s1, s2):
        scale = rng.uniform(lo, hi, size=s2)
        return {"mean": rng.normal(0.0, 1.5, size=s1),
                scale_name: np.exp(scale) if scale_name == "std" else scale}
    return draw


def _std(kw):
    return kw["std"] if "std" in kw else np.exp(kw["logstd"])


def _loc_scale(rng, s1, s2):
    return {"loc": rng.normal(0.0, 2.0, size=s1), "scale": _exp_u(rng, -1.0, 1.0, s2)}


CASES = [
    Case("FoldNormal(mean,std)", FoldNormal, _mean_scale("std"), _positive_values,
         lambda **kw: _foldnorm(kw["mean"], _std(kw)), "direct"),
    Case("FoldNormal(mean,logstd)", FoldNormal, _mean_scale("logstd"), _positive_values,
         lambda **kw: _foldnorm(kw["mean"], _std(kw)), "direct"),
    Case("HalfNormal(std)", HalfNormal,
         lambda rng, s1, s2: {"std": _exp_u(rng, -1.0, 1.0, s1)}, _positive_values,
         lambda **kw: stats.halfnorm(scale=_std(kw)), "direct"),
    Case("HalfNormal(logstd)", HalfNormal,
         lambda rng, s1, s2: {"logstd": _u(rng, -1.0, 1.0, s1)}, _positive_values,
         lambda **kw: stats.halfnorm(scale=_std(kw)), "direct"),
    Case("LogNormal(mean,std)", LogNormal, _mean_scale("std", -1.0, 0.5),
         lambda rng, shape, p: rng.lognormal(0.0, 1.0, size=shape),
         lambda **kw: stats.lognorm(_std(kw), scale=np.exp(kw["mean"])), "direct",
         # std <= 0.5: kurtosis <= 6, so the sample variance is well behaved.
         sample_draw=_mean_scale("std", -1.5, -0.7)),
    Case("LogNormal(mean,logstd)", LogNormal, _mean_scale("logstd", -1.0, 0.5),
         lambda rng, shape, p: rng.lognormal(0.0, 1.0, size=shape),
         lambda **kw: stats.lognorm(_std(kw), scale=np.exp(kw["mean"])), "direct",
         sample_draw=_mean_scale("logstd", -1.5, -0.7)),
    Case("Laplace", Laplace, _loc_scale, _real_values,
         lambda loc, scale: stats.laplace(loc, scale), "direct"),
    Case("Logistic", Logistic, _loc_scale, _real_values,
         lambda loc, scale: stats.logistic(loc, scale), "direct"),
    Case("Exponential", Exponential,
         lambda rng, s1, s2: {"rate": _exp_u(rng, -1.0, 1.0, s1)},
         lambda rng, shape, p: rng.exponential(1.5, size=shape),
         lambda rate: stats.expon(scale=1.0 / rate), "direct"),
    Case("Uniform", Uniform,
         lambda rng, s1, s2: {"minval": _u(rng, -3.0, -1.0, s1),
                              "maxval": _u(rng, 1.0, 3.0, s2)},
         lambda rng, shape, p: rng.uniform(-1.0, 1.0, size=shape),
         lambda minval, maxval: stats.uniform(minval, maxval - minval), "direct"),
    Case("Poisson(rate)", Poisson,
         lambda rng, s1, s2: {"rate": _exp_u(rng, -1.0, 1.5, s1)}, _counts,
         lambda rate: stats.poisson(rate), "none"),
    Case("Poisson(log_rate)", Poisson,
         lambda rng, s1, s2: {"log_rate": _u(rng, -1.0, 1.5, s1)}, _counts,
         lambda log_rate: stats.poisson(np.exp(log_rate)), "none"),
    Case("Geometric(logits)", Geometric,
         lambda rng, s1, s2: {"logits": _u(rng, -3.0, 3.0, s1)}, _counts,
         lambda logits: stats.geom(special.expit(logits), loc=-1), "none"),
    Case("Geometric(probs)", Geometric,
         lambda rng, s1, s2: {"probs": _u(rng, 0.05, 0.95, s1)}, _counts,
         lambda probs: stats.geom(probs, loc=-1), "none"),
    Case("Binomial(logits)", Binomial,
         lambda rng, s1, s2: {"logits": _u(rng, -3.0, 3.0, s1),
                              "n_experiments": _trials(rng, s2)},
         _binomial_values,
         lambda logits, n_experiments: stats.binom(n_experiments,
                                                    special.expit(logits)), "none"),
    Case("Binomial(probs)", Binomial,
         lambda rng, s1, s2: {"probs": _u(rng, 0.05, 0.95, s1),
                              "n_experiments": _trials(rng, s2)},
         _binomial_values,
         lambda probs, n_experiments: stats.binom(n_experiments, probs), "none"),
    Case("Gamma", Gamma,
         lambda rng, s1, s2: {"alpha": _exp_u(rng, -1.0, 1.5, s1),
                              "beta": _exp_u(rng, -1.0, 1.0, s2)},
         lambda rng, shape, p: rng.gamma(2.0, 1.0, size=shape),
         lambda alpha, beta: stats.gamma(alpha, scale=1.0 / beta), "implicit"),
    Case("Beta", Beta,
         lambda rng, s1, s2: {"alpha": _exp_u(rng, -1.0, 1.5, s1),
                              "beta": _exp_u(rng, -1.0, 1.5, s2)},
         _unit_values, lambda alpha, beta: stats.beta(alpha, beta), "implicit"),
    Case("StudentT", StudentT,
         lambda rng, s1, s2: {"df": _exp_u(rng, 0.0, 2.5, s1),
                              "loc": rng.normal(0.0, 2.0, size=s2),
                              "scale": _exp_u(rng, -1.0, 1.0, s1)},
         _real_values, lambda df, loc, scale: stats.t(df, loc, scale), "implicit",
         # df >= 9: the 8th moment exists, so the sample variance is well behaved.
         sample_draw=lambda rng, s1, s2: {"df": _u(rng, 9.0, 15.0, s1),
                                          "loc": rng.normal(0.0, 2.0, size=s2),
                                          "scale": _exp_u(rng, -1.0, 1.0, s1)}),
    Case("BinConcrete(logits)", BinConcrete,
         lambda rng, s1, s2: {"temperature": _exp_u(rng, -1.0, 0.5, s2),
                              "logits": _u(rng, -3.0, 3.0, s1)},
         _unit_values, lambda temperature, logits: binconcrete(temperature, logits),
         "direct"),
    Case("BinConcrete(probs)", BinConcrete,
         lambda rng, s1, s2: {"temperature": _exp_u(rng, -1.0, 0.5, s2),
                              "probs": _u(rng, 0.05, 0.95, s1)},
         _unit_values,
         lambda temperature, probs: binconcrete(temperature, special.logit(probs)),
         "direct"),
]
CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES]
# The sample tests take one parameterisation per class (the others differ
# only in the parameter conversion, which the log_prob tests cover); the
# choice alternates between the forms.
SAMPLE_CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES if c.name in (
    "FoldNormal(mean,std)", "HalfNormal(logstd)", "LogNormal(mean,std)", "Laplace",
    "Logistic", "Exponential", "Uniform", "Poisson(log_rate)", "Geometric(probs)",
    "Binomial(logits)", "Gamma", "Beta", "StudentT", "BinConcrete(probs)")]
DIRECT_CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES
                      if c.reparam == "direct"]
CASES_BY_NAME = {c.name: c for c in CASES}

# One broadcast pattern for every log_prob test (so that graphs are shared):
# the first parameter [3], the second [4, 1], the value [4, 3].
S1, S2, XS = (3,), (4, 1), (4, 3)


def build(case, params, dtype, **kwargs):
    """The distribution of ``case`` with ``params`` given as numpy ``dtype``."""
    return case.cls(**{k: np.asarray(v).astype(dtype) for k, v in params.items()},
                    **kwargs)


def as_seen(arrays, dtype):
    """The float64 values of ``arrays`` after rounding to ``dtype``: what the
    library actually receives, and so what the oracle must be evaluated at."""
    return {k: np.asarray(v).astype(dtype).astype(np.float64)
            for k, v in arrays.items()}


def broadcast(params, shape):
    return {k: np.broadcast_to(v, shape) for k, v in params.items()}


def draw_case(case, rng, s1=S1, s2=S2, xs=XS):
    params = case.draw(rng, s1, s2)
    x = case.value(rng, xs, broadcast(params, xs))
    return params, x


@contextlib.contextmanager
def using_backend(name):
    """Run the block on backend ``name`` (skip the test, with the reason, when
    it is not available); restore the previous backend afterwards."""
    previous = kernels.get_backend()
    try:
        kernels.set_backend(name)
    except RuntimeError as exc:
        pytest.skip(f"backend {name!r} is not available: {exc}")
    try:
        yield
    finally:
        kernels.set_backend(previous)


def assert_parity(got, want, dtype, what):
    """Elementwise relative agreement with a floor (see PARITY_RTOL); infinite
    entries must match exactly."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    inf = ~np.isfinite(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=what)
    rtol = PARITY_RTOL[dtype]
    finite = want[~inf]
    floor = rtol * max(1.0, float(np.max(np.abs(finite)))) if finite.size else 0.0
    np.testing.assert_allclose(got[~inf], finite, rtol=rtol, atol=floor, err_msg=what)


def central_difference_4(fn, a, h):
    """Fourth-order central difference of an elementwise fn at a (step h)."""
    near, far = fn(a + h) - fn(a - h), fn(a + 2 * h) - fn(a - 2 * h)
    return (8.0 * near - far) / (12.0 * h)


# -- 1. log_prob against the oracles -------------------------------------------------


def test_binconcrete_oracle_is_a_density_with_the_stated_cdf():
    # The oracle itself, against numerical integration in the logit domain
    # (see _logit_domain; quad's error is ~1e-14 there): it integrates to one,
    # and its integral up to x is the closed-form CDF used by the KS test.
    for tau, logits in [(0.5, 0.7), (1.0, -2.0), (2.0, 1.5), (0.3, 0.0), (0.4, 3.0)]:
        q, lo, hi = _logit_domain(tau, logits)
        total = integrate.quad(q, lo, hi, epsabs=1e-13, limit=200)[0]
        np.testing.assert_allclose(total, 1.0, rtol=0.0, atol=1e-10)
        for x in (0.01, 0.3, 0.5, 0.8, 0.999):
            part = integrate.quad(q, lo, special.logit(x), epsabs=1e-13, limit=200)[0]
            np.testing.assert_allclose(part, binconcrete.cdf(x, tau, logits),
                                       rtol=1e-10, atol=1e-10)


# float64 log-densities are checked against the same oracles, on every
# backend, by test_log_prob_gradients_match_finite_differences_and_reference
# (whose graphs compute the value too); a float64 copy here would only add
# graphs to compile.
@pytest.mark.parametrize("backend", ["native", "jittor"])
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_float32_log_prob_matches_oracle(case, backend, rng):
    dtype = "float32"
    params, x = draw_case(case, rng)
    want = case.logp(as_seen({"x": x}, dtype)["x"], **as_seen(params, dtype))
    with using_backend(backend):
        out = build(case, params, dtype).log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert list(out.shape) == list(XS)
    np.testing.assert_allclose(out.numpy(), want, **tolerances(dtype))
    if backend != "jittor":
        # Parity with the reference backend, directly (the jit backend runs
        # in float64 only, in the gradient test).
        with using_backend("jittor"):
            ref = build(case, params, dtype).log_prob(x.astype(dtype)).numpy()
        assert_parity(out.numpy(), ref, dtype, f"{case.name} {backend} vs jittor")


def test_group_ndims_sums_the_last_batch_axes(float64, rng):
    # Once (the reduction is the fused op's, shared by every family): the
    # last batch axis of Gamma's [4, 3] log-density.
    case = CASES_BY_NAME["Gamma"]
    params, x = draw_case(case, rng)
    want = case.logp(x, **params).sum(axis=1)
    out = build(case, params, "float64", group_ndims=1).log_prob(x)
    assert list(out.shape) == [4]
    np.testing.assert_allclose(out.numpy(), want, **tolerances("float64", 3))


SATURATED_LOGITS = np.array([-80.0, -30.0, 30.0, 80.0])


def _softplus(v):
    return np.logaddexp(0.0, v)  # NumPy: max + log1p(exp(-|d|)), stable


def test_saturated_logits_match_stable_closed_forms(dtype):
    # scipy cannot be the oracle here: sigmoid(80) is 1 in float64, so its
    # log(1 - p) is -inf where the answer is -80. The closed forms in logits
    # (log p = -softplus(-l), log(1 - p) = -softplus(l)), with NumPy's stable
    # logaddexp in float64, are accurate to a few ulp at any logit.
    logits = np.repeat(SATURATED_LOGITS, 3)
    k = np.tile([0.0, 2.0, 5.0], len(SATURATED_LOGITS))
    n = np.full_like(k, 5.0)
    tau = np.full_like(k, 0.5)
    u = np.tile([0.01, 0.5, 0.99], len(SATURATED_LOGITS))
    s = as_seen({"l": logits, "k": k, "n": n, "tau": tau, "u": u}, dtype)
    lv = jt.array(logits.astype(dtype))
    geo = Geometric(logits=lv).log_prob(k.astype(dtype))
    binom = Binomial(logits=lv, n_experiments=n.astype(dtype)).log_prob(k.astype(dtype))
    conc = BinConcrete(temperature=tau.astype(dtype), logits=lv).log_prob(
        u.astype(dtype))
    want_geo = -s["k"] * _softplus(s["l"]) - _softplus(-s["l"])
    want_binom = (special.gammaln(s["n"] + 1) - special.gammaln(s["k"] + 1)
                  - special.gammaln(s["n"] - s["k"] + 1)
                  - s["k"] * _softplus(-s["l"]) - (s["n"] - s["k"]) * _softplus(s["l"]))
    # The paper's density is finite in float64 at |logits| <= 80 (a^2 ~ 1e69).
    want_conc = np.log(binconcrete_pdf(s["u"], s["tau"], s["l"]))
    # Relative only: values as small as -1.8e-35 (k = 0, l = 80) must come
    # out right, which log(sigmoid(l)) or log1p(-sigmoid(l)) would not.
    rtol = RTOL64 if dtype == "float64" else RTOL32
    for name, got, want in (("Geometric", geo, want_geo),
                            ("Binomial", binom, want_binom),
                            ("BinConcrete", conc, want_conc)):
        assert np.all(np.isfinite(got.numpy())), name
        np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=0.0, err_msg=name)
    # d/dl: sigmoid(-l) - k sigmoid(l) and k sigmoid(-l) - (n - k) sigmoid(l):
    # sums of at most n = 5 numbers in [0, 1], so an absolute tolerance of
    # five times the one for terms of order one.
    g_geo, g_binom = jt.grad(geo.sum(), lv), jt.grad(binom.sum(), lv)
    atol = tolerances(dtype, 5)["atol"]
    sig = special.expit
    np.testing.assert_allclose(g_geo.numpy(), sig(-s["l"]) - s["k"] * sig(s["l"]),
                               rtol=0.0, atol=atol)
    np.testing.assert_allclose(g_binom.numpy(),
                               s["k"] * sig(-s["l"]) - (s["n"] - s["k"]) * sig(s["l"]),
                               rtol=0.0, atol=atol)


Z = np.array([0.0, 0.5, -2.0, 4.0])
Z_POS = np.array([0.05, 0.5, 2.0, 4.0])


def _scaled_cases(s):
    """(name, class, params, value, oracle log-density) with a scale ``s``;
    values are a few scales from the location, so the standardised value is
    the same for every s."""
    one = np.ones(4)
    z_log = Z * min(1.0, 20.0 / s)  # keeps exp(z * s) finite in float32
    return [
        ("FoldNormal", FoldNormal, {"mean": 1.5 * s * one, "std": s * one}, s * Z_POS,
         lambda x, mean, std: stats.foldnorm.logpdf(x, mean / std, scale=std)),
        ("HalfNormal", HalfNormal, {"std": s * one}, s * Z_POS,
         lambda x, std: stats.halfnorm.logpdf(x, scale=std)),
        ("LogNormal", LogNormal, {"mean": 0.0 * one, "logstd": np.log(s) * one},
         np.exp(s * z_log),
         lambda x, mean, logstd: stats.lognorm.logpdf(x, np.exp(logstd),
                                                      scale=np.exp(mean))),
        ("Laplace", Laplace, {"loc": 2.0 * one, "scale": s * one}, 2.0 + s * Z,
         lambda x, loc, scale: stats.laplace.logpdf(x, loc, scale)),
        ("Logistic", Logistic, {"loc": 2.0 * one, "scale": s * one}, 2.0 + s * Z,
         lambda x, loc, scale: stats.logistic.logpdf(x, loc, scale)),
        ("StudentT", StudentT, {"df": 3.0 * one, "loc": 2.0 * one, "scale": s * one},
         2.0 + s * Z, lambda x, df, loc, scale: stats.t.logpdf(x, df, loc, scale)),
        ("Exponential", Exponential, {"rate": one / s}, s * Z_POS,
         lambda x, rate: stats.expon.logpdf(x, scale=1.0 / rate)),
        ("Gamma", Gamma, {"alpha": 2.5 * one, "beta": one / s}, s * Z_POS,
         lambda x, alpha, beta: stats.gamma.logpdf(x, alpha, scale=1.0 / beta)),
        ("Uniform", Uniform, {"minval": -s * one, "maxval": 2.0 * s * one},
         s * np.array([-1.0, 0.0, 0.5, 1.9]),
         lambda x, minval, maxval: stats.uniform.logpdf(x, minval, maxval - minval)),
    ]


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_tiny_and_huge_scales_match_scipy(scale, dtype):
    for name, cls, params, x, logpdf in _scaled_cases(scale):
        out = cls(**{k: v.astype(dtype) for k, v in params.items()}).log_prob(
            x.astype(dtype)).numpy()
        seen = as_seen({**params, "x": x}, dtype)
        want = logpdf(seen.pop("x"), **seen)
        assert np.all(np.isfinite(want)), name  # the oracle is meaningful here
        np.testing.assert_allclose(out, want, err_msg=name, **tolerances(dtype))


def test_concentrations_below_one_match_scipy(dtype):
    # Densities that are infinite at a boundary; values close to it.
    x_g = np.array([1e-8, 1e-3, 0.5, 3.0])
    x_b = np.array([1e-6, 0.3, 0.9, 1.0 - 1e-6])
    x_t = np.array([0.0, 1.0, -10.0, 1e3])
    checks = []
    for a in (0.05, 0.3):
        checks.append((f"Gamma({a})", Gamma,
                       {"alpha": np.full(4, a), "beta": np.ones(4)}, x_g,
                       lambda x, alpha, beta: stats.gamma.logpdf(x, alpha,
                                                                 scale=1 / beta)))
        checks.append((f"StudentT({a})", StudentT,
                       {"df": np.full(4, a), "loc": np.zeros(4), "scale": np.ones(4)},
                       x_t,
                       lambda x, df, loc, scale: stats.t.logpdf(x, df, loc, scale)))
    for a, b in ((0.05, 0.3), (0.3, 0.05), (0.3, 2.0)):
        checks.append((f"Beta({a},{b})", Beta, {"alpha": np.full(4, a),
                                                 "beta": np.full(4, b)},
                       x_b, lambda x, alpha, beta: stats.beta.logpdf(x, alpha, beta)))
    for name, cls, params, x, logpdf in checks:
        out = cls(**{k: v.astype(dtype) for k, v in params.items()}).log_prob(
            x.astype(dtype)).numpy()
        seen = as_seen({**params, "x": x}, dtype)
        want = logpdf(seen.pop("x"), **seen)
        np.testing.assert_allclose(out, want, err_msg=name, **tolerances(dtype))


def test_large_counts_match_scipy_to_the_precision_of_their_terms(dtype):
    checks = []
    for big in (1e4, 1e6):
        sd = np.sqrt(big)
        x = np.round(big + np.array([-3.0, 0.0, 0.5, 3.0]) * sd)
        checks.append(("Poisson", Poisson, {"rate": np.full(4, big)}, x,
                       lambda x, rate: stats.poisson.logpmf(x, rate),
                       lambda x, rate: np.maximum.reduce([
                           np.abs(x * np.log(rate)), rate, special.gammaln(x + 1)])))
        p = 0.3
        sd = np.sqrt(big * p * (1 - p))
        x = np.round(big * p + np.array([-3.0, 0.0, 0.5, 3.0]) * sd)
        checks.append(("Binomial", Binomial,
                       {"probs": np.full(4, p), "n_experiments": np.full(4, big)}, x,
                       lambda x, probs, n_experiments: stats.binom.logpmf(
                           x, n_experiments, probs),
                       lambda x, probs, n_experiments: np.maximum.reduce([
                           special.gammaln(n_experiments + 1),
                           x * np.abs(np.log(probs)),
                           (n_experiments - x) * np.abs(np.log1p(-probs))])))
        q = 1.0 / big
        x = np.array([0.0, 1.0, big, 10.0 * big])
        checks.append(("Geometric", Geometric, {"probs": np.full(4, q)}, x,
                       lambda x, probs: stats.geom.logpmf(x, probs, loc=-1),
                       lambda x, probs: np.maximum(np.abs(x * np.log1p(-probs)),
                                                   np.abs(np.log(probs)))))
    for name, cls, params, x, logpmf, magnitude in checks:
        out = cls(**{k: v.astype(dtype) for k, v in params.items()}).log_prob(
            x.astype(dtype)).numpy()
        seen = as_seen({**params, "x": x}, dtype)
        xs = seen.pop("x")
        want = logpmf(xs, **seen)
        # See LARGE_EPS_MULT: the error is bounded by a multiple of eps of
        # the largest term, not of the result.
        atol = LARGE_EPS_MULT * eps(dtype) * magnitude(xs, **seen)
        assert np.all(np.isfinite(out)), name
        np.testing.assert_array_less(np.abs(out - want), atol + 1e-300,
                                     err_msg=f"{name} {params}")


def test_values_outside_the_support_are_minus_inf_with_zero_gradient(dtype):
    # Each row: a point outside the support next to one inside it (whose
    # log-density must still match scipy).
    f = np.array
    rows = [
        ("FoldNormal", FoldNormal, {"mean": f([1.0, 1.0]), "std": f([2.0, 2.0])},
         f([-1.0, 0.5]), lambda x, mean, std: stats.foldnorm.logpdf(x, mean / std,
                                                                    scale=std)),
        ("HalfNormal", HalfNormal, {"std": f([2.0, 2.0])}, f([-1e-3, 0.5]),
         lambda x, std: stats.halfnorm.logpdf(x, scale=std)),
        ("LogNormal", LogNormal,
         {"mean": f([0.0, 0.0, 0.0]), "std": f([1.0, 1.0, 1.0])},
         f([0.0, -1.0, 0.5]), lambda x, mean, std: stats.lognorm.logpdf(
             x, std, scale=np.exp(mean))),
        ("Exponential", Exponential, {"rate": f([2.0, 2.0])}, f([-1e-3, 0.5]),
         lambda x, rate: stats.expon.logpdf(x, scale=1 / rate)),
        ("Uniform", Uniform,
         {"minval": f([0.0, 0.0, 0.0]), "maxval": f([1.0, 1.0, 1.0])},
         f([-0.1, 1.5, 0.5]), lambda x, minval, maxval: stats.uniform.logpdf(
             x, minval, maxval - minval)),
        ("Gamma", Gamma, {"alpha": f([2.0, 2.0]), "beta": f([1.5, 1.5])},
         f([-1.0, 0.5]),
         lambda x, alpha, beta: stats.gamma.logpdf(x, alpha, scale=1 / beta)),
        ("Beta", Beta, {"alpha": f([2.0, 2.0, 2.0]), "beta": f([3.0, 3.0, 3.0])},
         f([-0.1, 1.1, 0.5]), lambda x, alpha, beta: stats.beta.logpdf(x, alpha, beta)),
        ("Poisson", Poisson, {"rate": f([2.0, 2.0])}, f([-1.0, 3.0]),
         lambda x, rate: stats.poisson.logpmf(x, rate)),
        ("Geometric", Geometric, {"logits": f([0.5, 0.5])}, f([-1.0, 3.0]),
         lambda x, logits: stats.geom.logpmf(x, special.expit(logits), loc=-1)),
        ("Binomial", Binomial, {"logits": f([0.5, 0.5, 0.5]),
                                "n_experiments": f([4.0, 4.0, 4.0])},
         f([-1.0, 5.0, 3.0]), lambda x, logits, n_experiments: stats.binom.logpmf(
             x, n_experiments, special.expit(logits))),
    ]
    for name, cls, params, x, logpdf in rows:
        vs = {k: jt.array(v.astype(dtype)) for k, v in params.items()}
        out = cls(**vs).log_prob(x.astype(dtype))
        got = out.numpy()
        seen = as_seen({**params, "x": x}, dtype)
        want = logpdf(seen.pop("x"), **seen)
        outside = ~np.isfinite(want)
        assert np.all(got[outside] == -np.inf), (name, got)
        np.testing.assert_allclose(got[~outside], want[~outside], err_msg=name,
                                   **tolerances(dtype))
        if dtype == "float64":  # (the rule is dtype-independent; one graph)
            # The gradient of the (-inf) sum: every parameter entry belongs to
            # one point, and the points outside contribute exactly 0, not NaN.
            wanted = [k for k in vs if k != "n_experiments"]
            for k, g in zip(wanted, jt.grad(out.sum(), [vs[k] for k in wanted]), strict=False):
                g = g.numpy()
                assert np.all(np.isfinite(g)), (name, k, g)
                np.testing.assert_array_equal(g[outside], 0.0, err_msg=f"{name} d/d{k}")


def test_reference_backend_at_and_outside_the_support(float64, rng):
    # The inputs of the gradient test (so its compiled graphs are reused) with
    # x[0, 0] moved outside the support; for Beta, separately, x[1, 0] = 1
    # with beta[1, 0] = 1/2, where the density is +inf.
    failures = []
    for name, outside in (("LogNormal(mean,std)", -1.0), ("Gamma", -1.0),
                          ("Beta", 1.1)):
        case = CASES_BY_NAME[name]
        params, x = draw_case(case, rng)
        x[0, 0] = outside
        with using_backend("jittor"):
            lp, grads = _log_prob_and_grads(case, {**params, "x": x})
        if lp[0, 0] != -np.inf:
            failures.append(f"{name} log_prob({outside}) = {lp[0, 0]}")
        for k, g in grads.items():
            if not np.all(np.isfinite(g)) or (k == "x" and g[0, 0] != 0.0):
                failures.append(f"{name} d/d{k} = {g.ravel()}")
        if case.cls is Beta:
            x[0, 0], x[1, 0] = 0.5, 1.0
            params["beta"][1, 0] = 0.5
            with using_backend("jittor"):
                lp, _ = _log_prob_and_grads(case, {**params, "x": x})
            if lp[1, 0] != np.inf:
                failures.append(f"Beta(alpha={params['alpha'][0]:.3g}, beta=0.5)"
                                f".log_prob(1) = {lp[1, 0]}")
    assert not failures, failures


def test_binconcrete_outside_the_support_is_minus_inf(dtype):
    dist = BinConcrete(temperature=np.full(4, 0.5, dtype),
                       logits=np.full(4, 0.3, dtype))
    out = dist.log_prob(np.array([0.0, 1.0, -0.5, 1.5], dtype)).numpy()
    np.testing.assert_array_equal(out, -np.inf)


def test_boundaries_of_the_support_match_scipy(dtype):
    # With validate_args (in float64 only: the checks are dtype-independent
    # comparisons, each compiling a small graph per dtype) the boundary values
    # are accepted.
    validate = dtype == "float64"
    f = np.array
    rows = [
        # x = 0 with alpha = 1 is finite (log beta); alpha = 2 gives -inf and
        # alpha = 1/2 gives +inf, as in scipy.
        ("Gamma", Gamma,
         {"alpha": f([1.0, 1.0, 2.0, 0.5]), "beta": f([2.0, 0.5, 2.0, 2.0])},
         f([0.0, 0.0, 0.0, 0.0]),
         lambda x, alpha, beta: stats.gamma.logpdf(x, alpha, scale=1 / beta)),
        ("Exponential", Exponential, {"rate": f([0.5, 3.0])}, f([0.0, 0.0]),
         lambda x, rate: stats.expon.logpdf(x, scale=1 / rate)),
        ("Beta", Beta, {"alpha": f([1.0, 2.0, 1.0, 1.0, 2.0, 3.0]),
                        "beta": f([3.0, 1.0, 1.0, 1.0, 3.0, 0.5])},
         f([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
         lambda x, alpha, beta: stats.beta.logpdf(x, alpha, beta)),
        ("HalfNormal", HalfNormal, {"std": f([0.5, 2.0])}, f([0.0, 0.0]),
         lambda x, std: stats.halfnorm.logpdf(x, scale=std)),
        ("FoldNormal", FoldNormal, {"mean": f([0.5, -2.0]), "std": f([0.5, 2.0])},
         f([0.0, 0.0]),
         lambda x, mean, std: stats.foldnorm.logpdf(x, np.abs(mean) / std, scale=std)),
        ("Uniform", Uniform, {"minval": f([-1.0, 2.0]), "maxval": f([1.0, 5.0])},
         f([-1.0, 2.0]),
         lambda x, minval, maxval: stats.uniform.logpdf(x, minval, maxval - minval)),
        # rate 0: k = 0 is certain (log p = 0), k = 1 impossible.
        ("Poisson", Poisson, {"rate": f([0.0, 0.0, 2.0])}, f([0.0, 1.0, 0.0]),
         lambda x, rate: stats.poisson.logpmf(x, rate)),
        ("Binomial", Binomial, {"probs": f([0.3, 0.3]), "n_experiments": f([5.0, 5.0])},
         f([0.0, 5.0]), lambda x, probs, n_experiments: stats.binom.logpmf(
             x, n_experiments, probs)),
        ("Geometric", Geometric, {"probs": f([0.3, 1.0])}, f([0.0, 0.0]),
         lambda x, probs: stats.geom.logpmf(x, probs, loc=-1)),
    ]
    for name, cls, params, x, logpdf in rows:
        dist = cls(**{k: v.astype(dtype) for k, v in params.items()},
                   validate_args=validate)
        out = dist.log_prob(x.astype(dtype)).numpy()
        seen = as_seen({**params, "x": x}, dtype)
        want = logpdf(seen.pop("x"), **seen)
        np.testing.assert_allclose(out, want, err_msg=name, **tolerances(dtype))
    # [minval, maxval) is half-open: maxval itself is outside (scipy's
    # uniform is closed, so it is no oracle here).
    half_open = Uniform(minval=f([0.0, 0.0]).astype(dtype),
                        maxval=f([1.0, 1.0]).astype(dtype))
    out = half_open.log_prob(f([0.5, 1.0]).astype(dtype)).numpy()
    assert out[0] == 0.0 and out[1] == -np.inf


@pytest.mark.parametrize("family", ["Geometric", "Binomial"])
def test_probs_of_exactly_zero_or_one_are_clamped_not_infinite(family, dtype):
    # As Bernoulli (test_normal_bernoulli.py): probs are clamped into the open
    # interval, so the certain outcome has log-probability ~0 and the
    # impossible one is finite but as unlikely as the dtype can say.
    # validate_args (float64 only, as above) accepts probs of 0 and 1.
    validate = dtype == "float64"
    if family == "Geometric":
        dist = Geometric(probs=np.array([1.0, 1.0], dtype), validate_args=validate)
        x = np.array([0.0, 1.0], dtype)  # certain, impossible
    else:
        dist = Binomial(probs=np.array([1.0, 0.0, 1.0, 0.0], dtype),
                        n_experiments=np.full(4, 3.0, dtype), validate_args=validate)
        x = np.array([3.0, 0.0, 2.0, 1.0], dtype)  # certain, certain, impossible x 2
    out = dist.log_prob(x).numpy()
    assert np.all(np.isfinite(out)), out
    n_certain = 1 if family == "Geometric" else 2
    # log(1 - 2^-24) = -6e-8 in float32, -1.1e-16 in float64, times <= 3 trials.
    near_zero = 3e-6 if dtype == "float32" else 1e-15
    assert np.all(np.abs(out[:n_certain]) < near_zero), out
    # The impossible outcomes here each need one impossible trial: log p is at
    # most log C(n, k) plus the log of the spacing of floats just below 1
    # (2^-24, 2^-53) (a p clamped to 0 gives far less: the smallest normal).
    floor = np.log(2.0**-24) if dtype == "float32" else np.log(2.0**-53)
    k = x[n_certain:].astype(np.float64)
    log_choose = 0.0 if family == "Geometric" else (
        special.gammaln(4.0) - special.gammaln(k + 1) - special.gammaln(4.0 - k))
    assert np.all(out[n_certain:] < log_choose + floor + 0.5), out


# -- 2. samples (float64) ---------------------------------------------------------


def _chisquare_pvalue(draws, dist):
    """Chi-square goodness of fit of integer draws against a frozen scipy
    discrete distribution: one bin per value and one for the upper tail,
    adjacent bins merged (scanning up from 0) until every expected count is
    >= 5, the usual validity rule; a remainder joins the last bin."""
    n = len(draws)
    top = int(dist.ppf(1.0 - 1e-12)) + 1
    ks = np.arange(top)
    expected = list(n * dist.pmf(ks))
    observed = list(np.bincount(np.minimum(draws.astype(np.int64), top),
                                minlength=top + 1)[:top].astype(np.float64))
    expected.append(n * dist.sf(top - 1))
    observed.append(float(np.sum(draws >= top)))
    exp_b, obs_b = [], []
    acc_e = acc_o = 0.0
    for e, o in zip(expected, observed, strict=False):
        acc_e += e
        acc_o += o
        if acc_e >= 5.0:
            exp_b.append(acc_e)
            obs_b.append(acc_o)
            acc_e = acc_o = 0.0
    exp_b[-1] += acc_e
    obs_b[-1] += acc_o
    exp_b = np.array(exp_b) * n / np.sum(exp_b)
    return stats.chisquare(obs_b, exp_b).pvalue


@pytest.mark.parametrize("case", SAMPLE_CASE_PARAMS)
def test_samples_match_moments_and_distribution(case, float64, seed, rng):
    draw = case.sample_draw or case.draw
    params = draw(rng, (3,), (2, 1))
    batch = list(np.broadcast_shapes(*[v.shape for v in params.values()]))
    assert build(case, params, "float64").batch_shape == batch
    if case.reparam == "direct":
        # The graph of the reparameterised-gradient test (compiled once for
        # both); the gradients are not used here.
        s = reparameterized_run(case, params, N_SAMPLES, seed)[0]
    else:
        s = build(case, params, "float64").sample(N_SAMPLES).numpy()
    assert s.dtype == np.float64
    assert list(s.shape) == [N_SAMPLES] + batch
    s = s.reshape(N_SAMPLES, -1)
    flat = {k: np.broadcast_to(v, batch).ravel() for k, v in params.items()}
    oracle = case.oracle(**flat)
    mean, var, kurt = (np.asarray(m, np.float64) for m in oracle.stats(moments="mvk"))
    mu4 = (kurt + 3.0) * var**2
    # FPR: < 1e-8 per assertion (see N_SE); <= 6 entries x 2 moments
    # < 1.2e-7. Standard errors: sqrt(var / N) for the mean and, by the delta
    # method, sqrt((mu4 - var^2) / N) for the sample variance.
    np.testing.assert_array_less(np.abs(s.mean(axis=0) - mean),
                                 N_SE * np.sqrt(var / N_SAMPLES), err_msg="mean")
    np.testing.assert_array_less(np.abs(s.var(axis=0, ddof=1) - var),
                                 N_SE * np.sqrt((mu4 - var**2) / N_SAMPLES),
                                 err_msg="variance")
    if case.cls is Uniform:
        assert np.all(s >= flat["minval"]) and np.all(s < flat["maxval"])
    elif case.cls is BinConcrete or case.cls is Beta:
        assert np.all((s > 0.0) & (s < 1.0))
    elif case.cls in (FoldNormal, HalfNormal, Exponential, Gamma):
        assert np.all(s >= 0.0)
    elif case.cls is LogNormal:
        assert np.all(s > 0.0)
    for j in range(s.shape[1]):
        entry = case.oracle(**{k: v[j] for k, v in flat.items()})
        if case.cls.is_continuous:
            # FPR: ALPHA = 1e-4 per entry, <= 6e-4 for the test.
            pvalue = stats.kstest(s[:, j], entry.cdf).pvalue
        else:
            assert np.all(s[:, j] == np.floor(s[:, j])) and np.all(s[:, j] >= 0)
            if case.cls is Binomial:
                assert np.all(s[:, j] <= flat["n_experiments"][j])
            # FPR: ALPHA = 1e-4 per entry (chi-square approximation with
            # expected counts >= 5), <= 6e-4 for the test.
            pvalue = _chisquare_pvalue(s[:, j], entry)
        assert pvalue > ALPHA, (j, {k: v[j] for k, v in flat.items()}, pvalue)


# -- 3. gradients (float64) ---------------------------------------------------------


def _test_function_np(z):
    # Nonlinear, so the reparameterised gradient depends on the draws; one
    # term per draw (summed by central_difference).
    return np.sin(z) + 0.5 * z * z


def _test_function_jt(z):
    return (jt.sin(z) + 0.5 * z * z).sum()


def reparameterized_run(case, arrays, n_samples, seed):
    """Draw ``n_samples`` with Jittor's seed set to ``seed``; return the
    sample, sum(f(sample)) and its gradients w.r.t. every parameter. The
    graph does not depend on ``n_samples`` or the values, so the sample test
    and every finite-difference evaluation share one compiled graph."""
    jt.set_global_seed(seed)
    vs = {k: jt.array(v) for k, v in arrays.items()}
    z = case.cls(**vs).sample(n_samples)
    value = _test_function_jt(z)
    grads = jt.grad(value, list(vs.values()))
    jt.sync([z, value, *grads])
    return z.numpy(), value.item(), [g.numpy() for g in grads]


@pytest.mark.parametrize("case", DIRECT_CASE_PARAMS)
def test_reparameterized_sample_gradient_matches_finite_differences(
        case, float64, seed, rng):
    # The noise (normal or uniform draws) is fixed by the seed, so the sample
    # is a deterministic, smooth function of the parameters. The parameters
    # broadcast ([3] and [2, 1], as in the sample test, whose graph this is).
    params = case.draw(rng, (3,), (2, 1))
    batch = list(np.broadcast_shapes(*[v.shape for v in params.values()]))

    def terms(arrays):
        return _test_function_np(reparameterized_run(case, arrays, 4, seed)[0])

    z, value, grads = reparameterized_run(case, params, 4, seed)
    assert list(z.shape) == [4] + batch
    # The value is the NumPy function of the sample, and reseeding reproduces
    # the draws (or the differences below would be noise).
    np.testing.assert_allclose(value, np.sum(_test_function_np(z)), rtol=RTOL64,
                               atol=ATOL64 * z.size)
    np.testing.assert_array_equal(reparameterized_run(case, params, 4, seed)[0], z)
    for name, g in zip(params, grads, strict=False):
        assert g.dtype == np.float64 and g.shape == params[name].shape, name
        np.testing.assert_allclose(g, central_difference(terms, params, name),
                                   rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)


def test_gamma_cdf_dalpha_matches_finite_differences_of_scipy():
    alphas = np.array([0.05, 0.3, 1.0, 4.5, 40.0, 300.0])
    qs = np.array([1e-6, 0.01, 0.25, 0.5, 0.9, 0.999])
    a = np.repeat(alphas, len(qs))
    x = stats.gamma.ppf(np.tile(qs, len(alphas)), a)
    dp, log_f = gamma_cdf_dalpha(x, a)
    want = central_difference_4(lambda b: special.gammainc(b, x), a,
                                CDF_FD_REL_STEP * a)
    np.testing.assert_allclose(dp, want, rtol=CDF_GRAD_RTOL, atol=CDF_GRAD_ATOL)
    np.testing.assert_allclose(log_f, stats.gamma.logpdf(x, a), rtol=1e-12, atol=1e-12)
    # x = 0: P(alpha, 0) = 0 for every alpha.
    np.testing.assert_array_equal(gamma_cdf_dalpha(np.zeros(3), alphas[:3])[0], 0.0)


def test_gamma_draw_gradients_are_the_inverse_cdf_derivative(float64, rng):
    # Implicit reparameterisation: a draw x = F^-1(u; alpha) / beta for its
    # quantile u held fixed, so dx/dalpha = d/dalpha F^-1(u; alpha) / beta
    # (scipy's gammaincinv, by central differences) and dx/dbeta = -x / beta.
    # Per draw, so no statistics: alpha from 0.05 to 300, one draw each.
    # Shape [40, 5]: the graph of the moment test below (compiled once).
    alpha = np.exp(rng.uniform(np.log(0.05), np.log(300.0), size=(40, 5)))
    beta = np.exp(rng.uniform(-1.0, 1.0, size=(40, 5)))
    a, b = jt.array(alpha), jt.array(beta)
    x = Gamma(alpha=a, beta=b).sample()
    g_a, g_b = (g.numpy() for g in jt.grad(x.sum(), [a, b]))
    xs = x.numpy() * beta  # the standard Gamma(alpha, 1) draw
    lower = special.gammainc(alpha, xs)
    upper = special.gammaincc(alpha, xs)
    use_upper = upper < 0.5  # invert the smaller tail, which keeps its precision

    def inverse(al):
        return np.where(use_upper, special.gammainccinv(al, upper),
                        special.gammaincinv(al, lower))

    # Draws in the extreme tails (quantile < 1e-9) are excluded: there the
    # inverse itself has few correct digits. Their expected number is
    # 200 * 2e-9; the check below makes sure almost all draws are used.
    ok = np.minimum(lower, upper) > 1e-9
    assert ok.sum() >= 195
    want = central_difference_4(inverse, alpha, CDF_FD_REL_STEP * alpha) / beta
    np.testing.assert_allclose(g_a[ok], want[ok], rtol=INV_GRAD_RTOL, atol=0.0)
    np.testing.assert_allclose(g_b, -x.numpy() / beta, rtol=RTOL64, atol=0.0)


def _check_mean_identity(per_draw, want, what):
    """|mean(per_draw) - want| < N_SE standard errors (estimated from the
    draws; N = 20000 makes the estimate's own error ~1%)."""
    se = per_draw.std(axis=0, ddof=1) / np.sqrt(per_draw.shape[0])
    np.testing.assert_array_less(np.abs(per_draw.mean(axis=0) - want), N_SE * se,
                                 err_msg=what)


def _draws_and_gradients(cls, alpha, beta, n):
    """n draws of ``cls(alpha, beta)`` per entry, with parameters of the full
    sample shape, and each draw's derivatives d x / d alpha, d x / d beta."""
    a = jt.array(np.tile(alpha, (n, 1)))
    b = jt.array(np.tile(beta, (n, 1)))
    x = cls(alpha=a, beta=b).sample()
    g_a, g_b = (g.numpy() for g in jt.grad(x.sum(), [a, b]))
    return x.numpy(), g_a, g_b


def test_gamma_and_beta_implicit_gradients_match_moment_derivatives(float64):
    # With one parameter per draw (parameters of the full sample shape), the
    # gradient of sum(x) is the per-draw derivative g = dx/dtheta, and
    # d/dtheta E[f(x)] = E[f'(x) g]. Each identity below is a mean of N i.i.d.
    # per-draw terms; FPR < 1e-8 per assertion (see N_SE), 5 entries x 8
    # identities < 4e-7. The identities check g beyond its mean: f(x) = x^2
    # and log x weight the draws differently.
    n = N_SAMPLES
    alpha = np.array([0.05, 0.3, 1.0, 4.5, 40.0])
    beta = np.array([1.0, 2.0, 0.5, 1.5, 0.8])
    x, g_a, g_b = _draws_and_gradients(Gamma, alpha, beta, n)
    # E x = a / b, E x^2 = a (a + 1) / b^2, E log x = digamma(a) - log b.
    _check_mean_identity(g_a, 1.0 / beta, "Gamma d/dalpha E[x]")
    _check_mean_identity(2.0 * x * g_a, (2.0 * alpha + 1.0) / beta**2,
                         "Gamma d/dalpha E[x^2]")
    _check_mean_identity(g_a / x, special.polygamma(1, alpha),
                         "Gamma d/dalpha E[log x]")
    _check_mean_identity(g_b, -alpha / beta**2, "Gamma d/dbeta E[x]")

    # Beta(a, b): E x = a / (a + b), E log x = digamma(a) - digamma(a + b),
    # E log(1 - x) = digamma(b) - digamma(a + b).
    pa = np.array([0.05, 0.3, 1.0, 3.0, 20.0])
    pb = np.array([2.0, 0.7, 1.0, 5.0, 7.0])
    x, g_a, g_b = _draws_and_gradients(Beta, pa, pb, n)
    tg = special.polygamma(1, pa + pb)
    _check_mean_identity(g_a, pb / (pa + pb) ** 2, "Beta d/dalpha E[x]")
    _check_mean_identity(g_b, -pa / (pa + pb) ** 2, "Beta d/dbeta E[x]")
    _check_mean_identity(g_a / x, special.polygamma(1, pa) - tg,
                         "Beta d/dalpha E[log x]")
    _check_mean_identity(-g_b / (1.0 - x), special.polygamma(1, pb) - tg,
                         "Beta d/dbeta E[log(1 - x)]")


def test_student_t_implicit_gradients_match_moment_derivatives(float64):
    # x = loc + scale T, T ~ t(df): d/dloc |x - loc| = 0 exactly; d/dscale |x - loc|
    # = |T|, with mean m(df) = E|T| = 2 sqrt(df) Gamma((df+1)/2) /
    # (sqrt(pi) (df - 1) Gamma(df/2)); d/ddf E|x - loc| = scale m'(df),
    # m'/m = 1/(2 df) + digamma((df+1)/2)/2 - 1/(df - 1) - digamma(df/2)/2
    # (the implicit Gamma gradient through df). FPR < 1e-8 per assertion
    # (see N_SE), 3 entries x 2 identities < 6e-8.
    n = N_SAMPLES
    df = np.array([5.0, 9.0, 15.0])
    loc = np.array([1.0, -2.0, 0.5])
    scale = np.array([0.5, 2.0, 1.0])
    vs = [jt.array(np.tile(p, (n, 1))) for p in (df, loc, scale)]
    x = StudentT(df=vs[0], loc=vs[1], scale=vs[2]).sample()
    g_df, g_loc, g_scale = (g.numpy() for g in jt.grad(jt.abs(x - vs[1]).sum(), vs))
    # |x - loc| does not depend on loc exactly when dx/dloc = 1: 0 per draw.
    np.testing.assert_array_equal(g_loc, 0.0)
    ratio = np.exp(special.gammaln((df + 1) / 2) - special.gammaln(df / 2))
    m = 2.0 * np.sqrt(df) * ratio / (np.sqrt(np.pi) * (df - 1.0))
    dlog_m = (0.5 / df + 0.5 * special.digamma((df + 1) / 2) - 1.0 / (df - 1.0)
              - 0.5 * special.digamma(df / 2))
    _check_mean_identity(g_scale, m, "StudentT d/dscale E|x - loc|")
    _check_mean_identity(g_df, scale * m * dlog_m, "StudentT d/ddf E|x - loc|")


BACKENDS = ["native", "jit", "jittor"]


def _log_prob_and_grads(case, arrays, grads=True):
    """log_prob at arrays['x'] and (when ``grads``) its gradients w.r.t.
    every parameter and the value."""
    vs = {k: jt.array(v) for k, v in arrays.items()}
    dist = case.cls(**{k: v for k, v in vs.items() if k != "x"})
    lp = dist.log_prob(vs["x"])
    if not grads:
        return lp.numpy(), {}
    gs = jt.grad(lp.sum(), list(vs.values()))
    return lp.numpy(), {k: g.numpy() for k, g in zip(vs, gs, strict=False)}


# BinConcrete's density is Jittor ops on every backend (no fused kernel), so it
# runs once; its probs form differs from Geometric(probs) and Binomial(probs)
# only in the shared probs_to_logits, whose gradient those cases check.
GRADIENT_PARAMS = [
    pytest.param(c, b, id=f"{c.name}-{b}") for c in CASES for b in BACKENDS
    if c.cls is not BinConcrete or (c.name == "BinConcrete(logits)" and b == "native")]


@pytest.mark.parametrize("case,backend", GRADIENT_PARAMS)
def test_log_prob_gradients_match_finite_differences_and_reference(
        case, backend, float64, rng):
    params, x = draw_case(case, rng)
    arrays = {**params, "x": x}

    def oracle_terms(a):
        return case.logp(a["x"], **{k: a[k] for k in params})

    # On the jit backend every gradient is one more kernel to compile (about
    # 22 here, ~25 s on a cold cache), and those kernels are the ones
    # tests/kernels/test_family_parity.py checks, for every family and
    # operand, against the reference (1e-12); the gradient's path outside the
    # kernel (the parameter conversions) is the same Jittor code on every
    # backend and is checked here on native and jittor. So jit runs the value.
    with using_backend(backend):
        lp, grads = _log_prob_and_grads(case, arrays, grads=backend != "jit")
    np.testing.assert_allclose(lp, case.logp(x, **params), **tolerances("float64"))
    for name, g in grads.items():
        assert g.shape == np.shape(arrays[name]), name
        if name == "n_experiments" or (name == "x" and not case.cls.is_continuous):
            # Discrete values and Binomial's n get no gradient.
            np.testing.assert_array_equal(g, 0.0, err_msg=name)
            continue
        np.testing.assert_allclose(g, central_difference(oracle_terms, arrays, name),
                                   rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"d/d{name}")
    if backend != "jittor" and case.cls is not BinConcrete:
        with using_backend("jittor"):
            ref_lp, ref_grads = _log_prob_and_grads(case, arrays)
        assert_parity(lp, ref_lp, "float64", f"{case.name} {backend} log_prob")
        for name, g in grads.items():
            assert_parity(g, ref_grads[name], "float64",
                          f"{case.name} {backend} d/d{name}")


# -- 5. errors ------------------------------------------------------------------------

f = np.array
# Every number is a float64 array of two elements, so that the validation
# kernels (one small graph per kind of check; Jittor compiles arrays of one
# element differently) are those the float64 instance of
# test_boundaries_of_the_support_match_scipy compiles already.
ONE, ZERO = f([1.0, 1.0]), f([0.0, 0.0])
ERRORS = [
    # Conflicting or missing parameters.
    (lambda: FoldNormal(mean=ZERO, std=ONE, logstd=ZERO),
     r"^FoldNormal: pass exactly one of 'std' or 'logstd' \(got both\)"),
    (lambda: HalfNormal(),
     r"^HalfNormal: pass exactly one of 'std' or 'logstd' \(got neither\)"),
    (lambda: LogNormal(mean=ZERO, std=ONE, logstd=ZERO),
     r"^LogNormal: pass exactly one of 'std' or 'logstd' \(got both\)"),
    (lambda: Poisson(),
     r"^Poisson: pass exactly one of 'rate' or 'log_rate' \(got neither\)"),
    (lambda: Poisson(rate=ONE, log_rate=ZERO),
     r"^Poisson: pass exactly one of 'rate' or 'log_rate' \(got both\)"),
    (lambda: Geometric(),
     r"^Geometric: pass exactly one of 'logits' or 'probs' \(got neither\)"),
    (lambda: Binomial(n_experiments=f([3.0, 3.0])),
     r"^Binomial: pass exactly one of 'logits' or 'probs' \(got neither\)"),
    (lambda: Binomial(logits=ZERO, probs=f([0.5, 0.5]), n_experiments=f([3.0, 3.0])),
     r"^Binomial: pass exactly one of 'logits' or 'probs' \(got both\)"),
    (lambda: Binomial(logits=ZERO), r"^Binomial: n_experiments is required"),
    (lambda: Binomial(logits=ZERO, n_experiments=f([2.5, 3.0])),
     r"^Binomial: n_experiments must be non-negative integers"),
    (lambda: Binomial(logits=ZERO, n_experiments=f([-1.0, -1.0])),
     r"^Binomial: n_experiments must be non-negative integers"),
    (lambda: BinConcrete(temperature=ONE),
     r"^BinConcrete: pass exactly one of 'logits' or 'probs' \(got neither\)"),
    # Parameter constraints under validate_args.
    (lambda: FoldNormal(mean=ZERO, std=f([1.0, -1.0]), validate_args=True),
     r"^FoldNormal: std must be > 0"),
    (lambda: HalfNormal(std=ZERO, validate_args=True), r"^HalfNormal: std must be > 0"),
    (lambda: LogNormal(mean=ZERO, std=f([-2.0, -2.0]), validate_args=True),
     r"^LogNormal: std must be > 0"),
    (lambda: Laplace(ZERO, f([1.0, -0.5]), validate_args=True),
     r"^Laplace: scale must be > 0"),
    (lambda: Logistic(ZERO, ZERO, validate_args=True), r"^Logistic: scale must be > 0"),
    (lambda: Exponential(f([-1.0, -1.0]), validate_args=True),
     r"^Exponential: rate must be > 0"),
    (lambda: Uniform(ONE, ONE, validate_args=True),
     r"^Uniform: maxval must be > minval"),
    (lambda: Poisson(rate=f([2.0, -1.0]), validate_args=True),
     r"^Poisson: rate must be >= 0"),
    (lambda: Geometric(probs=ZERO, validate_args=True),
     r"^Geometric: probs must be in \(0, 1\]"),
    (lambda: Geometric(probs=f([1.5, 1.5]), validate_args=True),
     r"^Geometric: probs must be in \(0, 1\]"),
    (lambda: Binomial(probs=f([1.5, 1.5]), n_experiments=f([3.0, 3.0]),
                      validate_args=True),
     r"^Binomial: probs must be in \[0, 1\]"),
    (lambda: Binomial(probs=f([-0.1, -0.1]), n_experiments=f([3.0, 3.0]),
                      validate_args=True),
     r"^Binomial: probs must be in \[0, 1\]"),
    (lambda: Gamma(ZERO, ONE, validate_args=True), r"^Gamma: alpha must be > 0"),
    (lambda: Gamma(ONE, f([-1.0, -1.0]), validate_args=True),
     r"^Gamma: beta must be > 0"),
    (lambda: Beta(f([-1.0, -1.0]), ONE, validate_args=True),
     r"^Beta: alpha must be > 0"),
    (lambda: Beta(ONE, ZERO, validate_args=True), r"^Beta: beta must be > 0"),
    (lambda: StudentT(ZERO, validate_args=True), r"^StudentT: df must be > 0"),
    (lambda: StudentT(f([3.0, 3.0]), ZERO, f([-1.0, -1.0]), validate_args=True),
     r"^StudentT: scale must be > 0"),
    (lambda: BinConcrete(temperature=ZERO, logits=ZERO, validate_args=True),
     r"^BinConcrete: temperature must be > 0"),
    # Values outside the support under validate_args.
    (lambda: FoldNormal(mean=ZERO, std=ONE, validate_args=True).log_prob(
        f([1.0, -0.5])),
     r"^FoldNormal: FoldNormal values must be >= 0"),
    (lambda: HalfNormal(std=ONE, validate_args=True).log_prob(f([-1e-3, -1e-3])),
     r"^HalfNormal: HalfNormal values must be >= 0"),
    (lambda: LogNormal(mean=ZERO, std=ONE, validate_args=True).log_prob(ZERO),
     r"^LogNormal: LogNormal values must be > 0"),
    (lambda: Exponential(ONE, validate_args=True).log_prob(f([-1.0, -1.0])),
     r"^Exponential: Exponential values must be >= 0"),
    (lambda: Uniform(ZERO, ONE, validate_args=True).log_prob(f([0.5, 1.0])),
     r"^Uniform: Uniform values must lie in \[minval, maxval\)"),
    (lambda: Gamma(ONE, ONE, validate_args=True).log_prob(f([-1.0, -1.0])),
     r"^Gamma: Gamma values must be >= 0"),
    (lambda: Beta(ONE, ONE, validate_args=True).log_prob(f([1.5, 1.5])),
     r"^Beta: Beta values must lie in \[0, 1\]"),
    (lambda: BinConcrete(temperature=ONE, logits=ZERO,
                         validate_args=True).log_prob(ONE),
     r"^BinConcrete: BinConcrete values must lie in \(0, 1\)"),
    (lambda: Poisson(rate=ONE, validate_args=True).log_prob(f([1.5, 1.5])),
     r"^Poisson: Poisson values must be non-negative integers"),
    (lambda: Poisson(rate=ONE, validate_args=True).log_prob(f([-1.0, -1.0])),
     r"^Poisson: Poisson values must be non-negative integers"),
    (lambda: Geometric(logits=ZERO, validate_args=True).log_prob(f([2.5, 2.5])),
     r"^Geometric: Geometric values must be non-negative integers"),
    (lambda: Binomial(logits=ZERO, n_experiments=f([3.0, 3.0]),
                      validate_args=True).log_prob(f([0.5, 0.5])),
     r"^Binomial: Binomial values must be non-negative integers"),
    (lambda: Binomial(logits=ZERO, n_experiments=f([3.0, 3.0]),
                      validate_args=True).log_prob(f([4.0, 4.0])),
     r"^Binomial: Binomial values must be <= n_experiments"),
    # Unknown keyword arguments.
    (lambda: Gamma(ONE, ONE, rate=f([2.0, 2.0])),
     r"^Gamma: unknown argument\(s\) \['rate'\]"),
]
ERROR_PARAMS = [pytest.param(make, match, id=match.lstrip("^").split(":")[0] + f"-{i}")
                for i, (make, match) in enumerate(ERRORS)]


@pytest.mark.parametrize("make,match", ERROR_PARAMS)
def test_bad_input_raises_clear_error(make, match):
    error = TypeError if "unknown argument" in match else ValueError
    with pytest.raises(error, match=match):
        make()


def test_binconcrete_validates_probs():
    with pytest.raises(ValueError, match=r"^BinConcrete: probs must"):
        BinConcrete(temperature=ONE, probs=f([1.5, 1.5]), validate_args=True)


# -- 6. by name in a BayesianNet -------------------------------------------------------


def test_univariate_families_by_name_in_a_bayesian_net(float64, rng):
    alpha, beta = np.exp(rng.uniform(-1.0, 1.0, 3)), np.exp(rng.uniform(-1.0, 1.0, 3))
    rate = np.exp(rng.uniform(-1.0, 1.5, 3))
    counts = rng.integers(0, 8, size=(4, 3)).astype(np.float64)
    bn = zs.BayesianNet()
    bn.observe({"k": counts})
    z = bn.sn("Gamma", "z", alpha=alpha, beta=beta, n_samples=5)
    # the data are 4 draws of each rate: the parameter has the data's shape (an
    # observed value never adds axes to a node, docs/design.md)
    k = bn.sn("Poisson", "k", rate=np.broadcast_to(rate, counts.shape))
    assert type(bn.nodes["z"].dist) is Gamma and type(bn.nodes["k"].dist) is Poisson
    assert list(z.shape) == [5, 3] and z.dtype == "float64"
    np.testing.assert_array_equal(k.numpy(), counts)
    lz, lk = bn.nodes["z"].log_prob().numpy(), bn.nodes["k"].log_prob().numpy()
    np.testing.assert_allclose(lz, stats.gamma.logpdf(z.numpy(), alpha, scale=1 / beta),
                               **tolerances("float64"))
    np.testing.assert_allclose(lk, stats.poisson.logpmf(counts, rate),
                               **tolerances("float64"))
