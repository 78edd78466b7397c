r"""Multivariate distributions: categorical families, Dirichlet, Gaussians with
Cholesky factors and the Concrete (Gumbel-softmax) relaxations.

Shapes. A parameter may carry *event axes* (the classes of ``logits``, the
two axes of a Cholesky factor); its batch shape is what remains. The
distribution's ``batch_shape`` is the broadcast of its parameters' batch
shapes, and a sample has shape ``[n_samples] + batch_shape + value_shape``:

====================================  ===============  ==========================
family                                value_shape      parameters (event axes)
====================================  ===============  ==========================
Categorical                           ``[]``           logits/probs ``[..., K]``
OnehotCategorical                     ``[K]``          logits/probs ``[..., K]``
Multinomial, UnnormalizedMultinomial  ``[K]``          logits/probs ``[..., K]``
Dirichlet                             ``[K]``          alpha ``[..., K]``
MultivariateNormalCholesky            ``[D]``          mean ``[..., D]``,
                                                       cov_tril ``[..., D, D]``
MatrixVariateNormalCholesky           ``[N, M]``       mean ``[..., N, M]``,
                                                       u_tril ``[..., N, N]``,
                                                       v_tril ``[..., M, M]``
ExpConcrete, Concrete                 ``[K]``          logits/probs ``[..., K]``,
                                                       temperature (scalar or
                                                       batch-shaped)
====================================  ===============  ==========================

``log_prob`` returns one value per event (batch shape), summed over the last
``group_ndims`` batch axes. Densities are written in log space (log-softmax
with a max shift, ``lgamma``, triangular solves) and never ``log(p + eps)``:
probabilities are clamped into the open unit interval the dtype can represent
(:func:`zhusuan.numerics.clamp_probs`) before their log is taken.

The helpers :func:`zhusuan.numerics.lgamma` and ``digamma`` are written with plain Jittor
ops (Jittor's own ``lgamma`` has no gradient and ``digamma`` computes in
float32), accurate to a few ulp in float64. Triangular solves (the Gaussians
with Cholesky factors, and their KL divergence) are forward substitutions run
inside the graph by ``jt.numpy_code`` (NumPy on the CPU, CuPy on a GPU), with
their adjoint written out (:class:`_TriangularSolve`).
"""

from __future__ import annotations

import math
from typing import Any

import jittor as jt
import numpy as np

from .. import kernels
from ..numerics import VarLike, clamp_probs, const, digamma, dtype_name
from ..numerics import lgamma as _lgamma
from .base import Distribution, _rand, _randn, upstream_options
from .gamma import standard_gamma

__all__ = [
    "Categorical",
    "OnehotCategorical",
    "Multinomial",
    "UnnormalizedMultinomial",
    "Dirichlet",
    "MultivariateNormalCholesky",
    "MatrixVariateNormalCholesky",
    "ExpConcrete",
    "Concrete",
]

_LOG_2PI = math.log(2.0 * math.pi)
_HALF_LOG_2PI = 0.5 * _LOG_2PI
# validate_args accepts a vector as a point of the simplex when its entries
# are >= 0 and its sum is within K * _SIMPLEX_TOL of one: the square root of
# the dtype's epsilon. A vector normalised in the dtype misses 1 by a few
# hundred ulps at most (a low-temperature Concrete sample: the entries carry
# errors of a few eps times |logits + G| / tau), far inside; one that was not
# normalised misses by far more.
_SIMPLEX_TOL = {"float32": 2.0**-11.5, "float64": 2.0**-26}


# -- numerics --------------------------------------------------------------------


def _c(value, dt):
    """A typed constant (see :func:`zhusuan.numerics.const`). A fresh Var per
    use: Jittor 1.3.11 miscompiles float64 kernels that read one shape-[1]
    input twice (zhusuan/kernels/reference.py, ``_expand``)."""
    return const(value, dt)


def _array(values, dt):
    """A constant Var holding the numpy array ``values`` exactly in ``dt``."""
    with jt.flag_scope(auto_convert_64_to_32=0):
        return jt.array(np.asarray(values, dtype=dt))


def _expand(*vs):
    """Broadcast every Var to the common shape explicitly (lazy; never
    materialised). Avoids the shape-[1] miscompilation described in
    :func:`_c`."""
    full = list(kernels.broadcast_shapes(*[list(v.shape) for v in vs]))
    return [v if list(v.shape) == full else v.broadcast(full) for v in vs]


def _where(cond, a, b):
    a, b = _expand(a, b)
    return jt.ternary(cond, a, b)


def _log_softmax(logits):
    """``logits - logsumexp(logits)`` over the last axis, computed as
    ``s - log(sum(exp(s)))`` with ``s = logits - max(logits)`` (the max shift,
    treated as a constant: it cancels in the value and the gradient).

    Written here rather than with :func:`zhusuan.numerics.logsumexp`, whose
    guard against an infinite maximum (``jt.isinf``, a code op) costs extra
    kernels per rank and dtype; a log-softmax needs no guard for finite
    logits, and a row whose logits are all ``-inf`` has no log-softmax."""
    top = jt.max(logits, dim=-1, keepdims=True).detach()
    shifted = logits - top
    return shifted - jt.log(jt.exp(shifted).sum(-1, keepdims=True))


def _xlogp(x, logp):
    """``x * logp`` with ``0 * (-inf) = 0`` (a class of probability zero that
    was not observed contributes nothing); gradients are those of the
    product wherever ``logp`` is finite."""
    x, logp = _expand(x, logp)
    dt = dtype_name(x)
    # Compared with -inf rather than jt.isinf (a code op compiled per rank).
    dead = jt.logical_and(x == _c(0.0, dt), logp == _c(-math.inf, dt))
    safe = jt.ternary(dead, jt.zeros_like(logp), logp)
    return x * safe


def _gumbel(shape, dt):
    """Standard Gumbel noise ``-log(-log(u))`` with ``u`` uniform and clamped
    to ``[tiny, 1 - ulp/2]``, the open unit interval of ``dt``, so both logs
    are finite (bounded by about -6.6 and 36.7 in float64, -4.5 and 16.6 in
    float32)."""
    u = clamp_probs(_rand(shape, dt))
    return -jt.log(-jt.log(u))


def _tril_mask(d, dt):
    return _array(np.tril(np.ones((d, d))), dt)


def _sum_last2(x):
    """Sum over the last two axes in one reduction."""
    rank = len(x.shape)
    return x.sum(dims=(rank - 2, rank - 1))


def _log_abs_det_tril(mat):
    """``sum_i log|L_ii|`` of ``[..., D, D]``: the log-determinant of a
    triangular factor. The off-diagonal entries are replaced by 1 before the
    log (value and gradient 0 there), so one reduction does it."""
    d = int(mat.shape[-1])
    eye = _array(np.eye(d), dtype_name(mat)) > _c(0.5, dtype_name(mat))
    eye, mat = _expand(eye, mat)
    safe = jt.ternary(eye, mat, jt.ones_like(mat))
    return _sum_last2(jt.log(jt.abs(safe)))


def _sum_to_shape(np_, g, shape):
    """Sum the broadcast axes of ``g`` away so that it has ``shape``."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _np_forward(np_, tril, rhs):
    """Row-oriented forward substitution, ``z_j = (b_j - sum_{i<j} L_ji z_i) /
    L_jj``, vectorised over the (broadcast) batch axes, in the inputs' dtype."""
    d = tril.shape[-1]
    batch = np.broadcast_shapes(tril.shape[:-2], rhs.shape[:-2])  # shapes only
    z = np_.zeros(batch + rhs.shape[-2:], dtype=rhs.dtype)
    for j in range(d):
        acc = rhs[..., j, :] - (tril[..., j, :j, None] * z[..., :j, :]).sum(-2)
        z[..., j, :] = acc / tril[..., j, j, None]
    return z


def _np_backward(np_, tril, z, grad_z):
    """The adjoint of :func:`_np_forward`: ``dB = L^{-T} dZ`` by back
    substitution and ``dL = -tril(dB Z^T)``."""
    d = tril.shape[-1]
    gb = np_.zeros(z.shape, dtype=z.dtype)
    for j in range(d - 1, -1, -1):
        below = (tril[..., j + 1:, j, None] * gb[..., j + 1:, :]).sum(-2)
        acc = grad_z[..., j, :] - below
        gb[..., j, :] = acc / tril[..., j, j, None]
    gl = -(gb[..., :, None, :] * z[..., None, :, :]).sum(-1)
    return np_.tril(gl), gb


class _TriangularSolve(jt.Function):
    """``Z = L^{-1} B`` for lower-triangular ``L`` (only its lower triangle is
    read), computed by substitution inside the graph (``jt.numpy_code``: NumPy
    on the CPU, CuPy on a GPU) with its adjoint written out. One op instead
    of a Jittor loop whose kernels (forward and autodiff) cost ~20 compiles
    per rank and dtype."""

    def execute(self, tril, rhs, right=False):
        batch = list(kernels.broadcast_shapes(list(tril.shape[:-2]),
                                              list(rhs.shape[:-2])))
        shape = batch + list(rhs.shape[-2:])
        self._tril_shape = list(tril.shape)
        self._rhs_shape = list(rhs.shape)
        self._right = right

        def forward(np_, data):
            t, b = data["inputs"]
            if right:  # Z = B L^{-T}, i.e. Z^T = L^{-1} B^T (NumPy views)
                data["outputs"][0][...] = _np_forward(np_, t, b.swapaxes(-1, -2)
                                                      ).swapaxes(-1, -2)
            else:
                data["outputs"][0][...] = _np_forward(np_, t, b)

        self._tril = tril
        self._z = jt.numpy_code(shape, rhs.dtype, [tril, rhs], forward)
        return self._z

    def grad(self, grad_z):
        if grad_z is None:
            return None, None, None
        tril_shape, rhs_shape, right = self._tril_shape, self._rhs_shape, self._right

        def backward(np_, data):
            t, z, g = data["inputs"]
            if right:
                gl, gb = _np_backward(np_, t, z.swapaxes(-1, -2), g.swapaxes(-1, -2))
                gb = gb.swapaxes(-1, -2)
            else:
                gl, gb = _np_backward(np_, t, z, g)
            data["outputs"][0][...] = _sum_to_shape(np_, gl, tril_shape)
            data["outputs"][1][...] = _sum_to_shape(np_, gb, rhs_shape)

        dt = self._z.dtype
        grad_l, grad_b = jt.numpy_code([tril_shape, rhs_shape], [dt, dt],
                                       [self._tril, self._z, grad_z], backward)
        return grad_l, grad_b, None


def _forward_substitution(tril, rhs):
    r"""``Z`` with ``L Z = B`` for lower-triangular ``L`` ``[..., D, D]`` and
    ``B`` ``[..., D, K]`` (batch axes broadcast); only the lower triangle of
    ``L`` is read.

    Forward substitution is backward stable (Higham, *Accuracy and Stability
    of Numerical Algorithms*, Thm 8.5): the result solves ``(L + dL) Z = B``
    with ``|dL| <= D u |L|``, and in practice is accurate to a few ulp even
    for ill-conditioned ``L``, where an explicit inverse loses up to
    ``cond(L) * u``. It runs in the dtype of its inputs.
    """
    return _TriangularSolve.apply(tril, rhs, False)


def _right_substitution(tril, rhs):
    """``B L^{-T}`` for lower-triangular ``L`` ``[..., K, K]`` and ``B``
    ``[..., D, K]``: the forward substitution of :func:`_forward_substitution`
    applied to ``B^T``, transposed in NumPy (no Jittor transpose kernels)."""
    return _TriangularSolve.apply(tril, rhs, True)


def _swap_last(x):
    rank = len(x.shape)
    return x.permute(*range(rank - 2), rank - 1, rank - 2)


def _lower_matmul(mat, x):
    """``mat @ x`` over the last axes: ``[..., D, D] x [..., D, K]``, as a
    broadcast product and a sum (exact in float64; no batched-matmul
    broadcasting rules to rely on)."""
    m = mat.reshape(list(mat.shape) + [1])              # [..., D, D, 1]
    v = x.reshape(list(x.shape[:-2]) + [1] + list(x.shape[-2:]))  # [..., 1, D, K]
    return (m * v).sum(-2)


# -- shared base ---------------------------------------------------------------


class _Multivariate(Distribution):
    """Shape logic for families whose parameters carry event axes.

    Subclasses list ``(Var, event_ndims)`` pairs in ``_event_params`` and
    implement ``_log_prob_event(given)``: the log-density of each event,
    whose shape is the broadcast batch shape of the value and the parameters.
    """

    def _init_base(self, settings, *params):
        """The start of every constructor here: reject unknown keyword
        arguments, set the base options from ``settings`` ``(dtype,
        group_ndims, is_reparameterized, validate_args, kwargs)`` as the
        constructor got them, and infer the dtype from ``params``."""
        dtype, group_ndims, is_reparameterized, validate_args, kwargs = settings
        opts = upstream_options(type(self).__name__, kwargs)
        _Multivariate.__init__(self, dtype=dtype, group_ndims=group_ndims,
                               is_reparameterized=is_reparameterized,
                               validate_args=validate_args, **opts)
        self._infer_dtype(*params)

    def _event_params(self):
        raise NotImplementedError

    def _params(self):
        return [v for v, _ in self._event_params()]

    @property
    def batch_shape(self) -> list[int]:
        shapes = [list(v.shape)[: len(v.shape) - nd] for v, nd in self._event_params()]
        return list(kernels.broadcast_shapes(*shapes))

    def _full_shape(self, given):
        name = type(self).__name__
        g = list(given.shape)
        vs = list(self._value_shape)
        if vs:
            if len(g) < len(vs) or g[len(g) - len(vs):] != vs:
                raise ValueError(
                    f"{name}: value of shape {g} does not end with the value shape {vs}"
                )
            g = g[: len(g) - len(vs)]
        try:
            batch = kernels.broadcast_shapes(g, self.batch_shape,
                                             what=["value batch", "parameter batch"])
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return list(batch) + vs

    def _log_prob_reduced(self, given, axes, weight):
        if dtype_name(given) != self.dtype:
            given = given.cast(self.dtype)
        full = self._full_shape(given)
        batch = full[: len(full) - len(self._value_shape)] or [1]
        elem = self._log_prob_event(given)
        if list(elem.shape) != batch:
            elem = elem.broadcast(batch)
        # Axes past the batch rank are value axes (a StochasticTensor lists
        # them with the group axes); the event density has already summed them.
        axes = [a for a in axes if a < len(full) - len(self._value_shape)]
        return self._reduce(elem, axes, weight)

    def _log_prob_event(self, given):
        raise NotImplementedError

    # -- parameter parsing shared by the families below ---------------------------
    def _check_one_of(self, a, b, name_a, name_b):
        if (a is None) == (b is None):
            raise ValueError(
                f"{type(self).__name__}: pass exactly one of '{name_a}' or '{name_b}' "
                f"(got {'both' if a is not None else 'neither'})"
            )

    def _event_param(self, value, name, ndims, what, neg_inf_ok=False):
        """A parameter with ``ndims`` event axes; ValueError naming it if it has
        fewer axes (checked before Jittor turns a scalar into shape [1])."""
        var = isinstance(value, jt.Var)
        shape = list(value.shape) if var else list(np.shape(value))
        if len(shape) < ndims:
            axes = "axis" if ndims == 1 else "axes"
            raise ValueError(
                f"{type(self).__name__}: {name} must have at least {ndims} {axes} "
                f"({what}), got shape {shape}"
            )
        return self._param(value, name, neg_inf_ok=neg_inf_ok)

# The checks below run on NumPy copies: validation happens once per
# construction or observed value, off the hot path, and costs no Jittor
# kernels to compile.


def _check_simplex(p, what):
    """ValueError unless ``p >= 0`` and each slice sums to 1 (see
    ``_SIMPLEX_TOL``)."""
    v = p.numpy()
    tol = _SIMPLEX_TOL[dtype_name(p)] * v.shape[-1]
    neg = bool((v < 0).any())
    off = bool((np.abs(v.sum(-1, dtype=np.float64) - 1.0) > tol).any())
    if neg or off:
        raise ValueError(
            f"{what} must lie on the simplex (entries >= 0 summing to 1 over the "
            f"last axis), shape {list(p.shape)}"
            + (": found a negative entry" if neg else ": a slice does not sum to 1")
        )


def _check_positive(v, what):
    n_bad = int((~(v.numpy() > 0)).sum())
    if n_bad:
        raise ValueError(f"{what} must be > 0 (shape {list(v.shape)}): {n_bad} of "
                         f"{v.numel()} entries are not")


def _check_broadcast(name, shapes, what):
    try:
        return list(kernels.broadcast_shapes(*shapes, what=what))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


# -- categorical families ------------------------------------------------------------


class _Categories(_Multivariate):
    """Families parameterised by ``logits`` or ``probs`` over ``K`` categories
    on the last axis: the shared set-up, the ``probs`` property and, by
    default, the logits as the only event parameter. A value is a length-``K``
    vector unless ``_vector_values`` is False (a class index)."""

    param_names: tuple[str, ...] = ("logits", "probs")
    is_continuous = False
    has_rsample = False
    _param_attrs: tuple[str, ...] = ("logits", "_probs")
    _vector_values = True

    def __init__(self, logits: VarLike | None = None, probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        self._init_categories(logits, probs, (dtype, group_ndims, is_reparameterized,
                                              validate_args, kwargs))

    def _event_params(self):
        return [(self.logits, 1)]

    def _init_categories(self, logits, probs, settings, others=()):
        """The set-up shared by the logits-or-probs families.

        ``settings`` is ``(dtype, group_ndims, is_reparameterized,
        validate_args, kwargs)`` as the constructor got them: unknown keyword
        arguments are rejected, the base options set, the dtype inferred from
        ``others`` (the class's other parameters) and the logits or probs
        (:meth:`_Multivariate._init_base`), and ``self.logits`` set
        (:meth:`_init_logits`); the value shape is
        ``[K]`` when ``_vector_values`` says so.
        """
        self._init_base(settings, *others, logits, probs)
        self._init_logits(logits, probs)
        if self._vector_values:
            self._value_shape = (self.n_categories,)

    def _init_logits(self, logits, probs):
        """Set ``self.logits`` (and ``self._probs`` if probs were given)."""
        name = type(self).__name__
        self._check_one_of(logits, probs, "logits", "probs")
        if probs is not None:
            self._probs = self._event_param(probs, "probs", 1, "the categories")
            if self.validate_args:
                _check_simplex(self._probs, f"{name}: probs")
            # Clamped into (0, 1) first: a probability of exactly 0 gives the
            # finite logit log(tiny) (about -708 in float64, -87 in float32).
            self.logits = jt.log(clamp_probs(self._probs))
        else:
            # -inf logits (a class of probability 0) are meaningful here.
            self.logits = self._event_param(logits, "logits", 1, "the categories",
                                            neg_inf_ok=True)
            self._probs = None
        self.n_categories = int(self.logits.shape[-1])

    @property
    def probs(self) -> jt.Var:
        """The probabilities: as given, or ``softmax(logits)``."""
        if self._probs is not None:
            return self._probs
        return jt.exp(_log_softmax(self.logits))

    def _category_entropy(self):
        """``-sum_k p_k log p_k`` from the log-softmax of the logits (a class
        of probability 0 adds 0), broadcast to the batch shape."""
        lsm = _log_softmax(self.logits)
        ent = -_xlogp(jt.exp(lsm), lsm).sum(-1)
        return jt.broadcast(ent, shape=self.batch_shape or [1])


class Categorical(_Categories):
    r"""Categorical distribution over the class indices ``{0, ..., K-1}`` of the
    last axis of ``logits`` (or ``probs``).

    .. math::
        \log p(x) = \ell_x - \log\sum_{k} e^{\ell_k}

    computed with a max-shifted log-sum-exp. ``probs`` (non-negative, over
    the last axis; normalised implicitly) are turned into logits by ``log``
    after clamping to the dtype's open unit interval.

    ``value_shape`` is ``[]`` and ``batch_shape`` is ``logits.shape[:-1]``.
    Samples are ``int32`` class indices (Gumbel-max: ``argmax(logits + G)``);
    ``log_prob`` accepts integer or float indices and gives ``-inf`` to values
    that are not a class index. ``dtype`` is the float dtype of the
    parameters and of ``log_prob``. Not reparameterisable.

    Parameters
    ----------
    logits : Var or array ``[..., K]``
        Unnormalised log-probabilities.
    probs : Var or array ``[..., K]``
        Probabilities (``validate_args`` checks that they lie on the simplex).
    """

    _vector_values = False

    def _index_moments(self):
        """The mean and variance of the class index, ``sum_k k p_k`` and
        ``sum_k (k - mean)^2 p_k``."""
        p = jt.exp(_log_softmax(self.logits))
        classes = _array(np.arange(self.n_categories), self.dtype)
        mean = (p * classes).sum(-1)
        dev = classes - mean.reshape(list(mean.shape) + [1])
        return mean, (p * dev * dev).sum(-1)

    @property
    def mean(self) -> jt.Var:
        """The mean of the class index, ``sum_k k p_k``."""
        return jt.broadcast(self._index_moments()[0], shape=self.batch_shape or [1])

    @property
    def variance(self) -> jt.Var:
        """The variance of the class index, ``sum_k (k - mean)^2 p_k``."""
        return jt.broadcast(self._index_moments()[1], shape=self.batch_shape or [1])

    def entropy(self) -> jt.Var:
        """``-sum_k p_k log p_k``."""
        return self._category_entropy()

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples) + [self.n_categories]
        idx, _ = jt.argmax(self.logits + _gumbel(shape, self.dtype), -1)
        return idx if str(idx.dtype) == "int32" else idx.cast("int32")

    def _validate_value(self, value, what):
        v = value.numpy()
        ok = (v == np.floor(v)) & (v >= 0) & (v <= self.n_categories - 1)
        if not bool(ok.all()):
            raise ValueError(
                f"{what}: Categorical values must be class indices in "
                f"[0, {self.n_categories - 1}]"
            )

    def _log_prob_event(self, given):
        dt = self.dtype
        lsm = _log_softmax(self.logits)                       # [..., K]
        x = given.reshape(list(given.shape) + [1])            # [..., 1]
        classes = _array(np.arange(self.n_categories), dt)     # [K]
        x, classes, lsm = _expand(x, classes, lsm)
        # Picking by a masked sum adds exact zeros (and sends no gradient to
        # the other entries, even infinite ones).
        picked = jt.ternary(x == classes, lsm, jt.zeros_like(lsm)).sum(-1)
        # A value that is not a class index gets -inf. (Elementwise, not
        # "no class matched": Jittor's max reduction gives -FLT_MAX, not -inf.)
        valid = jt.logical_and(given == jt.floor(given), given >= _c(0.0, dt))
        valid = jt.logical_and(valid, given <= _c(self.n_categories - 1, dt))
        picked, valid = _expand(picked, valid)
        neg_inf = _c(-math.inf, dt).broadcast(list(picked.shape))
        return jt.ternary(valid, picked, neg_inf)


class OnehotCategorical(_Categories):
    r"""Categorical distribution over one-hot vectors of length ``K``.

    .. math::
        \log p(x) = \sum_k x_k \Bigl(\ell_k - \log\sum_j e^{\ell_j}\Bigr)

    ``value_shape`` is ``[K]``; samples are one-hot vectors in the float dtype
    of the distribution (Gumbel-max). Not reparameterisable. See
    :class:`Categorical` for the parameters.
    """

    @property
    def mean(self) -> jt.Var:
        """The probabilities, ``[..., K]``."""
        return self._over_values(self.probs)

    @property
    def variance(self) -> jt.Var:
        """``p_k (1 - p_k)`` for each class."""
        p = self.probs
        return self._over_values(p * (const(1.0, self.dtype) - p))

    def entropy(self) -> jt.Var:
        """``-sum_k p_k log p_k``."""
        return self._category_entropy()

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        idx, _ = jt.argmax(self.logits + _gumbel(shape, self.dtype), -1)
        idx = idx.reshape(list(idx.shape) + [1]).cast(self.dtype)
        classes = _array(np.arange(self.n_categories), self.dtype)
        return (idx == classes).cast(self.dtype).reshape(shape)

    def _validate_value(self, value, what):
        v = value.numpy()
        if not (bool(((v == 0) | (v == 1)).all()) and bool((v.sum(-1) == 1).all())):
            raise ValueError(f"{what}: OnehotCategorical values must be one-hot "
                             f"vectors of length {self.n_categories}")

    def _log_prob_event(self, given):
        return _xlogp(given, _log_softmax(self.logits)).sum(-1)


def _check_counts(value, what, family, n=None):
    v = value.numpy()
    if not bool(((v == np.floor(v)) & (v >= 0)).all()):
        raise ValueError(f"{what}: {family} values must be non-negative integer counts")
    if n is not None and bool((v.sum(-1) != n).any()):
        raise ValueError(f"{what}: {family} counts must sum to n_experiments={n}")


class Multinomial(_Categories):
    r"""Multinomial distribution: the counts of ``n`` independent draws from a
    categorical distribution with ``K`` classes.

    .. math::
        \log p(x) = \log\Gamma(n + 1) - \sum_k \log\Gamma(x_k + 1)
                    + \sum_k x_k \log p_k,
        \qquad \log p_k = \ell_k - \log\sum_j e^{\ell_j}

    With ``normalize_logits=False`` the logits are taken to be normalised
    log-probabilities already (``log p_k = \ell_k``), as in ZhuSuan.

    ``value_shape`` is ``[K]``. Samples are float counts (``n_experiments``
    Gumbel-max categorical draws, counted per class). Not reparameterisable.

    Parameters
    ----------
    logits, probs : ``[..., K]``
        See :class:`Categorical`.
    n_experiments : int or None
        The number of draws ``n``. ``None``: ``n`` is inferred from each value
        as ``sum_k x_k`` (``log_prob`` only; ``sample`` then raises).
    normalize_logits : bool
        Whether ``log_prob`` normalises the logits.
    """

    param_names = ("logits", "probs", "n_experiments", "normalize_logits")

    def __init__(self, logits: VarLike | None = None, n_experiments: int | None = None,
                 normalize_logits: bool = True, probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        if n_experiments is not None and (
                isinstance(n_experiments, bool)
                or not isinstance(n_experiments, (int, np.integer))
                or n_experiments < 1):
            raise ValueError(
                f"{name}: n_experiments must be None or an integer >= 1, "
                f"got {n_experiments!r}"
            )
        self._init_categories(logits, probs, (dtype, group_ndims, is_reparameterized,
                                              validate_args, kwargs))
        self.n_experiments = None if n_experiments is None else int(n_experiments)
        self.normalize_logits = bool(normalize_logits)

    def _log_probs(self):
        return _log_softmax(self.logits) if self.normalize_logits else self.logits

    def _count_probs(self):
        """``n_experiments`` and the class probabilities of :meth:`log_prob`;
        NotImplementedError when ``n_experiments`` is None."""
        if self.n_experiments is None:
            raise NotImplementedError(
                "Multinomial: the mean and variance need an integer n_experiments "
                "(it is None)")
        return _c(float(self.n_experiments), self.dtype), jt.exp(self._log_probs())

    @property
    def mean(self) -> jt.Var:
        """``n p_k`` for each class. (The entropy has no closed form.)"""
        n, p = self._count_probs()
        return self._over_values(n * p)

    @property
    def variance(self) -> jt.Var:
        """``n p_k (1 - p_k)`` for each class."""
        n, p = self._count_probs()
        return self._over_values(n * p * (_c(1.0, self.dtype) - p))

    def _sample(self, n_samples):
        if self.n_experiments is None:
            raise NotImplementedError(
                "Multinomial: sampling needs an integer n_experiments (it is None)"
            )
        k, n, dt = self.n_categories, self.n_experiments, self.dtype
        shape = self._sample_shape(n_samples)
        logits = self.logits.reshape(list(self.logits.shape[:-1]) + [1, k])
        g = _gumbel(shape[:-1] + [n, k], dt)
        idx, _ = jt.argmax(logits + g, -1)                     # [..., n]
        idx = idx.reshape(list(idx.shape) + [1]).cast(dt)
        classes = _array(np.arange(k), dt)
        return (idx == classes).cast(dt).sum(-2)               # [..., K]

    def _validate_value(self, value, what):
        _check_counts(value, what, "Multinomial", self.n_experiments)

    def _log_prob_event(self, given):
        dt = self.dtype
        x = given
        if self.n_experiments is None:
            log_n_fact = _lgamma(x.sum(-1) + _c(1.0, dt))
        else:
            log_n_fact = _c(math.lgamma(self.n_experiments + 1.0), dt)
        log_x_fact = _lgamma(x + _c(1.0, dt)).sum(-1)
        return log_n_fact - log_x_fact + _xlogp(x, self._log_probs()).sum(-1)


class UnnormalizedMultinomial(_Categories):
    r"""The multinomial likelihood without its coefficient (ZhuSuan's
    ``UnnormalizedMultinomial``, e.g. for bag-of-words models):

    .. math::
        \log p(x) = \sum_k x_k \log p_k

    (not a normalised distribution over counts). ``value_shape`` is ``[K]``.
    ``sample`` raises NotImplementedError, as in ZhuSuan. See
    :class:`Multinomial` for the parameters.
    """

    param_names = ("logits", "probs", "normalize_logits")

    def __init__(self, logits: VarLike | None = None, normalize_logits: bool = True,
                 probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = False, validate_args: bool = False,
                 **kwargs: Any) -> None:
        self._init_categories(logits, probs, (dtype, group_ndims, is_reparameterized,
                                              validate_args, kwargs))
        self.normalize_logits = bool(normalize_logits)

    def _sample(self, n_samples):
        raise NotImplementedError(
            "UnnormalizedMultinomial does not support sampling: its number of "
            "experiments is not fixed (use Multinomial with n_experiments)"
        )

    def _validate_value(self, value, what):
        _check_counts(value, what, "UnnormalizedMultinomial")

    def _log_prob_event(self, given):
        logp = _log_softmax(self.logits) if self.normalize_logits else self.logits
        return _xlogp(given, logp).sum(-1)


# -- Dirichlet ------------------------------------------------------------------------


class Dirichlet(_Multivariate):
    r"""Dirichlet distribution on the probability simplex of dimension ``K``.

    .. math::
        \log p(x) = \log\Gamma\Bigl(\sum_k \alpha_k\Bigr)
                    - \sum_k \log\Gamma(\alpha_k)
                    + \sum_k (\alpha_k - 1) \log x_k

    ``value_shape`` is ``[K]``. Reparameterised sampling:
    ``g_k ~ Gamma(alpha_k, 1)`` from :func:`zhusuan.distributions.gamma.standard_gamma`
    (whose gradient with respect to ``alpha`` is the implicit
    reparameterisation gradient, Figurnov et al. 2018), then
    ``x = g / sum(g)``. In float32, concentrations far below 1 give draws
    ``g_k`` below the smallest normal number, which ``standard_gamma`` keeps
    at that number: such samples sit at ~1e-38 from the simplex's boundary.

    Parameters
    ----------
    alpha : Var or array ``[..., K]``
        Concentrations, > 0.
    """

    param_names = ("alpha",)
    is_continuous = True
    has_rsample = True
    _param_attrs = ("alpha",)

    def __init__(self, alpha: VarLike,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        self._init_base((dtype, group_ndims, is_reparameterized, validate_args, kwargs),
                        alpha)
        self.alpha = self._event_param(alpha, "alpha", 1, "the categories")
        if validate_args:
            _check_positive(self.alpha, "Dirichlet: alpha")
        self.n_categories = int(self.alpha.shape[-1])
        self._value_shape = (self.n_categories,)

    def _event_params(self):
        return [(self.alpha, 1)]

    def _total(self):
        """``alpha_0 = sum_k alpha_k``, broadcast back to the shape of
        ``alpha`` (explicitly: see ``_expand``)."""
        return self.alpha.sum(-1, keepdims=True).broadcast(list(self.alpha.shape))

    @property
    def mean(self) -> jt.Var:
        """``alpha_k / alpha_0``."""
        return self._over_values(self.alpha / self._total())

    @property
    def variance(self) -> jt.Var:
        """``m_k (1 - m_k) / (alpha_0 + 1)`` with ``m_k`` the mean, written
        ``(alpha_k / alpha_0) ((alpha_0 - alpha_k) / alpha_0) / (alpha_0 + 1)``."""
        a0 = self._total()
        m = self.alpha / a0
        return self._over_values(m * ((a0 - self.alpha) / a0) / (a0 + _c(1.0, self.dtype)))

    def entropy(self) -> jt.Var:
        """``log B(alpha) + (alpha_0 - K) digamma(alpha_0) - sum_k (alpha_k - 1)
        digamma(alpha_k)``."""
        dt = self.dtype
        a = self.alpha
        a0 = a.sum(-1)
        log_b = _lgamma(a).sum(-1) - _lgamma(a0)
        ent = (log_b + (a0 - _c(float(self.n_categories), dt)) * digamma(a0)
               - ((a - _c(1.0, dt)) * digamma(a)).sum(-1))
        return jt.broadcast(ent, shape=self.batch_shape or [1])

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        g = standard_gamma(self.alpha.broadcast(shape), "Dirichlet: alpha")
        return g / g.sum(-1, keepdims=True)

    def _validate_value(self, value, what):
        _check_simplex(value, f"{what}: Dirichlet values")

    def _log_prob_event(self, given):
        dt = self.dtype
        alpha = self.alpha
        norm = _lgamma(alpha.sum(-1)) - _lgamma(alpha).sum(-1)
        x, a1 = _expand(given, alpha - _c(1.0, dt))
        # (alpha - 1) log x with 0 * log 0 = 0: x_k = 0 with alpha_k = 1 is a
        # point of the support where the factor x_k^0 is 1.
        zero = jt.logical_and(x == _c(0.0, dt), a1 == _c(0.0, dt))
        safe_x = jt.ternary(zero, jt.ones_like(x), x)
        return norm + (a1 * jt.log(safe_x)).sum(-1)


# -- Gaussians with Cholesky factors ---------------------------------------------------


class MultivariateNormalCholesky(_Multivariate):
    r"""Multivariate normal distribution ``N(mean, L L^T)`` given the lower
    Cholesky factor ``L = cov_tril`` of its covariance.

    .. math::
        \log p(x) = -\tfrac{D}{2}\log 2\pi - \sum_i \log|L_{ii}|
                    - \tfrac12 \lVert L^{-1}(x - \mu)\rVert^2

    ``L^{-1}(x - mu)`` is computed by forward substitution in the dtype of the
    parameters; only the lower triangle of ``cov_tril`` is read (also by the
    sampler), and ``validate_args`` rejects a nonzero upper triangle or a
    non-positive diagonal. ``value_shape`` is ``[D]``.

    Reparameterised sampling: ``x = mean + L eps`` with ``eps ~ N(0, I)``.

    Parameters
    ----------
    mean : Var or array ``[..., D]``
    cov_tril : Var or array ``[..., D, D]``
        Lower-triangular with positive diagonal.
    """

    param_names = ("mean", "cov_tril")
    is_continuous = True
    has_rsample = True
    _param_attrs = ("mean", "cov_tril")

    def __init__(self, mean: VarLike, cov_tril: VarLike,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        self._init_base((dtype, group_ndims, is_reparameterized, validate_args, kwargs),
                        mean, cov_tril)
        self.mean = self._event_param(mean, "mean", 1, "the dimensions")
        self.cov_tril = self._event_param(cov_tril, "cov_tril", 2, "a D x D matrix")
        d = int(self.mean.shape[-1])
        lshape = list(self.cov_tril.shape)
        if lshape[-2:] != [d, d]:
            raise ValueError(
                f"{name}: cov_tril of shape {lshape} does not match mean of shape "
                f"{list(self.mean.shape)}: its last two axes must be [{d}, {d}]"
            )
        _check_broadcast(name, [list(self.mean.shape[:-1]), lshape[:-2]],
                         ["mean batch", "cov_tril batch"])
        if validate_args:
            _check_cholesky(self.cov_tril, f"{name}: cov_tril")
        self._value_shape = (d,)

    def _event_params(self):
        return [(self.mean, 1), (self.cov_tril, 2)]

    def _tril(self):
        d = self._value_shape[0]
        return self.cov_tril * _tril_mask(d, self.dtype)

    # ``mean`` is the parameter (an attribute of the instance).

    @property
    def variance(self) -> jt.Var:
        """The diagonal of the covariance, ``sum_j L_ij^2`` (``[..., D]``)."""
        tril = self._tril()
        return self._over_values((tril * tril).sum(-1))

    def entropy(self) -> jt.Var:
        """``D (1 + log 2 pi) / 2 + sum_i log|L_ii|``."""
        d = self._value_shape[0]
        ent = _log_abs_det_tril(self.cov_tril) + _c(0.5 * d * (1.0 + _LOG_2PI), self.dtype)
        return jt.broadcast(ent, shape=self.batch_shape or [1])

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        eps = _randn(shape, self.dtype)
        lx = _lower_matmul(self._tril(), eps.reshape(shape + [1]))
        return self.mean + lx.reshape(shape)

    def _log_prob_event(self, given):
        dt = self.dtype
        d = self._value_shape[0]
        tril = self.cov_tril  # the solve and the diagonal read the lower triangle only
        resid = given - self.mean
        z = _forward_substitution(tril, resid.reshape(list(resid.shape) + [1]))
        maha = _sum_last2(z * z)
        log_det = _log_abs_det_tril(tril)
        return (_c(-0.5, dt) * maha - log_det) - _c(d * _HALF_LOG_2PI, dt)


def _check_cholesky(tril, what):
    v = tril.numpy()
    if bool((np.triu(v, 1) != 0).any()):
        raise ValueError(
            f"{what} must be lower-triangular: found nonzero entries above the "
            f"diagonal (shape {list(tril.shape)})"
        )
    if not bool((np.diagonal(v, axis1=-2, axis2=-1) > 0).all()):
        raise ValueError(
            f"{what} must have a positive diagonal (shape {list(tril.shape)})"
        )


class MatrixVariateNormalCholesky(_Multivariate):
    r"""Matrix-variate normal distribution of ``N x M`` matrices with row
    covariance ``U U^T`` and column covariance ``V V^T``, given the lower
    Cholesky factors ``U = u_tril`` (``N x N``) and ``V = v_tril`` (``M x M``):
    ``vec(X) ~ N(vec(mean), (V V^T) \otimes (U U^T))``.

    .. math::
        \log p(X) = -\tfrac{NM}{2}\log 2\pi - M\sum_i\log|U_{ii}|
                    - N\sum_j\log|V_{jj}|
                    - \tfrac12\bigl\lVert U^{-1}(X - \mathrm{mean})V^{-T}
                      \bigr\rVert_F^2

    Reparameterised sampling: ``X = mean + U E V^T`` with ``E_ij ~ N(0, 1)``.
    ``value_shape`` is ``[N, M]``. Only the lower triangles of the factors are
    read; ``validate_args`` checks them as in
    :class:`MultivariateNormalCholesky`.

    Parameters
    ----------
    mean : ``[..., N, M]``
    u_tril : ``[..., N, N]``
    v_tril : ``[..., M, M]``
    """

    param_names = ("mean", "u_tril", "v_tril")
    is_continuous = True
    has_rsample = True
    _param_attrs = ("mean", "u_tril", "v_tril")

    def __init__(self, mean: VarLike, u_tril: VarLike, v_tril: VarLike,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        self._init_base((dtype, group_ndims, is_reparameterized, validate_args, kwargs),
                        mean, u_tril, v_tril)
        self.mean = self._event_param(mean, "mean", 2, "an N x M matrix")
        self.u_tril = self._event_param(u_tril, "u_tril", 2, "an N x N matrix")
        self.v_tril = self._event_param(v_tril, "v_tril", 2, "an M x M matrix")
        n, m = (int(s) for s in self.mean.shape[-2:])
        factors = (("u_tril", self.u_tril, n), ("v_tril", self.v_tril, m))
        for pname, var, size in factors:
            shape = list(var.shape)
            if shape[-2:] != [size, size]:
                raise ValueError(
                    f"{name}: {pname} of shape {shape} does not match mean of shape "
                    f"{list(self.mean.shape)}: its last two axes must be "
                    f"[{size}, {size}]"
                )
        _check_broadcast(name, [list(v.shape[:-2]) for v in
                                (self.mean, self.u_tril, self.v_tril)],
                         ["mean batch", "u_tril batch", "v_tril batch"])
        if validate_args:
            _check_cholesky(self.u_tril, f"{name}: u_tril")
            _check_cholesky(self.v_tril, f"{name}: v_tril")
        self._value_shape = (n, m)

    def _event_params(self):
        return [(self.mean, 2), (self.u_tril, 2), (self.v_tril, 2)]

    def _factors(self):
        n, m = self._value_shape
        return (self.u_tril * _tril_mask(n, self.dtype),
                self.v_tril * _tril_mask(m, self.dtype))

    # ``mean`` is the parameter (an attribute of the instance).

    @property
    def variance(self) -> jt.Var:
        """``(U U^T)_ii (V V^T)_jj`` for entry ``(i, j)`` (``[..., N, M]``)."""
        u, v = self._factors()
        rows = (u * u).sum(-1)                               # [..., N]
        cols = (v * v).sum(-1)                               # [..., M]
        return self._over_values(rows.reshape(list(rows.shape) + [1])
                                 * cols.reshape(list(cols.shape[:-1]) + [1, cols.shape[-1]]))

    def entropy(self) -> jt.Var:
        """``N M (1 + log 2 pi) / 2 + M sum_i log|U_ii| + N sum_j log|V_jj|``."""
        dt = self.dtype
        n, m = self._value_shape
        ent = (_c(float(m), dt) * _log_abs_det_tril(self.u_tril)
               + _c(float(n), dt) * _log_abs_det_tril(self.v_tril)
               + _c(0.5 * n * m * (1.0 + _LOG_2PI), dt))
        return jt.broadcast(ent, shape=self.batch_shape or [1])

    def _sample(self, n_samples):
        shape = self._sample_shape(n_samples)
        u, v = self._factors()
        e = _randn(shape, self.dtype)
        ue = _lower_matmul(u, e)                                 # U E
        return self.mean + _swap_last(_lower_matmul(v, _swap_last(ue)))  # (V (UE)^T)^T

    def _log_prob_event(self, given):
        dt = self.dtype
        n, m = self._value_shape
        u, v = self.u_tril, self.v_tril  # read on and below the diagonal only
        a = _forward_substitution(u, given - self.mean)      # U^{-1} R
        b = _right_substitution(v, a)                        # U^{-1} R V^{-T}
        frob = _sum_last2(b * b)
        log_det = (_c(float(m), dt) * _log_abs_det_tril(u)
                   + _c(float(n), dt) * _log_abs_det_tril(v))
        return (_c(-0.5, dt) * frob - log_det) - _c(n * m * _HALF_LOG_2PI, dt)


# -- Concrete ------------------------------------------------------------------------


class ExpConcrete(_Categories):
    r"""The ExpConcrete distribution (Maddison et al., 2017, appendix C): the
    log of a Concrete (Gumbel-softmax) sample, which stays finite at low
    temperatures where the Concrete sample underflows.

    .. math::
        \log p(y) = \log (K-1)! + (K-1)\log\tau
                    + \sum_k (\ell_k - \tau y_k)
                    - K \log\sum_k e^{\ell_k - \tau y_k}

    for ``y`` with ``logsumexp(y) = 0``. Reparameterised sampling:
    ``y = log_softmax((logits + G) / tau)`` with ``G`` standard Gumbel.
    ``value_shape`` is ``[K]``.

    Parameters
    ----------
    temperature : float, or Var/array broadcastable to the batch shape
        ``tau > 0``. A one-element temperature does not add to the batch shape.
    logits, probs : ``[..., K]``
        See :class:`Categorical`.
    """

    param_names = ("temperature", "logits", "probs")
    is_continuous = True
    has_rsample = True
    _param_attrs = ("temperature", "logits", "_probs")

    def __init__(self, temperature: VarLike, logits: VarLike | None = None,
                 probs: VarLike | None = None,
                 dtype: str | None = None, group_ndims: int = 0,
                 is_reparameterized: bool = True, validate_args: bool = False,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        self._init_categories(logits, probs, (dtype, group_ndims, is_reparameterized,
                                              validate_args, kwargs), others=(temperature,))
        self.temperature = self._param(temperature, "temperature")
        self._scalar_temperature = int(np.prod(self.temperature.shape)) == 1
        if self._scalar_temperature:
            self.temperature = self.temperature.reshape([1])
        else:
            _check_broadcast(name, [list(self.temperature.shape),
                                    list(self.logits.shape[:-1])],
                             ["temperature", "logits batch"])
        if validate_args:
            _check_positive(self.temperature, f"{name}: temperature")

    def _event_params(self):
        out = [(self.logits, 1)]
        if not self._scalar_temperature:
            out.append((self.temperature, 0))
        return out

    def _tau(self):
        """The temperature with a trailing axis, to meet ``[..., K]``."""
        t = self.temperature
        return t if self._scalar_temperature else t.reshape(list(t.shape) + [1])

    def _sample_log(self, n_samples):
        shape = self._sample_shape(n_samples)
        return _log_softmax((self.logits + _gumbel(shape, self.dtype)) / self._tau())

    def _sample(self, n_samples):
        return self._sample_log(n_samples)

    def _validate_value(self, value, what):
        v = value.numpy().astype(np.float64)
        top = v.max(-1, keepdims=True)
        lse = np.log(np.exp(v - top).sum(-1)) + top[..., 0]
        if bool((np.abs(lse) > _SIMPLEX_TOL[dtype_name(value)] * v.shape[-1]).any()):
            raise ValueError(f"{what}: ExpConcrete values must satisfy "
                             "logsumexp(y) = 0 over the last axis")

    def _log_density(self, log_x):
        r"""The ExpConcrete log-density at ``y = log_x``, written with a
        log-softmax: ``sum_k (l_k - tau y_k) - K logsumexp_k(l_k - tau y_k)``
        is ``sum_k log_softmax(l - tau y)_k``."""
        dt = self.dtype
        k = self.n_categories
        logits, log_x, tau = _expand(self.logits, log_x, self._tau())
        log_tau = jt.log(tau[..., 0])
        return (_c(math.lgamma(k), dt) + _c(float(k - 1), dt) * log_tau
                + _log_softmax(logits - tau * log_x).sum(-1))

    def _log_prob_event(self, given):
        return self._log_density(given)


class Concrete(ExpConcrete):
    r"""The Concrete (Gumbel-softmax) distribution on the simplex (Maddison et
    al., 2017; Jang et al., 2017).

    .. math::
        \log p(x) = \log (K-1)! + (K-1)\log\tau
                    + \sum_k \bigl(\ell_k - (\tau + 1)\log x_k\bigr)
                    - K \log\sum_k e^{\ell_k - \tau\log x_k}

    Reparameterised sampling: ``x = softmax((logits + G) / tau)`` (the exp of
    an :class:`ExpConcrete` sample). At low temperatures entries of ``x``
    underflow to 0, where this density is not finite; use ExpConcrete there.
    ``value_shape`` is ``[K]``; parameters as in :class:`ExpConcrete`.
    """

    def _sample(self, n_samples):
        return jt.exp(self._sample_log(n_samples))

    def _validate_value(self, value, what):
        if not bool((value.numpy() > 0).all()):
            raise ValueError(f"{what}: Concrete values must be > 0")
        _check_simplex(value, f"{what}: Concrete values")

    def _log_prob_event(self, given):
        # The Concrete density is the ExpConcrete one at log x times the
        # Jacobian prod_k 1/x_k (Maddison et al. 2017, appendix C).
        log_x = jt.log(given)
        return self._log_density(log_x) - log_x.sum(-1)
