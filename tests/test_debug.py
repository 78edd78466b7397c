"""zs.debug.check_numerics: the NaN guard (issue 15, scope 6).

Without the guard a non-finite log-density shows up only as a NaN/inf loss;
with it the first node with a non-finite sample, observed value or
log-density raises, naming the node, its distribution, its parameters'
ranges and the call of the net.
"""

import numpy as np
import pytest

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan import BayesianNet
from zhusuan.debug import NonFiniteError


class P(BayesianNet):
    """x | z ~ N(z, noise_std): noise_std = 0 makes log p(x | z) -inf."""

    def __init__(self, noise_std):
        super().__init__()
        self._std = noise_std

    def execute(self, observed):
        self.observe(observed)
        z = self.sn("Normal", name="z", mean=jt.zeros([4, 2]), std=1.0,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn("Normal", name="x", mean=z, std=self._std, reduce_mean_dims=[0],
                reduce_sum_dims=[1])
        return self


class Q(BayesianNet):
    def __init__(self, std):
        super().__init__()
        self._std = std

    def execute(self, observed):
        self.observe(observed)
        self.sn("Normal", name="z", mean=observed["x"] * 0.5, std=self._std,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


X = {"x": np.ones([4, 2], np.float32)}


def test_without_the_guard_the_loss_is_silently_non_finite():
    loss = zs.variational.ELBO(P(jt.zeros([4, 2])), Q(1.0))(X)
    assert not np.isfinite(loss.numpy()).all()


def test_guard_names_the_node_its_distribution_parameters_and_call():
    p = P(jt.zeros([4, 2]))
    model = zs.variational.ELBO(p, Q(1.0))
    with zs.debug.check_numerics():
        with pytest.raises(NonFiniteError) as info:
            model(X)
    msg = str(info.value)
    assert "node 'x' (Normal)" in msg
    assert "non-finite log-density in call 1 of P" in msg
    assert "std [0, 0]" in msg and "mean [" in msg
    assert not zs.debug.numerics_checked()  # restored on exit
    # The call number counts the net's calls.
    model(X)
    with zs.debug.check_numerics(), pytest.raises(NonFiniteError, match="call 3 of P"):
        model(X)


def test_guard_catches_a_nan_sample_with_the_parameter_range():
    q = Q(jt.array(np.array([[1.0, np.nan]] * 4, np.float32)))
    model = zs.variational.ELBO(P(1.0), q)
    previous = zs.debug.enable_check_numerics()
    try:
        with pytest.raises(NonFiniteError, match=r"node 'z' \(Normal\) has a non-finite "
                                                 r"sample in call 1 of Q: 4 of 8 entries "
                                                 r"\(4 NaN\).*std \[1, 1\] \(4 NaN\)"):
            model(X)
    finally:
        zs.debug.enable_check_numerics(previous)


def test_guard_passes_finite_models_and_costs_nothing_when_off(monkeypatch):
    model = zs.variational.ELBO(P(1.0), Q(1.0))
    with zs.debug.check_numerics():
        checked = float(model(X).numpy()[0])
    assert np.isfinite(checked)

    def fail(*args):
        raise AssertionError("a node checked its numbers with the guard off")

    monkeypatch.setattr(zs.debug, "check_node", fail)
    assert np.isfinite(model(X).numpy()).all()
