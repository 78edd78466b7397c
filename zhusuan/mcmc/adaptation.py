"""Warm-up adaptation of Hamiltonian samplers: step size and mass matrix.

Everything here works on NumPy arrays with a leading chain axis, so that
every chain adapts its own step size and mass matrix (vectorised, no loop
over chains):

* :class:`DualAveraging`: the step-size adaptation of Hoffman & Gelman (2014,
  Algorithm 5, Section 3.2), driving the mean acceptance statistic of each
  chain to a target.
* :class:`WelfordCovariance`: Welford's one-pass (co)variance of each chain's
  draws (Knuth, TAOCP vol. 2), with Stan's regularisation towards a small
  multiple of the identity.
* :class:`WarmupSchedule`: Stan's windowed warm-up (Stan Reference Manual,
  "HMC algorithm parameters", "Automatic parameter tuning"): an initial fast
  interval (step size only), slow windows that double in length (the mass
  matrix is estimated from the draws of each and set at its end, the step
  size restarted), and a terminal fast interval (step size only).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DualAveraging", "WelfordCovariance", "WarmupSchedule"]


class DualAveraging:
    r"""Nesterov's dual averaging, as Hoffman & Gelman (2014) use it for the
    step size :math:`\epsilon` of each chain.

    With :math:`\alpha_t` the acceptance statistic of iteration :math:`t \ge 1`
    and :math:`\delta` the target,

    .. math::
        \bar H_t &= \Big(1 - \frac{1}{t + t_0}\Big) \bar H_{t-1}
                  + \frac{\delta - \alpha_t}{t + t_0}, \\
        \log\epsilon_{t+1} &= \mu - \frac{\sqrt t}{\gamma} \bar H_t, \\
        \log\bar\epsilon_{t+1} &= t^{-\kappa}\log\epsilon_{t+1}
                  + (1 - t^{-\kappa}) \log\bar\epsilon_t,

    with :math:`\mu = \log(10\,\epsilon_0)`, :math:`\bar H_0 = 0` and
    :math:`\log\bar\epsilon_1 = 0`. :math:`\epsilon_{t+1}` is used during the
    warm-up, :math:`\bar\epsilon` (the weighted average) after it.

    Parameters
    ----------
    step_size : array [n_chains]
        :math:`\epsilon_0` of each chain (sets :math:`\mu`).
    target, gamma, t0, kappa : float
        :math:`\delta`, :math:`\gamma`, :math:`t_0`, :math:`\kappa`.
    """

    def __init__(self, step_size, target=0.8, gamma=0.05, t0=10.0, kappa=0.75):
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.restart(step_size)

    def restart(self, step_size, mask=None):
        """Start afresh from ``step_size`` (the chains in ``mask``, or all)."""
        step_size = np.asarray(step_size, np.float64)
        fresh = {"mu": np.log(10.0 * step_size), "h_bar": np.zeros_like(step_size),
                 "log_step": np.log(step_size), "log_avg": np.zeros_like(step_size),
                 "t": np.zeros_like(step_size)}
        if mask is None or not hasattr(self, "mu"):
            for k, v in fresh.items():
                setattr(self, k, v)
            return
        for k, v in fresh.items():
            getattr(self, k)[mask] = v[mask]

    def update(self, accept_stat, mask=None):
        """One iteration for the chains in ``mask`` (default: all) with
        acceptance statistics ``accept_stat``; returns :math:`\\epsilon_{t+1}`
        of every chain."""
        a = np.nan_to_num(np.asarray(accept_stat, np.float64), nan=0.0)
        m = np.ones_like(self.t, bool) if mask is None else np.asarray(mask, bool)
        t = self.t + m
        w = np.where(m, 1.0 / (t + self.t0), 0.0)
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - a)
        log_step = self.mu - np.sqrt(t) / self.gamma * self.h_bar
        eta = np.where(m, np.power(np.maximum(t, 1.0), -self.kappa), 0.0)
        self.log_avg = eta * log_step + (1.0 - eta) * self.log_avg
        self.log_step = np.where(m, log_step, self.log_step)
        self.t = t
        return self.step_size

    @property
    def step_size(self):
        """:math:`\\epsilon_{t+1}`, clipped to the finite positive float64 range."""
        return _clip_step(np.exp(self.log_step))

    @property
    def final_step_size(self):
        """:math:`\\bar\\epsilon`: the step size after the warm-up (chains that
        never updated keep their current one)."""
        avg = np.where(self.t > 0, self.log_avg, self.log_step)
        return _clip_step(np.exp(avg))

    def state(self):
        return {k: getattr(self, k).copy() for k in ("mu", "h_bar", "log_step",
                                                      "log_avg", "t")}

    def load(self, state):
        for k, v in state.items():
            setattr(self, k, np.array(v, np.float64))


# float64's smallest normal and largest finite numbers (np.finfo warns on some
# machines whose floating-point state flushes subnormals).
_TINY, _HUGE = 2.2250738585072014e-308, 1.7976931348623157e308


def _clip_step(step):
    return np.clip(step, _TINY, _HUGE)


class WelfordCovariance:
    """Welford's running mean and (co)variance of each chain's draws.

    ``update(x)`` with ``x`` of shape [n_chains, dim]; ``covariance()`` returns
    [n_chains, dim] (diagonal) or [n_chains, dim, dim] (dense), the unbiased
    estimate (divisor n - 1), regularised as Stan does:

    .. math:: \\hat\\Sigma = \\frac{n}{n + 5}\\,S + 10^{-3}\\,\\frac{5}{n + 5}\\,I.
    """

    def __init__(self, n_chains, dim, dense=False):
        self.dense = bool(dense)
        self.n = 0
        self.mean = np.zeros((n_chains, dim))
        self.m2 = np.zeros((n_chains, dim, dim) if dense else (n_chains, dim))

    def update(self, x):
        x = np.asarray(x, np.float64)
        self.n += 1
        delta = x - self.mean
        self.mean = self.mean + delta / self.n
        after = x - self.mean
        if self.dense:
            self.m2 = self.m2 + delta[:, :, None] * after[:, None, :]
        else:
            self.m2 = self.m2 + delta * after

    def covariance(self, regularize=True):
        n = self.n
        if n < 2:
            raise ValueError("WelfordCovariance needs at least two draws")
        cov = self.m2 / (n - 1)
        if self.dense:
            cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))  # exact symmetry
        if regularize:
            shrink = 1e-3 * 5.0 / (n + 5.0)
            cov = (n / (n + 5.0)) * cov
            if self.dense:
                cov = cov + shrink * np.eye(cov.shape[-1])
            else:
                cov = cov + shrink
        return cov

    def state(self):
        return {"n": np.array(self.n), "mean": self.mean.copy(), "m2": self.m2.copy()}

    def load(self, state):
        self.n = int(np.asarray(state["n"]))
        self.mean = np.array(state["mean"], np.float64)
        self.m2 = np.array(state["m2"], np.float64)


class WarmupSchedule:
    """Stan's windowed warm-up of ``n_warmup`` iterations (0-based).

    Iterations ``[0, init_buffer)`` adapt the step size only; the slow windows
    that follow (``base_window`` long, each next one twice as long, the last
    stretched to end where the terminal buffer begins) also collect draws for
    the mass matrix, which is set at the end of each window; the last
    ``term_buffer`` iterations adapt the step size only. When the three do not
    fit, they become 15%, 75% and 10% of the warm-up; below 20 iterations
    there is no mass-matrix window at all (Stan's rules, including its
    window-stretching rule).

    ``n_warmup=None`` is an open-ended warm-up (for samplers driven by
    :meth:`HMC.sample` whose adaptation the caller switches off by hand): the
    initial buffer, then doubling slow windows without end.
    """

    def __init__(self, n_warmup, init_buffer=75, term_buffer=50, base_window=25):
        self.n_warmup = n_warmup
        if n_warmup is None:
            self.init_buffer, self.term_buffer = init_buffer, 0
            self.base_window = base_window
            self._windows = []
            return
        n = int(n_warmup)
        if n < 20:
            self.init_buffer, self.term_buffer, self.base_window = n, 0, 0
            self._windows = []
            return
        if init_buffer + base_window + term_buffer > n:
            init_buffer = int(0.15 * n)
            term_buffer = int(0.1 * n)
            base_window = n - (init_buffer + term_buffer)
        self.init_buffer, self.term_buffer = init_buffer, term_buffer
        self.base_window = base_window
        # Stan's windowed_adaptation::compute_next_window, unrolled.
        windows = []
        last = n - term_buffer - 1
        size = base_window
        end = init_buffer + size - 1
        start = init_buffer
        while True:
            windows.append((start, end))
            if end == last:
                break
            start = end + 1
            size *= 2
            end = start + size - 1
            if end != last and end + 2 * size >= n - term_buffer:
                end = last
        self._windows = windows

    def _extend(self, t):
        """Open-ended schedule: make sure the windows cover iteration t."""
        if self.n_warmup is not None:
            return
        if not self._windows:
            self._windows.append((self.init_buffer,
                                  self.init_buffer + self.base_window - 1))
        while self._windows[-1][1] < t:
            start, end = self._windows[-1]
            size = 2 * (end - start + 1)
            self._windows.append((end + 1, end + size))

    @property
    def windows(self):
        """The slow windows as inclusive ``(start, end)`` pairs (for an
        open-ended schedule: those generated so far)."""
        return list(self._windows)

    def in_warmup(self, t):
        return self.n_warmup is None or t < self.n_warmup

    def in_slow_window(self, t):
        """Whether the draw after iteration ``t`` goes into the mass matrix."""
        if t < self.init_buffer or not self.in_warmup(t):
            return False
        self._extend(t)
        return any(s <= t <= e for s, e in self._windows)

    def ends_slow_window(self, t):
        """Whether iteration ``t`` is the last of a slow window."""
        if not self.in_warmup(t):
            return False
        self._extend(t)
        return any(e == t for _, e in self._windows)
