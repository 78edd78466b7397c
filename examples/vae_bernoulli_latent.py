"""Variational autoencoder with binary latents, trained by REINFORCE.

The model and its approximate posterior::

    z ~ Bernoulli(logits=0)                  [n, z_dim]
    x | z ~ Bernoulli(logits=MLP(z))         [n, 784]
    q(z | x) = Bernoulli(logits=MLP(x))      (not reparameterisable)

trained on the ELBO with the score-function (REINFORCE) estimator,
``zs.variational.ELBO(..., estimator='reinforce')``, and one of three
baselines for its learning signal ``l = log p(x, z) - log q(z | x)``
(``--baseline``):

* ``none``: the raw signal (``variance_reduction=False``);
* ``moving-average``: minus a moving average of the signal over batches (the
  objective's default, ``decay=0.8``);
* ``learned``: minus an input-dependent baseline ``b(x)`` (a small MLP, one
  value per image, trained jointly by the objective's added cost
  ``0.5 (l - b(x))^2``), and then minus the moving average of what remains,
  as in NVIL (Mnih & Gregor, 2014): the moving average follows the signal's
  level while ``b(x)`` learns how it varies from image to image.

``--variance-normalization`` also divides the centred signal by a moving
estimate of its standard deviation (it needs a baseline). The
``train_bound``/``test_bound`` columns hold the one-sample ELBO; ``test_ll``
the importance-sampled test log-likelihood with ``--is-k`` samples. Same
command line and outputs as ``examples/sbn.py`` (whose driver this uses),
written into ``results/vae_bernoulli_latent`` by default.

Run: ``python examples/vae_bernoulli_latent.py --baseline learned``
(see ``--help``).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zhusuan as zs  # noqa: E402  (sets up Jittor before it is imported)
from zhusuan import BayesianNet  # noqa: E402

import jittor as jt  # noqa: E402
import sbn  # noqa: E402
from jittor import nn  # noqa: E402


class Generator(BayesianNet):
    """p(z) p(x | z) with a one-hidden-layer MLP decoder, in the tutorial's
    style; ``cache['x_probs']`` holds the pixel probabilities."""

    def __init__(self, x_dim, z_dim, hidden, batch_size):
        super().__init__()
        self.z_dim = z_dim
        self.batch_size = batch_size
        self.fc1 = nn.Linear(z_dim, hidden)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(hidden, x_dim)

    def execute(self, observed):
        self.observe(observed)
        prior_logits = jt.zeros([self.batch_size, self.z_dim])
        z = self.sn('Bernoulli', name='z', logits=prior_logits,
                    reduce_mean_dims=[0], reduce_sum_dims=[1])
        x_logits = self.fc2(self.act1(self.fc1(z)))
        self.cache['x_probs'] = jt.sigmoid(x_logits)
        self.sn('Bernoulli', name='x', logits=x_logits,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class Variational(BayesianNet):
    """q(z | x): Bernoulli with logits from a one-hidden-layer MLP, not
    reparameterised."""

    def __init__(self, x_dim, z_dim, hidden, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.fc1 = nn.Linear(x_dim, hidden)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(hidden, z_dim)

    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        self.sn('Bernoulli', name='z', logits=self.fc2(self.act1(self.fc1(x))),
                reparameterize=False, reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class Baseline(nn.Module):
    """The learned baseline b(x): one value per image, shape [n]."""

    def __init__(self, x_dim, hidden=100):
        super().__init__()
        self.fc1 = nn.Linear(x_dim, hidden)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(hidden, 1)

    def execute(self, x):
        return self.fc2(self.act1(self.fc1(x))).reshape([x.shape[0]])


def build_vae(args, x_dim):
    bs = args.batch_size
    generator = Generator(x_dim, args.z_dim, args.hidden, bs)
    variational = Variational(x_dim, args.z_dim, args.hidden, bs)
    objective = zs.variational.ELBO(
        generator, variational, estimator="reinforce",
        variance_reduction=args.baseline != "none",
        variance_normalization=args.variance_normalization)
    modules = {"generator": generator, "variational": variational}
    param_groups = [{"params": objective.parameters()}]
    if args.baseline == "learned":
        baseline = Baseline(x_dim)
        modules["baseline"] = baseline
        # Its own group: the baseline must follow the signal's level, which
        # moves by hundreds of nats early on (Adam moves a weight by about lr
        # per step).
        param_groups.append({"params": baseline.parameters(),
                             "lr": args.baseline_lr or args.lr})

        def cost(x):
            return objective.reinforce({'x': x}, baseline=baseline(x))
    else:
        def cost(x):
            return objective.reinforce({'x': x})
    vn = ", variance normalisation" if args.variance_normalization else ""
    return sbn.Setup(
        title=f"Bernoulli-latent VAE (z={args.z_dim}), REINFORCE, "
              f"{args.baseline} baseline{vn}",
        generator=generator,
        variational=variational,
        objective=objective,
        cost=cost,
        modules=modules,
        param_groups=param_groups,
        info={"estimator": "reinforce", "k": 1, "bound": "elbo",
              "baseline": args.baseline,
              "variance_normalization": args.variance_normalization,
              "z_dim": args.z_dim, "hidden": args.hidden},
        # The moving averages are plain attributes of the objective, not
        # Jittor parameters: the checkpoint carries them for --resume.
        objective_state=("_moving_mean", "_moving_var"),
    )


def parse_args(argv=None):
    p = sbn.build_parser(__doc__.split("\n\n")[0], "results/vae_bernoulli_latent")
    p.add_argument("--baseline", choices=["none", "moving-average", "learned"],
                   default="learned")
    p.add_argument("--variance-normalization", action="store_true",
                   help="divide the centred learning signal by its moving std")
    p.add_argument("--baseline-lr", type=float, default=None,
                   help="learning rate of the learned baseline (default: --lr)")
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    args = sbn.check_args(p, p.parse_args(argv), positive=("z_dim", "hidden"))
    if args.variance_normalization and args.baseline == "none":
        p.error("--variance-normalization needs a baseline (moving-average or learned)")
    if args.baseline_lr is not None and not args.baseline_lr > 0:
        p.error("--baseline-lr must be > 0")
    return args


def main(argv=None):
    return sbn.run(parse_args(argv), build_vae)


if __name__ == "__main__":
    main()
