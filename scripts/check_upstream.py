"""Run upstream ZhuSuan-Jittor's own programs and tests against this package.

The drop-in check of docs/migrating.md: upstream's four example programs
(``examples/variational_autoencoders/vae_mnist.py``,
``examples/normalizing_flows/nice_mnist.py``,
``examples/bayesian_neural_nets/bnn_vi.py``,
``examples/bayesian_neural_nets/bnn_sgmcmc.py``), as published, and its three
transform tests (``zhusuan/tests/transforms/...``), with ``import zhusuan``
resolving to this package.

What the check supplies, and nothing more:

* the data files the programs read: ``examples/data/mnist.pkl.gz`` in
  upstream's format (train 50000 / valid 10000 / test 10000, float32 pixels in
  [0, 1], int64 labels), written from Fashion-MNIST (the Debian package
  ``dataset-fashion-mnist``; MNIST itself cannot be downloaded here), and
  ``bayesian_neural_nets/data/housing.data``, the UCI Boston housing table,
  taken from the scikit-learn 1.1.3 wheel on PyPI (the last release that
  shipped it);
* ``jt.flags.use_cuda = 1`` replaced by ``= 0`` (no GPU here);
* upstream's shared test helper ``zhusuan/tests/transforms/base.py``, which
  the tests import as ``zhusuan.tests.transforms``: the upstream directory is
  appended to ``zhusuan.__path__`` by a conftest written into the work
  directory (this package does not ship upstream's tests).

Nothing of upstream's is copied into the repository: the upstream tree comes
from the directory or git repository given with ``--upstream`` and is
unpacked into ``--work``.

Usage::

    python scripts/check_upstream.py --upstream ~/Zhusuan-Jittor [--only vae,tests]

Each program's output goes to ``<work>/logs/<name>.log``; the summary (exit
status, wall time, first and last losses, NaN check) is printed and written
to ``<work>/summary.json``.
"""

import argparse
import gzip
import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAMS = {
    "vae": ("examples", "variational_autoencoders/vae_mnist.py"),
    "nice": ("examples", "normalizing_flows/nice_mnist.py"),
    "bnn_vi": ("examples/bayesian_neural_nets", "bnn_vi.py"),
    "bnn_sgmcmc": ("examples/bayesian_neural_nets", "bnn_sgmcmc.py"),
}
TESTS = ["zhusuan/tests/transforms/invertible/test_coupling.py",
         "zhusuan/tests/transforms/invertible/test_scaling.py",
         "zhusuan/tests/transforms/test_sequential.py"]
# The number each program prints as its training signal, and whether lower
# is better ("Loss" is a negative ELBO; the NICE program prints its loss
# under the name "Log Likelihood"; RMSE for the BNNs).
# Numbers only: a warning may echo the print statement's source line.
_NUM = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))"
SIGNALS = {
    "vae": (r"Loss: " + _NUM, "down"),
    "nice": (r"Log Likelihood: " + _NUM, "down"),
    "bnn_vi": (r"Test Lower bound: " + _NUM + r", RMSE: " + _NUM, "down"),
    "bnn_sgmcmc": (r"Test RMSE: " + _NUM, "down"),
}


def unpack_upstream(src, work):
    """Copy upstream's examples/ and zhusuan/tests/ from a checkout or a git
    repository (bare or not) into ``work/upstream``."""
    dest = os.path.join(work, "upstream")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    if os.path.isdir(os.path.join(src, "examples")):
        for part in ("examples", "zhusuan/tests"):
            shutil.copytree(os.path.join(src, part), os.path.join(dest, part),
                            symlinks=True)
    else:  # a git directory: export its HEAD
        tar = subprocess.run(["git", "-C", src, "archive", "HEAD", "examples",
                              "zhusuan/tests"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)
    link = os.path.join(dest, "examples", "zhusuan")
    if os.path.islink(link) or os.path.exists(link):
        os.unlink(link)  # upstream's symlink to its own package
    return dest


def patch_use_cuda(upstream):
    changed = []
    for rel in [p for _, p in PROGRAMS.values()]:
        for base in ("examples", "examples/bayesian_neural_nets"):
            path = os.path.join(upstream, base, rel)
            if os.path.exists(path):
                text = open(path).read()
                new = text.replace("jt.flags.use_cuda = 1", "jt.flags.use_cuda = 0")
                if new != text:
                    open(path, "w").write(new)
                    changed.append(os.path.relpath(path, upstream))
    return changed


def write_mnist_pickle(upstream):
    """Upstream's mnist.pkl.gz layout, filled with Fashion-MNIST."""
    sys.path.insert(0, ROOT)
    import zhusuan as zs

    (x_train, y_train), (x_test, y_test) = zs.datasets.load_fashion_mnist()
    x_train = x_train.astype(np.float32)
    x_test = x_test.astype(np.float32)
    data = ((x_train[:50000], y_train[:50000].astype(np.int64)),
            (x_train[50000:], y_train[50000:].astype(np.int64)),
            (x_test, y_test.astype(np.int64)))
    path = os.path.join(upstream, "examples", "data", "mnist.pkl.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    return path


def write_housing(upstream, work, python):
    """UCI Boston housing (506 x 14), from the scikit-learn 1.1.3 wheel."""
    cache = os.path.join(work, "wheels")
    os.makedirs(cache, exist_ok=True)
    wheels = [f for f in os.listdir(cache) if f.startswith("scikit_learn-1.1.3")]
    if not wheels:
        subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.11",
                        "scikit-learn==1.1.3", "-d", cache], check=True)
        wheels = [f for f in os.listdir(cache) if f.startswith("scikit_learn-1.1.3")]
    with zipfile.ZipFile(os.path.join(cache, wheels[0])) as z:
        lines = z.read("sklearn/datasets/data/boston_house_prices.csv").decode().splitlines()
    rows = [line.split(",") for line in lines[2:] if line.strip()]
    table = np.array(rows, dtype=np.float64)
    assert table.shape == (506, 14), table.shape
    path = os.path.join(upstream, "examples", "bayesian_neural_nets", "data",
                        "housing.data")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savetxt(path, table, fmt="%.6g")
    return path


def summarise(name, log_text):
    pattern, _ = SIGNALS[name]
    values = [[float(v) for v in m] if isinstance(m, tuple) else [float(m)]
              for m in re.findall(pattern, log_text)]
    out = {"n_reports": len(values)}
    if values:
        first, last = values[0], values[-1]
        out.update(first=first, last=last,
                   finite=all(math.isfinite(v) for row in values for v in row))
        k = max(1, len(values) // 10)
        head = np.mean([r[-1] for r in values[:k]])
        tail = np.mean([r[-1] for r in values[-k:]])
        out.update(mean_first_tenth=float(head), mean_last_tenth=float(tail),
                   improved=bool(tail < head))
    return out


def run(cmd, cwd, log_path, env):
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc.returncode, time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True,
                   help="a checkout or git repository of thu-ml/Zhusuan-Jittor")
    p.add_argument("--work", default=None, help="work directory (default: a temp dir)")
    p.add_argument("--only", default="vae,nice,bnn_vi,bnn_sgmcmc,tests",
                   help="comma-separated subset of vae, nice, bnn_vi, bnn_sgmcmc, tests")
    args = p.parse_args(argv)
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="zs-upstream-"))
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    python = sys.executable
    upstream = unpack_upstream(os.path.abspath(args.upstream), work)
    patched = patch_use_cuda(upstream)
    only = args.only.split(",")
    summary = {"work": work, "patched_use_cuda": patched, "results": {}}
    if "vae" in only or "nice" in only:
        summary["mnist_pickle"] = write_mnist_pickle(upstream)
    if "bnn_vi" in only or "bnn_sgmcmc" in only:
        summary["housing"] = write_housing(upstream, work, python)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name, (cwd, script) in PROGRAMS.items():
        if name not in only:
            continue
        log_path = os.path.join(work, "logs", f"{name}.log")
        print(f"[upstream] running {script} (log: {log_path})", flush=True)
        code, seconds = run([python, script], os.path.join(upstream, cwd), log_path, env)
        result = {"exit": code, "seconds": round(seconds, 1)}
        result.update(summarise(name, open(log_path).read()))
        summary["results"][name] = result
        print(f"[upstream] {name}: {json.dumps(result)}", flush=True)
    if "tests" in only:
        with open(os.path.join(upstream, "conftest.py"), "w") as f:
            f.write("import os\nimport zhusuan\n\n"
                    "# upstream's tests import their helper as zhusuan.tests.transforms\n"
                    "zhusuan.__path__.append(os.path.join(os.path.dirname(__file__), "
                    "'zhusuan'))\n")
        log_path = os.path.join(work, "logs", "tests.log")
        code, seconds = run([python, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                             "--rootdir", upstream, *TESTS], upstream, log_path, env)
        text = open(log_path).read()
        summary["results"]["tests"] = {
            "exit": code, "seconds": round(seconds, 1),
            "passed": len(re.findall(r" PASSED", text)),
            "failed": len(re.findall(r" FAILED| ERROR", text))}
        print(f"[upstream] tests: {json.dumps(summary['results']['tests'])}", flush=True)
    with open(os.path.join(work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    ok = all(r["exit"] == 0 and r.get("finite", True) for r in summary["results"].values())
    print(f"[upstream] {'all ran to completion' if ok else 'FAILURES'}; "
          f"summary in {work}/summary.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
