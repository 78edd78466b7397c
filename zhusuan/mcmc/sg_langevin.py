"""Langevin samplers: SGLD and preconditioned SGLD (PSGLD).

Upstream ZhuSuan-Jittor's module path ``zhusuan.mcmc.SGLD`` re-exports
:class:`SGLD`.
"""

from __future__ import annotations

import math

import jittor as jt

from ..numerics import const, dtype_name
from .sg_base import SGMCMC, LearningRate, _randn, check_number

__all__ = ["SGLD", "PSGLD"]


class SGLD(SGMCMC):
    r"""Stochastic gradient Langevin dynamics (Welling & Teh, 2011).

    The update of Equation (3) of the paper, for every latent :math:`\theta`:

    .. math::
        \theta_{t+1} = \theta_t + \frac{\eta_t}{2}\,
            \nabla_\theta \log p(\theta_t, x) + \xi_t, \qquad
        \xi_t \sim \mathcal{N}(0, \eta_t I),

    where :math:`\log p(\theta, x)` is ``bn.log_joint()`` (summed over chains;
    for a minibatch, the likelihood node's ``multiplier`` scales it up to the
    full data set, as the paper's :math:`\frac{N}{n}\sum_i` does). Its stationary
    distribution approaches the posterior as :math:`\eta \to 0` (for a Gaussian
    target with precision :math:`\Lambda` and a fixed step it is Gaussian with
    the exact mean and covariance :math:`\Lambda^{-1}(I - \eta\Lambda / 4)^{-1}`);
    the paper decays :math:`\eta_t` polynomially, which ``learning_rate`` as a
    callable expresses.

    Welling, M. and Teh, Y. W. Bayesian learning via stochastic gradient
    Langevin dynamics. ICML 2011.

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta` (> 0), or a function of the update index ``t`` returning it.

    Examples
    --------
    ::

        sampler = zs.mcmc.SGLD(learning_rate=1e-3)
        w = sampler.sample(net, {'x': x, 'y': y}, resample=True)
        for epoch in range(epochs):
            for x, y in minibatches:
                w = sampler.sample(net, {'x': x, 'y': y})
    """

    _aux_keys: tuple[str, ...] = ()

    def __init__(self, learning_rate: LearningRate) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate must be a positive number or a schedule "
                             "(a callable), got None")
        super().__init__(learning_rate)

    def _transition(self, qs, grad_fn, lr):
        grads = grad_fn(qs)
        out = {}
        for name, q in qs.items():
            dt = dtype_name(q)
            out[name] = (q + const(0.5 * lr, dt) * grads[name]
                         + const(math.sqrt(lr), dt) * _randn(q.shape, dt))
        return out, {}


class PSGLD(SGLD):
    r"""Preconditioned SGLD with the RMSprop preconditioner (Li et al., 2016).

    Equations (4) and (5) of the paper, elementwise, with :math:`g_t` the
    gradient of the log joint at :math:`\theta_t` and :math:`V_0 = 0`:

    .. math::
        V_{t+1} &= \beta V_t + (1 - \beta)\, g_t \odot g_t, \\
        G_{t+1} &= 1 \oslash \left(\epsilon + \sqrt{V_{t+1}}\right), \\
        \theta_{t+1} &= \theta_t + \frac{\eta_t}{2}\, G_{t+1} \odot g_t
            + \xi_t, \qquad \xi_t \sim \mathcal{N}(0, \eta_t\,
            \mathrm{diag}(G_{t+1})).

    As in ZhuSuan-TF (and as the paper recommends in practice), the
    correction term :math:`\Gamma(\theta) = \nabla_\theta \cdot G(\theta)`
    is left out. It is small when the preconditioner changes slowly (``decay``
    near 1, or gradient noise dominating :math:`V`); with full-batch
    gradients and a fast-moving :math:`V` (the default ``decay=0.9`` on a
    small model) the preconditioner follows the current position and the
    stationary distribution is visibly wider than the posterior.

    Li, C., Chen, C., Carlson, D. and Carin, L. Preconditioned stochastic
    gradient Langevin dynamics for deep neural networks. AAAI 2016.

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta` (> 0), or a function of the update index ``t``.
    decay : float
        :math:`\beta` in [0, 1), the decay of the moving average of squared
        gradients.
    epsilon : float
        :math:`\epsilon` (> 0), which bounds the preconditioner by
        :math:`1 / \epsilon`.
    """

    _aux_keys = ("v",)

    def __init__(self, learning_rate: LearningRate, decay: float = 0.9,
                 epsilon: float = 1e-3) -> None:
        super().__init__(learning_rate)
        self.decay = check_number("decay", decay, low=0.0, high=1.0, high_open=True)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, low_open=True)

    def _init_aux(self, name, q, lr):
        return {"v": jt.zeros(q.shape, dtype_name(q))}

    def _transition(self, qs, grad_fn, lr):
        grads = grad_fn(qs)
        out, aux = {}, {}
        for name, q in qs.items():
            dt = dtype_name(q)
            g = grads[name]
            v = (const(self.decay, dt) * self._aux[name]["v"]
                 + const(1.0 - self.decay, dt) * g * g)
            precond = const(1.0, dt) / (const(self.epsilon, dt) + v.sqrt())
            out[name] = (q + const(0.5 * lr, dt) * precond * g
                         + (const(lr, dt) * precond).sqrt() * _randn(q.shape, dt))
            aux[name] = {"v": v}
        return out, aux
