"""Bayesian logistic regression on the breast-cancer data, by HMC and NUTS.

Model: w ~ N(0, 1) for each of the 30 standardised features, b ~ N(0, 5^2),
y_i ~ Bernoulli(sigmoid(x_i^T w + b)). Data: scikit-learn's bundled Wisconsin
breast-cancer set (569 tumours, 30 features, malignant or benign), split
80/20 once with a fixed seed (``--split-seed``) and standardised with the
training statistics, so it runs offline.

``--chains`` chains run at once along a leading axis of the latents (the
model's log joint has one value per chain); each sampler warms up (Stan's
windowed adaptation of the step size and a diagonal, or ``--dense-mass``,
mass matrix), then keeps ``--samples`` draws per chain. Reported per
sampler: the posterior summary (mean, sd, quantiles, bulk/tail ESS, R-hat
per element), divergences, acceptance rate, test accuracy and test
log-likelihood of the posterior predictive (the mean over draws of
p(y | x, w, b), per test point), next to scikit-learn's L2-regularised
logistic regression with the same prior scale (C = 1, the MAP of w's prior
when b's is flat).

Writes into ``--out-dir``: ``metrics.json``, ``summary_<sampler>.txt``,
``trace_<sampler>.png``, ``draws_<sampler>.npz`` (the kept draws) and
``checkpoint.zsc`` (each sampler's ``state_dict``, to continue sampling).

Run: ``python examples/blr_hmc.py --sampler both`` (see ``--help``).
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
from common import (  # noqa: E402
    save_checkpoint,
    single_process_only,
    sklearn_split,
    write_json,
)
from mcmc_common import (  # noqa: E402
    add_sampler_args,
    check_sampler_args,
    make_sampler,
    sampler_metrics,
)

PRIOR_W, PRIOR_B = 1.0, 5.0


def load_breast_cancer_split(test_fraction=0.2, split_seed=0):
    """The data, split once at random (seeded) and standardised with the
    training statistics; float32 features, float32 0/1 labels."""
    data, x, y, train, test, mean, std = sklearn_split(
        "load_breast_cancer", test_fraction, split_seed, "this example")
    return {"x_train": ((x[train] - mean) / std).astype(np.float32),
            "y_train": y[train].astype(np.float32),
            "x_test": ((x[test] - mean) / std).astype(np.float32),
            "y_test": y[test].astype(np.float32),
            "feature_names": list(data.feature_names)}


class LogisticRegression(zs.BayesianNet):
    """``n_chains`` copies of p(w, b) p(y | x, w, b) along axis 0."""

    def __init__(self, n_chains, dim):
        super().__init__()
        self.n_chains, self.dim = n_chains, dim

    def execute(self, observed):
        self.observe(observed)
        c = self.n_chains
        w = self.sn("Normal", name="w", mean=jt.zeros([c, self.dim]), std=PRIOR_W,
                    group_ndims=1)
        b = self.sn("Normal", name="b", mean=jt.zeros([c, 1]), std=PRIOR_B,
                    group_ndims=1)
        logits = (w.unsqueeze(1) * self.observed["x"]).sum(-1) + b  # [chains, n]
        self.sn("Bernoulli", name="y", logits=logits, group_ndims=1)
        return self


def predictive(draws, x, y):
    """Test accuracy and mean log-likelihood of the posterior predictive
    p(y | x) = mean over draws of Bernoulli(y; sigmoid(x^T w + b))."""
    w = draws["w"].reshape(-1, draws["w"].shape[-1]).astype(np.float64)
    b = draws["b"].reshape(-1).astype(np.float64)
    logits = w @ x.T.astype(np.float64) + b[:, None]  # [draws, n]
    # log p(y | logits) = -softplus(-logits) if y else -softplus(logits)
    log_lik = -np.logaddexp(0.0, np.where(y > 0.5, -logits, logits))
    m = log_lik.max(0)
    ll = m + np.log(np.exp(log_lik - m).mean(0))
    prob = (1.0 / (1.0 + np.exp(-logits))).mean(0)
    return float(((prob > 0.5) == (y > 0.5)).mean()), float(ll.mean())


def sklearn_baseline(data):
    from sklearn.linear_model import LogisticRegression as SkLR

    clf = SkLR(C=PRIOR_W ** 2, max_iter=5000).fit(data["x_train"], data["y_train"])
    p = np.clip(clf.predict_proba(data["x_test"])[:, 1], 1e-12, 1 - 1e-12)
    y = data["y_test"]
    return {"accuracy": float((clf.predict(data["x_test"]) == y).mean()),
            "ll": float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_sampler_args(p, samplers=("nuts", "hmc"), n_warmup=500, n_samples=500)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the fixed train/test split")
    p.add_argument("--out-dir", default="results/blr_hmc")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_sampler_args(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/blr_hmc.py")
    os.makedirs(args.out_dir, exist_ok=True)
    data = load_breast_cancer_split(split_seed=args.split_seed)
    n_train, dim = data["x_train"].shape
    c = args.chains
    net = LogisticRegression(c, dim)
    obs = {"x": jt.array(data["x_train"]),
           "y": jt.array(np.ascontiguousarray(np.broadcast_to(data["y_train"],
                                                              (c, n_train))))}
    baseline = sklearn_baseline(data)
    print(f"breast cancer: {n_train} train, {len(data['x_test'])} test points, {dim} "
          f"features; scikit-learn logistic regression (C=1): test accuracy "
          f"{baseline['accuracy']:.3f}, test log-likelihood {baseline['ll']:.4f}")
    names = ["nuts", "hmc"] if args.sampler == "both" else [args.sampler]
    metrics = {"dataset": "breast_cancer", "n_train": int(n_train),
               "n_test": int(len(data["x_test"])), "chains": c, "warmup": args.warmup,
               "samples": args.samples, "seed": args.seed,
               "split_seed": args.split_seed,
               "sklearn_test_accuracy": baseline["accuracy"],
               "sklearn_test_ll": baseline["ll"], "backend": zs.kernels.get_backend(),
               "samplers": {}}
    states = {}
    for name in names:
        jt.set_global_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        # Stan's initialisation: uniform on (-2, 2) in the unconstrained space.
        init = {"w": jt.array(rng.uniform(-2, 2, (c, dim)).astype(np.float32)),
                "b": jt.array(rng.uniform(-2, 2, (c, 1)).astype(np.float32))}
        sampler = make_sampler(name, args, step_size=0.05)
        t0 = time.perf_counter()
        draws = sampler.run(net, obs, init, n_warmup=args.warmup,
                            n_samples=args.samples, progress=not args.no_progress)
        seconds = time.perf_counter() - t0
        sm, summ = sampler_metrics(sampler, draws, seconds)
        acc, ll = predictive(draws, data["x_test"], data["y_test"])
        sm.update({"test_accuracy": acc, "test_ll": ll,
                   "posterior": summ.as_dict()})
        metrics["samplers"][name] = sm
        states[name] = sampler.state_dict()
        with open(os.path.join(args.out_dir, f"summary_{name}.txt"), "w") as f:
            f.write(str(summ) + "\n")
        np.savez(os.path.join(args.out_dir, f"draws_{name}.npz"), **draws)
        zs.diagnostics.plot_trace(draws,
                                  os.path.join(args.out_dir, f"trace_{name}.png"),
                                  names=["b", "w"], max_elements=4,
                                  title=f"{name.upper()}: b and w[0:3] ({c} chains)")
        print(f"{name.upper()}: {seconds:.1f} s, {sm['leapfrogs_per_iteration']:.1f} "
              f"leapfrogs/iteration, acceptance {sm['acceptance_rate']:.3f}, "
              f"divergences {sm['divergences']}, max R-hat {sm['max_r_hat']:.3f}, min "
              f"bulk ESS {sm['min_ess_bulk']:.0f}; test accuracy {acc:.3f}, test "
              f"log-likelihood {ll:.4f}")
        rows = [r for r in summ.rows if r["name"] in ("b[0]", "w[0]", "w[1]", "w[2]")]
        print("\n".join(str(zs.diagnostics.Summary(rows)).splitlines()))
    write_json(os.path.join(args.out_dir, "metrics.json"), metrics)
    save_checkpoint(args.out_dir, {},
                    {"sampler_states": states}, {"seed": args.seed, "chains": c})
    print(f"wrote {args.out_dir}/metrics.json, summaries, trace plots and draws")
    return metrics


if __name__ == "__main__":
    main()
