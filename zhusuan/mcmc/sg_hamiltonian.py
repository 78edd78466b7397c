"""Samplers with momentum: SGHMC and the Nosé-Hoover thermostat SGNHT.

Both follow ZhuSuan-TF's parameterisation (``zhusuan/sgmcmc.py``), in which
the momentum :math:`v` is measured in units of position per step: the
learning rate :math:`\\eta` plays the role of :math:`\\epsilon^2` (step size
squared, unit mass), so :math:`v \\sim \\mathcal{N}(0, \\eta I)` at equilibrium
and ``learning_rate`` does not scale like SGLD's. Both offer the symmetric
splitting ("second-order") integrator of Chen, Ding and Carin (2015).
"""

from __future__ import annotations

import math

import jittor as jt

from ..numerics import const, dtype_name
from .sg_base import (
    SGMCMC,
    LearningRate,
    _randn,
    check_bool,
    check_number,
    check_resample_period,
)

__all__ = ["SGHMC", "SGNHT"]


def _momentum(q, lr):
    """A fresh momentum ~ N(0, lr I) shaped like ``q``."""
    dt = dtype_name(q)
    return const(math.sqrt(lr), dt) * _randn(q.shape, dt)


class _Momentum(SGMCMC):
    """What SGHMC and SGNHT share: the learning rate check, the momentum and
    its periodic resampling."""

    def __init__(self, learning_rate: LearningRate, n_iter_resample_v: int | None,
                 second_order: bool) -> None:
        if learning_rate is None:
            raise ValueError("learning_rate must be a positive number or a schedule "
                             "(a callable), got None")
        super().__init__(learning_rate)
        self.n_iter_resample_v = check_resample_period("n_iter_resample_v",
                                                       n_iter_resample_v)
        self.second_order = check_bool("second_order", second_order)

    def _old_momenta(self, qs, lr):
        """The momenta this update starts from: resampled from N(0, lr I)
        every ``n_iter_resample_v`` updates (at t = 0, n, 2n, ...)."""
        n = self.n_iter_resample_v
        if n and self.t % n == 0:
            return {name: _momentum(q, lr) for name, q in qs.items()}
        return {name: self._aux[name]["v"] for name in qs}

    def _noise(self, q, variance):
        if variance == 0.0:
            return None
        dt = dtype_name(q)
        return const(math.sqrt(variance), dt) * _randn(q.shape, dt)


class SGHMC(_Momentum):
    r"""Stochastic gradient Hamiltonian Monte Carlo (Chen, Fox and Guestrin, 2014).

    Equation (15) of the paper, in ZhuSuan-TF's parameterisation: with
    :math:`g(\theta)` the gradient of the log joint, :math:`\alpha` the
    friction, :math:`\hat\beta` the estimate of the gradient noise and
    :math:`n_t \sim \mathcal{N}(0, 2(\alpha - \hat\beta)\eta_t I)`, the
    first-order integrator is

    .. math::
        v_{t+1} &= (1 - \alpha)\, v_t + \eta_t\, g(\theta_t) + n_t, \\
        \theta_{t+1} &= \theta_t + v_{t+1},

    and the second-order (symmetric splitting) integrator of Chen, Ding and
    Carin (2015), the default, is

    .. math::
        \theta' &= \theta_t + v_t / 2, \\
        v_{t+1} &= e^{-\alpha/2}\left(e^{-\alpha/2}\, v_t + \eta_t\, g(\theta')
            + n_t\right), \\
        \theta_{t+1} &= \theta' + v_{t+1} / 2.

    The momentum starts from :math:`\mathcal{N}(0, \eta_0 I)` and is redrawn
    from :math:`\mathcal{N}(0, \eta_t I)` at the start of updates
    :math:`t = 0, n, 2n, \dots` for ``n = n_iter_resample_v``.

    Chen, T., Fox, E. and Guestrin, C. Stochastic gradient Hamiltonian Monte
    Carlo. ICML 2014. Chen, C., Ding, N. and Carin, L. On the convergence of
    stochastic gradient MCMC algorithms with high-order integrators. NIPS 2015.

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta` (> 0), or a function of the update index ``t``. It is
        :math:`O(\epsilon^2)` for a step size :math:`\epsilon`, so it does not
        scale like SGLD's; decrease it if the chain produces NaN.
    friction : float
        :math:`\alpha` in (0, 1]: decays the momentum and sets the injected
        noise. Larger values damp the effect of gradient noise (the
        stationary distribution gets closer to the posterior) but mix more
        slowly.
    variance_estimate : float
        :math:`\hat\beta` in [0, ``friction``): an estimate of the gradient
        noise's contribution, subtracted from the injected noise. Leave it at
        0 if the gradient variance is hard to estimate.
    n_iter_resample_v : int or None
        Redraw the momentum every this many updates; ``None`` or 0 never.
        Frequent redraws bring the stationary distribution closer to the
        posterior but slow the mixing.
    second_order : bool
        Use the second-order integrator above instead of the first-order one.
    """

    _aux_keys = ("v",)

    def __init__(self, learning_rate: LearningRate, friction: float = 0.25,
                 variance_estimate: float = 0.0, n_iter_resample_v: int | None = 20,
                 second_order: bool = True) -> None:
        super().__init__(learning_rate, n_iter_resample_v, second_order)
        self.friction = check_number("friction", friction, low=0.0, high=1.0,
                                     low_open=True)
        self.variance_estimate = check_number("variance_estimate", variance_estimate,
                                              low=0.0)
        if self.variance_estimate >= self.friction:
            raise ValueError(f"variance_estimate must be smaller than friction, got "
                             f"variance_estimate={variance_estimate!r} >= "
                             f"friction={friction!r}")

    def _init_aux(self, name, q, lr):
        return {"v": _momentum(q, lr)}

    def _transition(self, qs, grad_fn, lr):
        alpha = self.friction
        noise_var = 2.0 * (alpha - self.variance_estimate) * lr
        old_v = self._old_momenta(qs, lr)
        if self.second_order:
            half = {k: (q + const(0.5, dtype_name(q)) * old_v[k]).detach()
                    for k, q in qs.items()}
            grads = grad_fn(half)
        else:
            grads = grad_fn(qs)
        out, aux = {}, {}
        for name, q in qs.items():
            dt = dtype_name(q)
            kick = const(lr, dt) * grads[name]
            noise = self._noise(q, noise_var)
            if noise is not None:
                kick = kick + noise
            if self.second_order:
                decay = const(math.exp(-0.5 * alpha), dt)
                v = decay * (decay * old_v[name] + kick)
                out[name] = half[name] + const(0.5, dt) * v
            else:
                v = const(1.0 - alpha, dt) * old_v[name] + kick
                out[name] = q + v
            aux[name] = {"v": v}
        return out, aux


class SGNHT(_Momentum):
    r"""Stochastic gradient Nosé-Hoover thermostat (Ding et al., 2014).

    SGHMC whose friction :math:`\alpha` is a dynamic variable (the
    thermostat), tuned so that the mean kinetic energy per coordinate,
    :math:`\overline{v^2}`, stays at its equilibrium value :math:`\eta`; it
    absorbs the unknown gradient noise. Algorithm 2 of the paper's supplement
    in ZhuSuan-TF's parameterisation: with :math:`a` the extra noise
    (``variance_extra``), :math:`\gamma` the ``tune_rate`` and
    :math:`n_t \sim \mathcal{N}(0, 2 a \eta_t I)`, the first-order integrator is

    .. math::
        v_{t+1} &= (1 - \alpha_t) \odot v_t + \eta_t\, g(\theta_t) + n_t, \\
        \theta_{t+1} &= \theta_t + v_{t+1}, \\
        \alpha_{t+1} &= \alpha_t + \gamma\,(\overline{v_{t+1}^2} - \eta_t),

    and the second-order integrator (Chen, Ding and Carin, 2015), the default:

    .. math::
        \theta' &= \theta_t + v_t / 2, \qquad
        \alpha' = \alpha_t + \tfrac{\gamma}{2}(\overline{v_t^2} - \eta_t), \\
        v_{t+1} &= e^{-\alpha'/2} \odot \left(e^{-\alpha'/2} \odot v_t
            + \eta_t\, g(\theta') + n_t\right), \\
        \theta_{t+1} &= \theta' + v_{t+1} / 2, \qquad
        \alpha_{t+1} = \alpha' + \tfrac{\gamma}{2}(\overline{v_{t+1}^2} - \eta_t).

    :math:`\overline{v^2}` is :math:`v \odot v` itself with a vector
    thermostat (one friction per coordinate) and its mean over every
    coordinate of the latent (a chain axis included: one thermostat shared by
    all chains) with a scalar one. :math:`\alpha_0 = a` and the momentum
    starts from :math:`\mathcal{N}(0, \eta_0 I)`.

    With ``variance_extra=0`` (ZhuSuan-TF's default) no noise is injected and
    all randomness comes from the stochastic gradients: with full-batch
    gradients the dynamics are deterministic. Give ``variance_extra > 0`` to
    sample with exact gradients.

    Ding, N., Fang, Y., Babbush, R., Chen, C., Skeel, R. D. and Neven, H.
    Bayesian sampling using stochastic gradient thermostats. NIPS 2014.

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta` (> 0), or a function of the update index ``t``; scales like
        SGHMC's (:math:`O(\epsilon^2)`).
    variance_extra : float
        :math:`a \ge 0`, the injected noise, also the initial friction.
    tune_rate : float
        :math:`\gamma > 0`, how fast the friction is tuned (1 in the paper).
    n_iter_resample_v : int or None
        Redraw the momentum every this many updates; ``None`` or 0 never.
    second_order : bool
        Use the second-order integrator.
    use_vector_alpha : bool
        One friction per coordinate (True) or one per latent (False).
    """

    _aux_keys = ("v", "alpha")

    def __init__(self, learning_rate: LearningRate, variance_extra: float = 0.0,
                 tune_rate: float = 1.0, n_iter_resample_v: int | None = None,
                 second_order: bool = True, use_vector_alpha: bool = True) -> None:
        super().__init__(learning_rate, n_iter_resample_v, second_order)
        self.variance_extra = check_number("variance_extra", variance_extra, low=0.0)
        self.tune_rate = check_number("tune_rate", tune_rate, low=0.0, low_open=True)
        self.use_vector_alpha = check_bool("use_vector_alpha", use_vector_alpha)

    def _init_aux(self, name, q, lr):
        dt = dtype_name(q)
        shape = q.shape if self.use_vector_alpha else [1]
        alpha = jt.zeros(shape, dt) + const(self.variance_extra, dt)
        return {"v": _momentum(q, lr), "alpha": alpha}

    def _kinetic(self, v):
        """Mean kinetic energy per coordinate (v^2, or its mean over v)."""
        return v * v if self.use_vector_alpha else (v * v).mean().reshape([1])

    def _transition(self, qs, grad_fn, lr):
        noise_var = 2.0 * self.variance_extra * lr
        old_v = self._old_momenta(qs, lr)
        if self.second_order:
            half = {k: (q + const(0.5, dtype_name(q)) * old_v[k]).detach()
                    for k, q in qs.items()}
            grads = grad_fn(half)
        else:
            grads = grad_fn(qs)
        out, aux = {}, {}
        for name, q in qs.items():
            dt = dtype_name(q)
            eta = const(lr, dt)
            rate = const(self.tune_rate, dt)
            alpha = self._aux[name]["alpha"]
            kick = eta * grads[name]
            noise = self._noise(q, noise_var)
            if noise is not None:
                kick = kick + noise
            if self.second_order:
                half_rate = const(0.5 * self.tune_rate, dt)
                alpha = alpha + half_rate * (self._kinetic(old_v[name]) - eta)
                decay = (const(-0.5, dt) * alpha).exp()
                v = decay * (decay * old_v[name] + kick)
                out[name] = half[name] + const(0.5, dt) * v
                alpha = alpha + half_rate * (self._kinetic(v) - eta)
            else:
                v = (const(1.0, dt) - alpha) * old_v[name] + kick
                out[name] = q + v
                alpha = alpha + rate * (self._kinetic(v) - eta)
            aux[name] = {"v": v, "alpha": alpha}
        return out, aux
