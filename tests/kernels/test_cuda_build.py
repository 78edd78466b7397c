"""The CUDA kernels compile for sm_80 and sm_90 without register spills.

No GPU is needed: this only runs ``nvcc -c`` on ``csrc/cuda/ops.cu`` (which
instantiates every kernel for float and double) into a temporary directory,
with ``-Xptxas -v`` so that ptxas reports each kernel's registers and spills.
It fails on any compile error, and unless every kernel reports
``0 bytes spill stores`` and ``0 bytes spill loads``. Skipped when ``nvcc`` is
not on the PATH.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
NVCC = shutil.which("nvcc")
ARCHS = ("sm_80", "sm_90")

# CUDA code: `make test-gpu` runs these (CI too); `make test` leaves them out.
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(NVCC is None, reason="nvcc is not on the PATH")]

_ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'")
_SPILLS = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)
_REGS = re.compile(r"Used (\d+) registers")


def _ptxas_report(text):
    """[(kernel, arch, registers, stack, spill stores, spill loads)] from -Xptxas -v."""
    rows, current = [], None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = {"kernel": m.group(1), "arch": m.group(2)}
            rows.append(current)
            continue
        if current is None:
            continue
        m = _SPILLS.search(line)
        if m:
            current["stack"], current["stores"], current["loads"] = map(int, m.groups())
        m = _REGS.search(line)
        if m:
            current["registers"] = int(m.group(1))
    return rows


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Compile for both architectures at once (two processes, two cores)."""
    out = tmp_path_factory.mktemp("cuda")
    procs = {}
    for arch in ARCHS:
        cmd = [
            NVCC,
            "-std=c++17",
            "-O3",
            "-c",
            f"-arch={arch}",
            "-Xptxas",
            "-v",
            f"-I{CSRC / 'include'}",
            f"-I{CSRC}",
            str(CSRC / "cuda" / "ops.cu"),
            "-o",
            str(out / f"ops_{arch}.o"),
        ]
        procs[arch] = (
            cmd,
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ),
        )
    results = {}
    for arch, (cmd, proc) in procs.items():
        text, _ = proc.communicate(timeout=1800)
        results[arch] = (cmd, proc.returncode, text)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_sources_compile(builds, arch):
    cmd, rc, text = builds[arch]
    assert rc == 0, f"{' '.join(cmd)} failed ({rc}):\n{text[-4000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_no_register_spills(builds, arch):
    cmd, rc, text = builds[arch]
    if rc != 0:
        pytest.fail(f"the compile failed; see test_cuda_sources_compile[{arch}]")
    rows = [r for r in _ptxas_report(text) if r["arch"] == arch]
    assert rows, f"ptxas reported no kernels:\n{text[-2000:]}"
    missing = [r["kernel"] for r in rows if "stores" not in r]
    assert not missing, f"no spill report for {missing[:3]}"
    spilling = [
        (r["kernel"], r["stores"], r["loads"])
        for r in rows
        if r["stores"] or r["loads"]
    ]
    assert not spilling, f"{len(spilling)} kernels spill registers, e.g. {spilling[:3]}"
    # Every op family must be there, in float and double.
    names = " ".join(r["kernel"] for r in rows)
    for family in (
        "LogProbFn",
        "LogProbGradFn",
        "RsampleFn",
        "RsampleGradScaleFn",
        "RsampleGradMeanFn",
        "finalize_kernel",
    ):
        assert family in names, f"no {family} kernel was compiled for {arch}"
