r"""Closed-form Kullback-Leibler divergences ``KL(p || q)``.

:func:`kl_divergence` dispatches on the exact classes of ``p`` and ``q``;
:func:`register_kl` adds a pair::

    @register_kl(MyDist, MyDist)
    def _kl_mine(p, q):
        return ...  # a Var of the broadcast batch shape of p and q

The result has the broadcast **batch** shape of ``p`` and ``q``: value axes of
multivariate families are summed, ``group_ndims`` is **not** applied (reduce
the result yourself). When ``p`` and ``q`` differ in dtype, the computation
runs in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jittor as jt

from ..kernels import broadcast_shapes
from ..numerics import const, dtype_name, softplus
from ..numerics import digamma as _digamma
from ..numerics import lgamma as _lgamma
from .base import Distribution
from .bernoulli import Bernoulli
from .multivariate import (
    Categorical,
    Dirichlet,
    MultivariateNormalCholesky,
    OnehotCategorical,
    _expand,
    _forward_substitution,
    _log_abs_det_tril,
    _log_softmax,
    _sum_last2,
    _tril_mask,
)
from .normal import Normal
from .univariate import Beta, Gamma, Laplace, Uniform

__all__ = ["kl_divergence", "register_kl"]

KLFunction = Callable[[Any, Any], jt.Var]
_KL_REGISTRY: dict[tuple[type, type], KLFunction] = {}


def register_kl(type_p: type[Distribution], type_q: type[Distribution]
                ) -> Callable[[KLFunction], KLFunction]:
    """Decorator registering ``fn(p, q)`` as the closed form of ``KL(p || q)``
    for ``p`` of exactly class ``type_p`` and ``q`` of exactly ``type_q``
    (subclasses are not matched: a Concrete is not an ExpConcrete here)."""
    for t in (type_p, type_q):
        if not isinstance(t, type):
            raise TypeError(f"register_kl: expected two classes, got {t!r}")

    def decorator(fn: KLFunction) -> KLFunction:
        _KL_REGISTRY[(type_p, type_q)] = fn
        return fn

    return decorator


def kl_divergence(p: Distribution, q: Distribution) -> jt.Var:
    r"""``KL(p || q) = E_p[log p(x) - log q(x)]`` in closed form.

    Returns a Var of the broadcast batch shape of ``p`` and ``q`` (no
    ``group_ndims`` reduction). TypeError naming both classes when no closed
    form is registered for the pair.
    """
    fn = _KL_REGISTRY.get((type(p), type(q)))
    if fn is None:
        pn, qn = type(p).__name__, type(q).__name__
        raise TypeError(
            f"kl_divergence: no closed form registered for KL({pn} || {qn}); "
            f"add one with @register_kl({pn}, {qn})"
        )
    _check_batch_shapes(p, q)
    return fn(p, q)


def _batch_params(d, who):
    """``[(label, batch shape)]`` of ``d``'s parameters: its parameters'
    shapes without their event axes, labelled ``who.name``."""
    if hasattr(d, "_event_params"):
        pairs = d._event_params()
        names = list(d._param_attrs)
        labels = []
        for v, _ in pairs:
            name = next((a for a in names if getattr(d, a, None) is v), "parameter")
            labels.append(name.lstrip("_"))
        return [(f"{who}.{lab}", list(v.shape)[: len(v.shape) - nd])
                for lab, (v, nd) in zip(labels, pairs, strict=True)]
    return [(f"{who}.{lab}", list(v.shape))
            for lab, v in zip(d._param_labels(), d._params(), strict=True)]


def _check_batch_shapes(p, q):
    """ValueError naming every parameter of ``p`` and ``q`` with its (batch)
    shape when their batch shapes do not broadcast."""
    try:
        pairs = _batch_params(p, "p") + _batch_params(q, "q")
    except (NotImplementedError, AttributeError):
        return  # a user's family without zhusuan's parameter hooks: its KL checks
    try:
        broadcast_shapes(*[s for _, s in pairs], what=[n for n, _ in pairs])
    except ValueError as exc:
        raise ValueError(
            f"kl_divergence(KL({type(p).__name__} || {type(q).__name__})): {exc}"
        ) from None


# -- helpers ---------------------------------------------------------------------


def _common(p, q, *vs):
    """``vs`` cast to the wider of the two distributions' dtypes, and that dtype."""
    dt = "float64" if "float64" in (p.dtype, q.dtype) else "float32"
    return [v if dtype_name(v) == dt else v.cast(dt) for v in vs], dt


def _c(value, dt):
    return const(value, dt)


def _check_same_event(p, q, pshape, qshape):
    if list(pshape) != list(qshape):
        raise ValueError(
            f"kl_divergence: KL({type(p).__name__} || {type(q).__name__}) needs equal "
            f"event shapes, got {list(pshape)} and {list(qshape)}"
        )


# -- pairs -----------------------------------------------------------------------


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    r""".. math::
        \log\frac{\sigma_q}{\sigma_p}
        + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12
    """
    (mp, sp, mq, sq), dt = _common(p, q, p.mean, p._scale, q.mean, q._scale)
    # The log-scale in the common dtype (a float32 std promoted before its log).
    lp = sp if p._use_logstd else jt.log(sp)
    lq = sq if q._use_logstd else jt.log(sq)
    mp, lp, mq, lq = _expand(mp, lp, mq, lq)
    d = lq - lp
    z = (mp - mq) * jt.exp(-lq)
    return d + _c(0.5, dt) * (jt.exp(_c(-2.0, dt) * d) + z * z - _c(1.0, dt))


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    r"""In logits ``a`` (of p) and ``b`` (of q):

    .. math::
        \sigma(a)(a - b) - \operatorname{softplus}(a) + \operatorname{softplus}(b)

    The divergence is unchanged when both logits change sign (the two outcomes
    swap), so it is evaluated at ``a <= 0``, where ``sigma(a)`` and
    ``softplus(a)`` are small and no large terms cancel.
    """
    (a, b), dt = _common(p, q, p.logits, q.logits)
    a, b = _expand(a, b)
    flip = a > _c(0.0, dt)
    a2 = jt.ternary(flip, -a, a)
    b2 = jt.ternary(flip, -b, b)
    # sigmoid(a2) for a2 <= 0 as e / (1 + e), e = exp(a2) <= 1: no overflow,
    # full relative precision. (jt.sigmoid bottoms out at exp(-300) in float64.)
    e = jt.exp(a2)
    return e / (_c(1.0, dt) + e) * (a2 - b2) - softplus(a2) + softplus(b2)


def _kl_categorical(p, q):
    (lp, lq), dt = _common(p, q, p.logits, q.logits)
    _check_same_event(p, q, lp.shape[-1:], lq.shape[-1:])
    lp, lq = _expand(_log_softmax(lp), _log_softmax(lq))
    prob = jt.exp(lp)
    # Classes impossible under p (probability exactly 0, e.g. logits -inf)
    # contribute 0, not 0 * inf.
    term = jt.ternary(prob == _c(0.0, dt), jt.zeros_like(prob), prob * (lp - lq))
    return term.sum(-1)


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    r""".. math:: \sum_k p_k (\log p_k - \log q_k)

    with ``log p = log_softmax(logits_p)`` (max-shifted)."""
    return _kl_categorical(p, q)


@register_kl(OnehotCategorical, OnehotCategorical)
def _kl_onehot_onehot(p, q):
    r""".. math:: \sum_k p_k (\log p_k - \log q_k)"""
    return _kl_categorical(p, q)


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    r""".. math::
        \log\Gamma(a_0) - \sum_k\log\Gamma(a_k) - \log\Gamma(b_0)
        + \sum_k\log\Gamma(b_k) + \sum_k (a_k - b_k)(\psi(a_k) - \psi(a_0))

    with ``a = alpha_p``, ``b = alpha_q`` and ``a_0 = sum_k a_k``."""
    (a, b), dt = _common(p, q, p.alpha, q.alpha)
    _check_same_event(p, q, a.shape[-1:], b.shape[-1:])
    a, b = _expand(a, b)
    a0, b0 = a.sum(-1), b.sum(-1)
    psi_a0 = _digamma(a0).reshape(list(a0.shape) + [1])
    return (_lgamma(a0) - _lgamma(b0) + (_lgamma(b) - _lgamma(a)).sum(-1)
            + ((a - b) * (_digamma(a) - psi_a0)).sum(-1))


@register_kl(MultivariateNormalCholesky, MultivariateNormalCholesky)
def _kl_mvn_mvn(p, q):
    r""".. math::
        \sum_i\log|L^q_{ii}| - \sum_i\log|L^p_{ii}|
        + \tfrac12\Bigl(\lVert L_q^{-1}L_p\rVert_F^2
        + \lVert L_q^{-1}(\mu_q - \mu_p)\rVert^2 - D\Bigr)

    with two forward substitutions (only the lower triangles are read)."""
    (mp, tp, mq, tq), dt = _common(p, q, p.mean, p.cov_tril, q.mean, q.cov_tril)
    _check_same_event(p, q, mp.shape[-1:], mq.shape[-1:])
    d = int(mp.shape[-1])
    mask = _tril_mask(d, dt)
    tp, tq = tp * mask, tq * _tril_mask(d, dt)
    a = _forward_substitution(tq, tp)
    diff = mq - mp
    z = _forward_substitution(tq, diff.reshape(list(diff.shape) + [1]))
    frob = _sum_last2(a * a)
    maha = _sum_last2(z * z)
    log_det = _log_abs_det_tril(tq) - _log_abs_det_tril(tp)
    frob, maha, log_det = _expand(frob, maha, log_det)
    return log_det + _c(0.5, dt) * (frob + maha - _c(float(d), dt))


# -- univariate families ------------------------------------------------------------


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    r"""Shape ``alpha`` and rate ``beta``:

    .. math::
        (\alpha_p - \alpha_q)\psi(\alpha_p) - \log\Gamma(\alpha_p)
        + \log\Gamma(\alpha_q) + \alpha_q(\log\beta_p - \log\beta_q)
        + \alpha_p\frac{\beta_q - \beta_p}{\beta_p}
    """
    (ap, bp, aq, bq), dt = _common(p, q, p.alpha, p.beta, q.alpha, q.beta)
    ap, bp, aq, bq = _expand(ap, bp, aq, bq)
    return ((ap - aq) * _digamma(ap) - _lgamma(ap) + _lgamma(aq)
            + aq * (jt.log(bp) - jt.log(bq)) + ap * ((bq - bp) / bp))


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    r""".. math::
        \log B(a_q, b_q) - \log B(a_p, b_p) + (a_p - a_q)\psi(a_p)
        + (b_p - b_q)\psi(b_p) + (a_q - a_p + b_q - b_p)\psi(a_p + b_p)

    with ``log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b)``."""
    (ap, bp, aq, bq), dt = _common(p, q, p.alpha, p.beta, q.alpha, q.beta)
    ap, bp, aq, bq = _expand(ap, bp, aq, bq)
    sp, sq = ap + bp, aq + bq
    log_b_q = _lgamma(aq) + _lgamma(bq) - _lgamma(sq)
    log_b_p = _lgamma(ap) + _lgamma(bp) - _lgamma(sp)
    return (log_b_q - log_b_p + (ap - aq) * _digamma(ap) + (bp - bq) * _digamma(bp)
            + (sq - sp) * _digamma(sp))


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    r""".. math::
        \log\frac{b_q - a_q}{b_p - a_p} \text{ if } [a_p, b_p] \subseteq
        [a_q, b_q], \text{ else } +\infty
    """
    (ap, bp, aq, bq), dt = _common(p, q, p.minval, p.maxval, q.minval, q.maxval)
    ap, bp, aq, bq = _expand(ap, bp, aq, bq)
    inside = jt.logical_and(aq <= ap, bp <= bq)
    kl = jt.log(bq - aq) - jt.log(bp - ap)
    return jt.ternary(inside, kl, _c(math.inf, dt).broadcast(list(kl.shape)))


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    r""".. math::
        \log\frac{b_q}{b_p} + \frac{|\mu_p - \mu_q|}{b_q}
        + \frac{b_p}{b_q} e^{-|\mu_p - \mu_q| / b_p} - 1
    """
    (mp, sp, mq, sq), dt = _common(p, q, p.loc, p.scale, q.loc, q.scale)
    mp, sp, mq, sq = _expand(mp, sp, mq, sq)
    dist = jt.abs(mp - mq)
    return (jt.log(sq) - jt.log(sp) + dist / sq
            + (sp / sq) * jt.exp(-dist / sp) - _c(1.0, dt))
