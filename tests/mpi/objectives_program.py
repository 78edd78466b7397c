"""The objectives of one global batch of 16 images, computed data-parallel
(``mpirun -np N python objectives_program.py OUT --mode mpi``) or by one
plain process (``python objectives_program.py OUT --mode oracle --ranks N``);
test_objectives_mpi.py compares the two. Writes an ``.npz`` (rank 0).

Part A, the tutorial's VAE (Normal latents: every value depends on the
latent noise). A data-parallel rank draws its shard's noise from
``rank_seed(seed, rank)``; the oracle calls the nets once per shard with
the same seeds (the only way one process can draw the same numbers) and
combines the shards as the definitions say: the SGVB cost and the IWAE cost
are means over the batch, so the global value is the mean of the shards'
means; the per-image bound and IS log-likelihood are concatenated.

Part B, a VAE whose q(z | x) has saturated Bernoulli logits (+-40), so its
latent sample is a function of x and every value is deterministic: here the
oracle is ONE call of each objective on the whole global batch, nothing
emulated. Two versions of the nets: reducing the batch axis by a mean
(reduce_mean_dims=[0], the tutorial's), and by a sum with a multiplier
N_DATA / batch (minibatch scaling, as in a Bayesian neural net), where each
rank scales its local sum by N_DATA / local batch and the mean over ranks
is the global objective. For the latter the gradient of the cost is
compared too (what the optimisers all-reduce).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import zhusuan as zs  # noqa: E402
from zhusuan import BayesianNet  # noqa: E402

import jittor as jt  # noqa: E402
import numpy as np  # noqa: E402
import vae  # noqa: E402
from common import load_dataset  # noqa: E402
from jittor import nn  # noqa: E402

dist = zs.distributed
BATCH, SEED, N_DATA, Z_B = 16, 11, 6000, 6


class BernoulliGenerator(BayesianNet):
    """p(z) p(x | z) with Bernoulli z (prior logits 0) and Bernoulli x."""

    def __init__(self, x_dim, batch_size, multiplier=None):
        super().__init__()
        self.batch_size, self.multiplier = batch_size, multiplier
        self.fc1 = nn.Linear(Z_B, 32)
        self.fc2 = nn.Linear(32, x_dim)

    def execute(self, observed):
        self.observe(observed)
        kw = _reductions(self.multiplier)
        z = self.sn('Bernoulli', name='z', logits=jt.zeros([self.batch_size, Z_B]), **kw)
        x_logits = self.fc2(nn.relu(self.fc1(z.float32())))
        self.sn('Bernoulli', name='x', logits=x_logits, **kw)
        return self


class SaturatedVariational(BayesianNet):
    """q(z | x): Bernoulli with logits +-40, so z = [h(x) > 0] on every draw."""

    def __init__(self, x_dim, multiplier=None):
        super().__init__()
        self.multiplier = multiplier
        self.fc = nn.Linear(x_dim, Z_B)

    def execute(self, observed):
        self.observe(observed)
        h = self.fc(self.observed['x'])
        logits = (h > 0).float32() * 80.0 - 40.0
        self.sn('Bernoulli', name='z', logits=logits, **_reductions(self.multiplier))
        return self


def _reductions(multiplier):
    if multiplier is None:
        return dict(reduce_mean_dims=[0], reduce_sum_dims=[1])
    return dict(reduce_sum_dims=[0, 1], multiplier=multiplier)


def data():
    _, _, x_test = load_dataset("fashion-mnist")
    return zs.datasets.binarize_fixed(x_test[:BATCH], seed=SEED)


def build_a(x_dim, batch_size):
    jt.set_global_seed(SEED, different_seed_for_mpi=False)
    g = vae.Generator(x_dim, 40, batch_size)
    v = vae.Variational(x_dim, 40, batch_size)
    jt.sync([*g.parameters(), *v.parameters()])  # draw the weights now
    return g, v


def build_b(x_dim, batch_size, multiplier):
    jt.set_global_seed(SEED + 1, different_seed_for_mpi=False)
    g = BernoulliGenerator(x_dim, batch_size, multiplier)
    v = SaturatedVariational(x_dim, multiplier)
    jt.sync([*g.parameters(), *v.parameters()])
    return g, v


def part_a(x, g, v, key):
    """Part A's quantities for the images x (one shard, or the batch)."""
    elbo = zs.variational.ELBO(g, v)
    iwae = zs.variational.ImportanceWeightedObjective(g, v, n_samples=5, estimator="sgvb")
    seed = zs.utils.derive_seed(SEED, "A")
    out = {}
    with jt.no_grad():
        for name, fn in (
                ("A_cost", lambda: elbo({'x': jt.array(x)})),
                ("A_bound", lambda: elbo.bound({'x': jt.array(x)})),
                ("A_iwae", lambda: iwae({'x': jt.array(x)})),
                ("A_ll", lambda: zs.evaluation.is_loglikelihood(
                    g, v, {'x': jt.array(x)}, n_samples=10))):
            jt.set_seed(key(zs.utils.derive_seed(seed, name)))
            value = fn()
            out[name] = value.numpy() if isinstance(value, jt.Var) else np.asarray(value)
    return out


def part_b(x, nets_mean, nets_sum):
    """Part B's quantities: deterministic, so no seeds."""
    g, v = nets_mean
    elbo = zs.variational.ELBO(g, v)
    out = {}
    with jt.no_grad():
        bound = elbo.bound({'x': jt.array(x)})
        out["B_bound"] = bound.numpy()
        out["B_elbo"] = bound.mean().numpy()
        out["B_ll"] = np.asarray(zs.evaluation.is_loglikelihood(
            g, v, {'x': jt.array(x)}, n_samples=4))
    g, v = nets_sum
    cost = zs.variational.ELBO(g, v, estimator="reinforce", variance_reduction=False)
    loss = cost({'x': jt.array(x)})
    out["B_sum_cost"] = loss.numpy()
    out["B_sum_grad"] = jt.grad(loss, g.fc2.weight).numpy()
    return out


def run_mpi(x):
    rows = dist.shard(BATCH, even=True)
    local = x[rows]
    lb = len(local)
    out = part_a(local, *build_a(x.shape[1], lb), key=dist.rank_seed)
    out.update(part_b(local, build_b(x.shape[1], lb, None),
                      build_b(x.shape[1], lb, N_DATA / lb)))
    result = {}
    for name, value in out.items():
        if name in ("A_bound", "A_ll", "B_bound", "B_ll"):
            result[name] = dist.all_gather(value)          # per image, in order
        else:
            result[name] = dist.all_reduce_mean(jt.array(value)).numpy()
    return result


def run_oracle(x, ranks):
    lb = BATCH // ranks
    shards = []
    for r in range(ranks):
        local = x[r * lb:(r + 1) * lb]
        shards.append(part_a(local, *build_a(x.shape[1], lb),
                             key=lambda s, r=r: dist.rank_seed(s, r)))
    result = {}
    for name in shards[0]:
        if name in ("A_bound", "A_ll"):
            result[name] = np.concatenate([s[name] for s in shards])
        else:  # the mean of the shards' means, as float32 Vars (MPI's arithmetic)
            total = jt.array(shards[0][name])
            for s in shards[1:]:
                total = total + jt.array(s[name])
            result[name] = (total / ranks).numpy()
    # Part B: one call on the whole batch
    result.update(part_b(x, build_b(x.shape[1], BATCH, None),
                         build_b(x.shape[1], BATCH, N_DATA / BATCH)))
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--mode", choices=["mpi", "oracle"], required=True)
    p.add_argument("--ranks", type=int, default=None)
    args = p.parse_args()
    x = data()
    if args.mode == "mpi":
        result = run_mpi(x)
        result["world_size"] = np.array(dist.world_size())
    else:
        assert not dist.in_mpi()
        result = run_oracle(x, args.ranks)
        result["world_size"] = np.array(args.ranks)
    if dist.is_main():
        np.savez(args.out, **result)


if __name__ == "__main__":
    main()
