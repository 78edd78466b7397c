"""The benchmark runner's code path, once, with timing off, so that it cannot rot.

``benches/run.py --smoke`` (here: ``run.run(mode="smoke")``) runs every case
with one call per contender and tiny sizes. The oracles:

* the outputs exist and decode (JSON, a Markdown table naming every case, a
  PNG);
* the numbers are consistent with their own definitions (min <= median <=
  max, each ratio is the quotient it claims to be, each floor is the larger of
  its memory and compute times, zhusuan's reference ratio is 1);
* every contender computes the same values as zhusuan on identical inputs
  and weights (the runner's agreement check: head log-densities and
  gradients, the VAE's ELBO integrand at a fixed z and two weight gradients),
  within the runner's CHECK_RTOL;
* independently of the runner, the hand-written PyTorch head equals zhusuan's
  on the same numpy arrays, and the PyTorch IWAE bound with k=1 equals the
  single-sample ELBO.

PyTorch and Pyro are optional extras: without them their contenders must be
reported as skipped with the reason, and the tests that need them skip.
"""

import importlib
import json
import math
import os
import sys

import zhusuan as zs

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benches import cases, run  # noqa: E402


def _importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


HAVE_TORCH = _importable("torch")
HAVE_PYRO = HAVE_TORCH and _importable("pyro")
needs_torch = pytest.mark.skipif(
    not HAVE_TORCH,
    reason="PyTorch is an optional bench extra (pip install -e .[bench]); "
           "not installed")

# Float32 throughout. The head sums ~B*800 terms; 2e-5 relative covers
# reordered sums (observed: ~6e-6) and still catches any wrong term.
HEAD_RTOL = 2e-5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-smoke")
    doc = run.run(str(out), mode="smoke", log=lambda *args: None)
    return str(out), doc


def test_outputs_are_written_and_decode(smoke):
    out, doc = smoke
    with open(os.path.join(out, "latest.json")) as f:
        saved = json.load(f)
    assert saved["mode"] == "smoke"
    assert [c["label"] for c in saved["cases"]] == [c["label"] for c in doc["cases"]]
    assert {c["case"] for c in saved["cases"]} == {"head", "vae", "iwae"}
    m = saved["machine"]
    for key in ("cpu", "cores", "memory_bytes", "python", "numpy", "jittor", "torch",
                "pyro", "zhusuan", "zhusuan_backends"):
        assert key in m, key
    assert m["zhusuan_backends"]["chosen"] == zs.kernels.get_backend()
    with open(os.path.join(out, "latest.md")) as f:
        md = f.read()
    assert "| case | contender | median ms |" in md
    for case in doc["cases"]:
        assert case["label"] in md
    with open(os.path.join(out, "latest.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_numbers_are_consistent(smoke):
    _, doc = smoke
    for case in doc["cases"]:
        fl = case["floor"]
        assert fl["seconds"] > 0
        assert fl["seconds"] == max(fl["memory_seconds"], fl["compute_seconds"])
        assert math.isclose(fl["memory_seconds"],
                            fl["bytes"] / fl["bandwidth_bytes_per_s"])
        assert math.isclose(fl["compute_seconds"], fl["flops"] / fl["flops_per_s"])
        rows = {r["name"]: r for r in case["contenders"]}
        ref = rows.get(case["reference"]) if case["reference"] else None
        for row in rows.values():
            if row["status"] != "ok":
                assert row["reason"], row
                assert row.get("median_s") is None
                continue
            assert row["reps"] == 1 and row["calls_per_rep"] == 1
            assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"]
            assert math.isclose(row["ratio_to_floor"], row["median_s"] / fl["seconds"])
            if ref is not None:
                assert math.isclose(row["ratio_to_zhusuan"],
                                    row["median_s"] / ref["median_s"])
            assert math.isfinite(row["loss_first"]) and math.isfinite(row["loss_last"])
        if ref is not None:
            assert ref["ratio_to_zhusuan"] == 1.0


def test_contenders_agree_with_zhusuan(smoke):
    _, doc = smoke
    for case in doc["cases"]:
        for row in case["contenders"]:
            chk = row.get("check")
            if chk is not None:
                assert chk["ok"], (case["label"], row["name"], chk)


def test_who_ran_and_who_was_skipped(smoke):
    _, doc = smoke
    by = {c["case"]: {r["name"]: r for r in c["contenders"]} for c in doc["cases"]}
    default = f"zhusuan[{zs.kernels.get_backend()}]"
    # zhusuan and plain Jittor never need the optional extras.
    for key in ("head", "vae"):
        assert by[key][default]["status"] == "ok", by[key][default]
        assert by[key][default]["check"] is None  # it is the reference
    jt_row = by["vae"]["jittor (by hand)"]
    assert jt_row["status"] == "ok" and jt_row["check"]["ok"], jt_row
    # Backends that are not built are listed as skipped, with the reason.
    info = zs.kernels.backend_info()["backends"]
    for name, b in info.items():
        row = by["vae"][f"zhusuan[{name}]"]
        assert (row["status"] == "ok") == b["available"], row
    # The IWAE case: every built backend runs and agrees with the default one.
    for name, b in info.items():
        row = by["iwae"][f"zhusuan[{name}]"]
        assert (row["status"] == "ok") == b["available"], row
        if row["status"] == "ok":
            assert row["check"] is None or row["check"]["ok"], row
    # The tutorial's optimiser runs beside zs.optim.Adam (the examples' default).
    for key in ("vae", "iwae"):
        row = by[key][default + " + jt.optim.Adam"]
        assert row["status"] == "ok" and row["check"]["ok"], row
    torch_rows = [by["head"]["pytorch (by hand)"], by["head"]["torch.distributions"],
                  by["vae"]["pytorch (by hand)"], by["vae"]["pytorch (by hand, fused Adam)"]]
    compiled = by["vae"]["pytorch (by hand, torch.compile + fused Adam)"]
    if compiled["status"] != "ok":  # Inductor needs a C++ toolchain: say so
        assert compiled["status"] == "skipped" and compiled["reason"], compiled
    torch_rows += [r for n, r in by["iwae"].items() if n.startswith("pytorch")]
    for row in torch_rows:
        if HAVE_TORCH:
            assert row["status"] == "ok", row
            assert row["check"] is None or row["check"]["ok"], row
        else:
            assert row["status"] == "skipped" and "PyTorch" in row["reason"], row
    pyro_row = by["vae"]["pyro (Trace_ELBO)"]
    assert pyro_row["status"] == ("ok" if HAVE_PYRO else "skipped"), pyro_row


@needs_torch
def test_hand_pytorch_head_equals_zhusuan_head():
    """Same numpy arrays in, same log-density and gradients out."""
    hand = cases.TorchHandHead(64)
    dists = cases.TorchDistHead(64)
    hand.setup()
    dists.setup()
    expected_hand, expected_dists = hand.evaluate(), dists.evaluate()
    ran = 0
    for name, b in zs.kernels.backend_info()["backends"].items():
        if not b["available"]:
            continue
        c = cases.ZhusuanHead(64, name)
        c.setup()
        try:
            got = c.evaluate()
        finally:
            c.close()
        ran += 1
        for key, value in got.items():
            for expected in (expected_hand, expected_dists):
                scale = np.max(np.abs(expected[key]))
                np.testing.assert_allclose(value, expected[key], rtol=0,
                                           atol=HEAD_RTOL * scale,
                                           err_msg=f"{name}: {key}")
    assert ran >= 1


@needs_torch
def test_torch_iwae_with_one_sample_is_the_elbo():
    """With k = 1 the importance-weighted bound is the single-sample ELBO."""
    import torch

    iw = cases.TorchIWAE(8, 1)
    iw.setup()
    eps = np.random.default_rng(0).normal(size=(1, 8, 40)).astype("float32")
    eps = torch.from_numpy(eps)
    with torch.no_grad():
        bound = float(iw.bound(eps))
        mean, logstd = iw.enc(iw.x)
        z = mean + torch.exp(logstd) * eps[0]
        u = (z - mean) * torch.exp(-logstd)
        log_qz = (-0.5 * u * u - logstd - cases.HALF_LOG_2PI).sum(-1)
        elbo = float(iw._elbo_terms(z, log_qz).mean())
    assert math.isclose(bound, elbo, rel_tol=1e-5)
