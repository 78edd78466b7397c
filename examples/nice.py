r"""NICE (Dinh, Krueger & Bengio, 2015) on dequantised Fashion-MNIST.

The model is upstream ZhuSuan-Jittor's ``examples/normalizing_flows/
nice_mnist.py``, written as a :class:`zhusuan.BayesianNet` the same way: a
standard Logistic latent ``z`` (784 dimensions) and a ``Flow`` node ``x``
whose transform is ``--coupling`` additive coupling layers (alternating
checkerboard masks, ReLU networks of ``--hidden`` layers of ``--mid-dim``
units) followed by a diagonal Scaling layer, created in ``__init__`` with
``n_samples=-1`` (nothing drawn then). It is trained by maximum likelihood
with Adam (eps 1e-4, as upstream).

Which density is reported
-------------------------
Pixels are integers k in 0..255; the loader gives k / 255. As upstream,
each pixel is dequantised with uniform noise: x = k / 255 + u / 256,
u ~ U[0, 1) (fresh noise every training epoch; one fixed, seeded draw for
the test set). The flow is a density p(x) on these continuous values, and

* ``test_ll`` is the mean over test images of log p(x), in nats per image,
  for x on that [0, 1] scale (the number NICE's paper reports for MNIST,
  1980.5 nats, is of this kind);
* ``test_bpd`` is the same density in bits per dimension of 8-bit data:
  each pixel's bin [k/255, k/255 + 1/256) has width 1/256 and the bins are
  disjoint (1/256 < 1/255), so P(k) = integral of p over the bins of the
  image and, by Jensen's inequality, log P(k) >= E_u log p(x) - 784 log 256.
  Hence

      bpd = -(log p(x) - 784 ln 256) / (784 ln 2) = -log p(x) / (784 ln 2) + 8,

  an upper bound (in expectation over u) on the bits per dimension of the
  discrete model P. ``train_ll`` / ``train_bpd`` are the same figures
  averaged over each epoch's training batches, as the weights changed.

Default sizes
-------------
Upstream's network (``--mid-dim 1000 --hidden 5``, 22M parameters) takes
about 0.65 s per step of 200 images on the 2-core development CPU, about 3
minutes per epoch. The defaults (``--mid-dim 500 --hidden 4``, 6.1M
parameters, 4 couplings, 10 epochs of 300 batches of 200) run at 8.6 to 10.7
steps/s on an otherwise idle machine, about 6 minutes in all (longer when
the cores are shared). They reach a test log-likelihood of about 739 nats
(6.64 bits/dim) on Fashion-MNIST, still rising: Adam moves each of
Scaling's log-scales by about ``--lr`` per step, and they are still growing
after 3000 steps (mean 2.7).

Writes into ``--out-dir``: ``metrics.json`` (per-epoch train/test
log-likelihood and bits/dim, wall time and steps/s per epoch, the final
figures and the options), ``samples.png`` (64 samples, clipped to [0, 1]),
``learning_curve.png`` (bits/dim per epoch), ``metrics.jsonl`` (one line
per epoch, fsynced; ``metrics.json`` is rewritten atomically every epoch too)
and ``checkpoint.zsc`` (``zs.utils`` format, written atomically before the
first step and every epoch; ``--resume`` goes on from it exactly as the
interrupted run would have: each epoch's draws are seeded from ``--seed`` and
the epoch).

Run: ``python examples/nice.py`` (see ``--help``).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zhusuan  # noqa: E402,F401  (sets up Jittor before it is imported)
import zhusuan as zs  # noqa: E402
from zhusuan.framework import BayesianNet  # noqa: E402
from zhusuan.transforms import *  # noqa: E402,F401,F403  (upstream's imports)
from zhusuan.transforms.invertible import *  # noqa: E402,F401,F403

import jittor as jt  # noqa: E402
from common import (  # noqa: E402
    MetricsStream,
    check_training_args,
    load_dataset,
    maybe_kill,
    plot_curves,
    resume_checkpoint,
    save_checkpoint,
    save_image_grid,
    single_process_only,
)
from tqdm import tqdm  # noqa: E402

BAR_INTERVAL = 0.2 if sys.stderr.isatty() else 30.0
LN2 = math.log(2.0)


class NICE(BayesianNet):
    """Upstream's NICE model: a Logistic latent and a Flow node, built in
    ``__init__`` (``n_samples=-1``: the Flow node draws nothing then)."""

    def __init__(self, num_coupling, in_out_dim, mid_dim, num_hidden):
        super().__init__()
        self.in_out_dim = in_out_dim
        masks = get_coupling_mask(in_out_dim, 1, num_coupling)  # noqa: F405
        coupling = [
            AdditiveCoupling(in_out_dim, mid_dim, num_hidden, masks[i])  # noqa: F405
            for i in range(num_coupling)]
        self.flow = Sequential(coupling + [Scaling(in_out_dim)])  # noqa: F405
        self.sn('Logistic', name='z', loc=jt.zeros([in_out_dim]),
                scale=jt.ones([in_out_dim]))
        self.sn('Flow', name='x', latent=self.nodes['z'].dist, transform=self.flow,
                n_samples=-1)

    def sample(self, n_samples=1):
        return self.nodes['x'].dist.sample(n_samples)

    def log_prob(self, x):
        """log p(x) per image, in nats."""
        return self.nodes['x'].log_prob(x)


def dequantize(x, rng):
    """x = k/255 + u/256, u ~ U[0, 1) (upstream's dequantisation)."""
    return (x + rng.uniform(0.0, 1.0 / 256, size=x.shape)).astype(np.float32)


def bits_per_dim(ll_nats, n_dim):
    """bits/dim of the 8-bit data from log p(x) (nats) of x on the [0, 1]
    scale: -ll / (n_dim ln 2) + 8 (see the module docstring)."""
    return -ll_nats / (n_dim * LN2) + 8.0


def test_set(x_test, seed, n=None):
    """The fixed dequantised test set (its noise from ``seed + 1``)."""
    x = x_test if n is None else x_test[:n]
    return dequantize(x, np.random.default_rng(seed + 1))


def evaluate(model, x, batch_size):
    """Mean log p(x) over ``x`` (nats per image)."""
    total = 0.0
    with jt.no_grad():
        for start in range(0, len(x), batch_size):
            xb = jt.array(x[start:start + batch_size])
            total += float(model.log_prob(xb).sum().item())
    return total / len(x)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=["auto", "mnist", "fashion-mnist"],
                   default="fashion-mnist")
    p.add_argument("--data-dir", default=None, help="where the IDX files are")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--coupling", type=int, default=4, help="additive coupling layers")
    p.add_argument("--mid-dim", type=int, default=500,
                   help="width of the coupling networks (upstream: 1000)")
    p.add_argument("--hidden", type=int, default=4,
                   help="hidden layers of the coupling networks (upstream: 5)")
    p.add_argument("--out-dir", default="results/nice")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out-dir>/checkpoint.zsc")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop each epoch after this many steps (for smoke tests)")
    p.add_argument("--test-n", type=int, default=None,
                   help="test images to evaluate (default: all)")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "coupling", "mid_dim", "hidden"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.test_n is not None and args.test_n < 1:
        p.error("--test-n must be >= 1")
    return check_training_args(p, args)


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/nice.py")
    t_start = time.perf_counter()
    os.makedirs(args.out_dir, exist_ok=True)

    dataset, x_train, x_test = load_dataset(args.dataset, args.data_dir)
    n_dim = x_train.shape[1]
    x_test_dq = test_set(x_test, args.seed, args.test_n)
    jt.set_global_seed(args.seed)  # the initial weights

    model = NICE(args.coupling, n_dim, args.mid_dim, args.hidden)
    optimizer = jt.optim.Adam(model.parameters(), args.lr, eps=1e-4)

    state = {"epoch": 0, "train_ll": [], "train_bpd": [], "test_ll": [], "test_bpd": [],
             "epoch_seconds": [], "steps_per_second": [], "steps": 0, "records": []}
    options = {"dataset": dataset, "batch_size": args.batch_size, "lr": args.lr,
               "seed": args.seed, "coupling": args.coupling, "mid_dim": args.mid_dim,
               "hidden": args.hidden}
    objects = {"nice": model, "optimizer": optimizer}
    if args.resume:
        state = resume_checkpoint(args.out_dir, objects, dict(options,
                                                              max_steps=args.max_steps))
        print(f"resumed from {args.out_dir} after epoch {state['epoch']}")
    else:
        save_checkpoint(args.out_dir, objects, state,
                        dict(options, max_steps=args.max_steps))
    stream = MetricsStream(args.out_dir, state["records"])
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    print(f"{dataset}: {len(x_train)} train, {len(x_test_dq)} test images; NICE with "
          f"{args.coupling} couplings of {args.hidden} x {args.mid_dim} units "
          f"({n_params / 1e6:.1f}M parameters)")

    bs = args.batch_size
    num_batches = math.ceil(len(x_train) / bs)
    if args.max_steps is not None:
        num_batches = min(num_batches, args.max_steps)
    for epoch in range(state["epoch"], args.epochs):
        # Every draw of an epoch is seeded from (seed, epoch): a run resumed
        # from the last finished epoch draws what the uninterrupted one drew.
        jt.set_seed(zs.utils.derive_seed(args.seed, "epoch", epoch))
        rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", epoch))
        x_epoch = dequantize(x_train[rng.permutation(len(x_train))], rng)
        bar = tqdm(range(num_batches), desc=f"epoch {epoch + 1}/{args.epochs}",
                   unit="step", leave=False, mininterval=BAR_INTERVAL)
        t0 = time.perf_counter()
        ll_sum, n_seen = 0.0, 0
        for step in bar:
            xb = x_epoch[step * bs:(step + 1) * bs]
            ll = model.log_prob(jt.array(xb)).mean()
            optimizer.step(-ll)
            value = ll.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"log-likelihood is {value} at epoch "
                                         f"{epoch + 1}, step {step}")
            ll_sum += value * len(xb)
            n_seen += len(xb)
            maybe_kill(state["steps"] + step + 1)
            if step % 20 == 0:
                bar.set_postfix(bpd=f"{bits_per_dim(value, n_dim):.3f}", refresh=False)
        seconds = time.perf_counter() - t0
        bar.close()
        train_ll = ll_sum / n_seen
        test_ll = evaluate(model, x_test_dq, 500)
        state["train_ll"].append(train_ll)
        state["train_bpd"].append(bits_per_dim(train_ll, n_dim))
        state["test_ll"].append(test_ll)
        state["test_bpd"].append(bits_per_dim(test_ll, n_dim))
        state["epoch_seconds"].append(seconds)
        state["steps_per_second"].append(num_batches / seconds)
        state["steps"] += num_batches
        state["epoch"] = epoch + 1
        print(f"epoch {epoch + 1}/{args.epochs}: train {train_ll:.1f} nats "
              f"({state['train_bpd'][-1]:.3f} bits/dim), test {test_ll:.1f} nats "
              f"({state['test_bpd'][-1]:.3f} bits/dim), {num_batches / seconds:.1f} "
              "steps/s")
        record = {"epoch": epoch + 1, "step": state["steps"], "train_ll": train_ll,
                  "test_ll": test_ll, "train_bpd": state["train_bpd"][-1],
                  "test_bpd": state["test_bpd"][-1], "seconds": seconds}
        state["records"].append(record)
        save_checkpoint(args.out_dir, objects, state,
                        dict(options, max_steps=args.max_steps))
        stream.append(record)
        stream.write(dict(options, epochs=state["epoch"],
                          train_ll=state["train_ll"], train_bpd=state["train_bpd"],
                          test_ll_per_epoch=state["test_ll"],
                          test_bpd_per_epoch=state["test_bpd"], complete=False))

    jt.set_seed(zs.utils.derive_seed(args.seed, "samples"))
    with jt.no_grad():
        samples = model.sample(64).numpy()
    save_image_grid(np.clip(samples, 0.0, 1.0),
                    os.path.join(args.out_dir, "samples.png"))
    plot_curves({"train": state["train_bpd"], "test": state["test_bpd"]},
                os.path.join(args.out_dir, "learning_curve.png"), ylabel="bits/dim",
                title=f"NICE on {dataset}")

    train_seconds = sum(state["epoch_seconds"])
    metrics = {
        "dataset": dataset,
        "density": ("log p(x) of x = k/255 + u/256, u ~ U[0,1), in nats per image; "
                    "bits/dim = -ll / (784 ln 2) + 8"),
        "epochs": state["epoch"],
        "train_ll": state["train_ll"],
        "train_bpd": state["train_bpd"],
        "test_ll_per_epoch": state["test_ll"],
        "test_bpd_per_epoch": state["test_bpd"],
        "test_ll": state["test_ll"][-1] if state["test_ll"] else None,
        "test_bpd": state["test_bpd"][-1] if state["test_bpd"] else None,
        "test_n": len(x_test_dq),
        "epoch_seconds": state["epoch_seconds"],
        "steps_per_second_per_epoch": state["steps_per_second"],
        "steps_per_second": state["steps"] / max(train_seconds, 1e-9),
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - t_start,
        "n_parameters": n_params,
        "complete": True,
        **options,
    }
    stream.write(metrics)
    print(f"test log-likelihood {metrics['test_ll']:.2f} nats per image, "
          f"{metrics['test_bpd']:.4f} bits/dim; wrote {args.out_dir}/metrics.json")
    return metrics


if __name__ == "__main__":
    main()
