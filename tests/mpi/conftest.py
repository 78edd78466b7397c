"""What the MPI tests share: the marker, the skip rule and the launchers.

Every test here starts ``mpirun`` in a subprocess (and its oracle in another
plain process), so nothing of one run leaks into another. They need Open MPI
(``make setup-mpi``) and skip, saying so, without it. ``make test`` leaves
them out (marker ``mpi``); ``make test-mpi`` runs them.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mpi_launch import mpi_missing, mpirun_command, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mpi: launches mpirun (needs Open MPI: make setup-mpi); "
        "`make test-mpi` runs them, `make test` leaves them out")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.mpi)


@pytest.fixture(scope="session")
def mpirun():
    """``mpirun(n, script, *args, timeout=900)``: run ``python script args``
    as n MPI processes; returns the CompletedProcess (an AssertionError with
    the output when it fails). Skips, with the reason, when MPI is not set
    up."""
    reason = mpi_missing()
    if reason:
        pytest.skip(reason)

    def launch(n, *args, timeout=900):
        return run(mpirun_command(n, *args), timeout)

    return launch


@pytest.fixture(scope="session")
def python():
    """``python(script, *args, timeout=900)``: a program in one plain process
    (no mpirun), with the environment of the MPI runs."""

    def launch(*args, timeout=900):
        return run([sys.executable, *args], timeout)

    return launch
