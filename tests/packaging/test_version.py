"""The version is defined once, as ``__version__`` in zhusuan/__init__.py:
scikit-build-core reads it into the package metadata (pyproject.toml,
[tool.scikit-build.metadata.version]) and hands it to CMake, which compiles
it into zhusuan._C."""

import importlib.metadata
import re
from pathlib import Path

import zhusuan
from zhusuan.kernels import _ext

ROOT = Path(__file__).resolve().parents[2]


def test_metadata_and_extension_carry_the_one_version():
    assert importlib.metadata.version("zhusuan") == zhusuan.__version__
    if _ext.C is not None:
        assert _ext.C.__version__ == zhusuan.__version__


def test_no_second_definition_in_the_build_files():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert not re.search(r"project\([^)]*VERSION\s+[0-9]", cmake)
