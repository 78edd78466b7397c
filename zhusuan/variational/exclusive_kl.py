"""The evidence lower bound (exclusive KL) and its gradient estimators."""

import jittor as jt

from ..framework.bn import particles

__all__ = ["EvidenceLowerBoundObjective", "ELBO", "run_pair"]


def run_pair(generator, variational, observed, n_samples=None, per_point=False):
    """Run the variational net, then the generator on its latent samples.

    Returns ``(log_p, log_q, q_net)`` where ``log_p`` is the generator's log
    joint and ``log_q`` the sum of the variational net's latent nodes, each
    with the nodes' reductions (over the data batch axis too, unless
    ``per_point``). With ``n_samples`` both carry a leading particle axis.
    """
    if not isinstance(observed, dict):
        raise TypeError(f"observed must be a dict, got {type(observed).__name__}")
    with particles(variational, n_samples, per_point=per_point):
        q = variational(observed)
        q = variational if q is None else q
        latent = {n: s for n, s in q.nodes.items() if not s.is_observed}
        if not latent:
            raise ValueError("the variational net has no latent (unobserved) nodes")
        log_q = q._log_joint(latent.values(), per_point)
    clash = sorted(set(latent) & set(observed))
    if clash:
        raise ValueError(f"latent node(s) {clash} of the variational net are also observed")
    joint_obs = dict(observed)
    joint_obs.update({n: s.tensor for n, s in latent.items()})
    carried = [n for n, s in latent.items() if s._sample_axis]
    with particles(generator, n_samples, particle_names=carried, per_point=per_point):
        p = generator(joint_obs)
        p = generator if p is None else p
        log_p = p._log_joint(p.nodes.values(), per_point)
    return log_p, log_q, q


class EvidenceLowerBoundObjective(jt.Module):
    r"""The evidence lower bound, as a Module.

    .. math::
        \mathcal{L}(x) = \mathbb{E}_{q(z|x)}[\log p(x, z) - \log q(z|x)]

    ``model(observed)`` returns the surrogate cost to minimise with the SGVB
    (reparameterisation) estimator, so ``optimizer.step(model({'x': x}))``
    trains both nets. The cost is the negative ELBO reduced as the nodes'
    ``reduce_mean_dims``/``reduce_sum_dims`` say; with ``n_samples=k`` the
    nets draw ``k`` particles and the cost averages over them.

    Parameters
    ----------
    generator : BayesianNet
        The model p(x, z); its latent nodes are observed with q's samples.
    variational : BayesianNet
        The approximate posterior q(z | x).
    n_samples : int, optional
        Particles per data point (None: as the nets say, one by default).
    """

    def __init__(self, generator, variational, n_samples=None):
        super().__init__()
        self.generator = generator
        self.variational = variational
        self.n_samples = n_samples

    def execute(self, observed):
        return self.sgvb(observed)

    def _elbo(self, observed):
        log_p, log_q, q = run_pair(self.generator, self.variational, observed,
                                   self.n_samples)
        elbo = log_p - log_q
        has_particles = any(s._sample_axis for s in q.nodes.values() if not s.is_observed)
        return elbo, q, has_particles

    def sgvb(self, observed):
        """SGVB surrogate cost (negative ELBO); needs reparameterised latents."""
        elbo, q, has_particles = self._elbo(observed)
        for name, node in q.nodes.items():
            if not node.is_observed and not node.dist.is_reparameterized:
                raise ValueError(
                    f"SGVB needs reparameterised latents, but node '{name}' "
                    f"({type(node.dist).__name__}) is not reparameterised; set "
                    "reparameterize=True on it"
                )
        return -_mean_over_particles(elbo, has_particles)

    def bound(self, observed):
        """The value of the ELBO itself (no gradient tricks)."""
        elbo, _, has_particles = self._elbo(observed)
        return _mean_over_particles(elbo, has_particles)


def _mean_over_particles(x, has_particles):
    if has_particles:
        x = jt.mean(x, dim=0)
    return jt.mean(x) if x.numel() > 1 else x


ELBO = EvidenceLowerBoundObjective
