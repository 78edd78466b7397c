"""examples/nice.py as a program: outputs, the reported figures, resume.

Runs the real program on the real data set with a tiny model and a few
steps per epoch. The oracle for the reported test log-likelihood is an
independent recomputation: the weights read back from ``checkpoint.zsc``,
NICE's forward map (additive couplings with checkerboard masks, then the
scaling) and the standard Logistic log-density written here in float64
NumPy, on the test set dequantised here by the recipe of the example's
docstring (x = k/255 + u/256 with u from ``default_rng(seed + 1)``).
Bits/dim are checked against the docstring's identity
``bpd = -ll / (784 ln 2) + 8``.
"""

import json
import math
import os
import sys

import zhusuan as zs

import numpy as np
import pytest
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import nice  # noqa: E402

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

SEED = 7
TEST_N = 100
ARGS = ["--max-steps", "4", "--batch-size", "32", "--mid-dim", "16", "--hidden", "2",
        "--coupling", "3", "--test-n", str(TEST_N), "--seed", str(SEED)]

# The example's model is float32; the oracle is float64. log p(x) per image
# is a sum of 784 Logistic terms of magnitude <= ~10 and 784 log-scales,
# each within a few ulp (1.2e-7 relative) of its float64 value after the
# networks (16 units, 2 layers): <= ~784 * 10 * 5e-7 ~ 4e-3 nats in the
# worst case, ~1e-4 typically (errors of either sign cancel). 2e-2 nats on
# a mean of magnitude ~1000 (2e-5 relative) leaves a margin of five over
# the worst case; a wrong term (a lost mask, a missed log-scale) is >= 1 nat.
LL_ATOL = 2e-2


def np_nice_log_prob(weights, n_coupling, x):
    """log p(x) per image of NICE with the given state dict, in float64."""
    h = x.astype(np.float64)
    mask = (np.arange(x.shape[1]) % 2).astype(np.float64)
    for i in range(n_coupling):
        a = h * mask
        prefix = f"flow.layers.{i}.nn."
        n_linear = len([k for k in weights if k.startswith(prefix)]) // 2
        for j in range(n_linear):
            w = weights[f"flow.layers.{i}.nn.{2 * j}.weight"].astype(np.float64)
            b = weights[f"flow.layers.{i}.nn.{2 * j}.bias"].astype(np.float64)
            a = a @ w.T + b
            if j < n_linear - 1:
                a = np.maximum(a, 0.0)
        h = h + (1 - mask) * a
        mask = 1 - mask
    s = weights[f"flow.layers.{n_coupling}.log_scale"].astype(np.float64)
    z = h * np.exp(s)
    return stats.logistic.logpdf(z).sum(1) + s.sum()


@needs_data
def test_nice_reports_what_its_docstring_says(tmp_path):
    out = str(tmp_path / "run")
    m1 = nice.main(ARGS + ["--epochs", "1", "--out-dir", out])
    for name in ("metrics.json", "checkpoint.zsc", "samples.png", "learning_curve.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics == json.loads(json.dumps(m1))
    assert metrics["dataset"] == "fashion-mnist" and metrics["test_n"] == TEST_N
    for key in ("train_ll", "train_bpd", "test_ll_per_epoch", "test_bpd_per_epoch",
                "epoch_seconds", "steps_per_second_per_epoch"):
        assert len(metrics[key]) == 1, key
    assert metrics["steps_per_second"] > 0 and metrics["wall_seconds"] > 0

    # bits/dim from nats: the identity of the docstring.
    for ll, bpd in [(metrics["test_ll"], metrics["test_bpd"]),
                    (metrics["train_ll"][0], metrics["train_bpd"][0])]:
        assert bpd == pytest.approx(-ll / (784 * math.log(2)) + 8, rel=1e-12)

    # The test log-likelihood, recomputed from the saved weights.
    weights = zs.utils.read_checkpoint(os.path.join(out, "checkpoint.zsc")).objects[
        "nice"]
    (_, _), (x_test, _) = zs.datasets.load_fashion_mnist()
    u = np.random.default_rng(SEED + 1).uniform(0.0, 1.0 / 256,
                                                size=x_test[:TEST_N].shape)
    x = (x_test[:TEST_N] + u).astype(np.float32)
    expected = np_nice_log_prob(weights, 3, x).mean()
    assert metrics["test_ll"] == pytest.approx(expected, abs=LL_ATOL)

    from PIL import Image

    img = Image.open(os.path.join(out, "samples.png"))
    assert img.size[0] > 28 and img.size[1] > 28

    m2 = nice.main(ARGS + ["--epochs", "2", "--out-dir", out, "--resume"])
    assert m2["epochs"] == 2 and len(m2["test_ll_per_epoch"]) == 2
    assert m2["train_ll"][0] == pytest.approx(m1["train_ll"][0])
    with pytest.raises(SystemExit, match=r"mid_dim=16 \(this run: 8\)"):
        # (argparse keeps the last of a repeated option)
        nice.main(ARGS + ["--mid-dim", "8", "--epochs", "3", "--out-dir", out,
                          "--resume"])
