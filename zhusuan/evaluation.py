"""Evaluation: importance-sampled log-likelihood."""

import math

import jittor as jt
import numpy as np

from .variational.exclusive_kl import run_pair

__all__ = ["is_loglikelihood"]


def is_loglikelihood(generator, variational, observed, n_samples=1000, chunk_size=None):
    r"""Importance-sampled estimate of :math:`\log p(x)`, one per data point.

    .. math::
        \log p(x) \approx \log \frac1k \sum_{i=1}^k
        \frac{p(x, z_i)}{q(z_i \mid x)}, \qquad z_i \sim q(z \mid x)

    The nets may be written in the tutorial's style (no ``n_samples``,
    reductions over the batch axis in ``reduce_mean_dims``): the estimator
    asks the variational net's latent nodes for particles along a new leading
    axis, and every node leaves its reductions over the data batch axis
    (axis 0 of its log-density) to the estimator (docs/design.md, "Particles").

    Particles are drawn ``chunk_size`` at a time (default: as many as keep
    about 2^22 elements of the widest node per chunk), and combined with a
    log-sum-exp in float64, so k = 1000 fits in memory.

    Parameters
    ----------
    generator, variational : BayesianNet
    observed : dict
        Observed values; the first axis of each is the data batch axis.
    n_samples : int
        Number of importance samples ``k`` per data point.
    chunk_size : int, optional
        Particles per chunk.

    Returns
    -------
    numpy.ndarray of float64, shape [batch]
    """
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if chunk_size is None:
        width = max(int(np.prod(v.shape)) for v in observed.values()) if observed else 1
        chunk_size = max(1, min(n_samples, (1 << 22) // max(width, 1)))
    parts = []
    done = 0
    with jt.no_grad():
        while done < n_samples:
            k = min(chunk_size, n_samples - done)
            log_p, log_q, _ = run_pair(generator, variational, observed, k,
                                       per_point=True)
            log_w = (log_p - log_q).numpy().astype(np.float64)
            parts.append(log_w.reshape(k, -1))
            done += k
            jt.sync_all()
            jt.gc()
    log_w = np.concatenate(parts, axis=0)
    m = log_w.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.exp(log_w - m).sum(axis=0)) + m - math.log(n_samples)
