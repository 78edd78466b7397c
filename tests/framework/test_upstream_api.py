"""Upstream ZhuSuan-Jittor's model API and its particle rule, against oracles.

Programs written for upstream (thu-ml/Zhusuan-Jittor) must run unchanged:
its module paths, signatures and the meaning of positional reduce dims on a
node that draws its own ``n_samples`` (docs/design.md, "Particles";
docs/migrating.md lists what differs on purpose). The programs here are
written in upstream's style (its imports and calls), not copied from it.

Oracles: scipy.stats log-densities reduced with NumPy as the rule says;
tolerances as in test_bayesian_net.py (float64: 1e-10 relative).
"""

import zhusuan as zs  # noqa: F401  (sets up Jittor)
from zhusuan.distributions.base import Distribution
from zhusuan.framework.bn import BayesianNet
from zhusuan.framework.stochastic_tensor import StochasticTensor
from zhusuan.variational.elbo import ELBO

import jittor as jt
import numpy as np
import pytest
from scipy import stats

RTOL64 = 1e-10


# -- module paths ------------------------------------------------------------------
def test_upstream_module_paths_exist():
    import zhusuan.distributions.bernoulli as b
    import zhusuan.distributions.logistic as lg
    import zhusuan.distributions.normal as n
    import zhusuan.framework.bn as bn
    import zhusuan.framework.stochastic_tensor as st
    import zhusuan.variational.elbo as elbo

    assert bn.BayesianNet is zs.BayesianNet
    assert st.StochasticTensor is zs.StochasticTensor
    assert elbo.ELBO is zs.variational.ELBO
    assert elbo.EvidenceLowerBoundObjective is zs.variational.ELBO
    assert lg.Logistic is zs.distributions.Logistic
    assert n.Normal is zs.distributions.Normal and b.Bernoulli is zs.distributions.Bernoulli


# -- the particle rule, upstream's direction: a node's own n_samples ---------------
class BnnLikeP(BayesianNet):
    """Upstream's bnn_vi generator, shrunk: w drawn with the user's own
    n_samples and averaged over them with reduce_mean_dims=[0]; y observed with
    shape [batch] against a mean of shape [k, batch]."""

    def __init__(self, k, d):
        super().__init__()
        self.k, self.d = k, d

    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        w = self.sn('Normal', name='w', mean=jt.zeros([self.d], 'float64'),
                    std=jt.ones([self.d], 'float64'), group_ndims=1,
                    n_samples=self.k, reduce_mean_dims=[0])
        y_mean = (w.unsqueeze(1) * x.unsqueeze(0)).sum(-1)  # [k, batch]
        self.sn('Normal', name='y', mean=y_mean, std=0.5,
                reduce_mean_dims=[0, 1], multiplier=10)
        return self


class BnnLikeQ(BayesianNet):
    def __init__(self, k, d):
        super().__init__()
        self.k = k
        self.w_mean = jt.array(np.linspace(-0.5, 0.5, d))
        self.w_logstd = jt.array(np.full(d, -1.0))

    def execute(self, observed):
        self.observe(observed)
        self.sn('Normal', name='w', mean=self.w_mean, logstd=self.w_logstd,
                group_ndims=1, n_samples=self.k, reduce_mean_dims=[0])
        return self


def test_user_n_samples_axis_is_counted_by_reduce_dims(float64, rng):
    k, n, d = 6, 5, 3
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n,))
    p, q = BnnLikeP(k, d), BnnLikeQ(k, d)
    model = ELBO(p, q)
    cost = model({'x': jt.array(x), 'y': jt.array(y)}).numpy()
    w = q.nodes['w'].tensor.numpy()
    assert w.shape == (k, d)
    log_pw = stats.norm.logpdf(w).sum(1).mean(0)
    log_py = 10 * stats.norm.logpdf(y, w @ x.T, 0.5).mean()
    log_qw = stats.norm.logpdf(w, np.linspace(-0.5, 0.5, d), np.exp(-1.0)).sum(1).mean(0)
    np.testing.assert_allclose(cost, [-(log_pw + log_py - log_qw)], rtol=RTOL64)
    # reduce_mean=False keeps what the nodes leave: here one number already.
    per = model({'x': jt.array(x), 'y': jt.array(y)}, reduce_mean=False)
    assert list(per.shape) == [1]


def test_own_n_samples_and_objective_particles_conflict(float64, rng):
    p, q = BnnLikeP(4, 2), BnnLikeQ(4, 2)
    obs = {'x': jt.array(rng.normal(size=(3, 2))), 'y': jt.array(rng.normal(size=3))}
    with pytest.raises(ValueError, match=r"node 'w' draws its own n_samples=4.*asks the "
                                         r"net for 7 particles"):
        ELBO(p, q, n_samples=7)(obs)
    with pytest.raises(ValueError, match=r"node 'w' draws its own n_samples=4.*asks the "
                                         r"net for 3 particles"):
        zs.evaluation.is_loglikelihood(p, q, obs, n_samples=3)
    with pytest.raises(ValueError, match=r"node 'w' draws its own n_samples=4.*data batch"):
        ELBO(p, q).bound(obs)


# -- the particle rule, zhusuan's direction: the objective's own axis ------------
class TutorialQ(BayesianNet):
    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        self.sn('Normal', name='z', mean=x * 0.5, std=jt.ones(x.shape, x.dtype) * 0.75,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class TutorialP(BayesianNet):
    def __init__(self, n, d):
        super().__init__()
        self.n, self.d = n, d

    def execute(self, observed):
        self.observe(observed)
        z = self.sn('Normal', name='z', mean=jt.zeros([self.n, self.d], 'float64'),
                    std=1.0, reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn('Normal', name='x', mean=z * 2.0, std=0.5,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


def test_objective_particle_axis_is_invisible_to_the_dims(float64, rng):
    """The same tutorial-style nets, with the objective asking for k particles:
    the dims still mean [batch, feature]; the cost averages the particles."""
    n, d, k = 4, 3, 5
    x = rng.normal(size=(n, d))
    q, p = TutorialQ(), TutorialP(n, d)
    cost = ELBO(p, q, n_samples=k)({'x': jt.array(x)}).numpy()
    z = q.nodes['z'].tensor.numpy()
    assert z.shape == (k, n, d)
    elbo = (stats.norm.logpdf(z).sum(-1) + stats.norm.logpdf(x, 2 * z, 0.5).sum(-1)
            - stats.norm.logpdf(z, 0.5 * x, 0.75).sum(-1))
    np.testing.assert_allclose(cost, [-elbo.mean()], rtol=RTOL64)
    per = ELBO(p, q, n_samples=k)({'x': jt.array(x)}, reduce_mean=False)
    assert list(per.shape) == [1]  # the nodes average the batch themselves


# -- observed values broadcast up, never add axes --------------------------------
class OneNode(BayesianNet):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def execute(self, observed):
        self.observe(observed)
        self.sn('Normal', name='v', **self.kw)
        return self


@pytest.mark.parametrize("value_shape", [(3,), (1, 3), (4, 1), (1, 1)])
def test_observed_value_broadcasts_up_to_the_node(float64, rng, value_shape):
    mean = rng.normal(size=(4, 3))
    v = rng.normal(size=value_shape)
    net = OneNode(mean=mean, std=2.0, reduce_sum_dims=[1])({'v': v})
    want = stats.norm.logpdf(np.broadcast_to(v, (4, 3)), mean, 2.0).sum(1)
    np.testing.assert_allclose(net.nodes['v'].log_prob().numpy(), want, rtol=RTOL64)


@pytest.mark.parametrize("value_shape,match", [
    ((2, 4, 3), r"\[2, 4, 3\].*node's shape \[4, 3\].*more axes"),
    ((4, 2), r"\[4, 2\].*node's shape \[4, 3\]"),
])
def test_observed_value_that_cannot_broadcast_is_an_error(value_shape, match):
    with pytest.raises(ValueError, match=r"node 'v': observed value has shape " + match):
        OneNode(mean=np.zeros((4, 3), np.float32), std=1.0)(
            {'v': np.zeros(value_shape, np.float32)})


def test_scalar_parameters_take_the_observed_shape(float64, rng):
    v = rng.normal(size=(5, 2))
    net = OneNode(mean=np.zeros(1), std=np.ones(1))({"v": v})
    np.testing.assert_allclose(net.nodes['v'].log_prob().numpy(), stats.norm.logpdf(v),
                               rtol=RTOL64)


# -- observed names must be used ----------------------------------------------------
def test_misspelled_observed_name_is_an_error():
    net = OneNode(mean=np.zeros((2, 3), np.float32), std=1.0)
    with pytest.raises(ValueError, match=r"observed name\(s\) 'V' \(did you mean 'v'\?\) "
                                         r"name no node of OneNode.*nodes are \['v'\]"):
        net({'V': np.zeros((2, 3), np.float32)})


def test_observed_names_read_by_execute_or_used_by_either_net_are_fine(float64, rng):
    n, d = 3, 2
    x = jt.array(rng.normal(size=(n, d)))
    ELBO(TutorialP(n, d), TutorialQ())({'x': x})  # q reads x, p has a node x
    with pytest.raises(ValueError, match=r"'xx' \(did you mean 'x'\?\)"):
        ELBO(TutorialP(n, d), TutorialQ())({'x': x, 'xx': x})


# -- upstream's signatures ------------------------------------------------------------
def test_stochastic_tensor_upstream_members(float64, rng):
    x = rng.normal(size=(4, 3))
    net = OneNode(mean=np.zeros((4, 3)), std=1.0, reduce_sum_dims=[1])({'v': x})
    node = net.nodes['v']
    assert isinstance(node, StochasticTensor)
    assert node.is_observed() is True and node.is_observed
    assert node.bn is net and node.name == 'v' and node.dtype == 'float64'
    other = rng.normal(size=(4, 3))
    np.testing.assert_allclose(node.log_prob(jt.array(other)).numpy(),
                               stats.norm.logpdf(other).sum(1), rtol=RTOL64)
    # Extra leading axes are fine for an explicit sample (distribution rule);
    # the dims index its axes as written, as upstream did.
    more = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(node.log_prob(jt.array(more)).numpy(),
                               stats.norm.logpdf(more).sum(1), rtol=RTOL64)
    lj = net.log_joint(use_cache=True)
    assert net.log_joint(use_cache=True) is lj
    latent = OneNode(mean=np.zeros(3), std=1.0)({}).nodes['v']
    assert latent.is_observed() is False and not latent.is_observed


def test_bayesian_net_observed_argument_and_deferred_nodes(float64):
    class Net(BayesianNet):
        """Nodes created in __init__, as upstream's NICE example does."""

        def __init__(self):
            super().__init__(observed={'a': np.full(3, 0.5)})
            self.first = self.sn('Normal', name='a', mean=jt.zeros([3], 'float64'), std=1.0)
            self.second = self.sn('Normal', name='b', mean=jt.zeros([3], 'float64'),
                                  std=2.0, n_samples=-1)

    net = Net()
    np.testing.assert_array_equal(net.first.numpy(), 0.5)
    assert net.second is None  # n_samples=-1: nothing drawn yet
    b = net.nodes['b']
    value = b.tensor.numpy()
    assert value.shape == (3,)
    np.testing.assert_array_equal(b.tensor.numpy(), value)  # drawn once, cached
    np.testing.assert_allclose(b.log_prob().numpy(), stats.norm.logpdf(value, 0, 2),
                               rtol=RTOL64)


def test_normal_and_bernoulli_accept_upstream_keywords(float64):
    nd = zs.distributions.Normal(mean=0., std=1., param_dtype='float64', is_continues=True,
                                 use_path_derivative=True)
    assert nd.dtype == 'float64' and nd.use_path_derivative
    bd = zs.distributions.Bernoulli(probs=0.3, param_dtype='float32', is_continues=False)
    np.testing.assert_allclose(bd.log_prob(1.0).numpy(), np.log(0.3), rtol=1e-6)
    with pytest.raises(TypeError, match=r"Normal: unknown argument\(s\) \['sd'\]"):
        zs.distributions.Normal(mean=0., std=1., sd=1.)
    with pytest.raises(ValueError, match="dtype='float32' and param_dtype='float64' differ"):
        zs.distributions.Normal(mean=0., std=1., dtype='float32', param_dtype='float64')


class UpstreamStyleExponential(Distribution):
    """A user subclass written for upstream's base class: positional base
    arguments, its parameters passed through, and the three upstream hooks."""

    def __init__(self, dtype='float64', param_dtype='float64', is_continues=True,
                 is_reparameterized=True, group_ndims=0, **kwargs):
        super().__init__(dtype, param_dtype, is_continues, is_reparameterized,
                         group_ndims=group_ndims, **kwargs)
        self._rate = kwargs['rate']

    def _batch_shape(self):
        return self._rate.shape

    def _sample(self, n_samples=1, **kwargs):
        shape = ([n_samples] if n_samples > 1 else []) + list(self._rate.shape)
        u = jt.ops.random(tuple(shape), 'float64', 'uniform')
        return -jt.log(1 - u) / self._rate

    def _log_prob(self, given):
        return jt.log(self._rate) - self._rate * given


def test_upstream_style_distribution_subclass(float64, rng):
    rate = rng.uniform(0.5, 2.0, size=(4,))
    dist = UpstreamStyleExponential(rate=jt.array(rate), group_ndims=1)
    assert dist.sample().shape == [4]
    assert dist.sample(1).shape == [1, 4]   # zhusuan's contract: n_samples=1 adds the axis
    assert dist.sample(5).shape == [5, 4]
    x = rng.exponential(size=(3, 4))
    np.testing.assert_allclose(dist.log_prob(jt.array(x)).numpy(),
                               stats.expon.logpdf(x, scale=1 / rate).sum(1), rtol=RTOL64)

    class Net(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn(UpstreamStyleExponential, name='e', rate=jt.array(rate),
                    reduce_sum_dims=[0])
            return self

    net = Net()({'e': jt.array(x[0])})
    np.testing.assert_allclose(net.log_joint().numpy(),
                               [stats.expon.logpdf(x[0], scale=1 / rate).sum()], rtol=RTOL64)


def test_use_path_derivative_on_the_distribution_matches_the_objective_option(float64, rng):
    """A q node built with use_path_derivative=True gets the path-derivative
    (sticking-the-landing) gradient, as ELBO(use_path_derivative=True) gives."""

    class Q(BayesianNet):
        def __init__(self, flag):
            super().__init__()
            self.flag = flag
            self.mu = jt.array(np.array([[0.3, -0.2, 0.1]]))

        def execute(self, observed):
            self.observe(observed)
            self.sn('Normal', name='z', mean=self.mu, std=0.8, use_path_derivative=self.flag,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
            return self

    x = jt.array(rng.normal(size=(1, 3)))
    grads = []
    for flag, objective_flag in [(True, False), (False, True)]:
        jt.set_global_seed(7)
        q = Q(flag)
        cost = ELBO(TutorialP(1, 3), q, use_path_derivative=objective_flag)({'x': x})
        grads.append(jt.grad(cost, q.mu).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=RTOL64)


def test_objective_particles_reach_a_likelihood_of_lower_rank(float64, rng):
    """Weights [k, 1, d] under the objective's k particles give a regression
    mean [k, batch]: rank 2, not the weights' rank 3. The observed y [batch]
    still scores against each particle (the mean's leading axis is the
    particle axis, not a batch axis the dims could see)."""
    n, d, k = 5, 3, 4

    class P(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            x = self.observed['x']
            w = self.sn('Normal', name='w', mean=jt.zeros([1, d], 'float64'), std=1.0,
                        group_ndims=2)
            y_mean = (x * w[..., 0, :].unsqueeze(-2)).sum(-1)
            self.sn('Normal', name='y', mean=y_mean, std=0.5, reduce_mean_dims=[0])
            return self

    class Q(BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn('Normal', name='w', mean=jt.array(np.full((1, d), 0.2)), std=0.3,
                    group_ndims=2)
            return self

    x, y = rng.normal(size=(n, d)), rng.normal(size=n)
    q = Q()
    cost = ELBO(P(), q, n_samples=k)({'x': jt.array(x), 'y': jt.array(y)}).numpy()
    w = q.nodes['w'].tensor.numpy()
    assert w.shape == (k, 1, d)
    elbo = (stats.norm.logpdf(w).sum((1, 2))
            + stats.norm.logpdf(y, w[:, 0, :] @ x.T, 0.5).mean(1)
            - stats.norm.logpdf(w, 0.2, 0.3).sum((1, 2)))
    np.testing.assert_allclose(cost, [-elbo.mean()], rtol=RTOL64)
