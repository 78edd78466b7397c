"""How to hand Jittor's buffers to the Adam kernel: each candidate, timed.

The measurement behind the mechanisms of :mod:`zhusuan.kernels.optim`. Every
candidate runs the same element update (``csrc/include/zhusuan/optim.h``) on
the tutorial VAE's parameters (14 tensors, 1.35 M float32) with fixed
gradients, and ends synchronised:

``jt.optim.Adam``
    Jittor's optimiser: per parameter one fused kernel writing new buffers,
    assigned with ``p.update``.
``eager .data``
    ``jt.sync`` of all parameters, gradients and state, then one
    ``zhusuan._C.adam_step`` call on ``Var.data`` (numpy views of Jittor's
    memory), in place: the ``native`` backend.
``numpy_code, in place``
    one ``jt.numpy_code`` node per parameter (it takes at most 10 inputs)
    whose body calls ``_C.adam_step`` on its inputs' buffers; 1-element
    dummy outputs carry the dependency.
``numpy_code, new outputs``
    the same, writing three new outputs per parameter, then ``update``.
``jt.code, new outputs``
    one ``jt.code`` node for all parameters (56 inputs, 42 outputs): the
    functional style, then ``update``.
``jt.code, in place``
    one ``jt.code(inputs, outputs=[the state Vars])`` node, whose outputs
    take over the given Vars' memory: the ``jit`` backend.

Each round runs every candidate once, alternating, so each step starts with
the others' data in the caches (as an optimiser step starts after a
forward and backward pass). ``--tiny`` uses 14 one-element tensors instead:
the fixed cost of each mechanism.

Run: ``.venv/bin/python benches/optim_handoff.py [--reps 100] [--tiny]``.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# isort: off
import zhusuan as zs  # noqa: E402,F401  (configures Jittor before its import)
import jittor as jt  # noqa: E402

# isort: on
from zhusuan.kernels import _ext  # noqa: E402
from zhusuan.kernels import optim as kopt  # noqa: E402

from benches.bench_optim import SHAPES  # noqa: E402

LR, BETAS, EPS, STEP = 1e-3, (0.9, 0.999), 1e-8, 5.0


def _coefs(n):
    f = np.float32
    b1, b2 = BETAS
    step_size = float(f(LR) * np.sqrt(f(1 - b2**STEP)) / f(1 - b1**STEP))
    return np.array([(b1, 1 - b1, b2, 1 - b2, EPS, 0.0, step_size)] * n)


class _Case:
    def __init__(self, shapes):
        rng = np.random.default_rng(0)
        self.ps = [jt.array((rng.standard_normal(s) * 0.05).astype(np.float32))
                   for s in shapes]
        self.gs = [jt.array((rng.standard_normal(s) * 1e-2).astype(np.float32))
                   for s in shapes]
        self.ms = [jt.zeros(s) for s in shapes]
        self.vs = [jt.zeros(s) for s in shapes]
        jt.sync(self.ps + self.gs + self.ms + self.vs)
        self.rows = _coefs(len(shapes))

    def done(self):
        jt.sync(self.ps + self.ms + self.vs)


class JittorAdam(_Case):
    name = "jt.optim.Adam"

    def __init__(self, shapes):
        super().__init__(shapes)
        self.opt = jt.optim.Adam(self.ps, LR)
        self.opt.param_groups[0]["grads"] = self.gs
        self.opt.n_step = int(STEP)
        group = self.opt.param_groups[0]
        self.ms, self.vs = group["m"], group["values"]

    def step(self):
        self.opt.step()
        self.done()


class Eager(_Case):
    name = "eager .data (native)"

    def step(self):
        jt.sync(self.ps + self.gs + self.ms + self.vs)
        _ext.C.adam_step([p.data for p in self.ps], [g.data for g in self.gs],
                         [m.data for m in self.ms], [v.data for v in self.vs],
                         self.rows)


class NumpyCodeInPlace(_Case):
    name = "numpy_code per tensor, in place"

    def step(self):
        rows = self.rows[:1]
        outs = []
        for p, g, m, v in zip(self.ps, self.gs, self.ms, self.vs, strict=True):
            def body(np_, data):
                pi, gi, mi, vi = data["inputs"]
                _ext.C.adam_step([pi], [gi], [mi], [vi], rows)

            outs.append(jt.numpy_code([1], "float32", [p, g, m, v], body))
        jt.sync(outs)


class NumpyCodeNew(_Case):
    name = "numpy_code per tensor, new outputs"

    def step(self):
        rows = self.rows[:1]
        for i in range(len(self.ps)):
            p, g, m, v = self.ps[i], self.gs[i], self.ms[i], self.vs[i]

            def body(np_, data):
                pi, gi, mi, vi = data["inputs"]
                po, mo, vo = data["outputs"]
                po[...], mo[...], vo[...] = pi, mi, vi
                _ext.C.adam_step([po], [gi], [mo], [vo], rows)

            po, mo, vo = jt.numpy_code([p.shape] * 3, ["float32"] * 3, [p, g, m, v],
                                       body)
            p.update(po)
            m.update(mo)
            v.update(vo)
        self.done()


_HEADER = f'#include "{kopt._HEADER}"'


def _data(rows):
    return {f"c0_{k}": float(x) for k, x in enumerate(rows[0])}


class CodeNew(_Case):
    name = "jt.code one node, new outputs"

    def step(self):
        n = len(self.ps)
        lines = ["using T = float;"]
        for a, base in (("P", 0), ("M", n), ("V", 2 * n)):
            ptrs = ", ".join(f"out{base + t}_p" for t in range(n))
            lines.append(f"T* {a}[] = {{{ptrs}}};")
        for a, base in (("PI", 0), ("G", n), ("MI", 2 * n), ("VI", 3 * n)):
            ptrs = ", ".join(f"in{base + t}_p" for t in range(n))
            lines.append(f"const T* {a}[] = {{{ptrs}}};")
        sizes = ", ".join(f"(std::int64_t)in{t}->num" for t in range(n))
        lines.append(f"const std::int64_t S[] = {{{sizes}}};")
        lines.append("double row[7]; for (int k = 0; k < 7; ++k) row[k] = "
                     "data[std::string(\"c0_\") + std::to_string(k)];")
        lines.append("const auto k = zhusuan::optim::adam_coef<T>(row);")
        lines.append(f"zhusuan::optim::host::for_each_chunk(S, {n}, [&](int t, "
                     "std::int64_t b, std::int64_t e) {")
        lines.append("  for (std::int64_t i = b; i < e; ++i) { T p = PI[t][i], "
                     "m = MI[t][i], v = VI[t][i]; "
                     "zhusuan::optim::adam_update(p, G[t][i], m, v, k); "
                     "P[t][i] = p; M[t][i] = m; V[t][i] = v; }")
        lines.append("});")
        outs = jt.code([p.shape for p in self.ps] * 3, ["float32"] * (3 * n),
                       self.ps + self.gs + self.ms + self.vs, cpu_header=_HEADER,
                       cpu_src="\n".join(lines), data=_data(self.rows))
        outs[0].compile_options = kopt._FLAGS
        for i in range(n):
            self.ps[i].update(outs[i])
            self.ms[i].update(outs[n + i])
            self.vs[i].update(outs[2 * n + i])
        self.done()


class CodeInPlace(_Case):
    name = "jt.code one node, in place (jit)"

    def step(self):
        kopt._jit_adam(self.ps, self.gs, self.ms, self.vs, self.rows, ())
        self.done()


CANDIDATES = [JittorAdam, Eager, NumpyCodeInPlace, NumpyCodeNew, CodeNew, CodeInPlace]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--tiny", action="store_true",
                   help="14 one-element tensors: the fixed cost of each mechanism")
    args = p.parse_args(argv)
    if kopt.unavailable_reason("native"):
        raise SystemExit(kopt.unavailable_reason("native"))
    shapes = [(1,)] * len(SHAPES) if args.tiny else SHAPES
    cases = [c(shapes) for c in CANDIDATES]
    for c in cases:
        for _ in range(3):
            c.step()
    times = {c.name: [] for c in cases}
    load0 = os.getloadavg()[0]
    for r in range(args.reps):
        for c in cases if r % 2 == 0 else cases[::-1]:
            t0 = time.perf_counter()
            c.step()
            times[c.name].append(time.perf_counter() - t0)
    n = sum(int(np.prod(s)) for s in shapes)
    print(f"{len(shapes)} tensors, {n} parameters, {args.reps} alternating rounds, "
          f"OpenMP threads {_ext.C.num_threads()}, load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}; median (10th percentile):")
    unit, scale = ("us", 1e6) if args.tiny else ("ms", 1e3)
    for name, ts in times.items():
        ts = sorted(ts)
        print(f"  {name:38s} {statistics.median(ts) * scale:9.3f} {unit} "
              f"({ts[len(ts) // 10] * scale:.3f})")


if __name__ == "__main__":
    main()
