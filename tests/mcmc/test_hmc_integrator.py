"""The leapfrog integrator and the adaptation machinery of zs.mcmc.HMC/NUTS,
against exact properties and hand-computed recursions (no sampling
statistics here).

* Reversibility: L steps forward, negate the momentum, L steps again: back
  to the start up to float64 rounding (the integrator is exactly reversible
  in exact arithmetic; the tolerance allows ~100 roundings of O(1) values).
* Energy conservation: for a fixed trajectory time T, the leapfrog energy
  error is O(step^2) (a second-order symplectic integrator); the log-log
  slope of the mean |Delta H| against the step, over a factor 8 of steps in
  the asymptotic regime, lies within 0.15 of 2.
* One graph per leapfrog step: an HMC iteration calls the net once and
  ``jt.sync`` once per leapfrog step, whatever the number of chains and
  latents.
* Stan's warm-up windows, dual averaging and Welford estimates against
  their definitions written out.
"""

import numpy as np
import pytest
from _gaussian import D, GaussianNet, dense_gaussian, exact_draws

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on
from zhusuan.mcmc.adaptation import DualAveraging, WarmupSchedule, WelfordCovariance
from zhusuan.mcmc.hmc import _Target, leapfrog

N_CHAINS = 16


def _setup(dtype, rng):
    mean, cov = dense_gaussian()
    net = GaussianNet(mean, cov, N_CHAINS, dtype)
    x0 = exact_draws(mean, cov, [N_CHAINS], rng).astype(dtype)
    target = _Target(net, {}, {"x": x0}, "test")
    z = zs.numerics.as_var(target.pack({"x": x0}))
    log_prob, grad = target.log_prob_grad(z)
    jt.sync([log_prob, grad])
    return target, z, log_prob.detach(), grad.detach()


def _trajectory(target, z, p, g, step, n, inv_mass):
    for _ in range(n):
        z, p, g, lp = leapfrog(target, z, p, g, np.full(N_CHAINS, step), inv_mass)
    return z, p, g, lp


def test_leapfrog_is_reversible_in_float64(float64, rng):
    target, z, _, g = _setup("float64", rng)
    p0 = rng.normal(size=(N_CHAINS, D))
    # A dense inverse mass matrix, so that the velocity path is exercised too.
    a = rng.normal(size=(D, D))
    inv_mass = zs.numerics.as_var(np.broadcast_to(a @ a.T / D + np.eye(D),
                                                  (N_CHAINS, D, D)).copy())
    z1, p1, g1, _ = _trajectory(target, z, zs.numerics.as_var(p0), g, 0.1, 25, inv_mass)
    assert np.abs(z1.numpy() - z.numpy()).max() > 0.1  # it did move
    z2, p2, _, _ = _trajectory(target, z1, -p1, g1, 0.1, 25, inv_mass)
    np.testing.assert_allclose(z2.numpy(), z.numpy(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(-p2.numpy(), p0, rtol=0, atol=1e-11)


def test_energy_error_is_second_order_in_the_step(float64, rng):
    target, z, lp0, g = _setup("float64", rng)
    p0 = rng.normal(size=(N_CHAINS, D))
    inv_mass = zs.numerics.as_var(np.ones((N_CHAINS, D)))
    h0 = -lp0.numpy() + 0.5 * (p0 ** 2).sum(1)
    steps = np.array([0.1, 0.05, 0.025, 0.0125])  # all below the stability limit 0.6
    errors = []
    for step in steps:
        n = int(round(1.0 / step))  # trajectory time 1
        _, p, _, lp = _trajectory(target, z, zs.numerics.as_var(p0), g, step, n,
                                  inv_mass)
        h = -lp.numpy() + 0.5 * (p.numpy() ** 2).sum(1)
        errors.append(np.abs(h - h0).mean())
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - 2.0) < 0.15, (slope, errors)


def test_one_net_call_and_one_sync_per_leapfrog_step(monkeypatch, rng):
    mean, cov = dense_gaussian()

    class Counted(GaussianNet):
        calls = 0

        def execute(self, observed):
            Counted.calls += 1
            return super().execute(observed)

    net = Counted(mean, cov, N_CHAINS)
    syncs = []
    real_sync = jt.sync
    monkeypatch.setattr(jt, "sync",
                        lambda *a, **k: (syncs.append(1), real_sync(*a, **k)))
    hmc = zs.mcmc.HMC(step_size=0.2, n_leapfrogs=7)
    x = {"x": exact_draws(mean, cov, [N_CHAINS], rng).astype("float32")}
    x, _ = hmc.sample(net, {}, x)  # first call: set-up evaluations
    for _ in range(3):
        Counted.calls, syncs[:] = 0, []
        x, info = hmc.sample(net, {}, x)  # the returned state: nothing to recompute
        assert Counted.calls == 7 and len(syncs) == 7
        assert np.all(info.n_steps == 7)
    # A state the sampler did not return is evaluated once first.
    Counted.calls, syncs[:] = 0, []
    hmc.sample(net, {}, {"x": jt.array(x["x"].numpy())})
    assert Counted.calls == 8 and len(syncs) == 8


# -- adaptation: definitions written out -----------------------------------------


def test_stan_windows():
    # Stan's default warm-up of 1000: buffers 75 and 50, windows 25, 50, 100,
    # 200 and the last stretched to 500.
    s = WarmupSchedule(1000)
    assert s.windows == [(75, 99), (100, 149), (150, 249), (250, 449), (450, 949)]
    assert not s.in_slow_window(74) and s.in_slow_window(75)
    assert s.in_slow_window(949) and not s.in_slow_window(950)
    assert [t for t in range(1000) if s.ends_slow_window(t)] == [99, 149, 249, 449, 949]
    assert s.in_warmup(999) and not s.in_warmup(1000)
    # Too short for the defaults: 15% / 75% / 10%.
    s = WarmupSchedule(100)
    assert (s.init_buffer, s.term_buffer) == (15, 10) and s.windows == [(15, 89)]
    # Stretching: a window whose successor would not fit absorbs it.
    s = WarmupSchedule(250)
    assert s.windows == [(75, 99), (100, 199)]
    # Below 20 iterations: step size only.
    assert WarmupSchedule(19).windows == []
    # Open-ended: doubling windows without end.
    s = WarmupSchedule(None)
    assert all(s.ends_slow_window(t) for t in (99, 149, 249))
    assert s.windows[:3] == [(75, 99), (100, 149), (150, 249)]


def test_dual_averaging_matches_hoffman_gelman_algorithm_5(rng):
    eps0 = np.array([0.5, 2.0, 0.01])
    da = DualAveraging(eps0, target=0.8, gamma=0.05, t0=10.0, kappa=0.75)
    accept = rng.uniform(size=(30, 3))
    mu = np.log(10 * eps0)
    h_bar, log_avg = np.zeros(3), np.zeros(3)
    for t in range(1, 31):
        a = accept[t - 1]
        h_bar = (1 - 1 / (t + 10)) * h_bar + (0.8 - a) / (t + 10)
        log_eps = mu - np.sqrt(t) / 0.05 * h_bar
        log_avg = t ** -0.75 * log_eps + (1 - t ** -0.75) * log_avg
        np.testing.assert_allclose(da.update(a), np.exp(log_eps), rtol=1e-12)
    np.testing.assert_allclose(da.final_step_size, np.exp(log_avg), rtol=1e-12)
    # A masked chain keeps its state; a restart re-centres mu.
    before = da.state()
    da.update(np.ones(3), mask=np.array([False, True, False]))
    after = da.state()
    for k in before:
        np.testing.assert_array_equal(after[k][[0, 2]], before[k][[0, 2]])
    assert after["t"][1] == 31
    da.restart(np.array([1.0, 1.0, 1.0]), mask=np.array([True, False, False]))
    assert da.t[0] == 0 and da.t[1] == 31 and da.mu[0] == np.log(10.0)


@pytest.mark.parametrize("dense", [False, True])
def test_welford_matches_the_regularised_sample_covariance(dense, rng):
    x = rng.normal(size=(40, 3, 4)) * np.array([1.0, 3.0, 0.2, 5.0])
    w = WelfordCovariance(3, 4, dense=dense)
    for row in x:
        w.update(row)
    n = 40
    for c in range(3):
        cov = np.cov(x[:, c].T, ddof=1)
        want = n / (n + 5) * cov + 1e-3 * 5 / (n + 5) * np.eye(4)
        got = w.covariance()[c]
        if not dense:
            want = np.diag(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(w.covariance(regularize=False)[c],
                                   cov if dense else np.diag(cov), rtol=1e-12)
