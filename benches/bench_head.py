"""pytest-benchmark: the ELBO's probabilistic head on each kernel backend.

One step is what an SGVB training step asks of the fused ops, at the kernel
API (:mod:`zhusuan.kernels`), forward and backward:

* q(z|x): ``normal_rsample`` of a Normal [B, 40] whose std is ``exp`` of a
  Var (the tutorial's ``std=jt.exp(logstd)``), returning z and log q(z);
* p(z): ``normal_log_prob`` of that z under the prior N(0, 1) given as
  [B, 40] Vars (an observed value that carries gradient);
* p(x|z): ``bernoulli_log_prob`` of binary x [B, 784] with logits [B, 784];

each with ``axes=(0, 1)`` and ``weight=1/B`` (reduce_mean_dims=[0],
reduce_sum_dims=[1]); then ``jt.grad`` of log p(x|z) + log p(z) - log q(z)
with respect to the logits and q's mean and log-std, and a sync.

Backends that are not available are skipped with the reason. A second group
times the same six kernel calls of ``zhusuan._C`` on numpy arrays (no Jittor
at all), so that the native backend's time splits into kernel time and the
cost of the Jittor graph, ``numpy_code`` and ``jt.Function`` around it.

Groups are per batch size, so the ratios between backends sit side by side.
B = 1 does almost no arithmetic: its time is the fixed cost of a step (the
Jittor graph, operator launches, ``numpy_code``), which bounds the ratio
any backend can reach at small batches::

    python -m pytest benches/bench_head.py -o python_files='bench_*.py' \\
        --benchmark-only --benchmark-columns=min,median,max,rounds
"""

import importlib

import numpy as np
import pytest

# isort: off
import zhusuan  # noqa: F401  (configures Jittor before its first import)
import jittor as jt

# isort: on
from zhusuan import kernels

BATCHES = (1, 128, 4096)
X_DIM, Z_DIM = 784, 40
WARMUP = 3  # Jittor compiles its kernels during the first calls


def _module(name):
    if name == "jittor":
        return kernels.reference
    mod = importlib.import_module(f"zhusuan.kernels.{name}")
    try:
        mod.check_available()
    except ImportError as exc:
        pytest.skip(f"backend {name!r} is not available: {str(exc).splitlines()[0]}")
    return mod


def _inputs(batch, seed=0):
    rng = np.random.default_rng(seed)
    f = np.float32
    return {
        "x": (rng.random((batch, X_DIM)) < 0.5).astype(f),
        "logits": rng.normal(0.0, 2.0, (batch, X_DIM)).astype(f),
        "q_mean": rng.normal(0.0, 0.5, (batch, Z_DIM)).astype(f),
        "q_logstd": rng.normal(0.0, 0.3, (batch, Z_DIM)).astype(f),
        "eps": rng.normal(0.0, 1.0, (batch, Z_DIM)).astype(f),
    }


class Head:
    def __init__(self, mod, batch):
        self.mod, self.batch = mod, batch
        v = {k: jt.array(a) for k, a in _inputs(batch).items()}
        self.x, self.logits = v["x"], v["logits"]
        self.q_mean, self.q_logstd = v["q_mean"], v["q_logstd"]
        self.prior_mean = jt.zeros((batch, Z_DIM))
        self.prior_std = jt.ones((batch, Z_DIM))
        self.wrt = [self.logits, self.q_mean, self.q_logstd]

    def step(self):
        mod, w, b = self.mod, 1.0 / self.batch, self.batch
        eps = jt.randn((b, Z_DIM))
        z, log_q = mod.normal_rsample(
            self.q_mean, jt.exp(self.q_logstd), eps, False, (0, 1), w
        )
        log_pz = mod.normal_log_prob(
            z, self.prior_mean, self.prior_std, False, (0, 1), w
        )
        log_px = mod.bernoulli_log_prob(self.x, self.logits, (0, 1), w)
        elbo = log_px + log_pz - log_q
        grads = jt.grad(elbo, self.wrt)
        jt.sync(grads + [elbo])
        return elbo


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("backend", kernels.BACKENDS)
def test_head(benchmark, backend, batch):
    head = Head(_module(backend), batch)
    for _ in range(WARMUP):
        head.step()
    benchmark.group = f"ELBO head fwd+bwd, B={batch}"
    benchmark.extra_info["backend"] = backend
    elbo = benchmark(head.step)
    assert np.isfinite(elbo.numpy()).all()


@pytest.mark.parametrize("batch", BATCHES)
def test_head_raw_native_kernels(benchmark, batch):
    """The same six kernels of zhusuan._C on numpy arrays: the kernel time."""
    _module("native")
    from zhusuan.kernels import _ext

    C = _ext.C
    a = _inputs(batch)
    w, f = 1.0 / batch, np.float32
    std = np.exp(a["q_logstd"])
    zeros, ones = np.zeros((batch, Z_DIM), f), np.ones((batch, Z_DIM), f)
    z, lq, lpz, lpx = np.empty_like(std), np.empty(1, f), np.empty(1, f), np.empty(1, f)
    g = np.ones(1, f)
    g_logits, g_mean, g_std, g_z = (
        np.empty_like(a["logits"]),
        np.empty_like(std),
        np.empty_like(std),
        np.empty_like(std),
    )

    def step():
        C.normal_rsample_forward(a["q_mean"], std, a["eps"], z, lq, False, [0, 1], w)
        C.normal_log_prob_forward(z, zeros, ones, lpz, False, [0, 1], w)
        C.bernoulli_log_prob_forward(a["x"], a["logits"], lpx, [0, 1], w)
        C.bernoulli_log_prob_backward(a["x"], a["logits"], g, None, g_logits, [0, 1], w)
        C.normal_log_prob_backward(z, zeros, ones, g, g_z, None, None, False, [0, 1], w)
        C.normal_rsample_backward(
            a["q_mean"], std, a["eps"], g_z, -g, g_mean, g_std, False, [0, 1], w
        )
        return lpx[0] + lpz[0] - lq[0]

    step()
    benchmark.group = f"ELBO head fwd+bwd, B={batch}"
    benchmark.extra_info["backend"] = "raw _C (numpy, no Jittor)"
    assert np.isfinite(benchmark(step))
