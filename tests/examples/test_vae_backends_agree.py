"""With a fixed seed, the first 20 training losses of examples/vae.py agree
across every kernel backend built here (within 1e-4 relative).

The oracle is the reference backend (plain Jittor ops): all backends draw
the same noise (eps comes from Jittor's seeded generator and is an input to
the fused kernels), so only the kernels' arithmetic may differ.

Each backend trains in its own process, as a user runs the example: in one
pytest process, a native run right after tests/examples/test_nice_example.py
differed from a fresh process by 4e-4 relative from the first loss on (the
runs after it agreed again); that leak of state between runs in one process
is an open finding (docs/design.md, Jittor traps), not what this test is
about.
"""

import json
import os
import subprocess
import sys

import zhusuan as zs

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VAE = os.path.join(ROOT, "examples", "vae.py")


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="needs the Debian package dataset-fashion-mnist (make setup)")
def test_first_20_losses_agree_across_backends(tmp_path):
    info = zs.kernels.backend_info()["backends"]
    built = [name for name, b in info.items() if b["available"]]
    if len(built) < 2:
        pytest.skip(f"only {built} built here; nothing to compare")
    previous = zs.kernels.get_backend()
    losses = {}
    try:
        for name in built:
            out = tmp_path / name
            cmd = [sys.executable, VAE, "--dataset", "fashion-mnist", "--epochs", "1",
                   "--max-steps", "20", "--log-losses", "20", "--is-n", "8", "--is-k", "2",
                   "--seed", "7", "--backend", name, "--out-dir", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            assert proc.returncode == 0, proc.stderr[-3000:]
            with open(out / "metrics.json") as f:
                losses[name] = np.array(json.load(f)["first_losses"])
    finally:
        zs.kernels.set_backend(previous)
    ref = losses["jittor"]
    assert len(ref) == 20 and np.all(np.isfinite(ref))
    for name, got in losses.items():
        np.testing.assert_allclose(got, ref, rtol=1e-4, err_msg=name)
