"""Every registered distribution has a test case (torch.distributions'
"add X to EXAMPLES" meta-test).

A class in ``zhusuan.distributions.REGISTRY`` is tested when some test module
of this folder lists it in a case table: ``CASES`` (a list or dict of cases
with a ``cls`` attribute or key) or ``ORACLE_CASES`` (class -> the test of its log-density).
The families of the kernels' op table have their own meta-test
(tests/kernels/test_family_parity.py::test_every_family_has_a_case).
"""

import importlib
from pathlib import Path

import zhusuan as zs

HERE = Path(__file__).resolve().parent
# Registered classes whose tests live elsewhere, and where.
ELSEWHERE = {"Flow": "tests/flows/test_flow.py"}


def _cls(case):
    return case.get("cls") if isinstance(case, dict) else getattr(case, "cls", None)


def _cases(table):
    """The classes of a case table: each case's ``cls`` (an attribute, or a
    key of a dict case), and the keys of a dict keyed by class."""
    items = table.values() if isinstance(table, dict) else table
    keys = table.keys() if isinstance(table, dict) else ()
    return [_cls(c) for c in items] + [k for k in keys if isinstance(k, type)]


def _tested_classes():
    tested = set()
    for path in sorted(HERE.glob("test_*.py")):
        if path.stem == Path(__file__).stem:
            continue
        mod = importlib.import_module(path.stem)
        for name in ("CASES", "ORACLE_CASES"):
            table = getattr(mod, name, None)
            if table is not None:
                tested.update(c for c in _cases(table) if isinstance(c, type))
    return tested


def test_every_registered_distribution_has_a_case():
    tested = {cls.__name__ for cls in _tested_classes()}
    root = HERE.parents[1]
    for name, where in ELSEWHERE.items():
        if name in zs.distributions.REGISTRY:
            assert name in (root / where).read_text(), f"{where} does not test {name}"
            tested.add(name)
    missing = sorted(set(zs.distributions.REGISTRY) - tested)
    assert not missing, (
        f"add {missing} to a case table (CASES or ORACLE_CASES) of a test module in {HERE}"
    )
