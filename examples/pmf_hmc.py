"""Probabilistic matrix factorisation sampled by HMC, on a synthetic
MovieLens-sized rating matrix.

The data are SYNTHETIC: generated with a fixed seed (``--data-seed``) from
the PMF model itself, at the size of MovieLens-100k (943 users, 1682 items,
100,000 ratings, i.e. 6.3% of the matrix observed; no MovieLens file is
needed). Model, as ZhuSuan-TF's ``pmf_hmc.py`` (ratings scaled to [0, 1]),
with rank K::

    U_i ~ N(0, s^2 I_K),  V_j ~ N(0, s^2 I_K),  s = K^(-1/4),
    r_ij ~ N(sigmoid(U_i . V_j), 0.05^2)    for the observed pairs (i, j),

(s makes U_i . V_j of unit variance, so the sigmoid is not saturated). The
truth (U*, V*) is drawn from the prior, the observed pairs uniformly without
replacement, the ratings from the likelihood; 10% of them are held out.

Inference, as ZhuSuan-TF's example does: two HMC samplers alternate, one for
U given V and the ratings, one for V given U (a Gibbs scheme whose blocks
are HMC transitions), each through ``HMC.sample(bn, observed, latent)`` with
the other block observed, with ``--chains`` chains along a leading axis and
Stan's warm-up of the step size and a diagonal mass matrix over
``--warmup`` iterations. After it, the posterior predictive mean of each
test rating, the mean of sigmoid(U_i . V_j) over kept draws and chains, is
scored by its RMSE in stars (1 + 4 r) against the held-out ratings and
against the noiseless truth, next to baselines fitted on the training
ratings (the global mean; the mean plus user and item offsets) and the
noise floor (0.2 stars). U and V are identified only up to a rotation, so
the diagnostics (R-hat, ESS) are those of the predictions of the first 20
test ratings.

Writes into ``--out-dir``: ``metrics.json``, ``predictions.npz`` (test
pairs, predictions, held-out ratings, truth) and ``checkpoint.zsc`` (both
samplers' ``state_dict``).

Run: ``python examples/pmf_hmc.py`` (see ``--help``).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# isort: off
import zhusuan as zs  # noqa: E402  (sets up Jittor before it is imported)
import jittor as jt  # noqa: E402

# isort: on
from common import save_checkpoint, single_process_only, write_json  # noqa: E402

NOISE = 0.05  # rating noise on the [0, 1] scale: 0.2 stars
N_DIAG = 20  # test ratings whose predictions get R-hat and ESS


def synthetic_ratings(n_users, n_items, n_ratings, rank, seed, test_fraction=0.1):
    """Draw (U*, V*), the observed pairs and their ratings from the model."""
    rng = np.random.default_rng(seed)
    s = rank ** -0.25
    u = rng.normal(0.0, s, (n_users, rank))
    v = rng.normal(0.0, s, (n_items, rank))
    cells = rng.choice(n_users * n_items, size=n_ratings, replace=False)
    users, items = cells // n_items, cells % n_items
    truth = 1.0 / (1.0 + np.exp(-(u[users] * v[items]).sum(-1)))
    ratings = truth + NOISE * rng.normal(size=n_ratings)
    n_test = int(round(test_fraction * n_ratings))
    split = {"test": slice(0, n_test), "train": slice(n_test, None)}
    out = {"u": u, "v": v, "prior_std": s}
    for name, sl in split.items():
        out[f"{name}_users"], out[f"{name}_items"] = users[sl], items[sl]
        out[f"{name}_ratings"], out[f"{name}_truth"] = ratings[sl], truth[sl]
    return out


def stars(r):
    return 1.0 + 4.0 * np.asarray(r)


def baselines(data):
    """Test RMSE (stars) of the global mean and of mean + user + item offsets
    fitted on the training ratings (offsets of users/items without training
    ratings are 0)."""
    r, u, i = data["train_ratings"], data["train_users"], data["train_items"]
    n_users, n_items = len(data["u"]), len(data["v"])
    mean = r.mean()
    user_off = np.zeros(n_users)
    item_off = np.zeros(n_items)
    # Two rounds of alternating averages of the residuals.
    for _ in range(2):
        res = r - mean - item_off[i]
        user_off = np.bincount(u, res, n_users) / np.maximum(np.bincount(u, None,
                                                                         n_users), 1)
        res = r - mean - user_off[u]
        item_off = np.bincount(i, res, n_items) / np.maximum(np.bincount(i, None,
                                                                         n_items), 1)
    y = data["test_ratings"]
    pred = mean + user_off[data["test_users"]] + item_off[data["test_items"]]
    return {"global_mean": float(np.sqrt(np.mean((stars(mean) - stars(y)) ** 2))),
            "user_item_offsets": float(np.sqrt(np.mean((stars(pred) - stars(y)) ** 2)))}


class PMF(zs.BayesianNet):
    """``n_chains`` copies of the model along axis 0; ``users``/``items``
    index the observed ratings."""

    def __init__(self, n_chains, n_users, n_items, rank, prior_std, users, items):
        super().__init__()
        self.shape = (n_chains, n_users, n_items, rank)
        self.prior_std = prior_std
        self.users = jt.array(np.asarray(users, np.int32))
        self.items = jt.array(np.asarray(items, np.int32))

    def execute(self, observed):
        self.observe(observed)
        c, n_users, n_items, k = self.shape
        u = self.sn("Normal", name="U", mean=jt.zeros([c, n_users, k]),
                    std=self.prior_std, group_ndims=2)
        v = self.sn("Normal", name="V", mean=jt.zeros([c, n_items, k]),
                    std=self.prior_std, group_ndims=2)
        logits = (u[:, self.users] * v[:, self.items]).sum(-1)  # [chains, ratings]
        self.sn("Normal", name="r", mean=jt.sigmoid(logits), std=NOISE, group_ndims=1)
        return self


def predict(u, v, users, items):
    """sigmoid(U_i . V_j) of every chain, [chains, n]."""
    return 1.0 / (1.0 + np.exp(-(u[:, users] * v[:, items]).sum(-1)))


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--users", type=int, default=943)
    p.add_argument("--items", type=int, default=1682)
    p.add_argument("--ratings", type=int, default=100000)
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--warmup", type=int, default=200, help="warm-up iterations")
    p.add_argument("--samples", type=int, default=200, help="kept iterations")
    p.add_argument("--n-leapfrogs", type=int, default=10)
    p.add_argument("--data-seed", type=int, default=2024,
                   help="seed of the synthetic data")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out-dir", default="results/pmf_hmc")
    p.add_argument("--no-progress", action="store_true")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("users", "items", "ratings", "rank", "chains", "samples",
                 "n_leapfrogs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.ratings > args.users * args.items:
        p.error("--ratings exceeds the number of cells")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/pmf_hmc.py")
    os.makedirs(args.out_dir, exist_ok=True)
    data = synthetic_ratings(args.users, args.items, args.ratings, args.rank,
                             args.data_seed)
    base = baselines(data)
    c, k = args.chains, args.rank
    net = PMF(c, args.users, args.items, k, data["prior_std"], data["train_users"],
              data["train_items"])
    r = jt.array(data["train_ratings"].astype(np.float32))  # broadcast over chains
    jt.set_global_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # ZhuSuan-TF's initialisation: N(0, 0.1^2).
    u = {"U": jt.array(rng.normal(0, 0.1, (c, args.users, k)).astype(np.float32))}
    v = {"V": jt.array(rng.normal(0, 0.1, (c, args.items, k)).astype(np.float32))}
    samplers = {b: zs.mcmc.HMC(step_size=1e-3, n_leapfrogs=args.n_leapfrogs,
                               adapt_step_size=True, adapt_mass=True,
                               n_warmup=args.warmup) for b in ("U", "V")}
    print(f"synthetic MovieLens-sized data: {args.users} users, {args.items} items, "
          f"{len(data['train_ratings'])} train / {len(data['test_ratings'])} test "
          f"ratings, rank {k}; baselines (test RMSE, stars): global mean "
          f"{base['global_mean']:.3f}, user+item offsets "
          f"{base['user_item_offsets']:.3f}, "
          f"noise floor {4 * NOISE:.3f}")
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.warmup + args.samples, desc="PMF warmup", unit="it",
                   mininterval=0.2 if sys.stderr.isatty() else 30.0)
    test_u, test_i = data["test_users"], data["test_items"]
    pred_sum = np.zeros((c, len(test_u)))
    diag = []
    acc = {"U": [], "V": []}
    t0 = time.perf_counter()
    for it in range(args.warmup + args.samples):
        u, info_u = samplers["U"].sample(net, {"r": r, "V": v["V"]}, u)
        v, info_v = samplers["V"].sample(net, {"r": r, "U": u["U"]}, v)
        if it >= args.warmup:
            acc["U"].append(info_u.acceptance_rate)
            acc["V"].append(info_v.acceptance_rate)
            pred = predict(u["U"].numpy().astype(np.float64),
                           v["V"].numpy().astype(np.float64), test_u, test_i)
            pred_sum += pred
            diag.append(pred[:, :N_DIAG])
        if bar is not None:
            bar.set_description("PMF warmup" if it < args.warmup else "PMF sampling",
                                refresh=False)
            bar.set_postfix(acc_u=f"{info_u.acceptance_rate.mean():.2f}",
                            acc_v=f"{info_v.acceptance_rate.mean():.2f}",
                            step_u=f"{np.median(info_u.step_size):.2g}",
                            div=int(samplers["U"].n_divergences.sum()
                                    + samplers["V"].n_divergences.sum()), refresh=False)
            bar.update(1)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    prediction = pred_sum.mean(0) / args.samples  # over chains and kept draws
    y, truth = data["test_ratings"], data["test_truth"]
    rmse = float(np.sqrt(np.mean((stars(prediction) - stars(y)) ** 2)))
    rmse_truth = float(np.sqrt(np.mean((stars(prediction) - stars(truth)) ** 2)))
    diag = np.stack(diag)  # [draws, chains, N_DIAG]
    summ = zs.diagnostics.summary({"prediction": diag})
    rows = summ.as_dict()
    metrics = {
        "data": "synthetic (drawn from the PMF model, MovieLens-100k size)",
        "users": args.users, "items": args.items, "n_train": len(data["train_ratings"]),
        "n_test": len(y), "rank": k, "chains": c, "warmup": args.warmup,
        "samples": args.samples, "n_leapfrogs": args.n_leapfrogs, "seed": args.seed,
        "data_seed": args.data_seed,
        "test_rmse": rmse, "test_rmse_vs_truth": rmse_truth,
        "baseline_rmse": base, "noise_floor_rmse": 4 * NOISE,
        "acceptance_rate": {b: float(np.mean(a)) if a else None
                            for b, a in acc.items()},
        "step_size": {b: s.current_step_size.tolist() for b, s in samplers.items()},
        "divergences": {b: int(s.n_divergences.sum()) for b, s in samplers.items()},
        "prediction_max_r_hat": float(max(r_["r_hat"] for r_ in rows.values())),
        "prediction_min_ess_bulk": float(min(r_["ess_bulk"] for r_ in rows.values())),
        "seconds": seconds, "backend": zs.kernels.get_backend(),
    }
    write_json(os.path.join(args.out_dir, "metrics.json"), metrics)
    np.savez(os.path.join(args.out_dir, "predictions.npz"), users=test_u, items=test_i,
             prediction=prediction, ratings=y, truth=truth)
    save_checkpoint(args.out_dir, {},
                    {"sampler_states": {b: s.state_dict()
                                        for b, s in samplers.items()}},
                    {"seed": args.seed, "data_seed": args.data_seed})
    print(f"HMC ({seconds:.0f} s): test RMSE {rmse:.3f} stars (vs truth "
          f"{rmse_truth:.3f};"
          f" baselines {base['global_mean']:.3f} and {base['user_item_offsets']:.3f}, "
          f"noise floor {4 * NOISE:.3f}); acceptance U "
          f"{metrics['acceptance_rate']['U']}, V {metrics['acceptance_rate']['V']}; "
          f"divergences {metrics['divergences']}; "
          f"predictions' max R-hat {metrics['prediction_max_r_hat']:.3f}")
    print(f"wrote {args.out_dir}/metrics.json and predictions.npz")
    return metrics


if __name__ == "__main__":
    main()
