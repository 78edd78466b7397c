"""Normal's log-density and gradients at extreme scales (issue 15, finding 4).

``Normal(mean=0., logstd=-90.).log_prob(0.)`` was NaN with NaN gradients in
float32 (``(x - mean) * exp(90)`` is ``0 * inf``), from logstd -750 in
float64, on every backend; on the reference backend ``Normal(std=1e-30)``'s
gradient in std at the mean was NaN (Jittor's division gradient divides by
``std * std``, which underflows). The kernels now work with the
standardised residual, applying ``exp(-logstd)`` in two finite factors where
one would overflow (csrc/include/zhusuan/normal.h).

Oracle: the closed forms evaluated with 40 significant digits (Python's
``decimal``, whose exponent range holds every intermediate) on the exact
float32/float64 inputs, then rounded to the dtype (so a result beyond the
dtype's range is the infinity it rounds to). float64 gradients are also
checked against central finite differences of each backend's own forward.

Tolerance: the value is a sum of three terms, each computed with a few
roundings (exp within a few ulp, common.h; two products; a square), so the
error bound is 16 ulp of the sum of the terms' magnitudes; a gradient is a
product of a few rounded factors: 16 ulp of itself. A floor of a few times
the smallest normal number covers results that underflow (Jittor's kernels
may flush subnormals to zero).
"""

import decimal
import math

import numpy as np
import pytest

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan.distributions import Normal

BACKENDS = ("native", "jit", "jittor")
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
ULPS = 16


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each available backend, selected for the test and restored after it."""
    previous = zs.kernels.get_backend()
    try:
        zs.kernels.set_backend(request.param)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield request.param
    zs.kernels.set_backend(previous)


def _exact(d, scale, logstd):
    """(value, magnitude) pairs of log p, d/dx, d/dmean, d/dscale for the
    residual ``d = x - mean`` and the scale parameter (std, or log std),
    computed with 40 significant digits (``decimal``, whose exponent range
    holds every intermediate) and returned as Python floats (+-inf where the
    exact value exceeds a double). ``magnitude``: the size of the terms the
    result is a sum of (for the tolerance)."""
    if logstd and abs(scale) > 1e5:
        # exp(-scale) is beyond even decimal's range: z is 0 (d = 0 or a
        # huge sigma) or its square is infinite.
        if d == 0.0 or scale > 0:
            return [(-scale, abs(scale)), (0.0, 0.0), (0.0, 0.0), (-1.0, 1.0)]
        return [(-math.inf, math.inf)] + [(math.nan, math.inf)] * 3
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        ctx.Emax, ctx.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        D = decimal.Decimal
        dd, ss = D(d), D(scale)
        log_s = ss if logstd else ss.ln()
        inv = (-ss).exp() if logstd else 1 / ss
        z = dd * inv
        lp = -z * z / 2 - log_s - D(HALF_LOG_2PI)
        dx = -z * inv
        dscale = z * z - 1 if logstd else (z * z - 1) / ss
        mag_lp = z * z / 2 + abs(log_s) + 1
        mag_scale = z * z + 1 if logstd else (z * z + 1) / ss
        return [(float(lp), float(mag_lp)), (float(dx), float(abs(dx))),
                (float(-dx), float(abs(dx))), (float(dscale), float(mag_scale))]


def _round(value, dtype):
    """``value`` rounded to ``dtype`` (an infinity beyond its range)."""
    with np.errstate(over="ignore"):
        return float(np.array(value).astype(dtype))


def _check(got, want, magnitude, dtype, what):
    info = np.finfo(dtype)
    want_t = _round(want, dtype)
    if not math.isfinite(want_t):
        assert got == want_t, f"{what}: got {got!r}, want {want_t!r} (exact {want!r})"
        return
    tol = ULPS * float(info.eps) * magnitude + 4.0 * float(info.tiny)
    assert math.isfinite(got) and abs(got - want) <= tol, (
        f"{what}: got {got!r}, want {want!r} (exact), error {abs(got - want):.3g} "
        f"> {tol:.3g}")


def _run(d, scale, logstd, dtype):
    # Shape [2], two copies: Jittor 1.3.11 can return wrong float64 gradients
    # for shape-[1] targets after a float32 graph ran (tests/kernels/test_parity.py).
    x = jt.array(np.array([d, d], dtype=dtype))
    mean = jt.array(np.zeros([2], dtype=dtype))
    s = jt.array(np.array([scale, scale], dtype=dtype))
    dist = Normal(mean=mean, **({"logstd": s} if logstd else {"std": s}))
    lp = dist.log_prob(x)
    grads = jt.grad(lp.sum(), [x, mean, s])
    return [float(lp.numpy()[0])] + [float(g.numpy()[0]) for g in grads]


# (residual, log std): z = 0 at huge 1/sigma; z of order 1 where exp(-logstd)
# alone overflows (the two-factor range); beyond twice the range; huge sigma.
LOGSTD_CASES = {
    "float32": [(0.0, -90.0), (0.0, -88.5), (0.0, -3e38), (0.0, 3e38), (0.0, 150.0),
                (2e-38, -88.5), (-3e-38, -89.0), (1e-30, -70.0), (2e-38, -100.0),
                (2e-38, -174.0), (2e-38, -180.0), (1.0, -1e30), (3e38, 90.0),
                (-3e38, 120.0), (3e38, 200.0), (1.5, 0.3), (1.0, 3e38)],
    "float64": [(0.0, -750.0), (0.0, -1e300), (0.0, 1e300), (3e-308, -709.5),
                (-1e-308, -709.2), (1e-300, -700.0), (3e-308, -800.0),
                (3e-308, -1416.0), (3e-308, -1500.0), (1.0, -1e300), (1e308, 720.0),
                (1e308, 1500.0), (1.5, 0.3)],
}
STD_CASES = {
    "float32": [(0.0, 1e-30), (1e-30, 1e-30), (1.0, 1e-30), (3e-38, 2e-38),
                (1.0, 3e38), (3e38, 1e30), (1.5, 1.3)],
    "float64": [(0.0, 1e-300), (1e-300, 1e-300), (1.0, 1e-300), (1.0, 1e308),
                (1.5, 1.3)],
}


@pytest.mark.parametrize("logstd", [True, False], ids=["logstd", "std"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_prob_and_gradients_exact_at_extreme_scales(backend, dtype, logstd, request):
    if dtype == "float64":
        request.getfixturevalue("float64")
    cases = (LOGSTD_CASES if logstd else STD_CASES)[dtype]
    for d, scale in cases:
        # The exact answer for the inputs as the dtype holds them.
        d_t = float(np.array(d, dtype=dtype))
        s_t = float(np.array(scale, dtype=dtype))
        got = _run(d_t, s_t, logstd, dtype)
        want = _exact(d_t, s_t, logstd)
        # Where log p itself is -inf in the dtype (its exact value is below
        # the dtype's range) only the value is checked: no gradient exists.
        beyond = _round(want[0][0], dtype) == -math.inf
        checks = list(zip(["log p", "d/dx", "d/dmean", "d/dscale"], got, want,
                          strict=True))
        for name, g, (w, mag) in checks[:1] if beyond else checks:
            _check(g, w, mag, dtype, f"{backend} {dtype} x - mean = {d_t!r}, "
                   f"{'logstd' if logstd else 'std'} = {s_t!r}: {name}")


def test_issue_example_float32(backend):
    """The issue's example: 89.08 in float32 with gradients 0 and -1."""
    got = _run(0.0, -90.0, True, "float32")
    assert got[0] == pytest.approx(90.0 - HALF_LOG_2PI, rel=1e-6)
    assert got[1:] == [0.0, 0.0, -1.0]


@pytest.mark.parametrize("d, s", [(-1e-308, -709.2), (0.0, -750.0), (1e308, 720.0),
                                  (2.0, -0.5)])
def test_float64_gradients_match_finite_differences(backend, d, s, float64):
    """Central differences of the backend's own float64 forward, in x and in
    logstd, at scales where exp(-logstd) overflows or underflows."""
    def f(x_val, s_val):
        x = jt.array(np.array([x_val, x_val]))
        ls = jt.array(np.array([s_val, s_val]))
        return float(Normal(mean=jt.array(np.zeros(2)), logstd=ls).log_prob(x).numpy()[0])

    got = _run(d, s, True, "float64")
    hs = 1e-6 * max(1.0, abs(s))
    fd_s = (f(d, s + hs) - f(d, s - hs)) / (2 * hs)
    # Rounding of f (|f| ulps) over 2h, plus the h^2 truncation of z^2 terms.
    tol_s = 1e-6 * max(1.0, abs(got[3])) + 4 * abs(f(d, s)) * 2.2e-16 / hs
    assert abs(got[3] - fd_s) <= tol_s, (got[3], fd_s)
    if d == 0.0:
        assert got[1] == 0.0  # sigma = exp(s) may not be representable: no step
        return
    hx = 1e-6 * abs(d)
    fd_x = (f(d + hx, s) - f(d - hx, s)) / (2 * hx)
    tol_x = 1e-6 * abs(got[1]) + 4 * abs(f(d, s)) * 2.2e-16 / hx
    assert abs(got[1] - fd_x) <= tol_x, (got[1], fd_x)


def test_tiny_std_gradient_matches_native_on_reference(float64):
    """The reference backend's gradient in std at x = mean for std = 1e-30
    (issue 15: NaN before) equals the native backend's, -1/std, in both
    dtypes."""
    out = {}
    for name in ("native", "jittor"):
        previous = zs.kernels.get_backend()
        try:
            zs.kernels.set_backend(name)
        except RuntimeError as exc:
            pytest.skip(str(exc))
        try:
            out[name] = [_run(0.0, 1e-30, False, dt)[3] for dt in ("float32", "float64")]
        finally:
            zs.kernels.set_backend(previous)
    assert out["jittor"] == out["native"]
    assert out["native"][1] == -1.0 / 1e-30  # the division, rounded once
    assert out["native"][0] == float(np.float32(-1.0) / np.float32(1e-30))


# -- the families given log sigma: HalfNormal, FoldNormal, LogNormal ----------------------
# The same scaling through normal.h (families.h) and _Standardise (the
# reference). Oracle: the closed forms with 40 digits, rounded to the dtype.
# HalfNormal(logstd=s) at x, z = x e^-s:
#   log p = log 2 - log(2 pi)/2 - s - z^2/2,  d/dx = -z e^-s,  d/ds = z^2 - 1.
# FoldNormal(mean=0, logstd=s) is the same law. LogNormal(mean=0, logstd=s)
# at x = 1 (z = 0): log p = -s - log(2 pi)/2, d/dx = -1, d/ds = -1.
_FAMILY_SCALES = {"float32": (-90.0, -40.0, 40.0, 85.0),
                  "float64": (-750.0, -400.0, 400.0, 705.0)}
_FAMILY_X = {"float32": (0.0, 1e-30, 1.0), "float64": (0.0, 1e-300, 1.0)}


def _half_normal_exact(x, s):
    ctx = decimal.Context(prec=40, Emax=10**6, Emin=-10**6)
    X, S = ctx.create_decimal(x), ctx.create_decimal(s)
    inv = ctx.exp(-S)
    z = X * inv
    ln2 = ctx.ln(decimal.Decimal(2))
    c = ctx.ln(2 * decimal.Decimal(math.pi)) / 2
    lp = ln2 - c - S - z * z / 2
    return [(float(lp), float(abs(S) + z * z / 2 + 2)),
            (float(-z * inv), float(abs(z * inv))),
            (float(z * z - 1), float(z * z + 1))]


def _rounded(v, dtype):
    with np.errstate(over="ignore"):
        return float(np.asarray(v, dtype))


@pytest.mark.parametrize("family", ["HalfNormal", "FoldNormal", "LogNormal"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_sigma_families_exact_at_extreme_scales(backend, family, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("float64")
    D = zs.distributions
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).tiny)
    for s in _FAMILY_SCALES[dtype]:
        xs = (1.0,) if family == "LogNormal" else _FAMILY_X[dtype]
        for x in xs:
            # Shape [2], not [1]: Jittor 1.3.11 miscompiles float64 kernels
            # that read a shape-[1] input twice (tests/kernels/test_parity.py).
            ls = jt.array(np.array([s, s], dtype))
            xv = jt.array(np.array([x, x], dtype))
            if family == "HalfNormal":
                d = D.HalfNormal(logstd=ls)
            elif family == "FoldNormal":
                d = D.FoldNormal(mean=jt.zeros([2], dtype), logstd=ls)
            else:
                d = D.LogNormal(mean=jt.zeros([2], dtype), logstd=ls)
            lp = d.log_prob(xv)
            gx, gs = jt.grad(lp.sum(), [xv, ls])
            got = [float(v.numpy()[0]) for v in (lp, gx, gs)]
            if family == "LogNormal":
                c = 0.5 * math.log(2 * math.pi)
                want = [(-s - c, abs(s) + 1), (-1.0, 1.0), (-1.0, 1.0)]
            else:
                want = _half_normal_exact(x, s)
            for name, g, (w, mag) in zip(("log_prob", "d/dx", "d/dlogstd"), got, want,
                                         strict=True):
                w = _rounded(w, dtype)
                what = f"{family} {dtype} logstd={s} x={x} {name}: got {g!r}, want {w!r}"
                if math.isinf(w):
                    assert g == w, what
                else:
                    assert math.isfinite(g), what
                    assert abs(g - w) <= ULPS * eps * mag + 4 * tiny, what
