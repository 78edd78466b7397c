"""Where the time of zhusuan's VAE training step goes.

The step of the comparison runner (``benches/cases.py``: the tutorial's VAE,
784-500-500-40, batch 128, Adam) is taken apart into nested pieces, each timed
in the same process, alternately with the others (``run.time_alternating``),
and reported as medians:

``step``
    ``optimizer.step(model({'x': x}))``: forward, backward and Adam
    (``zs.optim.Adam`` as the examples train, or the tutorial's
    ``jt.optim.Adam`` with ``--optimizer jittor``).
``forward+backward``
    the same ELBO and ``jt.grad`` with respect to every parameter; no update.
``networks only``
    the encoder and decoder MLPs with the same shapes and the same gradient
    targets, but a trivial linear loss instead of the probabilistic head: the
    matmuls, ReLUs, bias adds and their backward.
``head only``
    the probabilistic head alone (``cases.ZhusuanHead``: Bernoulli [B, 784]
    and two Normal [B, 40] log-densities, forward and backward), at the same
    batch size, on inputs that are plain Vars.

The differences estimate the parts: Adam = step - (forward+backward); the
head and the graph around it = (forward+backward) - (networks only); the rest
of that difference beyond ``head only`` is the cost of the head being part of
a larger lazy graph (the sampling of z, casts, the surrogate's sums). Jittor's
own profiler (``jt.profile_scope``) then lists the step's most expensive
operators.

Run: ``.venv/bin/python benches/profile_step.py [--threads N] [--reps N]
[--optimizer {jittor,zhusuan}]``.
"""

import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import zhusuan as zs  # noqa: E402  (configures Jittor before its import)

import jittor as jt  # noqa: E402

from benches import cases, run  # noqa: E402


class _Grads(cases.ZhusuanVAE):
    """The ELBO and its gradient with respect to every parameter, no update."""

    def __init__(self, batch, backend, optimizer):
        super().__init__(batch, backend, optimizer)
        self.name = "forward+backward"

    def step(self):
        zs.kernels.set_backend(self.backend)
        loss = self.model({"x": self.x})
        grads = jt.grad(loss, self.optimizer.param_groups[0]["params"])
        jt.sync(grads)
        return loss.item()


class _NetworksOnly(cases.ZhusuanVAE):
    """The two MLPs, forward and backward, with a linear stand-in for the head."""

    def __init__(self, batch, backend, optimizer):
        super().__init__(batch, backend, optimizer)
        self.name = "networks only"

    def step(self):
        q, g = self.variational, self.generator
        h = q.act2(q.fc2(q.act1(q.fc1(self.x))))
        mean, logstd = q.fc3(h), q.fc4(h)
        z = mean + logstd  # the same shape flows into the decoder
        logits = g.fc2_(g.act2(g.fc2(g.act1(g.fc1(z)))))
        loss = (logits * self.x).mean() + mean.mean() + logstd.mean()
        grads = jt.grad(loss, self.optimizer.param_groups[0]["params"])
        jt.sync(grads)
        return loss.item()


def _named(contender, name):
    contender.name = name
    return contender


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default=None, help="zhusuan backend (default: the default)")
    p.add_argument("--threads", type=int, default=None,
                   help="OpenMP/Jittor threads (default: all cores)")
    p.add_argument("--reps", type=int, default=31)
    p.add_argument("--top", type=int, default=12, help="operators to list")
    p.add_argument("--optimizer", choices=["jittor", "zhusuan"], default="zhusuan",
                   help="Adam of the step: zs.optim.Adam (one fused pass, "
                        "zhusuan.optim; the examples' default) or jt.optim.Adam "
                        "(the tutorial's)")
    args = p.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        jt.flags.use_parallel_op_compiler = 0
    backend = args.backend or zs.kernels.get_backend()
    batch = cases.VAE_BATCH
    parts = [
        _named(cases.ZhusuanVAE(batch, backend, args.optimizer), "step"),
        _Grads(batch, backend, args.optimizer),
        _NetworksOnly(batch, backend, args.optimizer),
        _named(cases.ZhusuanHead(batch, backend), "head only"),
    ]
    for c in parts:
        c.setup()
    timings, rounds = run.time_alternating(parts, args.reps, target=0.05, warmup=5)
    med = {n: statistics.median(r["samples"]) * 1e3 for n, r in timings.items()}
    opt = "jt.optim.Adam"
    if args.optimizer == "zhusuan":
        opt = f"zs.optim.Adam ({parts[0].optimizer.backend})"
    print(f"zhusuan {zs.__version__}, backend {backend}, {opt}, batch {batch}, "
          f"{rounds} rounds, load average {os.getloadavg()[0]:.1f}, medians in ms")
    for name, ms in med.items():
        print(f"  {name:18s} {ms:8.3f}")
    step, fb, nets, head = (med[n] for n in ("step", "forward+backward",
                                             "networks only", "head only"))
    print("estimated parts of the step:")
    rows = [("networks (matmuls, ReLU, their backward)", nets),
            ("probabilistic head (fused ops alone)", head),
            ("graph around the head (sampling, sums, casts)", fb - nets - head),
            ("Adam update", step - fb)]
    for label, ms in rows:
        print(f"  {label:48s} {ms:8.3f} ms  {100 * ms / step:5.1f} %")

    # Jittor's per-operator profile of a few steps.
    full = parts[0]
    with jt.profile_scope(warmup=2, rerun=0, log_silent=1) as report:
        for _ in range(5):
            full.step()
    header, body = report[0], report[1:]
    try:
        col = header.index("TotalTime")
        body.sort(key=lambda r: -float(r[col]))
    except (ValueError, IndexError):
        col = None
    print(f"Jittor's profiler, the {args.top} most expensive operators of 5 steps:")
    name_col = header.index("Name") if "Name" in header else 0
    for r in body[: args.top]:
        t = f"{float(r[col]) / 1e6:9.3f} ms" if col is not None else ""
        print(f"  {t}  {str(r[name_col]).splitlines()[0][:110]}")
    for c in parts:
        c.close()


if __name__ == "__main__":
    main()
