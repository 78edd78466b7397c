"""The oracle of test_mpi_vae.py: examples/vae.py's first training steps as
ONE process computes them for the global batch that N MPI processes share.

Run as a program (no MPI): ``python vae_oracle.py --out F.npz --ranks 2
--steps 20 --batch-size 64 --seed 7 --optimizer zhusuan``. It rebuilds, from
the example's documented rules and nothing of zs.distributed's collectives:

* the data: epoch 0's order and binarisation from
  ``derive_seed(seed, "data", 0)``, global batch s = rows s*B .. (s+1)*B;
* the initial weights: ``jt.set_global_seed(seed)`` in one process (rank 0's),
  drawn before any other seed is set;
* the latent noise: a data-parallel run draws shard r's noise (rows r*B/N ..
  (r+1)*B/N of the batch) from ``rank_seed(derive_seed(seed, "step", s), r)``,
  which one process reproduces by calling the nets once per shard with that
  seed (and evaluating the shard at once: a random op reads the generator
  when it runs, docs/design.md);
* the loss: the global batch's negative ELBO, the mean over the shards' means
  (the nodes average the batch axis, the shards are equal);
* the update: one step of Adam on the gradient of that loss.

Writes the losses and every parameter (state_dict names) to ``--out``.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import zhusuan as zs  # noqa: E402

import jittor as jt  # noqa: E402
import numpy as np  # noqa: E402
import vae  # noqa: E402
from common import load_dataset  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--z-dim", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=["zhusuan", "jittor"], required=True)
    args = p.parse_args()
    assert not zs.distributed.in_mpi(), "the oracle runs in one plain process"
    bs, n = args.batch_size, args.ranks
    lbs = bs // n
    assert lbs * n == bs

    _, x_train, _ = load_dataset("fashion-mnist")
    num_batches = min(len(x_train) // bs, args.steps)
    rng = np.random.default_rng(zs.utils.derive_seed(args.seed, "data", 0))
    order = rng.permutation(len(x_train))[:num_batches * bs]
    x_epoch = zs.datasets.binarize(x_train[order], rng)

    jt.set_global_seed(args.seed)
    generator = vae.Generator(x_train.shape[1], args.z_dim, lbs)
    variational = vae.Variational(x_train.shape[1], args.z_dim, lbs)
    model = zs.variational.ELBO(generator, variational)
    # Draw the initial weights now: they are lazy random ops, and the step
    # seeds below would otherwise draw them (the example's first checkpoint,
    # or its broadcast under MPI, evaluates them right here).
    jt.sync(model.parameters())
    optimizer = vae.make_optimizer(args.optimizer, model.parameters(), args.lr)

    losses = []
    for step in range(num_batches):
        batch = x_epoch[step * bs:(step + 1) * bs]
        step_seed = zs.utils.derive_seed(args.seed, "step", step)
        shard_losses = []
        for r in range(n):
            jt.set_seed(zs.distributed.rank_seed(step_seed, r))
            loss_r = model({'x': jt.array(batch[r * lbs:(r + 1) * lbs])})
            loss_r.sync()  # draw shard r's noise now, under its seed
            shard_losses.append(loss_r)
        loss = shard_losses[0]
        for loss_r in shard_losses[1:]:
            loss = loss + loss_r
        loss = loss / n
        optimizer.step(loss)
        losses.append(loss.item())

    arrays = {"losses": np.array(losses)}
    for name, net in (("generator", generator), ("variational", variational)):
        for key, value in net.state_dict().items():
            arrays[f"{name}/{key}"] = np.asarray(value)
    np.savez(args.out, **arrays)


if __name__ == "__main__":
    main()
