r"""The planar flow of Rezende & Mohamed (2015)."""

from __future__ import annotations

import jittor as jt

from ...numerics import const, dtype_name, softplus
from .base import InvertibleTransform, as_dtype_of, check_trailing, positive_int

__all__ = ["Planar"]


class Planar(InvertibleTransform):
    r"""Planar flow (Rezende & Mohamed, 2015), defined from noise to data:

    .. math::
        x = z + \hat u \tanh(w^\top z + b), \qquad
        \log\left|\det \frac{\partial x}{\partial z}\right|
          = \log\left|1 + \hat u^\top \psi(z)\right|,
        \quad \psi(z) = \left(1 - \tanh^2(w^\top z + b)\right) w,

    along the last axis. The map is invertible when :math:`w^\top \hat u \ge
    -1`; the reparameterisation of the paper's appendix guarantees it for any
    parameter :math:`u`:

    .. math::
        \hat u = u + \left(\mathrm{softplus}(w^\top u) - 1 - w^\top u\right)
                 \frac{w}{\lVert w\rVert^2},
        \qquad w^\top \hat u = \mathrm{softplus}(w^\top u) - 1 > -1,

    so that :math:`1 + \hat u^\top\psi = 1 + (1 - \tanh^2)\, w^\top\hat u > 0`;
    it is computed as :math:`\tanh^2 + (1 - \tanh^2)\,\mathrm{softplus}(w^\top
    u)`, a sum of non-negative terms that does not cancel near the limit.

    In zhusuan's directions (forward = data to noise) this map is the
    *inverse*: ``layer(z, inverse=True)`` returns ``(x, log_det)`` with the
    per-sample log-determinant above (shape: the input's without its last
    axis). Its forward direction, :math:`x \mapsto z`, has no closed form and
    raises NotImplementedError: use a planar flow where only samples are
    scored (a variational :class:`~zhusuan.flows.Flow` node, whose samples
    are scored with the inverse's log-determinant).

    Parameters ``w`` and ``u`` (shape ``[n_dim]``) start from
    :math:`\mathcal N(0, 0.01^2)`, ``b`` (shape ``[1]``) at 0, so the layer
    starts near the identity.

    References: D. J. Rezende, S. Mohamed. Variational inference with
    normalizing flows. ICML 2015.
    """

    has_inverse_log_det = True

    def __init__(self, n_dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        if not positive_int(n_dim):
            raise ValueError(f"Planar: n_dim must be a positive int, got {n_dim!r}")
        self.n_dim = n_dim = int(n_dim)
        self.w = jt.init.gauss([n_dim], "float32", 0.0, init_std)
        self.u = jt.init.gauss([n_dim], "float32", 0.0, init_std)
        self.b = jt.zeros([1], dtype="float32")

    @property
    def u_hat(self) -> jt.Var:
        """:math:`\\hat u`, the reparameterised ``u`` (``w^T u_hat > -1``)."""
        return _u_hat(self.w, self.u)[0]

    def _forward(self, x, **kwargs):
        raise NotImplementedError(
            "Planar: the data -> noise direction (forward) has no closed form; a "
            "planar flow is defined noise -> data, i.e. layer(z, inverse=True), and "
            "suits densities that only score their own samples (a variational Flow "
            "node)")

    def _inverse(self, z, **kwargs):
        check_trailing(z, [self.n_dim], "Planar")
        dt = dtype_name(z)
        w, u, b = (as_dtype_of(p, z) for p in (self.w, self.u, self.b))
        u_hat, sp = _u_hat(w, u)
        h = jt.tanh((z * w).sum(dim=-1, keepdims=True) + b)
        x = z + u_hat * h
        # 1 + (1 - h^2) w^T u_hat with w^T u_hat = softplus(w^T u) - 1, written
        # as a sum of non-negative terms: near the invertibility limit
        # (w^T u_hat -> -1) the direct form cancels catastrophically.
        h2 = h * h
        log_det = jt.log(h2 + (const(1.0, dt) - h2) * sp)
        return x, log_det.squeeze(-1) if len(z.shape) > 1 else log_det


# Smallest positive normal numbers (np.finfo warns under Jittor's
# flush-to-zero mode, see zhusuan/numerics.py).
_TINY = {"float32": 2.0**-126, "float64": 2.0**-1022}


def _u_hat(w, u):
    """(u_hat, w^T u_hat + 1), the latter softplus(w^T u), or 1 if w = 0."""
    dt = dtype_name(w)
    wu = (w * u).sum()
    ww = (w * w).sum()
    # w = 0 exactly: the map is a shift, u_hat = u (0 * (...) / tiny) and
    # w^T u_hat = 0.
    nonzero = ww > const(0.0, dt)
    ww = jt.maximum(ww, const(_TINY[dt], dt))
    sp = softplus(wu)
    u_hat = u + (sp - const(1.0, dt) - wu) * w / ww
    return u_hat, jt.ternary(nonzero, sp, jt.ones_like(sp))
