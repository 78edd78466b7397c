"""The distributions: an sdist that has everything the build needs, a wheel
built from it that has the compiled module and the headers, and that wheel
installed into a fresh venv working from outside the checkout (native and
jit backends, checked against scipy).

One sdist and one wheel per session (module fixtures); opt-in, see
conftest.py. The wheel is built with a known CMake build directory so that
the baseline objects can be disassembled (objdump): the code every x86-64
CPU runs must contain no AVX.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import zhusuan

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, (
        f"$ {' '.join(map(str, cmd))}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def _checkout_litter():
    """Untracked and ignored files of the checkout a build could leave, minus
    the ones tests and tools write anyway."""
    out = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--ignored",
                "--untracked-files=all"]).stdout
    keep = (".venv/", "__pycache__", ".pytest_cache", ".benchmarks", "docs/_build",
            "benches/results", "results/")
    return {ln[3:] for ln in out.splitlines() if not any(k in ln for k in keep)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist path, wheel path, CMake build dir), built once: the sdist by
    the build backend's PEP 517 hook (what `python -m build --sdist
    --no-isolation` calls), the wheel from that sdist by pip."""
    if shutil.which("git") is None:
        pytest.skip("needs git (the checkout's cleanliness is checked with it)")
    before = _checkout_litter()
    tmp = tmp_path_factory.mktemp("dist")
    hook = ("import sys; from scikit_build_core.build import build_sdist; "
            "print(build_sdist(sys.argv[1]))")
    name = _run([sys.executable, "-c", hook, str(tmp)], cwd=ROOT).stdout.split()[-1]
    sdist = tmp / name
    build_dir = tmp / "cmake-build"
    _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
          "-w", str(tmp / "wheel"), f"--config-settings=build-dir={build_dir}",
          str(sdist)], cwd=tmp)
    (wheel,) = (tmp / "wheel").glob("zhusuan-*.whl")
    after = _checkout_litter()
    assert after <= before, f"the builds wrote into the checkout: {after - before}"
    return sdist, wheel, build_dir


def test_sdist_has_what_the_build_needs(built):
    sdist, _, _ = built
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = _run(["git", "-C", str(ROOT), "ls-files", "csrc"]).stdout.split()
    assert tracked and set(tracked) <= names, set(tracked) - names
    for need in ("CMakeLists.txt", "pyproject.toml", "zhusuan/__init__.py",
                 "zhusuan/kernels/jit.py", "zhusuan/py.typed", "README.md", "LICENSE"):
        assert need in names, need
    assert not [n for n in names if n.endswith(".so") or "egg-info" in n], names


def test_wheel_has_the_module_and_the_headers(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    modules = [n for n in names if n.startswith("zhusuan/_C.") and n.endswith(".so")]
    assert modules, names
    headers = {p.name for p in (ROOT / "csrc/include/zhusuan").glob("*.h")}
    prefix = "zhusuan/include/zhusuan/"
    shipped = {n[len(prefix):] for n in names if n.startswith(prefix)}
    assert headers and headers == shipped, headers ^ shipped
    assert not [n for n in names if n.startswith("zhusuan/_C_cuda")]  # CUDA is opt-in
    assert "zhusuan/py.typed" in names  # PEP 561: the hints are for users' type checkers
    ver = zhusuan.__version__
    assert Path(wheel).name.startswith(f"zhusuan-{ver}-")
    assert f"zhusuan-{ver}.dist-info/METADATA" in names


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
def test_baseline_objects_use_no_avx(built):
    _, _, build_dir = built
    objs = sorted((build_dir / "CMakeFiles").glob("zhusuan_cpu_baseline.dir/**/*.o"))
    objs += sorted((build_dir / "CMakeFiles").glob("_C.dir/**/*.o"))
    if not objs or not any("baseline" in str(o) for o in objs):
        pytest.skip("not an x86-64 per-ISA build")
    for obj in objs:
        bad = _avx_lines(obj)
        assert not bad, f"{obj} uses AVX:\n" + "\n".join(bad[:10])
    # The check can fail: the AVX-512 copy of the kernels does use zmm.
    (avx512,) = (build_dir / "CMakeFiles").glob("zhusuan_cpu_avx512.dir/**/ops.cpp.o")
    assert any("%zmm" in ln for ln in _avx_lines(avx512))


def _avx_lines(obj):
    """Instructions in ``objdump -d obj`` that need AVX: VEX/EVEX-encoded
    ones (their AT&T mnemonics start with 'v') or ymm/zmm registers."""
    text = _run(["objdump", "-d", "--no-show-raw-insn", str(obj)]).stdout
    bad = []
    for line in text.splitlines():
        parts = line.split("\t")
        if not line.startswith(" ") or len(parts) < 2:
            continue
        insn = parts[-1].strip()
        if insn.startswith("v") or "%ymm" in insn or "%zmm" in insn:
            bad.append(line)
    return bad


# Run by the fresh venv's Python in an empty directory: which zhusuan it
# imported, the backends, and Normal log_prob on native and jit vs scipy.
_CHECK = textwrap.dedent("""
    import importlib.metadata, json, sys
    import numpy as np
    import scipy.stats
    import zhusuan
    import jittor as jt
    from zhusuan import kernels
    from zhusuan.kernels import _ext

    info = kernels.backend_info()
    x = np.linspace(-4.0, 5.0, 37)
    mean, std = 0.3, 1.7
    expect = scipy.stats.norm.logpdf(x, mean, std)
    errs = {}
    for backend in ("native", "jit"):
        kernels.set_backend(backend)
        d = zhusuan.distributions.Normal(mean=jt.array(np.full(37, mean, "float32")),
                                         std=jt.array(np.full(37, std, "float32")))
        got = d.log_prob(jt.array(x.astype("float32"))).numpy()
        errs[backend] = float(np.max(np.abs(got - expect) / np.abs(expect).clip(1)))
    print(json.dumps({
        "file": zhusuan.__file__,
        "version": zhusuan.__version__,
        "dist_version": importlib.metadata.version("zhusuan"),
        "C_version": _ext.C.__version__,
        "include": str(_ext.INCLUDE_DIR),
        "backends": {k: v["available"] for k, v in info["backends"].items()},
        "reasons": {k: v["reason"] for k, v in info["backends"].items()},
        "isa": info["backends"]["native"]["isa"],
        "errs": errs,
    }))
""")


@pytest.fixture(scope="module")
def fresh_venv(built, tmp_path_factory):
    """A venv with the wheel installed. It sees the machine's site-packages
    (--system-site-packages) and, through a .pth file, this venv's (Jittor,
    NumPy, SciPy), so nothing is downloaded; its own site-packages, where
    the wheel goes, comes first."""
    _, wheel, _ = built
    venv = tmp_path_factory.mktemp("venv") / "v"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = _run([str(py), "-c",
                 "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    (Path(site.stdout.strip()) / "outer-venv.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
          "--no-index", str(wheel)])
    return venv, py


def test_installed_wheel_works_outside_the_checkout(fresh_venv, tmp_path):
    venv, py = fresh_venv
    out = _run([str(py), "-c", _CHECK], cwd=tmp_path).stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert Path(res["file"]).is_relative_to(venv), res["file"]  # not the checkout's
    assert Path(res["include"]).is_relative_to(venv), res["include"]
    assert all(res["backends"].values()), res["reasons"]
    assert set(res["backends"]) == {"native", "jit", "jittor"}
    versions = {res["version"], res["dist_version"], res["C_version"]}
    assert versions == {zhusuan.__version__}
    assert res["isa"]["active"] == res["isa"]["supported"][-1]
    # float32 inputs, log-densities of magnitude up to ~8: a few float32 ulp.
    for backend, err in res["errs"].items():
        assert err < 1e-6, (backend, err)
