"""examples/sbn.py and examples/vae_bernoulli_latent.py as programs.

The smoke tests run each program's ``main`` on the real data set with a few
steps per epoch and check what it promises: every output file exists and
decodes, ``metrics.json`` has its keys with one entry per epoch, the numbers
are finite, ``--resume`` continues, and a non-finite loss stops the run with
an error naming the step. A few steps prove nothing about learning, so they
assert no ordering between the reported numbers.

The oracle for the nets themselves is exact: with a handful of binary units
log p(x) is a finite sum over every latent configuration, computed here in
float64 from the nets' weights; the importance-sampled estimate (k = 20000)
must match it, and the k-particle bound must not exceed it beyond
Monte-Carlo noise. For the SBN this checks the two-layer proposal end to end:
each particle of h2 must be scored under the density it was drawn from,
q(h2 | its own h1), with the right reductions. (Drawing h2 given another
particle's h1 but scoring it given its own biases the estimate by about
0.13 nats, more than twice the tolerance; checked by hand.)
"""

import dataclasses
import itertools
import json
import math
import os
import sys

import zhusuan as zs

import jittor as jt
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import sbn  # noqa: E402
import vae_bernoulli_latent as vbl  # noqa: E402

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

TINY = ["--dataset", "fashion-mnist", "--max-steps", "3", "--batch-size", "32",
        "--eval-n", "64", "--is-n", "32", "--is-k", "10", "--bound-every", "1"]
FILES = ("metrics.json", "checkpoint.zsc", "test_images.png", "reconstructions.png",
         "prior_samples.png", "learning_curve.png")
KEYS = ("dataset", "epochs", "estimator", "k", "train_bound", "test_bound", "test_ll",
        "is_k", "is_n", "train_seconds", "steps_per_second", "backend")


def check_outputs(out, returned, epochs):
    """Every file exists and decodes; metrics have their keys and lengths."""
    from PIL import Image

    for name in FILES:
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    for name in FILES[2:]:
        with Image.open(os.path.join(out, name)) as img:
            img.load()
            assert img.size[0] > 28 and img.size[1] > 28, name
    assert zs.utils.read_checkpoint(os.path.join(out, "checkpoint.zsc")).state[
        "epoch"] == epochs
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics == json.loads(json.dumps(returned))
    for key in KEYS:
        assert key in metrics, key
    assert metrics["dataset"] == "fashion-mnist"
    assert metrics["epochs"] == epochs
    assert len(metrics["train_bound"]) == len(metrics["test_bound"]) == epochs
    assert metrics["is_k"] == 10 and metrics["is_n"] == 32
    values = metrics["train_bound"] + metrics["test_bound"] + [metrics["test_ll"]]
    assert all(math.isfinite(v) and v < 0 for v in values), values
    assert metrics["train_seconds"] > 0 and metrics["steps_per_second"] > 0
    return metrics


@needs_data
@pytest.mark.parametrize("estimator", ["vimco", "rws"])
def test_sbn_writes_everything(tmp_path, estimator):
    out = str(tmp_path / estimator)
    m = sbn.main(TINY + ["--epochs", "1", "--estimator", estimator, "--k", "3",
                         "--out-dir", out])
    m = check_outputs(out, m, epochs=1)
    assert m["estimator"] == estimator and m["k"] == 3


@needs_data
@pytest.mark.parametrize("baseline", ["none", "moving-average", "learned"])
def test_vae_bernoulli_latent_writes_everything(tmp_path, baseline):
    out = str(tmp_path / baseline)
    extra = ["--variance-normalization"] if baseline == "moving-average" else []
    m = vbl.main(TINY + ["--epochs", "1", "--baseline", baseline, "--z-dim", "16",
                         "--out-dir", out] + extra)
    m = check_outputs(out, m, epochs=1)
    assert m["estimator"] == "reinforce" and m["baseline"] == baseline
    assert m["variance_normalization"] == bool(extra)


@needs_data
def test_resume_continues_with_the_baseline_net(tmp_path):
    # The learned baseline is the run with the most state: three modules, two
    # Adam parameter groups and the objective's moving averages.
    out = str(tmp_path / "run")
    args = TINY + ["--baseline", "learned", "--z-dim", "16", "--out-dir", out]
    m1 = vbl.main(args + ["--epochs", "1"])
    ckpt = zs.utils.read_checkpoint(os.path.join(out, "checkpoint.zsc"))
    assert set(ckpt.objects) == {"generator", "variational", "baseline", "optimizer"}
    assert len(ckpt.objects["optimizer"]["defaults"]["param_groups"]) == 2
    assert np.all(np.isfinite(ckpt.state["objective_state"]["_moving_mean"]))
    m2 = vbl.main(args + ["--epochs", "2", "--resume"])
    check_outputs(out, m2, epochs=2)
    assert m2["train_bound"][0] == pytest.approx(m1["train_bound"][0])
    assert m2["test_bound"][0] == pytest.approx(m1["test_bound"][0])
    with pytest.raises(SystemExit, match=r"baseline='learned' \(this run: 'none'\)"):
        vbl.main(TINY + ["--baseline", "none", "--z-dim", "16", "--out-dir", out,
                         "--epochs", "3", "--resume"])


@needs_data
def test_non_finite_loss_names_the_step(tmp_path):
    def build(args, x_dim):
        setup = sbn.build_sbn(args, x_dim)
        nan = jt.array(np.array([np.nan], dtype=np.float32))
        return dataclasses.replace(
            setup, cost=lambda x: setup.objective({'x': x}) * nan)

    args = sbn.parse_args(TINY + ["--epochs", "1", "--out-dir", str(tmp_path)])
    with pytest.raises(FloatingPointError, match="epoch 1, step 0"):
        sbn.run(args, build)
    # Only the checkpoint of the initial state exists: nothing of the failed
    # epoch was saved.
    ckpt = zs.utils.read_checkpoint(tmp_path / "checkpoint.zsc")
    assert ckpt.state["epoch"] == 0 and ckpt.state["steps"] == 0


# -- exact oracles --------------------------------------------------------------------


def _linear(layer, x):
    """A jittor nn.Linear applied in float64 numpy (weight is [out, in])."""
    return x @ layer.weight.numpy().astype(np.float64).T + layer.bias.numpy()


def _log_bernoulli(x, logits):
    """sum over the last axis of log Bernoulli(x | logits)."""
    return (x * logits - np.logaddexp(0.0, logits)).sum(-1)


def _all_states(d):
    return np.array(list(itertools.product([0.0, 1.0], repeat=d)))


def _logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return (np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def sbn_exact_log_px(gen, x):
    h2 = _all_states(gen.fc_h1.weight.shape[1])           # [S2, d2]
    h1 = _all_states(gen.fc_h1.weight.shape[0])           # [S1, d1]
    log_h2 = h2.shape[1] * math.log(0.5)                  # Bernoulli(logits=0)
    log_h1 = _log_bernoulli(h1[None], _linear(gen.fc_h1, h2)[:, None])  # [S2, S1]
    log_x = _log_bernoulli(x[:, None], _linear(gen.fc_x, h1)[None])     # [n, S1]
    joint = log_h2 + log_h1[None] + log_x[:, None]                      # [n, S2, S1]
    return _logsumexp(_logsumexp(joint, 2), 1)


def vae_exact_log_px(gen, x):
    z = _all_states(gen.fc1.weight.shape[1])
    logits = _linear(gen.fc2, np.maximum(_linear(gen.fc1, z), 0.0))     # [S, x_dim]
    joint = z.shape[1] * math.log(0.5) + _log_bernoulli(x[:, None], logits[None])
    return _logsumexp(joint, 1)


def _check_against_exact(gen, var, exact, x, iw_objective):
    # Importance sampling with k = 20000 from q over at most 32 latent states:
    # over 12 seeds the largest error of 16 images was 0.025 nats for the SBN
    # and 0.006 for the VAE at their default initialisation, so 0.05 leaves a
    # factor of two.
    n = len(x)
    gen.batch_size = var.batch_size = n
    est = zs.evaluation.is_loglikelihood(gen, var, {'x': jt.array(x)}, n_samples=20000)
    np.testing.assert_allclose(est, exact, atol=0.05)
    # E[k-particle bound] <= log p(x): average 50 draws per image; the margin
    # is 4 standard errors (false-positive rate < 1e-4 for a correct bound).
    draws = np.stack([iw_objective.bound({'x': jt.array(x)}).numpy()
                      for _ in range(50)])
    gap = (draws - exact).mean(0)
    se = draws.std(0, ddof=1) / math.sqrt(len(draws))
    assert np.all(gap <= 4 * se + 1e-6), (gap, se)


def test_sbn_nets_match_the_exact_likelihood(rng):
    n, x_dim, h1_dim, h2_dim = 16, 6, 3, 2
    gen = sbn.Generator(x_dim, h1_dim, h2_dim, n)
    var = sbn.Variational(x_dim, h1_dim, h2_dim, n)
    x = (rng.random((n, x_dim)) < 0.5).astype(np.float32)
    exact = sbn_exact_log_px(gen, x.astype(np.float64))
    for obj in (zs.variational.ImportanceWeightedObjective(gen, var, n_samples=5,
                                                           estimator="vimco"),
                zs.variational.InclusiveKLObjective(gen, var, n_samples=5)):
        _check_against_exact(gen, var, exact, x, obj)
        assert np.isfinite(obj({'x': jt.array(x)}).item())


def test_bernoulli_latent_vae_nets_match_the_exact_likelihood(rng):
    n, x_dim, z_dim, hidden = 16, 6, 4, 8
    gen = vbl.Generator(x_dim, z_dim, hidden, n)
    var = vbl.Variational(x_dim, z_dim, hidden, n)
    x = (rng.random((n, x_dim)) < 0.5).astype(np.float32)
    exact = vae_exact_log_px(gen, x.astype(np.float64))
    iw = zs.variational.ImportanceWeightedObjective(gen, var, n_samples=3,
                                                    estimator="vimco")
    _check_against_exact(gen, var, exact, x, iw)
    # The one-sample ELBO the program reports is a bound too.
    elbo = zs.variational.ELBO(gen, var, estimator="reinforce")
    _check_against_exact(gen, var, exact, x, elbo)
