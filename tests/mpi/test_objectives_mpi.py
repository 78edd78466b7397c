"""The global-batch objectives under ``mpirun -np 2`` equal one process's
(issue 11, scope 2): objectives_program.py computes them both ways (see its
docstring for what each part checks and why).

Tolerances. Part A (Normal latents, the oracle calls the nets once per
shard with the ranks' seeds): the same float32 operations on the same
numbers, and MPI's mean of two values is the oracle's (a + b) / 2, so we
expect bit-for-bit equality and allow 1e-6 relative (a few float32 ulps).
Part B (deterministic nets, the oracle is one call on the whole batch):
there the global reductions (a mean or sum over 16 images, the gradient's
sum over the batch in a matmul) are done as two sums of 8 plus an
all-reduce, a different float32 summation order. For the values that is
~1e-7 relative; we allow rtol 1e-5. A gradient entry is a sum of 16 terms
of either sign, so its rounding error scales with the largest terms, not
with the entry: we allow 1e-5 of the gradient's largest entry, absolute
(measured: 2.2e-7 of it, on entries that cancelled down to 1e-4 relative).
A wrong combination (a sum where the mean belongs, the local batch's
multiplier left out, per-image values in the wrong order) is off by a factor
of 2 or by whole nats.
"""

import os

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "objectives_program.py")

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")


@pytest.fixture(scope="module")
def results(tmp_path_factory, mpirun, python):
    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        pytest.skip("needs the Debian package dataset-fashion-mnist (make setup)")
    tmp = tmp_path_factory.mktemp("objectives")
    mpirun(2, PROGRAM, str(tmp / "mpi.npz"), "--mode", "mpi", timeout=600)
    python(PROGRAM, str(tmp / "oracle.npz"), "--mode", "oracle", "--ranks", "2",
           timeout=600)
    return np.load(tmp / "mpi.npz"), np.load(tmp / "oracle.npz")


def test_two_processes_ran(results):
    got, want = results
    assert int(got["world_size"]) == 2 and int(want["world_size"]) == 2


@pytest.mark.parametrize("name,shape", [
    ("A_cost", (1,)),      # SGVB cost: -ELBO, the nodes average the batch axis
    ("A_iwae", (1,)),      # importance-weighted bound, k = 5
    ("A_bound", (16,)),    # the ELBO of each image
    ("A_ll", (16,)),       # IS log-likelihood of each image, k = 10
])
def test_normal_vae_objectives_equal_one_process(results, name, shape):
    got, want = results
    assert got[name].shape == want[name].shape == shape
    assert np.all(np.isfinite(want[name]))
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name,shape", [
    ("B_elbo", (1,)),       # the global batch's ELBO (its mean over images)
    ("B_bound", (16,)),     # the ELBO of each image
    ("B_ll", (16,)),        # IS log-likelihood of each image
    ("B_sum_cost", (1,)),   # summed batch with multiplier N / batch
    ("B_sum_grad", None),   # its gradient (what the optimisers all-reduce)
])
def test_deterministic_objectives_equal_one_call_on_the_global_batch(results, name,
                                                                     shape):
    got, want = results
    if shape is not None:
        assert got[name].shape == want[name].shape == shape
    else:
        assert got[name].shape == want[name].shape
    scale = np.abs(want[name]).max()
    assert np.all(np.isfinite(want[name])) and scale > 1e-3
    atol = 1e-5 * scale if name == "B_sum_grad" else 0.0
    np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=atol, err_msg=name)
