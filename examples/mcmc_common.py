"""What the HMC/NUTS examples share: building a sampler from the command
line, and the sampler's statistics and diagnostics as metrics."""

import zhusuan as zs

__all__ = ["add_sampler_args", "check_sampler_args", "make_sampler", "sampler_metrics"]


def add_sampler_args(p, samplers=("nuts", "hmc"), n_warmup=1000, n_samples=1000,
                     chains=4, n_leapfrogs=20):
    p.add_argument("--sampler", choices=list(samplers) + (["both"] if len(samplers) > 1
                                                         else []),
                   default=samplers[0])
    p.add_argument("--chains", type=int, default=chains)
    p.add_argument("--warmup", type=int, default=n_warmup, help="warm-up iterations")
    p.add_argument("--samples", type=int, default=n_samples,
                   help="draws kept per chain")
    p.add_argument("--n-leapfrogs", type=int, default=n_leapfrogs,
                   help="leapfrog steps per HMC iteration")
    p.add_argument("--max-tree-depth", type=int, default=10,
                   help="NUTS's maximum depth")
    p.add_argument("--target-accept", type=float, default=0.8,
                   help="target acceptance rate of the step-size adaptation")
    p.add_argument("--dense-mass", action="store_true",
                   help="adapt a dense mass matrix instead of a diagonal one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_sampler_args(p, args):
    for name in ("chains", "samples", "n_leapfrogs", "max_tree_depth"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    if not 0 < args.target_accept < 1:
        p.error("--target-accept must be in (0, 1)")


def make_sampler(name, args, step_size=0.1):
    if name == "nuts":
        return zs.mcmc.NUTS(step_size=step_size, max_tree_depth=args.max_tree_depth,
                            target_acceptance_rate=args.target_accept,
                            dense_mass=args.dense_mass)
    if name == "hmc":
        return zs.mcmc.HMC(step_size=step_size, n_leapfrogs=args.n_leapfrogs,
                           adapt_step_size=True, adapt_mass=True,
                           target_acceptance_rate=args.target_accept,
                           dense_mass=args.dense_mass)
    raise ValueError(f"unknown sampler {name!r}")


def sampler_metrics(sampler, draws, seconds):
    """Divergences, acceptance, step size, leapfrog counts and the worst
    R-hat / smallest ESS over every latent element."""
    summ = zs.diagnostics.summary(draws)
    rows = summ.as_dict()
    stats = sampler.stats
    out = {
        "divergences": int(sampler.n_divergences.sum()),
        "divergences_per_chain": sampler.n_divergences.tolist(),
        "warmup_divergences": int(sampler.n_warmup_divergences.sum()),
        "acceptance_rate": float(stats["acceptance_rate"].mean()),
        "step_size_per_chain": sampler.current_step_size.tolist(),
        "leapfrogs_per_iteration": float(stats["n_steps"].mean()),
        "max_r_hat": float(max(r["r_hat"] for r in rows.values())),
        "min_ess_bulk": float(min(r["ess_bulk"] for r in rows.values())),
        "min_ess_tail": float(min(r["ess_tail"] for r in rows.values())),
        "seconds": seconds,
        "bfmi_per_chain": zs.diagnostics.bfmi(stats["energy"]).tolist(),
    }
    if "tree_depth" in stats:
        out["mean_tree_depth"] = float(stats["tree_depth"].mean())
    return out, summ

