"""Build script: the pure-Python package plus the optional native extension.

The extension ``zhusuan._C`` (and ``zhusuan._C_cuda`` when nvcc and the CUDA
toolkit are found) is built from ``csrc/`` with CMake in Release mode. Set
``ZHUSUAN_BUILD_NATIVE=0`` to skip it. If the build fails, installation goes
on without it (the ``jit`` and ``jittor`` backends still work) and the reason
is printed and written to ``zhusuan/_native_build.log``, which
``zhusuan.kernels.backend_info()`` reports.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
LOG = ROOT / "zhusuan" / "_native_build.log"


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def run(self):
        if os.environ.get("ZHUSUAN_BUILD_NATIVE", "1") == "0":
            LOG.write_text("skipped: ZHUSUAN_BUILD_NATIVE=0\n")
            print("zhusuan: native extension skipped (ZHUSUAN_BUILD_NATIVE=0)")
            return
        try:
            self._build_all()
        except Exception as exc:  # a failed build must leave a working install
            msg = f"native build failed: {exc}"
            LOG.write_text(msg + "\n")
            print("zhusuan: " + msg, file=sys.stderr)
            print("zhusuan: continuing without the native backend", file=sys.stderr)

    def _build_all(self):
        import pybind11

        ext = self.extensions[0]
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        out_dir.mkdir(parents=True, exist_ok=True)
        build_temp = Path(self.build_temp).resolve() / "cmake"
        build_temp.mkdir(parents=True, exist_ok=True)
        cfg = [
            f"-S{ROOT}",
            f"-B{build_temp}",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DZHUSUAN_OUTPUT_DIR={out_dir}",
            f"-DZHUSUAN_EXT_SUFFIX={sysconfig.get_config_var('EXT_SUFFIX')}",
        ]
        try:
            import ninja  # noqa: F401

            cfg.append("-GNinja")
        except ImportError:
            pass
        log = []
        for cmd in (["cmake", *cfg], ["cmake", "--build", str(build_temp), "-j2"]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            log.append("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr)
            if proc.returncode != 0:
                LOG.write_text("\n".join(log))
                raise RuntimeError(
                    f"'{' '.join(cmd[:2])}' exited {proc.returncode}; see {LOG}"
                )
        status = "ok"
        # _C_cuda is a separate, optional target (CMakeLists.txt writes the
        # marker when it found nvcc and the CUDA toolkit): a CUDA compile
        # error is logged and must not cost the CPU module.
        if (build_temp / "zhusuan_cuda_target").exists():
            cmd = ["cmake", "--build", str(build_temp), "--target", "_C_cuda", "-j2"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            log.append("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr)
            if proc.returncode != 0:
                status = "ok (CPU module); CUDA module _C_cuda failed to build"
                print(f"zhusuan: {status}; see {LOG}", file=sys.stderr)
        LOG.write_text(status + "\n" + "\n".join(log))
        # Editable installs import from the source tree: copy the modules there.
        if self.inplace or self.editable_mode:
            pass
        for built in out_dir.glob("_C*"):
            target = ROOT / "zhusuan" / built.name
            if built.resolve() != target.resolve():
                target.write_bytes(built.read_bytes())


setup(
    ext_modules=[CMakeExtension("zhusuan._C")],
    cmdclass={"build_ext": CMakeBuild},
)
