"""The one module that imports the compiled extensions.

``zhusuan._C`` (CPU) and ``zhusuan._C_cuda`` (CUDA) are optional: importing
this module never fails. Each is ``None`` when missing, with the reason in
``C_ERROR`` / ``C_CUDA_ERROR``; :func:`build_log` returns what ``setup.py``
wrote about the build (``zhusuan/_native_build.log``), if anything.
"""

from pathlib import Path

__all__ = ["C", "C_ERROR", "C_CUDA", "C_CUDA_ERROR", "build_log", "BUILD_LOG"]

BUILD_LOG = Path(__file__).resolve().parent.parent / "_native_build.log"

try:
    from .. import _C as C
except ImportError as exc:  # not built, or built for another Python
    C = None
    C_ERROR = f"{type(exc).__name__}: {exc}"
else:
    C_ERROR = ""

try:
    from .. import _C_cuda as C_CUDA
except ImportError as exc:  # built only where nvcc and the CUDA toolkit exist
    C_CUDA = None
    C_CUDA_ERROR = f"{type(exc).__name__}: {exc}"
else:
    C_CUDA_ERROR = ""


def build_log():
    """The text of ``zhusuan/_native_build.log``, or None if there is none."""
    try:
        return BUILD_LOG.read_text()
    except OSError:
        return None
