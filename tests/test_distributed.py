"""zs.distributed in one plain process (no mpirun): every function is the
single-process identity, and the sharding rule is numpy.array_split's.
The same functions under ``mpirun -np 2`` are tests/mpi/test_distributed_mpi.py.
"""

import zhusuan as zs

import jittor as jt
import numpy as np
import pytest

dist = zs.distributed


@pytest.fixture(autouse=True)
def _not_under_mpirun():
    if dist.in_mpi():
        pytest.skip("these are the one-process checks; this run is under mpirun")


def test_one_process_is_rank_0_of_1():
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)


def test_reductions_return_their_input():
    v = jt.array([1.0, 2.0])
    assert dist.all_reduce_mean(v) is v and dist.all_reduce_sum(v) is v
    a = np.arange(3)
    assert dist.all_reduce_sum(a) is a
    assert dist.all_reduce_mean(2.5) == 2.5 and dist.all_reduce_sum(3) == 3
    assert dist.broadcast(v) is v and dist.broadcast(7) == 7
    np.testing.assert_array_equal(dist.all_gather([[1, 2], [3, 4]]), [[1, 2], [3, 4]])


def test_main_only_runs_the_function():
    calls = []

    @dist.main_only
    def write(x):
        calls.append(x)
        return x + 1

    assert write(1) == 2 and calls == [1]


def test_broadcast_parameters_and_barrier_change_nothing():
    p = jt.array(np.array([1.5, -2.0], np.float32))
    dist.broadcast_parameters([p])
    dist.barrier()
    np.testing.assert_array_equal(p.numpy(), [1.5, -2.0])
    assert not p.is_stop_grad()


def test_rank_seed():
    assert dist.rank_seed(1234) == 1234                     # rank 0: the seed itself
    assert dist.rank_seed(1234, 0) == 1234
    assert dist.rank_seed(1234, 1) == zs.utils.derive_seed(1234, "rank", 1) != 1234
    assert dist.rank_seed(1234, 1) != dist.rank_seed(1234, 2)
    with pytest.raises(ValueError, match="rank must be >= 0"):
        dist.rank_seed(1, -1)


@pytest.mark.parametrize("n", [0, 1, 5, 7, 12])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shard_is_array_split(monkeypatch, n, size):
    parts = np.array_split(np.arange(n), size)
    monkeypatch.setattr(dist, "world_size", lambda: size)
    for r in range(size):
        monkeypatch.setattr(dist, "rank", lambda r=r: r)
        np.testing.assert_array_equal(np.arange(n)[dist.shard(n)], parts[r])
        if n % size == 0:
            assert dist.shard(n, even=True) == dist.shard(n)
        else:
            with pytest.raises(ValueError, match=f"do not split evenly over {size}"):
                dist.shard(n, even=True)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3"])
def test_shard_refuses_a_bad_count(bad):
    with pytest.raises(ValueError, match="number of items"):
        dist.shard(bad)


def test_reductions_refuse_what_is_not_a_number(monkeypatch):
    monkeypatch.setattr(dist, "in_mpi", lambda: True)  # the checks come first
    for bad in (True, "x", np.array(["a"])):
        with pytest.raises(TypeError):
            dist.all_reduce_sum(bad)
