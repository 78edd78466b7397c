"""Importance-weighted autoencoder (Burda et al., 2016) on binarised images.

The tutorial's Generator/Variational nets, unchanged, trained with the
k-sample importance-weighted bound (``zs.variational.iw_objective``, SGVB
estimator) instead of the ELBO. Same command line and outputs as
``examples/vae.py`` plus ``--k``; the ``train_elbo``/``test_elbo`` columns of
``metrics.json`` hold the k-sample bound (``bound_k`` says which k), and
``test_ll`` the importance-sampled log-likelihood with ``--is-k`` samples.

Run: ``python examples/iwae.py --k 5`` (see ``--help``).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zhusuan as zs  # noqa: E402

import vae  # noqa: E402
from common import write_json  # noqa: E402


def iw_objective(generator, variational, args):
    return zs.variational.ImportanceWeightedObjective(
        generator, variational, n_samples=args.k, estimator="sgvb")


def main(argv=None):
    p = vae.build_parser(description=__doc__.split("\n\n")[0], out_dir="results/iwae")
    p.add_argument("--k", type=int, default=5, help="importance samples per image")
    args = vae.check_args(p, p.parse_args(argv))
    if args.k < 1:
        p.error("--k must be >= 1")
    metrics = vae.train(args, iw_objective, f"IWAE (k={args.k})",
                        bound_name=f"IW bound (k={args.k})")
    metrics["bound_k"] = args.k
    if zs.distributed.is_main():  # under MPI, rank 0 writes the files
        write_json(os.path.join(args.out_dir, "metrics.json"), metrics)
    return metrics


if __name__ == "__main__":
    main()
