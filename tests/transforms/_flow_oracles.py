"""NumPy float64 oracles and finite differences shared by tests/transforms and
tests/flows (tests/flows puts this folder on ``sys.path``).

Every oracle reads a layer's weights back from the module and evaluates the
layer's map with its own NumPy code, never through zhusuan. Log-determinants
come from :func:`fd_log_det`: central differences of a map, then
``numpy.linalg.slogdet`` per sample, so they do not share the closed forms
under test.

Tolerances (used by both test folders)
--------------------------------------
``FD_STEP``, ``FD_LOGDET_ATOL``
    Central differences in float64 with step h = 1e-5. The maps tested are
    smooth (tanh, exp, sigmoid) or piecewise linear (ReLU) with inputs and
    weights of order one: truncation h^2 |f'''| / 6 ~ 2e-11 per Jacobian
    entry, rounding ~ eps |f| / h ~ 1e-10 (|f| <= ~5). Kinks of ReLU do not
    reach the determinant: the layers' Jacobians are triangular up to a
    permutation, the entries that vanish do so exactly under perturbation
    (the masked inputs do not reach them at all), and the diagonal entries
    are affine in the perturbed coordinate. With the Jacobians kept
    well-conditioned (singular values in ~[0.2, 5] by construction), the
    log-determinant error is <= ~||J^-1|| D 1e-10 ~ 3e-9; 1e-7 leaves a
    margin of 30 and is still 1e-5 of a single wrong term (log 2 ~ 0.7 for a
    factor-two error, or a missed tanh of order 0.1).
``RTOL64``, ``ATOL64``
    zhusuan's map against the NumPy oracle in float64: a network of width
    <= 16 and depth <= 4 on inputs of order one, each output a sum of <= 16
    products rounded a few times per layer: <= ~100 eps ~ 2e-14 of values of
    order one. 1e-12 leaves a margin of 50 and is 10^4 below the ~1e-8 of a
    value that took a detour through float32.
``ROUNDTRIP64``
    ``inverse(forward(x))`` in float64: the same rounding as above, plus
    IAF's division by sigma >= ~0.05 (x20) over ``n_dim`` passes: < ~1e-13.
    1e-10 (the figure in the brief) leaves a margin of 1000.
``RTOL32``, ``ATOL32``
    float32 outputs and log-determinants against the float64 evaluation of
    the same layer (weights and inputs rounded to float32 first, so only
    zhusuan's float32 arithmetic is measured): ulp(1) = 1.2e-7, values of
    order <= 5, a few tens of roundings per output through the network (and
    IAF's D passes, each dividing by sigma). Measured over five seeds per
    layer: <= 6.1e-7 (Planar next to its invertibility limit), <= 4.2e-7
    otherwise. 1e-5 relative and absolute leaves a margin of 15 and is
    still 100 times below a float32 model that is actually wrong.
"""

import numpy as np
from jittor import nn

FD_STEP = 1e-5
FD_LOGDET_ATOL = 1e-7
RTOL64 = 1e-12
ATOL64 = 1e-12
ROUNDTRIP64 = 1e-10
RTOL32 = 1e-5
ATOL32 = 1e-5


def npv(v):
    """A Var (or array) as a float64 NumPy array."""
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)


def np_mlp(seq, x):
    """A jittor ``nn.Sequential`` of Linear / ReLU / Tanh layers, in NumPy."""
    h = x
    for layer in seq:
        if isinstance(layer, nn.Linear):
            h = h @ npv(layer.weight).T + npv(layer.bias)
        elif isinstance(layer, nn.Tanh):
            h = np.tanh(h)
        elif isinstance(layer, nn.ReLU):
            h = np.maximum(h, 0.0)
        else:
            raise TypeError(f"no oracle for {type(layer).__name__}")
    return h


def np_additive(layer, x, inverse=False):
    m = npv(layer.mask)
    t = (1 - m) * np_mlp(layer.nn, m * x)
    return x - t if inverse else x + t


def np_affine(layer, x, inverse=False):
    m = npv(layer.mask)
    d = x.shape[-1]
    h = np_mlp(layer.nn, m * x)
    s, t = (1 - m) * np.tanh(h[..., :d]), (1 - m) * h[..., d:]
    return (x - t) * np.exp(-s) if inverse else x * np.exp(s) + t


def np_scaling(layer, x, inverse=False):
    s = npv(layer.log_scale)
    return x * np.exp(-s if inverse else s)


def np_planar_u_hat(w, u):
    wu = w @ u
    return u + (np.logaddexp(0.0, wu) - 1.0 - wu) * w / (w @ w)


def np_planar(layer, z):
    """The planar map, noise to data (zhusuan's inverse direction)."""
    w, u, b = npv(layer.w), npv(layer.u), npv(layer.b)
    return z + np_planar_u_hat(w, u) * np.tanh(z @ w + b)[..., None]


def np_made(made, z):
    """MADE's (shift, scale_logit), with the masks rebuilt from the degrees
    definition (not read from the module)."""
    d = made.n_dim
    order = np.asarray(made.input_order)
    h = z
    prev = order
    for layer in made.hidden:
        w = npv(layer.weight)
        deg = np.arange(w.shape[1]) % max(d - 1, 1) + 1
        mask = (deg[None, :] >= prev[:, None]).astype(np.float64)
        h = np.maximum(h @ (w * mask) + npv(layer.bias), 0.0)
        prev = deg
    w = npv(made.output.weight)
    out_mask = (order[None, :] > prev[:, None]).astype(np.float64)
    out = h @ (w * np.concatenate([out_mask, out_mask], axis=1)) + npv(made.output.bias)
    return out[..., :d], out[..., d:]


def np_iaf(layer, z):
    """IAF's parallel map, noise to data (zhusuan's inverse direction)."""
    mu, s = np_made(layer.made, z)
    sig = 1.0 / (1.0 + np.exp(-s))
    return sig * z + (1 - sig) * mu


def fd_jacobian(fn, x, h=FD_STEP):
    """Per-sample Jacobians ``[B, D, D]`` of a row-wise map ``fn`` of ``[B, D]``
    arrays, by central differences (all perturbations in one call)."""
    b, d = x.shape
    eye = np.eye(d) * h
    pert = np.concatenate([x[None] + eye[:, None, :], x[None] - eye[:, None, :]])
    out = np.asarray(fn(pert.reshape(2 * d * b, d)), np.float64).reshape(2, d, b, d)
    jac = (out[0] - out[1]) / (2 * h)          # [j, b, i] = d f_i / d x_j
    return np.transpose(jac, (1, 2, 0))         # [b, i, j]


def fd_log_det(fn, x, h=FD_STEP):
    """``log|det J|`` per sample of a row-wise map, from :func:`fd_jacobian`."""
    sign, logdet = np.linalg.slogdet(fd_jacobian(fn, x, h))
    assert np.all(sign != 0), "singular finite-difference Jacobian"
    return logdet
