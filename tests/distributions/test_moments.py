"""``mean``, ``variance`` and ``entropy()`` of every family against SciPy
(or, where SciPy's own formula cancels, the closed form evaluated in float64
with NumPy), in float64 and float32; the families and moments without a
closed form raise NotImplementedError naming the family.

Each case builds the distribution from parameters rounded to the tested
dtype, and the oracle sees the same rounded parameters in float64, so the
comparison measures zhusuan's arithmetic only. Tolerances: float64 1e-12
relative (a few ulp of rounding in the closed forms, lgamma/digamma accurate
to a few ulp, times the cancellation of at most ~30 in the Beta, Dirichlet
and StudentT entropies at the parameters below); float32 2e-6 relative
(about 16 float32 ulp: exp, log and erf each add a few) with an absolute
1e-6 for values near 0. The entropies made of lgamma and digamma terms get
an absolute 2e-5 in float32 (``_LGAMMA_ATOL32``): each term is accurate to a
few ulp of the numbers its argument shift subtracts (up to ~20, so ~2e-6),
and the Beta, StudentT and InverseGamma entropies add up to six of them with
coefficients up to 15 (StudentT's ``(df + 1) / 2`` at df = 30).
"""

import math
from dataclasses import dataclass, field

import zhusuan as zs

import numpy as np
import pytest
from scipy import special, stats

D = zs.distributions
MOMENTS = ("mean", "variance", "entropy")


@dataclass
class Case:
    """``cls(**params, **options)``; ``oracle(params)`` gives the expected
    value of each moment it lists (float64 arrays, broadcast to the
    distribution's batch shape + value shape, or batch shape for the
    entropy). Parameters that are float arrays are rounded to the dtype."""

    id: str
    cls: type
    params: dict
    oracle: object
    options: dict = field(default_factory=dict)
    rtol32: float = 2e-6
    atol32: float = 1e-6


def _sig(x):
    return special.expit(x)


def _rows(fn, *arrays):
    """Apply a SciPy frozen-distribution method row by row over the leading
    (batch) axis of parameters that SciPy does not broadcast."""
    return np.stack([fn(*row) for row in zip(*arrays, strict=True)])


_LGAMMA_ATOL32 = 2e-5

_M = np.array([[0.0, 1.0, -2.0]])
_S = np.array([[0.5], [2.0]])
_L = np.array([[-3.0, 0.0, 4.0]])
_A = np.array([[0.7, 1.0, 3.5]])
_B = np.array([[0.5], [2.0]])
_P3 = np.array([[0.2, 0.3, 0.5], [0.05, 0.9, 0.05]])
_LOGITS3 = np.array([[1.0, -0.5, 0.3], [-2.0, 3.0, 0.0]])
_ALPHA3 = np.array([[0.5, 1.0, 2.0], [3.0, 4.5, 0.8]])
_TRIL = np.array([[[1.5, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.2, 2.0]],
                  [[0.5, 0.0, 0.0], [1.0, 1.2, 0.0], [0.1, -0.7, 0.3]]])
_U = np.array([[2.0, 0.0], [0.5, 0.7]])
_V = np.array([[1.0, 0.0, 0.0], [0.4, 0.5, 0.0], [-0.2, 0.3, 1.5]])


def _norm(p):
    f = stats.norm(p["mean"], np.exp(p["logstd"]) if "logstd" in p else p["std"])
    return {"mean": f.mean(), "variance": f.var(), "entropy": f.entropy()}


def _bern(p):
    f = stats.bernoulli(p["probs"] if "probs" in p else _sig(p["logits"]))
    return {"mean": f.mean(), "variance": f.var(), "entropy": f.entropy()}


def _frozen(f, moments=MOMENTS):
    out = {"mean": f.mean, "variance": f.var, "entropy": f.entropy}
    return {k: out[k]() for k in moments}


def _foldnorm(p):
    c = np.abs(p["mean"]) / p["std"]
    return {"variance": stats.foldnorm(c, scale=p["std"]).var()}


def _lognorm_closed(p):
    # SciPy's lognorm variance is p (p - 1) with p = exp(s^2), which cancels
    # for small s: the closed form with NumPy's expm1 instead.
    s2 = p["std"] ** 2
    return {"variance": np.expm1(s2) * np.exp(2 * p["mean"] + s2),
            "entropy": stats.lognorm(p["std"], scale=np.exp(p["mean"])).entropy()}


def _geom_entropy(p):
    # The entropy from its definition, -((1 - p) log(1 - p) + p log p) / p,
    # with the logs from the logits (log_expit), so that p near 0 or 1 costs
    # nothing; SciPy's geom is the number of trials, one more than here.
    lg = p["logits"]
    pr, q = _sig(lg), _sig(-lg)
    return -(q * special.log_expit(-lg) + pr * special.log_expit(lg)) / pr


def _class_probs(p):
    """The class probabilities: the softmax of the logits, or the probs
    (normalised: rounded to float32 they miss 1 by an ulp or two, which
    SciPy will refuse)."""
    if "probs" in p:
        return p["probs"] / p["probs"].sum(-1, keepdims=True)
    return special.softmax(p["logits"], -1)


def _categorical(p):
    probs = _class_probs(p)
    k = probs.shape[-1]
    f = [stats.rv_discrete(values=(np.arange(k), row)) for row in probs]
    return {"mean": np.array([d.mean() for d in f]),
            "variance": np.array([d.var() for d in f]),
            "entropy": np.array([d.entropy() for d in f])}


def _onehot(p):
    probs = _class_probs(p)
    f = [stats.multinomial(1, row) for row in probs]
    return {"mean": np.stack([d.mean() for d in f]),
            "variance": np.stack([np.diag(d.cov()) for d in f]),
            "entropy": np.array([d.entropy() for d in f])}


def _multinomial(n):
    def oracle(p):
        probs = special.softmax(p["logits"], -1)
        f = [stats.multinomial(n, row) for row in probs]
        return {"mean": np.stack([d.mean() for d in f]),
                "variance": np.stack([np.diag(d.cov()) for d in f])}
    return oracle


def _dirichlet(p):
    f = [stats.dirichlet(row) for row in p["alpha"]]
    return {"mean": np.stack([d.mean() for d in f]),
            "variance": np.stack([d.var() for d in f]),
            "entropy": np.array([d.entropy() for d in f])}


def _mvn(p):
    tril = np.tril(p["cov_tril"])
    covs = tril @ np.swapaxes(tril, -1, -2)
    f = [stats.multivariate_normal(m, c) for m, c in zip(p["mean"], covs, strict=True)]
    return {"variance": np.stack([np.diag(c) for c in covs]),
            "entropy": np.array([d.entropy() for d in f])}


def _matrix_normal(p):
    u, v = np.tril(p["u_tril"]), np.tril(p["v_tril"])
    row, col = u @ u.T, v @ v.T
    f = stats.matrix_normal(p["mean"], rowcov=row, colcov=col)
    return {"variance": np.outer(np.diag(row), np.diag(col)), "entropy": f.entropy()}


CASES = [
    Case("Normal(std)", D.Normal, {"mean": _M, "std": _S}, _norm),
    Case("Normal(logstd)", D.Normal, {"mean": _M, "logstd": np.log(_S)}, _norm),
    Case("Bernoulli(logits)", D.Bernoulli, {"logits": _L}, _bern),
    Case("Bernoulli(probs)", D.Bernoulli, {"probs": np.array([0.1, 0.5, 0.97])}, _bern),
    Case("Laplace", D.Laplace, {"loc": _M, "scale": _S},
         lambda p: _frozen(stats.laplace(p["loc"], p["scale"]))),
    Case("Logistic", D.Logistic, {"loc": _M, "scale": _S},
         lambda p: _frozen(stats.logistic(p["loc"], p["scale"]))),
    Case("Exponential", D.Exponential, {"rate": _S},
         lambda p: _frozen(stats.expon(scale=1 / p["rate"]))),
    # |mean| / std from 0 to 4: SciPy's c^2 + 1 - mu^2 loses at most a digit.
    Case("FoldNormal", D.FoldNormal, {"mean": np.array([[-3.0, 0.0, 0.5, 8.0]]), "std": _S},
         _foldnorm),
    Case("HalfNormal(std)", D.HalfNormal, {"std": _S.ravel()},
         lambda p: _frozen(stats.halfnorm(scale=p["std"]))),
    Case("HalfNormal(logstd)", D.HalfNormal, {"logstd": np.log(_S.ravel())},
         lambda p: _frozen(stats.halfnorm(scale=np.exp(p["logstd"])))),
    Case("LogNormal", D.LogNormal, {"mean": _M, "std": np.array([[1e-3], [0.5], [2.0]])},
         _lognorm_closed),
    Case("Uniform", D.Uniform, {"minval": _M, "maxval": _M + _S},
         lambda p: _frozen(stats.uniform(p["minval"], p["maxval"] - p["minval"]))),
    Case("Poisson(rate)", D.Poisson, {"rate": np.array([0.3, 1.0, 25.0])},
         lambda p: _frozen(stats.poisson(p["rate"]), ("mean", "variance"))),
    Case("Poisson(log_rate)", D.Poisson, {"log_rate": np.array([-2.0, 0.0, 3.0])},
         lambda p: _frozen(stats.poisson(np.exp(p["log_rate"])), ("mean", "variance"))),
    Case("Geometric(logits)", D.Geometric, {"logits": np.array([-3.0, 0.0, 2.5])},
         lambda p: _frozen(stats.geom(_sig(p["logits"]), loc=-1))),
    Case("Geometric(probs)", D.Geometric, {"probs": np.array([0.05, 0.5, 0.9])},
         lambda p: _frozen(stats.geom(p["probs"], loc=-1))),
    Case("Binomial", D.Binomial, {"logits": _L, "n_experiments": np.array([[3.0], [10.0]])},
         lambda p: _frozen(stats.binom(p["n_experiments"], _sig(p["logits"])),
                           ("mean", "variance"))),
    Case("Gamma", D.Gamma, {"alpha": _A, "beta": _B},
         lambda p: _frozen(stats.gamma(p["alpha"], scale=1 / p["beta"])),
         atol32=_LGAMMA_ATOL32),
    Case("Beta", D.Beta, {"alpha": _A, "beta": _B},
         lambda p: _frozen(stats.beta(p["alpha"], p["beta"])),
         atol32=_LGAMMA_ATOL32),
    Case("StudentT", D.StudentT, {"df": np.array([[2.5, 4.0, 30.0]]), "loc": _S, "scale": _B},
         lambda p: _frozen(stats.t(p["df"], p["loc"], p["scale"])),
         atol32=_LGAMMA_ATOL32),
    Case("Cauchy", D.Cauchy, {"loc": _M, "scale": _S},
         lambda p: _frozen(stats.cauchy(p["loc"], p["scale"]))),
    Case("HalfCauchy", D.HalfCauchy, {"scale": _S.ravel()},
         lambda p: _frozen(stats.halfcauchy(scale=p["scale"]))),
    # alpha <= 1: infinite mean; alpha <= 2: infinite variance (as SciPy).
    Case("InverseGamma", D.InverseGamma, {"alpha": np.array([[0.5, 1.5, 2.5, 7.0]]), "beta": _B},
         lambda p: _frozen(stats.invgamma(p["alpha"], scale=p["beta"])),
         atol32=_LGAMMA_ATOL32),
    Case("Categorical(logits)", D.Categorical, {"logits": _LOGITS3}, _categorical),
    Case("Categorical(probs)", D.Categorical, {"probs": _P3}, _categorical),
    Case("OnehotCategorical", D.OnehotCategorical, {"logits": _LOGITS3}, _onehot),
    Case("OnehotCategorical(probs)", D.OnehotCategorical, {"probs": _P3}, _onehot),
    Case("Multinomial", D.Multinomial, {"logits": _LOGITS3}, _multinomial(7),
         {"n_experiments": 7}),
    Case("Dirichlet", D.Dirichlet, {"alpha": _ALPHA3}, _dirichlet,
         atol32=_LGAMMA_ATOL32),
    Case("MultivariateNormalCholesky", D.MultivariateNormalCholesky,
         {"mean": np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]]), "cov_tril": _TRIL}, _mvn),
    Case("MatrixVariateNormalCholesky", D.MatrixVariateNormalCholesky,
         {"mean": np.arange(6.0).reshape(2, 3), "u_tril": _U, "v_tril": _V},
         _matrix_normal),
]

# Moments that a family does not have in closed form (everything else of
# MOMENTS must have a case above that checks it).
NO_CLOSED_FORM = {
    "FoldNormal": ("entropy",),  # its mean: see test_mean_is_the_parameter_where_upstream_says
    "LogNormal": (),
    "Poisson": ("entropy",),
    "Binomial": ("entropy",),
    "Multinomial": ("entropy",),
    "UnnormalizedMultinomial": MOMENTS,
    "BinConcrete": MOMENTS,
    "ExpConcrete": MOMENTS,
    "Concrete": MOMENTS,
}
# Families whose ``mean`` is a parameter, as upstream names it: the
# distribution's mean for the Gaussians, the underlying normal's for
# FoldNormal and LogNormal.
MEAN_IS_PARAMETER = ("Normal", "FoldNormal", "LogNormal", "MultivariateNormalCholesky",
                     "MatrixVariateNormalCholesky")


def _build(case, dtype):
    cast = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v)
            for k, v in case.params.items()}
    dist = case.cls(**cast, **case.options)
    exact = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v)
             for k, v in cast.items()}
    return dist, case.oracle(exact)


def _value(dist, moment):
    got = dist.entropy() if moment == "entropy" else getattr(dist, moment)
    return got.numpy()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_moments_are_scipys(dtype, case):
    dist, want = _build(case, dtype)
    assert want, case.id
    rtol, atol = (1e-12, 1e-15) if dtype == "float64" else (case.rtol32, case.atol32)
    for moment, expected in want.items():
        got = _value(dist, moment)
        shape = dist.batch_shape + ([] if moment == "entropy" else dist.value_shape)
        shape = shape or [1]
        assert str(got.dtype) == dtype, (moment, got.dtype)
        if moment == "mean" and case.cls.__name__ in MEAN_IS_PARAMETER:
            got = np.broadcast_to(got, shape)  # the parameter, as given
        assert list(got.shape) == shape, (moment, list(got.shape), shape)
        np.testing.assert_allclose(got, np.broadcast_to(expected, shape), rtol=rtol,
                                   atol=atol, err_msg=f"{case.id}.{moment} ({dtype})")


def test_every_closed_form_is_tested_and_the_rest_raise():
    checked = {}
    for case in CASES:
        want = case.oracle(dict(case.params))
        checked.setdefault(case.cls.__name__, set()).update(
            m for m in want if m in MOMENTS)
    for name in D.REGISTRY:
        if name == "Flow":
            continue
        missing = set(MOMENTS) - checked.get(name, set())
        missing -= {"mean"} if name in MEAN_IS_PARAMETER else set()
        assert missing == set(NO_CLOSED_FORM.get(name, ())), (name, sorted(missing))
    # ... and each of those is checked to raise, below.
    assert {(n, m) for n, m, _ in _RAISING} == {
        (n, m) for n, ms in NO_CLOSED_FORM.items() for m in ms}


_RAISING = [
    ("FoldNormal", "entropy", lambda: D.FoldNormal(mean=1.0, std=2.0)),
    ("Poisson", "entropy", lambda: D.Poisson(rate=2.0)),
    ("Binomial", "entropy", lambda: D.Binomial(probs=0.3, n_experiments=4.0)),
    ("Multinomial", "entropy", lambda: D.Multinomial(logits=np.zeros(3), n_experiments=2)),
    *[("UnnormalizedMultinomial", m, lambda: D.UnnormalizedMultinomial(logits=np.zeros(3)))
      for m in MOMENTS],
    *[("BinConcrete", m, lambda: D.BinConcrete(temperature=0.5, logits=0.0))
      for m in MOMENTS],
    *[("ExpConcrete", m, lambda: D.ExpConcrete(temperature=0.5, logits=np.zeros(3)))
      for m in MOMENTS],
    *[("Concrete", m, lambda: D.Concrete(temperature=0.5, logits=np.zeros(3)))
      for m in MOMENTS],
]


@pytest.mark.parametrize("name, moment, make", _RAISING,
                         ids=[f"{n}.{m}" for n, m, _ in _RAISING])
def test_families_without_a_closed_form_say_so(name, moment, make):
    assert name in NO_CLOSED_FORM and moment in NO_CLOSED_FORM[name]
    with pytest.raises(NotImplementedError, match=f"{name} has no closed-form {moment}"):
        _value(make(), moment)


def test_multinomial_without_n_experiments_has_no_mean():
    d = D.Multinomial(logits=np.zeros(3))
    for moment in ("mean", "variance"):
        with pytest.raises(NotImplementedError, match="Multinomial: the mean and variance "
                                                      "need an integer n_experiments"):
            _value(d, moment)


def test_mean_is_the_parameter_where_upstream_says(float64):
    mu = np.array([0.5, -1.0])
    for cls in (D.Normal, D.FoldNormal, D.LogNormal):
        d = cls(mean=mu, std=np.array([1.0, 2.0]))
        np.testing.assert_array_equal(d.mean.numpy(), mu)
    d = D.MultivariateNormalCholesky(mean=mu, cov_tril=np.eye(2))
    np.testing.assert_array_equal(d.mean.numpy(), mu)


def test_student_t_moments_that_do_not_exist(float64):
    # df <= 1: no mean (NaN, as torch.distributions; SciPy says inf), no
    # variance (NaN, as SciPy); 1 < df <= 2: infinite variance.
    d = D.StudentT(df=np.array([0.5, 1.0, 1.5, 2.0]), loc=3.0, scale=2.0)
    np.testing.assert_array_equal(d.mean.numpy(), [np.nan, np.nan, 3.0, 3.0])
    np.testing.assert_array_equal(d.variance.numpy(), [np.nan, np.nan, np.inf, np.inf])
    np.testing.assert_array_equal(d.variance.numpy()[2:],
                                  stats.t([1.5, 2.0], 3.0, 2.0).var())


# Parameters where the textbook formula overflows or cancels in float32,
# against float64 oracles that do not.
def test_float32_extremes_are_finite_and_right():
    f32 = np.float32
    # Normal from logstd = -40: std^2 = exp(-80) is not a float32 number,
    # the entropy 1.42 - 40 is.
    d = D.Normal(mean=np.zeros(3, f32), logstd=np.full(3, -40.0, f32))
    np.testing.assert_allclose(d.entropy().numpy(), 0.5 * np.log(2 * np.pi * np.e) - 40.0,
                               rtol=1e-6)
    # Geometric: exp(-l) softplus(l) is inf * 0 at l = -100 and 0 * 100 at
    # l = 100; the entropy is 101 and 101 exp(-100) (below float32's smallest
    # normal number, where Jittor's kernels flush to 0: hence the atol).
    lg = np.array([-100.0, -20.0, 20.0, 100.0], f32)
    got = D.Geometric(logits=lg).entropy().numpy()
    want = _geom_entropy({"logits": lg.astype(np.float64)})
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=float(np.finfo(f32).tiny))
    assert got[-1] >= 0
    # LogNormal: exp(std^2) overflows float32 at std = 10, the variance
    # exp(2 mean + 2 std^2) (1 - exp(-std^2)) = exp(40) does not. The
    # exponent, 200 - 160, carries the rounding of std^2 = 100 (~1e-5 of 1).
    d = D.LogNormal(mean=np.array([-80.0], f32), logstd=np.array([np.log(10.0)], f32))
    logstd = float(np.float32(np.log(10.0)))
    s2 = math.exp(2 * logstd)
    want = math.exp(-160.0 + 2 * s2) * -math.expm1(-s2)
    np.testing.assert_allclose(d.variance.numpy(), [want], rtol=3e-5)
    # FoldNormal far from the fold: the variance is std^2 to every digit;
    # mean^2 + std^2 - E|y|^2 would lose 1600 ulp.
    d = D.FoldNormal(mean=np.array([40.0, -40.0], f32), std=np.array([1.0], f32))
    np.testing.assert_allclose(d.variance.numpy(), [1.0, 1.0], rtol=1e-7)
    # HalfNormal from logstd = -50: std = exp(-50) is a float32 number
    # (std^2 is not); the mean and the entropy come from logstd.
    d = D.HalfNormal(logstd=np.array([-50.0], f32))
    np.testing.assert_allclose(d.mean.numpy(), [math.exp(-50) * math.sqrt(2 / math.pi)],
                               rtol=2e-6)
    np.testing.assert_allclose(d.entropy().numpy(),
                               [-50 + 0.5 * math.log(math.pi * math.e / 2)], rtol=2e-7)


def test_expm1_is_accurate_for_small_arguments(dtype):
    x = np.array([-1e-30, 1e-8, -1e-4, 0.3, -2.0, 40.0], dtype)
    got = zs.numerics.expm1(zs.numerics.as_var(x)).numpy()
    assert str(got.dtype) == dtype
    rtol = 1e-15 if dtype == "float64" else 2e-7
    np.testing.assert_allclose(got, np.expm1(x.astype(np.float64)), rtol=rtol)
