"""Tests marked ``packaging`` build an sdist and a wheel from this checkout
(the C++ kernels three times: about five minutes on two cores) and install
the wheel into a fresh venv. They run with ZHUSUAN_PACKAGING_TESTS=1, which
`make test-full` sets; otherwise they are skipped, saying so."""

import os

import pytest

RUN_PACKAGING = os.environ.get("ZHUSUAN_PACKAGING_TESTS") == "1"


def pytest_collection_modifyitems(config, items):
    if RUN_PACKAGING:
        return
    skip = pytest.mark.skip(
        reason="builds and installs a wheel (minutes): set ZHUSUAN_PACKAGING_TESTS=1 "
        "or run `make test-full`"
    )
    for item in items:
        if item.get_closest_marker("packaging") is not None:
            item.add_marker(skip)
