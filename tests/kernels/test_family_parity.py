"""Parity of the generic fused op ``family_log_prob`` across backends.

For every family of ``csrc/include/zhusuan/families.h`` the ``native`` and
``jit`` backends must give the values and the gradients (the value ``x`` and
every parameter) of the ``jittor`` reference backend, and the reference must
give ``scipy.stats``' log-density (so the parity is with something known to be
right; the distribution classes are tested against scipy in
tests/distributions/test_univariate.py).

One broadcast pattern per family, chosen to exercise the engine's paths at
once: ``x`` [S, B, D] with parameters [D] and [B, 1] (read in place with
stride 0), summed over axes (0, 2) and weighted by 0.7. float64 on every
backend (tolerance 1e-12 relative, with a floor of the same fraction of the
array's largest magnitude: the results are sums of ~20 terms each rounded a
few ulp); float32 on the native backend against the float64 reference on
the float32-rounded inputs (1e-5: a few ulp of float32 per term, as in
test_parity.py; lgamma of float32 arguments up to ~30 stays within that).

The jit backend runs the table in float64 only, to keep the number of its
kernel compiles (one per pattern, dtype and gradient) small on CI's cold
cache; a few families (those with lgamma, counts up to 100) also run in
float32 on one small pattern (``F32_CASES``).
"""

import importlib

import numpy as np
import pytest
from scipy import stats

# isort: off
import zhusuan  # noqa: F401  (configures Jittor before its first import)
import jittor as jt

# isort: on
from zhusuan import kernels
from zhusuan.kernels import FAMILIES, reference

S, B, D = 3, 5, 7
AXES = (0, 2)
WEIGHT = 0.7
TOL = {"float32": 1e-5, "float64": 1e-12}


def _inputs(family, rng):
    """(x [S,B,D], params with shapes [D] / [B,1] / ..., scipy logpdf of the
    elementwise density) for one family, values inside the support."""
    shape = (S, B, D)
    u = lambda lo, hi, s: rng.uniform(lo, hi, size=s)  # noqa: E731
    n = rng.normal
    if family == "Laplace":
        x, p = n(size=shape), [n(size=D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.laplace.logpdf(x, a, b)
    if family == "Logistic":
        x, p = 3 * n(size=shape), [n(size=D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.logistic.logpdf(x, a, b)
    if family == "Exponential":
        return rng.exponential(size=shape), [u(0.5, 2, D)], \
            lambda x, r: stats.expon.logpdf(x, scale=1 / r)
    if family == "HalfNormal":
        return np.abs(n(size=shape)), [0.3 * n(size=D)], \
            lambda x, ls: stats.halfnorm.logpdf(x, scale=np.exp(ls))
    if family == "FoldNormal":
        x, p = np.abs(n(size=shape)) + 0.01, [n(size=D), 0.3 * n(size=(B, 1))]
        return x, p, lambda x, m, ls: stats.foldnorm.logpdf(
            x, m / np.exp(ls), scale=np.exp(ls))
    if family == "LogNormal":
        x, p = rng.lognormal(size=shape), [n(size=D), 0.3 * n(size=(B, 1))]
        return x, p, lambda x, m, ls: stats.lognorm.logpdf(
            x, np.exp(ls), scale=np.exp(m))
    if family == "Uniform":
        x, p = u(0.1, 0.9, shape), [u(-1, 0, D), u(1, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.uniform.logpdf(x, a, b - a)
    if family == "Poisson":
        x = rng.poisson(3, size=shape).astype(np.float64)
        return x, [n(size=D)], lambda x, lr: stats.poisson.logpmf(x, np.exp(lr))
    if family == "Geometric":
        x = rng.poisson(3, size=shape).astype(np.float64)
        return x, [2 * n(size=D)], \
            lambda x, lg: stats.geom.logpmf(x, 1 / (1 + np.exp(-lg)), loc=-1)
    if family == "Binomial":
        x = rng.integers(0, 7, size=shape).astype(np.float64)
        return x, [n(size=D), np.full((B, 1), 9.0)], \
            lambda x, lg, k: stats.binom.logpmf(x, k, 1 / (1 + np.exp(-lg)))
    if family == "Gamma":
        x, p = rng.gamma(2.0, size=shape), [u(0.3, 3, D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.gamma.logpdf(x, a, scale=1 / b)
    if family == "Beta":
        x, p = u(0.05, 0.95, shape), [u(0.3, 3, D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.beta.logpdf(x, a, b)
    if family == "StudentT":
        x, p = 2 * n(size=shape), [u(0.5, 6, D), n(size=(B, 1)), u(0.5, 2, D)]
        return x, p, lambda x, df, m, s: stats.t.logpdf(x, df, m, s)
    if family == "Cauchy":
        x, p = 4 * n(size=shape), [n(size=D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.cauchy.logpdf(x, a, b)
    if family == "HalfCauchy":
        return np.abs(4 * n(size=shape)), [u(0.5, 2, D)], \
            lambda x, s: stats.halfcauchy.logpdf(x, scale=s)
    if family == "InverseGamma":
        x, p = 1 / rng.gamma(2.0, size=shape), [u(0.3, 5, D), u(0.5, 2, (B, 1))]
        return x, p, lambda x, a, b: stats.invgamma.logpdf(x, a, scale=b)
    raise AssertionError(f"no inputs for family {family}")


def _run(backend, family, x, params, dtype):
    kernels.set_backend(backend)
    with jt.flag_scope(auto_convert_64_to_32=0):
        vs = [jt.array(np.asarray(a, dtype=dtype)) for a in (x, *params)]
    out = kernels.family_log_prob(family, vs[0], vs[1:], AXES, WEIGHT)
    grads = jt.grad(out.sum(), vs)
    return [out.numpy()] + [g.numpy() for g in grads]


def _close(got, want, rtol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    floor = rtol * max(1.0, float(np.max(np.abs(want))))
    err = np.abs(got - want)
    bad = err > rtol * np.abs(want) + floor
    assert not bad.any(), (
        f"{what}: max abs error {err.max():.3e} (rtol {rtol}); "
        f"got {got[bad][:3]}, want {want[bad][:3]}"
    )


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def _available(name):
    mod = importlib.import_module(f"zhusuan.kernels.{name}")
    try:
        mod.check_available()
    except ImportError as exc:
        return str(exc).splitlines()[0]
    return None


def test_family_table_agrees_everywhere():
    """The Python table, the reference's formulas and the compiled
    extension's table list the same families with the same parameters."""
    assert set(reference.FAMILIES) == set(FAMILIES)
    why = _available("native")
    if why:
        pytest.skip(f"native backend not built: {why}")
    from zhusuan import _C

    assert {k: tuple(v) for k, v in _C.families().items()} == FAMILIES


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_parity(family, rng, restore_backend):
    x, params, logpdf = _inputs(family, rng)
    # The reference against scipy first (the oracle of the whole comparison).
    ref = _run("jittor", family, x, params, "float64")
    want = WEIGHT * logpdf(x, *[np.broadcast_to(p, x.shape) for p in params]).sum(axis=AXES)
    _close(ref[0], want, 1e-12, f"{family} reference vs scipy")
    for backend in ("native", "jit"):
        why = _available(backend)
        if why:
            continue  # reported by test_family_table / test_parity's skips
        got = _run(backend, family, x, params, "float64")
        names = ["log_prob", "d/dx"] + [f"d/d{n}" for n in FAMILIES[family]]
        for g, r, name in zip(got, ref, names, strict=True):
            _close(g, r, TOL["float64"], f"{family} {backend} float64 {name}")
    if _available("native") is None:
        x32 = [np.asarray(a, np.float32) for a in (x, *params)]
        got = _run("native", family, x32[0], x32[1:], "float32")
        ref64 = _run("jittor", family, *[a.astype(np.float64) for a in x32[:1]],
                     [a.astype(np.float64) for a in x32[1:]], "float64")
        for k, (g, r) in enumerate(zip(got, ref64, strict=True)):
            _close(g, r, TOL["float32"], f"{family} native float32 output {k}")


@pytest.mark.parametrize("backend", ["native", "jit", "jittor"])
def test_family_out_of_support_is_minus_inf(backend, restore_backend):
    """Outside the support the log-density is -inf and the gradient 0."""
    why = _available(backend) if backend != "jittor" else None
    if why:
        pytest.skip(f"backend {backend!r} not available: {why}")
    kernels.set_backend(backend)
    x = jt.array(np.array([-1.0, 0.25], dtype=np.float32))
    rate = jt.array(np.array([2.0, 2.0], dtype=np.float32))
    out = kernels.family_log_prob("Exponential", x, [rate], (), 1.0)
    got = out.numpy()
    assert got[0] == -np.inf
    np.testing.assert_allclose(got[1], stats.expon.logpdf(0.25, scale=0.5), rtol=1e-6)
    # d/drate (log rate - rate x) = 1/rate - x inside; 0 outside.
    g = jt.grad(out.sum(), rate).numpy()
    np.testing.assert_allclose(g, [0.0, 1 / 2.0 - 0.25], rtol=1e-6)


def test_unknown_family_names_the_choices():
    x = jt.array(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="unknown family 'Gama'.*Gamma"):
        kernels.family_log_prob("Gama", x, [x, x], (), 1.0)
    with pytest.raises(ValueError, match="Gamma: expected parameters"):
        kernels.family_log_prob("Gamma", x, [x], (), 1.0)


# -- the jit backend in float32 (issue 15, finding 8) -------------------------------------
# A few families whose float32 code differs most from float64 (lgamma of
# float32 arguments, counts up to 100), on one small pattern so that the
# jit backend compiles few kernels: a float32-only bug (an lgamma that
# overflowed made Poisson's log-probability -inf at x = 40) must fail here.
F32_CASES = {
    "Poisson": (np.array([0.0, 3.0, 40.0, 100.0]), [np.array([0.5, 1.2, 3.7, 4.5])],
                lambda x, lr: stats.poisson.logpmf(x, np.exp(lr))),
    "Gamma": (np.array([0.3, 2.0, 40.0, 7.5]), [np.array([0.7, 2.5, 35.0, 12.0]),
                                                 np.array([1.5, 0.8, 1.1, 2.0])],
              lambda x, a, b: stats.gamma.logpdf(x, a, scale=1 / b)),
    "StudentT": (np.array([-3.0, 0.5, 40.0, 2.0]), [np.array([0.7, 3.0, 45.0, 9.0]),
                                                     np.array([0.1, -0.2, 1.0, 0.0]),
                                                     np.array([1.5, 0.8, 2.0, 1.0])],
                 lambda x, df, m, s: stats.t.logpdf(x, df, m, s)),
    "Binomial": (np.array([0.0, 17.0, 40.0, 50.0]), [np.array([-0.3, 0.2, 1.5, 4.0]),
                                                      np.array([50.0, 50.0, 50.0, 50.0])],
                 lambda x, lg, n: stats.binom.logpmf(x, n, 1 / (1 + np.exp(-lg)))),
}


@pytest.mark.parametrize("family", sorted(F32_CASES))
def test_jit_float32_families_against_scipy(family, restore_backend):
    """float32 on the jit backend: the log-density against scipy on the
    float32-rounded inputs, the gradients against float64 on the same inputs
    (1e-5 relative with the floor of ``_close``)."""
    why = _available("jit")
    if why:
        pytest.skip(f"jit backend not available: {why}")
    x, params, logpdf = F32_CASES[family]
    x32 = [np.asarray(a, np.float32) for a in (x, *params)]
    x64 = [a.astype(np.float64) for a in x32]
    kernels.set_backend("jit")
    with jt.flag_scope(auto_convert_64_to_32=0):
        vs = [jt.array(a) for a in x32]
    out = kernels.family_log_prob(family, vs[0], vs[1:], (), 1.0)
    got = [out.numpy()] + [g.numpy() for g in jt.grad(out.sum(), vs)]
    want = logpdf(*x64)
    assert np.isfinite(got[0]).all(), f"{family} jit float32: {got[0]}"
    _close(got[0], want, TOL["float32"], f"{family} jit float32 log_prob vs scipy")
    # The float64 oracle of the gradients: the native backend where built
    # (equal to the reference to 1e-12 by test_family_parity, and compiled
    # already), else the reference.
    kernels.set_backend("native" if _available("native") is None else "jittor")
    with jt.flag_scope(auto_convert_64_to_32=0):
        ws = [jt.array(a) for a in x64]
    out64 = kernels.family_log_prob(family, ws[0], ws[1:], (), 1.0)
    ref = [g.numpy() for g in jt.grad(out64.sum(), ws)]
    names = ["d/dx"] + [f"d/d{n}" for n in FAMILIES[family]]
    for g, r, name in zip(got[1:], ref, names, strict=True):
        _close(g, r, TOL["float32"], f"{family} jit float32 {name} vs float64 reference")


# -- the Cauchy families' far tails -------------------------------------------------------
# log1p(z^2) is computed as 2 (log|d| - log s) + log1p(1 / z^2) for |z| > 1
# (families.h): z^2 overflows float32 from |z| ~ 1.8e19 and float64 from
# ~1.3e154, and z itself where s is tiny. The oracle: the same closed form in
# mpmath-free float64 logs, log p = -log(pi s) - 2 log|z| - log1p(1/z^2),
# evaluated from the float-rounded inputs; gradients against the closed
# forms d/dx = -2 / (s (z + 1/z)), d/ds = (1 - 2 / (1 + z^2)) / s.
@pytest.mark.parametrize("backend", ["native", "jit", "jittor"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cauchy_far_tail_is_finite_and_exact(backend, dtype, restore_backend):
    why = _available(backend) if backend != "jittor" else None
    if why:
        pytest.skip(f"backend {backend!r} not available: {why}")
    kernels.set_backend(backend)
    big = 1e30 if dtype == "float32" else 1e200
    x = np.array([0.0, 0.5, -3.0, big, -big, 2e-30], dtype=dtype)
    scale = np.array([1.0, 2.0, 0.5, 1.0, 1e-5, 1e-35 if dtype == "float32" else 1e-300],
                     dtype=dtype)
    with jt.flag_scope(auto_convert_64_to_32=0):
        xs, ss = jt.array(x), jt.array(scale)
    out = kernels.family_log_prob("Cauchy", xs, [jt.zeros_like(xs), ss], (), 1.0)
    gx, gs = jt.grad(out.sum(), [xs, ss])
    x64, s64 = x.astype(np.float64), scale.astype(np.float64)
    # |z| in log space (z overflows for the last entries in float32).
    log_z = np.log(np.abs(np.where(x64 == 0, 1.0, x64))) - np.log(s64)
    z = np.where(x64 == 0, 0.0, np.sign(x64) * np.exp(np.minimum(log_z, 700)))
    inv_z2 = np.where(x64 == 0, np.inf, np.exp(-2 * log_z))
    want = np.where(np.abs(z) > 1, -np.log(np.pi * s64) - 2 * log_z - np.log1p(inv_z2),
                    -np.log(np.pi * s64) - np.log1p(z * z))
    got = out.numpy().astype(np.float64)
    assert np.isfinite(got).all(), f"{backend} {dtype}: {got}"
    rtol = TOL[dtype] * 10
    np.testing.assert_allclose(got, want, rtol=rtol, err_msg=f"{backend} {dtype} log_prob")
    with np.errstate(divide="ignore", over="ignore"):
        inv_z = np.where(x64 == 0, np.inf, 1 / z)
        w = np.where(np.abs(z) > 1, 2 * inv_z / (1 + inv_z ** 2), 2 * z / (1 + z * z))
        q = np.where(np.abs(z) > 1, inv_z ** 2 / (1 + inv_z ** 2), 1 / (1 + z * z))
    want_gx, want_gs = -w / s64, (1 - 2 * q) / s64
    for g, wv, name in ((gx, want_gx, "d/dx"), (gs, want_gs, "d/dscale")):
        g = g.numpy().astype(np.float64)
        ok = np.isfinite(wv)  # d/dscale at s = 1e-300 is ~1e300: finite in float64
        assert (np.isfinite(g) == ok).all(), f"{backend} {dtype} {name}: {g} vs {wv}"
        np.testing.assert_allclose(g[ok], wv[ok], rtol=rtol, atol=0,
                                   err_msg=f"{backend} {dtype} {name}")
