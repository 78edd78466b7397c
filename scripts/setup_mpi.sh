#!/usr/bin/env bash
# Data-parallel training under MPI (docs/distributed.md); called by
# `make setup-mpi`, after `make setup`. Safe to run again (each step checks
# first). What it does to the machine:
#   1. apt: installs Open MPI (openmpi-bin: mpirun; libopenmpi-dev: mpicc and
#      the headers) when `mpicc` is not on the PATH (needs root or sudo).
#   2. imports Jittor once: with `mpicc` on the PATH, Jittor compiles its MPI
#      operators (mpi_all_reduce, mpi_broadcast, ...) into ~/.cache/jittor at
#      import, once; later imports load them from the cache.
#   3. runs `mpirun -np 2` on a two-line program that all-reduces each rank's
#      number, to show that the processes see each other.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"

say() { printf '\033[1m[setup-mpi]\033[0m %s\n' "$*"; }

if [ ! -x "$PY" ]; then
    say "no $PY: run make setup first"
    exit 1
fi

# 1. Open MPI --------------------------------------------------------------------
if command -v mpicc >/dev/null && command -v mpirun >/dev/null; then
    say "Open MPI present: $(mpirun --version 2>/dev/null | head -n1)"
else
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        say "cannot install openmpi-bin and libopenmpi-dev (not root, no sudo)"
        exit 1
    fi
    say "installing openmpi-bin libopenmpi-dev with apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        openmpi-bin libopenmpi-dev >/dev/null
    say "installed: $(mpirun --version 2>/dev/null | head -n1)"
fi

# 2. Jittor's MPI operators --------------------------------------------------------
say "importing Jittor (compiles its MPI operators the first time)"
"$PY" - <<'PY'
import zhusuan  # noqa: F401  (sets up Jittor's environment first)
from jittor import compile_extern

if not compile_extern.has_mpi or compile_extern.mpi_ops is None:
    raise SystemExit("[setup-mpi] Jittor did not build its MPI operators "
                     f"(mpicc: {getattr(compile_extern, 'mpicc_path', None)!r}, "
                     f"use_mpi={compile_extern.use_mpi})")
print("[setup-mpi] Jittor's MPI operators:",
      ", ".join(k for k in sorted(vars(compile_extern.mpi_ops)) if k.startswith("mpi_")))
PY

# 3. Two processes talk -------------------------------------------------------------
# Root may run mpirun only when it says so; --oversubscribe lets two ranks
# share a machine with fewer free slots than ranks.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
say "mpirun -np 2: each rank all-reduces its rank + 1 (expect 3 on both)"
mpirun --oversubscribe --bind-to none -np 2 "$PY" -c '
import zhusuan as zs
import jittor as jt
total = zs.distributed.all_reduce_sum(float(zs.distributed.rank() + 1))
print(f"[setup-mpi] rank {zs.distributed.rank()} of {zs.distributed.world_size()}: "
      f"sum {total:g}", flush=True)
assert zs.distributed.world_size() == 2 and total == 3.0, total
'
say "done"
