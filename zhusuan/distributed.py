"""Data-parallel training under MPI: thin wrappers over Jittor's own.

Jittor runs data-parallel under ``mpirun`` when it was built with MPI
(``make setup-mpi`` installs Open MPI; Jittor compiles its MPI operators at
import once ``mpicc`` is on the PATH). Each process is a *rank*; Jittor's
optimisers (and zhusuan's, :mod:`zhusuan.optim`) all-reduce the gradients
(mean over ranks) in ``backward`` and broadcast the parameters from rank 0.
What a training loop still has to do itself, these functions do:

* who am I: :func:`rank`, :func:`world_size`, :func:`is_main`,
  :func:`in_mpi`;
* which part of a global batch is mine: :func:`shard`;
* one random stream per rank: :func:`rank_seed`;
* metrics over all ranks: :func:`all_reduce_mean`, :func:`all_reduce_sum`,
  :func:`all_gather` (per-data-point values in rank order);
* the same start everywhere: :func:`broadcast`, :func:`broadcast_parameters`;
* files written once: :func:`main_only` (Jittor's
  ``jt.single_process_scope``), :func:`barrier`.

Without MPI (a plain ``python`` run, or Jittor built without it) every
function is the single-process identity: rank 0 of 1, reductions return
their input, :func:`main_only` just calls the function. Values of Vars are
reduced by Jittor's ``mpi_all_reduce`` / ``mpi_broadcast`` operators;
Python numbers and NumPy arrays go through a float64 Var, so metrics keep
double precision. Every rank must make the same collective calls in the
same order (as with any MPI program): a reduction called on one rank only
waits for ever.

Example (``mpirun -np 2 python train.py``)::

    import zhusuan as zs
    dist = zs.distributed
    x_local = x_global[dist.shard(len(x_global), even=True)]
    jt.set_seed(dist.rank_seed(zs.utils.derive_seed(seed, "step", step)))
    loss = model({'x': jt.array(x_local)})
    optimizer.step(loss)                     # gradients all-reduced by Jittor
    value = dist.all_reduce_mean(loss).item()  # the global batch's loss

    @dist.main_only
    def write(metrics):
        ...                                  # runs on rank 0 only

See ``docs/distributed.md``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import jittor as jt
import numpy as np

T = TypeVar("T")

__all__ = [
    "in_mpi",
    "rank",
    "world_size",
    "is_main",
    "shard",
    "rank_seed",
    "all_reduce_mean",
    "all_reduce_sum",
    "all_gather",
    "broadcast",
    "broadcast_parameters",
    "barrier",
    "main_only",
]


def in_mpi() -> bool:
    """Whether this process runs under ``mpirun`` with Jittor's MPI
    operators (``jt.in_mpi``; False inside :func:`main_only`)."""
    return bool(jt.in_mpi)


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1`` (``jt.rank``; 0
    without MPI)."""
    return int(jt.rank) if in_mpi() else 0


def world_size() -> int:
    """The number of processes (``jt.world_size``; 1 without MPI)."""
    return int(jt.world_size) if in_mpi() else 1


def is_main() -> bool:
    """True on rank 0, the process that logs and writes files."""
    return rank() == 0


def shard(n: int, *, even: bool = False) -> slice:
    """This rank's part of ``n`` items, as a ``slice``: the ranks' slices are
    contiguous, in rank order, and cover ``range(n)`` once.

    With ``even=True`` (a training batch) ``n`` must be a multiple of
    :func:`world_size`, so that every rank gets ``n // world_size()`` items
    and the mean of the ranks' batch means is the mean over the global
    batch; otherwise a ``ValueError`` says so. With ``even=False`` (an
    evaluation set) the first ``n % world_size()`` ranks get one item more
    (``numpy.array_split``'s rule), and a rank may get none.

    This is the rule of ``jittor.dataset.Dataset`` (its ``batch_size`` is the
    global batch, rank r takes the r-th contiguous block of each batch) for
    batches that divide evenly.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"shard() takes a number of items >= 0, got {n!r}")
    n, size, r = int(n), world_size(), rank()
    if even and n % size:
        raise ValueError(f"{n} items do not split evenly over {size} processes; "
                         f"use a multiple of {size}")
    base, extra = divmod(n, size)
    start = r * base + min(r, extra)
    return slice(start, start + base + (1 if r < extra else 0))


def rank_seed(seed: int, rank_: int | None = None) -> int:
    """The seed of this rank's random stream for ``seed`` (or of rank
    ``rank_``): ``seed`` itself on rank 0, an independent stream
    (``zs.utils.derive_seed(seed, "rank", r)``) on rank r > 0.

    Seeding each rank's draws with its own stream keeps the ranks' noise
    independent (as ``jt.set_global_seed`` does with its per-rank offset),
    and rank 0's draws, hence a one-process run under ``mpirun -np 1``,
    equal a plain run's. A single process that wants the draws of N ranks
    (a test's oracle) seeds shard r with ``rank_seed(seed, r)``.
    """
    from .utils import derive_seed

    r = rank() if rank_ is None else int(rank_)
    if r < 0:
        raise ValueError(f"rank must be >= 0, got {rank_!r}")
    return int(seed) if r == 0 else derive_seed(seed, "rank", r)


# -- reductions ------------------------------------------------------------------------


def _to_var(x: Any) -> tuple[Any, np.ndarray]:
    """A float64 Var holding a number or an array (and how to give it back)."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("all-reduce of a bool: convert it to a number first")
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"cannot all-reduce a value of dtype {arr.dtype} ({x!r})")
    with jt.flag_scope(auto_convert_64_to_32=0):
        # Integers go through float64 too (exact up to 2**53): Jittor's
        # int64 reduction names the wrong MPI datatype.
        var = jt.array(np.ascontiguousarray(arr, dtype=np.float64).reshape(-1))
    return var, arr


def _from_numpy(out: np.ndarray, arr: np.ndarray, x: Any) -> Any:
    out = out.reshape(arr.shape)
    if arr.dtype.kind in "iu":
        out = np.rint(out).astype(arr.dtype)
    else:
        out = out.astype(arr.dtype)
    if isinstance(x, np.ndarray):
        return out
    if isinstance(x, numbers.Integral):
        return int(out)
    if isinstance(x, numbers.Real):
        return float(out)
    return out  # a list or a NumPy scalar: an array of the same shape


def _collective(x: T, fn: Callable[[jt.Var], jt.Var]) -> T:
    """``fn`` (a Jittor MPI operator on a Var) applied to ``x``: a Var gives
    a Var; a number or NumPy array goes through a float64 Var and comes back
    as its own type. Without MPI, ``x``."""
    if not in_mpi():
        return x
    if isinstance(x, jt.Var):
        return fn(x)
    var, arr = _to_var(x)
    return _from_numpy(fn(var).numpy(), arr, x)


def _all_reduce(x: T, op: str) -> T:
    return _collective(x, lambda v: v.mpi_all_reduce(op))


def all_reduce_mean(x: T) -> T:
    """The mean of ``x`` over the ranks, on every rank.

    ``x``: a Var (returns a Var; Jittor's ``mpi_all_reduce("mean")``,
    differentiable), a Python number (returns one) or a NumPy array (returns
    an array of its shape and dtype; computed in float64). Without MPI,
    ``x`` itself.

    The mean of the ranks' means is the mean over the global batch when the
    ranks' batches are equal (see :func:`shard`); for uneven parts reduce
    sums and counts with :func:`all_reduce_sum` instead.
    """
    return _all_reduce(x, "mean")


def all_reduce_sum(x: T) -> T:
    """The sum of ``x`` over the ranks, on every rank (Jittor's
    ``mpi_all_reduce("add")``); types as :func:`all_reduce_mean`."""
    return _all_reduce(x, "add")


def all_gather(x: Any) -> np.ndarray:
    """The ranks' arrays concatenated along axis 0 in rank order, on every
    rank: with :func:`shard` (``even=False``), the per-item values of a whole
    set evaluated in parts. Arrays may differ in length (and be empty) but
    not in their other axes. Returns a NumPy array of ``x``'s dtype. Values
    come back exactly (NaN and infinities too; -0.0 as 0.0).

    Jittor has no all-gather on the CPU; this is two of its all-reduces:
    the lengths, then the rows, each rank's in its place among zeros (adding
    zeros changes no value). Without MPI, ``np.asarray(x)``.
    """
    arr = np.asarray(x)
    if not in_mpi():
        return arr
    if arr.ndim == 0:
        arr = arr.reshape(1)
    counts = np.zeros(world_size(), np.int64)
    counts[rank()] = arr.shape[0]
    counts = all_reduce_sum(counts)
    start = int(counts[:rank()].sum())
    # Everything travels as float64 (float32 exactly, integers up to 2**53),
    # so that ranks whose parts have different dtypes (an empty part) agree.
    full = np.zeros((int(counts.sum()), *arr.shape[1:]), dtype=np.float64)
    full[start:start + arr.shape[0]] = arr
    with jt.flag_scope(auto_convert_64_to_32=0):
        var = jt.array(full)
    out = var.mpi_all_reduce("add").numpy()
    if arr.dtype.kind in "iu":
        return np.rint(out).astype(arr.dtype)
    return out.astype(arr.dtype)


def broadcast(x: T, root: int = 0) -> T:
    """``x`` as rank ``root`` has it, on every rank (Jittor's
    ``mpi_broadcast``). A Var gives a Var; a number or NumPy array gives
    the same type (through float64). Without MPI, ``x``."""
    return _collective(x, lambda v: v.mpi_broadcast(root))


def broadcast_parameters(params: jt.Module | Iterable[jt.Var], root: int = 0) -> None:
    """Give every rank rank ``root``'s values of ``params`` (a Module, whose
    ``parameters()`` are taken, or a list of Vars), in place, before any
    training step: ranks that initialise their weights from different
    seeds (``jt.set_global_seed`` offsets each rank's seed) then start from
    one point. ``Module.mpi_param_broadcast``'s update, applied now (a sync)
    rather than lazily. Without MPI, nothing."""
    if not in_mpi():
        return
    if isinstance(params, jt.Module):
        params = params.parameters()
    params = list(params)
    for p in params:
        p.update(p.mpi_broadcast(root))
        jt.sync([p])  # one collective at a time, in the same order on every rank


def barrier() -> None:
    """Wait until every rank gets here (MPI_Barrier). Without MPI, nothing."""
    if in_mpi():
        jt.mpi.mpi_barrier()


def main_only(func: Callable[..., T]) -> Callable[..., T | None]:
    """Decorator: ``func`` runs on rank 0 only (the other ranks get None at
    once), with MPI switched off inside it, so that a reduction it calls does
    not wait for the others. Jittor's ``jt.single_process_scope(rank=0)``:
    every rank first syncs its pending Vars. Use it for what must happen
    once: writing metrics, pictures, checkpoints; printing. Without MPI,
    ``func`` runs as usual."""
    return jt.single_process_scope(rank=0)(func)
