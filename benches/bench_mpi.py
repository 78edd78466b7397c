"""Steps per second of examples/vae.py's training loop in 1 and 2 MPI
processes, at the same global batch (a script, not a pytest-benchmark file).

    .venv/bin/python benches/bench_mpi.py [--steps 200] [--batch-size 128]

Runs, each in its own process(es), after one untimed warm-up run of each
(Jittor compiles its kernels on first use):

* ``python`` with 1 and with 2 OpenMP threads (no MPI);
* ``mpirun -np 1`` and ``mpirun -np 2`` with 1 thread per process, the
  latter also with ``--mca mpi_yield_when_idle 1`` (a rank waiting in an
  all-reduce yields its core instead of spinning: it matters as soon as the
  cores are shared with anything else);

and prints the steps per second the example reports (``metrics.json``:
training steps over the training loop's wall time; each step of an N-process
run is one global batch) and the loss after the last step, whose agreement
says the runs trained the same model (the 2-process run draws other latent
noise, so it agrees only statistically). On a 2-core machine the point is
correctness and the cost of the all-reduces, not a speed-up: two processes
share the cores one process could use with two threads. Needs Open MPI
(``make setup-mpi``) for the MPI rows; without it they are skipped.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAE = os.path.join(ROOT, "examples", "vae.py")


def run(config, args, out_dir):
    procs, threads, yield_idle = config
    cmd = [sys.executable, VAE, "--dataset", "fashion-mnist", "--epochs", "1",
           "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--eval-n", str(args.batch_size), "--is-n", "8", "--is-k", "2",
           "--log-losses", str(args.steps), "--out-dir", out_dir]
    if procs:
        mca = ["--mca", "mpi_yield_when_idle", "1"] if yield_idle else []
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
               *mca, "-np", str(procs), *cmd]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), log_silent="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = json.load(f)
    return metrics, wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    args = p.parse_args()
    configs = [(0, 1, False), (0, 2, False)]
    if shutil.which("mpirun"):
        configs += [(1, 1, False), (2, 1, False), (2, 1, True)]
    else:
        print("mpirun not found (make setup-mpi): only the one-process rows")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            run(config, argparse.Namespace(steps=5, batch_size=args.batch_size),
                os.path.join(tmp, "warm"))
            metrics, wall = run(config, args, os.path.join(tmp, f"run{len(rows)}"))
            rows.append((config, metrics, wall))
    print(f"\nexamples/vae.py, {args.steps} steps of a global batch of "
          f"{args.batch_size} ({os.cpu_count()} CPUs here)\n")
    print("| run | processes x threads | steps/s | images/s | last loss | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for (procs, threads, yield_idle), m, wall in rows:
        name = f"mpirun -np {procs}" if procs else "python"
        if yield_idle:
            name += " (yield when idle)"
        sps = m["steps_per_second"]
        print(f"| {name} | {max(procs, 1)} x {threads} | {sps:.1f} | "
              f"{sps * args.batch_size:.0f} | {m['first_losses'][-1]:.2f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
