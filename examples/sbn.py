"""Sigmoid belief network with Bernoulli latent layers, trained by VIMCO or RWS.

The model (Neal, 1992) is a stack of binary layers, each Bernoulli with logits
an affine map of the layer above::

    h2 ~ Bernoulli(logits=0)            [n, 200]
    h1 | h2 ~ Bernoulli(logits=W2 h2 + b2)   [n, 200]
    x | h1 ~ Bernoulli(logits=W1 h1 + b1)    [n, 784]

and the proposal runs the other way, q(h1 | x) q(h2 | h1), also Bernoulli with
affine logits and not reparameterisable. Gradients come from one of two
k-particle estimators that never differentiate through a sample:

* ``--estimator vimco``: the k-sample importance-weighted bound with VIMCO's
  leave-one-out control variates (Mnih & Rezende, 2016),
  ``zs.variational.ImportanceWeightedObjective(..., estimator='vimco')``;
* ``--estimator rws``: reweighted wake-sleep (Bornschein & Bengio, 2015),
  ``zs.variational.InclusiveKLObjective``: the model follows the
  importance-weighted gradient of log p(x), the proposal the wake-phase
  gradient of KL(p(h|x) || q(h|x)).

Both report the same number, the k-sample importance-weighted bound:
``test_bound`` on the (first ``--eval-n``) test images after each epoch,
``train_bound`` averaged over every ``--bound-every``-th training batch, each
scored just before the step that trains on it (the surrogate costs are not the
bound). At the end comes the importance-sampled test log-likelihood with
``--is-k`` samples. Training images are binarised
afresh every epoch, test images once with a fixed seed. Writes into
``--out-dir``:

* ``metrics.json``: dataset, epochs, estimator, k, train_bound and test_bound
  per epoch, test_ll, is_k, is_n, train_seconds, steps_per_second, backend
  (and the run's settings);
* ``test_images.png``, ``reconstructions.png`` (pixel probabilities given one
  draw of the latents from q), ``prior_samples.png`` (pixel probabilities
  given a draw from the prior);
* ``learning_curve.png``;
* ``metrics.jsonl`` (one line per epoch, appended and fsynced as it ends;
  ``metrics.json`` is also rewritten atomically after every epoch);
* ``checkpoint.zsc`` (``zs.utils`` format, written atomically before the first
  step and after every epoch; ``--resume`` goes on from it exactly as the
  interrupted run would have: every draw is seeded from ``--seed`` and the
  epoch).

:func:`run` is the training driver shared with ``vae_bernoulli_latent.py``.

Run: ``python examples/sbn.py --estimator vimco --k 5`` (see ``--help``).
"""

import argparse
import dataclasses
import math
import os
import sys
import time
from typing import Callable

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
    single_process_only,
)
from jittor import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402
from vae import BAR_INTERVAL, batches, evaluate_ll  # noqa: E402

# Test images per forward pass when evaluating (bigger than a training batch:
# no gradients are kept, so memory is not the limit).
EVAL_BATCH = 500
# Images in each picture grid.
N_SHOW = 64


# -- the model --------------------------------------------------------------------


class Generator(BayesianNet):
    """p(h2) p(h1 | h2) p(x | h1), in the tutorial's style (batch axis 0; the
    objective adds the particle axis). ``cache['x_probs']`` holds the pixel
    probabilities of the latest call."""

    def __init__(self, x_dim, h1_dim, h2_dim, batch_size):
        super().__init__()
        self.h2_dim = h2_dim
        self.batch_size = batch_size
        self.fc_h1 = nn.Linear(h2_dim, h1_dim)
        self.fc_x = nn.Linear(h1_dim, x_dim)

    def execute(self, observed):
        self.observe(observed)
        prior_logits = jt.zeros([self.batch_size, self.h2_dim])
        h2 = self.sn('Bernoulli', name='h2', logits=prior_logits,
                     reduce_mean_dims=[0], reduce_sum_dims=[1])
        h1 = self.sn('Bernoulli', name='h1', logits=self.fc_h1(h2),
                     reduce_mean_dims=[0], reduce_sum_dims=[1])
        x_logits = self.fc_x(h1)
        self.cache['x_probs'] = jt.sigmoid(x_logits)
        self.sn('Bernoulli', name='x', logits=x_logits,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class Variational(BayesianNet):
    """q(h1 | x) q(h2 | h1): Bernoulli layers with affine logits, not
    reparameterised (the estimators use score functions)."""

    def __init__(self, x_dim, h1_dim, h2_dim, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.fc_h1 = nn.Linear(x_dim, h1_dim)
        self.fc_h2 = nn.Linear(h1_dim, h2_dim)

    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        h1 = self.sn('Bernoulli', name='h1', logits=self.fc_h1(x), reparameterize=False,
                     reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn('Bernoulli', name='h2', logits=self.fc_h2(h1), reparameterize=False,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


# -- the training driver ----------------------------------------------------------


@dataclasses.dataclass
class Setup:
    """What :func:`run` trains.

    ``cost(x)`` returns the surrogate cost of one batch (what the optimizer
    minimises); ``objective.bound({'x': x})`` the reported bound, one value
    per image. ``modules`` are checkpointed by name; ``param_groups`` go to
    Adam; ``objective_state`` names plain attributes of the objective (e.g.
    moving averages) that the checkpoint carries; ``info`` is added to
    ``metrics.json``.
    """

    title: str
    generator: BayesianNet
    variational: BayesianNet
    objective: jt.Module
    cost: Callable
    modules: dict
    param_groups: list
    info: dict
    objective_state: tuple = ()


def build_parser(description, out_dir):
    """The command line shared by the discrete-latent examples."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=["auto", "mnist", "fashion-mnist"],
                   default="auto")
    p.add_argument("--data-dir", default=None, help="where the IDX files are")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out-dir", default=out_dir)
    p.add_argument("--is-k", type=int, default=1000,
                   help="importance samples per test image for the log-likelihood")
    p.add_argument("--is-n", type=int, default=None,
                   help="test images for the log-likelihood (default: all)")
    p.add_argument("--eval-n", type=int, default=None,
                   help="test images for the per-epoch test bound (default: all)")
    p.add_argument("--backend", choices=["auto", *zs.kernels.BACKENDS], default="auto",
                   help="kernel backend (auto: the fastest available)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out-dir>/checkpoint.zsc (the last finished "
                        "epoch), exactly as the interrupted run would have gone on")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop each epoch after this many steps (for smoke tests)")
    p.add_argument("--bound-every", type=int, default=5,
                   help="score every N-th training batch for the train bound (an "
                        "extra forward pass without gradients)")
    return p


def check_args(p, args, positive=()):
    for name in ("epochs", "batch_size", "is_k", "bound_every", *positive):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("is_n", "eval_n"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return check_training_args(p, args)


def set_batch_size(setup, n):
    setup.generator.batch_size = setup.variational.batch_size = n


def evaluate_bound(setup, x, batch_size):
    """Mean of ``objective.bound`` over the images ``x``."""
    total = 0.0
    with jt.no_grad():
        for xb in batches(x, batch_size):
            set_batch_size(setup, len(xb))
            total += float(setup.objective.bound({'x': jt.array(xb)}).sum().item())
    return total / len(x)


def check_finite(value, what, epoch, step, global_step):
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the {what} is {value} at epoch {epoch}, step {step} (global step "
            f"{global_step}); lower --lr or check the model")


def run(args, build):
    """Train, evaluate and write every output.

    ``build(args, x_dim)`` returns a :class:`Setup` (nets made with
    ``batch_size=args.batch_size``). Returns the metrics dict also written to
    ``<out-dir>/metrics.json``.
    """
    single_process_only(os.path.basename(sys.argv[0]) or "this example")
    if args.backend != "auto":
        zs.kernels.set_backend(args.backend)
    backend = zs.kernels.get_backend()
    os.makedirs(args.out_dir, exist_ok=True)

    dataset, x_train, x_test = load_dataset(args.dataset, args.data_dir)
    x_test_bin = zs.datasets.binarize_fixed(x_test, seed=args.seed)
    eval_n = len(x_test) if args.eval_n is None else min(args.eval_n, len(x_test))
    is_n = len(x_test) if args.is_n is None else min(args.is_n, len(x_test))
    jt.set_global_seed(args.seed)  # the initial weights

    bs = args.batch_size
    setup = build(args, x_train.shape[1])
    optimizer = jt.optim.Adam(setup.param_groups, args.lr)

    state = {"epoch": 0, "train_bound": [], "test_bound": [], "train_seconds": 0.0,
             "steps": 0, "records": [], "objective_state": {}}
    # What a resumed run must share with the run that wrote the checkpoint.
    options = dict(setup.info, title=setup.title, dataset=dataset, batch_size=bs,
                   lr=args.lr, seed=args.seed, max_steps=args.max_steps)
    objects = dict(setup.modules, optimizer=optimizer)
    if args.resume:
        state = resume_checkpoint(args.out_dir, objects, options)
        for name, value in state["objective_state"].items():
            if isinstance(value, np.ndarray):
                value = jt.array(value)
            setattr(setup.objective, name, value)
        print(f"resumed from {args.out_dir} after epoch {state['epoch']}")
    else:
        save_checkpoint(args.out_dir, objects, state, options)
    stream = MetricsStream(args.out_dir, state["records"])
    print(f"{setup.title}; backend: {backend}; {dataset}: {len(x_train)} train, "
          f"{len(x_test)} test images")

    num_batches = len(x_train) // bs  # drop the last partial batch
    if args.max_steps is not None:
        num_batches = min(num_batches, args.max_steps)
    for epoch in range(state["epoch"], args.epochs):
        # Every draw of an epoch is seeded from (seed, epoch), so a run resumed
        # from the last finished epoch draws what the uninterrupted one drew.
        jt.set_seed(zs.utils.derive_seed(args.seed, "epoch", epoch))
        rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", epoch))
        order = rng.permutation(len(x_train))[:num_batches * bs]
        x_epoch = zs.datasets.binarize(x_train[order], rng)  # only what is used
        set_batch_size(setup, bs)
        bar = tqdm(range(num_batches), desc=f"epoch {epoch + 1}/{args.epochs}",
                   unit="step", leave=False, mininterval=BAR_INTERVAL)
        t0 = time.perf_counter()
        run_loss = run_bound = bound_sum = 0.0
        bound_count = 0
        for step in bar:
            x = jt.array(x_epoch[step * bs:(step + 1) * bs])
            global_step = state["steps"] + step
            if step % args.bound_every == 0:
                # The surrogate costs are not the bound: score every
                # bound_every-th batch once more, without gradients, before
                # the step trains on it.
                with jt.no_grad():
                    bound = float(setup.objective.bound({'x': x}).mean().item())
                check_finite(bound, "training bound", epoch + 1, step, global_step)
                bound_sum, bound_count = bound_sum + bound, bound_count + 1
                run_bound += (1.0 if step == 0 else 0.1) * (bound - run_bound)
            loss = setup.cost(x)
            optimizer.step(loss)
            value = loss.item()
            check_finite(value, "training loss", epoch + 1, step, global_step)
            maybe_kill(global_step + 1)
            run_loss += (1.0 if step == 0 else 0.02) * (value - run_loss)
            if step % 20 == 0:
                # refresh=False: redraw at tqdm's own pace (mininterval).
                bar.set_postfix(loss=f"{run_loss:.2f}", bound=f"{run_bound:.2f}",
                                refresh=False)
        seconds = time.perf_counter() - t0
        bar.close()
        state["train_seconds"] += seconds
        state["steps"] += num_batches
        test_bound = evaluate_bound(setup, x_test_bin[:eval_n], EVAL_BATCH)
        check_finite(test_bound, "test bound", epoch + 1, num_batches, state["steps"])
        state["train_bound"].append(bound_sum / bound_count)
        state["test_bound"].append(test_bound)
        state["epoch"] = epoch + 1
        print(f"epoch {epoch + 1}/{args.epochs}: train bound "
              f"{state['train_bound'][-1]:.2f}, test bound {test_bound:.2f} "
              f"({num_batches / seconds:.2f} steps/s)")
        state["objective_state"] = {n: getattr(setup.objective, n)
                                    for n in setup.objective_state}
        record = {"epoch": epoch + 1, "step": state["steps"],
                  "train_bound": state["train_bound"][-1], "test_bound": test_bound,
                  "seconds": seconds}
        state["records"].append(record)
        save_checkpoint(args.out_dir, objects, state, options)
        stream.append(record)
        stream.write(dict(dataset=dataset, epochs=state["epoch"], **setup.info,
                          train_bound=state["train_bound"],
                          test_bound=state["test_bound"], complete=False))

    jt.set_seed(zs.utils.derive_seed(args.seed, "pictures"))
    save_pictures(setup, x_test, x_test_bin, args.out_dir)
    plot_curves({"train bound": state["train_bound"],
                 "test bound": state["test_bound"]},
                os.path.join(args.out_dir, "learning_curve.png"), ylabel="bound (nats)",
                title=f"{setup.title}\non {dataset} ({backend} backend)")

    jt.set_seed(zs.utils.derive_seed(args.seed, "test_ll"))
    ll = evaluate_ll(setup.generator, setup.variational, x_test_bin[:is_n], EVAL_BATCH,
                     args.is_k)
    set_batch_size(setup, bs)
    test_ll = float(ll.mean())
    check_finite(test_ll, "test log-likelihood", state["epoch"], 0, state["steps"])
    print(f"test log-likelihood (k={args.is_k}, {is_n} images): {test_ll:.2f} nats")

    metrics = {
        "dataset": dataset,
        "epochs": state["epoch"],
        **setup.info,
        "train_bound": state["train_bound"],
        "test_bound": state["test_bound"],
        "test_ll": test_ll,
        "is_k": args.is_k,
        "is_n": is_n,
        "eval_n": eval_n,
        "train_seconds": state["train_seconds"],
        "steps_per_second": state["steps"] / max(state["train_seconds"], 1e-9),
        "backend": backend,
        "batch_size": bs,
        "lr": args.lr,
        "seed": args.seed,
        "complete": True,
    }
    stream.write(metrics)
    print(f"wrote {args.out_dir}/metrics.json and pictures")
    return metrics


def save_pictures(setup, x_test, x_test_bin, out_dir):
    """Test images, their reconstructions and prior samples (pixel
    probabilities) as PNG grids."""
    with jt.no_grad():
        set_batch_size(setup, N_SHOW)
        xb = jt.array(x_test_bin[:N_SHOW])
        q = setup.variational({'x': xb})
        latent = {name: s.tensor for name, s in q.nodes.items() if not s.is_observed}
        recon = setup.generator(dict(latent, x=xb)).cache['x_probs'].numpy()
        prior = setup.generator({}).cache['x_probs'].numpy()
    save_image_grid(x_test[:N_SHOW], os.path.join(out_dir, "test_images.png"))
    save_image_grid(recon, os.path.join(out_dir, "reconstructions.png"))
    save_image_grid(prior, os.path.join(out_dir, "prior_samples.png"))


# -- this program -------------------------------------------------------------------


def build_sbn(args, x_dim):
    bs = args.batch_size
    generator = Generator(x_dim, args.h1_dim, args.h2_dim, bs)
    variational = Variational(x_dim, args.h1_dim, args.h2_dim, bs)
    if args.estimator == "vimco":
        objective = zs.variational.ImportanceWeightedObjective(
            generator, variational, n_samples=args.k, estimator="vimco")
    else:
        objective = zs.variational.InclusiveKLObjective(generator, variational,
                                                        n_samples=args.k)
    return Setup(
        title=f"SBN {x_dim}-{args.h1_dim}-{args.h2_dim}, {args.estimator.upper()} "
              f"(k={args.k})",
        generator=generator,
        variational=variational,
        objective=objective,
        cost=lambda x: objective({'x': x}),
        modules={"generator": generator, "variational": variational},
        param_groups=objective.parameters(),
        info={"estimator": args.estimator, "k": args.k, "bound": f"iw_k{args.k}",
              "h1_dim": args.h1_dim, "h2_dim": args.h2_dim},
    )


def parse_args(argv=None):
    p = build_parser(__doc__.split("\n\n")[0], "results/sbn")
    p.add_argument("--estimator", choices=["vimco", "rws"], default="vimco")
    p.add_argument("--k", type=int, default=5, help="particles per image")
    p.add_argument("--h1-dim", type=int, default=200)
    p.add_argument("--h2-dim", type=int, default=200)
    args = check_args(p, p.parse_args(argv), positive=("k", "h1_dim", "h2_dim"))
    if args.estimator == "vimco" and args.k < 2:
        p.error("--estimator vimco needs --k >= 2 (leave-one-out baselines)")
    return args


def main(argv=None):
    return run(parse_args(argv), build_sbn)


if __name__ == "__main__":
    main()
