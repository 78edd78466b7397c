"""Cauchy, HalfCauchy and InverseGamma (on the fused family op; its
backends' parity is tests/kernels/test_family_parity.py) against scipy.

What is checked, in float32 and float64: log-densities against
``scipy.stats`` (broadcast parameters [3] and [4, 1] against values
[4, 3]), -inf with zero gradient outside the support, group_ndims; in
float64: samples (Kolmogorov-Smirnov against scipy, and for InverseGamma
the mean and variance), reparameterised sample gradients against central
differences of the seed-fixed sample (Cauchy, HalfCauchy) and against the
derivative of scipy's inverse CDF at the draw's quantile (InverseGamma's
implicit gradient), log_prob gradients against central differences of
scipy's log-density; by-name use in a BayesianNet; argument errors.

Policy as in test_univariate.py: inputs from the per-test ``rng``, oracles
never call zhusuan, tolerances from ``_shared.py`` or derived below, and
every statistical assertion states its false-positive rate. Parameters of
shape [1] are avoided in float64 (the Jittor 1.3.11 float64-after-float32
bug, tests/kernels/test_parity.py).
"""

import zhusuan as zs
from zhusuan.distributions import Cauchy, HalfCauchy, InverseGamma

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _shared import ALPHA, FD_ATOL, FD_RTOL, N_SAMPLES, N_SE, central_difference
from scipy import special, stats

# float64: a handful of roundings of terms of magnitude <= ~30 (lgamma of
# arguments < 15, logs): ~1e-13; 1e-12 leaves a margin of ten. float32:
# ulp(1) = 1.2e-7, a few ulp of terms <= ~30: a few 1e-6; 1e-5 (as in
# test_univariate.py).
TOL = {"float64": {"rtol": 1e-12, "atol": 1e-12},
       "float32": {"rtol": 1e-5, "atol": 1e-5}}

S1, S2, XS = (3,), (4, 1), (4, 3)


def _pos(rng, shape, lo=-1.0, hi=1.0):
    return np.exp(rng.uniform(lo, hi, size=shape))


CASES = {
    "Cauchy": dict(
        cls=Cauchy,
        draw=lambda rng: {"loc": rng.normal(0.0, 2.0, S1), "scale": _pos(rng, S2)},
        value=lambda rng: rng.normal(0.0, 4.0, XS),
        oracle=lambda loc, scale: stats.cauchy(loc, scale)),
    "HalfCauchy": dict(
        cls=HalfCauchy,
        draw=lambda rng: {"scale": _pos(rng, S2) * np.ones(S1)},
        value=lambda rng: np.abs(rng.normal(0.0, 4.0, XS)),
        oracle=lambda scale: stats.halfcauchy(scale=scale)),
    "InverseGamma": dict(
        cls=InverseGamma,
        draw=lambda rng: {"alpha": _pos(rng, S1, -1.0, 2.0), "beta": _pos(rng, S2)},
        value=lambda rng: _pos(rng, XS, -2.0, 2.0),
        oracle=lambda alpha, beta: stats.invgamma(alpha, scale=beta)),
}
NAMES = sorted(CASES)


def build(name, params, dtype, **kw):
    return CASES[name]["cls"](**{k: np.asarray(v).astype(dtype) for k, v in
                                 params.items()}, **kw)


def seen(arrays, dtype):
    """What the library receives: the float64 values of the dtype-rounded inputs."""
    return {k: np.asarray(v).astype(dtype).astype(np.float64)
            for k, v in arrays.items()}


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_matches_scipy(name, dtype, rng):
    case = CASES[name]
    params, x = case["draw"](rng), case["value"](rng)
    s = seen({**params, "x": x}, dtype)
    want = case["oracle"](**{k: v for k, v in s.items() if k != "x"}).logpdf(s["x"])
    out = build(name, params, dtype).log_prob(x.astype(dtype))
    assert out.dtype == dtype and list(out.shape) == list(XS)
    np.testing.assert_allclose(out.numpy(), want, **TOL[dtype])
    # group_ndims sums the last batch axis (three terms).
    out = build(name, params, dtype, group_ndims=1).log_prob(x.astype(dtype))
    tol = dict(TOL[dtype], atol=3 * TOL[dtype]["atol"])
    np.testing.assert_allclose(out.numpy(), want.sum(1), **tol)


@pytest.mark.parametrize("name", ["HalfCauchy", "InverseGamma"])
def test_outside_the_support_is_minus_inf_with_zero_gradient(name, dtype):
    params = {"HalfCauchy": {"scale": np.array([1.5, 1.5, 1.5])},
              "InverseGamma": {"alpha": np.array([2.0, 2.0, 2.0]),
                               "beta": np.array([1.5, 1.5, 1.5])}}[name]
    x = np.array([-0.5, 0.0, 1.0]) if name == "InverseGamma" else np.array([-0.5, 0.0,
                                                                            2.0])
    vs = {k: jt.array(v.astype(dtype)) for k, v in params.items()}
    xv = jt.array(x.astype(dtype))
    out = CASES[name]["cls"](**vs).log_prob(xv)
    got = out.numpy()
    s = seen({**params, "x": x}, dtype)
    oracle = CASES[name]["oracle"](**{k: v for k, v in s.items() if k != "x"})
    want = oracle.logpdf(s["x"])
    outside = ~np.isfinite(want)
    assert outside.any() and np.all(got[outside] == -np.inf)
    np.testing.assert_allclose(got[~outside], want[~outside], **TOL[dtype])
    finite = jt.where(jt.array(outside), jt.zeros_like(out), out).sum()
    for g in jt.grad(finite, [xv, *vs.values()]):
        assert np.all(np.isfinite(g.numpy()))
    assert np.all(jt.grad(finite, xv).numpy()[outside] == 0.0)


def _draw(name, params, n, seed):
    """n draws with Jittor reseeded, and the gradient of sum(sin z + z^2 / 2)
    with respect to every parameter."""
    jt.set_global_seed(seed)
    vs = {k: jt.array(v) for k, v in params.items()}
    z = CASES[name]["cls"](**vs).sample(n)
    value = (jt.sin(z) + 0.5 * z * z).sum()
    grads = jt.grad(value, list(vs.values()))
    jt.sync([z, *grads])
    return z.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("name", NAMES)
def test_samples_match_scipy(name, float64, seed, rng):
    case = CASES[name]
    params = case["draw"](rng)
    if name == "InverseGamma":
        # alpha >= 9: the 4th moment exists and the sample variance is well
        # behaved (its standard error below needs the 4th central moment).
        params["alpha"] = rng.uniform(9.0, 15.0, S1)
    d = build(name, params, "float64")
    assert d.batch_shape == [4, 3]
    s = d.sample(N_SAMPLES).numpy()
    assert s.dtype == np.float64 and s.shape == (N_SAMPLES, 4, 3)
    flat = {k: np.broadcast_to(v, (4, 3)).ravel() for k, v in params.items()}
    s = s.reshape(N_SAMPLES, -1)
    if name != "Cauchy":
        assert np.all(s >= 0)
    if name == "InverseGamma":
        mean, var, kurt = (np.asarray(m) for m in case["oracle"](**flat).stats("mvk"))
        mu4 = (kurt + 3.0) * var ** 2
        # FPR < 1e-8 per assertion (N_SE = 6, see _shared.py), 24 of them.
        np.testing.assert_array_less(np.abs(s.mean(0) - mean),
                                     N_SE * np.sqrt(var / N_SAMPLES))
        np.testing.assert_array_less(np.abs(s.var(0, ddof=1) - var),
                                     N_SE * np.sqrt((mu4 - var ** 2) / N_SAMPLES))
    for j in range(s.shape[1]):
        # FPR: ALPHA = 1e-4 per entry, 1.2e-3 for the test.
        entry = case["oracle"](**{k: v[j] for k, v in flat.items()})
        assert stats.kstest(s[:, j], entry.cdf).pvalue > ALPHA, j


@pytest.mark.parametrize("name", ["Cauchy", "HalfCauchy"])
def test_reparameterized_gradients_match_finite_differences(name, float64, seed, rng):
    # Inverse-CDF samples: with the seed fixed, a smooth function of the
    # parameters. Keep the draws away from the poles of tan (|z| < 50 scales)
    # so that the differences are well conditioned: reseed until they are.
    params = CASES[name]["draw"](rng)
    for s in range(seed, seed + 50):
        z, grads = _draw(name, params, 4, s)
        scale = np.broadcast_to(params["scale"], (4, 3))
        if np.all(np.abs(z) < 50 * scale + 10):
            break

    def terms(arrays):
        z = _draw(name, arrays, 4, s)[0]
        return np.sin(z) + 0.5 * z * z

    np.testing.assert_array_equal(_draw(name, params, 4, s)[0], z)  # reproducible
    for k, g in zip(params, grads, strict=True):
        assert g.shape == params[k].shape
        np.testing.assert_allclose(g, central_difference(terms, params, k),
                                   rtol=FD_RTOL, atol=FD_ATOL, err_msg=k)


def test_inverse_gamma_draw_gradients_are_the_inverse_cdf_derivative(float64, rng):
    # x = beta / G with G ~ Gamma(alpha, 1): for the draw's quantile u held
    # fixed, dx/dalpha = d/dalpha F^-1(u; alpha, beta), by fourth-order central
    # differences of scipy's invgamma.ppf (relative step 1e-3: truncation
    # ~1e-12, rounding ~1e-13 / 1e-3; rtol 1e-6 leaves a margin of 1000, as
    # for Gamma in test_univariate.py), and dx/dbeta = x / beta exactly.
    alpha = np.exp(rng.uniform(np.log(0.3), np.log(50.0), size=(20, 5)))
    beta = np.exp(rng.uniform(-1.0, 1.0, size=(20, 5)))
    a, b = jt.array(alpha), jt.array(beta)
    x = InverseGamma(alpha=a, beta=b).sample()
    g_a, g_b = (g.numpy() for g in jt.grad(x.sum(), [a, b]))
    xv = x.numpy()
    # The quantile of the underlying Gamma draw g = beta / x (upper tail of x
    # is the lower tail of g): invert whichever tail is smaller.
    g = beta / xv
    lower, upper = special.gammainc(alpha, g), special.gammaincc(alpha, g)
    use_upper = upper < 0.5

    def inverse(al):
        gi = np.where(use_upper, special.gammainccinv(al, upper),
                      special.gammaincinv(al, lower))
        return beta / gi

    ok = np.minimum(lower, upper) > 1e-9  # the inverse has few digits beyond
    assert ok.sum() >= 95
    h = 1e-3 * alpha
    want = (8 * (inverse(alpha + h) - inverse(alpha - h))
            - (inverse(alpha + 2 * h) - inverse(alpha - 2 * h))) / (12 * h)
    np.testing.assert_allclose(g_a[ok], want[ok], rtol=1e-6, atol=0.0)
    np.testing.assert_allclose(g_b, xv / beta, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_gradients_match_finite_differences(name, float64, rng):
    case = CASES[name]
    params, x = case["draw"](rng), case["value"](rng)
    arrays = {**params, "x": x}
    vs = {k: jt.array(v) for k, v in arrays.items()}
    lp = case["cls"](**{k: v for k, v in vs.items() if k != "x"}).log_prob(vs["x"])
    grads = jt.grad(lp.sum(), list(vs.values()))

    def terms(a):
        return case["oracle"](**{k: v for k, v in a.items() if k != "x"}).logpdf(a["x"])

    for k, g in zip(arrays, grads, strict=True):
        np.testing.assert_allclose(g.numpy(), central_difference(terms, arrays, k),
                                   rtol=FD_RTOL, atol=FD_ATOL, err_msg=k)


def test_registered_by_name_and_usable_in_a_net():
    for cls in (Cauchy, HalfCauchy, InverseGamma):
        assert zs.distributions.get_distribution(cls.__name__) is cls
        assert cls.__name__ in zs.distributions.__all__

    class Net(zs.BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            tau = self.sn("HalfCauchy", name="tau", scale=jt.full([5], 2.0))
            s2 = self.sn("InverseGamma", name="s2", alpha=jt.full([5], 3.0),
                         beta=jt.full([5], 2.0))
            self.sn("Cauchy", name="x", loc=tau, scale=jt.sqrt(s2))
            return self

    net = Net()({"x": jt.zeros([5])})
    lj = net.log_joint().numpy()
    tau, s2 = net.nodes["tau"].tensor.numpy(), net.nodes["s2"].tensor.numpy()
    want = (stats.halfcauchy.logpdf(tau, scale=2.0)
            + stats.invgamma.logpdf(s2, 3.0, scale=2.0)
            + stats.cauchy.logpdf(0.0, tau, np.sqrt(s2)))
    np.testing.assert_allclose(lj, want, rtol=1e-5, atol=1e-5)


def test_argument_errors():
    with pytest.raises(ValueError, match="scale must be > 0"):
        Cauchy(loc=np.zeros(3), scale=-np.ones(3), validate_args=True)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        InverseGamma(alpha=np.zeros(3), beta=np.ones(3), validate_args=True)
    with pytest.raises(ValueError, match="values must be > 0"):
        InverseGamma(alpha=np.ones(3), beta=np.ones(3), validate_args=True).log_prob(
            -np.ones(3, np.float32))
    with pytest.raises(TypeError, match="unknown argument"):
        HalfCauchy(scale=np.ones(3), loc=0.0)
    with pytest.raises(ValueError, match="no reparameterised"):
        # (they all have one: the error is Distribution's, for comparison)
        zs.distributions.Poisson(rate=np.ones(3), is_reparameterized=True)
