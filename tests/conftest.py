"""Shared fixtures of the zhusuan test suite.

Import order matters: ``import zhusuan`` configures Jittor's environment
(``nvcc_path``, oneDNN; see :mod:`zhusuan._jittor_env`) before Jittor is
first imported. A bare ``import jittor`` on a machine with ``nvcc`` but no
CUDA device crashes, so this module imports zhusuan first and every test
module that imports jittor is collected after it.

Randomness policy (after torch.distributions' test suite): every test starts
from a fixed seed derived from its node id, so a run is reproducible, two
tests do not share one random stream, and renaming a test is the only thing
that changes its draws. Statistical tests state their false-positive rate:
the probability that a correct implementation fails for a seed chosen at
random. With the seed fixed, a test either always passes or always fails.

Fixtures:

``seed``
    the integer seed of the current test (Jittor, NumPy and ``random``
    are reseeded with it by an autouse fixture before the test runs).
``rng``
    a ``numpy.random.Generator`` seeded with ``seed``; draw test inputs from
    it, never from the global NumPy state.
``float64``
    sets ``jt.flags.auto_convert_64_to_32 = 0`` for the duration of the test
    (so ``jt.array`` keeps float64 numpy arrays as float64) and restores the
    previous value afterwards. The library never flips that global itself;
    tests of float64 behaviour request this fixture.
``dtype``
    parametrises a test over ``"float32"`` and ``"float64"``; the float64
    instance also applies the ``float64`` fixture.
"""

import zlib

# isort: off
import zhusuan  # noqa: F401  (must precede the first ``import jittor``)
import jittor as jt

# isort: on
import numpy as np
import pytest

DTYPES = ("float32", "float64")


def _seed_for(nodeid):
    # crc32 is stable across runs and Python versions (unlike hash(), which is
    # salted per process); Jittor's seed must fit in a signed 32-bit int.
    return zlib.crc32(nodeid.encode("utf-8")) & 0x7FFFFFFF


@pytest.fixture
def seed(request):
    """The fixed seed of this test."""
    return _seed_for(request.node.nodeid)


@pytest.fixture(autouse=True)
def _reseed_and_restore_flags(seed):
    """Reseed every random source, and undo any leaked float64 flag."""
    jt.set_global_seed(seed)  # also seeds numpy's global state and ``random``
    saved = jt.flags.auto_convert_64_to_32
    yield
    jt.flags.auto_convert_64_to_32 = saved


@pytest.fixture
def rng(seed):
    """A per-test NumPy generator for drawing test inputs."""
    return np.random.default_rng(seed)


@pytest.fixture
def float64():
    """Let ``jt.array`` keep float64 for this test; restore the flag after."""
    saved = jt.flags.auto_convert_64_to_32
    jt.flags.auto_convert_64_to_32 = 0
    try:
        yield
    finally:
        jt.flags.auto_convert_64_to_32 = saved


@pytest.fixture(params=DTYPES)
def dtype(request):
    """Each floating dtype in turn; float64 runs with the ``float64`` fixture."""
    if request.param == "float64":
        request.getfixturevalue("float64")
    return request.param
