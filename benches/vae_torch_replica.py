"""The tutorial's VAE in plain PyTorch, trained exactly as ``examples/vae.py``.

A cross-check of the quality figures of ``make demo``, not part of the
library: same data pipeline (zhusuan's Fashion-MNIST loader, the same NumPy
generator for the per-epoch shuffle and dynamic binarisation, the same fixed
binarisation of the test set), same model (784-500-500-40, ReLU, Bernoulli
pixels from logits, Normal latents with ``std = exp(.)``), same optimiser
(Adam, lr 1e-3), same batch size, the last partial batch dropped; test ELBO
with one sample per image and the importance-sampled log-likelihood with k
samples per image, combined by a float64 log-sum-exp. PyTorch's ``nn.Linear``
draws its initial weights from the same distribution as Jittor's (uniform,
bound 1/sqrt(fan_in)); the random streams differ.

Run (PyTorch comes with ``make bench-deps``)::

    .venv/bin/python benches/vae_torch_replica.py --seed 1 --out /tmp/replica.json

and compare with ``examples/vae.py --seed 1``'s ``metrics.json`` (its
``test_ll.npy`` holds the per-image values, for subsets).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from zhusuan.datasets import binarize, binarize_fixed, load_fashion_mnist  # noqa: E402

X_DIM, HIDDEN = 784, 500
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def build(torch, z_dim):
    nn = torch.nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(X_DIM, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
            self.mean, self.logstd = nn.Linear(HIDDEN, z_dim), nn.Linear(HIDDEN, z_dim)
            self.dec = nn.Sequential(nn.Linear(z_dim, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, X_DIM))

        def log_weights(self, x, k=None):
            """log p(x, z) - log q(z | x) for z ~ q: [B] (or [k, B])."""
            h = self.enc(x)
            mean, logstd = self.mean(h), self.logstd(h)
            shape = mean.shape if k is None else (k, *mean.shape)
            eps = torch.randn(shape, dtype=mean.dtype)
            z = mean + torch.exp(logstd) * eps
            log_q = (-0.5 * eps * eps - logstd - HALF_LOG_2PI).sum(-1)
            log_pz = (-0.5 * z * z - HALF_LOG_2PI).sum(-1)
            logits = self.dec(z)
            log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none").sum(-1)
            return log_px + log_pz - log_q

    return VAE()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--z-dim", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--is-k", type=int, default=1000)
    p.add_argument("--is-n", type=int, default=None, help="test images (default: all)")
    p.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = p.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    (x_train, _), (x_test, _) = load_fashion_mnist()
    x_test_bin = binarize_fixed(x_test, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    model = build(torch, args.z_dim)
    opt = torch.optim.Adam(model.parameters(), args.lr)
    bs = args.batch_size
    steps = len(x_train) // bs
    out = {"seed": args.seed, "train_elbo": [], "test_elbo": []}
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        x_epoch = binarize(x_train[rng.permutation(len(x_train))], rng)
        total = 0.0
        for i in range(steps):
            loss = -model.log_weights(torch.from_numpy(x_epoch[i * bs:(i + 1) * bs])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        with torch.no_grad():
            test = np.concatenate([model.log_weights(torch.from_numpy(x_test_bin[i:i + 500]))
                                   .numpy() for i in range(0, len(x_test_bin), 500)])
        out["train_elbo"].append(-total / steps)
        out["test_elbo"].append(float(test.mean()))
        print(f"epoch {epoch + 1}/{args.epochs}: train ELBO {-total / steps:.2f}, "
              f"test ELBO {test.mean():.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    n = len(x_test_bin) if args.is_n is None else min(args.is_n, len(x_test_bin))
    chunk = 100
    ll = []
    with torch.no_grad():
        for i in range(0, n, 50):
            x = torch.from_numpy(x_test_bin[i:min(i + 50, n)])
            parts = []
            for done in range(0, args.is_k, chunk):
                parts.append(model.log_weights(x, min(chunk, args.is_k - done)).double())
            log_w = torch.cat(parts, 0)
            ll.append((torch.logsumexp(log_w, 0) - math.log(args.is_k)).numpy())
    ll = np.concatenate(ll)
    out.update(test_ll=float(ll.mean()), test_ll_first_1000=float(ll[:1000].mean()),
               is_k=args.is_k, is_n=n)
    print(f"test log-likelihood (k={args.is_k}, {n} images): {ll.mean():.2f} nats "
          f"(first 1000: {ll[:1000].mean():.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
