"""The HMC/NUTS protocol: ZhuSuan-TF's sample(bn, observed, latent) adapted
to BayesianNet, the log joint's shape contract and its errors, run() from
the net's own draws, log-joint functions with several chain axes, HMCInfo,
checkpoints and reproducibility. No sampling statistics here."""

import numpy as np
import pytest
from _linear_regression import D, LinearRegression, observed, regression_data

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

C = 8


@pytest.fixture
def data():
    x, y = regression_data()
    return LinearRegression(n_chains=C), observed(x, y, C)


def test_sample_returns_new_state_and_info(data):
    net, obs = data
    hmc = zs.mcmc.HMC(step_size=0.05, n_leapfrogs=3)
    w = {"w": jt.zeros([C, D])}
    new, info = hmc.sample(net, obs, w)
    assert set(new) == {"w"} and list(new["w"].shape) == [C, D]
    assert new["w"] is info.samples["w"]
    for k in ("acceptance_rate", "step_size", "updated_step_size", "orig_hamiltonian",
              "hamiltonian", "orig_log_prob", "log_prob", "accepted", "diverging",
              "n_divergences", "n_steps", "energy"):
        assert np.shape(getattr(info, k)) == (C,), k
    assert info.init_momentum["w"].shape == (C, D)
    assert info.tree_depth is None and info.warmup is False
    # log_prob is the log joint at the returned state (recomputed independently).
    net(dict(obs, w=new["w"]))
    np.testing.assert_allclose(info.log_prob, net.log_joint().numpy(), rtol=1e-5)
    assert np.all((info.acceptance_rate >= 0) & (info.acceptance_rate <= 1))
    # Hamiltonian at the start: -log p + p^T p / 2 (unit mass).
    p0 = info.init_momentum["w"].astype(np.float64)
    np.testing.assert_allclose(info.orig_hamiltonian,
                               -info.orig_log_prob + 0.5 * (p0 ** 2).sum(1), rtol=1e-6)


def test_log_joint_shape_contract(data):
    _, obs = data

    class PriorOnly(zs.BayesianNet):  # the prior's D axis is left in the log joint
        def execute(self, observed):
            self.observe(observed)
            self.sn("Normal", name="w", mean=jt.zeros([C, D]), std=1.0)
            return self

    class NoGroup(zs.BayesianNet):  # [C, D] and [C] log-densities do not add up
        def execute(self, observed):
            self.observe(observed)
            w = self.sn("Normal", name="w", mean=jt.zeros([C, D]), std=1.0)
            mean = (w.unsqueeze(1) * self.observed["x"]).sum(-1)
            self.sn("Normal", name="y", mean=mean, std=1.0, group_ndims=1)
            return self

    class MeanOverChains(zs.BayesianNet):  # reduces the chain axis away
        def execute(self, observed):
            self.observe(observed)
            w = self.sn("Normal", name="w", mean=jt.zeros([C, D]), std=1.0,
                        group_ndims=1, reduce_mean_dims=[0])
            mean = (w.unsqueeze(1) * self.observed["x"]).sum(-1)
            self.sn("Normal", name="y", mean=mean, std=1.0, group_ndims=1,
                    reduce_mean_dims=[0])
            return self

    hmc = zs.mcmc.HMC(step_size=0.05, n_leapfrogs=2)
    with pytest.raises(ValueError, match=r"shape \[8, 3\].*it must have one value per "
                                         r"chain"):
        hmc.sample(PriorOnly(), {}, {"w": jt.zeros([C, D])})
    with pytest.raises(ValueError,
                       match=r"'w' \[8, 3\], 'y' \[8\]\); it must have one"):
        hmc.sample(NoGroup(), obs, {"w": jt.zeros([C, D])})
    with pytest.raises(ValueError, match="never reduce over the chain axis"):
        hmc.sample(MeanOverChains(), obs, {"w": jt.zeros([C, D])})
    net = LinearRegression(n_chains=C)
    # A node that is neither latent nor observed would be redrawn every step.
    with pytest.raises(ValueError, match=r"node\(s\) \['w'\].*neither latent nor"):
        zs.mcmc.HMC().sample(_TwoLatents(), obs, {"b": jt.zeros([C, 1])})
    with pytest.raises(TypeError, match="non-empty dict"):
        hmc.sample(net, obs, {})
    with pytest.raises(ValueError, match="both latent and observed"):
        hmc.sample(net, dict(obs, w=jt.zeros([C, D])), {"w": jt.zeros([C, D])})
    with pytest.raises(FloatingPointError, match="not finite"):
        hmc.sample(net, obs, {"w": jt.full([C, D], float("nan"))})


class _TwoLatents(zs.BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        w = self.sn("Normal", name="w", mean=jt.zeros([C, D]), std=1.0, group_ndims=1)
        b = self.sn("Normal", name="b", mean=jt.zeros([C, 1]), std=1.0, group_ndims=1)
        mean = (w.unsqueeze(1) * self.observed["x"]).sum(-1) + b
        self.sn("Normal", name="y", mean=mean, std=1.0, group_ndims=1)
        return self


def test_chain_counts_must_agree(data):
    _, obs = data
    hmc = zs.mcmc.HMC(step_size=0.05, n_leapfrogs=2)
    with pytest.raises(ValueError, match="do not all have 8 chains"):
        # (b broadcasts in the net, but has 1 chain, not 8)
        hmc.sample(_TwoLatents(), obs, {"w": jt.zeros([C, D]), "b": jt.zeros([1, 1])})


def test_run_from_the_nets_draws_and_continue(data):
    net, obs = data
    nuts = zs.mcmc.NUTS(max_tree_depth=4)
    draws = nuts.run(_TwoLatents(), obs, n_warmup=30, n_samples=7, thin=2,
                     progress=False)
    assert set(draws) == {"w", "b"}
    assert draws["w"].shape == (7, C, D) and draws["b"].shape == (7, C, 1)
    assert nuts.warmup_stats["acceptance_rate"].shape == (30, C)
    assert nuts.stats["tree_depth"].shape == (14, C)  # thin=2: 14 iterations
    # The sampling-phase step size is the averaged one, fixed.
    assert np.all(nuts.stats["step_size"] == nuts.current_step_size)
    # A second run continues from the current state without warm-up.
    last = nuts.latents["w"].numpy()
    more = nuts.run(_TwoLatents(), obs, n_warmup=0, n_samples=3, progress=False)
    assert more["w"].shape == (3, C, D)
    assert last.shape == (C, D) and nuts.warmup_stats == {}


def test_log_joint_function_with_two_chain_axes():
    # ZhuSuan-TF's function form: the log joint's shape [3, 5] is the chain
    # shape; each of the 15 chains samples N(mu, 1) independently.
    mu = jt.array(np.arange(15, dtype=np.float32).reshape(3, 5, 1))

    def log_joint(values):
        return -0.5 * ((values["z"] - mu) ** 2).sum(-1)

    hmc = zs.mcmc.HMC(step_size=0.5, n_leapfrogs=4, adapt_step_size=True, n_warmup=20)
    z = {"z": jt.zeros([3, 5, 2])}
    for _ in range(40):
        z, info = hmc.sample(log_joint, {}, z)
    assert list(z["z"].shape) == [3, 5, 2] and info.acceptance_rate.shape == (15,)
    assert hmc.n_chains == 15 and hmc.current_step_size.shape == (15,)
    # Every chain has moved towards its own mean.
    err = np.abs(z["z"].numpy() - mu.numpy()).max()
    assert err < 4.0, err


def test_single_chain_without_a_chain_axis():
    class One(zs.BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn("Normal", name="w", mean=jt.zeros([D]), std=1.0, group_ndims=1)
            return self

    hmc = zs.mcmc.HMC(step_size=0.3, n_leapfrogs=5)
    w, info = hmc.sample(One(), {}, {"w": jt.zeros([D])})
    assert list(w["w"].shape) == [D] and info.acceptance_rate.shape == (1,)


def test_state_dict_resumes_exactly(data):
    net, obs = data
    a = zs.mcmc.NUTS(max_tree_depth=4, n_warmup=40)
    w = {"w": jt.zeros([C, D])}
    for _ in range(25):  # stop in the middle of the warm-up
        w, _ = a.sample(net, obs, w)
    state = a.state_dict()
    b = zs.mcmc.NUTS(max_tree_depth=4, n_warmup=40).load_state_dict(state)
    wa, wb = w, b.latents
    for _ in range(20):
        wa, ia = a.sample(net, obs, wa)
        wb, ib = b.sample(net, obs, wb)
        np.testing.assert_array_equal(wa["w"].numpy(), wb["w"].numpy())
        np.testing.assert_array_equal(ia.step_size, ib.step_size)
    np.testing.assert_array_equal(a.inverse_mass, b.inverse_mass)
    # Through pickle, as the examples' checkpoints store it.
    import pickle

    c = zs.mcmc.NUTS().load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
    assert c.latent_names == ["w"]


def test_reproducible_under_jt_seed(data):
    net, obs = data
    out = []
    for _ in range(2):
        jt.set_global_seed(7)
        hmc = zs.mcmc.HMC(step_size=0.05, n_leapfrogs=3, adapt_step_size=True,
                          n_warmup=5)
        w = {"w": jt.zeros([C, D])}
        for _ in range(8):
            w, _ = hmc.sample(net, obs, w)
        out.append(w["w"].numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_argument_validation():
    with pytest.raises(ValueError, match="adapt_mass needs adapt_step_size"):
        zs.mcmc.HMC(adapt_mass=True)
    with pytest.raises(ValueError, match="step_size"):
        zs.mcmc.HMC(step_size=0.0)
    with pytest.raises(ValueError, match="n_leapfrogs"):
        zs.mcmc.HMC(n_leapfrogs=0)
    with pytest.raises(ValueError, match="target_acceptance_rate"):
        zs.mcmc.NUTS(target_acceptance_rate=1.0)
    with pytest.raises(ValueError, match="max_tree_depth"):
        zs.mcmc.NUTS(max_tree_depth=0)
    with pytest.raises(TypeError, match="adapt_step_size"):
        zs.mcmc.HMC(adapt_step_size="yes")
