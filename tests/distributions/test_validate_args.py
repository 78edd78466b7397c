"""validate_args, group_ndims and the errors of bad parameters (issue 15,
findings 3 and 7).

Before: ``validate_args=True`` let NaN and infinite parameters and values
through (``Normal(std=nan)``, ``Bernoulli(probs=nan)``, a NaN value);
Gamma/Dirichlet with non-positive concentration sampled garbage or failed
with NumPy's "shape < 0"; shape errors of ``log_prob`` and ``kl_divergence``
named the operands ``arg0``/``arg1``.
"""

import numpy as np
import pytest

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan import distributions as D

NAN, INF = float("nan"), float("inf")


def _f32(*values):
    return np.array(values, dtype=np.float32)


# One constructor per family, with a bad entry in the named parameter.
BAD_PARAMS = [
    ("Normal", "mean", lambda v: D.Normal(mean=v, std=1.0, validate_args=True)),
    ("Normal", "std", lambda v: D.Normal(mean=0.0, std=v, validate_args=True)),
    ("Normal", "logstd", lambda v: D.Normal(mean=0.0, logstd=v, validate_args=True)),
    ("Bernoulli", "probs", lambda v: D.Bernoulli(probs=v, validate_args=True)),
    ("Bernoulli", "logits", lambda v: D.Bernoulli(logits=v, validate_args=True)),
    ("Gamma", "alpha", lambda v: D.Gamma(alpha=v, beta=1.0, validate_args=True)),
    ("Beta", "beta", lambda v: D.Beta(alpha=1.0, beta=v, validate_args=True)),
    ("Poisson", "rate", lambda v: D.Poisson(rate=v, validate_args=True)),
    ("Laplace", "loc", lambda v: D.Laplace(loc=v, scale=1.0, validate_args=True)),
    ("StudentT", "df", lambda v: D.StudentT(df=v, validate_args=True)),
    ("Cauchy", "scale", lambda v: D.Cauchy(scale=v, validate_args=True)),
    ("HalfNormal", "std", lambda v: D.HalfNormal(std=v, validate_args=True)),
    ("BinConcrete", "temperature",
     lambda v: D.BinConcrete(temperature=v, logits=0.0, validate_args=True)),
    ("Dirichlet", "alpha",
     lambda v: D.Dirichlet(alpha=np.stack([v, np.ones_like(v)], -1), validate_args=True)),
    ("Categorical", "probs",
     lambda v: D.Categorical(probs=np.stack([v, np.ones_like(v)], -1), validate_args=True)),
    ("MultivariateNormalCholesky", "mean",
     lambda v: D.MultivariateNormalCholesky(mean=np.stack([v, np.ones_like(v)], -1),
                                            cov_tril=np.eye(2, dtype=np.float32),
                                            validate_args=True)),
]


@pytest.mark.parametrize("family, param, make", BAD_PARAMS,
                         ids=[f"{f}-{p}" for f, p, _ in BAD_PARAMS])
@pytest.mark.parametrize("bad", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_non_finite_parameters_are_rejected(family, param, make, bad):
    # Two good entries and one bad one: the message names the family, the
    # parameter and how many entries are bad.
    good = 0.5 if param in ("probs",) else 2.0
    v = _f32(good, bad, good)
    with pytest.raises(ValueError, match=rf"{family}.*'{param}'.*1 of \d+ entries"):
        make(v)


def test_checks_are_off_by_default():
    D.Normal(mean=0.0, std=NAN)
    D.Bernoulli(probs=NAN)


def test_minus_inf_logits_of_categories_are_allowed():
    """-inf logits give a class probability 0 (a mask): accepted, and the
    log-probability of the other class is exact; +inf and NaN are not."""
    d = D.Categorical(logits=_f32(0.0, -INF), validate_args=True)
    assert d.log_prob(np.float32(0)).numpy()[0] == 0.0
    with pytest.raises(ValueError, match=r"'logits'.*\(-inf is allowed\).*1 \+inf"):
        D.Categorical(logits=_f32(0.0, INF), validate_args=True)


@pytest.mark.parametrize("make", [
    lambda: D.Normal(mean=0.0, std=1.0, validate_args=True),
    lambda: D.Bernoulli(probs=0.5, validate_args=True),
    lambda: D.Gamma(alpha=2.0, beta=1.0, validate_args=True),
    lambda: D.Categorical(logits=_f32(0.0, 1.0), validate_args=True),
], ids=["Normal", "Bernoulli", "Gamma", "Categorical"])
@pytest.mark.parametrize("bad", [NAN, INF], ids=["nan", "inf"])
def test_non_finite_values_are_rejected(make, bad):
    d = make()
    name = type(d).__name__
    with pytest.raises(ValueError, match=rf"{name}: value must be finite: 1 of 2 entries"):
        d.log_prob(_f32(1.0, bad))


def test_non_finite_observed_value_names_the_node():
    class Net(zs.BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn("Normal", "x", mean=jt.zeros([3]), std=1.0, validate_args=True)

    with pytest.raises(ValueError, match=r"node 'x' \(Normal\): value must be finite: "
                                         r"1 of 3 entries are not \(1 NaN\)"):
        Net()({"x": _f32(0.0, NAN, 1.0)})


@pytest.mark.parametrize("group_ndims", [True, False, 1.0, -1, "1"])
def test_group_ndims_must_be_a_non_negative_integer(group_ndims):
    with pytest.raises(ValueError, match="group_ndims must be a non-negative int"):
        D.Normal(mean=np.zeros([2, 3], np.float32), std=1.0, group_ndims=group_ndims)

    class Net(zs.BayesianNet):
        def execute(self, observed):
            self.sn("Normal", "z", mean=jt.zeros([2, 3]), std=1.0, group_ndims=group_ndims)

    with pytest.raises(ValueError, match="node 'z'.*group_ndims must be"):
        Net()({})


def test_group_ndims_accepts_numpy_integers():
    d = D.Normal(mean=np.zeros([2, 3], np.float32), std=1.0, group_ndims=np.int64(1))
    lp = d.log_prob(np.zeros([2, 3], np.float32)).numpy()
    np.testing.assert_allclose(lp, np.full([2], -3 * 0.9189385332046727), rtol=1e-6)


# -- positive parameters (finding 7) ------------------------------------------------
@pytest.mark.parametrize("make, what", [
    (lambda a, va: D.Gamma(alpha=a, beta=1.0, validate_args=va), "Gamma: alpha"),
    (lambda a, va: D.Gamma(alpha=1.0, beta=a, validate_args=va), "Gamma: beta"),
    (lambda a, va: D.Beta(alpha=a, beta=1.0, validate_args=va), "Beta: alpha"),
    (lambda a, va: D.InverseGamma(alpha=a, beta=1.0, validate_args=va), "InverseGamma: alpha"),
    (lambda a, va: D.Dirichlet(alpha=np.stack([a, np.ones_like(a)], -1), validate_args=va),
     "Dirichlet: alpha"),
    (lambda a, va: D.StudentT(df=a, validate_args=va), "StudentT: df"),
], ids=["Gamma-alpha", "Gamma-beta", "Beta", "InverseGamma", "Dirichlet", "StudentT"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_non_positive_parameters_are_rejected_under_validate_args(make, what, value):
    v = _f32(1.0, value, 2.0)
    make(v, False)  # not checked by default
    with pytest.raises(ValueError, match=rf"{what} must be > 0 \(shape \[[\d, ]+\]\): "
                                         r"1 of \d+ entries"):
        make(v, True)


@pytest.mark.parametrize("make, what", [
    (lambda: D.Gamma(alpha=_f32(1.0, -1.0), beta=1.0), "Gamma: alpha"),
    (lambda: D.Gamma(alpha=_f32(1.0, NAN), beta=1.0), "Gamma: alpha"),
    (lambda: D.Dirichlet(alpha=_f32(-1.0, 1.0)), "Dirichlet: alpha"),
    (lambda: D.Beta(alpha=1.0, beta=_f32(0.0, 1.0)), "Beta: beta"),
], ids=["Gamma-negative", "Gamma-nan", "Dirichlet", "Beta"])
def test_sampling_with_bad_concentration_names_the_parameter(make, what):
    """Without validate_args the sampler itself refuses (NumPy drew NaN or
    failed with 'shape < 0' before)."""
    d = make()
    with pytest.raises(ValueError, match=rf"{what} must be finite and > 0 to sample"):
        d.sample(2).numpy()


# -- shape errors name the parameters -------------------------------------------------
@pytest.mark.parametrize("make, names", [
    (lambda: D.Normal(mean=np.zeros(3, np.float32), std=1.0),
     r"value \[4\], mean \[3\], std \[1\]"),
    (lambda: D.Normal(mean=0.0, logstd=np.zeros(3, np.float32)), r"mean \[1\], logstd \[3\]"),
    (lambda: D.Bernoulli(probs=np.full(3, 0.5, np.float32)), r"value \[4\], probs \[3\]"),
    (lambda: D.Poisson(rate=np.ones(3, np.float32)), r"value \[4\], rate \[3\]"),
    (lambda: D.Gamma(alpha=np.ones(3, np.float32), beta=1.0), r"alpha \[3\], beta \[1\]"),
    (lambda: D.BinConcrete(temperature=1.0, logits=np.zeros(3, np.float32)),
     r"temperature \[1\], logits \[3\]"),
], ids=["Normal", "Normal-logstd", "Bernoulli", "Poisson", "Gamma", "BinConcrete"])
def test_log_prob_shape_errors_name_the_parameters(make, names):
    d = make()
    with pytest.raises(ValueError, match=rf"{type(d).__name__}\.log_prob: .*{names}") as e:
        d.log_prob(np.zeros(4, np.float32))
    assert "arg0" not in str(e.value)


def test_kl_divergence_shape_errors_name_the_parameters():
    p = D.Normal(mean=np.zeros(3, np.float32), std=1.0)
    q = D.Normal(mean=np.zeros(4, np.float32), logstd=0.0)
    with pytest.raises(ValueError, match=r"KL\(Normal \|\| Normal\).*p\.mean \[3\], "
                                         r"p\.std \[1\], q\.mean \[4\], q\.logstd \[1\]"):
        D.kl_divergence(p, q)
    p = D.Dirichlet(alpha=np.ones([3, 2], np.float32))
    q = D.Dirichlet(alpha=np.ones([4, 2], np.float32))
    with pytest.raises(ValueError, match=r"p\.alpha \[3\], q\.alpha \[4\]"):
        D.kl_divergence(p, q)
