r"""Convergence diagnostics and posterior summaries of MCMC draws.

Draws are arrays of shape ``[n_draws, n_chains, *element_shape]``, as
:meth:`zhusuan.mcmc.HMC.run` (and :meth:`~zhusuan.mcmc.SGMCMC.run` for
several chains) return them; every diagnostic is computed per element.

The definitions are those of Vehtari, Gelman, Simpson, Carpenter and
Bürkner (2021), "Rank-normalization, folding, and localization: an improved
R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2), as Stan
and ArviZ compute them:

* chains are split in halves (the middle draw of an odd length is dropped)
  so that a trend within a chain shows as disagreement between halves;
* rank normalisation: the pooled draws are ranked (ties get their average
  rank :math:`r`) and mapped to :math:`\Phi^{-1}((r - 3/8) / (S + 1/4))`
  (Blom's offsets, S the number of draws);
* split R-hat :math:`\hat R = \sqrt{(\frac{n-1}{n} W + \frac1n B) / W}` with
  W the mean within-chain variance and B/n the variance of the chain means;
  the rank R-hat is the larger of the R-hats of the rank-normalised draws
  (bulk) and of the rank-normalised folded draws :math:`|x - \mathrm{median}|`
  (tails);
* effective sample size :math:`S / \hat\tau` with
  :math:`\hat\tau = -1 + 2\sum_{t=0}^{K}\hat P_t + \hat\rho_{K+1}`, the
  autocorrelations :math:`\hat\rho_t = 1 - (W - \overline{\gamma_t}) /
  \widehat{\mathrm{var}}^+` combined over chains, truncated by Geyer's initial
  positive sequence on the pair sums :math:`\hat P_k = \hat\rho_{2k} +
  \hat\rho_{2k+1}` and made monotone (Geyer's initial monotone sequence),
  :math:`\hat\tau \ge 1 / \log_{10} S`; bulk ESS on the rank-normalised split
  chains, tail ESS the smaller of the ESS of the indicators
  :math:`I(x \le q_{0.05})` and :math:`I(x \le q_{0.95})`.

NumPy only (the normal quantile function is the standard library's
:class:`statistics.NormalDist`); plots import matplotlib when called.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["split_rhat", "rhat", "ess", "ess_bulk", "ess_tail", "autocorrelation",
           "summary", "Summary", "bfmi", "plot_trace"]


def _as_draws(draws, name="draws"):
    x = np.asarray(draws, np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape [n_draws, n_chains, ...], got "
                         f"{list(x.shape)}")
    return x


def _to_rows(x):
    """[n_draws, n_chains, *shape] -> ([n_elements, n_chains, n_draws], shape)."""
    shape = x.shape[2:]
    rows = np.moveaxis(x.reshape(x.shape[0], x.shape[1], -1), (0, 1), (2, 1))
    return np.ascontiguousarray(rows), shape


def _split(rows):
    """[e, c, n] -> [e, 2c, n // 2]: each chain's first and last halves."""
    half = rows.shape[-1] // 2
    return np.concatenate([rows[..., :half], rows[..., rows.shape[-1] - half:]], axis=1)


def _ranks(a):
    """Average ranks (1-based) along the last axis, ties sharing their mean
    rank (scipy.stats.rankdata's 'average')."""
    order = np.argsort(a, axis=-1, kind="mergesort")
    sorted_a = np.take_along_axis(a, order, axis=-1)
    n = a.shape[-1]
    ranks = np.empty_like(a, dtype=np.float64)
    pos = np.broadcast_to(np.arange(1, n + 1, dtype=np.float64), a.shape)
    # Tie groups: mean position over each run of equal sorted values.
    new_group = np.concatenate([np.ones(a.shape[:-1] + (1,), bool),
                                sorted_a[..., 1:] != sorted_a[..., :-1]], axis=-1)
    group = np.cumsum(new_group, axis=-1) - 1
    flat_group = group + (np.arange(int(np.prod(a.shape[:-1]))).reshape(
        a.shape[:-1] + (1,)) * n)
    sums = np.bincount(flat_group.ravel(), weights=pos.ravel())
    counts = np.bincount(flat_group.ravel())
    mean_rank = (sums / np.maximum(counts, 1))[flat_group]
    np.put_along_axis(ranks, order, mean_rank, axis=-1)
    return ranks


_NORMAL = statistics.NormalDist()


def _z_scale(rows):
    """Rank-normalise each element's pooled draws ([e, c, n] -> same)."""
    e, c, n = rows.shape
    s = c * n
    ranks = _ranks(rows.reshape(e, s))
    # Ranks are multiples of 1/2; tabulate the normal quantile once per value.
    grid = np.arange(1, 2 * s + 1) / 2.0
    table = np.array([_NORMAL.inv_cdf((r - 0.375) / (s + 0.25)) for r in grid])
    z = table[np.rint(2 * ranks).astype(np.int64) - 1]
    return z.reshape(e, c, n)


def _rhat_rows(rows):
    """Classic R-hat of each element's chains, [e, c, n] -> [e]."""
    n = rows.shape[-1]
    means = rows.mean(-1)
    within = rows.var(-1, ddof=1).mean(-1)
    between = n * means.var(-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(((n - 1) / n * within + between / n) / within)


def _autocov(rows):
    """Biased autocovariance of each chain, lags 0..n-1, by FFT ([.., n])."""
    n = rows.shape[-1]
    centred = rows - rows.mean(-1, keepdims=True)
    size = 1 << int(math.ceil(math.log2(2 * n)))
    f = np.fft.rfft(centred, n=size, axis=-1)
    acov = np.fft.irfft(f * np.conjugate(f), n=size, axis=-1)[..., :n]
    return acov / n


def _ess_rows(rows):
    """Effective sample size of each element ([e, c, n] -> [e]), Geyer's
    initial monotone sequence on the multi-chain autocorrelations."""
    e, c, n = rows.shape
    out = np.empty(e)
    acov = _autocov(rows)
    means = rows.mean(-1)
    for i in range(e):
        x = rows[i]
        if not np.all(np.isfinite(x)):
            out[i] = np.nan
            continue
        if np.ptp(x) < 1e-15:  # constant draws: ArviZ's convention, S
            out[i] = c * n
            continue
        a = acov[i]
        mean_var = a[:, 0].mean() * n / (n - 1.0)  # W
        var_plus = mean_var * (n - 1.0) / n
        if c > 1:
            var_plus += means[i].var(ddof=1)
        rho = np.zeros(n)
        rho_even, rho_odd = 1.0, 1.0 - (mean_var - a[:, 1].mean()) / var_plus
        rho[0], rho[1] = rho_even, rho_odd
        t = 1
        while t < n - 3 and rho_even + rho_odd > 0.0:
            rho_even = 1.0 - (mean_var - a[:, t + 1].mean()) / var_plus
            rho_odd = 1.0 - (mean_var - a[:, t + 2].mean()) / var_plus
            if rho_even + rho_odd >= 0.0:
                rho[t + 1], rho[t + 2] = rho_even, rho_odd
            t += 2
        max_t = t - 2
        if rho_even > 0:
            rho[max_t + 1] = rho_even
        t = 1
        while t <= max_t - 2:  # monotone: pair sums may not increase
            if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
                rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
            t += 2
        s = c * n
        tau = -1.0 + 2.0 * rho[:max_t + 1].sum() + rho[max_t + 1:max_t + 2].sum()
        out[i] = s / max(tau, 1.0 / math.log10(s))
    return out


def _check_split(x, what):
    if x.shape[0] < 4:
        raise ValueError(f"{what} needs at least 4 draws per chain, got {x.shape[0]}")


def split_rhat(draws: np.ndarray, method: str = "rank") -> np.ndarray:
    """R-hat per element of ``draws`` [n_draws, n_chains, ...].

    ``method='rank'`` (default): Vehtari et al.'s rank-normalised split R-hat,
    the larger of the bulk and tail (folded) versions. ``'split'``: the split
    R-hat of the draws themselves (Gelman et al., BDA3). Values near 1 (say
    below 1.01) suggest the chains agree.
    """
    x = _as_draws(draws)
    _check_split(x, "split_rhat")
    rows, shape = _to_rows(x)
    rows = _split(rows)
    if method == "split":
        out = _rhat_rows(rows)
    elif method == "rank":
        bulk = _rhat_rows(_z_scale(rows))
        median = np.median(rows.reshape(rows.shape[0], -1), axis=1)
        folded = np.abs(rows - median[:, None, None])
        tail = _rhat_rows(_z_scale(folded))
        out = np.maximum(bulk, tail)
    else:
        raise ValueError(f"method must be 'rank' or 'split', got {method!r}")
    return out.reshape(shape)


rhat = split_rhat


def ess(draws: np.ndarray, method: str = "bulk",
        prob: float | tuple[float, float] | None = None) -> np.ndarray:
    """Effective sample size per element of ``draws`` [n_draws, n_chains, ...].

    ``method``: ``'bulk'`` (rank-normalised split chains, the default),
    ``'tail'`` (the smaller ESS of the 5% and 95% quantile indicators, or of
    ``prob`` = (low, high)), ``'mean'`` (split chains, no rank normalisation:
    the ESS of the sample mean), ``'quantile'`` (``prob`` a single
    probability).
    """
    x = _as_draws(draws)
    _check_split(x, "ess")
    rows, shape = _to_rows(x)
    if method == "bulk":
        out = _ess_rows(_z_scale(_split(rows)))
    elif method == "mean":
        out = _ess_rows(_split(rows))
    elif method == "tail":
        lo, hi = (0.05, 0.95) if prob is None else prob  # type: ignore[misc]  # a pair here
        out = np.minimum(_ess_quantile(rows, lo), _ess_quantile(rows, hi))
    elif method == "quantile":
        if prob is None:
            raise ValueError("ess(method='quantile') needs prob")
        out = _ess_quantile(rows, prob)
    else:
        raise ValueError(f"unknown method {method!r}")
    return out.reshape(shape)


def _ess_quantile(rows, prob):
    flat = rows.reshape(rows.shape[0], -1)
    q = np.quantile(flat, prob, axis=1)  # R's type 7, ArviZ's choice
    return _ess_rows(_split((rows <= q[:, None, None]).astype(np.float64)))


def ess_bulk(draws: np.ndarray) -> np.ndarray:
    return ess(draws, "bulk")


def ess_tail(draws: np.ndarray) -> np.ndarray:
    return ess(draws, "tail")


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Autocorrelation of a 1-D series at lags 0..n-1 (biased estimator)."""
    x = np.asarray(x, np.float64)
    acov = _autocov(x[None, :])[0]
    return acov / acov[0]


def bfmi(energy: np.ndarray) -> np.ndarray:
    """Bayesian fraction of missing information per chain (Betancourt 2016):
    ``mean(diff(E)^2) / var(E)`` of the energies [n_draws, n_chains] (e.g.
    ``sampler.stats['energy']``); below about 0.3 the momentum resampling
    explores the energy poorly."""
    e = _as_draws(energy, "energy")
    return np.mean(np.diff(e, axis=0) ** 2, axis=0) / np.var(e, axis=0, ddof=1)


QUANTILES = (0.05, 0.5, 0.95)


class Summary:
    """A posterior summary: one row per latent element.

    ``rows`` is a list of dicts with ``name`` (``'w[0, 2]'``), ``mean``,
    ``sd``, ``mcse_mean``, ``q5``, ``q50``, ``q95``, ``ess_bulk``,
    ``ess_tail`` and ``r_hat``. ``str(summary)`` is a table; ``as_dict()``
    maps each row's name to its statistics (JSON-friendly floats).
    """

    COLUMNS = ("mean", "sd", "mcse_mean", "q5", "q50", "q95", "ess_bulk", "ess_tail",
               "r_hat")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {r["name"]: {k: float(r[k]) for k in self.COLUMNS} for r in self.rows}

    def __getitem__(self, name: str) -> dict[str, Any]:
        for r in self.rows:
            if r["name"] == name:
                return r
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        width = max([len("name")] + [len(r["name"]) for r in self.rows])
        head = f"{'name':<{width}} " + " ".join(f"{c:>9}" for c in self.COLUMNS)
        lines = [head, "-" * len(head)]
        for r in self.rows:
            cells = []
            for c in self.COLUMNS:
                v = r[c]
                if c.startswith("ess"):
                    cells.append(f"{v:>9.0f}" if np.isfinite(v) else f"{'nan':>9}")
                elif c == "r_hat":
                    cells.append(f"{v:>9.3f}")
                else:
                    cells.append(f"{v:>9.3g}")
            lines.append(f"{r['name']:<{width}} " + " ".join(cells))
        return "\n".join(lines)

    __repr__ = __str__


def summary(samples: dict[str, np.ndarray] | np.ndarray,
            names: Sequence[str] | None = None) -> Summary:
    """Summarise draws: a :class:`Summary` with mean, sd, MCSE of the mean,
    5/50/95% quantiles, bulk and tail ESS and rank R-hat of every element.

    Parameters
    ----------
    samples : dict or array
        Name -> draws [n_draws, n_chains, ...] (what ``run`` returns), or one
        array of draws (named ``'x'``).
    names : list of str, optional
        Which latents, in which order (default: all, in the dict's order).
    """
    if not isinstance(samples, dict):
        samples = {"x": samples}
    names = list(samples) if names is None else list(names)
    rows = []
    for name in names:
        x = _as_draws(samples[name], f"samples['{name}']")
        shape = x.shape[2:]
        flat = x.reshape(x.shape[0] * x.shape[1], -1)
        stats = {
            "mean": flat.mean(0), "sd": flat.std(0, ddof=1),
            "ess_bulk": ess(x, "bulk").reshape(-1),
            "ess_tail": ess(x, "tail").reshape(-1),
            "r_hat": split_rhat(x).reshape(-1),
        }
        ess_mean = ess(x, "mean").reshape(-1)
        stats["mcse_mean"] = stats["sd"] / np.sqrt(ess_mean)
        qs = np.quantile(flat, QUANTILES, axis=0)
        for q, v in zip(("q5", "q50", "q95"), qs, strict=True):
            stats[q] = v
        for i, idx in enumerate(np.ndindex(*shape) if shape else [()]):
            label = name if not shape else f"{name}[{', '.join(map(str, idx))}]"
            rows.append({"name": label, **{k: stats[k][i] for k in Summary.COLUMNS}})
    return Summary(rows)


def plot_trace(samples: dict[str, np.ndarray] | np.ndarray, path: str,
               names: Sequence[str] | None = None, max_elements: int = 6,
               title: str | None = None) -> str:
    """Trace (left) and per-chain density (right) of each latent's first
    ``max_elements`` elements, saved to ``path`` (PNG). Needs matplotlib (an
    extra of the examples and tests), imported here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(samples, dict):
        samples = {"x": samples}
    names = list(samples) if names is None else list(names)
    panels = []
    for name in names:
        x = _as_draws(samples[name], f"samples['{name}']")
        shape = x.shape[2:]
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        for i, idx in enumerate(np.ndindex(*shape) if shape else [()]):
            if i >= max_elements:
                break
            label = name if not shape else f"{name}[{', '.join(map(str, idx))}]"
            panels.append((label, flat[:, :, i]))
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 1.8 * len(panels) + 0.6),
                             squeeze=False)
    for (label, trace), (ax_t, ax_d) in zip(panels, axes, strict=True):
        lo, hi = np.percentile(trace, [0.5, 99.5])
        bins = np.linspace(lo, hi, 40) if hi > lo else 10
        for c in range(trace.shape[1]):
            ax_t.plot(trace[:, c], lw=0.6, alpha=0.7)
            ax_d.hist(trace[:, c], bins=bins, histtype="step", density=True, alpha=0.8)
        ax_t.set_ylabel(label)
        ax_d.set_yticks([])
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("value")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
