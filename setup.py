# Not part of the build: pyproject.toml's build backend is scikit-build-core,
# which runs CMakeLists.txt directly (docs/design.md, "Building"). This file
# stays only so that an old habit (`python setup.py install`/`develop`) gets a
# pointer instead of a half-working legacy build; pip never runs it.
import sys

sys.exit("zhusuan builds with scikit-build-core from pyproject.toml: use "
         "`pip install .` (or `pip install -e .`); see docs/install.md")
