"""The contenders of the comparison runner, one small class each.

Every contender has the same four methods:

``setup()``
    build everything (nets, optimiser, data); raises :class:`Unavailable`
    with the reason when it cannot run here (PyTorch not installed, a zhusuan
    backend not built, an objective zhusuan does not have yet).
``evaluate()``
    deterministic values (a dict of numpy arrays) that every contender of the
    case computes from identical inputs and weights: the runner and the smoke
    test check that they agree with zhusuan's, so the table compares programs
    that compute the same thing. Call it before the first ``step()`` (steps
    change the weights).
``step()``
    one complete, synchronised call of the timed work (Jittor is lazy: each
    step ends with ``jt.sync_all()``, so the work is done when it returns);
    returns the loss as a float.
``close()``
    restore global state (zhusuan's backend, Pyro's parameter store).

The cases (see the issue and ``benches/floors.py`` for their cost):

* ``head``: the ELBO's probabilistic head: log p(x|z) (Bernoulli with logits,
  [B, 784]) + log p(z) (standard Normal, [B, 40]) - log q(z|x) (Normal with
  mean and std, [B, 40]), each averaged over the batch and summed over
  features, forward and backward (gradients with respect to logits, z, mean
  and std). Contenders: zhusuan per backend (the public API: two BayesianNets
  with observed nodes), the same math by hand in PyTorch, and
  ``torch.distributions`` (``validate_args=False``, like zhusuan's default).
* ``vae``: one training step of the tutorial's VAE (784-500-500-40, Adam
  lr 1e-3). Contenders: zhusuan per backend (the classes of
  ``examples/vae.py`` with ``zs.variational.ELBO`` and ``zs.optim.Adam``, as
  the examples train) and the default backend with the tutorial's
  ``jt.optim.Adam``; PyTorch by hand in its three CPU configurations
  (:data:`TORCH_CONFIGS`: default Adam, ``fused=True`` Adam, and
  ``torch.compile`` with the fused Adam; the fastest is the one to beat),
  Pyro (``SVI`` with ``Trace_ELBO``), and plain Jittor ops with hand-written
  log-densities. All start from the same weights (:func:`vae_weights`).
  zhusuan's generator is the tutorial's (sigmoid, then ``probs=``, which
  zhusuan turns back into logits); the others take the logits directly.
  Every loss is averaged over the batch (Pyro's with ``poutine.scale``) so
  that Adam sees the same objective everywhere.
* ``iwae``: one training step of an importance-weighted VAE with k samples:
  zhusuan's ``ImportanceWeightedObjective`` on the tutorial's nets (each
  backend, ``zs.optim.Adam``; the default backend also with
  ``jt.optim.Adam``) against the same bound by hand in PyTorch (default and
  fused Adam).

PyTorch and Pyro are optional (``pip install -e .[bench]``); without them
their contenders are unavailable, with the reason.
"""

import functools
import importlib.util
import math
import os

import numpy as np

# isort: off
import zhusuan as zs  # must come before jittor: it sets Jittor's environment
import jittor as jt
from jittor import nn as jnn

# isort: on
from .floors import H_DIM, X_DIM, Z_DIM

__all__ = [
    "Unavailable",
    "Contender",
    "HALF_LOG_2PI",
    "LR",
    "VAE_BATCH",
    "IWAE_K",
    "head_inputs",
    "vae_data",
    "vae_weights",
    "head_contenders",
    "vae_contenders",
    "iwae_contenders",
    "zhusuan_backends",
    "load_vae_example",
    "TORCH_CONFIGS",
]

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LR = 1e-3
VAE_BATCH = 128
IWAE_K = 50
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Unavailable(Exception):
    """This contender cannot run here; the message says why."""


class Contender:
    """Base class: a name, the framework it uses, and the four methods."""

    framework = ""

    def __init__(self, name):
        self.name = name

    def setup(self):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError

    def step(self):
        raise NotImplementedError

    def close(self):
        pass

    @property
    def is_zhusuan(self):
        return self.framework == "zhusuan"

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


# --------------------------------------------------------------------------- #
# Optional imports
# --------------------------------------------------------------------------- #
def _torch():
    try:
        import torch
    except ImportError as exc:
        raise Unavailable(f"PyTorch is not installed ({exc}); "
                          "pip install -e .[bench]") from None
    return torch


def _pyro():
    _torch()
    try:
        import pyro
    except ImportError as exc:
        raise Unavailable(f"Pyro is not installed ({exc}); "
                          "pip install -e .[bench]") from None
    return pyro


def zhusuan_backends():
    """Every backend name zhusuan knows (available or not), default first."""
    chosen = zs.kernels.get_backend()
    return [chosen] + [b for b in zs.kernels.BACKENDS if b != chosen]


def _use_backend(name):
    info = zs.kernels.backend_info()["backends"].get(name)
    if info is None or not info["available"]:
        reason = info["reason"] if info else "unknown backend"
        raise Unavailable(f"zhusuan backend {name!r} is not available: {reason}")
    zs.kernels.set_backend(name)


@functools.lru_cache(maxsize=None)
def load_vae_example():
    """The module ``examples/vae.py`` (its Generator and Variational)."""
    path = os.path.join(ROOT, "examples", "vae.py")
    spec = importlib.util.spec_from_file_location("zhusuan_example_vae", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- #
# Data and weights shared by every contender of a case
# --------------------------------------------------------------------------- #
def head_inputs(batch, seed=0):
    """The head's inputs as float32 numpy arrays: binary x, logits [B, 784];
    z, mean, std (> 0) [B, 40]."""
    rng = np.random.default_rng(seed)
    f = np.float32
    return {
        "x": (rng.random((batch, X_DIM)) < 0.5).astype(f),
        "logits": rng.normal(0.0, 2.0, (batch, X_DIM)).astype(f),
        "z": rng.normal(0.0, 1.0, (batch, Z_DIM)).astype(f),
        "mean": rng.normal(0.0, 0.5, (batch, Z_DIM)).astype(f),
        "std": np.exp(rng.normal(0.0, 0.3, (batch, Z_DIM))).astype(f),
    }


HEAD_GRADS = ("logits", "z", "mean", "std")


def vae_data(batch, seed=0):
    """A batch of binary images x [B, 784] and a latent point z [B, 40] (for
    :meth:`Contender.evaluate`), float32. Synthetic: the timing does not
    depend on the pixels, and CI needs no data set."""
    rng = np.random.default_rng(seed + 1)
    x = (rng.random((batch, X_DIM)) < 0.3).astype(np.float32)
    z = rng.normal(0.0, 1.0, (batch, Z_DIM)).astype(np.float32)
    return x, z


def vae_weights(seed=0):
    """Initial weights of the VAE as numpy arrays named ``<layer>.weight``
    ([out, in], as both Jittor and PyTorch store them) and ``<layer>.bias``.
    Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), both frameworks' default."""
    from .floors import VAE_LAYERS

    rng = np.random.default_rng(seed + 2)
    out = {}
    for name, fan_in, fan_out in VAE_LAYERS:
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in))
        out[f"{name}.weight"] = w.astype(np.float32)
        out[f"{name}.bias"] = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return out


# Where each canonical layer lives in the tutorial's classes.
_ZS_LAYERS = {"enc.fc1": ("variational", "fc1"), "enc.fc2": ("variational", "fc2"),
              "enc.mean": ("variational", "fc3"), "enc.logstd": ("variational", "fc4"),
              "dec.fc1": ("generator", "fc1"), "dec.fc2": ("generator", "fc2"),
              "dec.out": ("generator", "fc2_")}
# The two weights whose gradients the agreement check compares.
CHECKED_GRADS = ("enc.logstd.weight", "dec.out.weight")


def _load_jittor_layers(weights, layer_of):
    for key in {k.rsplit(".", 1)[0] for k in weights}:
        layer_of(key).load_parameters({"weight": weights[f"{key}.weight"],
                                       "bias": weights[f"{key}.bias"]})


def _np(v):
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)


def _pack(key, value, names, grads):
    """``{key: value, 'grad_<name>': grad, ...}`` as float64 numpy arrays."""
    out = {key: _np(value).reshape(())}
    out.update({f"grad_{k}": _np(g) for k, g in zip(names, grads, strict=True)})
    return out


# --------------------------------------------------------------------------- #
# Case a: the probabilistic head
# --------------------------------------------------------------------------- #
class _HeadModel(zs.BayesianNet):
    """p(z) p(x | z) with z and x observed and the logits given."""

    def __init__(self):
        super().__init__()
        self.given = {}

    def execute(self, observed):
        self.observe(observed)
        self.sn("Normal", name="z", mean=0.0, std=1.0,
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        self.sn("Bernoulli", name="x", logits=self.given["logits"],
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class _HeadVariational(zs.BayesianNet):
    """q(z | x) = Normal(mean, std) with z observed."""

    def __init__(self):
        super().__init__()
        self.given = {}

    def execute(self, observed):
        self.observe(observed)
        self.sn("Normal", name="z", mean=self.given["mean"], std=self.given["std"],
                reduce_mean_dims=[0], reduce_sum_dims=[1])
        return self


class ZhusuanHead(Contender):
    framework = "zhusuan"

    def __init__(self, batch, backend):
        super().__init__(f"zhusuan[{backend}]")
        self.batch, self.backend = batch, backend

    def setup(self):
        self._saved = zs.kernels.get_backend()
        _use_backend(self.backend)
        self.v = {k: jt.array(a) for k, a in head_inputs(self.batch).items()}
        self.p, self.q = _HeadModel(), _HeadVariational()
        self.p.given = {"logits": self.v["logits"]}
        self.q.given = {"mean": self.v["mean"], "std": self.v["std"]}
        self.wrt = [self.v[k] for k in HEAD_GRADS]

    def _loss(self):
        zs.kernels.set_backend(self.backend)
        p = self.p({"x": self.v["x"], "z": self.v["z"]})
        q = self.q({"z": self.v["z"]})
        return -(p.log_joint() - q.log_joint())

    def evaluate(self):
        loss = self._loss()
        grads = jt.grad(loss, self.wrt)
        return _pack("loss", loss, HEAD_GRADS, grads)

    def step(self):
        loss = self._loss()
        grads = jt.grad(loss, self.wrt)  # keep them alive: Jittor drops dead Vars
        jt.sync_all()
        del grads
        return loss.item()

    def close(self):
        zs.kernels.set_backend(self._saved)


class _TorchHead(Contender):
    framework = "pytorch"

    def __init__(self, name, batch):
        super().__init__(name)
        self.batch = batch

    def setup(self):
        torch = self.torch = _torch()
        inputs = head_inputs(self.batch)
        self.t = {k: torch.from_numpy(a.copy()) for k, a in inputs.items()}
        self.wrt = [self.t[k].requires_grad_() for k in HEAD_GRADS]

    def evaluate(self):
        loss = self._loss()
        grads = self.torch.autograd.grad(loss, self.wrt)
        return _pack("loss", loss.detach(), HEAD_GRADS, grads)

    def step(self):
        loss = self._loss()
        self.torch.autograd.grad(loss, self.wrt)
        return loss.item()


class TorchHandHead(_TorchHead):
    """The head as a PyTorch user writes it: BCE-with-logits (PyTorch's fused
    Bernoulli log-likelihood) and the Normal log-densities by hand."""

    def __init__(self, batch):
        super().__init__("pytorch (by hand)", batch)

    def _loss(self):
        F = self.torch.nn.functional
        t, b = self.t, self.batch
        bce = F.binary_cross_entropy_with_logits(t["logits"], t["x"], reduction="sum")
        log_px = -bce / b
        log_pz = (-0.5 * t["z"] * t["z"] - HALF_LOG_2PI).sum() / b
        u = (t["z"] - t["mean"]) / t["std"]
        log_qz = (-0.5 * u * u - self.torch.log(t["std"]) - HALF_LOG_2PI).sum() / b
        return -(log_px + log_pz - log_qz)


class TorchDistHead(_TorchHead):
    """The head with ``torch.distributions`` (validation off, as zhusuan's)."""

    def __init__(self, batch):
        super().__init__("torch.distributions", batch)

    def _loss(self):
        D = self.torch.distributions
        t = self.t
        log_px = D.Bernoulli(logits=t["logits"], validate_args=False).log_prob(t["x"])
        log_pz = D.Normal(0.0, 1.0, validate_args=False).log_prob(t["z"])
        log_qz = D.Normal(t["mean"], t["std"], validate_args=False).log_prob(t["z"])
        return -(log_px.sum(1).mean() + log_pz.sum(1).mean() - log_qz.sum(1).mean())


def head_contenders(batch):
    """Case a's contenders for batch size ``batch``."""
    out = [ZhusuanHead(batch, b) for b in zhusuan_backends()]
    return out + [TorchHandHead(batch), TorchDistHead(batch)]


# --------------------------------------------------------------------------- #
# Case b: one VAE training step
# --------------------------------------------------------------------------- #
def _zhusuan_adam(params, optimizer):
    """zhusuan's default optimiser (``zs.optim.Adam``, what the examples use)
    or the tutorial's ``jt.optim.Adam``."""
    if optimizer == "zhusuan":
        return zs.optim.Adam(params, LR)
    if optimizer == "jittor":
        return jt.optim.Adam(params, LR)
    raise ValueError(f"optimizer must be 'zhusuan' or 'jittor', got {optimizer!r}")


class ZhusuanVAE(Contender):
    """The tutorial's training step: ``optimizer.step(model({'x': x}))``.

    ``optimizer="zhusuan"`` (the default, as in ``examples/vae.py``) steps with
    ``zs.optim.Adam``; ``"jittor"`` with the tutorial's ``jt.optim.Adam``
    (named ``zhusuan[backend] + jt.optim.Adam``).
    """

    framework = "zhusuan"

    def __init__(self, batch, backend, optimizer="zhusuan"):
        name = f"zhusuan[{backend}]"
        super().__init__(name if optimizer == "zhusuan" else name + " + jt.optim.Adam")
        self.batch, self.backend, self.optimizer_kind = batch, backend, optimizer

    def setup(self):
        self._saved = zs.kernels.get_backend()
        _use_backend(self.backend)
        vae = load_vae_example()
        self.generator = vae.Generator(X_DIM, Z_DIM, self.batch)
        self.variational = vae.Variational(X_DIM, Z_DIM, self.batch)
        nets = {"generator": self.generator, "variational": self.variational}
        _load_jittor_layers(vae_weights(),
                            lambda k: getattr(nets[_ZS_LAYERS[k][0]], _ZS_LAYERS[k][1]))
        self.model = zs.variational.ELBO(self.generator, self.variational)
        self.optimizer = _zhusuan_adam(self.model.parameters(), self.optimizer_kind)
        x, z = vae_data(self.batch)
        self.x, self.z = jt.array(x), jt.array(z)

    def _layer(self, canonical):
        net, attr = _ZS_LAYERS[canonical.rsplit(".", 1)[0]]
        return getattr(getattr(self, net), attr).weight

    def evaluate(self):
        """log p(x, z) - log q(z | x) at the fixed z, and two gradients."""
        zs.kernels.set_backend(self.backend)
        q = self.variational({"x": self.x, "z": self.z})
        p = self.generator({"x": self.x, "z": self.z})
        value = p.log_joint() - q.log_joint()
        grads = jt.grad(value, [self._layer(k) for k in CHECKED_GRADS])
        return _pack("elbo_at_z", value, CHECKED_GRADS, grads)

    def step(self):
        zs.kernels.set_backend(self.backend)
        loss = self.model({"x": self.x})
        self.optimizer.step(loss)
        jt.sync_all()
        return loss.item()

    def close(self):
        zs.kernels.set_backend(self._saved)


class _JtEncoder(jt.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = jnn.Linear(X_DIM, H_DIM)
        self.fc2 = jnn.Linear(H_DIM, H_DIM)
        self.mean = jnn.Linear(H_DIM, Z_DIM)
        self.logstd = jnn.Linear(H_DIM, Z_DIM)

    def execute(self, x):
        h = jnn.relu(self.fc2(jnn.relu(self.fc1(x))))
        return self.mean(h), self.logstd(h)


class _JtDecoder(jt.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = jnn.Linear(Z_DIM, H_DIM)
        self.fc2 = jnn.Linear(H_DIM, H_DIM)
        self.out = jnn.Linear(H_DIM, X_DIM)

    def execute(self, z):
        return self.out(jnn.relu(self.fc2(jnn.relu(self.fc1(z)))))


def _jt_softplus(v):
    # log(1 + exp(v)) = max(v, 0) + log(1 + exp(-|v|)): never overflows.
    return jnn.relu(v) + jt.log(1.0 + jt.exp(-jt.abs(v)))


class JittorVAE(Contender):
    """The same VAE step in plain Jittor: no zhusuan, the log-densities by hand."""

    framework = "jittor"

    def __init__(self, batch):
        super().__init__("jittor (by hand)")
        self.batch = batch

    def setup(self):
        self.enc, self.dec = _JtEncoder(), _JtDecoder()
        nets = {"enc": self.enc, "dec": self.dec}
        _load_jittor_layers(vae_weights(),
                            lambda k: getattr(nets[k.split(".")[0]], k.split(".")[1]))
        params = self.enc.parameters() + self.dec.parameters()
        self.optimizer = jt.optim.Adam(params, LR)
        x, z = vae_data(self.batch)
        self.x, self.z = jt.array(x), jt.array(z)

    def _log_p_minus_log_q(self, z, log_qz):
        logits = self.dec(z)
        log_px = (self.x * logits - _jt_softplus(logits)).sum(1)
        log_pz = (-0.5 * z * z - HALF_LOG_2PI).sum(1)
        return (log_px + log_pz - log_qz).mean()

    def evaluate(self):
        mean, logstd = self.enc(self.x)
        u = (self.z - mean) * jt.exp(-logstd)
        log_qz = (-0.5 * u * u - logstd - HALF_LOG_2PI).sum(1)
        value = self._log_p_minus_log_q(self.z, log_qz)
        layers = [getattr(self.enc if k.startswith("enc") else self.dec,
                          k.split(".")[1]).weight for k in CHECKED_GRADS]
        grads = jt.grad(value, layers)
        return _pack("elbo_at_z", value, CHECKED_GRADS, grads)

    def step(self):
        mean, logstd = self.enc(self.x)
        eps = jt.randn(mean.shape)
        z = mean + jt.exp(logstd) * eps
        log_qz = (-0.5 * eps * eps - logstd - HALF_LOG_2PI).sum(1)
        loss = -self._log_p_minus_log_q(z, log_qz)
        self.optimizer.step(loss)
        jt.sync_all()
        return loss.item()


@functools.lru_cache(maxsize=None)
def _torch_nets():
    """PyTorch twins of the encoder and decoder (same layer names as
    :func:`vae_weights`)."""
    torch = _torch()
    tnn = torch.nn

    class Encoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(X_DIM, H_DIM)
            self.fc2 = tnn.Linear(H_DIM, H_DIM)
            self.mean = tnn.Linear(H_DIM, Z_DIM)
            self.logstd = tnn.Linear(H_DIM, Z_DIM)

        def forward(self, x):
            h = torch.relu(self.fc2(torch.relu(self.fc1(x))))
            return self.mean(h), self.logstd(h)

    class Decoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(Z_DIM, H_DIM)
            self.fc2 = tnn.Linear(H_DIM, H_DIM)
            self.out = tnn.Linear(H_DIM, X_DIM)

        def forward(self, z):
            return self.out(torch.relu(self.fc2(torch.relu(self.fc1(z)))))

    return Encoder, Decoder


def _torch_vae_nets():
    torch = _torch()
    Encoder, Decoder = _torch_nets()
    enc, dec = Encoder(), Decoder()
    w = vae_weights()
    with torch.no_grad():
        enc.load_state_dict({k[4:]: torch.from_numpy(v.copy())
                             for k, v in w.items() if k.startswith("enc.")})
        dec.load_state_dict({k[4:]: torch.from_numpy(v.copy())
                             for k, v in w.items() if k.startswith("dec.")})
    return enc, dec


def _torch_checked_params(enc, dec):
    return [getattr(enc if k.startswith("enc") else dec, k.split(".")[1]).weight
            for k in CHECKED_GRADS]


class _TorchVAEBase(Contender):
    framework = "pytorch"

    def __init__(self, name, batch):
        super().__init__(name)
        self.batch = batch

    def _build(self):
        torch = self.torch = _torch()
        self.enc, self.dec = _torch_vae_nets()
        x, z = vae_data(self.batch)
        self.x, self.z = torch.from_numpy(x), torch.from_numpy(z)

    def _elbo_terms(self, z, log_qz):
        """Mean over the batch of log p(x | z) + log p(z) - log q(z | x)."""
        F = self.torch.nn.functional
        logits = self.dec(z)
        x = self.x.expand_as(logits)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        log_px = -bce.sum(-1)
        log_pz = (-0.5 * z * z - HALF_LOG_2PI).sum(-1)
        return log_px + log_pz - log_qz

    def _elbo_at_fixed_z(self):
        mean, logstd = self.enc(self.x)
        u = (self.z - mean) * self.torch.exp(-logstd)
        log_qz = (-0.5 * u * u - logstd - HALF_LOG_2PI).sum(-1)
        return self._elbo_terms(self.z, log_qz).mean()

    def evaluate(self):
        value = self._elbo_at_fixed_z()
        params = _torch_checked_params(self.enc, self.dec)
        grads = self.torch.autograd.grad(value, params)
        return _pack("elbo_at_z", value.detach(), CHECKED_GRADS, grads)


# PyTorch's CPU configurations, slowest to fastest here: its default Adam
# (``foreach``), the single-kernel ``fused=True`` Adam, and the loss computed
# by a ``torch.compile``d function (Inductor, which generates C++ with g++
# here) with the fused Adam.
TORCH_CONFIGS = {
    "default": "",
    "fused": ", fused Adam",
    "compiled": ", torch.compile + fused Adam",
}


class TorchVAE(_TorchVAEBase):
    """The VAE step by hand in PyTorch (BCE-with-logits, reparameterised z),
    in one of :data:`TORCH_CONFIGS`. ``evaluate()`` runs the eager code (the
    same math the compiled function traces)."""

    def __init__(self, batch, config="default"):
        if config not in TORCH_CONFIGS:
            raise ValueError(f"config must be one of {sorted(TORCH_CONFIGS)}, got {config!r}")
        super().__init__(f"pytorch (by hand{TORCH_CONFIGS[config]})", batch)
        self.config = config

    def setup(self):
        self._build()
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        self.optimizer = _torch_adam(self.torch, params, self.config)
        self._loss = self._neg_elbo
        if self.config == "compiled":
            self._loss = _torch_compile(self.torch, self._neg_elbo)
            saved = [p.detach().clone() for p in params]
            try:
                self.step()  # compile here, not in the timed warm-up
            except Exception as exc:
                raise Unavailable(f"torch.compile failed here: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
            with self.torch.no_grad():  # start from the common weights again
                for p, v in zip(params, saved, strict=True):
                    p.copy_(v)
            self.optimizer = _torch_adam(self.torch, params, self.config)

    def _neg_elbo(self, eps):
        mean, logstd = self.enc(self.x)
        z = mean + self.torch.exp(logstd) * eps
        log_qz = (-0.5 * eps * eps - logstd - HALF_LOG_2PI).sum(-1)
        return -self._elbo_terms(z, log_qz).mean()

    def step(self):
        loss = self._loss(self.torch.randn(self.batch, Z_DIM))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def _torch_adam(torch, params, config):
    if config == "default":
        return torch.optim.Adam(params, lr=LR)
    return torch.optim.Adam(params, lr=LR, fused=True)


def _torch_compile(torch, fn):
    """``torch.compile(fn)``, or :class:`Unavailable` with the reason when
    Inductor cannot build here (checked by one call in ``setup``)."""
    if not hasattr(torch, "compile"):
        raise Unavailable(f"torch {torch.__version__} has no torch.compile")
    return torch.compile(fn)


class PyroVAE(_TorchVAEBase):
    """The VAE step with Pyro: a model/guide pair on the same nets,
    ``pyro.plate`` over the batch, ``SVI`` with ``Trace_ELBO`` and Pyro's Adam.

    The model and guide are scaled by 1/B (``poutine.scale``) so that the loss
    is the batch mean, like the other contenders'. Pyro's argument validation
    is turned off while this contender runs (as zhusuan's default).
    """

    framework = "pyro"

    def __init__(self, batch):
        super().__init__("pyro (Trace_ELBO)", batch)

    def setup(self):
        pyro = self.pyro = _pyro()
        self._build()
        import pyro.distributions as dist
        from pyro import poutine

        self.poutine = poutine
        torch, enc, dec, batch = self.torch, self.enc, self.dec, self.batch
        scale = 1.0 / batch

        def model(x):
            pyro.module("bench_decoder", dec)
            with poutine.scale(scale=scale), pyro.plate("data", batch):
                zeros = torch.zeros(batch, Z_DIM)
                ones = torch.ones(batch, Z_DIM)
                z = pyro.sample("z", dist.Normal(zeros, ones).to_event(1))
                pyro.sample("x", dist.Bernoulli(logits=dec(z)).to_event(1), obs=x)

        def guide(x):
            pyro.module("bench_encoder", enc)
            with poutine.scale(scale=scale), pyro.plate("data", batch):
                mean, logstd = enc(x)
                pyro.sample("z", dist.Normal(mean, torch.exp(logstd)).to_event(1))

        self.model, self.guide = model, guide
        from pyro.infer.util import is_validation_enabled

        self._validation = is_validation_enabled()
        pyro.enable_validation(False)
        pyro.clear_param_store()
        self.svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": LR}),
                                  loss=pyro.infer.Trace_ELBO())

    def evaluate(self):
        """The ELBO integrand at the fixed z from Pyro's own traces (the
        quantity ``Trace_ELBO`` differentiates), and two gradients."""
        poutine = self.poutine
        at_z = {"z": self.z}
        guide = poutine.trace(poutine.condition(self.guide, data=at_z))
        model = poutine.trace(poutine.condition(self.model, data=at_z))
        guide_tr, model_tr = guide.get_trace(self.x), model.get_trace(self.x)
        value = model_tr.log_prob_sum() - guide_tr.log_prob_sum()
        params = _torch_checked_params(self.enc, self.dec)
        grads = self.torch.autograd.grad(value, params)
        return _pack("elbo_at_z", value.detach(), CHECKED_GRADS, grads)

    def step(self):
        return self.svi.step(self.x)

    def close(self):
        self.pyro.clear_param_store()
        self.pyro.enable_validation(self._validation)


def vae_contenders(batch=VAE_BATCH):
    """Case b's contenders."""
    backends = zhusuan_backends()
    out = [ZhusuanVAE(batch, b) for b in backends]
    out.append(ZhusuanVAE(batch, backends[0], optimizer="jittor"))
    out += [TorchVAE(batch, config) for config in TORCH_CONFIGS]
    return out + [PyroVAE(batch), JittorVAE(batch)]


# --------------------------------------------------------------------------- #
# Case c: one importance-weighted VAE step
# --------------------------------------------------------------------------- #
class ZhusuanIWAE(ZhusuanVAE):
    """One IWAE step with the tutorial's nets, unchanged:
    ``optimizer.step(iw_objective(generator, variational, n_samples=k)(x))``."""

    def __init__(self, batch, k, backend, optimizer="zhusuan"):
        super().__init__(batch, backend, optimizer)
        self.k = k

    def setup(self):
        super().setup()
        self.model = zs.variational.ImportanceWeightedObjective(
            self.generator, self.variational, n_samples=self.k)
        self.optimizer = _zhusuan_adam(self.model.parameters(), self.optimizer_kind)
        rng = np.random.default_rng(3)  # the same eps as TorchIWAE.evaluate
        self.eps = rng.normal(size=(self.k, self.batch, Z_DIM)).astype(np.float32)

    def evaluate(self):
        """The k-sample bound (batch mean) at the fixed eps."""
        from zhusuan.numerics import log_mean_exp

        zs.kernels.set_backend(self.backend)
        d = self.variational({"x": self.x}).nodes["z"].dist
        z = d.mean + d.std * jt.array(self.eps)
        with self.variational.inference(self.k, carried=["z"], per_point=True):
            q = self.variational({"x": self.x, "z": z})
            log_q = q.nodes["z"].reduced_log_prob(per_point=True)
        with self.generator.inference(self.k, carried=["z"], per_point=True):
            p = self.generator({"x": self.x, "z": z})
            log_p = sum(node.reduced_log_prob(per_point=True) for node in p.nodes.values())
        value = log_mean_exp(log_p - log_q, 0).mean()
        return {"iw_bound": value.numpy().reshape(())}


class TorchIWAE(_TorchVAEBase):
    """One IWAE step by hand in PyTorch (Burda et al., 2016):

    .. math::
        \\mathcal{L}_k = \\frac1B \\sum_b \\log \\frac1k \\sum_{i=1}^k
        \\frac{p(x_b, z_{i,b})}{q(z_{i,b} \\mid x_b)},
        \\quad z_{i,b} = \\mu_b + \\sigma_b \\epsilon_{i,b}

    The encoder runs once on [B, 784]; the decoder on [k, B, 40].
    """

    def __init__(self, batch, k, fused=False):
        super().__init__(f"pytorch (by hand, k={k}{', fused Adam' if fused else ''})", batch)
        self.k, self.config = k, "fused" if fused else "default"

    def setup(self):
        self._build()
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        self.optimizer = _torch_adam(self.torch, params, self.config)
        rng = np.random.default_rng(3)
        self.eps = self.torch.from_numpy(
            rng.normal(size=(self.k, self.batch, Z_DIM)).astype(np.float32))

    def bound(self, eps):
        """The importance-weighted bound (batch mean) for given eps [k, B, 40]."""
        torch = self.torch
        mean, logstd = self.enc(self.x)
        z = mean + torch.exp(logstd) * eps
        log_qz = (-0.5 * eps * eps - logstd - HALF_LOG_2PI).sum(-1)
        log_w = self._elbo_terms(z, log_qz)  # [k, B]
        return (torch.logsumexp(log_w, 0) - math.log(eps.shape[0])).mean()

    def evaluate(self):
        value = self.bound(self.eps)
        return {"iw_bound": _np(value.detach()).reshape(())}

    def step(self):
        eps = self.torch.randn(self.k, self.batch, Z_DIM)
        loss = -self.bound(eps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def iwae_contenders(batch=VAE_BATCH, k=IWAE_K):
    """Case c's contenders."""
    backends = zhusuan_backends()
    out = [ZhusuanIWAE(batch, k, b) for b in backends]
    out.append(ZhusuanIWAE(batch, k, backends[0], optimizer="jittor"))
    return out + [TorchIWAE(batch, k), TorchIWAE(batch, k, fused=True)]
