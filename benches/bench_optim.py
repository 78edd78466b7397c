r"""One optimiser step on the tutorial VAE's parameters (1.35 M float32).

Contenders (each skipped with the reason when it cannot run here):

* ``jt.optim.Adam``: Jittor's own (one fused kernel per parameter, new
  buffers every step);
* ``zs.optim.Adam[native|jit|jittor]``: zhusuan's, per backend
  (:mod:`zhusuan.kernels.optim`);
* ``torch.optim.Adam(fused=True)`` and ``torch.optim.Adam(foreach=True)``,
  when PyTorch is installed (``pip install torch==2.13.0``; bench only);
* ``memory floor``: multithreaded ``numpy.copyto`` calls that move the
  bytes an Adam step must move, 7 arrays x 4 bytes x n (read p, g, m, v;
  write p, m, v; :data:`FLOOR_BYTES`) within the same working set: the least
  time the memory system allows, measured in the same run (see
  :class:`_Floor`; the stand-alone run also prints the floor at DRAM
  bandwidth from ``benches/floors.py``).

Every step updates the same parameters with the same (fixed) gradients and
ends synchronised (``jt.sync`` of the parameters and state), so the timed
work is the update alone. With pytest-benchmark::

    python -m pytest benches/bench_optim.py -o python_files='bench_*.py' \
        --benchmark-only --benchmark-columns=min,median,max,rounds

Or stand-alone, all contenders alternating round by round (the fairest
comparison on a shared machine), printing medians, ratios to jt.optim.Adam
and to the floor, the machine load and the thread count::

    python benches/bench_optim.py [--reps 41] [--threads N]
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

# isort: off
import zhusuan as zs  # noqa: E402  (configures Jittor before its import)
import jittor as jt  # noqa: E402

# isort: on
from benches.floors import F32, VAE_LAYERS  # noqa: E402

# Jittor's nn.Linear(fan_in, fan_out): weight [fan_out, fan_in], bias [fan_out].
SHAPES = [s for _, fan_in, fan_out in VAE_LAYERS
          for s in ((fan_out, fan_in), (fan_out,))]
N_PARAMS = sum(int(np.prod(s)) for s in SHAPES)
FLOOR_BYTES = 7 * F32 * N_PARAMS
LR = 1e-3


class Unavailable(Exception):
    pass


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    params = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 1e-2).astype(np.float32) for s in SHAPES]
    return params, grads


class _Jittor:
    """A Jittor-style optimiser stepping on fixed gradients: one backward of
    sum(p * G) sets ``param_groups[i]['grads']`` to G; ``step()`` without a
    loss then reuses them (the step count stays 1)."""

    def __init__(self, name, make):
        self.name, self.make = name, make

    def setup(self):
        params, grads = _arrays()
        self.ps = [jt.array(p) for p in params]
        self.opt = self.make(self.ps)
        self.opt.backward(sum((p * jt.array(g)).sum()
                              for p, g in zip(self.ps, grads, strict=True)))
        self.state = [x for pg in self.opt.param_groups
                      for key in ("values", "m") for x in pg[key]]
        self.step()

    def step(self):
        self.opt.step()
        # The optimiser may have replaced the Vars (jt.optim's update): read
        # them again from the groups.
        jt.sync([x for pg in self.opt.param_groups
                 for key in ("params", "values", "m") for x in pg[key]])

    def close(self):
        pass


def _zhusuan(backend):
    def make(ps):
        reason = zs.kernels.optim.unavailable_reason(backend)
        if reason:
            raise Unavailable(reason)
        return zs.optim.Adam(ps, LR, backend=backend)

    return _Jittor(f"zs.optim.Adam[{backend}]", make)


class _Torch:
    def __init__(self, name, **kw):
        self.name, self.kw = name, kw

    def setup(self):
        if importlib.util.find_spec("torch") is None:
            raise Unavailable("PyTorch is not installed (pip install torch==2.13.0)")
        import torch

        params, grads = _arrays()
        self.ps = [torch.tensor(p, requires_grad=True) for p in params]
        for p, g in zip(self.ps, grads, strict=True):
            p.grad = torch.tensor(g)
        try:
            self.opt = torch.optim.Adam(self.ps, lr=LR, **self.kw)
            self.step()
        except (RuntimeError, ValueError) as exc:  # e.g. fused needs a newer torch
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None

    def step(self):
        self.opt.step()  # eager: done when it returns

    def close(self):
        pass


class _Floor:
    """The memory floor, measured: copies that move what an Adam step moves
    (28 bytes per parameter: read p, g, m, v, write p, m, v) within the same
    working set (16 bytes per parameter: an in-place step touches only its
    four arrays). Source and destination hold 2 n float32 each; one step
    copies all of it once and three quarters of it again (16 n + 12 n
    bytes), split into one slice per thread (numpy releases the GIL), as
    benches/floors.py measures bandwidth. Repeated steps find that working
    set (21.5 MB here) in the last-level cache when it fits, as they find the
    optimisers' arrays; :func:`main` also prints the floor at DRAM
    bandwidth (benches/floors.py)."""

    name = "memory floor (28 B/param moved)"

    def __init__(self, threads=None):
        self.threads = threads or len(os.sched_getaffinity(0))

    def setup(self):
        n = 2 * N_PARAMS
        self.src = np.ones(n, np.float32)
        self.dst = np.empty_like(self.src)
        t = self.threads

        def split(m):
            return [(self.dst[i * m // t:(i + 1) * m // t],
                     self.src[i * m // t:(i + 1) * m // t]) for i in range(t)]

        self.parts = split(n) + split(3 * n // 4)
        self.pool = ThreadPoolExecutor(t)
        self.step()

    def step(self):
        list(self.pool.map(lambda part: np.copyto(*part), self.parts))

    def close(self):
        self.pool.shutdown()


def contenders(threads=None):
    return [
        _Jittor("jt.optim.Adam", lambda ps: jt.optim.Adam(ps, LR)),
        _zhusuan("native"),
        _zhusuan("jit"),
        _zhusuan("jittor"),
        _Torch("torch.optim.Adam(fused=True)", fused=True),
        _Torch("torch.optim.Adam(foreach=True)", foreach=True),
        _Floor(threads),
    ]


# ------------------------------------------------------- pytest-benchmark ----
try:
    import pytest
except ImportError:  # stand-alone use needs no pytest
    pytest = None

if pytest is not None:
    CONTENDERS = contenders()

    @pytest.mark.parametrize("contender", CONTENDERS, ids=[c.name for c in CONTENDERS])
    def test_optimizer_step(benchmark, contender):
        try:
            contender.setup()
        except Unavailable as exc:
            pytest.skip(str(exc))
        try:
            for _ in range(3):
                contender.step()
            benchmark.group = f"optimizer step, VAE parameters (n = {N_PARAMS})"
            benchmark.extra_info["bytes_moved"] = FLOOR_BYTES
            benchmark(contender.step)
        finally:
            contender.close()


# ------------------------------------------------------------ stand-alone ----
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=41, help="alternating rounds")
    p.add_argument("--threads", type=int, default=None,
                   help="OpenMP / torch threads (default: all cores)")
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch out (its own OpenMP runtime's spinning threads "
                        "compete with Jittor's and zhusuan's for the cores)")
    args = p.parse_args(argv)
    if args.threads:
        import ctypes

        # OMP_NUM_THREADS is read when libgomp loads (already, with Jittor):
        # set the running default instead.
        ctypes.CDLL("libgomp.so.1").omp_set_num_threads(args.threads)
    if importlib.util.find_spec("torch") is not None and not args.no_torch:
        import torch

        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    from benches import run

    live = []
    for c in contenders(args.threads):
        if args.no_torch and isinstance(c, _Torch):
            continue
        try:
            c.setup()
            live.append(c)
        except Unavailable as exc:
            print(f"  skipped {c.name}: {exc}")
    load0 = os.getloadavg()
    timings, rounds = run.time_alternating(live, args.reps, target=0.02, warmup=3)
    load1 = os.getloadavg()
    med = {n: statistics.median(r["samples"])
           for n, r in timings.items() if r["samples"]}
    ref = med.get("jt.optim.Adam")
    floor = med.get(_Floor.name)
    threads = args.threads or len(os.sched_getaffinity(0))
    print(f"optimizer step on {N_PARAMS} float32 parameters ({len(SHAPES)} tensors), "
          f"{threads} threads, {rounds} alternating rounds; load average "
          f"{load0[0]:.1f} before, {load1[0]:.1f} after; medians:")
    for name, t in med.items():
        row = f"  {name:34s} {t * 1e3:8.3f} ms"
        if ref:
            row += f"   {t / ref:5.2f} x jt.optim.Adam"
        if floor:
            row += f"   {t / floor:5.2f} x floor"
        print(row)
    from benches import floors

    ceilings = floors.measure_ceilings("quick", cores=threads, with_torch=False)
    dram = ceilings["dram_bytes_per_s"]
    print(f"  floor at DRAM copy bandwidth ({dram / 1e9:.1f} GB/s, benches/floors.py): "
          f"{FLOOR_BYTES / dram * 1e3:.3f} ms for {FLOOR_BYTES / 1e6:.1f} MB")
    for c in live:
        c.close()


if __name__ == "__main__":
    main()
