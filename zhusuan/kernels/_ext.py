"""The one module that imports the compiled extensions, and finds the headers.

``zhusuan._C`` (CPU) and ``zhusuan._C_cuda`` (CUDA) are optional: importing
this module does not fail when they are missing. Each is ``None`` then, with
the reason in ``C_ERROR`` / ``C_CUDA_ERROR``; :func:`build_log` returns the
note the build left (``zhusuan/_native_build.log``, written when
``ZHUSUAN_BUILD_NATIVE=0`` skipped the extension), if any.

The one way this import fails: ``ZHUSUAN_ISA`` names an instruction set
``zhusuan._C`` was not compiled for or this CPU cannot run (a ValueError
naming the value), since a setting asked for explicitly must not be ignored.
Unset, the kernels run with the best one the CPU supports
(``csrc/cpu/isa.h``; docs/design.md, "Building").

``INCLUDE_DIR`` is ``csrc/include`` as the jit backend compiles it: installed
with the package (``zhusuan/include``, by CMakeLists.txt) or, in a checkout
and an editable install, ``<repo>/csrc/include``.
"""

import os
from pathlib import Path

__all__ = [
    "C",
    "C_ERROR",
    "C_CUDA",
    "C_CUDA_ERROR",
    "ISA_WHY",
    "build_log",
    "BUILD_LOG",
    "INCLUDE_DIR",
    "isa_info",
]

_PACKAGE = Path(__file__).resolve().parent.parent
BUILD_LOG = _PACKAGE / "_native_build.log"


def _find_include_dir():
    # Installed first (a wheel), then the checkout the package sits in (an
    # editable install reads the package from the checkout, so its headers
    # are the ones being edited).
    candidates = (_PACKAGE / "include", _PACKAGE.parent / "csrc" / "include")
    for path in candidates:
        if (path / "zhusuan").is_dir():
            return path
    return candidates[0]


INCLUDE_DIR = _find_include_dir()

try:
    from .. import _C as C
except ImportError as exc:  # not built, or built for another Python
    C = None
    C_ERROR = f"{type(exc).__name__}: {exc}"
else:
    C_ERROR = ""

try:
    from .. import _C_cuda as C_CUDA
except ImportError as exc:  # built only on request or where a GPU is visible
    C_CUDA = None
    C_CUDA_ERROR = f"{type(exc).__name__}: {exc}"
else:
    C_CUDA_ERROR = ""

ISA_WHY = ""
if C is not None:
    _isa = os.environ.get("ZHUSUAN_ISA", "")
    if not hasattr(C, "set_isa"):
        ISA_WHY = "zhusuan._C predates the instruction-set dispatch; rebuild it"
        if _isa:
            raise ValueError(f"ZHUSUAN_ISA={_isa!r}: {ISA_WHY}")
    elif _isa:
        try:
            C.set_isa(_isa)
        except ValueError as exc:
            raise ValueError(f"ZHUSUAN_ISA={_isa!r}: {exc}") from None
        ISA_WHY = f"ZHUSUAN_ISA={_isa}"
    else:
        ISA_WHY = "the best instruction set this CPU supports (default)"


def isa_info():
    """The instruction set of the CPU kernels: a dict with ``active``,
    ``compiled``, ``supported`` and ``why``, or None without ``zhusuan._C``."""
    if C is None or not hasattr(C, "isa"):
        return None
    return {
        "active": C.isa(),
        "compiled": list(C.compiled_isas()),
        "supported": list(C.supported_isas()),
        "why": ISA_WHY,
    }


def build_log():
    """The text of ``zhusuan/_native_build.log``, or None if there is none."""
    try:
        return BUILD_LOG.read_text()
    except OSError:
        return None
