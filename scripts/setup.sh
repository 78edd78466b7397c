#!/usr/bin/env bash
# The whole set-up of a development machine; safe to run again (each step
# checks first). Called by `make setup`. What it does to the machine:
#   1. apt: installs libdnnl-dev (oneDNN, for Jittor's fast CPU matmul) and
#      dataset-fashion-mnist (the offline data set) if missing (needs root).
#   2. creates .venv in the repo root and installs zhusuan editable with its
#      test and example extras (this builds the native extension with
#      scikit-build-core and CMake, in a temporary directory; the modules and
#      headers go to .venv's site-packages, the Python files stay here).
#   3. adds .venv/lib/python*/site-packages/zhusuan-jittor-env.pth, which runs
#      zhusuan/_jittor_env.py at interpreter start-up so that `import jittor`
#      works without a GPU and offline even before `import zhusuan`.
#   4. imports Jittor once, which compiles it into ~/.cache/jittor (about two
#      minutes the first time) and links the system oneDNN where Jittor
#      looks for it (~/.cache/jittor/mkl/dnnl_lnx_2.2.0_cpu_gomp).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV=$ROOT/.venv

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages -----------------------------------------------------------
need=()
for pkg in libdnnl-dev dataset-fashion-mnist; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
        say "installing ${need[*]} with apt-get"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    else
        say "WARNING: cannot install ${need[*]} (not root, no sudo); Jittor falls back"
        say "to its slow matmul without libdnnl-dev, and examples need a data set"
    fi
else
    say "system packages present"
fi

# 2. Virtual environment and the package ----------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Reinstall only when the build inputs changed (Python edits need nothing:
# the install is editable).
inputs=$(ls pyproject.toml setup.py CMakeLists.txt 2>/dev/null || true; \
        find csrc -type f 2>/dev/null | sort || true)
hash=$(cat $inputs | sha256sum | cut -c1-16)
stamp="$VENV/.zhusuan-install-$hash"
reinstall=0
[ -f "$stamp" ] || reinstall=1
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
if [ "${ZHUSUAN_BUILD_NATIVE:-1}" != 0 ] && ! ls "$site"/zhusuan/_C*.so >/dev/null 2>&1; then
    reinstall=1  # the extension is missing (e.g. a fresh venv): build it
fi
if [ "$reinstall" = 1 ]; then
    say "installing build tools and zhusuan (editable, extras: test, examples)"
    # Modules an old setup.py build wrote into the checkout would shadow the
    # installed ones; builds no longer write there.
    rm -f zhusuan/_C*.so zhusuan/_native_build.log
    "$PY" -m pip install -q --upgrade pip
    # setuptools and wheel: Jittor is an sdist built by setup.py, and
    # --no-build-isolation builds it with what the venv has.
    "$PY" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.10" cmake ninja \
        setuptools wheel
    "$PY" -m pip install -q --no-build-isolation -e ".[test,examples]"
    rm -f "$VENV"/.zhusuan-install-*
    touch "$stamp"
else
    say "zhusuan already installed in $VENV"
fi

# 3. Make `import jittor` work before `import zhusuan` ---------------------------
cat > "$site/zhusuan-jittor-env.pth" <<PTH
import importlib.util as _u; _s = _u.spec_from_file_location("_zhusuan_jittor_env", "$ROOT/zhusuan/_jittor_env.py"); _m = _u.module_from_spec(_s); _s.loader.exec_module(_m); _m.configure()
PTH

# 4. Compile Jittor once and report the backends --------------------------------
say "importing Jittor (compiles itself the first time: about two minutes)"
"$PY" - <<'PY'
import jittor  # noqa: F401  (works on its own thanks to the .pth above)
import zhusuan
from jittor.compile_extern import mkl_ops
info = zhusuan.kernels.backend_info()
print("[setup] oneDNN matmul:", "yes" if mkl_ops is not None else "no")
print("[setup] kernel backends:", {k: v["available"] for k, v in info["backends"].items()},
      "chosen:", info["chosen"])
PY
say "done"
