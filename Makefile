# The README's commands. Every target sets up what it needs first.
PY := .venv/bin/python
export log_silent ?= 1

.PHONY: setup setup-mpi test test-full test-gpu test-mpi lint demo docs bench bench-quick \
	bench-deps clean

setup:
	bash scripts/setup.sh

# The CUDA tests (marker gpu) are test-gpu's, the MPI ones (marker mpi) test-mpi's.
test: setup
	$(PY) -m pytest -q -m "not gpu and not mpi"

# The same with every case: the jit backend's whole parity table, all five kill
# points of tests/examples/test_vae_resume.py, the hypothesis suite's full
# sample, and the packaging tests (an sdist, a wheel built from it, installed
# into a fresh venv; tests/packaging/test_packaging.py): about 10 more minutes
# on a cold Jittor cache. The CUDA tests (marker gpu) included.
test-full: setup
	ZHUSUAN_FULL_PARITY=1 ZHUSUAN_FULL_TESTS=1 ZHUSUAN_PACKAGING_TESTS=1 $(PY) -m pytest -q

# The CUDA side: the kernels compile for sm_80/sm_90 without register spills
# (nvcc, no GPU needed), and the native CUDA kernels agree with the CPU ones
# (needs a GPU and a build with -DZHUSUAN_WITH_CUDA=ON, see docs/install.md:
# skipped, with the reason, on a machine without one).
test-gpu: setup
	$(PY) -m pytest -q -m gpu -rs --durations=5
	@$(PY) -c "from zhusuan.kernels import _ext; c = _ext.C_CUDA; \
	    n = c.device_count() if c is not None else 0; \
	    print('[test-gpu]', f'{n} CUDA device(s): the device tests ran' if n else \
	          'no CUDA device (or no zhusuan._C_cuda): the CUDA sources were compiled ' \
	          'and checked, every test that needs a device was skipped')"

# Data-parallel training under MPI (docs/distributed.md): Open MPI from
# Debian (openmpi-bin, libopenmpi-dev; skipped when mpicc is there) and
# Jittor's MPI operators, compiled once (scripts/setup_mpi.sh), then a
# two-process check.
setup-mpi: setup
	bash scripts/setup_mpi.sh

# The tests that launch `mpirun -np 2` (tests/mpi): examples/vae.py in two
# processes against one process on the same global batches, the objectives'
# global values, zs.distributed and the optimisers, --resume after a kill.
test-mpi: setup-mpi
	$(PY) -m pytest -q -rs -m mpi tests/mpi

# ruff, then mypy on the public API (their settings: pyproject.toml's
# [tool.ruff] and [tool.mypy]); each installed on first use, pinned.
MYPY_VERSION := 2.4.1
lint: setup
	@$(PY) -m ruff --version >/dev/null 2>&1 || $(PY) -m pip install -q "ruff==0.17.6"
	@$(PY) -m mypy --version 2>/dev/null | grep -q "^mypy $(MYPY_VERSION) " || \
	    $(PY) -m pip install -q "mypy==$(MYPY_VERSION)"
	$(PY) -m ruff check .
	$(PY) -m mypy

demo: setup
	$(PY) examples/vae.py

# The documentation (docs/, Sphinx): the HTML pages, then the tutorial's code
# run by the doctest builder; warnings are errors in both.
docs: setup
	@$(PY) -c "import sphinx, furo, myst_parser" 2>/dev/null || \
	    $(PY) -m pip install -q "sphinx>=7" furo myst-parser
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	$(PY) -m sphinx -W --keep-going -q -b doctest docs docs/_build/doctest
	@echo "[docs] docs/_build/html/index.html"

# Benchmarks: pytest-benchmark over benches/bench_*.py, then the side-by-side
# comparison runner, which writes benches/results/latest.{json,md,png}.
# The extras (PyTorch, Pyro) are for benchmarking only. torch is pinned and
# installed first so that pip takes the local CPU wheel instead of pulling
# CUDA packages; pyro-ppl (which needs torch) comes with the [bench] extra.
BENCH_PYTEST := $(PY) -m pytest benches -o python_files='bench_*.py' -q \
	--benchmark-only --benchmark-columns=min,median,max,rounds

bench-deps: setup
	@if $(PY) -c "import torch, pyro, pytest_benchmark, matplotlib, sklearn; \
	        assert torch.__version__.split('+')[0] == '2.13.0'" 2>/dev/null; then \
	    echo "[bench] torch, pyro, pytest-benchmark, matplotlib, scikit-learn present"; \
	else \
	    echo "[bench] installing the bench extras into .venv"; \
	    $(PY) -m pip install -q torch==2.13.0 && \
	    $(PY) -m pip install -q --no-build-isolation -e ".[bench]"; \
	fi
	@mkdir -p benches/results

bench: setup bench-deps
	$(BENCH_PYTEST) --benchmark-min-rounds=10 \
	    --benchmark-json=benches/results/pytest-benchmark.json
	$(PY) benches/run.py --out benches/results

bench-quick: setup bench-deps
	$(BENCH_PYTEST) --benchmark-min-rounds=3 --benchmark-max-time=0.2 \
	    --benchmark-json=benches/results/pytest-benchmark.json
	$(PY) benches/run.py --quick --out benches/results

# Builds happen outside the checkout; these are what older, in-tree builds
# (setup.py, a by-hand `cmake -B build`) left behind.
clean:
	rm -rf build dist *.egg-info zhusuan/_C*.so zhusuan/_native_build.log .pytest_cache
