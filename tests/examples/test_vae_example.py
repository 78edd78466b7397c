"""examples/vae.py as a program: outputs, resume, and crash-safe checkpoints.

Runs the real program on the real data set with a few steps per epoch; the
oracle for the metrics is their own definition (lengths, the bound ordering
test ELBO <= IS log-likelihood up to Monte-Carlo noise, files that decode).
"""

import json
import os
import sys

import zhusuan as zs  # noqa: F401

import numpy as np
import pytest

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
    for name in ("metrics.json", "metrics.jsonl", "checkpoint.zsc", "test_images.png",
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


def test_damaged_checkpoint_stops_resume_naming_the_file(tmp_path):
    """A checkpoint with a flipped byte is refused on --resume with its path
    and the reason (the library's own refusals are tested in
    tests/utils/test_checkpoint.py); the weights are not touched."""
    import jittor as jt
    from jittor import nn

    net = nn.Linear(3, 2)
    opt = jt.optim.Adam(net.parameters(), 1e-3)
    common.save_checkpoint(str(tmp_path), {"net": net, "opt": opt}, {"epoch": 1}, {})
    path = tmp_path / common.CHECKPOINT_NAME
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    before = net.weight.numpy().copy()
    with pytest.raises(SystemExit, match=f"--resume: checkpoint {path}: checksum "):
        common.resume_checkpoint(str(tmp_path), {"net": net, "opt": opt}, {})
    np.testing.assert_array_equal(net.weight.numpy(), before)
    with pytest.raises(SystemExit, match="no checkpoint at"):
        common.resume_checkpoint(str(tmp_path / "elsewhere"), {"net": net}, {})
