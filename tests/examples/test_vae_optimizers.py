"""examples/vae.py with either Adam: zs.optim.Adam (the default) and
jt.optim.Adam (--optimizer jittor) train alike, and a checkpoint written
with one resumes with the other (examples/common.py saves the optimiser's
state_dict, whose format the two share).

Oracle: one checkpoint (after epoch 1, written with one optimiser) resumed
by each optimiser must give the same epoch-2 training ELBO: both resumed
runs draw the same data and noise (a resume reseeds from the epoch) and the
two optimisers compute the same update (bit for bit on this machine, see
tests/optim/test_optim.py), so the tolerance only allows for last-bit
rounding (rtol 1e-5, the VAE parity bound there). A resume that lost Adam's
moments and step count misses it by far more (measured: 1.3e-3 relative,
with these options).
"""

import os
import shutil
import sys

import zhusuan as zs  # noqa: F401

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import vae  # noqa: E402

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

ARGS = ["--dataset", "fashion-mnist", "--max-steps", "15", "--is-n", "8",
        "--is-k", "2", "--batch-size", "32", "--seed", "5"]


def _resume(src, dst, optimizer):
    shutil.copytree(src, dst)
    return vae.main(ARGS + ["--epochs", "2", "--optimizer", optimizer, "--out-dir", dst,
                            "--resume"])


@needs_data
@pytest.mark.parametrize("first,second", [("jittor", "zhusuan"), ("zhusuan", "jittor")])
def test_checkpoint_resumes_with_the_other_optimizer(first, second, tmp_path):
    out = str(tmp_path / "epoch1")
    m1 = vae.main(ARGS + ["--epochs", "1", "--optimizer", first, "--out-dir", out])
    assert m1["optimizer"].startswith("zs.optim" if first == "zhusuan" else "jt.optim")
    saved = zs.utils.read_checkpoint(os.path.join(out, "checkpoint.zsc")).objects[
        "optimizer"]
    assert saved["defaults"]["n_step"] == 15
    same = _resume(out, str(tmp_path / "same"), first)
    other = _resume(out, str(tmp_path / "other"), second)
    prefix = "zs.optim" if second == "zhusuan" else "jt.optim"
    assert other["optimizer"].startswith(prefix)
    np.testing.assert_allclose(other["train_elbo"], same["train_elbo"], rtol=1e-5)
