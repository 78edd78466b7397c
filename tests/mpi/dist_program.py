"""Run under ``mpirun -np N`` by test_distributed_mpi.py: every rank calls
zs.distributed's functions and trains a two-element parameter with each
optimiser on a rank-dependent loss; what every rank got is gathered, and
rank 0 writes it to ``argv[1]`` (JSON). The test compares it with what one
process computes by hand (NumPy): nothing is asserted here.
"""

import json
import sys

import zhusuan as zs

import jittor as jt
import numpy as np

dist = zs.distributed


def gather_rows(value):
    """Every rank's ``value`` (a flat list of numbers), as a list per rank."""
    row = np.asarray(value, np.float64).reshape(1, -1)
    return dist.all_gather(row).tolist()


def train(make_optimizer, steps, broadcast_first):
    # Each rank starts from its own point and pulls towards its own target,
    # so neither a missing broadcast nor a missing all-reduce can go unseen.
    r = dist.rank()
    w = jt.array(np.array([1.0 + 10.0 * r, 2.0 - 3.0 * r], np.float32))
    if broadcast_first:
        dist.broadcast_parameters([w])
    target = jt.array(np.array([float(r), -2.0 * r], np.float32))
    optimizer = make_optimizer([w])
    for _ in range(steps):
        optimizer.step(((w - target) ** 2).sum())
    return gather_rows(w.numpy())


def main(path):
    r, n = dist.rank(), dist.world_size()
    out = {"rank_world": gather_rows([r, n, dist.is_main(), dist.in_mpi()])}
    out["mean_float"] = gather_rows([dist.all_reduce_mean(float(r + 1))])
    out["sum_int"] = gather_rows([dist.all_reduce_sum(r + 1)])
    out["sum_int_type"] = gather_rows([isinstance(dist.all_reduce_sum(r + 1), int)])
    out["sum_array"] = gather_rows(dist.all_reduce_sum(np.arange(3.0) * (r + 1)))
    out["mean_var"] = gather_rows(
        dist.all_reduce_mean(jt.array(np.array([r, 2.0 * r], np.float32))).numpy())
    # float64 metrics keep their precision (1 + 1e-12 is not a float32)
    out["sum_float64"] = gather_rows([dist.all_reduce_sum(1.0 + 1e-12 * (r + 1))])
    # uneven parts (rank r has 3r rows: rank 0's is empty), NaN and inf
    part = np.full((3 * r, 2), float(r), np.float32)
    if r == 1:
        part[0] = [np.nan, -np.inf]
    gathered = dist.all_gather(part)
    out["gather"] = [[None if np.isnan(v) else float(v) for v in row] for row in gathered]
    out["gather_dtype"] = str(gathered.dtype)
    out["shard5"] = gather_rows([dist.shard(5).start, dist.shard(5).stop])
    out["shard_even"] = gather_rows([dist.shard(4 * n, even=True).start,
                                     dist.shard(4 * n, even=True).stop])
    try:
        dist.shard(4 * n + 1, even=True)
        uneven_error = ""
    except ValueError as exc:
        uneven_error = str(exc)
    out["shard_uneven_error"] = uneven_error
    out["broadcast"] = gather_rows(dist.broadcast(np.array([r + 10.0, -r])))
    out["rank_seed"] = gather_rows([dist.rank_seed(1234)])

    ran = []

    @dist.main_only
    def write_once():
        ran.append(dist.rank())
        # MPI is off inside: a reduction here does not wait for the others
        return dist.all_reduce_sum(5)

    result = write_once()
    out["main_only"] = gather_rows([len(ran), -1 if result is None else result])
    dist.barrier()

    out["zs_sgd"] = train(lambda p: zs.optim.SGD(p, 0.1), 3, False)
    out["zs_sgd_momentum"] = train(lambda p: zs.optim.SGD(p, 0.1, momentum=0.9), 3, False)
    out["zs_adam"] = train(lambda p: zs.optim.Adam(p, 0.1), 3, False)
    for backend, info in zs.optim.backend_info()["backends"].items():
        if info["available"]:
            out[f"zs_adam_{backend}"] = train(
                lambda p, b=backend: zs.optim.Adam(p, 0.1, backend=b), 3, False)
    out["jt_sgd_broadcast_first"] = train(lambda p: jt.optim.SGD(p, 0.1), 3, True)
    out["jt_adam_broadcast_first"] = train(lambda p: jt.optim.Adam(p, 0.1), 3, True)
    if dist.is_main():
        with open(path, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
