"""The eight-schools hierarchical model (non-centred), sampled by NUTS.

Rubin's (1981) SAT-coaching data: the estimated effect y_j and its standard
error sigma_j in eight schools. Model (as in Stan's and NumPyro's
examples)::

    mu ~ N(0, 5),  tau ~ HalfCauchy(5),  theta_tilde_j ~ N(0, 1),
    theta_j = mu + tau * theta_tilde_j,  y_j ~ N(theta_j, sigma_j).

The non-centred form samples theta_tilde instead of theta, which removes
the funnel between tau and theta that makes the centred form diverge. HMC
works on unconstrained latents, so tau is sampled as log_tau with the
density of log(tau) for tau ~ HalfCauchy(5) (the HalfCauchy density at
exp(u) times the Jacobian exp(u): :class:`LogHalfCauchy` below).

Published posterior means (NumPyro's README, non-centred, NUTS with 1000
draws; their Monte-Carlo standard errors are about 0.15): mu 4.08,
tau 3.96, theta 6.48, 4.95, 3.65, 4.56, 3.41, 3.58, 6.31, 4.81; long runs
(Stan's case study by Betancourt) give mu = 4.4 and tau = 3.6, within those
errors. ``metrics.json`` reports ours next to them, with our Monte-Carlo
standard errors, and the divergences, R-hat and bulk/tail ESS.

Writes into ``--out-dir``: ``metrics.json``, ``summary.txt``, ``trace.png``,
``draws.npz`` and ``checkpoint.zsc`` (the sampler's ``state_dict``).

Run: ``python examples/eight_schools.py`` (see ``--help``).
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
from mcmc_common import (  # noqa: E402
    add_sampler_args,
    check_sampler_args,
    make_sampler,
    sampler_metrics,
)

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
PUBLISHED = {"mu": 4.08, "tau": 3.96,
             "theta": [6.48, 4.95, 3.65, 4.56, 3.41, 3.58, 6.31, 4.81]}


class LogHalfCauchy(zs.distributions.HalfCauchy):
    """The law of log(tau) for tau ~ HalfCauchy(scale): log p(u) =
    log HalfCauchy(e^u; scale) + u, on the whole real line."""

    _support = None

    def _log_prob_reduced(self, given, axes, weight):
        # HalfCauchy's fused log-density at e^u, plus the log-Jacobian u,
        # reduced over the same axes with the same weight.
        return (super()._log_prob_reduced(jt.exp(given), axes, weight)
                + self._reduce(given, axes, weight))

    def _sample(self, n_samples):
        return jt.log(super()._sample(n_samples))


class EightSchools(zs.BayesianNet):
    """``n_chains`` copies of the non-centred model along axis 0."""

    def __init__(self, n_chains):
        super().__init__()
        self.n_chains = n_chains
        self.sigma = jt.array(SIGMA.astype(np.float32))

    def execute(self, observed):
        self.observe(observed)
        c = self.n_chains
        mu = self.sn("Normal", name="mu", mean=jt.zeros([c, 1]), std=5.0, group_ndims=1)
        log_tau = self.sn(LogHalfCauchy(scale=jt.full([c, 1], 5.0), group_ndims=1),
                          name="log_tau")
        theta_tilde = self.sn("Normal", name="theta_tilde", mean=jt.zeros([c, 8]),
                              std=1.0, group_ndims=1)
        theta = mu + jt.exp(log_tau) * theta_tilde
        self.cache["theta"] = theta
        self.sn("Normal", name="y", mean=theta, std=self.sigma, group_ndims=1)
        return self


def derived(draws):
    """tau and theta from the sampled latents ([draws, chains, ...])."""
    tau = np.exp(draws["log_tau"][..., 0])
    theta = draws["mu"] + tau[..., None] * draws["theta_tilde"]
    return {"mu": draws["mu"][..., 0], "tau": tau, "theta": theta}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_sampler_args(p, samplers=("nuts", "hmc"), n_warmup=1000, n_samples=1000,
                     chains=4)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out-dir", default="results/eight_schools")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_sampler_args(p, args)
    if args.sampler == "both":
        p.error("--sampler: choose one of nuts, hmc")
    return args


def main(argv=None):
    args = parse_args(argv)
    single_process_only("examples/eight_schools.py")
    os.makedirs(args.out_dir, exist_ok=True)
    jt.set_global_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    c = args.chains
    net = EightSchools(c)
    obs = {"y": jt.array(np.broadcast_to(Y, (c, 8)).astype(np.float32))}
    # Stan's initialisation: uniform on (-2, 2) in the unconstrained space.
    init = {"mu": rng.uniform(-2, 2, (c, 1)), "log_tau": rng.uniform(-2, 2, (c, 1)),
            "theta_tilde": rng.uniform(-2, 2, (c, 8))}
    init = {k: jt.array(v.astype(np.float32)) for k, v in init.items()}
    sampler = make_sampler(args.sampler, args, step_size=0.1)
    t0 = time.perf_counter()
    draws = sampler.run(net, obs, init, n_warmup=args.warmup, n_samples=args.samples,
                        progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    params = derived(draws)
    sm, _ = sampler_metrics(sampler, draws, seconds)
    summ = zs.diagnostics.summary(params)
    rows = summ.as_dict()
    ours = {"mu": rows["mu"]["mean"], "tau": rows["tau"]["mean"],
            "theta": [rows[f"theta[{j}]"]["mean"] for j in range(8)]}
    mcse = {"mu": rows["mu"]["mcse_mean"], "tau": rows["tau"]["mcse_mean"],
            "theta": [rows[f"theta[{j}]"]["mcse_mean"] for j in range(8)]}
    metrics = {"model": "eight schools (non-centred)", "sampler": args.sampler,
               "chains": c, "warmup": args.warmup, "samples": args.samples,
               "seed": args.seed, "backend": zs.kernels.get_backend(),
               "posterior_mean": ours, "mcse_mean": mcse, "published_mean": PUBLISHED,
               "posterior": rows, **sm}
    # The diagnostics of the sampled (unconstrained) latents, as Stan reports them.
    metrics["latent_max_r_hat"] = metrics.pop("max_r_hat")
    metrics["latent_min_ess_bulk"] = metrics.pop("min_ess_bulk")
    metrics["latent_min_ess_tail"] = metrics.pop("min_ess_tail")
    metrics["max_r_hat"] = float(max(r["r_hat"] for r in rows.values()))
    metrics["min_ess_bulk"] = float(min(r["ess_bulk"] for r in rows.values()))
    metrics["min_ess_tail"] = float(min(r["ess_tail"] for r in rows.values()))
    write_json(os.path.join(args.out_dir, "metrics.json"), metrics)
    with open(os.path.join(args.out_dir, "summary.txt"), "w") as f:
        f.write(str(summ) + "\n")
    np.savez(os.path.join(args.out_dir, "draws.npz"), **draws)
    zs.diagnostics.plot_trace(params, os.path.join(args.out_dir, "trace.png"),
                              names=["mu", "tau", "theta"], max_elements=3,
                              title=f"eight schools, {args.sampler.upper()} "
                                    f"({c} chains)")
    save_checkpoint(args.out_dir, {},
                    {"sampler_state": sampler.state_dict()}, {"seed": args.seed})
    print(summ)
    print(f"{args.sampler.upper()}: {seconds:.1f} s, divergences {sm['divergences']} "
          f"(warm-up {sm['warmup_divergences']}), max R-hat "
          f"{metrics['max_r_hat']:.3f}, "
          f"min bulk ESS {metrics['min_ess_bulk']:.0f}, min tail ESS "
          f"{metrics['min_ess_tail']:.0f}")
    print(f"posterior means: mu {ours['mu']:.2f} +- {mcse['mu']:.2f} (published "
          f"{PUBLISHED['mu']}), tau {ours['tau']:.2f} +- {mcse['tau']:.2f} (published "
          f"{PUBLISHED['tau']})")
    print(f"wrote {args.out_dir}/metrics.json, summary.txt, trace.png")
    return metrics


if __name__ == "__main__":
    main()
