"""pytest-benchmark: one training step of the tutorial's VAE (784-500-500-40,
batch 128, Adam lr 1e-3) for every contender available here.

The contenders are those of the comparison runner (:mod:`benches.cases`):
zhusuan on each backend, PyTorch by hand, Pyro's ``SVI`` with ``Trace_ELBO``
and plain Jittor. Those that cannot run here (a backend not built, PyTorch or
Pyro not installed) are skipped with the reason. Run with ``make bench``, or::

    python -m pytest benches -o python_files='bench_*.py' --benchmark-only
"""

import math

import pytest

from benches import cases

CONTENDERS = cases.vae_contenders(cases.VAE_BATCH)
WARMUP_STEPS = 3  # Jittor compiles its kernels during the first calls


@pytest.mark.parametrize("contender", CONTENDERS, ids=[c.name for c in CONTENDERS])
def test_vae_step(benchmark, contender):
    try:
        contender.setup()
    except cases.Unavailable as exc:
        pytest.skip(str(exc))
    try:
        for _ in range(WARMUP_STEPS):
            contender.step()
        benchmark.group = f"VAE training step (784-500-500-40, batch {cases.VAE_BATCH})"
        benchmark.extra_info["framework"] = contender.framework
        loss = benchmark(contender.step)
        assert math.isfinite(loss)
    finally:
        contender.close()
