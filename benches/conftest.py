"""pytest configuration of the benchmark files (``make bench`` collects
``benches/bench_*.py`` with pytest-benchmark).

``import zhusuan`` comes first: it sets up Jittor's environment (no CUDA,
oneDNN) before any benchmark module imports Jittor.
"""

import os

os.environ.setdefault("log_silent", "1")  # Jittor's compile logs

import zhusuan  # noqa: E402,F401
