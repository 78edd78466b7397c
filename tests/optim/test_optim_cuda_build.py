"""The optimiser's CUDA kernels (csrc/cuda/optim.cu) compile for sm_80 and
sm_90 without register spills, in float and double.

No GPU is needed (``nvcc -c`` into a temporary directory, ``-Xptxas -v`` for
the register and spill report, as tests/kernels/test_cuda_build.py does for
the probabilistic kernels). Skipped when ``nvcc`` is not on the PATH.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
NVCC = shutil.which("nvcc")

# CUDA code: `make test-gpu` runs these (CI too); `make test` leaves them out.
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(NVCC is None, reason="nvcc is not on the PATH")]

_ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'")
_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_optim_kernels_compile_without_spills(arch, tmp_path):
    cmd = [NVCC, "-std=c++17", "-O3", "--fmad=false", "-c", f"-arch={arch}",
           "-Xptxas", "-v", f"-I{CSRC / 'include'}", f"-I{CSRC}",
           str(CSRC / "cuda" / "optim.cu"), "-o", str(tmp_path / "optim.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{text[-4000:]}"
    kernels, current = {}, None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = m.group(1)
            kernels[current] = None
            continue
        m = _SPILLS.search(line)
        if m and current is not None:
            kernels[current] = tuple(map(int, m.groups()))
    # Mangled names: adam_kernel / sgd_kernel, each for float (f) and double (d).
    for name in ("adam_kernel", "sgd_kernel"):
        found = [k for k in kernels if name in k]
        assert len(found) == 2, f"expected {name} for float and double, got {found}"
    spilling = {k: v for k, v in kernels.items() if v != (0, 0)}
    assert not spilling, f"register spills (stores, loads): {spilling}"
