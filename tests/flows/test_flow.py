"""Flow (zhusuan/flows) against independent oracles.

What is checked:

1. shapes: value_shape / batch_shape from the latent and ``event_ndims``
   (upstream's NICE layout), samples with and without ``n_samples``,
   ``group_ndims``;
2. ``log_prob`` against a NumPy change of variables (float64 and float32):
   a Normal latent through AffineCoupling + Scaling + AffineCoupling whose
   weights are read back from the modules, the map in NumPy, its
   log-determinant from ``slogdet`` of the finite-difference Jacobian;
3. an affine map of a Normal latent is Normal: samples pass a
   Kolmogorov-Smirnov test against ``scipy.stats.norm`` and ``log_prob``
   equals scipy's ``logpdf``;
4. sampling and scoring in one pass (``_rsample_log_prob``, the path a
   reparameterised BayesianNet node takes) equals ``log_prob`` of the same
   sample (coupling and IAF flows), and for a planar flow (no forward
   direction) equals the NumPy change of variables at the same noise;
5. gradients of ``log_prob`` and of the one-pass score with respect to the
   transform's parameters against central differences of NumPy closed forms
   (float64);
6. use by name in a BayesianNet, observed and latent; as the variational
   posterior of a linear-Gaussian model, where a flow that is the exact
   posterior makes the ELBO equal the log-marginal likelihood for every
   draw;
7. bad input: clear errors naming the argument or shape.

Policy (as in tests/distributions): inputs from the per-test ``rng`` and
Jittor's per-test seed (tests/conftest.py); tolerances are the named ones of
tests/transforms/_flow_oracles.py and tests/distributions/_shared.py, or
local ones with their justification; statistical tests state their
false-positive rate.
"""

import os
import sys

import zhusuan as zs
from zhusuan import BayesianNet
from zhusuan.distributions import Logistic, Normal
from zhusuan.flows import Flow
from zhusuan.transforms import (
    IAF,
    AdditiveCoupling,
    AffineCoupling,
    InvertibleTransform,
    Planar,
    Scaling,
    Sequential,
    get_coupling_mask,
)

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from jittor import nn
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "transforms"))
from _flow_oracles import (  # noqa: E402
    ATOL64,
    FD_LOGDET_ATOL,
    ROUNDTRIP64,
    RTOL64,
    fd_log_det,
    np_affine,
    np_planar,
    np_planar_u_hat,
    np_scaling,
    npv,
)

D = 6
B = 5

# Kolmogorov-Smirnov tests reject at ALPHA: their false-positive rate per
# dimension tested (as tests/distributions/_shared.py).
ALPHA = 1e-4
N_KS = 20000

# Gradients: central differences of float64 NumPy closed forms with step
# 1e-6: truncation ~1e-12 |f'''|, rounding ~eps |f| / h ~ 1e-8 for |f| (a
# sum of B log-densities of magnitude <= ~10) ~ 50. 1e-6 relative and
# absolute (tests/distributions/_shared.py's FD_RTOL / FD_ATOL) leaves a
# margin of 100.
FD_H = 1e-6
FD_TOL = 1e-6

# float32 log-densities: a sum of D = 6 latent terms and three layers'
# log-determinants, values of magnitude <= ~30 whose parts each carry a few
# ulp(30) ~ 2e-6 through the network. Measured over five seeds: <= 1.6e-6.
# 2e-5 relative and absolute leaves a margin of ten (more for the larger
# values) and is still 50 times below a lost float32 term of size 1e-3.
LOGP_TOL32 = 2e-5


def set_param(p, values):
    p.assign(jt.array(np.asarray(values, dtype=str(p.dtype))))


def normal_latent(rng, dtype="float64", shape=(D,)):
    mean = rng.normal(0.0, 0.5, size=shape).astype(dtype)
    std = np.exp(rng.normal(0.0, 0.3, size=shape)).astype(dtype)
    return Normal(mean=jt.array(mean), std=jt.array(std)), mean, std


def coupling_chain(rng, dtype="float64"):
    m = get_coupling_mask(D, 1, 2)
    scaling = Scaling(D)
    set_param(scaling.log_scale, rng.normal(0.0, 0.5, size=(1, D)))
    seq = Sequential([AffineCoupling(D, 8, 2, m[0]), scaling,
                      AffineCoupling(D, 8, 2, m[1])])
    return seq.float64() if dtype == "float64" else seq


def np_chain(seq, x):
    """The NumPy oracle of coupling_chain's forward map (data to noise)."""
    a, s, c = list(seq)
    return np_affine(c, np_scaling(s, np_affine(a, x)))


class Affine(InvertibleTransform):
    """The example of zhusuan.transforms.Transform's docstring: z = a x + b."""

    has_inverse_log_det = True

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = jt.array(a), jt.array(b)

    def _forward(self, x, **kwargs):
        ld = jt.log(jt.abs(self.a)).broadcast(x.shape)  # elementwise
        return self.a * x + self.b, ld

    def _inverse(self, z, **kwargs):
        ld = -jt.log(jt.abs(self.a)).broadcast(z.shape)
        return (z - self.b) / self.a, ld


# -- 1. shapes ---------------------------------------------------------------------
def test_shapes_follow_the_latent_and_event_ndims(rng):
    nice_latent = Logistic(loc=jt.zeros([D]), scale=jt.ones([D]))
    m = get_coupling_mask(D, 1, 2)
    flow = Flow(latent=nice_latent, transform=Sequential(
        [AdditiveCoupling(D, 8, 2, m[0]), AdditiveCoupling(D, 8, 2, m[1]), Scaling(D)]))
    assert flow.value_shape == [D] and flow.batch_shape == []
    assert flow.dtype == "float32"
    assert flow.is_reparameterized and flow.event_ndims == 1
    assert list(flow.sample().shape) == [D]
    assert list(flow.sample(3).shape) == [3, D]
    assert list(flow.sample(1).shape) == [1, D]
    x = jt.array(rng.normal(size=(B, D)).astype(np.float32))
    assert list(flow.log_prob(x).shape) == [B]
    assert list(flow.log_prob(x[0]).shape) == [1]

    lat, _, _ = normal_latent(rng, "float32", shape=(3, D))
    f = Flow(lat, Scaling(D))
    assert f.batch_shape == [3] and f.value_shape == [D]
    assert list(f.sample(2).shape) == [2, 3, D]
    x3 = jt.array(rng.normal(size=(B, 3, D)).astype(np.float32))
    assert list(f.log_prob(x3).shape) == [B, 3]
    grouped = Flow(lat, Scaling(D), group_ndims=1)
    per_row = f.log_prob(x3).numpy()
    np.testing.assert_allclose(grouped.log_prob(x3).numpy(), per_row.sum(1), rtol=1e-6)
    whole = Flow(lat, Sequential([Scaling(D)], event_ndims=2), event_ndims=2)
    assert whole.batch_shape == [] and whole.value_shape == [3, D]
    np.testing.assert_allclose(whole.log_prob(x3).numpy(), per_row.sum(1), rtol=1e-6)


# -- 2. log_prob against a NumPy change of variables ----------------------------------
def test_log_prob_matches_numpy_change_of_variables(rng, float64):
    latent, mean, std = normal_latent(rng)
    seq = coupling_chain(rng)
    flow = Flow(latent, seq)
    x = rng.normal(size=(B, D))
    got = flow.log_prob(jt.array(x)).numpy()
    z = np_chain(seq, x)
    expected = (stats.norm.logpdf(z, mean, std).sum(-1)
                + fd_log_det(lambda a: np_chain(seq, a), x))
    np.testing.assert_allclose(got, expected, rtol=0, atol=FD_LOGDET_ATOL)


def test_log_prob_float32(rng):
    latent, mean, std = normal_latent(rng, "float32")
    seq = coupling_chain(rng, "float32")
    flow = Flow(latent, seq)
    x = rng.normal(size=(B, D)).astype(np.float32)
    got = flow.log_prob(jt.array(x)).numpy()
    assert got.dtype == np.float32
    seq.float64()  # the same weights, exactly, for the float64 oracle
    z = np_chain(seq, x.astype(np.float64))
    expected = (stats.norm.logpdf(z, mean.astype(np.float64), std.astype(np.float64))
                .sum(-1) + fd_log_det(lambda a: np_chain(seq, a), x.astype(np.float64)))
    np.testing.assert_allclose(got, expected, rtol=LOGP_TOL32, atol=LOGP_TOL32)


# -- 3. an affine flow of a Normal is Normal ------------------------------------------
def test_affine_flow_of_a_normal_is_normal(rng, float64):
    latent, mean, std = normal_latent(rng, shape=(3,))
    a = np.array([2.0, -0.5, 1.5])
    b = np.array([0.3, -1.0, 0.0])
    scaling = Scaling(3).float64()
    s = rng.normal(0.0, 0.5, size=(1, 3))
    set_param(scaling.log_scale, s)
    flow = Flow(latent, Sequential([Affine(a, b), scaling]))
    # x -> a x + b -> (a x + b) e^s = z, so x = (z e^-s - b) / a.
    loc = (mean * np.exp(-s[0]) - b) / a
    scale = std * np.exp(-s[0]) / np.abs(a)
    samples = flow.sample(N_KS).numpy()
    assert samples.shape == (N_KS, 3)
    for d in range(3):  # FPR ALPHA per dimension
        p = stats.kstest(samples[:, d], stats.norm(loc[d], scale[d]).cdf).pvalue
        assert p > ALPHA, (d, p)
    x = rng.normal(size=(B, 3))
    np.testing.assert_allclose(flow.log_prob(jt.array(x)).numpy(),
                               stats.norm.logpdf(x, loc, scale).sum(-1),
                               rtol=RTOL64, atol=ATOL64)


# -- 4. one-pass sampling and scoring --------------------------------------------
def _iaf_chain():
    return Sequential([IAF(D, [16]), IAF(D, [16], input_order="reverse")]).float64()


@pytest.mark.parametrize("which", ["coupling", "iaf"])
def test_rsample_log_prob_equals_log_prob(which, rng, float64):
    latent, _, _ = normal_latent(rng)
    seq = coupling_chain(rng) if which == "coupling" else _iaf_chain()
    flow = Flow(latent, seq)
    x, lq = flow._rsample_log_prob(7, [], 1.0)
    assert list(x.shape) == [7, D] and list(lq.shape) == [7]
    # IAF's log_prob solves for z over D passes: ROUNDTRIP64-level error.
    np.testing.assert_allclose(lq.numpy(), flow.log_prob(x).numpy(), rtol=0,
                               atol=ROUNDTRIP64)
    reduced = flow._rsample_log_prob(7, [0], 0.5)[1]
    assert list(reduced.shape) == [1]


def _planar_chain(rng, n_layers=2):
    layers = []
    for _ in range(n_layers):
        p = Planar(D)
        set_param(p.w, rng.normal(0.0, 0.5, size=D))
        set_param(p.u, rng.normal(0.0, 0.5, size=D))
        set_param(p.b, rng.normal(0.0, 0.5, size=1))
        layers.append(p.float64())
    return Sequential(layers)


def _np_planar_chain(seq, z):
    for layer in reversed(list(seq)):  # noise to data runs the chain backwards
        z = np_planar(layer, z)
    return z


def _same_noise(flow, latent, seed):
    """A one-pass draw (x, log q) and the latent noise z it came from: the
    same seed, with each draw evaluated before reseeding (Jittor's random
    ops read the generator when they run, not when they are built)."""
    jt.set_global_seed(seed + 1)
    x, lq = flow._rsample_log_prob(B, [], 1.0)
    jt.sync([x, lq])
    jt.set_global_seed(seed + 1)
    z = latent.sample(B).numpy()
    return x, lq, z


def test_planar_flow_scores_its_samples(rng, float64, seed):
    latent, mean, std = normal_latent(rng)
    seq = _planar_chain(rng)
    flow = Flow(latent, seq)
    x, lq, z = _same_noise(flow, latent, seed)
    np.testing.assert_allclose(x.numpy(), _np_planar_chain(seq, z), rtol=RTOL64,
                               atol=ATOL64)
    expected = (stats.norm.logpdf(z, mean, std).sum(-1)
                - fd_log_det(lambda a: _np_planar_chain(seq, a), z))
    np.testing.assert_allclose(lq.numpy(), expected, rtol=0, atol=FD_LOGDET_ATOL)
    with pytest.raises(NotImplementedError, match="no closed form"):
        flow.log_prob(x)


# -- 5. gradients ----------------------------------------------------------------------
def _central(fn, value, h=FD_H):
    grad = np.zeros_like(value)
    for idx in np.ndindex(*value.shape):
        up, down = value.copy(), value.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fn(up) - fn(down)) / (2 * h)
    return grad


def test_log_prob_gradients_match_finite_differences(rng, float64):
    latent, mean, std = normal_latent(rng)
    m = get_coupling_mask(D, 1, 1)[0]
    coupling = AffineCoupling(D, 4, 1, m).float64()
    scaling = Scaling(D).float64()
    set_param(scaling.log_scale, rng.normal(0.0, 0.5, size=(1, D)))
    flow = Flow(latent, Sequential([coupling, scaling]))
    x = rng.normal(size=(B, D))
    lin0, lin1 = coupling.nn[0], coupling.nn[2]
    params = {"w0": lin0.weight, "b1": lin1.bias, "s": scaling.log_scale}
    grads = jt.grad(flow.log_prob(jt.array(x)).sum(), list(params.values()))
    values = {k: npv(v) for k, v in params.items()}

    def np_log_prob(vals):
        # Closed forms (checked against finite-difference Jacobians in
        # tests/transforms): log|det| = sum (1 - mask) tanh(s_raw) + sum s.
        mk = npv(m)
        h = np.maximum((mk * x) @ vals["w0"].T + npv(lin0.bias), 0.0)
        out = h @ npv(lin1.weight).T + vals["b1"]
        s_c, t_c = (1 - mk) * np.tanh(out[:, :D]), (1 - mk) * out[:, D:]
        z = (x * np.exp(s_c) + t_c) * np.exp(vals["s"])
        return (stats.norm.logpdf(z, mean, std).sum() + s_c.sum()
                + B * vals["s"].sum())

    for (name, value), g in zip(values.items(), grads, strict=False):
        fd = _central(lambda v, name=name: np_log_prob({**values, name: v}), value)
        np.testing.assert_allclose(g.numpy(), fd, rtol=FD_TOL, atol=FD_TOL,
                                   err_msg=name)


def test_planar_one_pass_gradients_match_finite_differences(rng, float64, seed):
    latent, mean, std = normal_latent(rng)
    seq = _planar_chain(rng, n_layers=1)
    layer = seq[0]
    flow = Flow(latent, seq)
    x, lq, z = _same_noise(flow, latent, seed)
    # An ELBO-like objective: the score of the sample plus a function of it,
    # so gradients flow both through log q and through the sample.
    params = [layer.w, layer.u, layer.b]
    grads = jt.grad(lq.sum() + (x * x).sum(), params)
    values = {"w": npv(layer.w), "u": npv(layer.u), "b": npv(layer.b)}

    def objective(vals):
        u_hat = np_planar_u_hat(vals["w"], vals["u"])
        h = np.tanh(z @ vals["w"] + vals["b"])
        xs = z + u_hat * h[:, None]
        log_det = np.log(np.abs(1 + (1 - h * h) * (vals["w"] @ u_hat)))
        return (stats.norm.logpdf(z, mean, std).sum() - log_det.sum()
                + (xs * xs).sum())

    for (name, value), g in zip(values.items(), grads, strict=False):
        fd = _central(lambda v, name=name: objective({**values, name: v}), value)
        np.testing.assert_allclose(g.numpy(), fd, rtol=FD_TOL, atol=FD_TOL,
                                   err_msg=name)


# -- 6. in a BayesianNet -------------------------------------------------------------
class FlowNet(BayesianNet):
    def __init__(self, latent, transform, n_samples=None):
        super().__init__()
        self._latent = latent
        self.transform = transform
        self.n_samples = n_samples

    def execute(self, observed):
        self.observe(observed)
        self.sn("Flow", name="x", latent=self._latent, transform=self.transform,
                n_samples=self.n_samples)
        return self


def test_flow_by_name_in_a_bayesian_net(rng, float64):
    latent, mean, std = normal_latent(rng)
    seq = coupling_chain(rng)
    flow = Flow(latent, seq)
    x = jt.array(rng.normal(size=(B, D)))
    # An observed value never adds axes to its node (docs/design.md), so the
    # node's latent carries the batch axis.
    batched = Normal(mean=jt.array(np.broadcast_to(mean, (B, D)).copy()),
                     std=jt.array(np.broadcast_to(std, (B, D)).copy()))
    net = FlowNet(batched, seq)({"x": x})
    np.testing.assert_allclose(net.log_joint().numpy(), flow.log_prob(x).numpy(),
                               rtol=RTOL64, atol=ATOL64)
    # Latent: drawn and scored in one pass; the score is log_prob of the draw.
    net = FlowNet(latent, seq, n_samples=3)({})
    node = net.nodes["x"]
    assert node.shape == [3, D] and node.dist.is_reparameterized
    np.testing.assert_allclose(node.log_prob().numpy(),
                               flow.log_prob(node.tensor).numpy(), rtol=0,
                               atol=ROUNDTRIP64)
    assert zs.distributions.get_distribution("Flow") is Flow


# Linear-Gaussian model: z ~ N(0, 1), x | z ~ N(A z + C, S^2), elementwise;
# the posterior is N(mu, v) with v = S^2 / (S^2 + A^2), mu = v A (x - C) / S^2,
# and the marginal x ~ N(C, A^2 + S^2).
A_, C_, S_ = 2.0, 0.5, 0.5


class LinearGaussian(BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        z = self.sn("Normal", name="z", mean=jt.zeros([B, D], "float64"),
                    std=jt.ones([B, D], "float64"), reduce_sum_dims=[1])
        self.sn("Normal", name="x", mean=z * A_ + C_, std=S_, reduce_sum_dims=[1])
        return self


class FlowPosterior(BayesianNet):
    def __init__(self, transform):
        super().__init__()
        self.transform = transform

    def execute(self, observed):
        self.observe(observed)
        latent = Normal(mean=jt.zeros([B, D], "float64"),
                        std=jt.ones([B, D], "float64"))
        self.sn("Flow", name="z", latent=latent, transform=self.transform)
        return self


def test_exact_flow_posterior_gives_the_log_marginal(rng, float64):
    x = rng.normal(size=(B, D)) * np.sqrt(A_ ** 2 + S_ ** 2) + C_
    v = S_ ** 2 / (S_ ** 2 + A_ ** 2)
    mu = v * A_ * (x - C_) / S_ ** 2
    # Noise eps -> z = mu + sqrt(v) eps, i.e. data to noise eps = a z + b.
    exact = Sequential([Affine(np.full((B, D), 1 / np.sqrt(v)), -mu / np.sqrt(v))])
    elbo = zs.variational.ELBO(LinearGaussian(), FlowPosterior(exact))
    bound = elbo.bound({"x": jt.array(x)}).numpy()
    var = A_ ** 2 + S_ ** 2
    log_marginal = stats.norm.logpdf(x, C_, np.sqrt(var)).sum(1)
    # Every draw has log p(x, z) - log q(z) = log p(x): no Monte-Carlo error.
    np.testing.assert_allclose(bound, log_marginal, rtol=1e-10, atol=1e-10)


def test_planar_posterior_trains(rng, float64):
    x = jt.array(rng.normal(size=(B, D)))
    seq = _planar_chain(rng)
    elbo = zs.variational.ELBO(LinearGaussian(), FlowPosterior(seq))
    before = [npv(p) for p in seq.parameters()]
    opt = jt.optim.Adam(seq.parameters(), 1e-2)
    loss = elbo({"x": x})
    assert np.isfinite(loss.item())
    opt.step(loss)
    after = [npv(p) for p in seq.parameters()]
    assert all(np.any(a != b) for a, b in zip(after, before, strict=False))


# -- 7. errors -----------------------------------------------------------------------
def test_errors_name_the_argument(rng):
    lat = Normal(mean=jt.zeros([D]), std=1.0)
    t = Scaling(D)
    with pytest.raises(ValueError, match="'latent' and 'transform' required"):
        Flow()
    with pytest.raises(TypeError, match="latent must be a Distribution, got int"):
        Flow(latent=3, transform=t)
    with pytest.raises(TypeError, match="transform must be a zhusuan Transform"):
        Flow(lat, nn.Linear(D, D))
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['foo'\]"):
        Flow(lat, t, foo=1)
    with pytest.raises(ValueError, match="event_ndims=2 must lie between"):
        Flow(lat, t, event_ndims=2)
    with pytest.raises(ValueError, match=r"Sequential\(\.\.\., event_ndims=2\)"):
        Flow(Normal(mean=jt.zeros([2, D]), std=1.0), Sequential([t]), event_ndims=2)
    with pytest.raises(ValueError, match="dtype='float64' differs from the latent's"):
        Flow(lat, t, dtype="float64")
    # upstream's extra options are accepted
    Flow(lat, t, dtype="float32", param_dtype="float32", use_path_derivative=False)
    flow = Flow(lat, t)
    with pytest.raises(ValueError, match=r"value of shape \[4, 5\] does not end with "
                                         r"the flow's event shape \[6\]"):
        flow.log_prob(jt.zeros([4, 5]))
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError,
                           match="n_samples must be None or an integer >= 1"):
            flow.sample(bad)
    with pytest.raises(NotImplementedError, match="path-derivative"):
        flow._detached()

    class TwoOut(InvertibleTransform):
        def _forward(self, x, **kwargs):
            return x, x, None

    with pytest.raises(ValueError, match="returned 2 variables"):
        Flow(lat, TwoOut()).log_prob(jt.zeros([D]))

    class Net(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn("Flow", name="x", latent=lat, transform=t, bogus=1)
            return self

    with pytest.raises(TypeError, match="bogus"):
        Net()({})
