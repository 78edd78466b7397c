"""The optimiser benchmarks' code paths, once, with timing off, so that they
cannot rot: every contender of benches/bench_optim.py steps, and zhusuan's
Adam on each backend leaves the same parameters as jt.optim.Adam after the
same steps (bit for bit here; see tests/optim/test_optim.py for why exact
equality holds and the tolerance used where it might not);
benches/optim_handoff.py runs every candidate mechanism once.
"""

import os
import sys

import zhusuan as zs  # noqa: F401

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benches import bench_optim  # noqa: E402


def test_bench_optim_contenders_step_and_agree():
    ref = None
    for c in bench_optim.contenders(threads=1):
        try:
            c.setup()
        except bench_optim.Unavailable as exc:
            assert "torch" in c.name or "zs.optim" in c.name, (c.name, exc)
            continue
        try:
            c.step()
            if c.name == "jt.optim.Adam":
                ref = [p.numpy() for p in c.opt.param_groups[0]["params"]]
            elif c.name.startswith("zs.optim.Adam"):
                assert ref is not None
                got = [p.numpy() for p in c.opt.param_groups[0]["params"]]
                for a, b in zip(got, ref, strict=True):
                    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9,
                                               err_msg=c.name)
        finally:
            c.close()


def test_optim_handoff_runs(capsys):
    from zhusuan.kernels import optim as kopt

    from benches import optim_handoff

    if kopt.unavailable_reason("native"):
        pytest.skip(kopt.unavailable_reason("native"))
    optim_handoff.main(["--reps", "1", "--tiny"])
    out = capsys.readouterr().out
    for c in optim_handoff.CANDIDATES:
        assert c.name in out
