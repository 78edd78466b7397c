r"""Autoregressive networks and the inverse autoregressive flow.

:class:`MADE` is a masked MLP whose outputs for dimension :math:`i` depend
only on the inputs before :math:`i` in a fixed order (Germain et al., 2015);
:class:`IAF` uses it for the inverse autoregressive flow of Kingma et al.
(2016) in the form of ZhuSuan-TF's ``inv_autoregressive_flow`` (its
``update='gru'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jittor as jt
import numpy as np
from jittor import nn

from ...numerics import log_sigmoid
from .base import InvertibleTransform, check_trailing, positive_int

__all__ = ["MADE", "IAF"]


class _MaskedLinear(nn.Module):
    """``y = x (W * M) + b`` with a fixed binary mask ``M`` of ``W``'s shape
    ``[in, out]``; initialised like :class:`jittor.nn.Linear`."""

    def __init__(self, mask):
        super().__init__()
        n_in, n_out = mask.shape
        bound = 1.0 / math.sqrt(n_in)
        self.weight = jt.init.uniform((n_in, n_out), "float32", -bound, bound)
        self.bias = jt.init.uniform((n_out,), "float32", -bound, bound)
        self._mask = jt.array(mask.astype(np.float32)).stop_grad()

    def execute(self, x):
        w = self.weight * self._mask.cast(self.weight.dtype)
        return jt.matmul(x, w) + self.bias


def _order(n_dim, input_order):
    if input_order is None or (isinstance(input_order, str)
                               and input_order == "natural"):
        return np.arange(1, n_dim + 1)
    if isinstance(input_order, str):
        if input_order == "reverse":
            return np.arange(n_dim, 0, -1)
        raise ValueError(f"MADE: input_order must be 'natural', 'reverse' or a "
                         f"permutation of 1..{n_dim}, got {input_order!r}")
    order = np.asarray(input_order)
    if order.shape != (n_dim,) or sorted(order.tolist()) != list(range(1, n_dim + 1)):
        raise ValueError(f"MADE: input_order must be a permutation of 1..{n_dim}, "
                         f"got {list(order.tolist()) if order.ndim else order}")
    return order.astype(np.int64)


class MADE(nn.Module):
    r"""Masked autoencoder for distribution estimation (Germain et al., 2015),
    here an autoregressive network with two heads: for an input
    :math:`z \in \mathbb R^D` it returns a shift :math:`\mu(z)` and a
    scale-logit :math:`s(z)`, each of shape ``[..., D]``, where
    :math:`\mu_i, s_i` depend only on :math:`\{z_j : d(j) < d(i)\}` for the
    input degrees :math:`d` (``input_order``, a permutation of
    :math:`1..D`). Hence :math:`\partial \mu_i / \partial z_j = 0` unless
    :math:`d(j) < d(i)`: the Jacobian is strictly triangular in that order.

    Masks: hidden unit :math:`k` of each layer gets degree
    :math:`(k \bmod (D-1)) + 1`; a weight from a unit (or input) of degree
    :math:`a` to a hidden unit of degree :math:`b` is kept when :math:`b \ge
    a`, and to the output of dimension :math:`i` when :math:`d(i) > a`.
    ReLU between the layers; no hidden layer gives a linear autoregressive
    map (ZhuSuan-TF's ``linear_ar``).

    Parameters
    ----------
    n_dim : int
    hidden_dims : sequence of int
        Widths of the hidden layers.
    input_order : None, 'natural', 'reverse' or a permutation of 1..n_dim

    References: M. Germain, K. Gregor, I. Murray, H. Larochelle. MADE: Masked
    Autoencoder for Distribution Estimation. ICML 2015.
    """

    def __init__(self, n_dim: int, hidden_dims: Sequence[int] = (),
                 input_order: Sequence[int] | np.ndarray | None = None) -> None:
        super().__init__()
        if not positive_int(n_dim):
            raise ValueError(f"MADE: n_dim must be a positive int, got {n_dim!r}")
        hidden_dims = list(hidden_dims)
        bad = [h for h in hidden_dims if not positive_int(h)]
        if bad:
            raise ValueError(f"MADE: hidden_dims must be positive ints, got "
                             f"{hidden_dims}")
        self.n_dim = n_dim = int(n_dim)
        hidden_dims = [int(h) for h in hidden_dims]
        self.input_order = _order(n_dim, input_order)
        degrees = [self.input_order]
        for width in hidden_dims:
            degrees.append(np.arange(width) % max(n_dim - 1, 1) + 1)
        layers = []
        for prev, cur in zip(degrees[:-1], degrees[1:], strict=False):
            layers.append(_MaskedLinear(cur[None, :] >= prev[:, None]))
        out_mask = self.input_order[None, :] > degrees[-1][:, None]
        self.hidden = nn.Sequential(*layers)
        self.output = _MaskedLinear(np.concatenate([out_mask, out_mask], axis=1))
        self.activation = nn.ReLU()

    def execute(self, z: jt.Var) -> tuple[jt.Var, jt.Var]:
        """``(shift, scale_logit)``, each of ``z``'s shape."""
        check_trailing(z, [self.n_dim], "MADE")
        shape = list(z.shape)
        h = z.reshape([-1, self.n_dim])
        for layer in self.hidden:
            h = self.activation(layer(h))
        out = self.output(h)
        d = self.n_dim
        return out[:, :d].reshape(shape), out[:, d:].reshape(shape)


class IAF(InvertibleTransform):
    r"""Inverse autoregressive flow (Kingma et al., 2016), as ZhuSuan-TF's
    ``inv_autoregressive_flow(..., update='gru')``; defined from noise to
    data:

    .. math::
        [\mu, s] = \mathrm{MADE}(z), \quad \sigma = \mathrm{sigmoid}(s), \quad
        x = \sigma \odot z + (1 - \sigma) \odot \mu, \quad
        \log\left|\det \frac{\partial x}{\partial z}\right| = \sum_i \log\sigma_i,

    the Jacobian being triangular with diagonal :math:`\sigma` because
    :math:`\mu_i, s_i` depend on :math:`z_{<i}` only. In zhusuan's directions
    this parallel map is the *inverse* (``layer(z, inverse=True)``), with the
    elementwise log-determinant :math:`\log\sigma` (computed as
    ``log_sigmoid(s)``). The forward direction, data to noise, solves
    :math:`z_i = (x_i - (1 - \sigma_i)\mu_i) / \sigma_i` one dimension at a
    time: ``n_dim`` passes of the network, after the :math:`k`-th of which
    the first :math:`k` dimensions (in MADE's order) are exact; its
    log-determinant is :math:`-\log\sigma` at the solution. It is exact (up
    to rounding) but ``n_dim`` times as expensive, so IAF suits densities
    that score their own samples.

    Parameters
    ----------
    n_dim : int
    hidden_dims : sequence of int
        Hidden widths of the default :class:`MADE`.
    made : MADE, optional
        A network to use instead of the default one (``n_dim`` and
        ``hidden_dims`` are then not needed).
    input_order : passed to the default MADE (e.g. ``'reverse'`` for every
        second layer of a stack, in place of ZhuSuan-TF's reversal of ``z``).
    gate_bias : float
        Added to the default MADE's scale-logit bias, so that initially
        :math:`\sigma \approx \mathrm{sigmoid}(2) \approx 0.88` and the layer
        is close to the identity (the paper's recommendation).

    References: D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen,
    I. Sutskever, M. Welling. Improved variational inference with inverse
    autoregressive flow. NeurIPS 2016.
    """

    has_inverse_log_det = True

    def __init__(self, n_dim: int = -1, hidden_dims: Sequence[int] = (),
                 made: MADE | None = None,
                 input_order: Sequence[int] | np.ndarray | None = None,
                 gate_bias: float = 2.0) -> None:
        super().__init__()
        if made is None:
            if not positive_int(n_dim):
                raise ValueError(f"IAF: n_dim must be a positive int (or pass made=), "
                                 f"got {n_dim!r}")
            made = MADE(n_dim, hidden_dims, input_order)
            with jt.no_grad():
                bias = made.output.bias.numpy()
                bias[n_dim:] += gate_bias
                made.output.bias.assign(jt.array(bias))
        else:
            if not isinstance(made, MADE):
                raise TypeError(f"IAF: made must be a MADE, got {type(made).__name__}")
            if n_dim != -1 and n_dim != made.n_dim:
                raise ValueError(f"IAF: n_dim={n_dim} but made.n_dim={made.n_dim}")
            if tuple(hidden_dims) or input_order is not None:
                raise ValueError("IAF: hidden_dims and input_order configure the "
                                 "default MADE; pass them or made, not both")
        self.n_dim = made.n_dim
        self.made = made

    def _inverse(self, z, **kwargs):
        check_trailing(z, [self.n_dim], "IAF")
        mu, s = self.made(z)
        x = jt.sigmoid(s) * z + jt.sigmoid(-s) * mu
        return x, log_sigmoid(s)

    def _forward(self, x, **kwargs):
        check_trailing(x, [self.n_dim], "IAF")
        z = x
        for _ in range(self.n_dim):
            mu, s = self.made(z)
            z = (x - jt.sigmoid(-s) * mu) / jt.sigmoid(s)
        # The last pass read z with its first n_dim - 1 dimensions exact, so
        # its s is s(z) at the solution.
        return z, -log_sigmoid(s)
