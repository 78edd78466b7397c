"""Property-based tests (hypothesis) of every family of the kernels' op table
through the public API (issue 15, scope 8).

Each example draws a family's parameterisation (e.g. ``std`` or
``logstd``), the batch shape, a broadcast pattern for every parameter and
for the value, the dtype, ``group_ndims`` and, for a node of a
``BayesianNet``, ``reduce_mean_dims`` / ``reduce_sum_dims``; some draws are
invalid on purpose (shapes that do not broadcast, ``group_ndims`` beyond the
rank or a bool, reduce dims out of range). Each either raises a ValueError
or TypeError whose message names the argument, or gives the log-density of
``scipy.stats`` (float64, on the dtype-rounded inputs) reduced the same way,
on every backend the profile runs.

Profiles (``@settings``, derandomised, so a run is reproducible):

* ``make test``: ``SMALL_EXAMPLES`` per family, ranks 1 and 2 only, the
  default backend only: few new kernels to compile (about a minute on a
  cold Jittor cache for the whole file, a few seconds warm);
* ``ZHUSUAN_FULL_TESTS=1`` (``make test-full``): ``FULL_EXAMPLES`` (200) per
  family, ranks 1 to 3, every available backend.

Values are drawn inside the support from a NumPy generator seeded by the
example (hypothesis chooses the structure, shrinking stays meaningful).
Tolerance: float32 2e-5, float64 1e-10, relative to the sum of the
magnitudes of the terms reduced into each result (a sum of n terms each
within a few ulp); lgamma of float32 arguments up to ~100 stays within it.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan import kernels

FULL = os.environ.get("ZHUSUAN_FULL_TESTS") == "1"
SMALL_EXAMPLES = 3
FULL_EXAMPLES = 200
SETTINGS = settings(
    max_examples=FULL_EXAMPLES if FULL else SMALL_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# (Rank 0 is rank 1 here: a Jittor Var has at least one axis.)
RANKS = (1, 2, 3) if FULL else (1, 2)
TOL = {"float32": 2e-5, "float64": 1e-10}


def _sig(logits):
    return 1.0 / (1.0 + np.exp(-logits))


# family -> (parameterisations: list of {param: sampler}, value sampler,
#            scipy elementwise log-density of (x, **params) in float64)
# A sampler takes (rng, shape) and returns float64 values.
def _u(lo, hi):
    return lambda r, s: r.uniform(lo, hi, size=s)


def _n(scale=1.0):
    return lambda r, s: scale * r.normal(size=s)


def _scale(p):
    return np.exp(p["logstd"]) if "logstd" in p else p["std"]


FAMILIES = {
    "Normal": ([{"mean": _n(), "std": _u(0.5, 2)}, {"mean": _n(), "logstd": _n(0.5)}],
               _n(2.0), lambda x, p: stats.norm.logpdf(x, p["mean"], _scale(p))),
    "Bernoulli": ([{"logits": _n(2.0)}, {"probs": _u(0.05, 0.95)}],
                  lambda r, s: r.integers(0, 2, size=s).astype(float),
                  lambda x, p: stats.bernoulli.logpmf(
                      x, p["probs"] if "probs" in p else _sig(p["logits"]))),
    "Laplace": ([{"loc": _n(), "scale": _u(0.5, 2)}], _n(2.0),
                lambda x, p: stats.laplace.logpdf(x, p["loc"], p["scale"])),
    "Logistic": ([{"loc": _n(), "scale": _u(0.5, 2)}], _n(3.0),
                 lambda x, p: stats.logistic.logpdf(x, p["loc"], p["scale"])),
    "Exponential": ([{"rate": _u(0.5, 2)}], lambda r, s: r.exponential(size=s),
                    lambda x, p: stats.expon.logpdf(x, scale=1 / p["rate"])),
    "HalfNormal": ([{"std": _u(0.5, 2)}, {"logstd": _n(0.3)}],
                   lambda r, s: np.abs(r.normal(size=s)),
                   lambda x, p: stats.halfnorm.logpdf(x, scale=_scale(p))),
    "FoldNormal": ([{"mean": _n(), "std": _u(0.5, 2)}, {"mean": _n(), "logstd": _n(0.3)}],
                   lambda r, s: np.abs(r.normal(size=s)) + 0.01,
                   # scipy's foldnorm takes c = |mean| / scale >= 0 (the
                   # folded law is symmetric in the sign of the mean).
                   lambda x, p: stats.foldnorm.logpdf(x, np.abs(p["mean"]) / _scale(p),
                                                      scale=_scale(p))),
    "LogNormal": ([{"mean": _n(), "std": _u(0.5, 2)}, {"mean": _n(), "logstd": _n(0.3)}],
                  lambda r, s: r.lognormal(size=s),
                  lambda x, p: stats.lognorm.logpdf(x, _scale(p), scale=np.exp(p["mean"]))),
    "Uniform": ([{"minval": _u(-1, 0), "maxval": _u(1, 2)}], _u(0.05, 0.95),
                lambda x, p: stats.uniform.logpdf(x, p["minval"], p["maxval"] - p["minval"])),
    "Poisson": ([{"rate": _u(0.5, 20)}, {"log_rate": _n(1.5)}],
                lambda r, s: r.poisson(4, size=s).astype(float),
                lambda x, p: stats.poisson.logpmf(
                    x, p["rate"] if "rate" in p else np.exp(p["log_rate"]))),
    "Geometric": ([{"logits": _n(2.0)}, {"probs": _u(0.05, 0.95)}],
                  lambda r, s: r.poisson(3, size=s).astype(float),
                  lambda x, p: stats.geom.logpmf(
                      x, p["probs"] if "probs" in p else _sig(p["logits"]), loc=-1)),
    "Binomial": ([{"logits": _n(), "n_experiments": lambda r, s: np.full(s, 12.0)},
                  {"probs": _u(0.1, 0.9), "n_experiments": lambda r, s: np.full(s, 12.0)}],
                 lambda r, s: r.integers(0, 13, size=s).astype(float),
                 lambda x, p: stats.binom.logpmf(
                     x, p["n_experiments"], p["probs"] if "probs" in p else _sig(p["logits"]))),
    "Gamma": ([{"alpha": _u(0.3, 5), "beta": _u(0.5, 2)}], lambda r, s: r.gamma(2.0, size=s),
              lambda x, p: stats.gamma.logpdf(x, p["alpha"], scale=1 / p["beta"])),
    "Beta": ([{"alpha": _u(0.3, 5), "beta": _u(0.3, 5)}], _u(0.05, 0.95),
             lambda x, p: stats.beta.logpdf(x, p["alpha"], p["beta"])),
    "StudentT": ([{"df": _u(0.5, 8), "loc": _n(), "scale": _u(0.5, 2)}], _n(2.0),
                 lambda x, p: stats.t.logpdf(x, p["df"], p["loc"], p["scale"])),
    "Cauchy": ([{"loc": _n(), "scale": _u(0.5, 2)}], _n(4.0),
               lambda x, p: stats.cauchy.logpdf(x, p["loc"], p["scale"])),
    "HalfCauchy": ([{"scale": _u(0.5, 2)}], lambda r, s: np.abs(4.0 * r.normal(size=s)),
                   lambda x, p: stats.halfcauchy.logpdf(x, scale=p["scale"])),
    "InverseGamma": ([{"alpha": _u(0.5, 5), "beta": _u(0.5, 2)}],
                     lambda r, s: 1.0 / r.gamma(2.0, size=s),
                     lambda x, p: stats.invgamma.logpdf(x, p["alpha"], scale=p["beta"])),
}


def test_every_kernel_family_has_a_property_test():
    assert set(kernels.FAMILIES) | {"Normal", "Bernoulli"} == set(FAMILIES)


@st.composite
def cases(draw, family):
    """One example: (structure dict). Shapes as lists of ints."""
    forms, _, _ = FAMILIES[family]
    form = draw(st.integers(0, len(forms) - 1))
    rank = draw(st.sampled_from(RANKS))
    full = [draw(st.sampled_from([1, 2, 3])) for _ in range(rank)]
    node = draw(st.booleans())
    shapes = {}
    for k, name in enumerate(forms[form]):
        if node and k == 0:
            # A node's observed value may not add axes to the node's shape
            # (the parameters'): one parameter has the full shape.
            shapes[name] = list(full)
            continue
        lead = draw(st.integers(0, rank))  # leading axes dropped
        shapes[name] = [d if draw(st.booleans()) else 1 for d in full[lead:]]
    value_shape = list(full)
    if draw(st.integers(0, 4)) == 0:
        # An axis of a size no parameter has: the value does not broadcast
        # unless every parameter has size 1 there.
        axis = draw(st.integers(0, rank - 1))
        value_shape[axis] = 5
    group = draw(st.one_of(st.integers(0, rank + 1), st.just(True)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    mean_dims, sum_dims = [], []
    if node:
        nrest = max(rank - (group if not isinstance(group, bool) else 0), 0)
        for d in range(nrest + 1):  # d == nrest: out of range on purpose
            if d == nrest and draw(st.integers(0, 5)) != 0:
                continue
            kind = draw(st.sampled_from(["", "mean", "sum"]))
            (mean_dims if kind == "mean" else sum_dims if kind == "sum" else []).append(d)
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(form=form, full=full, shapes=shapes, value_shape=value_shape,
                group=group, dtype=dtype, node=node, mean_dims=mean_dims,
                sum_dims=sum_dims, seed=seed)


def _backends():
    if not FULL:
        return [kernels.get_backend()]
    out = []
    for name in kernels.BACKENDS:
        if kernels.backend_info()["backends"][name]["available"]:
            out.append(name)
    return out


def _expected_error(c, rank):
    """The argument an invalid example must name, or None if it is valid."""
    if isinstance(c["group"], bool):
        return "group_ndims"
    try:
        np.broadcast_shapes(c["value_shape"], *c["shapes"].values())
    except ValueError:
        return "broadcast"
    if c["group"] > rank:
        return "group_ndims"
    if c["node"]:
        nrest = rank - c["group"]
        if any(d >= nrest for d in c["mean_dims"] + c["sum_dims"]):
            return "reduce"
    return None


def _oracle(family, c, params, x):
    """scipy's log-density, broadcast to the full shape and reduced."""
    _, _, logpdf = FAMILIES[family]
    full = list(np.broadcast_shapes(c["value_shape"], *c["shapes"].values()))
    p = {k: np.broadcast_to(v, full) for k, v in params.items()}
    elem = np.asarray(logpdf(np.broadcast_to(x, full), p), dtype=np.float64)
    elem = np.broadcast_to(elem, full)
    mag = np.abs(elem)
    rank, g = len(full), c["group"]
    axes = tuple(range(rank - g, rank))
    out, mag = elem.sum(axis=axes), mag.sum(axis=axes)
    if c["node"]:
        if c["mean_dims"]:
            out = out.mean(axis=tuple(c["mean_dims"]), keepdims=True)
            mag = mag.mean(axis=tuple(c["mean_dims"]), keepdims=True)
        if c["sum_dims"]:
            out = out.sum(axis=tuple(c["sum_dims"]), keepdims=True)
            mag = mag.sum(axis=tuple(c["sum_dims"]), keepdims=True)
        drop = set(c["mean_dims"]) | set(c["sum_dims"])
        keep = [d for i, d in enumerate(out.shape) if i not in drop]
        out, mag = out.reshape(keep), mag.reshape(keep)
    return out, mag


def _log_prob(family, c, params, x):
    cls = getattr(zs.distributions, family)
    dt = c["dtype"]
    with jt.flag_scope(auto_convert_64_to_32=0):
        pv = {k: jt.array(np.asarray(v, dtype=dt)) for k, v in params.items()}
        xv = jt.array(np.asarray(x, dtype=dt))
    if not c["node"]:
        return cls(**pv, group_ndims=c["group"]).log_prob(xv)

    class Net(zs.BayesianNet):
        def execute(self, observed):
            self.observe(observed)
            self.sn(family, "x", group_ndims=c["group"],
                    reduce_mean_dims=c["mean_dims"] or None,
                    reduce_sum_dims=c["sum_dims"] or None, **pv)
            return self

    net = Net()
    net({"x": xv})
    return net.nodes["x"].log_prob()


ERROR_WORDS = {
    "group_ndims": r"group_ndims",
    "broadcast": r"(value|observed value).*(broadcast|\[)",
    "reduce": r"reduce_(mean|sum)_dims",
}


def _check_example(family, c):
    forms, sample_value, _ = FAMILIES[family]
    rng = np.random.default_rng(c["seed"])
    dt = c["dtype"]
    # Inputs rounded to the dtype; the oracle sees the rounded values.
    params = {k: np.asarray(f(rng, c["shapes"][k]), dt).astype(np.float64)
              for k, f in forms[c["form"]].items()}
    x = np.asarray(sample_value(rng, c["value_shape"]), dt).astype(np.float64)
    rank = len(c["full"])
    err = _expected_error(c, rank)
    for backend in _backends():
        kernels.set_backend(backend)
        if err is not None:
            with pytest.raises((ValueError, TypeError), match=ERROR_WORDS[err]):
                _log_prob(family, c, params, x).numpy()
            continue
        got = _log_prob(family, c, params, x).numpy().astype(np.float64)
        want, mag = _oracle(family, c, params, x)
        assert got.size == max(want.size, 1), (backend, got.shape, want.shape)
        want, mag = want.reshape(got.shape), mag.reshape(got.shape)
        tol = TOL[dt] * (mag + 1.0)
        bad = ~(np.abs(got - want) <= tol)
        assert not bad.any(), (f"{family} on {backend}, {c}: got {got[bad][:3]}, "
                               f"want {want[bad][:3]}")


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_log_prob_properties(family, restore_backend):
    @SETTINGS
    @given(cases(family))
    def run(c):
        _check_example(family, c)

    run()
