"""A Bayesian neural network for regression, fitted by variational inference.

Model: one hidden layer of 50 ReLU units, N(0, 1) priors on every weight and
bias (each layer scaled by 1/sqrt(fan_in)), and y ~ N(f(x; W), sigma^2) with
the noise log-scale log(sigma) learned by maximising the ELBO. Approximate
posterior: a mean-field Normal q(W). Data: scikit-learn's diabetes set
(442 x 10), split 90/10 with a fixed seed and standardised with the training
statistics.

The nets draw k particles themselves, as upstream ZhuSuan's BNN tutorial
does: the weight nodes of q and p have ``n_samples=k`` and average their
log-densities over that axis (``reduce_mean_dims=[0]``); the likelihood's
mean has shape [k, batch] and its node averages over both axes and multiplies
by the training-set size, an unbiased estimate of the full-data
log-likelihood. (The objective's own particles, ``ELBO(p, q, n_samples=k)``
with nets written for one draw, would be the tidier choice, but the
framework does not yet see that a likelihood parameter of rank 2 computed
from weights of rank 3 carries the particle axis.)

Every epoch reports the test RMSE (original units) and the test
log-likelihood per point of the posterior predictive, a log-mean-exp over
``--eval-samples`` draws from q, next to an ordinary least-squares baseline
fitted on the same split. Writes into ``--out-dir``: ``metrics.json``,
``learning_curve.png``, ``metrics.jsonl`` (a line per epoch) and
``checkpoint.zsc`` (``--resume`` goes on from it exactly).

Run: ``python examples/bnn_vi.py`` (see ``--help``).
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


def weight_shapes(x_dim):
    return {"w1": [HIDDEN, x_dim + 1], "w2": [1, HIDDEN + 1]}


class Model(zs.BayesianNet):
    """p(W) p(y | x, W): N(0, 1) weights, Normal noise with a learned scale;
    ``n_particles`` draws of W at a time."""

    def __init__(self, x_dim, n_train, n_particles):
        super().__init__()
        self.shapes = weight_shapes(x_dim)
        self.n_train = n_train
        self.n_particles = n_particles
        self.y_logstd = jt.zeros([1])  # a parameter: learned with q

    def execute(self, observed):
        self.observe(observed)
        w = {name: self.sn("Normal", name=name, mean=jt.zeros(shape), std=1.0,
                           group_ndims=2, n_samples=self.n_particles,
                           reduce_mean_dims=[0])
             for name, shape in self.shapes.items()}
        y_mean = mlp(self.observed["x"], w["w1"], w["w2"])  # [particles, batch]
        self.cache["y_mean"] = y_mean
        self.sn("Normal", name="y", mean=y_mean, logstd=self.y_logstd,
                reduce_mean_dims=[0, 1], multiplier=self.n_train)
        return self


class MeanFieldNormal(zs.BayesianNet):
    """q(W): independent Normals, ``n_particles`` draws at a time."""

    def __init__(self, x_dim, n_particles, init_logstd=-5.0):
        super().__init__()
        self.shapes = weight_shapes(x_dim)
        self.n_particles = n_particles
        # Plain attributes: parameters of the module.
        for name, shape in self.shapes.items():
            setattr(self, f"{name}_mean", jt.randn(shape))
            setattr(self, f"{name}_logstd", jt.full(shape, init_logstd))

    def execute(self, observed):
        self.observe(observed)
        for name in self.shapes:
            self.sn("Normal", name=name, mean=getattr(self, f"{name}_mean"),
                    logstd=getattr(self, f"{name}_logstd"), group_ndims=2,
                    reparameterize=True, n_samples=self.n_particles,
                    reduce_mean_dims=[0])
        return self


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate")
    p.add_argument("--n-particles", type=int, default=8,
                   help="particles of q per step for the ELBO")
    p.add_argument("--eval-samples", type=int, default=200,
                   help="draws from q for the test predictive")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the fixed train/test split")
    p.add_argument("--out-dir", default="results/bnn_vi")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out-dir>/checkpoint.zsc")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop each epoch after this many steps (for smoke tests)")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "n_particles", "eval_samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return check_training_args(p, args)


def evaluate(model, q, data, n_samples):
    """Posterior-predictive test metrics from ``n_samples`` draws of q."""
    with jt.no_grad():
        saved, q.n_particles = q.n_particles, n_samples
        try:
            draws = q({})
        finally:
            q.n_particles = saved
        w1, w2 = draws.nodes["w1"].tensor, draws.nodes["w2"].tensor
        y_mean = mlp(jt.array(data["x_test"]), w1, w2).numpy()
    return predictive_metrics(y_mean, model.y_logstd.numpy(), data)


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/bnn_vi.py")
    os.makedirs(args.out_dir, exist_ok=True)
    data = load_diabetes_split(split_seed=args.split_seed)
    baseline = ols_baseline(data)
    x_train, y_train = data["x_train"], data["y_train"]
    n_train, x_dim = x_train.shape
    jt.set_global_seed(args.seed)

    model = Model(x_dim, n_train, args.n_particles)
    q = MeanFieldNormal(x_dim, args.n_particles)
    elbo = zs.variational.ELBO(model, q)
    optimizer = jt.optim.Adam(elbo.parameters(), args.lr)

    state = {"epoch": 0, "train_elbo": [], "test_rmse": [], "test_ll": [],
             "noise_std": [], "train_seconds": 0.0, "steps": 0, "records": []}
    options = {"batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
               "split_seed": args.split_seed, "n_particles": args.n_particles}
    objects = {"model": model, "q": q, "optimizer": optimizer}
    ckpt_options = dict(options, max_steps=args.max_steps)
    if args.resume:
        state = resume_checkpoint(args.out_dir, objects, ckpt_options)
        print(f"resumed from {args.out_dir} after epoch {state['epoch']}")
    else:
        save_checkpoint(args.out_dir, objects, state, ckpt_options)
    stream = MetricsStream(args.out_dir, state["records"])
    print(f"diabetes: {n_train} train, {len(data['x_test'])} test points; "
          f"OLS baseline: test RMSE {baseline['rmse']:.2f}, "
          f"test log-likelihood {baseline['ll']:.3f}")

    n_batches = n_train // args.batch_size
    if args.max_steps is not None:
        n_batches = min(n_batches, args.max_steps)
    bar = tqdm(range(state["epoch"], args.epochs), desc="bnn_vi", unit="epoch",
               mininterval=BAR_INTERVAL, initial=state["epoch"], total=args.epochs)
    for epoch in bar:
        # Every draw of an epoch is seeded from (seed, epoch): a run resumed
        # from the last finished epoch draws what the uninterrupted one drew.
        jt.set_seed(zs.utils.derive_seed(args.seed, "epoch", epoch))
        rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", epoch))
        perm = rng.permutation(n_train)
        t0 = time.perf_counter()
        total = 0.0
        for step in range(n_batches):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            loss = elbo({"x": jt.array(x_train[idx]), "y": jt.array(y_train[idx])})
            optimizer.step(loss)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at epoch {epoch + 1}")
            total -= value
            maybe_kill(state["steps"] + step + 1)
        state["train_seconds"] += time.perf_counter() - t0
        state["steps"] += n_batches
        metrics = evaluate(model, q, data, args.eval_samples)
        state["train_elbo"].append(total / n_batches / n_train)  # per data point
        state["test_rmse"].append(metrics["rmse"])
        state["test_ll"].append(metrics["ll"])
        noise_std = float(np.exp(model.y_logstd.numpy()[0])) * data["y_std"]
        state["noise_std"].append(noise_std)
        state["epoch"] = epoch + 1
        bar.set_postfix(rmse=f"{metrics['rmse']:.2f}", ll=f"{metrics['ll']:.3f}",
                        refresh=False)
        if (epoch + 1) % 25 == 0 or epoch + 1 == args.epochs:
            tqdm.write(f"epoch {epoch + 1}/{args.epochs}: ELBO/N "
                       f"{state['train_elbo'][-1]:.3f}, test RMSE "
                       f"{metrics['rmse']:.2f} (OLS {baseline['rmse']:.2f}), test LL "
                       f"{metrics['ll']:.3f} "
                       f"(OLS {baseline['ll']:.3f})")
        record = {"epoch": epoch + 1, "step": state["steps"],
                  "train_elbo_per_point": state["train_elbo"][-1],
                  "test_rmse": metrics["rmse"], "test_ll": metrics["ll"],
                  "noise_std": noise_std}
        state["records"].append(record)
        save_checkpoint(args.out_dir, objects, state, ckpt_options)
        stream.append(record)
        stream.write(dict(dataset="diabetes", epochs=state["epoch"],
                          train_elbo_per_point=state["train_elbo"],
                          test_rmse=state["test_rmse"], test_ll=state["test_ll"],
                          complete=False, **options))
    bar.close()

    plot_learning_curves(state["test_rmse"], state["test_ll"], baseline,
                         os.path.join(args.out_dir, "learning_curve.png"),
                         "BNN by variational inference (mean-field Normal) on diabetes")
    metrics = {
        "dataset": "diabetes",
        "method": "mean-field VI (ELBO, SGVB)",
        "n_train": int(n_train),
        "n_test": int(len(data["x_test"])),
        "epochs": state["epoch"],
        "train_elbo_per_point": state["train_elbo"],
        "test_rmse": state["test_rmse"],
        "test_ll": state["test_ll"],
        "noise_std": state["noise_std"],
        "final_test_rmse": state["test_rmse"][-1],
        "final_test_ll": state["test_ll"][-1],
        "ols_test_rmse": baseline["rmse"],
        "ols_test_ll": baseline["ll"],
        "train_seconds": state["train_seconds"],
        "steps_per_second": state["steps"] / max(state["train_seconds"], 1e-9),
        "eval_samples": args.eval_samples,
        "backend": zs.kernels.get_backend(),
        "complete": True,
        **options,
    }
    stream.write(metrics)
    print(f"final: test RMSE {metrics['final_test_rmse']:.2f} (OLS "
          f"{baseline['rmse']:.2f}), test LL {metrics['final_test_ll']:.3f} (OLS "
          f"{baseline['ll']:.3f}); wrote {args.out_dir}/metrics.json and "
          "learning_curve.png")
    return metrics


if __name__ == "__main__":
    main()
