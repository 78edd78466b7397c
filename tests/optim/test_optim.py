"""zhusuan.optim: Adam and SGD against float64 NumPy, against Jittor's own
optimisers, and as drop-ins (state dicts, bad input).

Oracles:

* ``_adam_ref`` / ``_sgd_ref``: the update equations of the docstrings in
  float64 NumPy, fed the same (dtype-rounded) initial parameters and
  gradients. Tolerance (per element, after T steps): each step rounds the
  parameter once (half an ulp of |p|) and its update u = p_t - p_{t-1}
  carries at most about 16 relative roundings of the dtype (the constants
  rounded to the dtype, d, m, v, the square root, the division, the step
  size), so |p - p_ref| <= T eps (|p_ref| + 16 max_t |u_t|), eps the
  dtype's machine epsilon. That holds when no sum in the update cancels:
  the random gradients have the sign of their parameter (magnitudes spread
  over 1e-3 .. 10), so d = g + wd p and the moments never cancel. (Where
  g ~ -wd p, d is the difference of two rounded numbers and any precision
  gets it wrong relatively; that case is the comparison with jt.optim
  below, which computes d the same way.) The draws are fixed by the test's
  seed, so no false positives.
* ``jt.optim.Adam`` / ``jt.optim.SGD`` on the same problem. The ``jittor``
  backend writes Jittor's expressions and agrees exactly; ``native`` and
  ``jit`` evaluate the same operations in the same order with correctly
  rounded division and square root, while Jittor's -Ofast kernel may use
  approximate reciprocals when GCC vectorises it, and fuses the gradient's
  own expression into the update: they agree to float32 rounding (the
  bound above).
"""

import os
import sys

import numpy as np
import pytest

# isort: off
import zhusuan as zs  # must precede the first ``import jittor``
import jittor as jt

# isort: on
from zhusuan.kernels import _ext
from zhusuan.kernels import optim as kopt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(
    not kopt.available(b), reason=f"{b}: {kopt.unavailable_reason(b)}"))
    for b in ("native", "jit", "jittor")]
# Odd sizes, an empty tensor, a scalar-like one and one above the parallel
# threshold (65536 elements: the OpenMP path with several chunks).
SHAPES = [(0,), (1,), (7,), (3, 5), (17, 33), (257, 263)]
EPS = {"float32": np.finfo(np.float32).eps, "float64": np.finfo(np.float64).eps}


# --------------------------------------------------------------- oracles ----
def _adam_ref(p, grads, lrs, betas, eps, wd):
    """float64 Adam; returns the parameters after each step."""
    p = p.astype(np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        d = g.astype(np.float64) + wd * p
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        p = p - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        out.append(p)
    return out


def _sgd_ref(p, grads, lrs, momentum, wd, dampening, nesterov):
    p = p.astype(np.float64)
    b = np.zeros_like(p)
    out = []
    for g, lr in zip(grads, lrs, strict=True):
        d = g.astype(np.float64) + wd * p
        b = momentum * b + (1 - dampening) * d
        p = p - lr * ((d + momentum * b) if nesterov else b)
        out.append(p)
    return out


def _bound(history, p0, dtype):
    """The tolerance of the module docstring, elementwise."""
    steps = [p0.astype(np.float64), *history]
    u = np.max(np.abs(np.diff(np.stack(steps), axis=0)), axis=0)
    return len(history) * EPS[dtype] * (np.abs(history[-1]) + 16 * u)


def _var(a):
    with jt.flag_scope(auto_convert_64_to_32=0):
        return jt.array(a)


def _run(opt_factory, p0s, grads, lrs, dtype):
    """Train Vars started at p0s with loss sum(p * G_t) (so the gradient is
    exactly G_t); lr changed through ``opt.lr`` before each step."""
    ps = [_var(p.astype(dtype)) for p in p0s]
    opt = opt_factory(ps)
    for t, lr in enumerate(lrs):
        opt.lr = lr
        loss = sum((p * _var(g[t].astype(dtype))).sum()
                   for p, g in zip(ps, grads, strict=True))
        opt.step(loss)
    return [p.numpy() for p in ps], opt


def _problem(rng, dtype, steps=5):
    """Initial parameters and gradients (rounded to ``dtype``), and the lrs."""
    p0s = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    # Gradients of the parameter's sign: no cancellation (module docstring).
    grads = [[(np.sign(p) * np.abs(rng.standard_normal(s))
               * 10.0 ** rng.uniform(-3, 1, s)).astype(dtype) for _ in range(steps)]
             for s, p in zip(SHAPES, p0s, strict=True)]
    # lr changed mid-run (steps 3 on): the optimiser must read it each step.
    lrs = [1e-2, 1e-2, 3e-3, 3e-3, 1e-3][:steps]
    return p0s, grads, lrs


# ------------------------------------------------- backends vs NumPy ----
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_matches_float64_numpy(backend, wd, dtype, rng):
    p0s, grads, lrs = _problem(rng, dtype)
    betas, eps = (0.8, 0.99), 1e-6
    got, opt = _run(lambda ps: zs.optim.Adam(ps, lrs[0], eps=eps, betas=betas,
                                             weight_decay=wd, backend=backend),
                    p0s, grads, lrs, dtype)
    assert opt.backend == backend
    for k, (p0, g, p) in enumerate(zip(p0s, grads, got, strict=True)):
        assert p.dtype == np.dtype(dtype) and p.shape == p0.shape
        hist = _adam_ref(p0, [x.astype(dtype) for x in g], lrs, betas, eps, wd)
        err = np.abs(p - hist[-1])
        assert np.all(err <= _bound(hist, p0, dtype)), (k, p0.shape, err.max())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("momentum,wd,dampening,nesterov", [
    (0.0, 0.0, 0.0, False), (0.9, 0.0, 0.0, False), (0.9, 0.05, 0.1, False),
    (0.9, 0.05, 0.0, True)])
def test_sgd_matches_float64_numpy(backend, momentum, wd, dampening, nesterov, dtype,
                                   rng):
    p0s, grads, lrs = _problem(rng, dtype)
    got, _ = _run(lambda ps: zs.optim.SGD(ps, lrs[0], momentum=momentum,
                                          weight_decay=wd, dampening=dampening,
                                          nesterov=nesterov, backend=backend),
                  p0s, grads, lrs, dtype)
    for k, (p0, g, p) in enumerate(zip(p0s, grads, got, strict=True)):
        hist = _sgd_ref(p0, [x.astype(dtype) for x in g], lrs, momentum, wd, dampening,
                        nesterov)
        err = np.abs(p - hist[-1])
        assert np.all(err <= _bound(hist, p0, dtype)), (k, p0.shape, err.max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_param_groups_mixed_dtypes_and_stop_grad(backend, rng):
    """Groups with their own lr / betas / weight decay, float32 and float64
    parameters in one optimiser, and a stop_grad parameter that is skipped."""
    a32 = _var(rng.standard_normal((4, 3)).astype(np.float32))
    b64 = _var(rng.standard_normal(5))
    frozen = _var(rng.standard_normal(3).astype(np.float32)).stop_grad()
    start = [x.numpy().copy() for x in (a32, b64, frozen)]
    ga, gb = rng.standard_normal((4, 3)), rng.standard_normal(5)
    opt = zs.optim.Adam([{"params": [a32, frozen]},
                         {"params": [b64], "lr": 0.05, "betas": (0.5, 0.9),
                          "weight_decay": 0.01}], 0.01, backend=backend)
    for _ in range(3):
        loss = (a32 * _var(ga.astype(np.float32))).sum() + (b64 * _var(gb)).sum()
        opt.step(loss)
    assert b64.dtype == "float64" and a32.dtype == "float32"
    ha = _adam_ref(start[0], [ga.astype(np.float32)] * 3, [0.01] * 3, (0.9, 0.999),
                   1e-8, 0)
    hb = _adam_ref(start[1], [gb] * 3, [0.05] * 3, (0.5, 0.9), 1e-8, 0.01)
    assert np.all(np.abs(a32.numpy() - ha[-1]) <= _bound(ha, start[0], "float32"))
    assert np.all(np.abs(b64.numpy() - hb[-1]) <= _bound(hb, start[1], "float64"))
    np.testing.assert_array_equal(frozen.numpy(), start[2])


# ----------------------------------------------------- vs jt.optim ----
def _compare_with_jittor(make_zs, make_jt, rng, steps=6, dtype="float32"):
    shapes = [(33, 17), (17,), (300, 250)]
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    gs = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    out = []
    for make in (make_zs, make_jt):
        ps = [_var(p.copy()) for p in p0]
        opt = make(ps)
        for t in range(steps):
            loss = sum((p * _var(g)).sum() for p, g in zip(ps, gs[t], strict=True))
            opt.step(loss)
        out.append([p.numpy() for p in ps])
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_agrees_with_jittor_adam(backend, rng):
    ours, theirs = _compare_with_jittor(
        lambda ps: zs.optim.Adam(ps, 1e-2, weight_decay=0.01, backend=backend),
        lambda ps: jt.optim.Adam(ps, 1e-2, weight_decay=0.01), rng)
    for a, b in zip(ours, theirs, strict=True):
        if backend == "jittor":
            np.testing.assert_array_equal(a, b)
        else:
            # A few ulp: Jittor's vectorised division is a reciprocal
            # estimate plus a Newton step (-Ofast), ours is exact.
            np.testing.assert_allclose(a, b, rtol=4 * EPS["float32"] * 6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_agrees_with_jittor_sgd(backend, nesterov, rng):
    kw = dict(momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    ours, theirs = _compare_with_jittor(
        lambda ps: zs.optim.SGD(ps, 1e-2, backend=backend, **kw),
        lambda ps: jt.optim.SGD(ps, 1e-2, **kw), rng)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=4 * EPS["float32"] * 6, atol=1e-7)


# ------------------------------------------------ the tutorial's VAE ----
sys.path.insert(0, os.path.join(ROOT, "examples"))
import vae as _vae  # noqa: E402

VAE_STEPS, VAE_BATCH = 200, 32


def _synthetic_binary(seed, n):
    """Binary 28x28 images: 10 random prototypes of pixel probabilities, each
    image a Bernoulli draw from one of them (learnable, unlike pure noise)."""
    r = np.random.default_rng(seed)
    protos = r.beta(0.3, 0.3, size=(10, 784))
    labels = r.integers(0, 10, size=n)
    return (r.random((n, 784)) < protos[labels]).astype(np.float32)


def _train_vae(make_opt, data, weights):
    jt.set_global_seed(123)
    gen = _vae.Generator(784, 40, VAE_BATCH)
    var = _vae.Variational(784, 40, VAE_BATCH)
    gen.load_state_dict(weights["generator"])
    var.load_state_dict(weights["variational"])
    model = zs.variational.ELBO(gen, var)
    opt = make_opt(model.parameters())
    jt.set_global_seed(7)  # the same noise stream for every run
    losses = []
    for step in range(VAE_STEPS):
        loss = model({"x": jt.array(data[step * VAE_BATCH:(step + 1) * VAE_BATCH])})
        opt.step(loss)
        losses.append(loss.item())
    params = {k: v.numpy() for k, v in model.state_dict().items()}
    return np.array(losses), params


@pytest.fixture(scope="module")
def vae_setup():
    jt.set_global_seed(0)
    gen = _vae.Generator(784, 40, VAE_BATCH)
    var = _vae.Variational(784, 40, VAE_BATCH)
    weights = {"generator": {k: v.numpy() for k, v in gen.state_dict().items()},
               "variational": {k: v.numpy() for k, v in var.state_dict().items()}}
    data = _synthetic_binary(0, VAE_STEPS * VAE_BATCH)
    losses, params = _train_vae(lambda ps: jt.optim.Adam(ps, 1e-3), data, weights)
    return data, weights, losses, params


# Tolerances of the 200-step comparison. Both runs see identical data, noise
# and initial weights, so only the rounding of the Adam updates can differ;
# here the runs agree bit for bit on every backend (optim.h performs
# Jittor's compiled operations in Jittor's order). Training amplifies
# differences unevenly (Adam's m / sqrt(v) is ill-conditioned where both are
# tiny), so the bounds come from a measurement on this problem: making the
# float32 step size 1 ulp larger at every step moves the losses by at most
# 3e-7 relative and the parameters by at most 4e-6 after 200 steps; 4 ulp
# moves them by 1.6e-3 and 0.055. The bounds accept rounding-level
# differences (a vectorised Jittor kernel whose division is a reciprocal
# estimate differs from ours in the last bit of some updates) and reject
# anything of a few ulp per step or more.
VAE_LOSS_RTOL = 1e-5
VAE_PARAM_ATOL = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_vae_200_steps_match_jittor_adam(backend, vae_setup):
    data, weights, ref_losses, ref_params = vae_setup
    losses, params = _train_vae(lambda ps: zs.optim.Adam(ps, 1e-3, backend=backend),
                                data, weights)
    assert np.all(np.isfinite(losses)) and losses[-20:].mean() < losses[:5].mean() - 50
    np.testing.assert_allclose(losses, ref_losses, rtol=VAE_LOSS_RTOL)
    for k, v in ref_params.items():
        np.testing.assert_allclose(params[k], v, rtol=0, atol=VAE_PARAM_ATOL, err_msg=k)


# ----------------------------------------------------------- state dicts ----
def _toy(rng, dtype="float32"):
    """Three parameters and a loss per step t, elementwise but not quadratic.

    (Elementwise on purpose: in Jittor 1.3.11 a float64 MLP trained with
    jt.optim.SGD gives different results in two identical runs of one
    process once float32 programs have run there, which would make a
    round-trip comparison fail for reasons outside the optimiser.)
    """
    ws = [_var(rng.standard_normal(s).astype(dtype)) for s in ((6, 4), (4,), (3, 1, 2))]
    data = [[_var(rng.standard_normal(w.shape).astype(dtype)) for w in ws]
            for _ in range(8)]

    def loss(t):
        return sum((jt.sin(w * a) + 0.5 * w * w).sum()
                   for w, a in zip(ws, data[t], strict=True))

    return ws, loss


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls,kw", [(zs.optim.Adam, dict(weight_decay=0.01)),
                                    (zs.optim.SGD, dict(momentum=0.9, nesterov=True))])
def test_state_dict_round_trip_continues_identically(backend, cls, kw, dtype, tmp_path,
                                                      rng):
    seed = int(rng.integers(1 << 30))
    ws, loss = _toy(np.random.default_rng(seed), dtype)
    whole = cls(ws, 0.05, backend=backend, **kw)
    for t in range(8):
        whole.step(loss(t))
    expected = [w.numpy() for w in ws]

    ws, loss = _toy(np.random.default_rng(seed), dtype)
    first = cls(ws, 0.05, backend=backend, **kw)
    for t in range(3):
        first.step(loss(t))
    path = str(tmp_path / "opt.pkl")
    jt.save({"params": [w.numpy() for w in ws], "opt": first.state_dict()}, path)
    del first

    saved = jt.load(path)
    ws2, loss2 = _toy(np.random.default_rng(seed), dtype)
    for w, a in zip(ws2, saved["params"], strict=True):
        w.assign(_var(a))
    second = cls(ws2, 0.05, backend=backend, **kw)
    second.load_state_dict(saved["opt"])
    assert second.n_step == 3
    for t in range(3, 8):
        second.step(loss2(t))
    for a, b in zip((w.numpy() for w in ws2), expected, strict=True):
        assert a.dtype == np.dtype(dtype)
        if backend == "jittor":
            # Jittor fuses a step's expressions with the previous step's
            # still-lazy state in the uninterrupted run, but not with a loaded
            # (materialised) state, and -Ofast contracts the two fused graphs
            # differently: equal to the last bits only.
            np.testing.assert_allclose(a, b, rtol=8 * EPS[dtype], atol=8 * EPS[dtype])
        else:  # a fixed sequence of operations on materialised buffers
            np.testing.assert_array_equal(a, b)


def test_state_dict_is_jittors_format(rng):
    """A jt.optim.Adam state loads into zs.optim.Adam and back, and the two
    then continue identically (jittor backend: bitwise)."""
    ws, loss = _toy(rng)
    ref = jt.optim.Adam(ws, 0.05)
    for t in range(3):
        ref.step(loss(t))
    state = ref.state_dict()
    ours = zs.optim.Adam([_var(w.numpy()) for w in ws], 0.05, backend="jittor")
    assert set(ours.state_dict()["defaults"]) == set(state["defaults"])
    ours.load_state_dict(state)
    assert ours.n_step == 3
    for key in ("m", "values"):
        pairs = zip(ours.param_groups[0][key], ref.param_groups[0][key], strict=True)
        for a, b in pairs:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    back = jt.optim.Adam([_var(w.numpy()) for w in ws], 0.05)
    back.load_state_dict(ours.state_dict())
    assert back.n_step == 3


def test_loaded_state_is_copied_not_shared(rng):
    """Loading another optimiser's live state dict must not make the two
    update the same buffers in place."""
    ws, loss = _toy(rng)
    a = zs.optim.Adam(ws, 0.05)
    a.step(loss(0))
    ws_b = [_var(w.numpy()) for w in ws]
    b = zs.optim.Adam(ws_b, 0.05)
    b.load_state_dict(a.state_dict())
    before = [m.numpy().copy() for m in a.param_groups[0]["m"]]
    b.step((ws_b[0] ** 2).sum())
    for m, m0 in zip(a.param_groups[0]["m"], before, strict=True):
        np.testing.assert_array_equal(m.numpy(), m0)


# -------------------------------------------------------- drop-in details ----
@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_accumulation_then_step(backend, rng):
    """optimizer.backward(loss) twice, then step(): as jt.optim (the
    gradients add up; n_step counts backward calls)."""
    results = []
    for make in (lambda ps: zs.optim.SGD(ps, 0.1, momentum=0.5, backend=backend),
                 lambda ps: jt.optim.SGD(ps, 0.1, momentum=0.5)):
        ws, loss = _toy(np.random.default_rng(3))
        opt = make(ws)
        for t in range(2):
            opt.zero_grad()
            opt.backward(loss(2 * t) / 2)
            opt.backward(loss(2 * t + 1) / 2)
            opt.step()
        results.append(([w.numpy() for w in ws], opt.n_step))
    (ours, n_ours), (theirs, n_theirs) = results
    assert n_ours == n_theirs == 4
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_without_gradient_behaves_as_in_jittor(backend, rng):
    """Jittor gives a parameter the loss does not reach a zero gradient (its
    log says "grads[i] ... doesn't have gradient. It will be set to zero")
    and Adam still updates it: its moments decay and weight decay pulls it.
    Ours does the same (the gradients come from Jittor's own backward)."""
    w0, unused0 = rng.standard_normal((3, 2)), rng.standard_normal(4)
    results = []
    for make in (lambda ps: zs.optim.Adam(ps, 0.1, weight_decay=0.1, backend=backend),
                 lambda ps: jt.optim.Adam(ps, 0.1, weight_decay=0.1)):
        w, unused = _var(w0.astype(np.float32)), _var(unused0.astype(np.float32))
        opt = make([w, unused])
        for _ in range(3):
            opt.step((w ** 2).sum())
        results.append(unused.numpy())
    assert not np.array_equal(results[0], unused0.astype(np.float32))  # it moved
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_step_without_any_gradient_raises():
    opt = zs.optim.Adam([_var(np.ones(3, np.float32))], 0.1)
    with pytest.raises(RuntimeError, match="backward"):
        opt.step()


def test_lr_on_a_group_overrides_the_optimizer(rng):
    w = _var(np.zeros(2, np.float32))
    opt = zs.optim.SGD([{"params": [w], "lr": 0.5}], 0.1)
    opt.step((w * _var(np.ones(2, np.float32))).sum())
    np.testing.assert_allclose(w.numpy(), [-0.5, -0.5])
    opt.param_groups[0]["lr"] = 0.25
    opt.step((w * _var(np.ones(2, np.float32))).sum())
    np.testing.assert_allclose(w.numpy(), [-0.75, -0.75])


def test_backend_info_reports_the_chosen_backend():
    info = zs.optim.backend_info()
    assert info["chosen"] in info["backends"]
    assert info["backends"]["jittor"]["available"]
    opt = zs.optim.Adam([_var(np.ones(2, np.float32))], 0.1)
    assert opt.backend == info["chosen"]
    for name, b in info["backends"].items():
        assert b["available"] == (b["reason"] == ""), name


# ------------------------------------------------------------- bad input ----
def _w():
    return [_var(np.ones(3, np.float32))]


@pytest.mark.parametrize("kw,match", [
    (dict(lr=0.0), "lr .* positive"), (dict(lr=-1e-3), "lr .* positive"),
    (dict(lr=float("nan")), "lr .* finite"), (dict(lr="0.1"), "lr .* real"),
    (dict(betas=(1.0, 0.999)), r"betas\[0\] .* \[0, 1\)"),
    (dict(betas=(0.9, 1.0)), r"betas\[1\] .* \[0, 1\)"),
    (dict(betas=(-0.1, 0.999)), r"betas\[0\]"), (dict(betas=0.9), "pair"),
    (dict(eps=-1e-8), "eps"), (dict(weight_decay=-0.1), "weight_decay"),
])
def test_adam_rejects_bad_hyperparameters(kw, match):
    kw = {"lr": 1e-3, **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        zs.optim.Adam(_w(), **kw)


@pytest.mark.parametrize("kw,match", [
    (dict(lr=0.0), "lr"), (dict(momentum=-0.5), "momentum"),
    (dict(weight_decay=-1.0), "weight_decay"), (dict(dampening=1.5), "dampening"),
    (dict(nesterov=True), "nesterov"),
    (dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
])
def test_sgd_rejects_bad_hyperparameters(kw, match):
    kw = {"lr": 1e-3, **kw}
    with pytest.raises(ValueError, match=match):
        zs.optim.SGD(_w(), **kw)


def test_bad_lr_set_between_steps_raises_at_the_step():
    w = _w()
    opt = zs.optim.Adam(w, 1e-3)
    opt.step((w[0] ** 2).sum())
    opt.lr = 0
    before = w[0].numpy().copy()
    with pytest.raises(ValueError, match="lr .* positive"):
        opt.step((w[0] ** 2).sum())
    # Checked before anything happens: no backward, no update.
    assert opt.n_step == 1
    np.testing.assert_array_equal(w[0].numpy(), before)
    opt.lr = 1e-3
    opt.param_groups[0]["betas"] = (0.9, 1.5)
    with pytest.raises(ValueError, match=r"betas\[1\] \(group 0\)"):
        opt.step((w[0] ** 2).sum())


def test_bad_parameters_raise():
    w = _w()
    with pytest.raises(ValueError, match="more than once"):
        zs.optim.Adam(w + w, 1e-3)
    with pytest.raises(ValueError, match="no parameters"):
        zs.optim.Adam([], 1e-3)
    with pytest.raises(TypeError, match="dtype int32"):
        zs.optim.Adam([jt.array(np.ones(3, np.int32))], 1e-3)
    with pytest.raises(TypeError, match="not a jittor Var"):
        zs.optim.Adam([np.ones(3)], 1e-3)
    with pytest.raises(ValueError, match="unknown backend"):
        zs.optim.Adam(w, 1e-3, backend="cuda")
    opt = zs.optim.Adam(w, 1e-3)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": w})


@pytest.mark.skipif(not kopt.available("native"),
                    reason="the native extension is not built")
def test_native_kernel_checks_its_arguments():
    C = _ext.C
    a, b = np.zeros(4, np.float32), np.zeros(4, np.float32)
    c, d = np.zeros(4, np.float32), np.zeros(4, np.float32)
    rows = np.zeros((1, 7))
    with pytest.raises(ValueError, match="share memory"):
        C.adam_step([a], [b], [a], [d], rows)
    with pytest.raises(TypeError, match="one dtype"):
        C.adam_step([a], [b.astype(np.float64)], [c], [d], rows)
    with pytest.raises(ValueError, match="shape"):
        C.adam_step([a], [np.zeros(5, np.float32)], [c], [d], rows)
    with pytest.raises(ValueError, match=r"coefs must have shape \[1, 7\]"):
        C.adam_step([a], [b], [c], [d], np.zeros((1, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        C.sgd_step([np.zeros((4, 4), np.float32)[:, 0]], [b], [c], np.zeros((1, 5)))
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="not writeable"):
        C.adam_step([ro], [b], [c], [d], rows)
    # The same gradient array for two tensors is fine (only read).
    C.sgd_step([a, c], [b, b], [d, np.zeros(4, np.float32)], np.zeros((2, 5)))


@pytest.mark.skipif(not kopt.available("native"),
                    reason="the native extension is not built")
def test_gpu_path_chunking_on_the_cpu(monkeypatch, rng):
    """The GPU path of the native backend (numpy_code nodes of two tensors,
    updating their inputs in place) cannot run here; its plumbing can: the
    same nodes with a body that calls the CPU kernel on the numpy views
    numpy_code hands over on the CPU must give the eager call's result."""
    shapes = [(5, 3), (4,), (7,), (2, 2, 2), (9,)]  # an odd count: a last node of one

    def state():
        r = np.random.default_rng(1)
        return [[_var(r.standard_normal(s).astype(np.float32)) for s in shapes]
                for _ in range(4)]

    rows = np.array([(0.9, 0.1, 0.999, 0.001, 1e-8, 0.01, 1e-3)] * len(shapes))
    calls = []

    def cpu_body(fn, k, m, rows_, dtype):
        def body(np_, data):
            arrays = data["inputs"][: m * k]
            calls.append(m)
            _ext.C.adam_step(*[list(arrays[j::k]) for j in range(k)], rows_)

        return body

    monkeypatch.setattr(kopt, "_cuda_body", cpu_body)
    monkeypatch.setattr(kopt._ext, "C_CUDA", _ext.C)
    p, g, m, v = state()
    deps = [(p[0] * 2).sum(), (p[1] * 3).sum()]  # two pending losses: one input
    kopt._native_cuda("adam_step", [p, g, m, v], rows, deps)
    assert calls == [2, 2, 1]
    p2, g2, m2, v2 = state()
    kopt._native_adam(p2, g2, m2, v2, rows, ())
    for a, b in zip(p + m + v, p2 + m2 + v2, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
