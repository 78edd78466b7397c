"""examples/vae.py under ``mpirun -np 2`` trains as one process does on the
same global batches, writes its outputs once, and resumes; under
``mpirun -np 1`` it is the plain run.

Equivalence oracle: vae_oracle.py, one plain process (no MPI), computes the
first 20 steps for the same global batches of 64 from the example's rules:
the same data order and binarisation, rank 0's initial weights, each
32-image shard's latent noise from the seed that rank draws it with, the
loss as the mean of the shards' means and one Adam step on its gradient. The
2-process run all-reduces the gradients over the ranks instead; the two
can differ only in floating-point rounding.

Tolerance (float32): each rank's loss and gradient are the same operations
on the same numbers as the oracle's shard (one OpenMP thread per process),
and the MPI mean (g0 + g1) / 2 equals the oracle's gradient of
(l0 + l1) / 2, 0.5 g0 + 0.5 g1, exactly (scaling by a power of two is
exact). Measured here: the 20 losses and every parameter after them agree
bit for bit, with either optimiser. Where the reductions' order could
differ (another thread count, oneDNN choosing another algorithm), float32
rounding of a loss of ~500 is ~3e-5 absolute, and Adam turns a relative
rounding difference of a gradient into a parameter change of order
lr * 1e-7 a step; we allow rtol 1e-5 on the losses and atol 1e-5 on the
parameters. What the test must catch is far larger: updating with one
shard's gradient instead of the mean (no all-reduce) moves the losses by
0.2% to 1% from step 2 on and the parameters by up to 0.027 (measured).
"""

import json
import os
import sys

import zhusuan as zs

import numpy as np
import pytest
from mpi_launch import ROOT, environment, mpirun_command, run  # tests/mpi

HERE = os.path.dirname(os.path.abspath(__file__))
VAE = os.path.join(ROOT, "examples", "vae.py")
ORACLE = os.path.join(HERE, "vae_oracle.py")

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

STEPS, BATCH, SEED = 20, 64, 7
ARGS = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-steps", str(STEPS),
        "--log-losses", str(STEPS), "--batch-size", str(BATCH), "--seed", str(SEED),
        "--eval-n", "64", "--is-n", "8", "--is-k", "2"]


def _params(checkpoint):
    objects = zs.utils.read_checkpoint(checkpoint).objects
    return {f"{net}/{k}": np.asarray(v) for net in ("generator", "variational")
            for k, v in objects[net].items()}


@needs_data
@pytest.mark.parametrize("optimizer", ["zhusuan", "jittor"])
def test_two_processes_train_as_one_on_the_global_batch(optimizer, tmp_path, mpirun,
                                                        python):
    out = tmp_path / "mpi"
    proc = mpirun(2, VAE, *ARGS, "--optimizer", optimizer, "--out-dir", str(out))
    oracle_path = tmp_path / "oracle.npz"
    python(ORACLE, "--out", str(oracle_path), "--ranks", "2", "--steps", str(STEPS),
           "--batch-size", str(BATCH), "--seed", str(SEED), "--optimizer", optimizer)
    oracle = np.load(oracle_path)

    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["processes"] == 2 and metrics["batch_size"] == BATCH
    losses = np.array(metrics["first_losses"])
    assert losses.shape == (STEPS,)
    np.testing.assert_allclose(losses, oracle["losses"], rtol=1e-5)

    params = _params(out / "checkpoint.zsc")
    expected = {k: oracle[k] for k in oracle.files if k != "losses"}
    assert sorted(params) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(params[name], value, rtol=0, atol=1e-5, err_msg=name)

    # Outputs written once, by rank 0: one line per epoch, one final message.
    with open(out / "metrics.jsonl") as f:
        assert len(f.read().splitlines()) == 1
    assert proc.stdout.count("wrote ") == 1
    assert proc.stdout.count("epoch 1/1: train ELBO") == 1
    for name in ("test_images.png", "reconstructions.png", "prior_samples.png",
                 "learning_curve.png", "test_ll.npy"):
        assert (out / name).is_file(), name
    assert len(np.load(out / "test_ll.npy")) == 8  # both ranks' images, gathered


@needs_data
def test_killed_run_resumes_under_mpi(tmp_path, mpirun):
    """The example's resume contract (docs/design.md) with 2 processes: a run
    killed (both ranks, SIGKILL after global step 7, last checkpoint at step
    6) and resumed gives the uninterrupted run's losses, ELBOs and weights
    bit for bit: every rank reloads the same checkpoint and reseeds from it."""
    args = ["--dataset", "fashion-mnist", "--epochs", "2", "--max-steps", "5",
            "--log-losses", "10", "--batch-size", "32", "--seed", "3", "--eval-n", "32",
            "--is-n", "4", "--is-k", "2", "--checkpoint-every", "3"]
    whole = tmp_path / "whole"
    mpirun(2, VAE, *args, "--out-dir", str(whole))

    broken = tmp_path / "broken"
    killed = run(mpirun_command(2, VAE, *args, "--out-dir", str(broken)),
                 env=environment(ZHUSUAN_TEST_KILL_AT_STEP="7"), check=False)
    assert killed.returncode != 0, "the kill did not happen"
    assert not (broken / "test_ll.npy").exists()
    state = zs.utils.read_checkpoint(broken / "checkpoint.zsc").state
    assert state["steps"] == 6

    mpirun(2, VAE, *args, "--out-dir", str(broken), "--resume")
    with open(whole / "metrics.json") as f:
        a = json.load(f)
    with open(broken / "metrics.json") as f:
        b = json.load(f)
    for key in ("first_losses", "train_elbo", "test_elbo", "test_ll"):
        assert a[key] == b[key], key
    pa, pb = _params(whole / "checkpoint.zsc"), _params(broken / "checkpoint.zsc")
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
    with open(broken / "metrics.jsonl") as f:
        assert len(f.read().splitlines()) == 2


@needs_data
def test_one_mpi_process_is_the_plain_run(tmp_path, mpirun, python):
    """Under ``mpirun -np 1`` rank 0 keeps every seed (rank_seed) and the
    all-reduces divide by 1: the run is the plain one, bit for bit."""
    args = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-steps", "10",
            "--log-losses", "10", "--batch-size", "32", "--seed", "5", "--eval-n", "32",
            "--is-n", "4", "--is-k", "2"]
    mpirun(1, VAE, *args, "--out-dir", str(tmp_path / "mpi"))
    python(VAE, *args, "--out-dir", str(tmp_path / "plain"))
    with open(tmp_path / "mpi" / "metrics.json") as f:
        a = json.load(f)
    with open(tmp_path / "plain" / "metrics.json") as f:
        b = json.load(f)
    assert (a["processes"], b["processes"]) == (1, 1)
    for key in ("first_losses", "train_elbo", "test_elbo", "test_ll"):
        assert a[key] == b[key], key
    pa = _params(tmp_path / "mpi" / "checkpoint.zsc")
    pb = _params(tmp_path / "plain" / "checkpoint.zsc")
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)


def test_vae_refuses_a_global_batch_that_does_not_split(tmp_path, mpirun):
    """--batch-size is the global batch: 33 images cannot be split over 2."""
    with pytest.raises(AssertionError, match="multiple of the 2 MPI processes"):
        mpirun(2, VAE, "--batch-size", "33", "--out-dir", str(tmp_path), timeout=300)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
