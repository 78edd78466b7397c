r"""The No-U-Turn Sampler with multinomial trajectory sampling, run for many
chains at once.

Sources: Hoffman & Gelman (2014), "The No-U-Turn Sampler", JMLR 15, for the
doubling trajectories; Betancourt (2017), "A Conceptual Introduction to
Hamiltonian Monte Carlo", arXiv:1701.02434, Appendix A, for multinomial
sampling of the trajectory's states and the generalised no-U-turn criterion
:math:`p^\sharp_- \cdot \rho > 0 \wedge p^\sharp_+ \cdot \rho > 0`
(:math:`\rho` the sum of the momenta, :math:`p^\sharp = M^{-1} p`); Stan's
``base_nuts`` (as of Stan 2.26) for the exact algorithm: biased progressive
sampling between the old tree and a new subtree, uniform (multinomial)
sampling within a subtree, the two extra criteria across the junction of
merged subtrees, the acceptance statistic (the mean Metropolis probability
over the new states) and divergence as an energy error above
``max_delta_energy``. NumPyro's iterative tree builder
(``numpyro/infer/hmc_util.py``) for the idea of building a subtree leaf by
leaf with the sub-subtree checks done at the leaves where they complete.

Vectorisation over chains. Every chain grows its own tree, in its own random
directions, with its own step size and mass matrix, but all chains take
their leapfrog steps in lockstep: at depth ``j`` each chain that is still
growing builds a subtree of ``2**j`` states, one leapfrog step of all chains
per state (one Jittor graph, one sync). A chain whose subtree became invalid
(divergence or a U-turn inside it) or whose tree stopped gets step size 0
(it stays where it is) and its results are masked out; the loop ends when
no chain is growing. No Python loop runs over chains.

Subtrees leaf by leaf. The recursive builder checks each sub-subtree when
its last state is added. Leaf ``n`` (0-based) of a subtree completes the
sub-subtrees of sizes ``2**k`` for every ``k`` with ``(n + 1) % 2**k == 0``;
for each, the left half is the sub-subtree of size ``2**(k-1)`` completed
earlier (kept in a slot per level) and the right half the one just
completed. Per level the slot keeps the half's first and last momentum and
velocity and its momentum sum, so the memory is O(depth) states per chain.
"""

from __future__ import annotations

import numpy as np

from .hmc import HMCInfo, _check_int, _Hamiltonian

__all__ = ["NUTS"]

_NEG_INF = -np.inf


def _no_u_turn(v_left, v_right, rho):
    """Stan's compute_criterion, per chain: both ends move along rho."""
    return (np.einsum("ci,ci->c", v_left, rho) > 0) & \
        (np.einsum("ci,ci->c", v_right, rho) > 0)


def _merged_ok(left, right):
    """The criterion of a tree made of ``left`` then ``right`` (in time order):
    around the whole tree, and across the junction both ways (Stan's extra
    checks). Each half is a dict with p/v at its first ("beg") and last
    ("end") state and its momentum sum ``rho``."""
    rho = left["rho"] + right["rho"]
    ok = _no_u_turn(left["v_beg"], right["v_end"], rho)
    ok &= _no_u_turn(left["v_beg"], right["v_beg"], left["rho"] + right["p_beg"])
    ok &= _no_u_turn(left["v_end"], right["v_end"], right["rho"] + left["p_end"])
    return ok


def _merge(left, right):
    return {"p_beg": left["p_beg"], "v_beg": left["v_beg"], "p_end": right["p_end"],
            "v_end": right["v_end"], "rho": left["rho"] + right["rho"]}


def _where(mask, a, b):
    mask = np.asarray(mask, bool)
    if np.ndim(a) == 2 or np.ndim(b) == 2:
        mask = mask[:, None]
    return np.where(mask, a, b)


class NUTS(_Hamiltonian):
    r"""The No-U-Turn Sampler (Hoffman & Gelman 2014) in Stan's form:
    multinomial sampling of the trajectory, the generalised no-U-turn
    criterion, a maximum tree depth, and divergences flagged when the energy
    error exceeds ``max_delta_energy``.

    The interface, the chain contract and the warm-up are those of
    :class:`~zhusuan.mcmc.HMC` (``sample(bn, observed, latent)`` and
    ``run(...)``); instead of ``n_leapfrogs`` each iteration doubles its
    trajectory, forwards or backwards at random, until it turns back on
    itself or reaches ``2**max_tree_depth - 1`` leapfrog steps. The defaults
    are Stan's: step-size and diagonal mass-matrix adaptation on, target
    acceptance 0.8.

    Parameters
    ----------
    step_size : float
        Initial step size (the warm-up searches and adapts it).
    max_tree_depth : int
        Maximum number of doublings (Stan's 10).
    adapt_step_size, adapt_mass, dense_mass, target_acceptance_rate, gamma,
    t0, kappa, n_warmup, max_delta_energy, find_step_size
        As for :class:`~zhusuan.mcmc.HMC`.

    :attr:`HMCInfo.tree_depth` is the number of doublings of each chain's
    tree, :attr:`HMCInfo.n_steps` its number of leapfrog steps, and
    :attr:`HMCInfo.acceptance_rate` Stan's ``accept_stat__``.
    """

    #: What an iteration reports (for the docs).
    Info = HMCInfo

    def __init__(self, step_size: float = 1.0, max_tree_depth: int = 10,
                 adapt_step_size: bool = True, target_acceptance_rate: float = 0.8,
                 gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75,
                 adapt_mass: bool = True, dense_mass: bool = False,
                 n_warmup: int | None = None, max_delta_energy: float = 1000.0,
                 find_step_size: bool = True) -> None:
        super().__init__(step_size, adapt_step_size, target_acceptance_rate, gamma, t0,
                         kappa, adapt_mass, dense_mass, n_warmup, max_delta_energy,
                         find_step_size)
        self.max_tree_depth = _check_int("max_tree_depth", max_tree_depth, 1)

    def _trajectory(self, p0, h0):
        rng = self._rng
        c = len(h0)
        z0, g0 = np.asarray(self._z), np.asarray(self._grad)
        p0 = np.asarray(p0)
        v0 = self._velocity(p0)
        p0f = p0.astype(np.float64)
        # The tree so far, by its two ends in time order.
        left = {"z": z0, "p": p0, "g": g0, "v": v0}
        right = dict(left)
        rho = p0f.copy()
        log_sum_w = np.zeros(c)
        sample = {"z": z0, "g": g0, "log_prob": self._logp.copy(), "energy": h0.copy()}
        depth = np.zeros(c, np.int64)
        growing = np.ones(c, bool)
        diverging = np.zeros(c, bool)
        sum_accept = np.zeros(c)
        n_steps = np.zeros(c, np.int64)

        for j in range(self.max_tree_depth):
            if not growing.any():
                break
            forward = rng.random(c) < 0.5
            sign = np.where(forward, 1.0, -1.0)
            edge = {k: _where(forward, right[k], left[k]) for k in ("z", "p", "g")}
            sub = self._subtree(j, edge, sign, growing, h0)
            sum_accept += sub["sum_accept"]
            n_steps += sub["n_steps"]
            diverging |= sub["diverging"]
            ok = growing & sub["valid"]
            growing &= sub["valid"]
            depth += ok
            # Biased progressive sampling between the old tree and the subtree.
            u = rng.random(c)
            take = ok & ((sub["log_sum_w"] > log_sum_w)
                         | (u < np.exp(np.minimum(0.0, sub["log_sum_w"] - log_sum_w))))
            for k in sample:
                sample[k] = _where(take, sub["sample"][k], sample[k])
            log_sum_w = np.where(ok, np.logaddexp(log_sum_w, sub["log_sum_w"]),
                                 log_sum_w)
            # The merged tree's ends, and its no-U-turn criterion.
            old = {"p_beg": left["p"], "v_beg": left["v"], "p_end": right["p"],
                   "v_end": right["v"], "rho": rho}
            new = sub["tree"]  # in the order the states were added
            new_rev = {"p_beg": new["p_end"], "v_beg": new["v_end"],
                       "p_end": new["p_beg"], "v_end": new["v_beg"], "rho": new["rho"]}
            lo = {k: _where(forward, old[k], new_rev[k]) for k in old}
            hi = {k: _where(forward, new[k], old[k]) for k in old}
            persist = _merged_ok(lo, hi)
            last = sub["last"]
            for k in ("z", "p", "g", "v"):
                right[k] = _where(ok & forward, last[k], right[k])
                left[k] = _where(ok & ~forward, last[k], left[k])
            rho = _where(ok, rho + new["rho"], rho)
            growing &= persist

        accept_stat = np.where(n_steps > 0, sum_accept / np.maximum(n_steps, 1), 0.0)
        moved = np.any(sample["z"] != z0, axis=1)
        return {"z": sample["z"], "grad": sample["g"], "log_prob": sample["log_prob"],
                "accept_stat": accept_stat, "accepted": moved, "diverging": diverging,
                "energy": sample["energy"], "n_steps": n_steps, "tree_depth": depth}

    def _subtree(self, depth, edge, sign, active, h0):
        """Build, for every active chain, a subtree of ``2**depth`` states from
        ``edge`` in direction ``sign``; returns its summary."""
        rng = self._rng
        c = len(h0)
        z, p, g = edge["z"], edge["p"], edge["g"]
        going = active.copy()
        valid = active.copy()
        div = np.zeros(c, bool)
        log_sum_w = np.full(c, _NEG_INF)
        sample = {"z": z, "g": g, "log_prob": np.zeros(c), "energy": np.zeros(c)}
        sum_accept = np.zeros(c)
        n_steps = np.zeros(c, np.int64)
        slots = {}
        tree = None
        last = {"z": z, "p": p, "g": g, "v": self._velocity(p)}
        for n in range(2 ** depth):
            if not going.any():
                break
            zv, pv, gv, lp = self._leapfrog(z, p, g, self._step * sign * going)
            zn, pn, gn = zv.numpy(), pv.numpy(), gv.numpy()
            lp = lp.numpy().astype(np.float64)
            h = -lp + self._kinetic(pn)
            h = np.where(np.isnan(h), np.inf, h)
            delta = h - h0
            w = -delta
            leaf_div = going & ~(delta <= self.max_delta_energy)  # inf / nan too
            n_steps += going
            sum_accept += np.where(going, np.exp(np.minimum(0.0, w)), 0.0)
            # Uniform progressive (multinomial) sampling within the subtree.
            new_lsw = np.logaddexp(log_sum_w, w)
            with np.errstate(invalid="ignore"):
                take = going & (rng.random(c) < np.exp(w - new_lsw))
            leaf = {"z": zn, "g": gn, "log_prob": lp, "energy": h}
            for k in sample:
                sample[k] = _where(take, leaf[k], sample[k])
            log_sum_w = np.where(going, new_lsw, log_sum_w)
            vn = self._velocity(pn)
            pf = pn.astype(np.float64)
            info = {"p_beg": pf, "v_beg": vn, "p_end": pf, "v_end": vn, "rho": pf}
            turning = np.zeros(c, bool)
            k = 0
            while ((n + 1) >> k) & 1 == 0:  # a right half: merge with its left
                leftk = slots[k]
                turning |= ~_merged_ok(leftk, info)
                info = _merge(leftk, info)
                k += 1
            slots[k] = info
            if k == depth:
                tree = info
            for key, val in (("z", zn), ("p", pn), ("g", gn), ("v", vn)):
                last[key] = _where(going, val, last[key])
            div |= leaf_div
            stop = going & (leaf_div | turning)
            valid &= ~stop
            going &= ~stop
            z, p, g = zv, pv, gv
        if tree is None:  # every chain stopped early: no valid subtree anywhere
            zero = np.zeros_like(np.asarray(edge["p"], np.float64))
            tree = {"p_beg": zero, "v_beg": zero, "p_end": zero, "v_end": zero,
                    "rho": zero}
        return {"valid": valid, "diverging": div, "log_sum_w": log_sum_w,
                "sample": sample, "sum_accept": sum_accept, "n_steps": n_steps,
                "tree": tree, "last": last}

