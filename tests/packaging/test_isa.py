"""The CPU kernels' instruction-set dispatch (csrc/cpu/dispatch.cpp,
docs/design.md "Building").

zhusuan._C carries the kernels compiled for a baseline x86-64, AVX2 and
AVX-512, and runs the best one the CPU supports unless ZHUSUAN_ISA names
another. Here every copy this CPU can run computes the same fixed inputs in
a subprocess (tests/packaging/_isa_outputs.py: every op, float32 and
float64), and each is compared with the baseline copy, the oracle. The copies
differ where the compiler may: fused multiply-adds (the baseline has none)
and the order of vectorised sums, hence the tolerances below. That the
baseline objects contain no AVX at all is checked with objdump on the wheel
build (test_packaging.py).
"""

import os
import subprocess
import sys
from pathlib import Path

from zhusuan import kernels
from zhusuan.kernels import _ext

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    _ext.C is None or not hasattr(_ext.C, "supported_isas"),
    reason="needs zhusuan._C built with the instruction-set dispatch",
)

# Relative to the largest magnitude in each output array (its scale), so that
# an element that cancels to ~0 is held to the error of the terms it came
# from. float64: 1e-12, as for the backends' parity (tests/kernels); float32:
# 4 ulp of the scale. Measured on an AVX-512 machine (Zen 4): at most 1.4 ulp
# (float32) and 5 ulp (float64) of the scale, from FMAs and from sums over
# 257 terms taken in another order.
TOL = {"float64": 1e-12, "float32": 4 * float(np.finfo(np.float32).eps)}


def _run(isa, out_dir):
    env = dict(os.environ)
    env.pop("ZHUSUAN_ISA", None)
    if isa is not None:
        env["ZHUSUAN_ISA"] = isa
    path = out_dir / f"{isa or 'default'}.npz"
    proc = subprocess.run([sys.executable, str(HERE / "_isa_outputs.py"), str(path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Outputs by ISA name (None: ZHUSUAN_ISA unset), computed once each."""
    cache = {}
    out_dir = tmp_path_factory.mktemp("isa")

    def get(isa):
        if isa not in cache:
            cache[isa] = _run(isa, out_dir)
        return cache[isa]

    return get


def test_backend_info_reports_the_isa():
    info = kernels.backend_info()["backends"]["native"]["isa"]
    C = _ext.C
    assert info["compiled"] == list(C.compiled_isas())
    assert info["supported"] == list(C.supported_isas())
    assert info["active"] == C.isa()
    assert set(info["supported"]) <= set(info["compiled"])
    if "ZHUSUAN_ISA" not in os.environ:
        # The default is the best (last) copy the CPU supports.
        assert info["active"] == info["supported"][-1]
        assert "default" in info["why"]


def test_default_is_the_best_supported(outputs):
    assert str(outputs(None)["isa"]) == _ext.C.supported_isas()[-1]


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
def test_isa_matches_baseline(outputs, isa):
    if "baseline" not in _ext.C.compiled_isas():
        pytest.skip("a -march=native build (ZHUSUAN_NATIVE_ARCH=ON) has one copy only")
    if isa not in _ext.C.supported_isas():
        pytest.skip(f"this CPU (or this build) cannot run the {isa} copy")
    base, got = outputs("baseline"), outputs(isa)
    assert str(base["isa"]) == "baseline" and str(got["isa"]) == isa
    assert base.keys() == got.keys()
    worst = {}
    for key in sorted(k for k in base if "/" in k):
        dtype = key.split("/")[0]
        b, g = base[key], got[key]
        assert g.dtype == b.dtype and g.shape == b.shape, key
        assert np.array_equal(np.isfinite(b), np.isfinite(g)), key
        finite = np.isfinite(b)
        scale = max(float(np.max(np.abs(b[finite]), initial=0.0)), np.finfo(dtype).tiny)
        err = float(np.max(np.abs(g[finite] - b[finite]), initial=0.0)) / scale
        worst[key] = err
        assert err <= TOL[dtype], (
            f"{key}: {isa} differs from baseline by {err:.3g} of scale")
    # The copies must really differ somewhere (else the dispatch did nothing
    # or both ran the same code): the baseline has no FMA, the others do.
    assert max(worst.values()) > 0.0


def test_optimiser_copies_with_fma_agree_bitwise(outputs):
    # zhusuan/optim.h writes its fused multiply-adds explicitly and optim.cpp
    # is compiled with -ffp-contract=off: every copy with hardware FMA gives
    # the same bits (and those of jt.optim; tests/optim).
    isas = [i for i in ("avx2", "avx512") if i in _ext.C.supported_isas()]
    if len(isas) < 2:
        pytest.skip("needs two copies with FMA that this CPU runs")
    a, b = outputs(isas[0]), outputs(isas[1])
    for key in ("float32/adam", "float64/adam", "float32/sgd", "float64/sgd"):
        assert np.array_equal(a[key], b[key]), key


def test_unknown_isa_is_an_error_naming_it():
    env = dict(os.environ, ZHUSUAN_ISA="sse9")
    proc = subprocess.run([sys.executable, "-c", "import zhusuan"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "ZHUSUAN_ISA='sse9'" in proc.stderr
    assert "unknown instruction set 'sse9'" in proc.stderr
    for name in _ext.C.compiled_isas():
        assert name in proc.stderr  # the message lists what there is


def test_unsupported_isa_is_an_error_naming_it():
    C = _ext.C
    missing = [i for i in C.compiled_isas() if i not in C.supported_isas()]
    if not missing:
        pytest.skip("this CPU supports every compiled instruction set")
    before = C.isa()
    with pytest.raises(ValueError, match=f"'{missing[0]}'.*does not support"):
        C.set_isa(missing[0])
    assert C.isa() == before
