"""Make Jittor importable offline on a machine without a GPU.

This module imports nothing from zhusuan or jittor, so it can run before
either is imported: ``zhusuan/__init__.py`` calls :func:`configure` before its
first ``import jittor``, and ``make setup`` installs a one-line ``.pth`` file in
the virtual environment that calls it at interpreter start-up, so that a plain
``import jittor`` works too, in either order.

What it does, and only when the user has not decided already:

* ``nvcc_path``: Jittor finds ``nvcc`` on the PATH and then crashes when no
  CUDA device or driver is present. Without a device node (``/dev/nvidia0``)
  we set ``nvcc_path=""`` so Jittor stays on the CPU.
* oneDNN: Jittor looks for oneDNN under
  ``$JITTOR_HOME/.cache/jittor/mkl/dnnl_lnx_2.2.0_cpu_gomp`` and otherwise
  tries to download it (which crashes offline). When Debian's ``libdnnl-dev``
  is installed we create that directory with symbolic links to the system
  headers and library (``libdnnl.so`` linked under Jittor's expected name
  ``libmkldnn.so``). When it is not installed and the directory is missing,
  we set ``use_mkl=0`` so Jittor falls back to its own (slower) matmul.
"""

import glob
import os

__all__ = ["configure", "dnnl_home", "SYSTEM_DNNL_LIB"]

SYSTEM_DNNL_LIB = "/usr/lib/x86_64-linux-gnu/libdnnl.so"
SYSTEM_DNNL_INCLUDE = "/usr/include"
_JITTOR_DNNL_NAME = "dnnl_lnx_2.2.0_cpu_gomp"


def _jittor_home():
    # Mirrors jittor_utils.home(): $JITTOR_HOME, else the home directory
    # (Jittor also lets ~/.cache/jittor/config.json override it).
    home = os.environ.get("JITTOR_HOME")
    if home:
        return home
    cfg = os.path.join(os.path.expanduser("~"), ".cache", "jittor", "config.json")
    if os.path.exists(cfg):
        try:
            import json

            with open(cfg) as f:
                home = json.load(f).get("JITTOR_HOME")
        except (OSError, ValueError):
            home = None
    return home or os.path.expanduser("~")


def dnnl_home():
    """The directory where Jittor looks for its oneDNN."""
    return os.path.join(_jittor_home(), ".cache", "jittor", "mkl", _JITTOR_DNNL_NAME)


def _link(src, dst):
    if os.path.islink(dst) or os.path.exists(dst):
        return
    os.symlink(src, dst)


def _install_system_dnnl(home):
    """Populate Jittor's oneDNN directory with links to the system copy."""
    inc = os.path.join(home, "include")
    lib = os.path.join(home, "lib")
    os.makedirs(inc, exist_ok=True)
    os.makedirs(lib, exist_ok=True)
    for header in glob.glob(os.path.join(SYSTEM_DNNL_INCLUDE, "dnnl*.h*")):
        _link(header, os.path.join(inc, os.path.basename(header)))
    oneapi = os.path.join(SYSTEM_DNNL_INCLUDE, "oneapi")
    if os.path.isdir(oneapi):
        _link(oneapi, os.path.join(inc, "oneapi"))
    _link(SYSTEM_DNNL_LIB, os.path.join(lib, "libmkldnn.so"))


def configure():
    """Set the environment Jittor needs here; returns a dict of what it did."""
    done = {}
    if "nvcc_path" not in os.environ and not os.path.exists("/dev/nvidia0"):
        os.environ["nvcc_path"] = ""
        done["nvcc_path"] = "disabled (no CUDA device)"
    if os.environ.get("use_mkl", "1") == "1":
        home = dnnl_home()
        have = os.path.exists(os.path.join(home, "lib", "libmkldnn.so"))
        if not have and os.path.exists(SYSTEM_DNNL_LIB):
            try:
                _install_system_dnnl(home)
                have = True
                done["onednn"] = f"linked system oneDNN into {home}"
            except OSError as exc:  # read-only home: fall back, do not crash
                done["onednn_error"] = str(exc)
        if not have:
            os.environ["use_mkl"] = "0"
            done["use_mkl"] = "0 (no oneDNN: install libdnnl-dev for fast matmul)"
        else:
            done.setdefault("onednn", home)
    return done
