"""examples/blr_hmc.py, eight_schools.py and pmf_hmc.py as programs, with
tiny settings, and examples/vae.py's --ll-method option.

Oracles independent of the examples' code: the breast-cancer split and
standardisation redone from scikit-learn's raw data, the posterior
predictive accuracy and log-likelihood recomputed from the saved draws with
scipy, scikit-learn's baseline refitted; eight schools' theta recomputed
from the saved latents; PMF's RMSEs and global-mean baseline recomputed from
the saved predictions and the training ratings; the VAE's IS figure on AIS's
images recomputed from the saved per-image IS estimates. Statistical
quality is not judged at these sizes (the examples' full runs are reported
in their docstrings and the report), only that every figure is finite and
consistent.
"""

import json
import os
import sys

import zhusuan as zs  # noqa: F401  (configures Jittor first)

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

pytest.importorskip("sklearn",
                    reason="the examples need scikit-learn (an example extra)")
special = pytest.importorskip("scipy.special")

import blr_hmc  # noqa: E402
import eight_schools  # noqa: E402
import pmf_hmc  # noqa: E402

TINY = ["--chains", "2", "--warmup", "30", "--samples", "20", "--n-leapfrogs", "3",
        "--max-tree-depth", "4", "--no-progress"]


def saved(out, metrics):
    with open(os.path.join(out, "metrics.json")) as f:
        d = json.load(f)
    assert d == json.loads(json.dumps(metrics))
    return d


def test_blr_hmc(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    out = str(tmp_path)
    m = saved(out, blr_hmc.main(TINY + ["--sampler", "both", "--out-dir", out]))
    raw = load_breast_cancer()
    perm = np.random.default_rng(0).permutation(len(raw.target))
    test, train = perm[:114], perm[114:]
    mu, sd = raw.data[train].mean(0), raw.data[train].std(0)
    x_test, y_test = (raw.data[test] - mu) / sd, raw.target[test]
    assert m["n_train"] == 455 and m["n_test"] == 114
    clf = LogisticRegression(C=1.0, max_iter=5000).fit((raw.data[train] - mu) / sd,
                                                       raw.target[train])
    assert m["sklearn_test_accuracy"] == pytest.approx(clf.score(x_test, y_test),
                                                       abs=1e-6)
    for name in ("nuts", "hmc"):
        s = m["samplers"][name]
        d = np.load(os.path.join(out, f"draws_{name}.npz"))
        assert d["w"].shape == (20, 2, 30) and d["b"].shape == (20, 2, 1)
        logits = d["w"].reshape(-1, 30) @ x_test.T + d["b"].reshape(-1, 1)
        log_lik = np.where(y_test == 1, special.log_expit(logits),
                           special.log_expit(-logits))
        ll = special.logsumexp(log_lik, axis=0) - np.log(40)
        acc = ((special.expit(logits).mean(0) > 0.5) == (y_test == 1)).mean()
        assert s["test_ll"] == pytest.approx(ll.mean(), rel=1e-4)
        assert s["test_accuracy"] == pytest.approx(acc)
        assert s["posterior"]["w[0]"]["mean"] == pytest.approx(d["w"][..., 0].mean(),
                                                               rel=1e-5, abs=1e-6)
        assert s["divergences"] >= 0 and 0 <= s["acceptance_rate"] <= 1
        assert np.isfinite(s["max_r_hat"]) and s["min_ess_bulk"] > 0
        for f in (f"trace_{name}.png", f"summary_{name}.txt"):
            assert os.path.getsize(os.path.join(out, f)) > 0


def test_eight_schools(tmp_path):
    out = str(tmp_path)
    m = saved(out, eight_schools.main(TINY + ["--out-dir", out]))
    d = np.load(os.path.join(out, "draws.npz"))
    theta = d["mu"] + np.exp(d["log_tau"]) * d["theta_tilde"]
    np.testing.assert_allclose(m["posterior_mean"]["theta"], theta.mean((0, 1)),
                               rtol=1e-5, atol=1e-5)
    assert m["posterior_mean"]["tau"] == pytest.approx(np.exp(d["log_tau"]).mean(),
                                                       rel=1e-5)
    assert m["published_mean"]["mu"] == 4.08
    assert isinstance(m["divergences"], int) and np.isfinite(m["max_r_hat"])
    assert m["min_ess_tail"] > 0
    assert os.path.getsize(os.path.join(out, "trace.png")) > 0


def test_pmf_hmc(tmp_path):
    out = str(tmp_path)
    args = ["--users", "30", "--items", "20", "--ratings", "200", "--rank", "2",
            "--warmup", "20", "--samples", "10", "--n-leapfrogs", "3", "--no-progress",
            "--out-dir", out]
    m = saved(out, pmf_hmc.main(args))
    p = np.load(os.path.join(out, "predictions.npz"))
    stars = 1 + 4 * p["prediction"]
    assert m["test_rmse"] == pytest.approx(
        np.sqrt(np.mean((stars - (1 + 4 * p["ratings"])) ** 2)), rel=1e-6)
    assert m["test_rmse_vs_truth"] == pytest.approx(
        np.sqrt(np.mean((stars - (1 + 4 * p["truth"])) ** 2)), rel=1e-6)
    data = pmf_hmc.synthetic_ratings(30, 20, 200, 2, m["data_seed"])
    glob = 1 + 4 * data["train_ratings"].mean()
    assert m["baseline_rmse"]["global_mean"] == pytest.approx(
        np.sqrt(np.mean((glob - (1 + 4 * p["ratings"])) ** 2)), rel=1e-6)
    # The held-out ratings are the truth plus N(0, 0.05^2) noise.
    np.testing.assert_allclose(p["truth"], data["test_truth"])
    assert m["n_test"] == 20 and m["noise_floor_rmse"] == pytest.approx(0.2)


@pytest.mark.slow  # loads Fashion-MNIST and trains 3 steps (~45 s here)
def test_vae_ll_method_both(tmp_path):
    import vae

    out = str(tmp_path)
    m = vae.main(["--dataset", "fashion-mnist", "--epochs", "1", "--max-steps", "3",
                  "--batch-size", "16", "--is-k", "10", "--is-n", "8",
                  "--ll-method", "both", "--ais-n", "4", "--ais-chains", "2",
                  "--ais-temperatures", "3", "--out-dir", out])
    ll = np.load(os.path.join(out, "test_ll.npy"))
    assert m["test_ll"] == pytest.approx(ll.mean())
    assert m["test_ll_is_same_images"] == pytest.approx(ll[:4].mean())
    assert np.isfinite(m["test_ll_ais"]) and m["test_ll_ais_stderr"] >= 0
    assert m["ais_n"] == 4
