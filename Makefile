# The README's commands. Every target sets up what it needs first.
PY := .venv/bin/python
export log_silent ?= 1

.PHONY: setup test demo bench bench-quick clean

setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) examples/vae.py

clean:
	rm -rf build *.egg-info zhusuan/_C*.so .pytest_cache
