"""Closed-form KL divergences between distributions, elementwise."""

from __future__ import annotations

import jittor as jt

from ..numerics import const

__all__ = ["analytic_kl_elementwise"]


def analytic_kl_elementwise(q, p):
    r"""``KL(q || p)`` per element, for the pairs with a closed form here.

    Normal-Normal:

    .. math::
        \log\frac{\sigma_p}{\sigma_q}
        + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{2\sigma_p^2} - \frac12
    """
    qn, pn = type(q).__name__, type(p).__name__
    if qn == "Normal" and pn == "Normal":
        dt = q.dtype
        var_ratio = jt.exp(2 * (q.logstd - p.logstd))
        diff = (q.mean - p.mean) * jt.exp(-p.logstd)
        half = const(0.5, dt)
        return half * (var_ratio + diff * diff) - half - (q.logstd - p.logstd)
    raise NotImplementedError(f"no closed-form KL between {qn} and {pn}")
