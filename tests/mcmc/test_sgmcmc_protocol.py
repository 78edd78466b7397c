"""The SGMCMC protocol: upstream's sample()/resample/step contract, module
paths, argument validation, errors, run(), checkpoints and memory.

Statistical checks (the prior draws of resample=True) use 5 standard errors:
two-sided false-positive rate about 6e-7 per check.
"""

import subprocess
import sys

import numpy as np
import pytest

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

from _linear_regression import SW, D, LinearRegression, observed, regression_data

SAMPLERS = {
    "SGLD": lambda: zs.mcmc.SGLD(1e-3),
    "PSGLD": lambda: zs.mcmc.PSGLD(1e-3),
    "SGHMC": lambda: zs.mcmc.SGHMC(1e-4),
    "SGNHT": lambda: zs.mcmc.SGNHT(1e-4, variance_extra=0.1),
}
N_CHAINS = 64


class TwoLatents(zs.BayesianNet):
    """Linear regression with a latent intercept b besides the weights w."""

    def __init__(self, n_chains=N_CHAINS):
        super().__init__()
        self.n_chains = n_chains

    def execute(self, observed):
        self.observe(observed)
        w = self.sn("Normal", name="w", mean=jt.zeros([self.n_chains, D]), std=SW,
                    group_ndims=1)
        b = self.sn("Normal", name="b", mean=jt.zeros([self.n_chains, 1]), std=2.0,
                    group_ndims=1)
        x = self.observed["x"]
        self.sn("Normal", name="y", mean=(w.unsqueeze(1) * x).sum(-1) + b, std=1.0,
                group_ndims=1)
        return self


@pytest.fixture
def data():
    x, y = regression_data()
    return TwoLatents(), observed(x, y, N_CHAINS)


# -- module paths (upstream's programs do ``from zhusuan.mcmc.SGLD import SGLD``) ---
def test_upstream_module_paths():
    from zhusuan.mcmc.SGLD import SGLD
    from zhusuan.mcmc.SGMCMC import SGMCMC

    assert zs.mcmc.SGLD is SGLD and isinstance(SGLD, type)
    assert zs.mcmc.SGMCMC is SGMCMC and isinstance(SGMCMC, type)
    for cls in (zs.mcmc.SGLD, zs.mcmc.PSGLD, zs.mcmc.SGHMC, zs.mcmc.SGNHT):
        assert issubclass(cls, SGMCMC) and issubclass(cls, jt.Module)
    assert set(zs.mcmc.__all__) == {"SGMCMC", "SGLD", "PSGLD", "SGHMC", "SGNHT", "HMC",
                                    "HMCInfo", "NUTS"}
    assert "mcmc" in zs.__all__


def test_upstream_import_first_in_a_fresh_interpreter():
    # The submodule imported before anything else of zhusuan: the package
    # attribute must still be the class afterwards.
    code = ("from zhusuan.mcmc.SGLD import SGLD\n"
            "from zhusuan.mcmc.SGMCMC import SGMCMC\n"
            "import zhusuan as zs\n"
            "assert zs.mcmc.SGLD is SGLD and zs.mcmc.SGMCMC is SGMCMC\n"
            "assert isinstance(zs.mcmc.SGLD, type)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# -- sample(): resample, step, dict keys --------------------------------------------
def test_resample_returns_prior_draws(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    draws = sampler.sample(net, obs, resample=True)
    assert set(draws) == {"w", "b"}  # every node not observed, nothing else
    assert list(draws["w"].shape) == [N_CHAINS, D]
    assert list(draws["b"].shape) == [N_CHAINS, 1]
    assert sampler.t == 0
    # Prior draws: w ~ N(0, SW^2), b ~ N(0, 4); 5 standard errors of the
    # sample mean and of the sample variance (sd of s^2 is sigma^2 sqrt(2/n)).
    for name, sd in (("w", SW), ("b", 2.0)):
        v = draws[name].numpy().ravel()
        n = v.size
        assert abs(v.mean()) < 5 * sd / np.sqrt(n)
        assert abs(v.var() - sd**2) < 5 * sd**2 * np.sqrt(2 / n)
    # A second resample draws afresh.
    again = sampler.sample(net, obs, resample=True)
    assert not np.allclose(again["w"].numpy(), draws["w"].numpy())


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_step_k_is_k_updates(data, name):
    net, obs = data
    a, b = SAMPLERS[name](), SAMPLERS[name]()
    jt.set_global_seed(3)
    a.sample(net, obs, resample=True)
    b.load_state_dict({k: v.numpy() for k, v in a.state_dict().items()})
    jt.set_global_seed(4)
    out_a = a.sample(net, obs, step=3)
    jt.set_global_seed(4)
    for _ in range(3):
        out_b = b.sample(net, obs)
    assert a.t == b.t == 3
    assert set(out_a) == set(out_b) == {"w", "b"}
    for k in out_a:
        np.testing.assert_array_equal(out_a[k].numpy(), out_b[k].numpy())
        assert np.all(np.isfinite(out_a[k].numpy()))
    # step=0 returns the current state unchanged.
    same = a.sample(net, obs, step=0)
    assert a.t == 3
    np.testing.assert_array_equal(same["w"].numpy(), out_a["w"].numpy())


def test_sample_without_resample_initialises_first(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    assert sampler.latents is None
    out = sampler.sample(net, obs, step=2)  # upstream would crash here
    assert sampler.t == 2 and set(out) == {"w", "b"}


def test_call_is_sample_and_initialize_resets_t(data):
    net, obs = data
    sampler = zs.mcmc.SGHMC(1e-4)
    first = sampler(net, obs, resample=True)  # a Module's call is execute()
    assert set(first) == {"w", "b"}
    sampler(net, obs, step=4)
    assert sampler.t == 4
    w = sampler.latents["w"].numpy()
    sampler.initialize()
    assert sampler.t == 0
    np.testing.assert_array_equal(sampler.latents["w"].numpy(), w)  # state kept


def test_samples_are_detached_and_the_state_is_not_a_parameter(data):
    net, obs = data
    sampler = zs.mcmc.SGHMC(1e-4)
    sampler.sample(net, obs, resample=True)
    out = sampler.sample(net, obs)
    assert sampler.parameters() == []
    # Differentiating something of a returned sample reaches no sampler state.
    g = jt.grad((out["w"] * out["w"]).sum(), out["w"])
    np.testing.assert_allclose(g.numpy(), 2 * out["w"].numpy(), rtol=1e-6)


def test_sampling_inside_no_grad_still_follows_the_gradient(data):
    net, obs = data
    a = zs.mcmc.SGLD(1e-3)
    a.sample(net, obs, resample=True)
    saved = {k: v.numpy() for k, v in a.state_dict().items()}
    jt.set_global_seed(2)
    want = a.sample(net, obs)["w"].numpy()
    b = zs.mcmc.SGLD(1e-3).load_state_dict(saved)
    with jt.no_grad():  # e.g. an evaluation loop around the sampler
        jt.set_global_seed(2)
        got = b.sample(net, obs)["w"].numpy()
    np.testing.assert_array_equal(got, want)


def test_learning_rate_schedule_gets_the_update_index(data):
    net, obs = data
    seen = []

    def schedule(t):
        seen.append(t)
        return 1e-3 / (1 + t)

    sampler = zs.mcmc.SGLD(schedule)
    sampler.sample(net, obs, resample=True)
    sampler.sample(net, obs, step=3)
    assert seen[-3:] == [0, 1, 2]


# -- argument validation ------------------------------------------------------------
BAD_ARGS = [
    (zs.mcmc.SGLD, dict(learning_rate=0.0), "learning_rate must be > 0"),
    (zs.mcmc.SGLD, dict(learning_rate=-1e-3), "learning_rate must be > 0"),
    (zs.mcmc.SGLD, dict(learning_rate=float("nan")), "learning_rate must be a finite"),
    (zs.mcmc.SGLD, dict(learning_rate="1e-3"), "learning_rate must be a finite"),
    (zs.mcmc.SGLD, dict(learning_rate=None), "learning_rate must be a positive"),
    (zs.mcmc.PSGLD, dict(learning_rate=1e-3, decay=1.0), "decay must be < 1"),
    (zs.mcmc.PSGLD, dict(learning_rate=1e-3, decay=-0.1), "decay must be >= 0"),
    (zs.mcmc.PSGLD, dict(learning_rate=1e-3, epsilon=0.0), "epsilon must be > 0"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, friction=0.0), "friction must be > 0"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, friction=1.5), "friction must be <= 1"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, variance_estimate=-0.1),
     "variance_estimate must be >= 0"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, friction=0.2, variance_estimate=0.2),
     "variance_estimate must be smaller than friction"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, n_iter_resample_v=-1),
     "n_iter_resample_v must be None or an integer >= 0"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, n_iter_resample_v=2.5),
     "n_iter_resample_v must be None or an integer >= 0"),
    (zs.mcmc.SGHMC, dict(learning_rate=1e-3, second_order="yes"),
     "second_order must be True or False"),
    (zs.mcmc.SGNHT, dict(learning_rate=1e-3, variance_extra=-1.0),
     "variance_extra must be >= 0"),
    (zs.mcmc.SGNHT, dict(learning_rate=1e-3, tune_rate=0.0), "tune_rate must be > 0"),
    (zs.mcmc.SGNHT, dict(learning_rate=1e-3, use_vector_alpha=1),
     "use_vector_alpha must be True or False"),
]


@pytest.mark.parametrize("cls,kwargs,match", BAD_ARGS,
                         ids=[f"{c.__name__}-{m.split()[0]}" for c, _, m in BAD_ARGS])
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(**kwargs)


def test_bad_call_arguments(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    with pytest.raises(TypeError, match="observed must be a dict"):
        sampler.sample(net, [obs["x"]])
    sampler.sample(net, obs, resample=True)
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        sampler.sample(net, obs, step=-1)
    with pytest.raises(ValueError, match="thin must be an integer >= 1"):
        sampler.run(net, obs, 10, thin=0)
    with pytest.raises(ValueError, match=r"learning_rate\(0\) returned -1.0"):
        zs.mcmc.SGLD(lambda t: -1.0).sample(net, obs, resample=True)
    late = zs.mcmc.SGLD(lambda t: 1e-3 if t < 2 else float("nan"))
    late.sample(net, obs, resample=True)
    with pytest.raises(ValueError, match=r"learning_rate\(2\) returned nan"):
        late.sample(net, obs, step=3)
    assert late.t == 2


# -- errors during sampling ---------------------------------------------------------
def test_latent_missing_from_a_later_call_is_named(data):
    _, obs = data

    class Flaky(TwoLatents):
        calls = 0

        def execute(self, observed):
            super().execute(observed)
            Flaky.calls += 1
            if Flaky.calls == 1:
                self.sn("Normal", name="extra", mean=jt.zeros([3]), std=1.0)
            return self

    sampler = zs.mcmc.SGLD(1e-3)
    sampler.sample(Flaky(), obs, resample=True)
    # The net itself may refuse an observed name that no node reads (the
    # framework's check); otherwise the sampler does. Either names the latent.
    with pytest.raises(ValueError, match="'extra'"):
        sampler.sample(Flaky(), obs)


def test_non_finite_gradient_is_named_and_the_state_kept(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    sampler.sample(net, obs, resample=True)
    state = {k: v.numpy() for k, v in sampler.state_dict().items()}
    state["latent:b"] = np.full_like(state["latent:b"], np.inf)
    sampler.load_state_dict(state)
    with pytest.raises(FloatingPointError,
                       match="gradient .* latents? .*'b'.* at update t=0"):
        sampler.sample(net, obs)
    assert sampler.t == 0
    assert np.all(np.isinf(sampler.latents["b"].numpy()))  # unchanged


def test_divergence_is_caught(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e30)  # float32 overflows in the first update
    sampler.sample(net, obs, resample=True)
    before = sampler.latents["w"].numpy()
    with pytest.raises(FloatingPointError, match="non-finite .* latents? '(w|b)'"):
        sampler.sample(net, obs, step=5)
    assert np.all(np.isfinite(sampler.latents["w"].numpy()))
    if sampler.t == 0:
        np.testing.assert_array_equal(sampler.latents["w"].numpy(), before)


def test_latent_observed_later_is_refused(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    sampler.sample(net, obs, resample=True)
    with pytest.raises(ValueError, match=r"\['b'\] are latents of this chain"):
        sampler.sample(net, {**obs, "b": jt.zeros([N_CHAINS, 1])})


def test_nothing_to_sample(data):
    net, obs = data
    everything = {**obs, "w": jt.zeros([N_CHAINS, D]), "b": jt.zeros([N_CHAINS, 1])}
    with pytest.raises(ValueError, match="every node of TwoLatents is observed"):
        zs.mcmc.SGLD(1e-3).sample(net, everything, resample=True)


# -- run(), checkpoints, memory -----------------------------------------------------
def test_run_burn_in_and_thin(data):
    net, obs = data
    sampler = zs.mcmc.SGLD(1e-3)
    out = sampler.run(net, obs, n_steps=10, burn_in=3, thin=2, progress=True)
    assert sampler.t == 10  # initialised on the way, then 10 updates
    assert out["w"].shape == (len(range(3, 10, 2)), N_CHAINS, D)
    assert out["b"].shape == (4, N_CHAINS, 1)
    np.testing.assert_array_equal(out["w"][-1], sampler.latents["w"].numpy())
    assert isinstance(out["w"], np.ndarray)
    empty = sampler.run(net, obs, n_steps=2, burn_in=5, progress=False)
    assert empty["w"].shape == (0, N_CHAINS, D)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_state_dict_round_trip_reproduces_the_chain(data, name):
    net, obs = data
    a = SAMPLERS[name]()
    a.sample(net, obs, resample=True)
    a.sample(net, obs, step=25)  # past SGHMC's first momentum redraw at t = 20
    saved = {k: v.numpy() for k, v in a.state_dict().items()}
    jt.set_global_seed(11)
    want = a.sample(net, obs, step=5)["w"].numpy()
    b = SAMPLERS[name]().load_state_dict(saved)
    assert b.t == 25
    jt.set_global_seed(11)
    got = b.sample(net, obs, step=5)["w"].numpy()
    np.testing.assert_array_equal(got, want)


def test_load_state_dict_checks_the_auxiliary_variables():
    w = np.zeros((2, D), "float32")
    with pytest.raises(KeyError, match=r"no \['aux:v:w'\]: SGHMC keeps \['v'\]"):
        zs.mcmc.SGHMC(1e-4).load_state_dict({"latent:w": w, "t": 0})
    with pytest.raises(KeyError, match=r"no \['aux:alpha:w'\]"):
        zs.mcmc.SGNHT(1e-4).load_state_dict({"latent:w": w, "aux:v:w": w, "t": 0})
    with pytest.raises(KeyError, match="needs 't'"):
        zs.mcmc.SGLD(1e-4).load_state_dict({"latent:w": w})
    with pytest.raises(KeyError, match=r"auxiliary variables of \['b'\]"):
        zs.mcmc.PSGLD(1e-4).load_state_dict({"latent:w": w, "aux:v:w": w,
                                             "aux:v:b": w, "t": 0})


def test_no_graph_or_memory_growth():
    x, y = regression_data()
    net, obs = LinearRegression(8), observed(x, y, 8)
    sampler = zs.mcmc.SGHMC(1e-4)
    sampler.sample(net, obs, resample=True)
    sampler.sample(net, obs, step=200)
    before = jt.liveness_info()
    sampler.sample(net, obs, step=2000)
    after = jt.liveness_info()
    assert after["lived_vars"] <= before["lived_vars"], (before, after)
    assert after["lived_ops"] <= before["lived_ops"], (before, after)


def test_the_base_class_docstring_example_runs():
    # The toy sampler of SGMCMC's docstring: posterior N(0.5, 0.5). With 100
    # chains, 200 kept updates and an autocorrelation time near 20, the mean's
    # standard error is about 0.02; step-size bias (lr = 0.1, precision 2)
    # inflates the variance by 1 / (1 - 0.05), about 5%.
    doc = zs.mcmc.SGMCMC.__doc__
    block = doc.split("conjugate Normal model::", 1)[1].split("\n\n    :meth:")[0]
    code = "\n".join(line[8:] for line in block.splitlines())
    namespace = {}
    exec(compile(code, "SGMCMC docstring", "exec"), namespace)
    draws = namespace["draws"]
    assert draws.shape == (200, 100)
    assert abs(draws.mean() - 0.5) < 0.1
    assert abs(draws.var() - 0.5 / 0.95) < 0.1
