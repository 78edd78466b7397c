"""zs.distributed and zs.optim under ``mpirun -np 2``, against what one
process computes by hand.

dist_program.py runs on two ranks and reports what every rank got; the
expected values here are written out or computed with NumPy in float64
from the definitions (the mean of the gradients over the ranks, rank 0's
starting point).

The optimiser check is the data-parallel contract: each rank starts from its
own point w_r and pulls towards its own target t_r with the loss
|w - t_r|^2. A correct data-parallel step starts from rank 0's w_0 and
follows the mean gradient 2 (w - mean_r t_r) on every rank; without the
all-reduce the ranks drift apart, without the broadcast before the first
gradient (Jittor's own optimisers broadcast after it) the first step is taken
at w_1 on rank 1. Tolerance: the runs compute in float32, three steps of a
few operations each, so values agree to a few float32 ulps of numbers of
order 1: rtol 1e-5 (the largest error seen is below 1e-7 relative).
"""

import json
import os

import numpy as np
import pytest

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_program.py")
N = 2


@pytest.fixture(scope="module")
def report(tmp_path_factory, mpirun):
    # one mpirun for all the checks below (a launch costs seconds)
    path = tmp_path_factory.mktemp("dist") / "report.json"
    mpirun(N, PROGRAM, str(path), timeout=600)
    with open(path) as f:
        return json.load(f)


def per_rank(report, key):
    rows = report[key]
    assert len(rows) == N, f"{key}: {len(rows)} ranks reported"
    return rows


def test_identity_of_each_rank(report):
    assert per_rank(report, "rank_world") == [[0, 2, 1, 1], [1, 2, 0, 1]]


def test_reductions_reach_every_rank(report):
    assert per_rank(report, "mean_float") == [[1.5]] * N          # (1 + 2) / 2
    assert per_rank(report, "sum_int") == [[3]] * N               # 1 + 2
    assert per_rank(report, "sum_int_type") == [[1]] * N          # an int back
    assert per_rank(report, "sum_array") == [[0, 3, 6]] * N       # [0,1,2] * (1 + 2)
    assert per_rank(report, "mean_var") == [[0.5, 1.0]] * N       # mean of [0,0], [1,2]
    # a float64 sum (a float32 one would give 2.0 exactly)
    assert per_rank(report, "sum_float64") == [[(1.0 + 1e-12) + (1.0 + 2e-12)]] * N


def test_all_gather_concatenates_uneven_parts_exactly(report):
    # rank 0 sends no rows, rank 1 three (the first [nan, -inf]), float32 kept
    assert report["gather"] == [[None, -np.inf], [1.0, 1.0], [1.0, 1.0]]
    assert report["gather_dtype"] == "float32"


def test_shards_cover_the_items_once(report):
    assert per_rank(report, "shard5") == [[0, 3], [3, 5]]         # array_split's rule
    assert per_rank(report, "shard_even") == [[0, 4], [4, 8]]
    assert "9 items do not split evenly over 2 processes" in report["shard_uneven_error"]


def test_broadcast_gives_rank_0s_value(report):
    assert per_rank(report, "broadcast") == [[10.0, 0.0]] * N


def test_rank_seeds(report):
    seeds = per_rank(report, "rank_seed")
    assert seeds[0] == [1234]                # rank 0 keeps the seed: a 1-process run
    assert seeds[1] != seeds[0]


def test_main_only_runs_once_on_rank_0(report):
    # rank 0 ran it (and its sum inside saw one process: 5); rank 1 got None
    assert per_rank(report, "main_only") == [[1, 5], [0, -1]]


def _oracle(kind, steps=3, lr=0.1):
    w = np.array([1.0, 2.0])                         # rank 0's start
    target = np.mean([[0.0, 0.0], [1.0, -2.0]], 0)   # the ranks' targets
    buf, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = 2.0 * (w - target)                       # mean of 2 (w - t_r)
        if kind == "sgd":
            w = w - lr * g
        elif kind == "sgd_momentum":                 # Jittor's SGD: buffer from 0
            buf = 0.9 * buf + g
            w = w - lr * buf
        else:                                        # Jittor's (and zs's) Adam
            b1, b2, eps = 0.9, 0.999, 1e-8
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("key,kind", [
    ("zs_sgd", "sgd"),
    ("zs_sgd_momentum", "sgd_momentum"),
    ("zs_adam", "adam"),
    ("zs_adam_native", "adam"),
    ("zs_adam_jit", "adam"),
    ("zs_adam_jittor", "adam"),
    # Jittor's optimisers agree once the parameters are broadcast first
    # (examples/vae.py does, with zs.distributed.broadcast_parameters)
    ("jt_sgd_broadcast_first", "sgd"),
    ("jt_adam_broadcast_first", "adam"),
])
def test_optimiser_steps_are_the_one_process_steps(report, key, kind):
    if key not in report:
        pytest.skip(f"{key}: backend not built here")
    expected = _oracle(kind)
    for r, got in enumerate(per_rank(report, key)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=f"{key}, rank {r}")
