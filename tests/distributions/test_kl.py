"""Closed-form KL divergences against Monte-Carlo estimates and exact sums.

For every registered pair, ``kl_divergence(p, q)`` (float64) is compared with
a Monte-Carlo estimate of ``E_p[log p(x) - log q(x)]`` made entirely with
NumPy draws and ``scipy.stats`` log-densities (no zhusuan code), within
N_SE standard errors of that estimate: FPR 2.0e-9 per batch entry (the
log-ratios here have finite variance, so at N_MC = 200000 draws the CLT's
normal tail is accurate far beyond that level). ``KL(p || p) = 0`` is checked
on the same graph. Discrete pairs are also compared with their exact sums
over the support, saturated logits included, and dispatch, errors and dtype
promotion are checked.
"""

import math

from zhusuan.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Concrete,
    Dirichlet,
    ExpConcrete,
    Gamma,
    Laplace,
    MultivariateNormalCholesky,
    Normal,
    OnehotCategorical,
    Uniform,
    kl_divergence,
    register_kl,
)
from zhusuan.distributions import kl as kl_module

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _shared import N_SE
from scipy import special, stats

N_MC = 200000
# KL(p || p) is a sum of a few terms of magnitude <= ~50 (lgamma, log-scales)
# that cancel exactly in exact arithmetic; each carries a few eps of its
# magnitude, so |KL(p || p)| <= ~1e-13. Checked at 1e-12.
SELF_ATOL = 1e-12
# Exact sums (discrete pairs) evaluated in extended precision: the closed
# forms lose at most a few eps relative (see kl.py), checked at 1e-12.
EXACT_RTOL = 1e-12


def _mc_check(kl, log_ratio):
    """``kl`` [B] against the mean of ``log_ratio`` [N_MC, B] +- N_SE SE."""
    # math.fsum: NumPy's reduction along axis 0 adds naively, whose rounding
    # (~N eps |mean| ~ 1e-11) would exceed the SE of a constant log-ratio.
    mean = np.array([math.fsum(col) / N_MC for col in log_ratio.T])
    se = log_ratio.std(0, ddof=1) / np.sqrt(N_MC)
    # A constant log-ratio (Uniform) has SE ~0: allow the rounding of each
    # log-ratio (a few eps of its magnitude), 16 eps relative plus 1e-15.
    tol = N_SE * se + 16 * np.finfo(float).eps * np.abs(mean) + 1e-15
    np.testing.assert_array_less(np.abs(kl - mean), tol)


def _cholesky(rng, batch, d):
    lo = np.tril(rng.normal(0.0, 0.7, size=batch + (d, d)), -1)
    return lo + rng.uniform(0.5, 2.0, size=batch + (d,))[..., None] * np.eye(d)


def _log_softmax_rows(logits):
    return special.log_softmax(logits, axis=-1)


# Each pair: draw(rng) -> (p_params, q_params) as float64 arrays (batch 3);
# mc(rng, p_params, q_params) -> log p(x) - log q(x) for N_MC draws x ~ p.


def _normal(rng):
    def par():
        return {"mean": rng.normal(size=3), "std": np.exp(rng.uniform(-1, 1, size=3))}
    return par(), par()


def _normal_mc(rng, p, q):
    x = rng.normal(p["mean"], p["std"], size=(N_MC, 3))
    return stats.norm.logpdf(x, p["mean"], p["std"]) - stats.norm.logpdf(
        x, q["mean"], q["std"])


def _bernoulli(rng):
    return {"logits": rng.normal(0, 2, size=3)}, {"logits": rng.normal(0, 2, size=3)}


def _bernoulli_mc(rng, p, q):
    pp, qp = special.expit(p["logits"]), special.expit(q["logits"])
    x = (rng.uniform(size=(N_MC, 3)) < pp).astype(float)
    return stats.bernoulli.logpmf(x, pp) - stats.bernoulli.logpmf(x, qp)


def _categorical(rng):
    return ({"logits": rng.normal(0, 1.5, size=(3, 4))},
            {"logits": rng.normal(0, 1.5, size=(3, 4))})


def _categorical_mc(rng, p, q):
    lp, lq = _log_softmax_rows(p["logits"]), _log_softmax_rows(q["logits"])
    out = np.empty((N_MC, 3))
    for j in range(3):
        x = rng.choice(4, size=N_MC, p=np.exp(lp[j]))
        out[:, j] = lp[j, x] - lq[j, x]
    return out


def _dirichlet(rng):
    def par():
        return {"alpha": np.exp(rng.uniform(-1.5, 1.5, size=(3, 4)))}
    return par(), par()


def _dirichlet_mc(rng, p, q):
    out = np.empty((N_MC, 3))
    for j in range(3):
        x = rng.dirichlet(p["alpha"][j], size=N_MC)
        # Draws of tiny concentrations can underflow to 0 in float64; the
        # densities are then evaluated at the smallest normal number instead
        # (a shift of the log-ratio far below its standard error).
        x = np.maximum(x, np.finfo(float).tiny)
        x /= x.sum(-1, keepdims=True)
        out[:, j] = (stats.dirichlet.logpdf(x.T, p["alpha"][j])
                     - stats.dirichlet.logpdf(x.T, q["alpha"][j]))
    return out


def _mvn(rng):
    def par():
        return {"mean": rng.normal(size=(3, 3)), "cov_tril": _cholesky(rng, (3,), 3)}
    return par(), par()


def _mvn_mc(rng, p, q):
    out = np.empty((N_MC, 3))
    for j in range(3):
        cp = p["cov_tril"][j] @ p["cov_tril"][j].T
        cq = q["cov_tril"][j] @ q["cov_tril"][j].T
        x = rng.multivariate_normal(p["mean"][j], cp, size=N_MC)
        out[:, j] = (stats.multivariate_normal.logpdf(x, p["mean"][j], cp)
                     - stats.multivariate_normal.logpdf(x, q["mean"][j], cq))
    return out


def _gamma(rng):
    def par():
        return {"alpha": np.exp(rng.uniform(-1, 1.5, size=3)),
                "beta": np.exp(rng.uniform(-1, 1, size=3))}
    return par(), par()


def _gamma_mc(rng, p, q):
    x = rng.gamma(p["alpha"], 1.0 / p["beta"], size=(N_MC, 3))
    x = np.maximum(x, np.finfo(float).tiny)  # see _dirichlet_mc
    return (stats.gamma.logpdf(x, p["alpha"], scale=1 / p["beta"])
            - stats.gamma.logpdf(x, q["alpha"], scale=1 / q["beta"]))


def _beta(rng):
    def par():
        return {"alpha": np.exp(rng.uniform(-1, 1.5, size=3)),
                "beta": np.exp(rng.uniform(-1, 1.5, size=3))}
    return par(), par()


def _beta_mc(rng, p, q):
    x = rng.beta(p["alpha"], p["beta"], size=(N_MC, 3))
    x = np.clip(x, np.finfo(float).tiny, 1.0 - np.finfo(float).epsneg)  # see above
    return (stats.beta.logpdf(x, p["alpha"], p["beta"])
            - stats.beta.logpdf(x, q["alpha"], q["beta"]))


def _uniform(rng):
    # q's interval contains p's in every batch entry (the +inf case has its
    # own test below).
    lo = rng.normal(size=3)
    hi = lo + np.exp(rng.normal(size=3))
    p = {"minval": lo, "maxval": hi}
    q = {"minval": lo - np.exp(rng.normal(size=3)),
         "maxval": hi + np.exp(rng.normal(size=3))}
    return p, q


def _uniform_mc(rng, p, q):
    x = rng.uniform(p["minval"], p["maxval"], size=(N_MC, 3))
    return (stats.uniform.logpdf(x, p["minval"], p["maxval"] - p["minval"])
            - stats.uniform.logpdf(x, q["minval"], q["maxval"] - q["minval"]))


def _laplace(rng):
    def par():
        return {"loc": rng.normal(size=3), "scale": np.exp(rng.uniform(-1, 1, size=3))}
    return par(), par()


def _laplace_mc(rng, p, q):
    x = rng.laplace(p["loc"], p["scale"], size=(N_MC, 3))
    return (stats.laplace.logpdf(x, p["loc"], p["scale"])
            - stats.laplace.logpdf(x, q["loc"], q["scale"]))


PAIRS = [
    pytest.param(Normal, _normal, _normal_mc, id="Normal"),
    pytest.param(Bernoulli, _bernoulli, _bernoulli_mc, id="Bernoulli"),
    pytest.param(Categorical, _categorical, _categorical_mc, id="Categorical"),
    pytest.param(OnehotCategorical, _categorical, _categorical_mc,
                 id="OnehotCategorical"),
    pytest.param(Dirichlet, _dirichlet, _dirichlet_mc, id="Dirichlet"),
    pytest.param(MultivariateNormalCholesky, _mvn, _mvn_mc, id="MultivariateNormal"),
    pytest.param(Gamma, _gamma, _gamma_mc, id="Gamma"),
    pytest.param(Beta, _beta, _beta_mc, id="Beta"),
    pytest.param(Uniform, _uniform, _uniform_mc, id="Uniform"),
    pytest.param(Laplace, _laplace, _laplace_mc, id="Laplace"),
]


@pytest.mark.parametrize("cls,draw,mc", PAIRS)
def test_kl_matches_monte_carlo_and_vanishes_on_itself(cls, draw, mc, float64, rng):
    p_par, q_par = draw(rng)
    p, q = cls(**p_par), cls(**q_par)
    kl = kl_divergence(p, q)
    assert kl.dtype == "float64"
    assert list(kl.shape) == [3]
    _mc_check(kl.numpy(), mc(rng, p_par, q_par))
    np.testing.assert_allclose(kl_divergence(p, cls(**p_par)).numpy(), 0.0, rtol=0,
                               atol=SELF_ATOL)


def test_every_registered_pair_has_a_case():
    # Add a PAIRS entry for every new register_kl.
    tested = {(p.values[0], p.values[0]) for p in PAIRS}
    assert set(kl_module._KL_REGISTRY) == tested


# -- exact sums for the discrete pairs -----------------------------------------------


def _log_sigmoid_ld(t):
    t = np.asarray(t, np.longdouble)
    return -np.log1p(np.exp(-t))


def test_bernoulli_kl_is_exact_at_saturated_logits(float64):
    # Both signs, nearly equal and opposite saturated logits: the closed form
    # must not cancel large terms (e.g. a = 30, b = 31 gives KL ~ 6e-14). The
    # oracle sums p(x) (log p(x) - log q(x)) over x in {0, 1} in extended
    # precision with log1p, where no term cancels.
    a = np.array([30.0, -30.0, 80.0, -80.0, 0.0, 5.0, -700.0, 2.0])
    b = np.array([31.0, -31.0, -80.0, 80.0, 50.0, 5.0, -690.0, -3.0])
    got = kl_divergence(Bernoulli(logits=a), Bernoulli(logits=b)).numpy()
    pa1, pa0 = np.exp(_log_sigmoid_ld(a)), np.exp(_log_sigmoid_ld(-a))
    want = (pa1 * (_log_sigmoid_ld(a) - _log_sigmoid_ld(b))
            + pa0 * (_log_sigmoid_ld(-a) - _log_sigmoid_ld(-b)))
    np.testing.assert_allclose(got, want.astype(np.float64), rtol=EXACT_RTOL, atol=0)


def test_categorical_kl_is_exact_with_saturated_and_impossible_classes(float64, rng):
    # A class that is impossible under p (logit -inf) contributes 0; one that
    # is nearly impossible under q contributes a large finite amount.
    lp = np.concatenate([rng.normal(0, 2, size=(2, 4)),
                         [[0.0, 1.0, -np.inf, 2.0], [80.0, -80.0, 0.0, 30.0]]])
    lq = np.concatenate([rng.normal(0, 2, size=(2, 4)),
                         [[-1.0, 0.0, 3.0, 1.0], [0.0, 0.0, -600.0, 0.0]]])
    want = []
    for j in range(4):
        a = np.asarray(lp[j], np.longdouble)
        b = np.asarray(lq[j], np.longdouble)
        la = a - np.log(np.exp(a - a.max()).sum()) - a.max()
        lb = b - np.log(np.exp(b - b.max()).sum()) - b.max()
        pa = np.exp(la)
        with np.errstate(invalid="ignore"):  # 0 * -inf in the discarded branch
            want.append(np.where(pa > 0, pa * (la - lb), 0.0).sum())
    want = np.asarray(want, np.float64)
    for cls in (Categorical, OnehotCategorical):
        got = kl_divergence(cls(logits=lp), cls(logits=lq)).numpy()
        np.testing.assert_allclose(got, want, rtol=EXACT_RTOL, atol=1e-300,
                                   err_msg=cls.__name__)


def test_uniform_kl_is_infinite_when_p_leaves_q(float64):
    p = Uniform(minval=np.array([0.0, 0.0, -1.0]), maxval=np.array([1.0, 2.0, 1.0]))
    q = Uniform(minval=np.array([-1.0, 0.5, -1.0]), maxval=np.array([1.0, 3.0, 3.0]))
    got = kl_divergence(p, q).numpy()
    # [0, 1] in [-1, 1]: log(2/1); [0, 2] not in [0.5, 3]; [-1, 1] in [-1, 3]: log 2.
    np.testing.assert_allclose(got, [np.log(2.0), np.inf, np.log(2.0)], rtol=1e-15)


# -- shapes, dtypes, dispatch, errors ------------------------------------------------


def test_result_has_the_broadcast_batch_shape_and_promotes_dtype(rng):
    # Normal [2, 3] against [3]; float32 p and float64 q give float64. The
    # closed form is checked at the float32-rounded parameters of p.
    mp, sp = rng.normal(size=(2, 3)), np.exp(rng.normal(size=(2, 3)))
    mq, sq = rng.normal(size=3), np.exp(rng.normal(size=3))
    with jt.flag_scope(auto_convert_64_to_32=0):
        p32 = Normal(mean=mp.astype(np.float32), std=sp.astype(np.float32))
        kl = kl_divergence(p32, Normal(mean=mq, std=sq))
        got = kl.numpy()
    assert kl.dtype == "float64" and list(kl.shape) == [2, 3]
    mp, sp = (a.astype(np.float32).astype(np.float64) for a in (mp, sp))
    want = np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_unregistered_pair_raises_type_error_naming_both():
    p = Normal(mean=0.0, std=1.0)
    q = Categorical(logits=np.zeros(3))
    with pytest.raises(TypeError, match=r"no closed form registered for "
                                        r"KL\(Normal \|\| Categorical\)"):
        kl_divergence(p, q)
    # Dispatch is on exact classes: Concrete subclasses ExpConcrete, and
    # neither pair is registered.
    e = ExpConcrete(1.0, logits=np.zeros(3))
    c = Concrete(1.0, logits=np.zeros(3))
    with pytest.raises(TypeError, match=r"KL\(Concrete \|\| ExpConcrete\)"):
        kl_divergence(c, e)


def test_register_kl_adds_a_pair_for_exact_classes():
    class MyNormal(Normal):
        pass

    @register_kl(MyNormal, Normal)
    def _kl(p, q):
        return "called"

    try:
        assert kl_divergence(MyNormal(mean=0.0, std=1.0), Normal(mean=0.0, std=1.0)) \
            == "called"
        with pytest.raises(TypeError, match=r"KL\(Normal \|\| MyNormal\)"):
            kl_divergence(Normal(mean=0.0, std=1.0), MyNormal(mean=0.0, std=1.0))
    finally:
        del kl_module._KL_REGISTRY[(MyNormal, Normal)]
    with pytest.raises(TypeError, match=r"register_kl: expected two classes"):
        register_kl(Normal, "Normal")


def test_mismatched_event_sizes_raise():
    with pytest.raises(ValueError, match=r"KL\(Categorical \|\| Categorical\) needs "
                                         r"equal event shapes, got \[3\] and \[4\]"):
        kl_divergence(Categorical(logits=np.zeros(3)), Categorical(logits=np.zeros(4)))
