"""The public API carries type hints (PEP 484) and says so (PEP 561).

``make lint`` runs mypy over the annotated modules (pyproject.toml's
``[tool.mypy]``); this checks what mypy does not: that every public function
and method of those modules is annotated in full, so that a new one without
hints fails here, and that the package ships its ``py.typed`` marker.
"""

import importlib
import inspect
import typing
from pathlib import Path

import zhusuan

import pytest

# The public API: what these modules export in ``__all__`` (pyproject.toml's
# [tool.mypy] files).
PUBLIC_MODULES = [
    "zhusuan",
    "zhusuan.datasets",
    "zhusuan.debug",
    "zhusuan.diagnostics",
    "zhusuan.distributed",
    "zhusuan.distributions",
    "zhusuan.evaluation",
    "zhusuan.flows",
    "zhusuan.framework",
    "zhusuan.mcmc",
    "zhusuan.numerics",
    "zhusuan.transforms",
    "zhusuan.utils",
    "zhusuan.variational",
]
# Methods a class defines that are public API besides those without a
# leading underscore.
DUNDERS = ("__init__", "__call__", "__len__", "__getitem__", "__iter__")


def _functions(obj, qualname):
    """(qualified name, function) of a public function, or of the public
    methods and properties of a class of zhusuan and its zhusuan bases."""
    if inspect.isfunction(obj):
        yield qualname, obj
        return
    if not inspect.isclass(obj):
        return
    for klass in obj.__mro__:
        if not klass.__module__.startswith("zhusuan"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") and name not in DUNDERS:
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            elif isinstance(attr, property):
                attr = attr.fget
            elif hasattr(attr, "fget"):  # Distribution.mean's descriptor
                attr = attr.fget
            if inspect.isfunction(attr):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", attr


def _public_functions():
    seen = {}
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            for qual, fn in _functions(getattr(mod, name), f"{modname}.{name}"):
                if fn.__module__.startswith("zhusuan"):
                    seen.setdefault(fn, qual)
    return sorted((qual, fn) for fn, qual in seen.items())


FUNCTIONS = _public_functions()
_PUBLIC_NAMES = {name: getattr(importlib.import_module(m), name)
                 for m in PUBLIC_MODULES for name in importlib.import_module(m).__all__}


def test_the_public_api_is_found():
    names = {q.rsplit(".", 1)[-1] for q, _ in FUNCTIONS}
    # A sample of what must be in it (the walk itself must not come up short).
    for name in ("log_prob", "entropy", "stochastic_node", "sgvb", "is_loglikelihood",
                 "summary", "save_checkpoint", "iterate_minibatches", "softplus",
                 "forward_and_log_det", "run"):
        assert name in names, name
    assert len(FUNCTIONS) > 200


@pytest.mark.parametrize("qual, fn", FUNCTIONS, ids=[q for q, _ in FUNCTIONS])
def test_public_functions_are_annotated(qual, fn):
    sig = inspect.signature(fn)
    missing = [p for p in sig.parameters
               if p not in ("self", "cls") and p not in fn.__annotations__]
    if "return" not in fn.__annotations__:
        missing.append("return")
    assert not missing, f"{qual}: no type hint for {missing}"
    # The hints are strings (from __future__ import annotations); they must
    # name things that exist. Names a module imports for type checking only
    # (zhusuan.framework.stochastic's BayesianNet: bn imports stochastic)
    # resolve among the package's public names.
    typing.get_type_hints(fn, localns=_PUBLIC_NAMES)


def test_the_package_ships_its_py_typed_marker():
    marker = Path(zhusuan.__file__).with_name("py.typed")
    assert marker.is_file()
