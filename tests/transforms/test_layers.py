"""The invertible layers of zhusuan.transforms against independent oracles.

Layers: AdditiveCoupling (default ReLU network and a user's network),
AffineCoupling (default network, and a user's network returning a pair),
Scaling, Planar (noise -> data only), IAF (with a hidden MADE, and a linear
one in reverse order).

What is checked (oracles in ``_flow_oracles.py``, tolerances named and
justified there):

1. float64: ``inverse(forward(x)) == x`` and ``forward(inverse(z)) == z``;
   the inverse's log-determinant is minus the forward's at corresponding
   points;
2. float64: each map against a NumPy implementation that reads the weights
   back from the module;
3. float64: each direction's log-determinant against ``slogdet`` of the
   central-difference Jacobian of that direction, per sample;
4. float32: outputs and log-determinants against the float64 evaluation of
   the same (float32-rounded) weights and inputs, and the float32 round
   trip;
5. shapes and contracts: Scaling's ``[1, D]`` log-determinant (upstream's),
   inputs never modified, inputs with extra leading axes, MADE's
   autoregressive structure for several orders, Planar's invertibility
   constraint for adversarial ``u``;
6. bad input: clear errors naming the argument or shape.

Inputs come from the per-test ``rng`` fixture and Jittor's per-test seed
(tests/conftest.py); nothing here is statistical.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from zhusuan.transforms import (
    IAF,
    MADE,
    AdditiveCoupling,
    AffineCoupling,
    Planar,
    Scaling,
    get_coupling_mask,
    per_sample_log_det,
)

import jittor as jt  # tests/conftest.py has already imported zhusuan first
import numpy as np
import pytest
from _flow_oracles import (
    ATOL32,
    ATOL64,
    FD_LOGDET_ATOL,
    ROUNDTRIP64,
    RTOL32,
    RTOL64,
    fd_log_det,
    np_additive,
    np_affine,
    np_iaf,
    np_made,
    np_planar,
    np_planar_u_hat,
    np_scaling,
    npv,
)
from jittor import nn

D = 5
B = 4


def set_param(p, values):
    """Overwrite a parameter in place with ``values`` in its own dtype."""
    p.assign(jt.array(np.asarray(values, dtype=str(p.dtype))))


class _PairNet(nn.Module):
    """A user's network for AffineCoupling that returns the pair (s, t)."""

    def __init__(self, d, width):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, width), nn.Tanh())
        self.s = nn.Linear(width, d)
        self.t = nn.Linear(width, d)

    def execute(self, h):
        h = self.body(h)
        return self.s(h), self.t(h)


def np_pair_affine(layer, x, inverse=False):
    m = npv(layer.mask)
    net = layer.nn
    h = np.tanh(m * x @ npv(net.body[0].weight).T + npv(net.body[0].bias))
    s = (1 - m) * np.tanh(h @ npv(net.s.weight).T + npv(net.s.bias))
    t = (1 - m) * (h @ npv(net.t.weight).T + npv(net.t.bias))
    return (x - t) * np.exp(-s) if inverse else x * np.exp(s) + t


def _scaling(rng):
    layer = Scaling(D)
    set_param(layer.log_scale, rng.normal(0.0, 0.5, size=(1, D)))
    return layer


def _planar(rng, adversarial=False):
    layer = Planar(D)
    w = rng.normal(0.0, 0.6, size=D)
    # adversarial: w^T u = -5 |w|^2 would make the raw map non-invertible.
    u = -5.0 * w if adversarial else rng.normal(0.0, 0.6, size=D)
    set_param(layer.w, w)
    set_param(layer.u, u)
    set_param(layer.b, [0.3])
    return layer


@dataclass
class Case:
    id: str
    build: Callable  # rng -> layer (float32)
    oracle: Optional[Callable]  # (layer, x, inverse) -> array, or None
    has_forward: bool = True


CASES = [
    Case("additive_default",
         lambda rng: AdditiveCoupling(D, 16, 3, get_coupling_mask(D, 1, 1)[0]),
         np_additive),
    Case("additive_inner_nn",
         lambda rng: AdditiveCoupling(mask=get_coupling_mask(D, 1, 2)[1],
                                      inner_nn=nn.Sequential(nn.Linear(D, 8), nn.Tanh(),
                                                             nn.Linear(8, D))),
         np_additive),
    Case("affine_default",
         lambda rng: AffineCoupling(D, 16, 2, get_coupling_mask(D, 1, 1)[0]),
         np_affine),
    Case("affine_pair_nn",
         lambda rng: AffineCoupling(mask=get_coupling_mask(D, 1, 2)[1],
                                    inner_nn=_PairNet(D, 8)),
         np_pair_affine),
    Case("scaling", _scaling, np_scaling),
    Case("planar", _planar, lambda layer, z, inverse: np_planar(layer, z), False),
    Case("planar_adversarial_u", lambda rng: _planar(rng, adversarial=True),
         lambda layer, z, inverse: np_planar(layer, z), False),
    Case("iaf_made", lambda rng: IAF(D, [16, 16]),
         lambda layer, z, inverse: np_iaf(layer, z)),
    Case("iaf_linear_reverse", lambda rng: IAF(D, [], input_order="reverse"),
         lambda layer, z, inverse: np_iaf(layer, z)),
]
IDS = [c.id for c in CASES]


def build64(case, rng):
    return case.build(rng).float64()


def run(layer, x, inverse=False):
    """(output array, per-sample log-det array) of one direction."""
    out, log_det = layer(jt.array(x), inverse=inverse)
    if log_det is None:
        return out.numpy(), np.zeros(x.shape[:-1], dtype=x.dtype)
    ld = per_sample_log_det(log_det, list(x.shape), 1)
    return out.numpy(), np.broadcast_to(ld.numpy(), x.shape[:-1])


# -- 1. round trips and inverse log-determinants (float64) -----------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_round_trip_float64(case, rng, float64):
    layer = build64(case, rng)
    z0 = rng.normal(size=(B, D))
    x0, ild0 = run(layer, z0, inverse=True)
    assert x0.dtype == np.float64
    if not case.has_forward:
        with pytest.raises(NotImplementedError, match="no closed form"):
            layer(jt.array(x0))
        return
    z1, ld1 = run(layer, x0)
    np.testing.assert_allclose(z1, z0, rtol=0, atol=ROUNDTRIP64)
    # log|det df^-1/dz| at z is minus log|det df/dx| at x = f^-1(z).
    np.testing.assert_allclose(ild0, -ld1, rtol=RTOL64, atol=ATOL64)
    x = rng.normal(size=(B, D))
    z, ld = run(layer, x)
    x2, ild = run(layer, z, inverse=True)
    np.testing.assert_allclose(x2, x, rtol=0, atol=ROUNDTRIP64)
    np.testing.assert_allclose(ild, -ld, rtol=RTOL64, atol=ATOL64)


# -- 2. the maps against NumPy (float64) ------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_map_matches_numpy_float64(case, rng, float64):
    layer = build64(case, rng)
    x = rng.normal(size=(B, D))
    got, _ = run(layer, x, inverse=True)
    np.testing.assert_allclose(got, case.oracle(layer, x, True), rtol=RTOL64,
                               atol=ATOL64)
    if case.has_forward and case.oracle is not None and not case.id.startswith("iaf"):
        got, _ = run(layer, x)
        np.testing.assert_allclose(got, case.oracle(layer, x, False), rtol=RTOL64,
                                   atol=ATOL64)


# -- 3. log-determinants against finite differences (float64) -----------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_log_det_matches_finite_differences(case, rng, float64):
    layer = build64(case, rng)
    x = rng.normal(size=(B, D))

    def direction(inverse):
        return lambda a: layer(jt.array(a), inverse=inverse)[0].numpy()

    _, ild = run(layer, x, inverse=True)
    np.testing.assert_allclose(ild, fd_log_det(direction(True), x), rtol=0,
                               atol=FD_LOGDET_ATOL)
    if case.has_forward:
        _, ld = run(layer, x)
        np.testing.assert_allclose(ld, fd_log_det(direction(False), x), rtol=0,
                                   atol=FD_LOGDET_ATOL)


# -- 4. float32 -------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_matches_float64(case, rng):
    layer = case.build(rng)
    x32 = rng.normal(size=(B, D)).astype(np.float32)
    directions = [True] + ([False] if case.has_forward else [])
    got = {inv: run(layer, x32, inverse=inv) for inv in directions}
    for out, ld in got.values():
        assert out.dtype == np.float32 and ld.dtype == np.float32
    if case.has_forward:
        x_back, _ = run(layer, got[False][0], inverse=True)
        np.testing.assert_allclose(x_back, x32, rtol=RTOL32, atol=ATOL32)
    # The oracle: the same layer with its float32 weights converted exactly to
    # float64, on the float32 inputs converted exactly.
    layer.float64()
    with jt.flag_scope(auto_convert_64_to_32=0):
        for inv, (out, ld) in got.items():
            out64, ld64 = run(layer, x32.astype(np.float64), inverse=inv)
            np.testing.assert_allclose(out, out64, rtol=RTOL32, atol=ATOL32)
            np.testing.assert_allclose(ld, ld64, rtol=RTOL32, atol=ATOL32)


# -- 5. shapes and contracts ---------------------------------------------------------
def test_scaling_log_det_is_upstreams_elementwise_form(rng):
    layer = _scaling(rng)
    s = layer.log_scale.numpy()
    x = jt.array(rng.normal(size=(B, D)).astype(np.float32))
    z, ld = layer(x)
    assert list(ld.shape) == [1, D]
    np.testing.assert_allclose(ld.numpy(), s, rtol=0, atol=0)
    xr, ild = layer(z, inverse=True)
    np.testing.assert_allclose(ild.numpy(), -s, rtol=0, atol=0)
    # An input with a leading sample axis gets one size-1 axis per batch axis.
    x3 = jt.array(rng.normal(size=(2, B, D)).astype(np.float32))
    assert list(layer(x3)[1].shape) == [1, 1, D]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inputs_are_not_modified_and_leading_axes_work(case, rng):
    layer = case.build(rng)
    x = rng.normal(size=(2, 3, D)).astype(np.float32)
    xv = jt.array(x)
    directions = [True] + ([False] if case.has_forward else [])
    for inv in directions:
        out, ld = layer(xv, inverse=inv)
        assert list(out.shape) == [2, 3, D]
        if ld is not None:
            assert list(per_sample_log_det(ld, [2, 3, D], 1).shape) in ([2, 3], [1, 1])
        np.testing.assert_array_equal(xv.numpy(), x)
        # Rows transform independently: the same rows as a [6, D] batch.
        flat, _ = layer(jt.array(x.reshape(6, D)), inverse=inv)
        np.testing.assert_allclose(out.numpy().reshape(6, D), flat.numpy(), rtol=RTOL32,
                                   atol=ATOL32)


@pytest.mark.parametrize("order", [None, "reverse", [3, 1, 5, 2, 4]],
                         ids=["natural", "reverse", "permutation"])
def test_made_is_autoregressive(order, rng, float64):
    made = MADE(D, [12, 12], input_order=order).float64()
    degrees = np.asarray(made.input_order)
    z = rng.normal(size=(1, D))
    base = [a.numpy() for a in made(jt.array(z))]
    for head_np, head in zip(np_made(made, z), base, strict=False):
        np.testing.assert_allclose(head, head_np, rtol=RTOL64, atol=ATOL64)
    for j in range(D):
        before = degrees <= degrees[j]
        changed = False
        for step in (2.0, -2.0):
            bumped = z.copy()
            bumped[0, j] += step
            out = [a.numpy() for a in made(jt.array(bumped))]
            for o, b in zip(out, base, strict=False):
                # Outputs at or before j in the order do not see z_j at all ...
                np.testing.assert_array_equal(o[0, before], b[0, before])
                changed |= bool(np.any(o[0, ~before] != b[0, ~before]))
        # ... and some later one does (ReLU units may be dead on one side).
        assert changed or not (~before).any()


def test_planar_reparameterisation_keeps_it_invertible(rng, float64):
    layer = _planar(rng, adversarial=True).float64()
    w, u = npv(layer.w), npv(layer.u)
    assert w @ u < -1.0  # the raw u would not be invertible
    u_hat = np_planar_u_hat(w, u)
    assert w @ u_hat > -1.0
    np.testing.assert_allclose(npv(layer.u_hat), u_hat, rtol=RTOL64, atol=ATOL64)
    # Along w the map is strictly increasing: a 1-D check of invertibility.
    a = np.linspace(-6, 6, 2001)[:, None] * w / (w @ w)
    proj = np_planar(layer, a) @ w
    assert np.all(np.diff(proj) > 0)


def test_planar_with_w_zero_is_a_shift(rng, float64):
    layer = _planar(rng).float64()
    set_param(layer.w, np.zeros(D))
    z = rng.normal(size=(B, D))
    x, ld = run(layer, z, inverse=True)
    np.testing.assert_allclose(x, z + npv(layer.u) * np.tanh(npv(layer.b)), rtol=RTOL64,
                               atol=ATOL64)
    np.testing.assert_array_equal(ld, np.zeros(B))


def test_get_coupling_mask():
    masks = get_coupling_mask(5, 1, 3)
    assert len(masks) == 3
    np.testing.assert_array_equal(masks[0].numpy(), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(masks[1].numpy(), [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(masks[2].numpy(), [0, 1, 0, 1, 0])
    assert all(str(m.dtype) == "float32" and m.is_stop_grad() for m in masks)
    assert get_coupling_mask(4, 1, 0) == []


def test_coupling_mask_is_not_a_parameter():
    layer = AdditiveCoupling(D, 8, 1, get_coupling_mask(D, 1, 1)[0])
    names = [n for n, _ in layer.named_parameters()]
    assert names and not any("mask" in n for n in names)


# -- 6. errors ----------------------------------------------------------------------
def test_errors_name_the_argument():
    mask = get_coupling_mask(D, 1, 1)[0]
    with pytest.raises(NotImplementedError, match="split_type 'Squeeze'"):
        get_coupling_mask(D, 1, 2, split_type="Squeeze")
    with pytest.raises(NotImplementedError, match="n_channel=3"):
        get_coupling_mask(D, 3, 2)
    with pytest.raises(ValueError, match="n_dim"):
        get_coupling_mask(0, 1, 2)
    with pytest.raises(ValueError, match="mid_dim=-1, hidden=-1"):
        AdditiveCoupling(D, mask=mask)
    with pytest.raises(ValueError, match="mask is required"):
        AffineCoupling(D, 8, 2)
    with pytest.raises(ValueError,
                       match=r"mask of shape \[5\] does not match in_out_dim=6"):
        AdditiveCoupling(6, 8, 2, mask)
    with pytest.raises(ValueError, match="only 0s and 1s"):
        AdditiveCoupling(2, 8, 2, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="mid_dim and hidden configure the default"):
        AdditiveCoupling(D, 8, 2, mask, inner_nn=nn.Linear(D, D))
    with pytest.raises(TypeError, match="inner_nn must be callable"):
        AdditiveCoupling(mask=mask, inner_nn=3)
    layer = AdditiveCoupling(D, 8, 2, mask)
    with pytest.raises(ValueError, match=r"input of shape \[4, 6\] does not end with "
                                         r"the mask's shape \[5\]"):
        layer(jt.zeros([4, 6]))
    with pytest.raises(ValueError, match="Scaling: n_dim"):
        Scaling(0)
    with pytest.raises(ValueError, match=r"Scaling: input of shape \[4, 6\]"):
        Scaling(D)(jt.zeros([4, 6]))
    with pytest.raises(NotImplementedError, match="Planar: the data -> noise"):
        Planar(D)(jt.zeros([4, D]))
    with pytest.raises(ValueError, match=r"MADE: input_order must be a permutation"):
        MADE(3, [4], input_order=[1, 1, 2])
    with pytest.raises(ValueError, match="MADE: hidden_dims"):
        MADE(3, [0])
    with pytest.raises(ValueError, match="IAF: n_dim"):
        IAF()
    with pytest.raises(ValueError, match="pass them or made, not both"):
        IAF(made=MADE(3, [4]), hidden_dims=[4])
    with pytest.raises(ValueError, match=r"AffineCoupling: inner_nn output of shape "
                                         r"\[4, 5\] should end with 2 \* 5"):
        AffineCoupling(mask=mask, inner_nn=nn.Linear(D, D))(jt.zeros([4, D]))
