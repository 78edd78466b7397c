"""A Bayesian neural network for regression, sampled by stochastic-gradient MCMC.

Model: one hidden layer of 50 ReLU units, N(0, 1) priors on every weight and
bias (each layer scaled by 1/sqrt(fan_in)), y ~ N(f(x; W), sigma^2), and the
noise log-scale log(sigma) is a latent too, with a N(0, 0.5^2) prior (sigma
in units of the standardised target, whose sd is 1; the prior also keeps the
chains' first draws from starting with a tiny sigma, whose huge gradients
throw them far out). Data: scikit-learn's diabetes set
(442 x 10), split 90/10 with a fixed seed and standardised with the training
statistics.

``--chains`` chains run at once along a leading axis of every latent; each
update sees a minibatch whose likelihood is scaled by N / batch size (the
node's ``multiplier``), so the log joint is an unbiased estimate of the
full-data one. After ``--burn-in`` epochs, every ``--thin``-th state of every
chain is kept; the posterior predictive of a test point is the mixture of
the kept samples' Normal predictives, its log a log-mean-exp over them.
Every epoch reports the test RMSE (original units) and test log-likelihood
per point (before the burn-in ends, from the chains' current states), next
to an ordinary least-squares baseline on the same split.

Writes into ``--out-dir``: ``metrics.json``, ``learning_curve.png``,
``metrics.jsonl`` (a line per epoch) and ``checkpoint.zsc`` (the chain
state, i.e. the sampler's ``state_dict``, and the kept predictions;
``--resume`` goes on from it exactly).

Run: ``python examples/bnn_sgmcmc.py --sampler sghmc`` (see ``--help``).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# isort: off
import zhusuan as zs  # noqa: E402  (sets up Jittor before it is imported)
import jittor as jt  # noqa: E402

# isort: on
from bnn_common import (  # noqa: E402
    HIDDEN,
    load_diabetes_split,
    mlp,
    ols_baseline,
    plot_learning_curves,
    predictive_metrics,
)
from common import (  # noqa: E402
    MetricsStream,
    check_training_args,
    maybe_kill,
    resume_checkpoint,
    save_checkpoint,
    single_process_only,
)
from tqdm import tqdm  # noqa: E402

BAR_INTERVAL = 0.2 if sys.stderr.isatty() else 30.0

# Learning rates that mix well on this model with the default batch size
# (SGHMC and SGNHT take lr = step^2, see their docstrings).
DEFAULT_LR = {"sgld": 5e-4, "psgld": 3e-3, "sghmc": 1e-4, "sgnht": 1e-4}


def make_sampler(name, lr):
    if name == "sgld":
        return zs.mcmc.SGLD(lr)
    if name == "psgld":
        return zs.mcmc.PSGLD(lr)
    if name == "sghmc":
        return zs.mcmc.SGHMC(lr)  # friction 0.25, redraw the momentum every 20
    if name == "sgnht":
        # A little injected noise keeps the thermostat ergodic when the
        # minibatch noise is small.
        return zs.mcmc.SGNHT(lr, variance_extra=0.01)
    raise ValueError(f"unknown sampler {name!r}")


class Model(zs.BayesianNet):
    """``n_chains`` copies of p(W, log sigma) p(y | x, W, sigma)."""

    def __init__(self, x_dim, n_train, n_chains, batch_size):
        super().__init__()
        self.x_dim = x_dim
        self.n_chains = n_chains
        self.multiplier = n_train / batch_size

    def execute(self, observed):
        self.observe(observed)
        c, h, d = self.n_chains, HIDDEN, self.x_dim
        w1 = self.sn("Normal", name="w1", mean=jt.zeros([c, h, d + 1]), std=1.0,
                     group_ndims=2)
        w2 = self.sn("Normal", name="w2", mean=jt.zeros([c, 1, h + 1]), std=1.0,
                     group_ndims=2)
        y_logstd = self.sn("Normal", name="y_logstd", mean=jt.zeros([c, 1]),
                           std=0.5, group_ndims=1)
        y_mean = mlp(self.observed["x"], w1, w2)  # [chains, batch]
        # Each chain's minibatch log-likelihood, scaled to the data set: the
        # log joint has one value per chain (summed over the batch).
        self.sn("Normal", name="y", mean=y_mean, logstd=y_logstd, group_ndims=1,
                multiplier=self.multiplier)
        return self


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sampler", choices=sorted(DEFAULT_LR), default="sghmc")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--burn-in", type=int, default=100,
                   help="epochs before samples are kept")
    p.add_argument("--thin", type=int, default=12,
                   help="keep every thin-th update after the burn-in")
    p.add_argument("--chains", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: per sampler, "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the fixed train/test split")
    p.add_argument("--out-dir", default="results/bnn_sgmcmc")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out-dir>/checkpoint.zsc")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop each epoch after this many steps (for smoke tests)")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("epochs", "thin", "chains", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.burn_in < 0:
        p.error("--burn-in must be >= 0")
    if args.lr is None:
        args.lr = DEFAULT_LR[args.sampler]
    return check_training_args(p, args)


def test_predictions(latents, x_test):
    """Network outputs [chains, n_test] and noise log-scales [chains] of the
    chains' current states."""
    with jt.no_grad():
        y_mean = mlp(x_test, latents["w1"], latents["w2"]).numpy()
    return y_mean, latents["y_logstd"].numpy().reshape(-1)


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/bnn_sgmcmc.py")
    os.makedirs(args.out_dir, exist_ok=True)
    data = load_diabetes_split(split_seed=args.split_seed)
    baseline = ols_baseline(data)
    x_train, y_train = data["x_train"], data["y_train"]
    n_train, x_dim = x_train.shape
    x_test = jt.array(data["x_test"])
    jt.set_global_seed(args.seed)

    bs, c = args.batch_size, args.chains
    net = Model(x_dim, n_train, c, bs)
    sampler = make_sampler(args.sampler, args.lr)

    def minibatch(idx):
        y = np.ascontiguousarray(np.broadcast_to(y_train[idx], (c, len(idx))))
        return {"x": jt.array(x_train[idx]), "y": jt.array(y)}

    state = {"epoch": 0, "test_rmse": [], "test_ll": [], "noise_std": [],
             "kept_mean": [], "kept_logstd": [], "train_seconds": 0.0, "steps": 0,
             "records": []}
    options = {"sampler": args.sampler, "lr": args.lr, "chains": c, "batch_size": bs,
               "seed": args.seed, "split_seed": args.split_seed,
               "burn_in": args.burn_in, "thin": args.thin}
    ckpt_options = dict(options, max_steps=args.max_steps)
    if args.resume:
        state = resume_checkpoint(args.out_dir, {"sampler": sampler}, ckpt_options)
        print(f"resumed from {args.out_dir} after epoch {state['epoch']}")
    else:
        # The chains start from prior draws.
        sampler.sample(net, minibatch(np.arange(bs)), resample=True)
        save_checkpoint(args.out_dir, {"sampler": sampler}, state, ckpt_options)
    stream = MetricsStream(args.out_dir, state["records"])
    print(f"diabetes: {n_train} train, {len(data['x_test'])} test points; "
          f"{args.sampler} (lr {args.lr:g}), {c} chains; OLS baseline: test RMSE "
          f"{baseline['rmse']:.2f}, test log-likelihood {baseline['ll']:.3f}")

    n_batches = n_train // bs
    if args.max_steps is not None:
        n_batches = min(n_batches, args.max_steps)
    bar = tqdm(range(state["epoch"], args.epochs), desc=f"bnn_sgmcmc ({args.sampler})",
               unit="epoch", mininterval=BAR_INTERVAL, initial=state["epoch"],
               total=args.epochs)
    for epoch in bar:
        # Every draw of an epoch is seeded from (seed, epoch): a run resumed
        # from the last finished epoch draws what the uninterrupted one drew.
        jt.set_seed(zs.utils.derive_seed(args.seed, "epoch", epoch))
        rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", epoch))
        perm = rng.permutation(n_train)
        t0 = time.perf_counter()
        for step in range(n_batches):
            latents = sampler.sample(net, minibatch(perm[step * bs:(step + 1) * bs]))
            if epoch >= args.burn_in and sampler.t % args.thin == 0:
                y_mean, logstd = test_predictions(latents, x_test)
                state["kept_mean"].append(y_mean)
                state["kept_logstd"].append(logstd)
            maybe_kill(state["steps"] + step + 1)
        state["train_seconds"] += time.perf_counter() - t0
        state["steps"] += n_batches
        if state["kept_mean"]:
            y_mean = np.concatenate(state["kept_mean"])  # [kept * chains, n_test]
            logstd = np.concatenate(state["kept_logstd"])
        else:  # still burning in: the chains' current states
            y_mean, logstd = test_predictions(sampler.latents, x_test)
        metrics = predictive_metrics(y_mean, logstd, data)
        state["test_rmse"].append(metrics["rmse"])
        state["test_ll"].append(metrics["ll"])
        state["noise_std"].append(float(np.exp(logstd).mean()) * data["y_std"])
        state["epoch"] = epoch + 1
        bar.set_postfix(rmse=f"{metrics['rmse']:.2f}", ll=f"{metrics['ll']:.3f}",
                        kept=len(state["kept_mean"]) * c, refresh=False)
        if (epoch + 1) % 25 == 0 or epoch + 1 == args.epochs:
            tqdm.write(f"epoch {epoch + 1}/{args.epochs}: test RMSE "
                       f"{metrics['rmse']:.2f} (OLS {baseline['rmse']:.2f}), test LL "
                       f"{metrics['ll']:.3f} "
                       f"(OLS {baseline['ll']:.3f}), noise sd "
                       f"{state['noise_std'][-1]:.1f}, {len(state['kept_mean']) * c} "
                       "samples kept")
        if not math.isfinite(metrics["ll"]):
            raise FloatingPointError(f"test log-likelihood is {metrics['ll']} at epoch "
                                     f"{epoch + 1}; lower --lr")
        record = {"epoch": epoch + 1, "step": state["steps"],
                  "test_rmse": metrics["rmse"], "test_ll": metrics["ll"],
                  "noise_std": state["noise_std"][-1],
                  "n_samples": len(state["kept_mean"]) * c}
        state["records"].append(record)
        save_checkpoint(args.out_dir, {"sampler": sampler}, state, ckpt_options)
        stream.append(record)
        stream.write(dict(dataset="diabetes", method=args.sampler,
                          epochs=state["epoch"], test_rmse=state["test_rmse"],
                          test_ll=state["test_ll"], complete=False, **options))
    bar.close()

    plot_learning_curves(state["test_rmse"], state["test_ll"], baseline,
                         os.path.join(args.out_dir, "learning_curve.png"),
                         f"BNN by {args.sampler.upper()} ({c} chains) on diabetes; "
                         f"samples kept after epoch {args.burn_in}")
    metrics = {
        "dataset": "diabetes",
        "method": args.sampler,
        "n_train": int(n_train),
        "n_test": int(len(data["x_test"])),
        "epochs": state["epoch"],
        "test_rmse": state["test_rmse"],
        "test_ll": state["test_ll"],
        "noise_std": state["noise_std"],
        "final_test_rmse": state["test_rmse"][-1],
        "final_test_ll": state["test_ll"][-1],
        "n_samples": len(state["kept_mean"]) * c,
        "ols_test_rmse": baseline["rmse"],
        "ols_test_ll": baseline["ll"],
        "train_seconds": state["train_seconds"],
        "steps_per_second": state["steps"] / max(state["train_seconds"], 1e-9),
        "backend": zs.kernels.get_backend(),
        "complete": True,
        **options,
    }
    stream.write(metrics)
    print(f"final ({metrics['n_samples']} samples): test RMSE "
          f"{metrics['final_test_rmse']:.2f} (OLS {baseline['rmse']:.2f}), test LL "
          f"{metrics['final_test_ll']:.3f} (OLS {baseline['ll']:.3f}); wrote "
          f"{args.out_dir}/metrics.json and learning_curve.png")
    return metrics


if __name__ == "__main__":
    main()
