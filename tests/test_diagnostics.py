"""zs.diagnostics against hand-computed values and written-out definitions.

Oracles, none of which calls zhusuan:

* a direct transcription of Vehtari et al. (2021) as Stan/ArviZ compute it
  (ArviZ itself is not installed): ranks by ``scipy.stats.rankdata``, the
  normal quantile by ``scipy.stats.norm.ppf``, autocovariances by the O(n^2)
  sum of lagged products, Geyer's initial positive and monotone sequences by
  their definitions (Geyer 1992, Section 3.3);
* small fixed arrays whose R-hat is computed by hand below;
* closed forms: i.i.d. draws have ESS = S; an AR(1) chain with coefficient
  rho has integrated autocorrelation time (1 + rho) / (1 - rho).

Statistical checks and their false-positive rates: the ESS estimates of
i.i.d. and AR(1) draws were measured over 40 seeds (i.i.d., 4 x 1000: sd
4% of S; AR(1) rho = 0.9, 4 x 5000: sd 10%, shrinking as 1/sqrt(n)); each
check allows five such standard deviations (about 6e-7 per check for a
normal estimate).
"""

import zhusuan as zs
from zhusuan import diagnostics as dg

import numpy as np
import pytest
from scipy import stats

# -- the written-out reference ----------------------------------------------------


def ref_split(x):
    """[n, c] -> [n // 2, 2c]."""
    half = x.shape[0] // 2
    return np.concatenate([x[:half], x[x.shape[0] - half:]], axis=1)


def ref_z(x):
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def ref_rhat(x):
    n = x.shape[0]
    w = x.var(0, ddof=1).mean()
    b = n * x.mean(0).var(ddof=1)
    return np.sqrt(((n - 1) / n * w + b / n) / w)


def ref_ess(x):
    n, c = x.shape
    acov = np.empty((n, c))
    for j in range(c):
        d = x[:, j] - x[:, j].mean()
        acov[:, j] = [np.dot(d[: n - t], d[t:]) / n for t in range(n)]
    w = acov[0].mean() * n / (n - 1)
    var_plus = w * (n - 1) / n + (x.mean(0).var(ddof=1) if c > 1 else 0.0)
    rho = 1 - (w - acov.mean(1)) / var_plus
    rho[0] = 1.0  # by definition (the formula gives var_W / var+ at lag 0)
    # Geyer's initial positive sequence on the pair sums P_k = rho_2k + rho_2k+1,
    # k = 1, 2, ... while the previous pair is positive and 2k - 1 < n - 3
    # (ArviZ's bound); K is the last pair computed, kept only if P_K >= 0.
    pairs = [rho[0] + rho[1]]
    k = 1
    last_kept = True
    while 2 * k - 1 < n - 3 and pairs[-1] > 0:
        p = rho[2 * k] + rho[2 * k + 1]
        last_kept = p >= 0
        if not last_kept:
            break
        pairs.append(p)
        k += 1
    big_k = len(pairs) - 1 if last_kept else len(pairs)
    # ... the pairs before K, made monotone (Geyer's initial monotone sequence).
    head = pairs[:big_k]
    for i in range(1, len(head)):
        head[i] = min(head[i], head[i - 1])
    # Plus rho_2K once (Stan's "improved estimate"): the value stored at index
    # 2K, which is rho_2K if it is positive or its pair was kept, else 0.
    extra = rho[2 * big_k] if (rho[2 * big_k] > 0 or last_kept) else 0.0
    tau = -1 + 2 * sum(head) + extra
    return n * c / max(tau, 1 / np.log10(n * c))


def ref_rank_rhat(x):
    s = ref_split(x)
    folded = np.abs(s - np.median(s))
    return max(ref_rhat(ref_z(s)), ref_rhat(ref_z(folded)))


def ar1(rng, rho, n, c):
    x = np.empty((n, c))
    x[0] = rng.normal(size=c)
    noise = rng.normal(size=(n, c)) * np.sqrt(1 - rho ** 2)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + noise[t]
    return x


# -- tests -------------------------------------------------------------------------


def test_split_rhat_by_hand():
    # 2 chains x 4 draws, split into 4 chains x 2 draws:
    # [1, 2], [3, 4], [2, 2], [4, 6]: means 1.5, 3.5, 2, 5; variances (ddof 1)
    # 0.5, 0.5, 0, 2, so W = 0.75; B = 2 * var(means) = 2 * 2.5 = 5;
    # var+ = (1/2) W + (1/2) B = 2.875; R-hat = sqrt(2.875 / 0.75).
    x = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 4.0], [4.0, 6.0]])
    assert dg.split_rhat(x, method="split") == pytest.approx(np.sqrt(2.875 / 0.75),
                                                             rel=1e-14)
    # Odd lengths drop the middle draw: [1, 2, 9, 3, 4] splits like [1, 2, 3, 4].
    y = np.array([[1.0, 2.0], [2.0, 2.0], [9.0, 9.0], [3.0, 4.0], [4.0, 6.0]])
    assert dg.split_rhat(y, method="split") == pytest.approx(np.sqrt(2.875 / 0.75),
                                                             rel=1e-14)


def test_ranks_match_scipy_with_ties(rng):
    a = rng.integers(0, 5, size=(3, 40)).astype(float)
    np.testing.assert_array_equal(dg._ranks(a),
                                  np.stack([stats.rankdata(r) for r in a]))


@pytest.mark.parametrize("shape", [(50, 3), (101, 4, 2)])
def test_against_the_written_out_definitions(shape, rng):
    x = rng.normal(size=shape)
    x[:, 0] += 0.3  # a slightly shifted first chain
    x = np.cumsum(x, axis=0) * 0.1 + x  # some autocorrelation
    rh, eb, et, em = (dg.split_rhat(x), dg.ess(x, "bulk"), dg.ess(x, "tail"),
                      dg.ess(x, "mean"))
    for idx in np.ndindex(*shape[2:]):
        xi = x[(slice(None), slice(None)) + idx]
        assert rh[idx] == pytest.approx(ref_rank_rhat(xi), rel=1e-10)
        s = ref_split(xi)
        assert eb[idx] == pytest.approx(ref_ess(ref_z(s)), rel=1e-10)
        assert em[idx] == pytest.approx(ref_ess(s), rel=1e-10)
        tails = []
        for p in (0.05, 0.95):
            q = np.quantile(xi, p)
            tails.append(ref_ess(ref_split((xi <= q).astype(float))))
        assert et[idx] == pytest.approx(min(tails), rel=1e-10)


def test_iid_draws_have_ess_near_s_and_rhat_near_one(rng):
    x = rng.normal(size=(1000, 4))
    s = x.size
    for method in ("bulk", "tail", "mean"):
        # sd of the estimate about 4.5% of S (measured); five of them.
        assert abs(dg.ess(x, method) - s) < 5 * 0.045 * s, method
    assert dg.split_rhat(x) < 1.01  # sd 6e-4 (measured)


def test_ar1_ess_matches_its_integrated_autocorrelation_time(rng):
    rho, n, c = 0.9, 20000, 4
    x = ar1(rng, rho, n, c)
    want = n * c * (1 - rho) / (1 + rho)
    # sd about 10% at n = 5000, so 5% at n = 20000; five of them.
    for method in ("mean", "bulk"):
        got = dg.ess(x, method)
        assert abs(got / want - 1) < 0.25, (method, got, want)
    acf = dg.autocorrelation(x[:, 0])
    np.testing.assert_allclose(acf[:4], rho ** np.arange(4), atol=0.05)


def test_rhat_flags_chains_that_disagree(rng):
    x = rng.normal(size=(500, 4))
    same = np.repeat(x[:, :1], 4, axis=1)  # identical chains
    assert abs(dg.split_rhat(same) - 1) < 0.01
    shifted = x.copy()
    shifted[:, 0] += 2.0  # one chain two standard deviations off
    assert dg.split_rhat(shifted) > 1.2
    wide = x.copy()
    wide[:, 0] *= 4.0  # one chain four times wider: the tail R-hat sees it
    assert dg.split_rhat(wide) > 1.1
    assert dg.split_rhat(wide, method="split") < dg.split_rhat(wide)
    trend = x + np.linspace(0, 3, 500)[:, None]  # every chain drifts: split sees it
    assert dg.split_rhat(trend) > 1.2


def test_summary_table_and_dict(rng):
    draws = {"w": rng.normal(size=(200, 4, 2, 3)), "s": rng.normal(size=(200, 4))}
    summ = zs.diagnostics.summary(draws)
    assert len(summ) == 7
    d = summ.as_dict()
    assert list(d)[:2] == ["w[0, 0]", "w[0, 1]"] and "s" in d
    flat = draws["w"][:, :, 1, 2].ravel()
    row = d["w[1, 2]"]
    assert row["mean"] == pytest.approx(flat.mean())
    assert row["sd"] == pytest.approx(flat.std(ddof=1))
    assert row["q5"] == pytest.approx(np.quantile(flat, 0.05))
    assert row["q95"] == pytest.approx(np.quantile(flat, 0.95))
    assert row["r_hat"] == pytest.approx(float(dg.split_rhat(draws["w"])[1, 2]))
    assert row["ess_bulk"] == pytest.approx(float(dg.ess(draws["w"])[1, 2]))
    assert row["mcse_mean"] == pytest.approx(
        flat.std(ddof=1) / np.sqrt(float(dg.ess(draws["w"], "mean")[1, 2])))
    text = str(summ)
    assert "w[1, 2]" in text and "ess_bulk" in text and "r_hat" in text
    assert len(text.splitlines()) == 9


def test_bfmi_of_independent_energies_is_two(rng):
    # E (E_t - E_t-1)^2 = 2 var(E) for independent energies.
    e = rng.normal(size=(4000, 3))
    np.testing.assert_allclose(dg.bfmi(e), 2.0, rtol=0.1)


def test_plot_trace_writes_a_png(tmp_path, rng):
    pytest.importorskip("matplotlib", reason="plots need matplotlib (a test extra)")
    path = dg.plot_trace({"w": rng.normal(size=(100, 3, 2)), "s": rng.normal(
        size=(100, 3))}, str(tmp_path / "trace.png"), title="test")
    from PIL import Image

    assert Image.open(path).size[0] > 300


def test_errors():
    with pytest.raises(ValueError, match="n_draws, n_chains"):
        dg.split_rhat(np.zeros(10))
    with pytest.raises(ValueError, match="at least 4 draws"):
        dg.ess(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="method"):
        dg.split_rhat(np.zeros((10, 2)), method="nope")
