"""Multivariate distributions against independent oracles.

What is checked: log-densities against ``scipy.stats`` (multinomial,
dirichlet, multivariate_normal, matrix_normal, logistic) or, where scipy has
no twin (Categorical, the Concrete pair), against the closed form written in
float64 NumPy, in float32 and float64, with extreme parameters in the same
batches (saturated logits, zero probabilities, concentrations below 1,
ill-conditioned Cholesky factors); sample moments, chi-square and
Kolmogorov-Smirnov tests against the true laws; reparameterised gradients
(MultivariateNormalCholesky, Concrete) and log-density gradients (through the
triangular solves' hand-written adjoint, and lgamma) against central finite
differences in float64; the Dirichlet's reparameterised gradient against the
implicit-reparameterisation formula evaluated with scipy's incomplete gamma
function at the same draws, and statistically against d E[x] / d alpha;
errors and their messages; use by name in a BayesianNet.

Policy for randomised tests (as in ``test_normal_bernoulli.py``):

* Inputs come from the per-test ``rng`` fixture and Jittor's per-test seed
  (``tests/conftest.py``), so every run draws the same numbers.
* Each statistical assertion states its false-positive rate (FPR): the
  probability that a *correct* implementation fails it for a random seed.
* A float32 case is compared with its float64 oracle evaluated on the
  float32-rounded inputs, so the tolerance measures zhusuan's arithmetic.
* Oracles never call zhusuan.

Cost. CI starts with a cold Jittor cache, where every distinct fused kernel
compiles (about a second each, and a graph has several), so the tests reuse
graphs: one batch holds the ordinary and the extreme parameters, statistical
and gradient tests run in float64 only; log-densities of every family are
checked in float32 and float64.
"""

import math

import zhusuan as zs
from zhusuan.distributions import (
    Categorical,
    Concrete,
    Dirichlet,
    ExpConcrete,
    MatrixVariateNormalCholesky,
    Multinomial,
    MultivariateNormalCholesky,
    OnehotCategorical,
    UnnormalizedMultinomial,
)
from zhusuan.distributions.gamma import standard_gamma

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _shared import ALPHA, FD_ATOL, FD_RTOL, N_SAMPLES, N_SE, central_difference
from scipy import linalg, special, stats

# -- tolerances ----------------------------------------------------------------

EPS = {"float32": 2.0**-23, "float64": 2.0**-52}

# Log-densities are compared with an absolute tolerance of
# LP_ULPS * eps(dtype) * scale, where ``scale`` (computed by each oracle) is
# the sum of the magnitudes of the terms the density adds up, counting the
# intermediate values they pass through: the max shift of a log-softmax, the
# internal magnitude (<= 40) of every lgamma call (which shifts its argument
# above 10), and for triangular solves the componentwise error bound of
# forward substitution (Higham, Accuracy and Stability of Numerical
# Algorithms, Thm 8.5: |dz| <= gamma_D |L^-1| |L| |z|, which bounds the error
# of ||z||^2 by 2 D eps sum_i |z_i| (|L^-1| |L| |z|)_i). Every elementary step
# (log, exp, division, lgamma's series) costs at most a few eps of the
# magnitude it works on and a sum of T terms adds T more; LP_ULPS = 64 leaves
# a margin of four or more over these counts for the <= 10-term sums here. A
# float64 value that took a detour through float32 is off by ~1e-8 relative,
# 10^5 times this tolerance, so float64 integrity is checked too.
LP_ULPS = 64



def seen(x, dtype):
    """The float64 values of ``x`` after rounding to ``dtype``."""
    return np.asarray(x).astype(dtype).astype(np.float64)


def assert_logp(got, want, scale, dtype, err_msg=""):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    tol = LP_ULPS * EPS[dtype] * np.asarray(scale)
    np.testing.assert_array_less(np.abs(got - want), tol + 1e-300, err_msg=err_msg)


def check_gradients(build_value, arrays, names):
    """Autodiff of ``build_value(vars)`` (a scalar Var) against central
    differences of the same function evaluated from numpy arrays."""
    vs = {k: jt.array(v) for k, v in arrays.items()}
    grads = jt.grad(build_value(vs), [vs[k] for k in names])

    def loss(a):
        return build_value({k: jt.array(v) for k, v in a.items()}).item()

    for name, g in zip(names, grads, strict=True):
        assert g.dtype == "float64"
        np.testing.assert_allclose(g.numpy(), central_difference(loss, arrays, name),
                                   rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)


def _test_function_jt(z):
    # Nonlinear, so reparameterised gradients depend on the draws.
    return (jt.sin(z) + 0.5 * z * z).sum()


# -- oracles (float64 NumPy / scipy; never zhusuan) ------------------------------


def cholesky_factors(rng, batch, d, ill=False):
    """Valid lower Cholesky factors: positive diagonal, N(0, 1/2) below it.
    ``ill``: diagonal entries spread over exp(-6)..exp(2), so the normwise
    condition number reaches 1e4..1e7."""
    lo = np.tril(rng.normal(0.0, 0.7, size=batch + (d, d)), -1)
    diag = (np.exp(rng.uniform(-6.0, 2.0, size=batch + (d,))) if ill
            else rng.uniform(0.5, 2.0, size=batch + (d,)))
    return lo + diag[..., None] * np.eye(d)


def solve_longdouble(tril, r):
    """z = L^{-1} r by row-oriented forward substitution in extended precision
    (x87 80-bit: eps = 1.1e-19), an oracle independent of zhusuan's loop."""
    tril = np.asarray(tril, np.longdouble)
    r = np.asarray(r, np.longdouble)
    tril, r = np.broadcast_arrays(tril, r[..., None, :])
    r = r[..., 0, :]
    z = np.zeros(r.shape, np.longdouble)
    for i in range(r.shape[-1]):
        acc = r[..., i] - (tril[..., i, :i] * z[..., :i]).sum(-1)
        z[..., i] = acc / tril[..., i, i]
    return z


def mvn_oracle(x, mean, tril):
    """log N(x; mean, L L^T) in extended precision, and its scale (with the
    forward-substitution error bound, see LP_ULPS)."""
    d = mean.shape[-1]
    z = solve_longdouble(tril, x - mean)
    maha = (z * z).sum(-1)
    diag = np.diagonal(tril, axis1=-2, axis2=-1).astype(np.longdouble)
    log_diag = np.log(np.abs(diag))
    value = -0.5 * maha - log_diag.sum(-1) - 0.5 * d * np.log(np.longdouble(2 * np.pi))
    zf = z.astype(np.float64)
    inv_abs = np.abs(np.linalg.inv(tril))
    amplified = np.einsum("...ij,...jk,...k->...i", inv_abs, np.abs(tril), np.abs(zf))
    bound = 2 * d * (np.abs(zf) * amplified).sum(-1)
    scale = (0.5 * maha.astype(np.float64) + np.abs(log_diag.astype(np.float64)).sum(-1)
             + d + bound)
    return value.astype(np.float64), np.broadcast_to(scale, value.shape)


def dirichlet_oracle(x, alpha):
    alpha, x = np.broadcast_arrays(alpha, x)
    a0 = alpha.sum(-1)
    terms = [special.gammaln(a0), -special.gammaln(alpha).sum(-1),
             ((alpha - 1.0) * np.log(x)).sum(-1)]
    scale = (np.abs(special.gammaln(a0)) + np.abs(special.gammaln(alpha)).sum(-1)
             + np.abs((alpha - 1.0) * np.log(x)).sum(-1) + 40.0 * (alpha.shape[-1] + 1))
    return sum(terms), scale


def concrete_oracle(x, logits, tau, log_space):
    """Maddison et al. (2017), appendix C, in float64: the ExpConcrete density
    of y (``log_space``) or the Concrete density of x."""
    k = logits.shape[-1]
    tau = np.asarray(tau, np.float64)          # scalar or batch-shaped
    log_x = x if log_space else np.log(x)
    tk = tau[..., None]                        # meets the K axis
    power = tk if log_space else tk + 1.0
    scaled = logits - tk * log_x
    lse = special.logsumexp(scaled, axis=-1)
    value = (math.lgamma(k) + (k - 1) * np.log(tau) + (logits - power * log_x).sum(-1)
             - k * lse)
    scale = (math.lgamma(k) + 40.0 + (k - 1) * np.abs(np.log(tau))
             + np.abs(logits - power * log_x).sum(-1)
             + k * (np.abs(lse) + np.abs(scaled).max(-1)))
    return value, scale


# -- 1. log-densities against the oracles (float32 and float64) -------------------

SATURATED = np.array([[80.0, -80.0, 0.0, 30.0],     # saturated logits
                      [-1e3, 0.0, 0.0, -1e3]])      # two classes of ~zero probability


def test_categorical_and_onehot_log_prob(dtype, rng):
    logits = np.concatenate([rng.normal(0.0, 2.0, size=(3, 4)), SATURATED])  # [5, 4]
    x = rng.integers(0, 4, size=(6, 5))
    lg = seen(logits, dtype)
    lsm = special.log_softmax(lg, axis=-1)
    want = np.take_along_axis(lsm[None], x[..., None], -1)[..., 0]
    scale = np.abs(want) + np.abs(lg).max(-1) + 1.0

    cat = Categorical(logits=logits.astype(dtype))
    assert cat.batch_shape == [5] and cat.value_shape == []
    out = cat.log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert_logp(out.numpy(), want, scale, dtype, "Categorical")

    onehot = OnehotCategorical(logits=logits.astype(dtype))
    assert onehot.batch_shape == [5] and onehot.value_shape == [4]
    out1 = onehot.log_prob(np.eye(4)[x].astype(dtype))
    assert out1.dtype == dtype
    assert_logp(out1.numpy(), want, scale, dtype, "OnehotCategorical")
    # Below: float64 only (see "Cost" above; each dtype of a graph is a set of
    # kernel compiles on CI's cold cache).
    if dtype == "float64":
        # Integer values give the same numbers; values that are not class
        # indices get -inf (the density of a point outside the support).
        np.testing.assert_array_equal(cat.log_prob(x.astype(np.int32)).numpy(),
                                      out.numpy())
        bad = x.astype(dtype)
        bad[0], bad[1], bad[2] = 1.5, -1.0, 4.0
        got = cat.log_prob(bad).numpy()
        assert np.all(got[:3] == -np.inf)
        np.testing.assert_array_equal(got[3:], out.numpy()[3:])


def test_categorical_probs_with_zeros_are_clamped_not_logged(dtype):
    # probs of exactly 0 become the logit log(tiny): finite, and below the
    # log of any representable positive probability. The others are exact.
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    tiny = {"float32": 2.0**-126, "float64": 2.0**-1022}[dtype]
    out = Categorical(probs=probs.astype(dtype)).log_prob(
        np.array([[0, 1], [2, 2]])).numpy()
    p = seen(probs, dtype)
    with np.errstate(divide="ignore"):  # log(0) of the entry not compared here
        want = np.log(p / p.sum(-1, keepdims=True))[[0, 1], [0, 1]]
    assert_logp(out[0], want, np.ones(2), dtype)
    assert np.isfinite(out[1, 0]) and out[1, 0] <= np.log(tiny) + 1e-3
    assert_logp(out[1, 1], np.log(seen(0.5, dtype)), 1.0, dtype)


def test_multinomial_log_prob_matches_scipy(dtype, rng):
    logits = np.concatenate([rng.normal(0.0, 1.5, size=(3, 4)), SATURATED[:1]])
    n = 12
    p = special.softmax(seen(logits, dtype), axis=-1)
    x = np.stack([rng.multinomial(n, special.softmax(logits, -1)[j], size=5)
                  for j in range(4)], axis=1).astype(np.float64)     # [5, 4, 4]
    want = stats.multinomial.logpmf(x, n, p)
    logp = special.log_softmax(seen(logits, dtype), axis=-1)
    xlogp = np.where(x == 0, 0.0, x * logp)
    scale = (math.lgamma(n + 1) + special.gammaln(x + 1).sum(-1) + np.abs(xlogp).sum(-1)
             + np.abs(x).sum(-1) * np.abs(seen(logits, dtype)).max(-1) + 40.0 * 5)

    dist = Multinomial(logits=logits.astype(dtype), n_experiments=n)
    assert dist.batch_shape == [4] and dist.value_shape == [4]
    out = dist.log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert_logp(out.numpy(), want, scale, dtype, "Multinomial")
    # The coefficient-free UnnormalizedMultinomial is the same minus the log
    # of the multinomial coefficient.
    log_coef = math.lgamma(n + 1) - special.gammaln(x + 1).sum(-1)
    unnorm = UnnormalizedMultinomial(logits=logits.astype(dtype)).log_prob(x.astype(dtype))
    assert unnorm.dtype == dtype
    assert_logp(unnorm.numpy(), want - log_coef, scale, dtype, "UnnormalizedMultinomial")
    if dtype == "float64":  # same arithmetic in float32 as above (see "Cost")
        # n_experiments=None infers n from each value.
        free = Multinomial(logits=logits).log_prob(x).numpy()
        assert_logp(free, want, scale, dtype, "Multinomial(n_experiments=None)")


def test_dirichlet_log_prob_matches_scipy(dtype, rng):
    # Concentrations from 0.05 to 7 (below 1 included); points away from the
    # float32 underflow of the simplex's corners.
    alpha = np.exp(rng.uniform(-3.0, 2.0, size=(4, 3)))
    x = rng.dirichlet(np.ones(3), size=(5, 4))                       # [5, 4, 3]
    want, scale = dirichlet_oracle(seen(x, dtype), seen(alpha, dtype))
    if dtype == "float64":
        # The closed form is scipy's (scipy checks the simplex, which the
        # float32-rounded points miss by an ulp).
        np.testing.assert_allclose(
            want, [[stats.dirichlet.logpdf(x[i, j], alpha[j]) for j in range(4)]
                   for i in range(5)], rtol=1e-13, atol=1e-13)
    dist = Dirichlet(alpha.astype(dtype))
    assert dist.batch_shape == [4] and dist.value_shape == [3]
    out = dist.log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert_logp(out.numpy(), want, scale, dtype, "Dirichlet")


def test_mvn_log_prob_matches_scipy_and_extended_precision(dtype, rng):
    d = 4
    # Batch of 4: two well-conditioned factors and two ill-conditioned ones.
    tril = np.concatenate([cholesky_factors(rng, (2,), d),
                           cholesky_factors(rng, (2,), d, ill=True)])
    mean = rng.normal(size=(4, d))
    x = mean + rng.normal(0.0, 1.5, size=(3, 4, d))
    sx, sm, st = seen(x, dtype), seen(mean, dtype), seen(tril, dtype)
    want, scale = mvn_oracle(sx, sm, st)
    for j in range(2):  # scipy's eigendecomposition is accurate when well-conditioned
        np.testing.assert_allclose(
            want[:, j], stats.multivariate_normal.logpdf(sx[:, j], sm[j],
                                                         st[j] @ st[j].T),
            rtol=1e-12, atol=1e-12)
    dist = MultivariateNormalCholesky(mean.astype(dtype), tril.astype(dtype))
    assert dist.batch_shape == [4] and dist.value_shape == [d]
    out = dist.log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert_logp(out.numpy(), want, scale, dtype, "MultivariateNormalCholesky")


def test_matrix_normal_log_prob_matches_scipy(dtype, rng):
    n, m = 2, 3
    mean = rng.normal(size=(n, m))
    u = cholesky_factors(rng, (), n)
    v = cholesky_factors(rng, (), m)
    x = mean + rng.normal(size=(4, n, m))
    sx, sm, su, sv = (seen(a, dtype) for a in (x, mean, u, v))
    want = stats.matrix_normal.logpdf(sx, sm, su @ su.T, sv @ sv.T)
    # Scale: vec(X) (row-major) is N(vec(mean), (U U^T) kron (V V^T)), whose
    # Cholesky factor is U kron V; the two stages of the solve are bounded
    # together by twice the forward-substitution bound of that factor.
    _, scale = mvn_oracle(sx.reshape(4, n * m), sm.reshape(n * m), np.kron(su, sv))
    dist = MatrixVariateNormalCholesky(mean.astype(dtype), u.astype(dtype),
                                       v.astype(dtype))
    assert dist.batch_shape == [] and dist.value_shape == [n, m]
    out = dist.log_prob(x.astype(dtype))
    assert out.dtype == dtype
    assert_logp(out.numpy(), want, 2 * scale, dtype, "MatrixVariateNormalCholesky")


def test_concrete_and_exp_concrete_log_prob_match_closed_form(dtype, rng):
    logits = np.concatenate([rng.normal(0.0, 1.5, size=(3, 4)), SATURATED[1:]])
    tau = 0.6  # a scalar: a shape-[1] parameter (batch temperatures: next test)
    x = rng.dirichlet(np.ones(4), size=(5, 4))                     # [5, 4, 4]
    lg, t = seen(logits, dtype), float(seen(tau, dtype))
    cases = [(Concrete, x, False), (ExpConcrete, np.log(x), True)]
    for cls, value, log_space in cases:
        want, scale = concrete_oracle(seen(value, dtype), lg, t, log_space)
        dist = cls(tau, logits=logits.astype(dtype))
        assert dist.batch_shape == [4] and dist.value_shape == [4]
        out = dist.log_prob(value.astype(dtype))
        assert out.dtype == dtype
        assert_logp(out.numpy(), want, scale, dtype, cls.__name__)


def test_binary_concrete_density_matches_scipy_logistic(float64, rng):
    # Independent of the closed form: with K = 2, x_1 = sigmoid((l_1 - l_2 + L)
    # / tau) for L ~ Logistic(0, 1), so (change of variables) the density of
    # x_1 is logistic.pdf(tau logit(x_1) - (l_1 - l_2)) tau / (x_1 (1 - x_1))
    # (Lebesgue measure on x_1, Maddison et al.'s Concrete density), and
    # Maddison et al.'s ExpConcrete density of y = log x is that of y_1
    # (Lebesgue on y_1) times exp(y_2): it is the Concrete density times
    # x_1 x_2 (their log-density adds sum_k y_k).
    logits = rng.normal(0.0, 2.0, size=(3, 2))
    tau = np.array([0.3, 1.0, 2.5])
    x1 = rng.uniform(0.02, 0.98, size=(4, 3))
    x = np.stack([x1, 1.0 - x1], axis=-1)
    dl = logits[:, 0] - logits[:, 1]
    log_dens_x1 = (stats.logistic.logpdf(tau * special.logit(x1) - dl) + np.log(tau)
                   - np.log(x1) - np.log1p(-x1))
    got = Concrete(tau, logits=logits).log_prob(x).numpy()
    np.testing.assert_allclose(got, log_dens_x1, rtol=1e-12, atol=1e-12)
    got = ExpConcrete(tau, logits=logits).log_prob(np.log(x)).numpy()
    np.testing.assert_allclose(got, log_dens_x1 + np.log(x1) + np.log1p(-x1),
                               rtol=1e-12, atol=1e-12)


# -- 2. samples against the true laws (float64) -----------------------------------


def test_categorical_and_onehot_samples_pass_chi_square(float64, rng):
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.2, 0.0]])
    with np.errstate(divide="ignore"):  # a logit of -inf: a class never drawn
        logits = np.concatenate([rng.normal(0.0, 1.0, size=(1, 4)), np.log(probs[1:])])
    p = np.stack([special.softmax(logits[0]), probs[1]])
    for name, dist in (("Categorical", Categorical(logits=logits)),
                       ("OnehotCategorical", OnehotCategorical(probs=p))):
        s = dist.sample(N_SAMPLES).numpy()
        if name == "Categorical":
            assert s.dtype == np.int32 and s.shape == (N_SAMPLES, 2)
            counts = np.stack([np.bincount(s[:, j], minlength=4) for j in range(2)])
        else:
            assert s.dtype == np.float64 and s.shape == (N_SAMPLES, 2, 4)
            assert set(np.unique(s)) <= {0.0, 1.0} and np.all(s.sum(-1) == 1.0)
            counts = s.sum(0)
        # A class of probability zero is never drawn.
        assert counts[1, 3] == 0, name
        for j, k in ((0, 4), (1, 3)):
            # FPR: ALPHA per row (expected counts >= 2000, chi-square law exact
            # to well below that level); 2e-4 per class, 4e-4 for the test.
            res = stats.chisquare(counts[j, :k], N_SAMPLES * p[j, :k])
            assert res.pvalue > ALPHA, (name, j, counts[j], res)


def test_multinomial_sample_marginals_are_binomial(float64, rng):
    n = 10
    logits = rng.normal(0.0, 1.0, size=(2, 3))
    p = special.softmax(logits, -1)
    s = Multinomial(logits=logits, n_experiments=n).sample(N_SAMPLES).numpy()
    assert s.shape == (N_SAMPLES, 2, 3)
    assert np.all(s == np.round(s)) and np.all(s >= 0) and np.all(s.sum(-1) == n)
    for j in range(2):
        # x_0 ~ Bin(n, p_0) and x_0 + x_1 ~ Bin(n, p_0 + p_1) (which checks the
        # dependence between classes); chi-square over the counts, pooling the
        # tail bins so that every expected count is >= 5.
        for stat, q in ((s[:, j, 0], p[j, 0]), (s[:, j, :2].sum(-1), p[j, :2].sum())):
            observed = np.bincount(stat.astype(int), minlength=n + 1)
            expected = N_SAMPLES * stats.binom.pmf(np.arange(n + 1), n, q)
            keep = expected >= 5
            obs = np.append(observed[keep], observed[~keep].sum())
            exp = np.append(expected[keep], expected[~keep].sum())
            if exp[-1] == 0:
                obs, exp = obs[:-1], exp[:-1]
            exp = exp * obs.sum() / exp.sum()
            # FPR: ALPHA per statistic, 4e-4 for the test.
            res = stats.chisquare(obs, exp)
            assert res.pvalue > ALPHA, (j, q, res)


def test_dirichlet_samples_have_beta_marginals(float64, rng):
    alpha = np.array([[0.3, 1.0, 4.0], [2.0, 0.7, 0.5]])
    s = Dirichlet(alpha).sample(N_SAMPLES).numpy()
    assert s.shape == (N_SAMPLES, 2, 3) and s.dtype == np.float64
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=0, atol=8 * EPS["float64"])
    for j in range(2):
        a0 = alpha[j].sum()
        for k in range(3):
            # x_k ~ Beta(alpha_k, alpha_0 - alpha_k). FPR: ALPHA per marginal,
            # 6e-4 for the test.
            res = stats.kstest(s[:, j, k], "beta", args=(alpha[j, k], a0 - alpha[j, k]))
            assert res.pvalue > ALPHA, (j, k, res)


def test_mvn_sample_mean_covariance_and_whitened_law(float64, rng):
    d = 3
    mean = rng.normal(size=(2, d))
    tril = cholesky_factors(rng, (2,), d)
    s = MultivariateNormalCholesky(mean, tril).sample(N_SAMPLES).numpy()
    assert s.shape == (N_SAMPLES, 2, d)
    for j in range(2):
        cov = tril[j] @ tril[j].T
        # Mean: SE sqrt(Sigma_ii / N). Covariance entries: for Gaussian data
        # the sample covariance s_ik has variance (Sigma_ik^2 + Sigma_ii
        # Sigma_kk) / (N - 1) (Isserlis). FPR 2e-9 per entry, 3 + 9 entries,
        # two rows: < 5e-8.
        np.testing.assert_array_less(np.abs(s[:, j].mean(0) - mean[j]),
                                     N_SE * np.sqrt(np.diag(cov) / N_SAMPLES))
        se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / (N_SAMPLES - 1))
        np.testing.assert_array_less(np.abs(np.cov(s[:, j].T) - cov), N_SE * se)
        # The whole law: L^{-1}(x - mean) are independent standard normals.
        # FPR: ALPHA per coordinate, 6e-4 for the test.
        w = linalg.solve_triangular(tril[j], (s[:, j] - mean[j]).T, lower=True)
        for i in range(d):
            res = stats.kstest(w[i], "norm")
            assert res.pvalue > ALPHA, (j, i, res)


def test_matrix_normal_sample_moments(float64, rng):
    n, m = 2, 3
    mean = rng.normal(size=(n, m))
    u, v = cholesky_factors(rng, (), n), cholesky_factors(rng, (), m)
    s = MatrixVariateNormalCholesky(mean, u, v).sample(N_SAMPLES).numpy()
    assert s.shape == (N_SAMPLES, n, m)
    # Row-major vec(X) ~ N(vec(mean), (U U^T) kron (V V^T)). Same standard
    # errors as for the multivariate normal: FPR 2e-9 per entry, 6 + 36
    # entries: < 1e-7.
    cov = np.kron(u @ u.T, v @ v.T)
    flat = s.reshape(N_SAMPLES, n * m)
    np.testing.assert_array_less(np.abs(flat.mean(0) - mean.ravel()),
                                 N_SE * np.sqrt(np.diag(cov) / N_SAMPLES))
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / (N_SAMPLES - 1))
    np.testing.assert_array_less(np.abs(np.cov(flat.T) - cov), N_SE * se)


def test_concrete_samples_argmax_and_logistic_law(float64, rng):
    # (1) Gumbel-max: argmax of a Concrete sample is Categorical(softmax(logits))
    # whatever the temperature. (2) K = 2: tau (y_1 - y_2) - (l_1 - l_2) is
    # standard logistic for y = log x. FPR: ALPHA per row and test, < 1e-3.
    logits4 = rng.normal(0.0, 1.0, size=(2, 4))
    dist = Concrete(0.5, logits=logits4, validate_args=True)
    draws = dist.sample(N_SAMPLES)
    s = draws.numpy()
    assert s.shape == (N_SAMPLES, 2, 4) and np.all(s >= 0)
    # validate_args accepts the distribution's own draws, which are scored as
    # the closed form says.
    want, scale = concrete_oracle(s[:50], logits4, 0.5, log_space=False)
    assert_logp(dist.log_prob(draws[:50]).numpy(), want, scale, "float64")
    # x = exp(y) with y = s - logsumexp(s), |s| = |logits + G| / tau <= ~80:
    # y carries an error of a few eps |s|, exp(y) that much relative, so the
    # sum misses 1 by at most ~K * 4 eps * 80 (<= 1300 eps); checked at 2048.
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=0, atol=2048 * EPS["float64"])
    for j in range(2):
        counts = np.bincount(s[:, j].argmax(-1), minlength=4)
        res = stats.chisquare(counts, N_SAMPLES * special.softmax(logits4[j]))
        assert res.pvalue > ALPHA, (j, counts, res)
    logits2 = rng.normal(0.0, 1.0, size=(3, 2))
    tau = 0.7
    y = ExpConcrete(tau, logits=logits2).sample(N_SAMPLES).numpy()
    # logsumexp(y) = 0 up to the rounding of y (a few eps of |s| <= ~80).
    np.testing.assert_allclose(special.logsumexp(y, -1), 0.0, rtol=0,
                               atol=2048 * EPS["float64"])
    for j in range(3):
        stat = tau * (y[:, j, 0] - y[:, j, 1]) - (logits2[j, 0] - logits2[j, 1])
        res = stats.kstest(stat, "logistic")
        assert res.pvalue > ALPHA, (j, res)


# -- 3. gradients against finite differences (float64) -----------------------------


def test_mvn_gradients_match_finite_differences(float64, seed, rng):
    d = 3
    arrays = {"mean": rng.normal(size=(2, d)),
              "cov_tril": cholesky_factors(rng, (2,), d),
              "x": rng.normal(size=(4, 2, d))}

    # Reparameterised: d f(mean + L eps) / d(mean, L) with eps fixed by reseeding.
    def sample_value(vs):
        jt.set_global_seed(seed)
        return _test_function_jt(
            MultivariateNormalCholesky(vs["mean"], vs["cov_tril"]).sample(5))

    check_gradients(sample_value, {k: arrays[k] for k in ("mean", "cov_tril")},
                    ["mean", "cov_tril"])

    # The log-density through the triangular solve's hand-written adjoint.
    def log_prob_value(vs):
        return MultivariateNormalCholesky(vs["mean"], vs["cov_tril"]).log_prob(
            vs["x"]).sum()

    check_gradients(log_prob_value, arrays, ["mean", "cov_tril", "x"])


def test_matrix_normal_log_prob_gradient_matches_finite_differences(float64, rng):
    # Both triangular solves (left with U, right with V) through their adjoint.
    n, m = 2, 3
    arrays = {"mean": rng.normal(size=(n, m)), "u": cholesky_factors(rng, (), n),
              "v": cholesky_factors(rng, (), m), "x": rng.normal(size=(3, n, m))}

    def value(vs):
        return MatrixVariateNormalCholesky(vs["mean"], vs["u"], vs["v"]).log_prob(
            vs["x"]).sum()

    check_gradients(value, arrays, ["mean", "u", "v", "x"])


def test_concrete_reparameterized_gradient_matches_finite_differences(
        float64, seed, rng):
    arrays = {"logits": rng.normal(size=(2, 3)), "tau": np.array([0.8])}

    def sample_value(vs):
        jt.set_global_seed(seed)
        return _test_function_jt(Concrete(vs["tau"], logits=vs["logits"]).sample(4))

    check_gradients(sample_value, arrays, ["logits", "tau"])


def test_dirichlet_log_prob_gradient_matches_finite_differences(float64, rng):
    # Through the lgamma series (d/dalpha_k = digamma(alpha_0) -
    # digamma(alpha_k) + log x_k) and the log of the value.
    arrays = {"alpha": np.exp(rng.uniform(-2.0, 2.5, size=(2, 3))),
              "x": rng.dirichlet(np.ones(3), size=(4, 2))}

    def dirichlet_value(vs):
        return Dirichlet(vs["alpha"]).log_prob(vs["x"]).sum()

    check_gradients(dirichlet_value, arrays, ["alpha", "x"])


def test_dirichlet_reparameterized_gradient_is_the_implicit_gradient(
        float64, seed, rng):
    # Deterministic check of the whole path. The sample is x = g / sum(g) with
    # g = standard_gamma(alpha) (reseeding reproduces g). The oracle for
    # dg_k/dalpha_k is the implicit derivative -dF/dalpha / f at g, with F the
    # Gamma(alpha, 1) CDF (scipy.special.gammainc, differentiated in alpha by
    # central differences with step 1e-5: error ~1e-9 relative) and f its
    # density; the chain rule through the normalisation is done in NumPy.
    alpha = np.array([[0.4, 1.5, 3.0], [2.0, 0.8, 5.0]])
    w = rng.normal(size=(4, 2, 3))
    jt.set_global_seed(seed)
    g = standard_gamma(jt.array(alpha).broadcast([4, 2, 3])).numpy()
    a = jt.array(alpha)
    jt.set_global_seed(seed)
    x = Dirichlet(a).sample(4)
    (grad,) = jt.grad((x * jt.array(w)).sum(), [a])

    np.testing.assert_allclose(x.numpy(), g / g.sum(-1, keepdims=True), rtol=1e-15,
                               atol=0)
    h = 1e-5
    ab = np.broadcast_to(alpha, g.shape)
    dcdf = (special.gammainc(ab + h, g) - special.gammainc(ab - h, g)) / (2 * h)
    dg = -dcdf / stats.gamma.pdf(g, ab)                     # dg_k / dalpha_k
    total = g.sum(-1, keepdims=True)
    # d(sum_k w_k g_k / S) / dg_j = (w_j - sum_k w_k x_k) / S
    dx_dg = (w - (w * g / total).sum(-1, keepdims=True)) / total
    want = (dx_dg * dg).sum(0)
    np.testing.assert_allclose(grad.numpy(), want, rtol=1e-6, atol=1e-8)


def test_dirichlet_reparameterized_gradient_is_unbiased(float64, rng):
    # Statistical check, independent of how standard_gamma differentiates:
    # d/dalpha E[w . x] = w_j / alpha_0 - (w . alpha) / alpha_0^2 (E x = alpha
    # / alpha_0). One alpha row per draw gives per-draw gradients, whose mean
    # must lie within N_SE standard errors. FPR 2e-9 per entry, 3 entries.
    alpha = np.array([0.5, 1.5, 3.0])
    w = np.array([1.0, -2.0, 0.5])
    a = jt.array(np.tile(alpha, (N_SAMPLES, 1)))
    x = Dirichlet(a).sample()
    (grad,) = jt.grad((x * jt.array(w)).sum(), [a])
    per_draw = grad.numpy()
    a0 = alpha.sum()
    want = w / a0 - (w @ alpha) / a0**2
    se = per_draw.std(0, ddof=1) / np.sqrt(N_SAMPLES)
    np.testing.assert_array_less(np.abs(per_draw.mean(0) - want), N_SE * se)


# -- 4. errors ------------------------------------------------------------------------

_EYE3 = np.eye(3)
_UPPER = np.triu(np.ones((3, 3)))


def _err(make, error, match, name):
    return pytest.param(make, error, match, id=name)


_Z3 = np.zeros(3)
_MVN = MultivariateNormalCholesky
_MATN = MatrixVariateNormalCholesky

ERRORS = [
    _err(lambda: Categorical(), ValueError,
         r"Categorical: pass exactly one of 'logits' or 'probs' \(got neither\)",
         "categorical-neither"),
    _err(lambda: OnehotCategorical(logits=_Z3, probs=np.ones(3) / 3), ValueError,
         r"OnehotCategorical: pass exactly one.*both", "onehot-both"),
    _err(lambda: Categorical(logits=0.5), ValueError,
         r"Categorical: logits must have at least 1 axis \(the categories\), "
         r"got shape \[\]", "categorical-scalar-logits"),
    _err(lambda: Categorical(probs=np.array([0.5, 0.6]), validate_args=True),
         ValueError, r"Categorical: probs must lie on the simplex.*shape \[2\]"
         r".*does not sum to 1", "probs-sum"),
    _err(lambda: Multinomial(probs=np.array([-0.1, 1.1]), n_experiments=2,
                             validate_args=True),
         ValueError, r"Multinomial: probs must lie on the simplex.*negative",
         "probs-negative"),
    _err(lambda: Categorical(logits=_Z3, validate_args=True).log_prob(
        np.array([0, 3])), ValueError, r"class indices in \[0, 2\]",
         "categorical-value"),
    _err(lambda: OnehotCategorical(logits=_Z3, validate_args=True).log_prob(
        np.array([1.0, 1.0, 0.0])), ValueError, r"one-hot vectors of length 3",
         "onehot-value"),
    _err(lambda: Multinomial(logits=_Z3, n_experiments=0), ValueError,
         r"Multinomial: n_experiments must be None or an integer >= 1, got 0",
         "multinomial-n0"),
    _err(lambda: Multinomial(logits=_Z3, n_experiments=3, validate_args=True)
         .log_prob(np.array([1.0, 1, 2])), ValueError,
         r"Multinomial counts must sum to n_experiments=3", "multinomial-sum"),
    _err(lambda: Multinomial(logits=_Z3).sample(), NotImplementedError,
         r"Multinomial: sampling needs an integer n_experiments",
         "multinomial-sample-none"),
    _err(lambda: UnnormalizedMultinomial(logits=_Z3).sample(2), NotImplementedError,
         r"UnnormalizedMultinomial does not support sampling", "unnormalized-sample"),
    _err(lambda: Dirichlet(np.array([1.0, -1.0]), validate_args=True), ValueError,
         r"Dirichlet: alpha must be > 0 \(shape \[2\]\)", "dirichlet-alpha"),
    _err(lambda: Dirichlet(np.array([1.0, 2.0]), validate_args=True).log_prob(
        np.array([0.5, 0.6])), ValueError, r"Dirichlet values must lie on the simplex",
         "dirichlet-value"),
    _err(lambda: Dirichlet(np.array([1.0, 2.0])).log_prob(np.ones((2, 3)) / 3),
         ValueError, r"Dirichlet: value of shape \[2, 3\] does not end with the "
         r"value shape \[2\]", "dirichlet-value-shape"),
    _err(lambda: _MVN(_Z3, np.eye(4)), ValueError,
         r"MultivariateNormalCholesky: cov_tril of shape \[4, 4\] does not match "
         r"mean of shape \[3\]: its last two axes must be \[3, 3\]", "mvn-shape"),
    _err(lambda: _MVN(_Z3, np.ones(3)), ValueError,
         r"cov_tril must have at least 2 axes \(a D x D matrix\), "
         r"got shape \[3\]", "mvn-rank"),
    _err(lambda: _MVN(np.zeros((2, 3)), np.tile(_EYE3, (4, 1, 1))), ValueError,
         r"do not broadcast: mean batch \[2\], cov_tril batch \[4\]", "mvn-batch"),
    _err(lambda: _MVN(_Z3, _UPPER, validate_args=True), ValueError,
         r"cov_tril must be lower-triangular: found nonzero entries above the "
         r"diagonal \(shape \[3, 3\]\)", "mvn-not-triangular"),
    _err(lambda: _MVN(_Z3, -_EYE3, validate_args=True), ValueError,
         r"cov_tril must have a positive diagonal", "mvn-diag"),
    _err(lambda: _MATN(np.zeros((2, 3)), np.eye(2), np.eye(2)), ValueError,
         r"MatrixVariateNormalCholesky: v_tril of shape \[2, 2\] does not match "
         r"mean of shape \[2, 3\]: its last two axes must be \[3, 3\]",
         "matrix-normal-shape"),
    _err(lambda: _MATN(np.zeros((2, 3)), np.ones((2, 2)), np.eye(3),
                       validate_args=True),
         ValueError, r"u_tril must be lower-triangular", "matrix-normal-tril"),
    _err(lambda: ExpConcrete(-1.0, logits=_Z3, validate_args=True), ValueError,
         r"ExpConcrete: temperature must be > 0", "concrete-temperature"),
    _err(lambda: Concrete(1.0, logits=_Z3, validate_args=True).log_prob(
        np.array([0.5, 0.5, 0.5])), ValueError,
         r"Concrete values must lie on the simplex", "concrete-value"),
    _err(lambda: Categorical(logits=_Z3, is_reparameterized=True), ValueError,
         r"Categorical has no reparameterised sampler", "categorical-reparameterized"),
    _err(lambda: Dirichlet(np.ones(3), concentration=1.0), TypeError,
         r"Dirichlet: unknown argument\(s\) \['concentration'\]", "unknown-kwarg"),
]


@pytest.mark.parametrize("make,error,match", ERRORS)
def test_bad_input_raises_clear_error(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- 5. in a BayesianNet ------------------------------------------------------------


class Mixture(zs.BayesianNet):
    """Latent Dirichlet weights, categorical assignments, and a latent
    multivariate normal with particles, all by name."""

    def __init__(self, alpha, mean, tril):
        super().__init__()
        self.alpha, self.mean, self.tril = alpha, mean, tril

    def execute(self, observed):
        self.observe(observed)
        w = self.sn("Dirichlet", "w", alpha=self.alpha)
        # 4 assignments per component: the parameter has the data's shape (an
        # observed value never adds axes to a node, docs/design.md)
        self.sn("Categorical", "c", probs=w.unsqueeze(0).broadcast([4, *w.shape]),
                group_ndims=1)
        self.sn("MultivariateNormalCholesky", "z", mean=self.mean,
                cov_tril=self.tril, n_samples=3)
        return self


def test_used_by_name_in_a_bayesian_net(float64, rng):
    alpha = np.array([[0.5, 1.0, 2.0], [3.0, 1.0, 0.7]])
    mean = rng.normal(size=(2, 3))
    tril = cholesky_factors(rng, (2,), 3)
    net = Mixture(jt.array(alpha), jt.array(mean), jt.array(tril))

    # Observed Dirichlet weights and assignments; z is sampled (3 particles).
    w = rng.dirichlet(np.ones(3), size=2)
    c = np.array([[0, 2, 2, 1], [1, 1, 0, 2]]).T                  # [4, 2]
    net({"w": w, "c": c})
    z = net.nodes["z"].tensor.numpy()
    assert z.shape == (3, 2, 3)
    want_w = np.array([stats.dirichlet.logpdf(w[j], alpha[j]) for j in range(2)])
    want_c = np.log(w)[[0, 1], c].sum(-1)            # group_ndims=1: [4, 2] -> [4]
    want_z = np.stack([[stats.multivariate_normal.logpdf(z[i, j], mean[j],
                                                         tril[j] @ tril[j].T)
                        for j in range(2)] for i in range(3)])
    np.testing.assert_allclose(net.nodes["w"].log_prob().numpy(), want_w, rtol=1e-12)
    np.testing.assert_allclose(net.nodes["c"].log_prob().numpy(), want_c, rtol=1e-12)
    np.testing.assert_allclose(net.nodes["z"].log_prob().numpy(), want_z, rtol=1e-12)

    # Everything latent: the sampled weights parameterise the assignments.
    net({})
    w_s = net.nodes["w"].tensor.numpy()
    c_s = net.nodes["c"].tensor.numpy()
    assert w_s.shape == (2, 3) and c_s.shape == (4, 2) and c_s.dtype == np.int32
    np.testing.assert_allclose(net.nodes["c"].log_prob().numpy(),
                               np.log(w_s)[[0, 1], c_s].sum(-1), rtol=1e-12)


# -- the classes this file tests --------------------------------------------------
# Each class and the test of its log-density against an oracle; read by
# test_every_family_is_tested.py (a registered class with no case fails there).
ORACLE_CASES = {
    Categorical: test_categorical_and_onehot_log_prob,
    OnehotCategorical: test_categorical_and_onehot_log_prob,
    Multinomial: test_multinomial_log_prob_matches_scipy,
    UnnormalizedMultinomial: test_multinomial_log_prob_matches_scipy,
    Dirichlet: test_dirichlet_log_prob_matches_scipy,
    MultivariateNormalCholesky: test_mvn_log_prob_matches_scipy_and_extended_precision,
    MatrixVariateNormalCholesky: test_matrix_normal_log_prob_matches_scipy,
    Concrete: test_concrete_and_exp_concrete_log_prob_match_closed_form,
    ExpConcrete: test_concrete_and_exp_concrete_log_prob_match_closed_form,
}
