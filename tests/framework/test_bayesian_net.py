"""BayesianNet / StochasticTensor semantics against hand-computed values.

Oracle: scipy.stats log-densities reduced with numpy exactly as docs/design.md
says (group_ndims, then reduce_mean_dims, then reduce_sum_dims, then the
multiplier). float32 comparisons use rtol 1e-5 (a few float32 ulps on sums
of tens of terms); float64 ones 1e-10.
"""

import zhusuan as zs  # noqa: F401  (sets up Jittor)
from zhusuan import BayesianNet
from zhusuan.framework import particles

import jittor as jt
import numpy as np
import pytest
from scipy import stats


@pytest.fixture
def f64():
    old = jt.flags.auto_convert_64_to_32
    jt.flags.auto_convert_64_to_32 = 0
    yield
    jt.flags.auto_convert_64_to_32 = old


class OneNode(BayesianNet):
    """A net with one node whose options come from the test."""

    def __init__(self, dist="Normal", **kw):
        super().__init__()
        self.dist_name = dist
        self.kw = kw

    def execute(self, observed):
        self.observe(observed)
        self.sn(self.dist_name, name="v", **self.kw)
        return self


def _normal_oracle(x, mean, std):
    return stats.norm.logpdf(x, mean, std)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-10)])
@pytest.mark.parametrize(
    "opts,reduce_fn",
    [
        ({}, lambda a: a),
        ({"reduce_mean_dims": [0], "reduce_sum_dims": [1]}, lambda a: a.sum(1).mean(0)),
        ({"reduce_sum_dims": [1]}, lambda a: a.sum(1)),
        ({"reduce_mean_dims": [0]}, lambda a: a.mean(0)),
        ({"reduce_sum_dims": [-1], "multiplier": 2.5}, lambda a: 2.5 * a.sum(-1)),
        ({"group_ndims": 1}, lambda a: a.sum(-1)),
        ({"group_ndims": 1, "reduce_mean_dims": [0]}, lambda a: a.sum(-1).mean(0)),
        ({"reduce_mean_dims": [0, 1]}, lambda a: a.mean()),
    ],
)
def test_observed_reductions_match_hand_computed(f64, dtype, rtol, opts, reduce_fn):
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(6, 5)).astype(dtype)
    std = rng.uniform(0.5, 2.0, size=(5,)).astype(dtype)  # broadcast along batch
    x = rng.normal(size=(6, 5)).astype(dtype)
    net = OneNode(mean=mean, std=std, **opts)({"v": x})
    node = net.nodes["v"]
    assert node.is_observed
    np.testing.assert_array_equal(node.tensor.numpy(), x)
    got = node.log_prob().numpy()
    want = np.atleast_1d(reduce_fn(_normal_oracle(x.astype(np.float64), mean, std)))
    assert str(node.log_prob().dtype) == dtype
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=rtol)


def test_sample_is_cached_and_log_prob_scores_it(f64):
    mean = np.zeros((4, 3))
    net = OneNode(mean=mean, std=np.full((4, 3), 2.0), reduce_sum_dims=[1])({})
    node = net.nodes["v"]
    assert not node.is_observed
    a, b = node.tensor.numpy(), node.tensor.numpy()
    np.testing.assert_array_equal(a, b)
    lp1, lp2 = node.log_prob().numpy(), node.log_prob().numpy()
    np.testing.assert_array_equal(lp1, lp2)
    np.testing.assert_allclose(lp1, stats.norm.logpdf(a, 0, 2).sum(1), rtol=1e-10)


@pytest.mark.parametrize("n", [1, 3])
def test_n_samples_adds_leading_axis_that_the_dims_count(f64, n):
    """A node given n_samples=k by the user: its sample axis is axis 0 of what
    the user's code sees, and reduce_mean_dims=[0] averages over it (upstream
    ZhuSuan-Jittor's meaning; docs/design.md, "Particles")."""
    mean = np.zeros((4, 3))
    net = OneNode(mean=mean, std=1.0, n_samples=n, reduce_mean_dims=[0],
                  reduce_sum_dims=[2])({})
    node = net.nodes["v"]
    assert node.shape == [n, 4, 3]
    got = node.log_prob().numpy()
    want = stats.norm.logpdf(node.tensor.numpy()).sum(2).mean(0)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_n_samples_none_adds_no_axis():
    net = OneNode(mean=jt.zeros([4, 3]), std=1.0)({})
    assert net.nodes["v"].shape == [4, 3]


def test_reparameterize_false_stops_only_the_sample_gradient(f64):
    mean = jt.array(np.array([0.3, -0.2]))
    std = jt.array(np.array([1.5, 0.7]))
    net = OneNode(mean=mean, std=std, reparameterize=False)({})
    node = net.nodes["v"]
    z = node.tensor
    g_sample = jt.grad(z.sum(), [mean, std])
    for g in g_sample:
        np.testing.assert_array_equal(g.numpy(), 0.0)
    g_mean, g_std = jt.grad(node.log_prob().sum(), [mean, std])
    zn, m, s = z.numpy(), mean.numpy(), std.numpy()
    np.testing.assert_allclose(g_mean.numpy(), (zn - m) / s**2, rtol=1e-10)
    np.testing.assert_allclose(g_std.numpy(), (zn - m) ** 2 / s**3 - 1 / s, rtol=1e-10)
    # The user's Vars keep their gradients (no in-place stop_grad).
    assert not mean.is_stop_grad() and not std.is_stop_grad()
    np.testing.assert_allclose(jt.grad((mean * 2).sum(), mean).numpy(), 2.0)


def test_reparameterized_sample_has_gradient(f64):
    mean = jt.array(np.array([0.3, -0.2]))
    std = jt.array(np.array([1.5, 0.7]))
    net = OneNode(mean=mean, std=std, reparameterize=True)({})
    z = net.nodes["v"].tensor
    g_mean, g_std = jt.grad(z.sum(), [mean, std])
    np.testing.assert_allclose(g_mean.numpy(), 1.0)
    eps = (z.numpy() - mean.numpy()) / std.numpy()
    np.testing.assert_allclose(g_std.numpy(), eps, rtol=1e-10)


def test_log_joint_sums_nodes(f64):
    class Two(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            z = self.sn("Normal", name="z", mean=jt.zeros([5, 2], "float64"),
                        std=1.0, reduce_sum_dims=[1])
            self.sn("Bernoulli", name="x", logits=z, reduce_sum_dims=[1])
            return self

    x = np.array([[0, 1], [1, 1], [0, 0], [1, 0], [1, 1]], dtype=np.float64)
    net = Two()({"x": x})
    z = net.nodes["z"].tensor.numpy()
    want = stats.norm.logpdf(z).sum(1) + (x * z - np.logaddexp(0, z)).sum(1)
    np.testing.assert_allclose(net.log_joint().numpy(), want, rtol=1e-10)


def test_sn_accepts_name_class_and_instance():
    x = np.zeros((2, 3), np.float32)
    for dist, kw in [("Normal", {"mean": 0.0, "std": 1.0}),
                     (zs.distributions.Normal, {"mean": 0.0, "std": 1.0}),
                     (zs.distributions.Normal(mean=0.0, std=1.0), {})]:
        net = OneNode(dist, **kw)({"v": x})
        want = stats.norm.logpdf(x)
        np.testing.assert_allclose(net.nodes["v"].log_prob().numpy(), want, rtol=1e-6)


def test_each_call_starts_afresh():
    net = OneNode(mean=jt.zeros([3]), std=1.0)
    first = net({}).nodes["v"].tensor.numpy()
    second = net({}).nodes["v"].tensor.numpy()
    assert not np.array_equal(first, second)  # resampled per call, P(equal) = 0


def test_is_reparameterized_alias():
    net = OneNode(mean=jt.zeros([3]), std=1.0, is_reparameterized=False)({})
    assert not net.nodes["v"].dist.is_reparameterized


def sum_nodes(net, per_point=False):
    """The sum of a net's nodes' reduced log-densities, as objectives read them."""
    return sum(node.reduced_log_prob(per_point=per_point) for node in net.nodes.values())


# -- particles: the rule written in docs/design.md ------------------------------------
class TutorialStyleQ(BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        x = self.observed["x"]
        # 0.5 and 0.75: exact in binary
        self.sn("Normal", name="z", mean=x * 0.5, std=jt.ones(x.shape, x.dtype) * 0.75,
                reparameterize=True, reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class TutorialStyleP(BayesianNet):
    def __init__(self, n, d):
        super().__init__()
        self.n, self.d = n, d

    def execute(self, observed):
        self.observe(observed)
        z = self.sn("Normal", name="z", mean=jt.zeros([self.n, self.d], "float64"),
                    std=jt.ones([self.n, self.d], "float64"), reparameterize=False,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn("Normal", name="x", mean=z * 2.0, std=0.5,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


def test_particles_rule_per_point(f64):
    n, d, k = 4, 3, 7
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, d))
    q, p = TutorialStyleQ(), TutorialStyleP(n, d)
    with particles(q, k, per_point=True):
        q({"x": x})
        zq = q.nodes["z"]
        assert zq.shape == [k, n, d]
        lq = zq.reduced_log_prob(per_point=True).numpy()
    z = zq.tensor.numpy()
    np.testing.assert_allclose(
        lq, stats.norm.logpdf(z, 0.5 * x, 0.75).sum(-1), rtol=1e-10)
    with particles(p, k, particle_names=["z"], per_point=True):
        p({"x": x, "z": zq.tensor})
        lp = sum_nodes(p, per_point=True).numpy()
    want = stats.norm.logpdf(z).sum(-1) + stats.norm.logpdf(x, 2 * z, 0.5).sum(-1)
    assert lp.shape == (k, n)
    np.testing.assert_allclose(lp, want, rtol=1e-10)
    # Without per_point the nodes' own batch reductions apply: one value per particle.
    with particles(p, k, particle_names=["z"]):
        p({"x": x, "z": zq.tensor})
        np.testing.assert_allclose(p.log_joint().numpy(), want.mean(1), rtol=1e-10)


# -- bad input -------------------------------------------------------------------
@pytest.mark.parametrize(
    "dist,kw,observed,err,match",
    [
        ("Gaussian", {"mean": 0.0, "std": 1.0}, {}, ValueError,
         r"node 'v'.*unknown distribution 'Gaussian'"),
        ("Normal", {"mean": 0.0, "std": 1.0, "sd": 1.0}, {}, TypeError,
         r"node 'v'.*unknown argument.*'sd'"),
        ("Normal", {"mean": 0.0, "std": 1.0, "logstd": 0.0}, {}, ValueError,
         r"node 'v'.*exactly one of 'std' or 'logstd'"),
        ("Normal", {"mean": 0.0}, {}, ValueError, r"node 'v'.*'std' or 'logstd'"),
        ("Bernoulli", {}, {}, ValueError, r"node 'v'.*'logits' or 'probs'"),
        ("Normal", {"mean": np.zeros((4, 3), np.float32), "std": 1.0},
         {"v": np.zeros((4, 2), np.float32)}, ValueError,
         r"node 'v'.*shape \[4, 2\].*\[4, 3\]"),
        ("Normal", {"mean": np.zeros((4, 3), np.float32), "std": 1.0},
         {"v": np.zeros((2, 4, 3), np.float32)}, ValueError,
         r"node 'v'.*shape \[2, 4, 3\].*\[4, 3\].*more axes"),
        ("Normal", {"mean": np.zeros((4, 3), np.float32), "std": 1.0, "n_samples": 0},
         {}, ValueError, r"node 'v'.*n_samples must be None or an integer >= 1"),
        ("Normal", {"mean": 0.0, "std": 1.0, "n_samples": -2}, {}, ValueError,
         r"n_samples"),
        ("Bernoulli", {"probs": np.array([0.5, 1.2], np.float32), "validate_args": True},
         {}, ValueError, r"node 'v'.*probs must lie in \[0, 1\].*\[2\]"),
        ("Normal", {"mean": 0.0, "std": np.array([1.0, -1.0], np.float32),
                    "validate_args": True}, {}, ValueError, r"node 'v'.*std must be > 0"),
    ],
)
def test_bad_input_raises_clear_errors(dist, kw, observed, err, match):
    with pytest.raises(err, match=match):
        OneNode(dist, **kw)(observed)


@pytest.mark.parametrize("observed", [False, True])
def test_reduce_dims_out_of_range(observed):
    x = {"v": np.zeros((4, 3), np.float32)} if observed else {}
    with pytest.raises(ValueError, match=r"node 'v'.*reduce_sum_dims=\[2\].*\[4, 3\]"):
        net = OneNode(mean=np.zeros((4, 3), np.float32), std=1.0,
                      reduce_sum_dims=[2])(x)
        net.nodes["v"].log_prob()


def test_duplicate_node_name():
    class Dup(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn("Normal", name="z", mean=0.0, std=1.0)
            self.sn("Normal", name="z", mean=0.0, std=1.0)
            return self

    with pytest.raises(ValueError, match="duplicate node name 'z'"):
        Dup()({})


def test_log_joint_lets_errors_surface():
    net = OneNode(mean=np.zeros((4, 3), np.float32), std=1.0, reduce_mean_dims=[5])
    net = net({"v": np.zeros((4, 3), np.float32)})
    with pytest.raises(ValueError, match="reduce_mean_dims"):
        net.log_joint()


def test_hierarchical_q_draws_one_sample_per_particle(f64):
    """q(h2 | h1) inside a particle context: h2's parameters already carry
    h1's k particles, so it must not draw k new ones ([k, n, d], not
    [k, k, n, d]); its log-density per particle scores its own draw."""

    class HierQ(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            x = self.observed["x"]
            h1 = self.sn("Normal", name="h1", mean=x, std=1.0,
                         reduce_mean_dims=[0], reduce_sum_dims=[1])
            self.sn("Normal", name="h2", mean=h1 * 2.0, std=0.5,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
            return self

    n, d, k = 4, 3, 5
    x = np.random.default_rng(3).normal(size=(n, d))
    q = HierQ()
    with particles(q, k, per_point=True):
        q({"x": x})
    h1, h2 = q.nodes["h1"].tensor.numpy(), q.nodes["h2"]
    assert h2.shape == [k, n, d]
    want = stats.norm.logpdf(h2.tensor.numpy(), 2.0 * h1, 0.5).sum(-1)
    np.testing.assert_allclose(h2.reduced_log_prob(per_point=True).numpy(), want,
                               rtol=1e-10)
