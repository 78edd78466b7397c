r"""The machine's ceilings, measured in the same run, and each case's floor.

A case's *floor* is the least time the hardware could take for it:

.. math::
    t_{floor} = \max\left(\frac{\text{bytes that must move}}{\text{copy bandwidth}},
                           \frac{\text{FLOPs}}{\text{best matmul rate}}\right)

Both ceilings are measured by :func:`measure_ceilings` right before the cases
run and again right after them (:func:`best_ceilings` keeps the better), and
both are *best* repetitions (the fastest copy, the fastest matmul):
interference from other processes only ever slows a measurement down, so the
fastest repetition is the closest to what the hardware allows.

* Copy bandwidth: ``numpy.copyto`` of float32 arrays, on one thread and on
  as many as the run uses (the arrays split into one slice per thread; numpy
  releases the GIL while copying), counted as 2 bytes moved per byte copied
  (read + write). It is measured at several working-set sizes (L2-, L3- and
  DRAM-sized), and a case
  is charged the bandwidth measured at the smallest size that is at least its
  own byte count: a small case whose data sits in cache is not held to the
  slower DRAM rate, so its floor is never overstated.
* Matmul rate: ``jt.matmul`` of two float32 [n, n] matrices (n = 1024 outside
  smoke mode), which Jittor runs with oneDNN when it is present; counted as
  2 n^3 FLOPs. When PyTorch is importable its ``torch.mm`` rate is measured
  too, and the floor uses the faster of the two (the best rate the machine
  reached). Element-wise work (softplus, exp, log) is charged at this matmul
  rate too, which is optimistic for transcendental functions: the FLOP side
  of a floor is a lower bound, not an estimate.

Both use the threads the run uses (``run.py --threads N`` limits them), so a
run with one thread gets one core's floor.

The byte and FLOP counts of each case are in :func:`head_cost`,
:func:`vae_cost` and :func:`iwae_cost`; each says what it counts.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "F32",
    "X_DIM",
    "H_DIM",
    "Z_DIM",
    "VAE_LAYERS",
    "measure_ceilings",
    "best_ceilings",
    "bandwidth_for",
    "floor_seconds",
    "head_cost",
    "vae_cost",
    "iwae_cost",
]

F32 = 4  # bytes per float32
X_DIM, H_DIM, Z_DIM = 784, 500, 40

# The tutorial's VAE, layer by layer: (name, fan_in, fan_out). Encoder
# q(z | x): two ReLU layers, then the mean and the log-std heads; decoder
# p(x | z): two ReLU layers and the Bernoulli logits.
ENC_LAYERS = (("enc.fc1", X_DIM, H_DIM), ("enc.fc2", H_DIM, H_DIM),
              ("enc.mean", H_DIM, Z_DIM), ("enc.logstd", H_DIM, Z_DIM))
DEC_LAYERS = (("dec.fc1", Z_DIM, H_DIM), ("dec.fc2", H_DIM, H_DIM),
              ("dec.out", H_DIM, X_DIM))
VAE_LAYERS = ENC_LAYERS + DEC_LAYERS

# Element-wise FLOPs per element, counting every add, multiply, compare and
# transcendental call (exp, log, log1p) as one. Bernoulli log-density from
# logits l at x: forward x*l - softplus(l), softplus = max(l, 0) +
# log1p(exp(-|l|)) (7), plus the sum (1); backward (x - sigmoid(l)) * w
# (sigmoid: exp, add, divide; then subtract, multiply: 5). Normal at z with
# (mean, std): forward u = (z - mean)/std, -u^2/2 - log(std) - c, sum (8);
# backward d/dz = -u/std * w, d/dmean = -d/dz, d/dstd = (u^2 - 1)/std * w (8).
# Standard normal prior: forward -z^2/2 - c, sum (4); backward -z * w (2).
FLOPS_BERNOULLI = 8 + 5
FLOPS_NORMAL = 8 + 8
FLOPS_STD_NORMAL = 4 + 2
# Adam per parameter: m and v updates (5), bias corrections folded into the
# step size, sqrt, add eps, divide, multiply, subtract (5).
FLOPS_ADAM = 10


# --------------------------------------------------------------------------- #
# Ceilings
# --------------------------------------------------------------------------- #
def _copy_rate(total_bytes, threads, reps, pool):
    """Best copy bandwidth (bytes/s) moving ``total_bytes`` (read + write)."""
    n = max(threads, total_bytes // (2 * F32))
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    parts = [(dst[i * n // threads:(i + 1) * n // threads],
              src[i * n // threads:(i + 1) * n // threads]) for i in range(threads)]

    def one(part):
        np.copyto(*part)

    # Enough inner copies per repetition that one repetition is ~1 ms or more.
    inner = max(1, int(2**21 // max(1, src.nbytes)))
    best = math.inf
    for r in range(reps + 1):
        t0 = time.perf_counter()
        for _ in range(inner):
            if threads == 1:
                np.copyto(dst, src)
            else:
                list(pool.map(one, parts))
        t = (time.perf_counter() - t0) / inner
        if r > 0:  # the first repetition pays page faults: warm-up
            best = min(best, t)
    return 2 * src.nbytes / best


def _jittor_matmul_rate(n, reps):
    import zhusuan  # noqa: F401,I001  (sets Jittor's environment before it loads)
    import jittor as jt

    a = jt.randn(n, n)
    b = jt.randn(n, n)
    jt.sync_all()
    best = math.inf
    for r in range(reps + 1):
        t0 = time.perf_counter()
        c = jt.matmul(a, b)
        c.sync()
        t = time.perf_counter() - t0
        if r > 0:  # the first call compiles the op
            best = min(best, t)
    return 2.0 * n**3 / best


def _torch_matmul_rate(n, reps):
    import torch

    a = torch.randn(n, n)
    b = torch.randn(n, n)
    best = math.inf
    for r in range(reps + 1):
        t0 = time.perf_counter()
        torch.mm(a, b)
        t = time.perf_counter() - t0
        if r > 0:
            best = min(best, t)
    return 2.0 * n**3 / best


def measure_ceilings(mode="full", cores=None, with_torch=True):
    """Measure copy bandwidth and matmul rate; returns a JSON-ready dict.

    ``mode`` is ``'full'``, ``'quick'`` or ``'smoke'`` (smaller arrays and
    fewer repetitions: a smoke run only checks that the code path works).
    """
    import os

    cores = cores or len(os.sched_getaffinity(0))
    if mode == "smoke":
        sizes, reps, mm_n, mm_reps = (2 * 2**20, 32 * 2**20), 2, 512, 2
    elif mode == "quick":
        sizes, reps, mm_n, mm_reps = (2 * 2**20, 16 * 2**20, 256 * 2**20), 5, 1024, 11
    else:
        sizes, reps, mm_n, mm_reps = (2 * 2**20, 16 * 2**20, 512 * 2**20), 11, 1024, 21
    copy = []
    with ThreadPoolExecutor(max(1, cores)) as pool:
        for size in sizes:
            rates = {t: _copy_rate(size, t, reps, pool) for t in sorted({1, cores})}
            best_t = max(rates, key=rates.get)
            copy.append({"bytes_moved": size, "bytes_per_s": rates[best_t],
                         "threads": best_t,
                         "by_threads": {str(t): r for t, r in rates.items()}})
    matmul = {"n": mm_n, "jittor_flops_per_s": _jittor_matmul_rate(mm_n, mm_reps)}
    from jittor.compile_extern import mkl_ops

    matmul["jittor_onednn"] = mkl_ops is not None
    best, source = matmul["jittor_flops_per_s"], "jittor"
    if with_torch:
        try:
            matmul["torch_flops_per_s"] = _torch_matmul_rate(mm_n, mm_reps)
            if matmul["torch_flops_per_s"] > best:
                best, source = matmul["torch_flops_per_s"], "torch"
        except ImportError:
            pass
    matmul["best_flops_per_s"] = best
    matmul["best_source"] = source
    return {
        "how": ("best of repeated runs; copy = numpy.copyto of float32 (2 bytes "
                f"moved per byte copied) on 1 and on {cores} threads; matmul = "
                f"2*{mm_n}^3 FLOPs of float32 [{mm_n},{mm_n}] @ [{mm_n},{mm_n}]"),
        "copy": copy,
        "dram_bytes_per_s": copy[-1]["bytes_per_s"],
        "matmul": matmul,
    }


def best_ceilings(first, second):
    """The better of two measurements of the ceilings, entry by entry.

    The runner measures them before and after the cases: a burst of other
    work during one measurement then does not lower the ceiling (and so
    overstate the floor)."""
    best = dict(first)
    best["copy"] = [a if a["bytes_per_s"] >= b["bytes_per_s"] else b
                    for a, b in zip(first["copy"], second["copy"], strict=True)]
    best["dram_bytes_per_s"] = best["copy"][-1]["bytes_per_s"]
    mm = dict(first["matmul"])
    for key in ("jittor_flops_per_s", "torch_flops_per_s"):
        if key in second["matmul"]:
            mm[key] = max(mm.get(key, 0.0), second["matmul"][key])
    if second["matmul"]["best_flops_per_s"] > mm["best_flops_per_s"]:
        mm["best_flops_per_s"] = second["matmul"]["best_flops_per_s"]
        mm["best_source"] = second["matmul"]["best_source"]
    best["matmul"] = mm
    best["how"] = (first["how"]
                   + "; the better of a measurement before and one after the cases")
    best["measurements"] = [first, second]
    return best


def bandwidth_for(nbytes, ceilings):
    """The copy bandwidth charged to a case that moves ``nbytes``: the one
    measured at the smallest working set at least as large (else the largest
    measured, which is DRAM-sized)."""
    for entry in ceilings["copy"]:
        if entry["bytes_moved"] >= nbytes:
            return entry["bytes_per_s"], entry["bytes_moved"]
    last = ceilings["copy"][-1]
    return last["bytes_per_s"], last["bytes_moved"]


def floor_seconds(cost, ceilings):
    """The floor of a case of the given cost (a dict from ``*_cost``)."""
    bw, at = bandwidth_for(cost["bytes"], ceilings)
    rate = ceilings["matmul"]["best_flops_per_s"]
    t_mem = cost["bytes"] / bw
    t_flop = cost["flops"] / rate
    return {
        "seconds": max(t_mem, t_flop),
        "bound": "memory" if t_mem >= t_flop else "compute",
        "memory_seconds": t_mem,
        "compute_seconds": t_flop,
        "bandwidth_bytes_per_s": bw,
        "bandwidth_measured_at_bytes": at,
        "flops_per_s": rate,
        "bytes": cost["bytes"],
        "flops": cost["flops"],
        "how": cost["how"],
    }


# --------------------------------------------------------------------------- #
# What each case must move and compute
# --------------------------------------------------------------------------- #
def head_cost(batch):
    """Case a: the ELBO's probabilistic head, forward and backward.

    Inputs (float32): x and logits [B, 784]; z, mean and std [B, 40]; the
    prior's mean 0 and std 1 are scalars. Outputs: the scalar loss and the
    gradients with respect to logits [B, 784] and z, mean, std [B, 40].

    Bytes: a fused forward+backward pass reads each input once and writes each
    gradient once: (2*784 + 3*40) reads + (784 + 3*40) writes per row, times
    4 bytes. Nothing else must move (the reductions are scalars).

    FLOPs: per row, 784 Bernoulli elements (FLOPS_BERNOULLI each), 40 elements
    of q's Normal (FLOPS_NORMAL) and 40 of the standard-normal prior
    (FLOPS_STD_NORMAL), forward and backward.
    """
    b = int(batch)
    reads = 2 * X_DIM + 3 * Z_DIM
    writes = X_DIM + 3 * Z_DIM
    nbytes = b * (reads + writes) * F32
    flops = b * (X_DIM * FLOPS_BERNOULLI + Z_DIM * (FLOPS_NORMAL + FLOPS_STD_NORMAL))
    return {"bytes": nbytes, "flops": flops,
            "how": (f"bytes = B*(reads {reads} + writes {writes} floats)*4: each input "
                    "read once, each gradient written once; FLOPs = B*(784*"
                    f"{FLOPS_BERNOULLI} + 40*({FLOPS_NORMAL}+{FLOPS_STD_NORMAL})) "
                    "element-wise, forward and backward")}


def _param_count(layers):
    return sum(i * o + o for _, i, o in layers)


def _matmul_flops(layers, rows, input_grad_for_first):
    """Forward + backward FLOPs of a stack of dense layers on ``rows`` rows:
    forward 2*rows*in*out, weight gradient 2*rows*in*out, input gradient
    2*rows*in*out (skipped for the first layer when its input needs none)."""
    total = 0
    for idx, (_, i, o) in enumerate(layers):
        mm = 2 * rows * i * o
        total += 2 * mm  # forward and weight gradient
        if idx > 0 or input_grad_for_first:
            total += mm
    return total


def _activation_floats(layers, rows):
    return rows * sum(o for _, _, o in layers)


def _net_step_cost(batch, k):
    """Shared count of one SGVB (k=1) or IWAE (k particles) training step."""
    b, rows_dec = int(batch), int(batch) * int(k)
    params = _param_count(VAE_LAYERS)
    flops = _matmul_flops(ENC_LAYERS, b, input_grad_for_first=False)
    # The decoder's input z is reparameterised: its gradient flows to q.
    flops += _matmul_flops(DEC_LAYERS, rows_dec, input_grad_for_first=True)
    flops += b * (2 * H_DIM + 2 * Z_DIM) * 2          # encoder ReLUs, exp: fwd+bwd
    flops += rows_dec * (2 * H_DIM) * 2               # decoder ReLUs: fwd+bwd
    flops += rows_dec * (X_DIM * FLOPS_BERNOULLI
                         + Z_DIM * (FLOPS_NORMAL + FLOPS_STD_NORMAL))
    flops += params * FLOPS_ADAM
    # Bytes. Parameters: forward reads W and b (4P), backward reads W again
    # and writes its gradient (8P), Adam reads p, g, m, v and writes p, m, v
    # (28P): 40 bytes per parameter. Activations: a layer-by-layer step
    # writes each layer output once, reads it back in the backward pass, and
    # writes and reads its gradient: 4 accesses of 4 bytes. Same for eps and
    # z (k*B*40 each). The data x [B, 784] is read twice (forward, and for the
    # first layer's weight gradient).
    act = _activation_floats(ENC_LAYERS, b) + _activation_floats(DEC_LAYERS, rows_dec)
    act += 2 * rows_dec * Z_DIM
    nbytes = 40 * params + 16 * act + 2 * b * X_DIM * F32
    return params, flops, nbytes


def vae_cost(batch):
    """Case b: one training step of the tutorial's VAE (784-500-500-40).

    FLOPs: dense layers forward (2*B*in*out each), weight gradients (same),
    input gradients (same, except the first encoder layer, whose input x
    needs none); plus ReLU/exp, the log-densities and Adam (small next to the
    matmuls: about 1%). Bytes: 40 per parameter (forward read, backward read
    and gradient write, Adam's 4 reads and 3 writes) plus 16 per activation
    element (written, read back, gradient written and read) and x read twice.
    """
    params, flops, nbytes = _net_step_cost(batch, 1)
    return {"bytes": nbytes, "flops": flops, "params": params,
            "how": (f"FLOPs = 3 dense matmuls per layer (fwd, dW, dX; no dX for "
                    f"enc.fc1) + element-wise + Adam 10/param over {params} params; "
                    "bytes = 40/param (fwd read, bwd read + grad write, Adam 4 reads "
                    "3 writes) + 16/activation element + x read twice")}


def iwae_cost(batch, k):
    """Case c: one training step of an importance-weighted VAE with k samples.

    As :func:`vae_cost`, but the decoder and the log-densities run on k*B rows
    (the encoder on B rows): the decoder's three matmuls times k dominate.
    """
    params, flops, nbytes = _net_step_cost(batch, k)
    return {"bytes": nbytes, "flops": flops, "params": params,
            "how": (f"as the VAE step with the decoder and log-densities on k*B = "
                    f"{int(k) * int(batch)} rows and the encoder on B = {int(batch)} "
                    "rows; the log-mean-exp over k is negligible")}
