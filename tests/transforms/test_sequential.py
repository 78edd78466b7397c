"""Sequential, the transform base class and the log-determinant forms.

What is checked (oracles: NumPy and central differences, tolerances from
``_flow_oracles.py``):

1. a chain mixing the three log-determinant forms (None, elementwise
   ``[B, D]`` and ``[1, D]``, per sample ``[B]``): the total against
   ``slogdet`` of the finite-difference Jacobian of the whole chain, the
   inverse's total is minus the forward's, the round trip, upstream's return
   values (forward ``(tuple, log_det)``, inverse the tuple);
2. ``zeros([1])`` in the input's dtype when every layer is volume-preserving;
3. several variables, returned flat ``(y, v, log_det)`` and nested
   ``((y, v), log_det)`` (upstream's test_sequential, rewritten here with
   log-determinants of each form and a NumPy oracle);
4. ``event_ndims=2``, including a log-determinant that broadcasts over an
   event axis (Scaling on ``[B, H, W]``), against finite differences;
5. nested Sequentials; parameters of every layer are the chain's;
6. layers written for upstream (inverse returns None): sampling works, the
   inverse's log-determinant is refused with a clear error;
7. bad input: clear errors.
"""

from zhusuan.numerics import const
from zhusuan.transforms import (
    AdditiveCoupling,
    AffineCoupling,
    InvertibleTransform,
    Scaling,
    Sequential,
    get_coupling_mask,
    split_output,
)

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _flow_oracles import ATOL64, FD_LOGDET_ATOL, ROUNDTRIP64, RTOL64, fd_jacobian, fd_log_det, npv

D = 5
B = 4


class RowScale(InvertibleTransform):
    """z = x * exp(c), c a scalar parameter, with a per-sample log-det (the
    input's shape without its last ``event_ndims`` axes)."""

    has_inverse_log_det = True

    def __init__(self, c, event_ndims=1):
        super().__init__()
        self.c = jt.array(np.array([c]))
        self.event_ndims = event_ndims

    def _ld(self, x):
        e = self.event_ndims
        shape = list(x.shape)
        size = int(np.prod(shape[-e:]))
        return (jt.zeros(shape[:-e], dtype=str(x.dtype)) + self.c) * size

    def _forward(self, x, **kwargs):
        return x * jt.exp(self.c), self._ld(x)

    def _inverse(self, z, **kwargs):
        return z * jt.exp(-self.c), -self._ld(z)


class FlatPair(InvertibleTransform):
    """Two variables, returned flat: (2x + 1, v e, log_det) with the
    elementwise log-det of the x part only (v is not an event variable).
    Constants are typed (a Python float in a float64 Jittor op is rounded to
    float32, docs/design.md)."""

    has_inverse_log_det = True

    def _forward(self, x, v, **kwargs):
        dt = str(x.dtype)
        ld = jt.zeros_like(x) + const(np.log(2.0), dt)
        return 2 * x + 1, v * const(np.e, dt), ld

    def _inverse(self, x, v, **kwargs):
        dt = str(x.dtype)
        ld = jt.zeros_like(x) - const(np.log(2.0), dt)
        return (x - 1) / 2, v / const(np.e, dt), ld


class NestedPair(InvertibleTransform):
    """Two variables, returned nested: ((x - v, v + 1), None)."""

    has_inverse_log_det = True

    def _forward(self, x, v, **kwargs):
        return (x - v, v + 1), None

    def _inverse(self, x, v, **kwargs):
        return (x + (v - 1), v - 1), None


class UpstreamStyle(InvertibleTransform):
    """As upstream's layers: the inverse returns None for its log-det."""

    def _forward(self, x, **kwargs):
        return 3 * x, jt.zeros_like(x) + np.log(3.0)

    def _inverse(self, z, **kwargs):
        return z / 3, None


def _mixed_chain(rng):
    m = get_coupling_mask(D, 1, 2)
    scaling = Scaling(D)
    scaling.log_scale.assign(jt.array(rng.normal(0, 0.5, size=(1, D))))
    return Sequential([AffineCoupling(D, 8, 2, m[0]), scaling, RowScale(0.3),
                       AdditiveCoupling(D, 8, 1, m[1])]).float64()


def test_mixed_log_det_forms(rng, float64):
    seq = _mixed_chain(rng)
    x = rng.normal(size=(B, D))
    out, ld = seq(jt.array(x))
    assert isinstance(out, tuple) and len(out) == 1
    assert list(ld.shape) == [B] and str(ld.dtype) == "float64"

    def chain(a):
        return seq(jt.array(a))[0][0].numpy()

    np.testing.assert_allclose(ld.numpy(), fd_log_det(chain, x), rtol=0,
                               atol=FD_LOGDET_ATOL)
    back = seq(out[0], inverse=True)
    assert isinstance(back, tuple) and len(back) == 1
    np.testing.assert_allclose(back[0].numpy(), x, rtol=0, atol=ROUNDTRIP64)
    back2, ild = seq.inverse_and_log_det(out[0])
    np.testing.assert_array_equal(back2[0].numpy(), back[0].numpy())
    np.testing.assert_allclose(ild.numpy(), -ld.numpy(), rtol=RTOL64, atol=ATOL64)
    assert seq.has_inverse_log_det
    # forward_and_log_det is the same as calling the module.
    out3, ld3 = seq.forward_and_log_det(jt.array(x))
    np.testing.assert_array_equal(ld3.numpy(), ld.numpy())


@pytest.mark.parametrize("dtype_", ["float32", "float64"])
def test_volume_preserving_chain_gives_zeros(dtype_, rng, float64):
    m = get_coupling_mask(D, 1, 2)
    seq = Sequential([AdditiveCoupling(D, 8, 1, m[0]), AdditiveCoupling(D, 8, 1, m[1])])
    if dtype_ == "float64":
        seq.float64()
    x = jt.array(rng.normal(size=(B, D)).astype(dtype_))
    (z,), ld = seq(x)
    assert list(ld.shape) == [1] and str(ld.dtype) == dtype_
    assert ld.item() == 0.0
    _, ild = seq.inverse_and_log_det(z)
    assert list(ild.shape) == [1] and ild.item() == 0.0


def test_several_variables_flat_and_nested(rng, float64):
    layers = [FlatPair(), NestedPair(), FlatPair(), NestedPair(), NestedPair()]
    seq = Sequential(layers)
    x, v = rng.normal(size=(B, D)), rng.normal(size=(B, D))
    (zx, zv), ld = seq(jt.array(x), jt.array(v))
    ex, ev = x, v
    for layer in layers:  # the NumPy oracle of the chain
        if isinstance(layer, FlatPair):
            ex, ev = 2 * ex + 1, ev * np.e
        else:
            ex, ev = ex - ev, ev + 1
    np.testing.assert_allclose(zx.numpy(), ex, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(zv.numpy(), ev, rtol=RTOL64, atol=ATOL64)
    # Two FlatPairs, each D log 2 per sample (their elementwise log-dets).
    np.testing.assert_allclose(ld.numpy(), np.full(B, 2 * D * np.log(2.0)), rtol=RTOL64)
    bx, bv = seq(zx, zv, inverse=True)
    np.testing.assert_allclose(bx.numpy(), x, rtol=0, atol=ROUNDTRIP64)
    np.testing.assert_allclose(bv.numpy(), v, rtol=0, atol=ROUNDTRIP64)
    _, ild = seq.inverse_and_log_det(zx, zv)
    np.testing.assert_allclose(ild.numpy(), -ld.numpy(), rtol=RTOL64)


def test_event_ndims_2_counts_broadcast_axes(rng, float64):
    h, w = 3, 4
    scaling = Scaling(w)
    scaling.log_scale.assign(jt.array(rng.normal(0, 0.5, size=(1, w))))
    seq = Sequential([scaling.float64(), RowScale(-0.2, event_ndims=2)], event_ndims=2)
    x = rng.normal(size=(B, h, w))
    (z,), ld = seq(jt.array(x))
    # Scaling's log-det has shape [1, 1, w]: it counts once per row (h times).
    assert list(ld.shape) == [B]

    def chain(a):
        return seq(jt.array(a.reshape(-1, h, w)))[0][0].numpy().reshape(-1, h * w)

    np.testing.assert_allclose(ld.numpy(), fd_log_det(chain, x.reshape(B, h * w)),
                               rtol=0, atol=FD_LOGDET_ATOL)
    np.testing.assert_allclose(
        ld.numpy(), h * npv(scaling.log_scale).sum() - 0.2 * h * w, rtol=RTOL64)


def test_nested_sequential(rng, float64):
    inner = _mixed_chain(rng)
    outer = Sequential([inner, RowScale(0.1).float64()])
    x = rng.normal(size=(B, D))
    (z,), ld = outer(jt.array(x))
    (z_in,), ld_in = inner(jt.array(x))
    np.testing.assert_allclose(z.numpy(), z_in.numpy() * np.exp(0.1), rtol=RTOL64)
    np.testing.assert_allclose(ld.numpy(), ld_in.numpy() + 0.1 * D, rtol=RTOL64,
                               atol=ATOL64)
    (back,) = outer(z, inverse=True)
    np.testing.assert_allclose(back.numpy(), x, rtol=0, atol=ROUNDTRIP64)
    _, ild = outer.inverse_and_log_det(z)
    np.testing.assert_allclose(ild.numpy(), -ld.numpy(), rtol=RTOL64, atol=ATOL64)
    # Every layer's parameters belong to the chain (an optimizer sees them).
    ids = {id(p) for p in outer.parameters()}
    assert all(id(p) in ids for layer in inner for p in layer.parameters())
    assert len(outer) == 2 and outer[0] is inner


def test_upstream_style_layers(rng):
    seq = Sequential([UpstreamStyle(), Scaling(D)])
    x = jt.array(rng.normal(size=(B, D)).astype(np.float32))
    (z,), ld = seq(x)
    np.testing.assert_allclose(ld.numpy(), np.full(B, D * np.log(3.0)), rtol=1e-6)
    (back,) = seq(z, inverse=True)
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
    assert not seq.has_inverse_log_det
    with pytest.raises(ValueError, match=r"\['UpstreamStyle'\] do not declare "
                                         "has_inverse_log_det"):
        seq.inverse_and_log_det(z)


def test_jacobian_helper_is_a_jacobian(rng):
    # The finite-difference helper itself, on a linear map with known J.
    a = rng.normal(size=(D, D))
    x = rng.normal(size=(B, D))
    jac = fd_jacobian(lambda v: v @ a.T, x)
    np.testing.assert_allclose(jac, np.broadcast_to(a, (B, D, D)), rtol=1e-8, atol=1e-8)


def test_errors():
    with pytest.raises(TypeError, match="modules must be a list"):
        Sequential(Scaling(D))
    with pytest.raises(TypeError,
                       match=r"every module must be a Transform; got 1: Linear"):
        Sequential([Scaling(D), jt.nn.Linear(D, D)])
    with pytest.raises(ValueError, match="event_ndims must be a non-negative int"):
        Sequential([Scaling(D)], event_ndims=-1)
    with pytest.raises(TypeError, match="must return"):
        split_output(jt.zeros([3]))
    with pytest.raises(TypeError, match="log_det must be a Var or None"):
        split_output((jt.zeros([3]), 1.0))

    class TooManyAxes(InvertibleTransform):
        def _forward(self, x, **kwargs):
            return x, jt.zeros([1] + list(x.shape))

    with pytest.raises(ValueError, match=r"log_det of shape \[1, 4, 5\] has more axes"):
        Sequential([TooManyAxes()])(jt.zeros([B, D]))
