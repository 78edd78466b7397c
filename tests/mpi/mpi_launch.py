"""How the MPI tests start their programs: ``mpirun -np N python ...`` and,
for the oracles, one plain ``python ...``, each in a subprocess with the same
environment (imported by conftest.py and the test modules)."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mpi_missing():
    """Why the MPI tests cannot run here, or None."""
    missing = [tool for tool in ("mpirun", "mpicc") if shutil.which(tool) is None]
    if missing:
        return (f"Open MPI is not installed ({' and '.join(missing)} not on the PATH); "
                "`make setup-mpi` installs it")
    from jittor import compile_extern

    if not compile_extern.has_mpi or compile_extern.mpi_ops is None:
        return ("Jittor has no MPI operators (it builds them at import when mpicc is "
                "on the PATH; `make setup-mpi`)")
    return None


def environment(**extra):
    """The subprocesses' environment: root may run mpirun only when it says
    so; one OpenMP thread per process (two ranks share two cores, and the
    oracle computes with a rank's thread count: oneDNN's and the kernels'
    reductions are split by thread)."""
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", log_silent="1")
    env.update(extra)
    return env


def mpirun_command(n, *args):
    """``mpirun -np n python args...`` as the tests (and the docs) run it: as
    root, on a machine shared with other jobs (no binding to cores, waiting
    ranks yield their core instead of spinning: 5x faster here when another
    job holds a core)."""
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
            "--mca", "mpi_yield_when_idle", "1", "-np", str(n), sys.executable, *args]


def run(cmd, timeout=900, env=None, check=True):
    """Run ``cmd`` through a shell (a child of this process, which imported
    Jittor, that died from a signal would make Jittor's SIGCHLD handler quit
    pytest); with ``check``, an AssertionError carrying the output when it
    fails."""
    proc = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *cmd], cwd=ROOT,
                          env=env or environment(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}")
    return proc
