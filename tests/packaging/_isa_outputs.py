"""Run in a subprocess by test_isa.py: every kind of CPU kernel of
``zhusuan._C`` on fixed inputs, with the instruction set ``ZHUSUAN_ISA``
selects, saved to the ``.npz`` file named by ``argv[1]``.

``zhusuan._C`` is called directly with numpy arrays (the ``native`` backend
hands it the same), so nothing but the kernels differs between two runs.
"""

import sys

import zhusuan  # noqa: F401  (configures Jittor; applies ZHUSUAN_ISA)
from zhusuan.kernels import _ext

import numpy as np

C = _ext.C
N, D = 64, 257  # D odd: the vector loops' remainders run too


def _inputs(rng, dtype):
    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def positive(*shape):
        return rng.uniform(0.2, 3.0, shape).astype(dtype)

    return {
        "x": normal(N, D), "mean": normal(D), "scale": positive(D),
        "logstd": normal(D) * dtype(0.5), "eps": normal(N, D), "g": normal(N, D),
        "gr": normal(N), "logits": normal(N, D) * dtype(3),
        "bits": (rng.uniform(size=(N, D)) < 0.3).astype(dtype),
        "xpos": positive(N, D), "x01": rng.uniform(0.01, 0.99, (N, D)).astype(dtype),
        "counts": rng.poisson(3.0, (N, D)).astype(dtype),
        "a": positive(D), "b": positive(D), "df": positive(D) * dtype(3),
    }


# family: (x key, parameter keys); every kind of special function of
# families.h (lgamma, digamma, log1p, softplus) is on one of these paths.
FAMILIES = {
    "Laplace": ("x", ("mean", "scale")),
    "Gamma": ("xpos", ("a", "b")),
    "Beta": ("x01", ("a", "b")),
    "StudentT": ("x", ("df", "mean", "scale")),
    "Poisson": ("counts", ("mean",)),
    "LogNormal": ("xpos", ("mean", "logstd")),
}


def run(dtype):
    rng = np.random.default_rng(20261207)
    v = _inputs(rng, dtype)
    out = {}
    e = lambda *shape: np.zeros(shape, dtype)  # noqa: E731

    for axes, kept in (([], (N, D)), ([1], (N,))):
        tag = f"axes{len(axes)}"
        o = e(*kept)
        C.normal_log_prob_forward(v["x"], v["mean"], v["scale"], o, False, axes, 0.5)
        out[f"normal_fwd_{tag}"] = o
        g = v["g"] if not axes else v["gr"]
        gx, gm, gs = e(N, D), e(D), e(D)
        C.normal_log_prob_backward(v["x"], v["mean"], v["logstd"], g, gx, gm, gs, True,
                                   axes, 0.5)
        out[f"normal_bwd_{tag}"] = np.concatenate([gx.ravel(), gm, gs])
        o = e(*kept)
        C.bernoulli_log_prob_forward(v["bits"], v["logits"], o, axes, 1.0)
        out[f"bernoulli_fwd_{tag}"] = o
        gx, gl = e(N, D), e(N, D)
        C.bernoulli_log_prob_backward(v["bits"], v["logits"], g, gx, gl, axes, 1.0)
        out[f"bernoulli_bwd_{tag}"] = np.concatenate([gx.ravel(), gl.ravel()])
        z, lq = e(N, D), e(*kept)
        C.normal_rsample_forward(v["mean"], v["logstd"], v["eps"], z, lq, True, axes,
                                 1.0)
        out[f"rsample_fwd_{tag}"] = np.concatenate([z.ravel(), lq.ravel()])
        gm, gs = e(D), e(D)
        C.normal_rsample_backward(v["mean"], v["logstd"], v["eps"], v["g"], g, gm, gs,
                                  True, axes, 1.0)
        out[f"rsample_bwd_{tag}"] = np.concatenate([gm, gs])
        for family, (xk, pks) in FAMILIES.items():
            params = [v[k] for k in pks]
            o = e(*kept)
            C.family_log_prob_forward(family, v[xk], params, o, axes, 1.0)
            out[f"{family}_fwd_{tag}"] = o
            grads = [e(*v[xk].shape)] + [e(*p.shape) for p in params]
            C.family_log_prob_backward(family, v[xk], params, g, grads, axes, 1.0)
            out[f"{family}_bwd_{tag}"] = np.concatenate([a.ravel() for a in grads])

    # Three Adam steps and three SGD (Nesterov) steps on two tensors.
    shapes = ((N, D), (D,))
    p = [rng.standard_normal(s).astype(dtype) for s in shapes]
    m = [np.zeros(s, dtype) for s in shapes]
    s2 = [np.zeros(s, dtype) for s in shapes]
    coefs = np.array([[0.9, 0.1, 0.999, 0.001, 1e-8, 0.01, 1e-3]] * 2)
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        C.adam_step(p, grads, m, s2, coefs)
    out["adam"] = np.concatenate([a.ravel() for a in p + m + s2])
    buf = [np.zeros(s, dtype) for s in shapes]
    coefs = np.array([[0.1, 0.9, 1.0, 0.01, 1.0]] * 2)
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        C.sgd_step(p, grads, buf, coefs)
    out["sgd"] = np.concatenate([a.ravel() for a in p + buf])
    return out


if __name__ == "__main__":
    results = {"isa": np.array(C.isa())}
    for dtype in (np.float32, np.float64):
        for key, value in run(dtype).items():
            results[f"{np.dtype(dtype).name}/{key}"] = value
    np.savez(sys.argv[1], **results)
