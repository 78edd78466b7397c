"""examples/vae.py as a program: outputs, resume, and crash-safe checkpoints.

Runs the real program on the real data set with a few steps per epoch; the
oracle for the metrics is their own definition (lengths, the bound ordering
test ELBO <= IS log-likelihood up to Monte-Carlo noise, files that decode).
"""

import json
import os
import pickle
import sys

import numpy as np
import pytest

import zhusuan as zs  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import common  # noqa: E402
import vae  # noqa: E402

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

ARGS = ["--dataset", "fashion-mnist", "--max-steps", "8", "--is-n", "40",
        "--is-k", "20", "--batch-size", "32"]


@needs_data
def test_vae_writes_everything_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    m1 = vae.main(ARGS + ["--epochs", "1", "--out-dir", out])
    for name in ("metrics.json", "checkpoint.pkl", "test_images.png",
                 "reconstructions.png", "prior_samples.png", "learning_curve.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    for key in ("dataset", "epochs", "train_elbo", "test_elbo", "test_ll", "is_k",
                "is_n", "train_seconds", "steps_per_second", "backend"):
        assert key in metrics, key
    assert metrics == json.loads(json.dumps(m1))
    assert metrics["dataset"] == "fashion-mnist"
    assert metrics["is_k"] == 20 and metrics["is_n"] == 40
    assert len(metrics["train_elbo"]) == len(metrics["test_elbo"]) == 1
    assert np.isfinite(metrics["test_ll"]) and metrics["test_ll"] < 0
    from PIL import Image

    img = Image.open(os.path.join(out, "prior_samples.png"))
    assert img.size[0] > 28 and img.size[1] > 28

    m2 = vae.main(ARGS + ["--epochs", "2", "--out-dir", out, "--resume"])
    assert m2["epochs"] == 2
    assert m2["train_elbo"][0] == pytest.approx(m1["train_elbo"][0])
    assert len(m2["test_elbo"]) == 2

    # Resuming with an option that shapes the run stops before touching the
    # weights, and names the option and both values.
    with pytest.raises(SystemExit, match=r"z_dim=40 \(this run: 8\)"):
        vae.main(ARGS + ["--epochs", "3", "--out-dir", out, "--resume", "--z-dim", "8"])
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f)["epochs"] == 2  # nothing was overwritten


def test_checkpoint_survives_a_crash_mid_write(tmp_path, monkeypatch):
    import jittor as jt
    from jittor import nn

    path = str(tmp_path / "ckpt.pkl")
    net = nn.Linear(3, 2)
    opt = jt.optim.Adam(net.parameters(), 1e-3)
    common.save_checkpoint(path, {"net": net}, opt, {"epoch": 1})
    before = open(path, "rb").read()

    class Boom(RuntimeError):
        pass

    real_fsync = os.fsync

    def crash(fd):
        raise Boom("power cut")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(Boom):
        common.save_checkpoint(path, {"net": net}, opt, {"epoch": 2})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert open(path, "rb").read() == before
    assert [p for p in os.listdir(tmp_path) if p != "ckpt.pkl"] == []
    extra = common.load_checkpoint(path, {"net": net}, opt)
    assert extra == {"epoch": 1}
    state = pickle.loads(before)
    np.testing.assert_array_equal(state["modules"]["net"]["weight"], net.weight.numpy())


def test_load_checkpoint_names_the_file(tmp_path):
    import jittor as jt
    from jittor import nn

    bad = tmp_path / "broken.pkl"
    bad.write_bytes(b"not a pickle")
    net = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="broken.pkl"):
        common.load_checkpoint(str(bad), {"net": net}, jt.optim.Adam(net.parameters(), 1))
