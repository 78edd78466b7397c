"""One update of each sampler against a hand computation, in float64.

The state is set with load_state_dict, the gradient of the log joint is the
closed form of the linear regression (not zhusuan's), and the update is the
formula of the sampler's docstring written out in numpy. SGLD's noise comes
from Jittor's seeded generator (re-seeded to draw it again); the other
samplers' noise is replaced by recorded numpy draws, so the order in which a
sampler draws (momentum redraw first, then the injected noise) is part of
what is checked.

Tolerance: float64 round-off of a few dozen operations (the log-density and
its gradient come from fused kernels that accumulate in float64).
"""

import numpy as np
import pytest

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on
from zhusuan.mcmc import sg_hamiltonian, sg_langevin

from _linear_regression import SW, D, LinearRegression, S, observed, regression_data

RTOL = 1e-10
ATOL = 1e-12
CHAINS = 2


@pytest.fixture
def problem(float64):
    x, y = regression_data()
    y = np.stack([y, y[::-1]])  # two chains with different data
    return x, y, LinearRegression(CHAINS, "float64"), observed(x, y, CHAINS, "float64")


def grad_log_joint(w, x, y):
    """d/dw [log N(w; 0, SW^2) + sum_i log N(y_i; x_i^T w, S^2)], per chain."""
    return -w / SW**2 + (y - w @ x.T) @ x / S**2


class RecordedNoise:
    """Stands in for a module's ``_randn``: standard normal numpy draws,
    recorded in the order the sampler asks for them."""

    def __init__(self, rng):
        self.rng = rng
        self.draws = []

    def __call__(self, shape, dtype):
        assert dtype == "float64"
        draw = self.rng.normal(size=tuple(shape))
        self.draws.append(draw)
        return zs.numerics.as_var(draw)


def state_of(sampler):
    return {k: v.numpy() for k, v in sampler.state_dict().items()}


def test_sgld_one_step_with_seeded_noise(problem, rng, seed):
    x, y, net, obs = problem
    lr = 0.01
    w0 = rng.normal(size=(CHAINS, D))
    sampler = zs.mcmc.SGLD(lr).load_state_dict({"latent:w": w0, "t": 0})
    jt.set_global_seed(seed + 1)
    w1 = sampler.sample(net, obs)["w"].numpy()
    jt.set_global_seed(seed + 1)
    xi = jt.ops.random((CHAINS, D), "float64", "normal").numpy()
    want = w0 + 0.5 * lr * grad_log_joint(w0, x, y) + np.sqrt(lr) * xi
    assert w1.dtype == np.float64
    np.testing.assert_allclose(w1, want, rtol=RTOL, atol=ATOL)
    assert sampler.t == 1


def test_psgld_one_step(problem, rng, monkeypatch):
    x, y, net, obs = problem
    lr, decay, eps = 0.01, 0.9, 1e-3
    noise = RecordedNoise(rng)
    monkeypatch.setattr(sg_langevin, "_randn", noise)
    w0 = rng.normal(size=(CHAINS, D))
    v0 = rng.uniform(0.5, 2.0, size=(CHAINS, D))
    sampler = zs.mcmc.PSGLD(lr, decay=decay, epsilon=eps)
    sampler.load_state_dict({"latent:w": w0, "aux:v:w": v0, "t": 7})
    w1 = sampler.sample(net, obs)["w"].numpy()
    g = grad_log_joint(w0, x, y)
    v1 = decay * v0 + (1 - decay) * g * g
    precond = 1 / (eps + np.sqrt(v1))
    (xi,) = noise.draws
    np.testing.assert_allclose(w1, w0 + 0.5 * lr * precond * g
                               + np.sqrt(lr * precond) * xi, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state_of(sampler)["aux:v:w"], v1, rtol=RTOL)


@pytest.mark.parametrize("second_order", [True, False], ids=["2nd", "1st"])
@pytest.mark.parametrize("redraw", [True, False], ids=["redraw_v", "keep_v"])
def test_sghmc_one_step(problem, rng, monkeypatch, second_order, redraw):
    x, y, net, obs = problem
    lr, alpha, beta, period = 0.01, 0.3, 0.1, 3
    noise = RecordedNoise(rng)
    monkeypatch.setattr(sg_hamiltonian, "_randn", noise)
    w0 = rng.normal(size=(CHAINS, D))
    v0 = 0.1 * rng.normal(size=(CHAINS, D))
    sampler = zs.mcmc.SGHMC(lr, friction=alpha, variance_estimate=beta,
                            n_iter_resample_v=period, second_order=second_order)
    # The momentum is redrawn at the start of updates t = 0, 3, 6, ...
    t = 6 if redraw else 7
    sampler.load_state_dict({"latent:w": w0, "aux:v:w": v0, "t": t})
    w1 = sampler.sample(net, obs)["w"].numpy()
    if redraw:
        fresh, xi = noise.draws
        v_old = np.sqrt(lr) * fresh
    else:
        (xi,) = noise.draws
        v_old = v0
    n = np.sqrt(2 * (alpha - beta) * lr) * xi
    if second_order:
        w_half = w0 + v_old / 2
        e = np.exp(-alpha / 2)
        v1 = e * (e * v_old + lr * grad_log_joint(w_half, x, y) + n)
        want = w_half + v1 / 2
    else:
        v1 = (1 - alpha) * v_old + lr * grad_log_joint(w0, x, y) + n
        want = w0 + v1
    np.testing.assert_allclose(w1, want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state_of(sampler)["aux:v:w"], v1, rtol=RTOL, atol=ATOL)
    assert sampler.t == t + 1


@pytest.mark.parametrize("second_order", [True, False], ids=["2nd", "1st"])
@pytest.mark.parametrize("vector", [True, False], ids=["vector_alpha", "scalar_alpha"])
def test_sgnht_one_step(problem, rng, monkeypatch, second_order, vector):
    x, y, net, obs = problem
    lr, a, rate = 0.01, 0.2, 0.7
    noise = RecordedNoise(rng)
    monkeypatch.setattr(sg_hamiltonian, "_randn", noise)
    w0 = rng.normal(size=(CHAINS, D))
    v0 = 0.1 * rng.normal(size=(CHAINS, D))
    alpha0 = rng.uniform(0.1, 0.3, size=(CHAINS, D) if vector else (1,))
    sampler = zs.mcmc.SGNHT(lr, variance_extra=a, tune_rate=rate,
                            second_order=second_order, use_vector_alpha=vector)
    sampler.load_state_dict({"latent:w": w0, "aux:v:w": v0, "aux:alpha:w": alpha0,
                             "t": 5})
    w1 = sampler.sample(net, obs)["w"].numpy()

    def kinetic(v):
        return v * v if vector else np.mean(v * v, keepdims=True).reshape(1)

    (xi,) = noise.draws  # n_iter_resample_v=None: no momentum redraw
    n = np.sqrt(2 * a * lr) * xi
    if second_order:
        w_half = w0 + v0 / 2
        alpha_half = alpha0 + rate / 2 * (kinetic(v0) - lr)
        e = np.exp(-alpha_half / 2)
        v1 = e * (e * v0 + lr * grad_log_joint(w_half, x, y) + n)
        want = w_half + v1 / 2
        alpha1 = alpha_half + rate / 2 * (kinetic(v1) - lr)
    else:
        v1 = (1 - alpha0) * v0 + lr * grad_log_joint(w0, x, y) + n
        want = w0 + v1
        alpha1 = alpha0 + rate * (kinetic(v1) - lr)
    state = state_of(sampler)
    np.testing.assert_allclose(w1, want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state["aux:v:w"], v1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state["aux:alpha:w"], alpha1, rtol=RTOL, atol=ATOL)


def test_sgnht_without_extra_noise_draws_nothing(problem, rng, monkeypatch):
    # variance_extra=0 (ZhuSuan-TF's default): deterministic given the gradient.
    x, y, net, obs = problem
    noise = RecordedNoise(rng)
    monkeypatch.setattr(sg_hamiltonian, "_randn", noise)
    w0 = rng.normal(size=(CHAINS, D))
    sampler = zs.mcmc.SGNHT(0.01, second_order=False)
    sampler.load_state_dict({"latent:w": w0, "aux:v:w": np.zeros((CHAINS, D)),
                             "aux:alpha:w": np.zeros((CHAINS, D)), "t": 0})
    w1 = sampler.sample(net, obs)["w"].numpy()
    assert noise.draws == []
    np.testing.assert_allclose(w1, w0 + 0.01 * grad_log_joint(w0, x, y), rtol=RTOL)


def test_initial_auxiliary_variables(problem, rng, monkeypatch):
    # SGHMC/SGNHT: v ~ N(0, lr) at initialisation; SGNHT: alpha = a; PSGLD: V = 0.
    x, y, net, obs = problem
    noise = RecordedNoise(rng)
    monkeypatch.setattr(sg_hamiltonian, "_randn", noise)
    lr = 0.04
    hmc = zs.mcmc.SGHMC(lr)
    hmc.sample(net, obs, resample=True)
    np.testing.assert_allclose(state_of(hmc)["aux:v:w"], np.sqrt(lr) * noise.draws[-1])
    nht = zs.mcmc.SGNHT(lr, variance_extra=0.3, use_vector_alpha=False)
    nht.sample(net, obs, resample=True)
    state = state_of(nht)
    np.testing.assert_allclose(state["aux:v:w"], np.sqrt(lr) * noise.draws[-1])
    np.testing.assert_allclose(state["aux:alpha:w"], [0.3])
    psgld = zs.mcmc.PSGLD(lr)
    psgld.sample(net, obs, resample=True)
    np.testing.assert_array_equal(state_of(psgld)["aux:v:w"], np.zeros((CHAINS, D)))
    assert state_of(psgld)["aux:v:w"].dtype == np.float64
