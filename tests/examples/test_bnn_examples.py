"""examples/bnn_vi.py and examples/bnn_sgmcmc.py as programs, with tiny settings.

Oracles independent of the examples' code: the OLS baseline recomputed with
numpy.linalg.lstsq on the raw (unstandardised) data (least-squares
predictions do not change under an affine change of the features), its
log-likelihood and the posterior-predictive log-likelihood with
scipy.stats.norm in the original units, and the sample count from the
burn-in/thin rule. Resuming must reproduce the first run's epochs exactly.
"""

import json
import os
import sys

import zhusuan as zs  # (configures Jittor first)

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

pytest.importorskip("sklearn", reason="the BNN examples need scikit-learn "
                    "(an example extra)")
stats = pytest.importorskip("scipy.stats")

import bnn_common  # noqa: E402
import bnn_sgmcmc  # noqa: E402
import bnn_vi  # noqa: E402


def raw_ols(data):
    """Test RMSE and plug-in Gaussian log-likelihood of OLS in raw units."""
    x, y = data["raw_x_train"], data["raw_y_train"]
    design = np.hstack([x, np.ones((len(x), 1))])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    sd = np.sqrt(np.sum((y - design @ coef) ** 2) / (len(y) - design.shape[1]))
    pred = np.hstack([data["raw_x_test"], np.ones((len(data["raw_x_test"]), 1))]) @ coef
    rmse = np.sqrt(np.mean((pred - data["raw_y_test"]) ** 2))
    return rmse, stats.norm.logpdf(data["raw_y_test"], pred, sd).mean()


def test_split_and_baseline_against_raw_data():
    data = bnn_common.load_diabetes_split()
    assert len(data["x_test"]) == 44 and len(data["x_train"]) == 398
    np.testing.assert_allclose(data["x_train"].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(data["x_train"].std(0), 1, rtol=1e-5)
    np.testing.assert_allclose(data["y_test"] * data["y_std"] + data["y_mean"],
                               data["raw_y_test"], rtol=1e-5)
    rmse, ll = raw_ols(data)
    base = bnn_common.ols_baseline(data)
    assert base["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert base["ll"] == pytest.approx(ll, rel=1e-5)


def test_predictive_metrics_against_scipy(rng):
    data = bnn_common.load_diabetes_split()
    s, n = 7, len(data["y_test"])
    y_mean = data["y_test"] + 0.5 * rng.normal(size=(s, n))
    logstd = rng.normal(-0.5, 0.2, size=s)
    got = bnn_common.predictive_metrics(y_mean, logstd, data)
    # The mixture over the s draws, in the original units.
    mean_raw = y_mean * data["y_std"] + data["y_mean"]
    sd_raw = np.exp(logstd)[:, None] * data["y_std"]
    dens = stats.norm.pdf(data["raw_y_test"], mean_raw, sd_raw).mean(0)
    assert got["ll"] == pytest.approx(np.log(dens).mean(), rel=1e-6)
    rmse = np.sqrt(np.mean((mean_raw.mean(0) - data["raw_y_test"]) ** 2))
    assert got["rmse"] == pytest.approx(rmse, rel=1e-5)


def check_metrics(metrics, out, epochs):
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    for name in ("metrics.json", "learning_curve.png", "checkpoint.zsc"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert saved["epochs"] == epochs
    assert len(saved["test_rmse"]) == len(saved["test_ll"]) == epochs
    assert np.all(np.isfinite(saved["test_rmse"]))
    assert np.all(np.isfinite(saved["test_ll"]))
    rmse, ll = raw_ols(bnn_common.load_diabetes_split())
    assert saved["ols_test_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert saved["ols_test_ll"] == pytest.approx(ll, rel=1e-5)
    assert saved["final_test_rmse"] == saved["test_rmse"][-1]
    from PIL import Image

    assert Image.open(os.path.join(out, "learning_curve.png")).size[0] > 100
    return saved


def test_bnn_vi_runs_and_resumes(tmp_path):
    out = str(tmp_path / "vi")
    args = ["--max-steps", "3", "--n-particles", "2", "--eval-samples", "16",
            "--out-dir", out]
    first = bnn_vi.main(args + ["--epochs", "1"])
    check_metrics(first, out, 1)
    second = bnn_vi.main(args + ["--epochs", "2", "--resume"])
    saved = check_metrics(second, out, 2)
    assert saved["test_rmse"][0] == first["test_rmse"][0]
    assert len(saved["train_elbo_per_point"]) == 2
    with pytest.raises(SystemExit, match=r"n_particles=2 \(this run: 3\)"):
        bnn_vi.main(args[:2] + ["--n-particles", "3", "--eval-samples", "16",
                                "--out-dir", out, "--epochs", "3", "--resume"])


@pytest.mark.parametrize("sampler", ["sgld", "psgld", "sghmc", "sgnht"])
def test_bnn_sgmcmc_runs_and_resumes(tmp_path, sampler):
    out = str(tmp_path / sampler)
    steps, chains, burn_in, thin, epochs = 4, 3, 1, 3, 3
    args = ["--sampler", sampler, "--max-steps", str(steps), "--chains", str(chains),
            "--burn-in", str(burn_in), "--thin", str(thin), "--out-dir", out]
    first = bnn_sgmcmc.main(args + ["--epochs", "2"])
    check_metrics(first, out, 2)
    second = bnn_sgmcmc.main(args + ["--epochs", str(epochs), "--resume"])
    saved = check_metrics(second, out, epochs)
    assert saved["test_rmse"][:2] == first["test_rmse"]
    # Updates t = 1, 2, ... ; kept after the burn-in epochs when t % thin == 0.
    kept = [t for t in range(burn_in * steps + 1, epochs * steps + 1) if t % thin == 0]
    assert saved["n_samples"] == len(kept) * chains
    ckpt = zs.utils.read_checkpoint(os.path.join(out, "checkpoint.zsc"))
    state = ckpt.objects["sampler"]
    assert state["latent:w1"].shape == (chains, bnn_common.HIDDEN, 11)
    assert state["latent:y_logstd"].shape == (chains, 1)
    assert int(state["t"][0]) == epochs * steps
    # The reported log-likelihood is the mixture of the kept samples' Normal
    # predictives, recomputed here in the original units with scipy.
    data = bnn_common.load_diabetes_split()
    extra = ckpt.state
    mean = np.concatenate(extra["kept_mean"]) * data["y_std"] + data["y_mean"]
    sd = np.exp(np.concatenate(extra["kept_logstd"]))[:, None] * data["y_std"]
    ll = np.log(stats.norm.pdf(data["raw_y_test"], mean, sd).mean(0)).mean()
    assert saved["final_test_ll"] == pytest.approx(ll, rel=1e-5)
