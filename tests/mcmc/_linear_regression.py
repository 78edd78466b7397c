"""The conjugate linear regression the SG-MCMC tests sample from, its closed
forms, and the exact moments of a linear sampler's chain.

Model: w ~ N(0, SW^2 I_D), y_i | w ~ N(x_i^T w, S^2), i = 1..N. Posterior:
precision Lam = X^T X / S^2 + I / SW^2, covariance Sig = Lam^{-1}, mean
mu = Sig X^T y / S^2, so the gradient of the log joint is -Lam (w - mu).

For such a gradient, one update of SGLD or SGHMC (either integrator) is a
linear map of the state z = (w - mu, momentum) plus Gaussian noise,
z' = M z + B n. The mean and covariance of z_t then follow exactly from
those of z_0 (propagate()); averaging them over the kept updates gives the
exact expectation of the pooled sample moments of the discretised chain,
burn-in included. Its distance from (mu, diag Sig) is the bias of the test.
"""

import numpy as np

# isort: off
import zhusuan as zs  # (must precede the first ``import jittor``)
import jittor as jt

# isort: on

N, D = 30, 3
SW, S = 1.0, 1.0  # prior and noise standard deviations
# Per-step cost is mostly fixed overhead at this size, so many chains and
# few steps give the smallest error per second.
N_CHAINS = 1024


def regression_data():
    """Fixed data (not drawn from the test's seed: the step sizes of the
    tests are chosen for this posterior). Features share a common factor
    (correlation 0.3), so the posterior covariance is not diagonal."""
    rng = np.random.default_rng(20240601)
    x = np.sqrt(0.7) * rng.normal(size=(N, D)) + np.sqrt(0.3) * rng.normal(size=(N, 1))
    y = x @ rng.normal(size=D) + S * rng.normal(size=N)
    return x, y


def posterior(x, y):
    lam = x.T @ x / S**2 + np.eye(x.shape[1]) / SW**2
    sig = np.linalg.inv(lam)
    return sig @ x.T @ y / S**2, sig, lam


class LinearRegression(zs.BayesianNet):
    """``n_chains`` independent copies of the model along a leading axis.

    ``x`` is [n, D] (shared by the chains) or [n_chains, n, D] (a minibatch
    per chain); ``y`` is [n_chains, n]. ``multiplier`` scales the likelihood
    of a minibatch up to the data set.
    """

    def __init__(self, n_chains=N_CHAINS, dtype="float32", multiplier=None):
        super().__init__()
        self.n_chains = n_chains
        self.dtype = dtype
        self.multiplier = multiplier

    def execute(self, observed):
        self.observe(observed)
        w = self.sn("Normal", name="w", mean=jt.zeros([self.n_chains, D], self.dtype),
                    std=SW, group_ndims=1)
        x = self.observed["x"]
        # A broadcast product, not jt.matmul: Jittor's CPU matmul costs about
        # 8 ms per step here against under 1 ms for this.
        mean = (w.unsqueeze(1) * x).sum(-1)
        self.sn("Normal", name="y", mean=mean, std=S, group_ndims=1,
                multiplier=self.multiplier)
        return self


def observed(x, y, n_chains=N_CHAINS, dtype="float32"):
    y = np.broadcast_to(y, (n_chains,) + y.shape[-1:]) if y.ndim == 1 else y
    return {"x": zs.numerics.as_var(np.asarray(x, dtype)),
            "y": zs.numerics.as_var(np.ascontiguousarray(y, dtype))}


def chain_statistics(draws):
    """Pooled mean and variance of each coordinate with their standard errors.

    ``draws`` is [n_kept, n_chains, D]. The chains are independent, so each
    chain's time average is one independent estimate: the standard errors are
    batch means with one batch per chain (they account for the
    autocorrelation within a chain). The variance is the pooled second
    moment about the pooled mean; its per-chain terms share that mean, which
    changes them by O(1 / n_chains) of the error.
    """
    draws = np.asarray(draws, np.float64)
    n_chains = draws.shape[1]
    mean = draws.mean((0, 1))
    per_chain_mean = draws.mean(0)
    per_chain_var = ((draws - mean) ** 2).mean(0)
    return (mean, per_chain_mean.std(0, ddof=1) / np.sqrt(n_chains),
            per_chain_var.mean(0), per_chain_var.std(0, ddof=1) / np.sqrt(n_chains))


def propagate(m, p, step, n_steps, burn_in, before=None):
    """Exact moments of the pooled samples of a linear-Gaussian chain.

    ``m``, ``p``: mean and covariance of the state before the first update.
    ``step(t)`` returns ``(M, Q)``: the update z' = M z + noise with noise
    covariance Q. ``before(t, m, p)`` may replace the moments at the start of
    update t (momentum resampling). Returns the expectation of the pooled
    mean and of the pooled covariance over updates ``burn_in .. n_steps - 1``
    (the covariance includes the spread of the means over time; the O(1/n)
    variance of the pooled mean itself is left out).
    """
    ms, ps = [], []
    for t in range(n_steps):
        if before is not None:
            m, p = before(t, m, p)
        mat, q = step(t)
        m = mat @ m
        p = mat @ p @ mat.T + q
        if t >= burn_in:
            ms.append(m)
            ps.append(p)
    ms, ps = np.array(ms), np.array(ps)
    mbar = ms.mean(0)
    dev = ms - mbar
    return mbar, ps.mean(0) + (dev[:, :, None] * dev[:, None, :]).mean(0)


def sgld_map(lam, lr, precond=None):
    """SGLD (or preconditioned SGLD with a fixed diagonal ``precond``) on
    z = w - mu: z' = (I - lr/2 G Lam) z + N(0, lr G)."""
    g = np.ones(len(lam)) if precond is None else np.asarray(precond)
    return np.eye(len(lam)) - 0.5 * lr * g[:, None] * lam, lr * np.diag(g)


def sghmc_map(lam, lr, friction, noise_var, second_order):
    """One SGHMC update on z = (w - mu, v) with gradient -Lam (w - mu) and
    noise n ~ N(0, noise_var I), as the formulas of zs.mcmc.SGHMC say."""
    d = len(lam)
    eye = np.eye(d)
    if second_order:
        # w' = w + v/2; v_new = e (e v - lr Lam w' + n); w_new = w' + v_new/2
        e = np.exp(-0.5 * friction)
        vw, vv, vn = -e * lr * lam, e * e * eye - 0.5 * e * lr * lam, e * eye
        ww, wv, wn = eye + 0.5 * vw, 0.5 * eye + 0.5 * vv, 0.5 * vn
    else:
        # v_new = (1 - a) v - lr Lam w + n; w_new = w + v_new
        vw, vv, vn = -lr * lam, (1.0 - friction) * eye, eye
        ww, wv, wn = eye + vw, vv, vn
    mat = np.block([[ww, wv], [vw, vv]])
    b = np.vstack([wn, vn])
    return mat, noise_var * b @ b.T


def resample_momentum(period, lr, d):
    """``before`` hook: momentum redrawn from N(0, lr I) at t = 0, period, ..."""
    def before(t, m, p):
        if period and t % period == 0:
            m, p = m.copy(), p.copy()
            m[d:] = 0.0
            p[d:, :] = 0.0
            p[:, d:] = 0.0
            p[d:, d:] = lr * np.eye(d)
        return m, p
    return before
