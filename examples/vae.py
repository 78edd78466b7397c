"""The ZhuSuan-Jittor tutorial's variational autoencoder, as a real program.

Trains the tutorial's Generator/Variational pair (784-500-500-40, Bernoulli
pixels, Normal latents) with the SGVB estimator of the ELBO on dynamically
binarised images (resampled every epoch); evaluates the test ELBO every epoch
on one fixed binarisation of the test set, and at the end the
importance-sampled test log-likelihood. Adam is ``zs.optim.Adam`` (one fused
pass over all parameters; ``--optimizer jittor`` uses ``jt.optim.Adam``, the
same update). Writes into ``--out-dir``:

* ``metrics.json``: dataset, epochs, train/test ELBO per epoch, test_ll, is_k,
  is_n, train_seconds, steps_per_second, backend, optimizer (and, with
  ``--ll-method ais|both``, the annealed-importance-sampling estimate
  test_ll_ais with its standard error, and IS on the same images); rewritten
  atomically after every epoch (``"complete": false`` until the end);
* ``metrics.jsonl``: one line per epoch (epoch, step, train/test ELBO,
  seconds), appended and fsynced as each epoch ends;
* ``test_images.png``, ``reconstructions.png``, ``prior_samples.png``;
* ``learning_curve.png``;
* ``checkpoint.zsc`` (``zs.utils.save_checkpoint``: written atomically before
  the first step, every ``--checkpoint-every`` steps and after every epoch;
  ``--resume`` goes on from it and computes what the uninterrupted run would
  have, bit for bit: every random draw is seeded from ``--seed`` and its place
  in the run, see ``docs/design.md``).

Data-parallel under MPI (``docs/distributed.md``):
``mpirun -np N python examples/vae.py ...`` trains one model in N processes.
``--batch-size`` is the global batch (a multiple of N): rank r takes the r-th
of N equal contiguous blocks of every batch, Adam's gradients are averaged
over the ranks (Jittor's all-reduce), the evaluations are split between the
ranks and summed; rank 0 alone prints, shows the progress bar and writes the
files above. Each rank draws its own latent noise
(``zs.distributed.rank_seed``), so an N-process run is not bit for bit the
one-process run (the data order and binarisations are the same); a run
resumes with any number of processes, bit for bit with the same number.

Run: ``python examples/vae.py`` (see ``--help``).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zhusuan as zs  # noqa: E402  (sets up Jittor before it is imported)
from zhusuan import BayesianNet  # noqa: E402

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
    say,
)
from jittor import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

# Redraw the progress bars often on a terminal, rarely into a log file.
BAR_INTERVAL = 0.2 if sys.stderr.isatty() else 30.0
dist = zs.distributed


class Generator(BayesianNet):
    """p(z) p(x | z), exactly as in the tutorial (``batch_size`` may be changed
    between calls to evaluate a last, smaller batch)."""

    def __init__(self, x_dim, z_dim, batch_size):
        super().__init__()
        self.x_dim = x_dim
        self.z_dim = z_dim
        self.batch_size = batch_size
        self.fc1 = nn.Linear(z_dim, 500)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(500, 500)
        self.act2 = nn.Relu()
        self.fc2_ = nn.Linear(500, x_dim)
        self.act2_ = nn.Sigmoid()

    def execute(self, observed):
        self.observe(observed)
        mean = jt.zeros([self.batch_size, self.z_dim])
        std = jt.ones([self.batch_size, self.z_dim])
        z = self.sn('Normal', name='z', mean=mean, std=std, reparameterize=False,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
        x_probs = self.act2_(self.fc2_(self.act2(self.fc2(self.act1(self.fc1(z))))))
        self.cache['x_mean'] = x_probs
        self.sn('Bernoulli', name='x', probs=x_probs,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class Variational(BayesianNet):
    """q(z | x), exactly as in the tutorial."""

    def __init__(self, x_dim, z_dim, batch_size):
        super().__init__()
        self.x_dim = x_dim
        self.z_dim = z_dim
        self.batch_size = batch_size
        self.fc1 = nn.Linear(x_dim, 500)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(500, 500)
        self.act2 = nn.Relu()
        self.fc3 = nn.Linear(500, z_dim)
        self.fc4 = nn.Linear(500, z_dim)
        self.dist = None

    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        z_logits = self.act2(self.fc2(self.act1(self.fc1(x))))
        z_mean = self.fc3(z_logits)
        z_std = jt.exp(self.fc4(z_logits))
        self.sn('Normal', name='z', mean=z_mean, std=z_std, reparameterize=True,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


def build_parser(description=None, out_dir="results/vae"):
    """The command line shared by the VAE-family examples."""
    p = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=["auto", "mnist", "fashion-mnist"], default="auto")
    p.add_argument("--data-dir", default=None, help="where the IDX files are")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128,
                   help="the global batch: under mpirun -np N, N processes take "
                        "batch-size / N images each (a multiple of N)")
    p.add_argument("--z-dim", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out-dir", default=out_dir)
    p.add_argument("--is-k", type=int, default=1000,
                   help="importance samples per test image for the log-likelihood")
    p.add_argument("--is-n", type=int, default=None,
                   help="test images for the log-likelihood (default: all)")
    p.add_argument("--eval-n", type=int, default=None,
                   help="test images for the per-epoch test ELBO (default: all)")
    p.add_argument("--backend", choices=["auto", *zs.kernels.BACKENDS], default="auto",
                   help="kernel backend (auto: the fastest available)")
    p.add_argument("--optimizer", choices=["zhusuan", "jittor"], default="zhusuan",
                   help="Adam: zs.optim.Adam (one fused pass over all parameters, on "
                        "the kernel backend) or Jittor's jt.optim.Adam; same math, and "
                        "checkpoints of either resume with the other")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out-dir>/checkpoint.zsc, exactly as the "
                        "interrupted run would have gone on")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="also checkpoint every N training steps (0: only before the "
                        "first step and after each epoch)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop each epoch after this many steps (>= 1; for smoke tests)")
    p.add_argument("--log-losses", type=int, default=0,
                   help="record the first N training losses in metrics.json")
    add_ais_args(p)
    return p


# -- annealed importance sampling (--ll-method ais|both) -------------------------------
def add_ais_args(p):
    p.add_argument("--ll-method", choices=["is", "ais", "both"], default="is",
                   help="test log-likelihood by importance sampling (k=--is-k), by "
                        "annealed importance sampling with HMC (zs.evaluation.AIS), or "
                        "both (then IS is also reported on AIS's images)")
    p.add_argument("--ais-n", type=int, default=100, help="test images for AIS")
    p.add_argument("--ais-chains", type=int, default=16, help="AIS chains per image")
    p.add_argument("--ais-temperatures", type=int, default=500)
    p.add_argument("--ais-leapfrogs", type=int, default=5)


def evaluate_ais(generator, variational, x, batch_size, args):
    """AIS estimates of log p(x) per image, from q(z | x) with HMC transitions;
    returns (estimates, Monte-Carlo standard errors). Under MPI each rank
    takes its part of ``x`` and every rank gets all the estimates."""
    out, err = [], []
    for xb in batches(x[dist.shard(len(x))], batch_size):
        generator.batch_size = variational.batch_size = len(xb)
        ais = zs.evaluation.AIS(
            generator, variational,
            hmc=zs.mcmc.HMC(step_size=0.05, n_leapfrogs=args.ais_leapfrogs),
            n_temperatures=args.ais_temperatures, n_adapt=20, verbose=dist.is_main())
        out.append(ais.run({'x': jt.array(xb)}, n_chains=args.ais_chains))
        err.append(ais.stderr)
    generator.batch_size = variational.batch_size = batch_size
    return dist.all_gather(_concat(out)), dist.all_gather(_concat(err))


def _concat(arrays):
    """The arrays end to end (none: empty; a rank's part may be empty)."""
    return np.concatenate(arrays) if arrays else np.zeros(0)


def ais_metrics(generator, variational, x_test_bin, ll_is, bs, args):
    """The AIS figures for metrics.json (and, with IS, IS on the same images)."""
    n = min(args.ais_n, len(x_test_bin))
    est, err = evaluate_ais(generator, variational, x_test_bin[:n], bs, args)
    if dist.is_main():
        np.save(os.path.join(args.out_dir, "test_ll_ais.npy"), est)  # per image
    out = {"test_ll_ais": float(est.mean()),
           # the mean over images: its error from each image's delta-method error
           "test_ll_ais_stderr": float(np.sqrt(np.sum(err ** 2)) / n),
           "ais_n": n, "ais_chains": args.ais_chains,
           "ais_temperatures": args.ais_temperatures,
           "ais_leapfrogs": args.ais_leapfrogs}
    say(f"test log-likelihood by AIS ({n} images, {args.ais_chains} chains, "
          f"{args.ais_temperatures} temperatures): {out['test_ll_ais']:.2f} +- "
          f"{out['test_ll_ais_stderr']:.2f} nats")
    if ll_is is not None:
        out["test_ll_is_same_images"] = float(ll_is[:n].mean())
        say(f"  importance sampling on the same images: {ll_is[:n].mean():.2f} nats")
    return out


def check_args(p, args):
    for name in ("epochs", "batch_size", "z_dim", "is_k", "ais_n", "ais_chains",
                 "ais_temperatures", "ais_leapfrogs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("is_n", "eval_n"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.checkpoint_every < 0:
        p.error(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.batch_size % dist.world_size():
        p.error(f"--batch-size {args.batch_size} is the global batch and must be a "
                f"multiple of the {dist.world_size()} MPI processes")
    return check_training_args(p, args)


def parse_args(argv=None):
    p = build_parser()
    return check_args(p, p.parse_args(argv))


def batches(x, batch_size):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


def evaluate_elbo(model, generator, variational, x_test, batch_size):
    """Mean test ELBO (one sample per image) over the whole test set (under
    MPI each rank takes its part, and the sums are all-reduced)."""
    total, count = 0.0, 0
    with jt.no_grad():
        for xb in batches(x_test[dist.shard(len(x_test))], batch_size):
            generator.batch_size = variational.batch_size = len(xb)
            elbo = float(model.bound({'x': jt.array(xb)}).mean().item())
            total += elbo * len(xb)
            count += len(xb)
    generator.batch_size = variational.batch_size = batch_size
    total, count = dist.all_reduce_sum(np.array([total, count], np.float64))
    return float(total / count)


def evaluate_ll(generator, variational, x_test, batch_size, k):
    """Importance-sampled log p(x) per test image (k samples each); under MPI
    each rank takes its part and every rank gets all the values."""
    out = []
    x_test = x_test[dist.shard(len(x_test))]
    bar = tqdm(total=len(x_test), desc=f"test log-likelihood (k={k})", unit="img",
               mininterval=BAR_INTERVAL, disable=not dist.is_main())
    for xb in batches(x_test, batch_size):
        generator.batch_size = variational.batch_size = len(xb)
        out.append(zs.evaluation.is_loglikelihood(
            generator, variational, {'x': jt.array(xb)}, n_samples=k))
        bar.update(len(xb))
        bar.set_postfix(ll=f"{np.concatenate(out).mean():.2f}", refresh=False)
    bar.close()
    generator.batch_size = variational.batch_size = batch_size
    return dist.all_gather(_concat(out))


def elbo_objective(generator, variational, args):
    return zs.variational.ELBO(generator, variational)


def main(argv=None):
    return train(parse_args(argv), elbo_objective, "VAE")


def make_optimizer(name, params, lr):
    """Adam over ``params``: ``'zhusuan'`` for zs.optim.Adam, ``'jittor'`` for
    jt.optim.Adam."""
    if name == "jittor":
        return jt.optim.Adam(params, lr)
    if name == "zhusuan":
        return zs.optim.Adam(params, lr)
    raise ValueError(f"unknown optimizer {name!r}")


def train(args, make_objective, title, bound_name="ELBO"):
    """Train, evaluate and write every output; ``make_objective(generator,
    variational, args)`` builds the objective (its call is the cost, its
    ``bound`` the per-data-point bound reported as the ELBO columns, named
    ``bound_name`` in the log and the learning curve).

    Every random draw is seeded from ``args.seed`` and its place in the run
    (``zs.utils.derive_seed``): the data order and binarisation of an epoch
    from the epoch, a training step's noise from the global step, the
    evaluations from their epoch or name. A run resumed from a checkpoint
    therefore repeats the uninterrupted run exactly.

    Under MPI (see the module docstring) ``args.batch_size`` is the global
    batch; the latent noise of a step or an evaluation is also seeded by the
    rank (``zs.distributed.rank_seed``; rank 0's is a one-process run's).
    """
    if args.backend != "auto":
        zs.kernels.set_backend(args.backend)
    backend = zs.kernels.get_backend()
    os.makedirs(args.out_dir, exist_ok=True)

    dataset, x_train, x_test = load_dataset(args.dataset, args.data_dir)
    x_test_bin = zs.datasets.binarize_fixed(x_test, seed=args.seed)
    eval_n = len(x_test) if args.eval_n is None else min(args.eval_n, len(x_test))
    jt.set_global_seed(args.seed)  # the initial weights (rank 0's under MPI)

    # bs: the global batch; lbs: this process's part of it (all of it
    # without MPI), rows: which rows of a global batch are this process's.
    x_dim, bs = x_train.shape[1], args.batch_size
    world, rows = dist.world_size(), dist.shard(args.batch_size, even=True)
    lbs = bs // world
    generator = Generator(x_dim, args.z_dim, lbs)
    variational = Variational(x_dim, args.z_dim, lbs)
    model = make_objective(generator, variational, args)
    # jt.set_global_seed gives each rank its own seed: start all from rank 0's
    # weights (zs.optim does this too; jt.optim only after its first step).
    dist.broadcast_parameters(model)
    opt_choice = getattr(args, "optimizer", "zhusuan")
    optimizer = make_optimizer(opt_choice, model.parameters(), args.lr)
    objects = {"generator": generator, "variational": variational,
               "optimizer": optimizer}

    # "steps" counts the run's training steps, "epoch_step" those of the
    # current epoch; the sums belong to the current epoch.
    state = {"epoch": 0, "steps": 0, "epoch_step": 0, "elbo_sum": 0.0,
             "run_sum": 0.0, "epoch_seconds": 0.0, "train_elbo": [],
             "test_elbo": [], "train_seconds": 0.0, "losses": [], "records": []}
    # What a resumed run must share with the run that wrote the checkpoint.
    options = {"dataset": dataset, "batch_size": bs, "z_dim": args.z_dim,
               "lr": args.lr, "seed": args.seed, "objective": title,
               "max_steps": args.max_steps, "eval_n": eval_n}
    if args.resume:
        state = resume_checkpoint(args.out_dir, objects, options)
        say(f"resumed from {args.out_dir} after epoch {state['epoch']}, step "
            f"{state['steps']}")
    else:
        save_checkpoint(args.out_dir, objects, state, options)
    stream = MetricsStream(args.out_dir, state["records"])
    opt_name = (f"zs.optim.Adam ({optimizer.backend})" if opt_choice == "zhusuan"
                else "jt.optim.Adam")
    say(f"backend: {backend}; optimizer: {opt_name}; {dataset}: {len(x_train)} "
        f"train, {len(x_test)} test images")
    if world > 1:
        say(f"MPI: {world} processes, global batch {bs} = {world} x {lbs}")

    def summary():
        return {
            "dataset": dataset,
            "epochs": state["epoch"],
            "train_elbo": state["train_elbo"],
            "test_elbo": state["test_elbo"],
            "train_seconds": state["train_seconds"],
            "steps": state["steps"],
            "eval_n": eval_n,
            "steps_per_second": state["steps"] / max(state["train_seconds"], 1e-9),
            "backend": backend,
            "optimizer": opt_name,
            "batch_size": bs,
            "z_dim": args.z_dim,
            "lr": args.lr,
            "seed": args.seed,
            "processes": world,
        }

    num_batches = len(x_train) // bs  # the tutorial drops the last partial batch
    if args.max_steps is not None:
        num_batches = min(num_batches, args.max_steps)
    for epoch in range(state["epoch"], args.epochs):
        rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", epoch))
        order = rng.permutation(len(x_train))[:num_batches * bs]
        x_epoch = zs.datasets.binarize(x_train[order], rng)  # only what is used
        bar = tqdm(range(state["epoch_step"], num_batches),
                   desc=f"epoch {epoch + 1}/{args.epochs}", unit="step", leave=False,
                   mininterval=BAR_INTERVAL, disable=not dist.is_main())
        t0 = time.perf_counter()
        for step in bar:
            jt.set_seed(dist.rank_seed(zs.utils.derive_seed(args.seed, "step",
                                                            state["steps"])))
            x = jt.array(x_epoch[step * bs:(step + 1) * bs][rows])
            loss = model({'x': x})
            optimizer.step(loss)  # under MPI: the gradients' mean over the ranks
            value = dist.all_reduce_mean(loss).item()  # the global batch's loss
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at epoch {epoch + 1}, step "
                                         f"{step} (global step {state['steps'] + 1})")
            if len(state["losses"]) < args.log_losses:
                state["losses"].append(value)
            state["elbo_sum"] -= value
            state["run_sum"] = (value if step == 0
                                else 0.98 * state["run_sum"] + 0.02 * value)
            state["steps"] += 1
            state["epoch_step"] = step + 1
            if step % 20 == 0:
                bar.set_postfix(loss=f"{state['run_sum']:.2f}", refresh=False)
            maybe_kill(state["steps"])
            if (args.checkpoint_every and state["steps"] % args.checkpoint_every == 0
                    and step + 1 < num_batches):
                now = time.perf_counter()
                state["epoch_seconds"] += now - t0
                t0 = now
                save_checkpoint(args.out_dir, objects, state, options)
        seconds = state["epoch_seconds"] + time.perf_counter() - t0
        state["train_seconds"] += seconds
        bar.close()
        jt.set_seed(dist.rank_seed(zs.utils.derive_seed(args.seed, "eval", epoch)))
        test_elbo = evaluate_elbo(model, generator, variational, x_test_bin[:eval_n],
                                  lbs)
        state["train_elbo"].append(state["elbo_sum"] / num_batches)
        state["test_elbo"].append(test_elbo)
        state["epoch"] = epoch + 1
        record = {"epoch": epoch + 1, "step": state["steps"],
                  "train_elbo": state["train_elbo"][-1], "test_elbo": test_elbo,
                  "seconds": seconds}
        state["records"].append(record)
        state.update(epoch_step=0, elbo_sum=0.0, run_sum=0.0, epoch_seconds=0.0)
        say(f"epoch {epoch + 1}/{args.epochs}: train {bound_name} "
            f"{state['train_elbo'][-1]:.2f}, test {bound_name} {test_elbo:.2f} "
            f"({num_batches / seconds:.1f} steps/s)")
        save_checkpoint(args.out_dir, objects, state, options)
        stream.append(record)
        stream.write(dict(summary(), complete=False))

    # Pictures: test images, their reconstructions, samples from the prior
    # (by rank 0 alone, from a global batch, as in a one-process run).
    @dist.main_only
    def pictures():
        n_show = 64
        jt.set_seed(zs.utils.derive_seed(args.seed, "pictures"))
        generator.batch_size = variational.batch_size = bs
        with jt.no_grad():
            xb = x_test_bin[:bs]
            q = variational({'x': jt.array(xb)})
            z = q.nodes['z'].dist.mean  # reconstruct from the posterior mean
            recon = generator({'z': z, 'x': jt.array(xb)}).cache['x_mean'].numpy()
            prior = generator({}).cache['x_mean'].numpy()
        generator.batch_size = variational.batch_size = lbs
        save_image_grid(x_test[:n_show], os.path.join(args.out_dir, "test_images.png"))
        save_image_grid(recon[:n_show], os.path.join(args.out_dir, "reconstructions.png"))
        save_image_grid(prior[:n_show], os.path.join(args.out_dir, "prior_samples.png"))
        plot_curves({f"train {bound_name}": state["train_elbo"],
                     f"test {bound_name}": state["test_elbo"]},
                    os.path.join(args.out_dir, "learning_curve.png"),
                    title=f"{title} on {dataset} ({backend} backend)")

    pictures()

    is_n = len(x_test) if args.is_n is None else min(args.is_n, len(x_test))
    ll_method = getattr(args, "ll_method", "is")
    ll, test_ll = None, None
    if ll_method in ("is", "both"):
        jt.set_seed(dist.rank_seed(zs.utils.derive_seed(args.seed, "test_ll")))
        ll = evaluate_ll(generator, variational, x_test_bin[:is_n], lbs, args.is_k)
        test_ll = float(ll.mean())
        if dist.is_main():  # per image, for subsets
            np.save(os.path.join(args.out_dir, "test_ll.npy"), ll)
        say(f"test log-likelihood (k={args.is_k}, {is_n} images): {test_ll:.2f} nats")
    ais = {}
    if ll_method in ("ais", "both"):
        jt.set_seed(dist.rank_seed(zs.utils.derive_seed(args.seed, "ais")))
        ais = ais_metrics(generator, variational, x_test_bin, ll, lbs, args)
    if test_ll is None:
        test_ll = ais["test_ll_ais"]

    metrics = summary()
    metrics.update(test_ll=test_ll, is_k=args.is_k, is_n=is_n, complete=True)
    if args.log_losses:
        metrics["first_losses"] = state["losses"]
    metrics.update(ais)
    stream.write(metrics)
    say(f"wrote {args.out_dir}/metrics.json and pictures")
    return metrics


if __name__ == "__main__":
    main()
