r"""NUTS on the Bayesian logistic regression of ``examples/blr_hmc.py``:
zhusuan against Pyro and NumPyro, side by side in one run.

The problem is the example's, taken from it (not copied): scikit-learn's
breast-cancer data (455 training points after the example's seeded 80/20
split, 30 features standardised with the training statistics, float32),
w ~ N(0, 1) per feature, an intercept b ~ N(0, 5^2), y ~ Bernoulli(sigmoid(
x^T w + b)). Every library gets the same data, priors, initial values
(Stan's: uniform on (-2, 2), drawn once, shared), warm-up and sample counts,
and the same sampler settings: multinomial NUTS, maximum tree depth 10,
Stan's windowed warm-up (dual averaging towards acceptance 0.8 and a
diagonal mass matrix), float32.

Chains: 4, each adapting its own step size and mass matrix, run the way each
library runs several chains in one process:

* zhusuan: ``zs.mcmc.NUTS``, the 4 chains along a leading axis, one Jittor
  graph per leapfrog step of all of them (lockstep; a chain that finished
  its tree waits);
* NumPyro: ``NUTS`` with ``MCMC(chain_method="vectorized")``, the same idea
  under ``jax.vmap`` (JAX on CPU);
* Pyro: ``pyro.infer.NUTS`` with ``MCMC(num_chains=1)`` four times, one
  after the other (Pyro runs several chains only as separate processes,
  which on a small shared machine would measure the scheduler), with its
  defaults otherwise (``jit_compile=False``).

Measured for each, after the warm-up and outside any compilation:

* **time per leapfrog step**: the wall time of the sampling phase divided
  by the leapfrog steps all chains took in it. zhusuan reports them per
  iteration and chain (``sampler.stats["n_steps"]``), NumPyro as the extra
  field ``num_steps``; Pyro does not report them, so its NUTS's calls of
  the leapfrog integrator (``velocity_verlet``, one per step) are counted.
  Vectorised chains share the per-step overhead, so this is the cost of one
  gradient of one chain as each library runs 4 chains;
* **bulk ESS per second**: ``zs.diagnostics.ess_bulk`` of every library's
  draws (one estimator for all; rank-normalised split chains), the smallest
  and the median over the 31 coefficients, divided by the sampling time.

Compilation is kept out of the timed phase: zhusuan runs a short untimed
run first (Jittor compiles each kernel on first use); NumPyro's
``MCMC.run`` compiles its sampling loop on every call (after
``mcmc.warmup``, the timed ``run`` continues from the warmed-up state), so
the compilation time that JAX reports through ``jax.monitoring`` (tracing,
lowering and XLA's compile) is subtracted from that call's wall time; Pyro
compiles nothing (``pyro-jit`` traces in the warm-up). The warm-up time
(compilation included) is reported too.

The posterior means must agree: for every coefficient, the difference
between two libraries' means divided by the combined Monte-Carlo standard
error (sd / sqrt(bulk ESS) of each) stays below :data:`MAX_Z`.

Sizes: ``full`` 500 warm-up + 500 draws per chain (the example's defaults;
``make bench``), ``quick`` 200 + 200 (``make bench-quick``: chosen when
``--benchmark-max-time`` is below 1 s, as that target sets it), ``smoke``
30 + 30; ``ZHUSUAN_BENCH_NUTS=full|quick|smoke`` overrides. With pytest,
each library is one test timed end to end (warm-up and sampling, one round;
NumPyro's compilation included, since it happens inside them), with the
figures above in ``extra_info``; the last test writes the side-by-side
report to ``benches/results/nuts.md`` (and ``nuts.json``)::

    python -m pytest benches/bench_nuts.py -o python_files='bench_*.py' -q \
        --benchmark-only

or stand-alone::

    python benches/bench_nuts.py [--quick | --smoke] [--out benches/results]

Pyro is the ``bench`` extra; NumPyro is the optional ``bench-jax`` extra:
a library that is not installed is reported as skipped, with the reason.
``--libraries zhusuan,pyro,numpyro,pyro-jit`` adds Pyro with
``jit_compile=True`` (stand-alone only). ``--threads N`` gives Jittor and
PyTorch N threads each (under pytest, whose conftest loads Jittor first:
``OMP_NUM_THREADS=N ZHUSUAN_BENCH_THREADS=N``).
"""

import datetime
import importlib.util
import json
import math
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("log_silent", "1")  # Jittor's compile logs
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no accelerator probing

# Threads (``--threads N``, or ZHUSUAN_BENCH_THREADS=N under pytest): Jittor
# reads OMP_NUM_THREADS once, when it is loaded (below), so it is set here;
# PyTorch's is set before Pyro runs. On a loaded machine PyTorch's default
# (one thread per core) can be ten times slower per gradient than one thread.
if __name__ == "__main__" and "--threads" in sys.argv[:-1]:
    os.environ["ZHUSUAN_BENCH_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]
THREADS = os.environ.get("ZHUSUAN_BENCH_THREADS")
if THREADS:
    if not THREADS.isdigit() or int(THREADS) < 1:
        raise SystemExit(f"threads: expected a positive integer, got {THREADS!r}")
    os.environ["OMP_NUM_THREADS"] = THREADS

import numpy as np  # noqa: E402

# isort: off
import zhusuan as zs  # noqa: E402  (configures Jittor before its import)
import jittor as jt  # noqa: E402

# isort: on
from benches.run import _cpu_model  # noqa: E402  (the machine, as the other benches report it)

MODES = {"full": {"warmup": 500, "samples": 500},
         "quick": {"warmup": 200, "samples": 200},
         "smoke": {"warmup": 30, "samples": 30}}
CHAINS = 4
SEED = 1234
MAX_TREE_DEPTH = 10
TARGET_ACCEPT = 0.8
INIT_STEP_SIZE = 0.05  # the example's; every library searches its own at once
# Largest |difference of means| / combined Monte-Carlo standard error allowed
# over the 31 coefficients: with 31 comparisons per pair of libraries, a
# threshold of 4.5 is crossed by chance with probability ~2e-4.
MAX_Z = 4.5
LIBRARIES = ("zhusuan", "pyro", "numpyro")  # the default contenders
# Opt-in (--libraries): Pyro with jit_compile=True (its potential energy and
# gradient traced by torch.jit, which Pyro documents as faster).
OPTIONAL = ("pyro-jit",)


class Unavailable(Exception):
    """A library that cannot run here (not installed)."""


def _example():
    """examples/blr_hmc.py as a module: its data loader, model and priors."""
    path = os.path.join(ROOT, "examples", "blr_hmc.py")
    spec = importlib.util.spec_from_file_location("_blr_hmc_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def problem(chains=CHAINS, seed=SEED):
    """The data (the example's training split), the priors and the shared
    initial values (Stan's uniform(-2, 2), one row per chain)."""
    ex = _example()
    data = ex.load_breast_cancer_split(split_seed=0)
    x, y = data["x_train"], data["y_train"]
    rng = np.random.default_rng(seed)
    init = {"w": rng.uniform(-2, 2, (chains, x.shape[1])).astype(np.float32),
            "b": rng.uniform(-2, 2, (chains, 1)).astype(np.float32)}
    return {"x": x, "y": y, "prior_w": ex.PRIOR_W, "prior_b": ex.PRIOR_B,
            "init": init, "chains": chains, "seed": seed, "example": ex}


def _result(name, draws, n_steps, warmup_s, sampling_s, divergences, step_sizes,
            notes=""):
    """``draws``: name -> [n_draws, n_chains, ...]; ``n_steps``: leapfrog
    steps of the sampling phase, per iteration and chain [n_draws, n_chains]."""
    n_steps = np.asarray(n_steps, np.int64)
    draws = {k: np.asarray(v, np.float32) for k, v in draws.items()}
    return {"name": name, "draws": draws,
            "n_steps": n_steps, "warmup_s": warmup_s, "sampling_s": sampling_s,
            "divergences": int(divergences),
            "step_size": [float(s) for s in np.ravel(step_sizes)], "notes": notes}


# --------------------------------------------------------------------------- #
# zhusuan
# --------------------------------------------------------------------------- #
class Zhusuan:
    name = "zhusuan"
    how = "zs.mcmc.NUTS, 4 chains along a leading axis (one graph per leapfrog step)"

    def __init__(self, prob, warmup, samples):
        self.prob, self.warmup, self.samples = prob, warmup, samples

    def version(self):
        return f"zhusuan {zs.__version__} (Jittor {jt.__version__}, backend " \
               f"{zs.kernels.get_backend()})"

    def _setup(self):
        p = self.prob
        c, (n, dim) = p["chains"], p["x"].shape
        net = p["example"].LogisticRegression(c, dim)
        obs = {"x": jt.array(p["x"]),
               "y": jt.array(np.ascontiguousarray(np.broadcast_to(p["y"], (c, n))))}
        return net, obs

    def _sampler(self):
        return zs.mcmc.NUTS(step_size=INIT_STEP_SIZE, max_tree_depth=MAX_TREE_DEPTH,
                            target_acceptance_rate=TARGET_ACCEPT, dense_mass=False)

    def compile(self):
        """A short untimed run: Jittor compiles every kernel on first use."""
        net, obs = self._setup()
        init = {k: jt.array(v) for k, v in self.prob["init"].items()}
        jt.set_global_seed(self.prob["seed"] + 99)
        self._sampler().run(net, obs, init, n_warmup=10, n_samples=5, progress=False)

    def warm_up(self):
        self.net, self.obs = self._setup()
        jt.set_global_seed(self.prob["seed"])
        self.sampler = self._sampler()
        init = {k: jt.array(v) for k, v in self.prob["init"].items()}
        t0 = time.perf_counter()
        self.sampler.run(self.net, self.obs, init, n_warmup=self.warmup, n_samples=0,
                         progress=False)
        self.warmup_s = time.perf_counter() - t0

    def sample(self):
        """The timed phase: continue the warmed-up chains, no adaptation."""
        t0 = time.perf_counter()
        draws = self.sampler.run(self.net, self.obs, None, n_warmup=0,
                                 n_samples=self.samples, progress=False)
        seconds = time.perf_counter() - t0
        s = self.sampler
        return _result(self.name, draws, s.stats["n_steps"], self.warmup_s, seconds,
                       s.n_divergences.sum(), s.current_step_size)


# --------------------------------------------------------------------------- #
# Pyro
# --------------------------------------------------------------------------- #
class Pyro:
    name = "pyro"
    how = ("pyro.infer.NUTS + MCMC(num_chains=1), the 4 chains one after the "
           "other in this process; jit_compile=False (the default)")
    jit = False

    def __init__(self, prob, warmup, samples):
        self.prob, self.warmup, self.samples = prob, warmup, samples
        try:
            import pyro  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"Pyro is not installed ({exc}); it is the 'bench' "
                              "extra: make bench-deps") from exc

    def version(self):
        import pyro
        import torch

        return f"Pyro {pyro.__version__} (PyTorch {torch.__version__}, " \
               f"{torch.get_num_threads()} threads)"

    def compile(self):
        pass  # eager PyTorch: nothing to compile

    def warm_up(self):
        pass  # Pyro's MCMC runs warm-up and sampling in one call: see sample()

    def sample(self):
        import pyro
        import pyro.distributions as dist
        import pyro.infer.mcmc.nuts as pyro_nuts
        import torch
        from pyro.infer import MCMC, NUTS

        if THREADS:
            torch.set_num_threads(int(THREADS))
        p = self.prob
        x, y = torch.tensor(p["x"]), torch.tensor(p["y"])
        dim = x.shape[1]
        prior_w, prior_b = float(p["prior_w"]), float(p["prior_b"])

        def model(x, y):
            w = pyro.sample("w", dist.Normal(torch.zeros(dim), prior_w).to_event(1))
            b = pyro.sample("b", dist.Normal(torch.zeros(1), prior_b).to_event(1))
            logits = x @ w + b
            pyro.sample("y", dist.Bernoulli(logits=logits).to_event(1), obs=y)

        # Pyro reports no leapfrog count: count its NUTS's integrator calls
        # (one leapfrog step each; the step-size search, in pyro.infer.mcmc.hmc,
        # is not counted, as in the other libraries' counts).
        calls = [0]
        real_vv = pyro_nuts.velocity_verlet

        def counting_vv(*args, **kwargs):
            calls[0] += 1
            return real_vv(*args, **kwargs)

        draws = {"w": [], "b": []}
        n_steps, step_sizes = [], []
        warmup_s = sampling_s = 0.0
        divergences = 0
        pyro_nuts.velocity_verlet = counting_vv
        try:
            for c in range(p["chains"]):
                pyro.set_rng_seed(p["seed"] + c)
                per_iter, mark = [], {}

                def hook(kernel, params, stage, i, per_iter=per_iter, mark=mark):
                    now = time.perf_counter()
                    if stage.startswith("Warmup"):
                        if i == self.warmup - 1:
                            mark["warmup_end"] = now
                            mark["steps"] = calls[0]
                    else:
                        per_iter.append(calls[0] - mark["steps"])
                        mark["steps"] = calls[0]
                        mark["end"] = now

                kernel = NUTS(model, step_size=INIT_STEP_SIZE, adapt_step_size=True,
                              adapt_mass_matrix=True, full_mass=False,
                              use_multinomial_sampling=True,
                              target_accept_prob=TARGET_ACCEPT,
                              max_tree_depth=MAX_TREE_DEPTH, jit_compile=self.jit,
                              ignore_jit_warnings=self.jit)
                init = {k: torch.tensor(v[c]) for k, v in p["init"].items()}
                mcmc = MCMC(kernel, num_samples=self.samples, warmup_steps=self.warmup,
                            num_chains=1, initial_params=init, disable_progbar=True,
                            hook_fn=hook)
                mark["steps"] = calls[0]
                t0 = time.perf_counter()
                mcmc.run(x, y)
                if self.warmup == 0:
                    mark["warmup_end"] = t0
                warmup_s += mark["warmup_end"] - t0
                sampling_s += mark["end"] - mark["warmup_end"]
                got = mcmc.get_samples()
                for k in draws:
                    draws[k].append(got[k].detach().numpy())
                n_steps.append(per_iter)
                step_sizes.append(kernel.step_size)
                divergences += len(mcmc.diagnostics()["divergences"]["chain 0"])
        finally:
            pyro_nuts.velocity_verlet = real_vv
        draws = {k: np.stack(v, axis=1) for k, v in draws.items()}  # [S, C, ...]
        return _result(self.name, draws, np.array(n_steps).T, warmup_s, sampling_s,
                       divergences, step_sizes,
                       notes="sampling time from Pyro's per-iteration hook")


# --------------------------------------------------------------------------- #
# NumPyro
# --------------------------------------------------------------------------- #
class NumPyro:
    name = "numpyro"
    how = "numpyro.infer.NUTS + MCMC(num_chains=4, chain_method='vectorized')"

    def __init__(self, prob, warmup, samples):
        self.prob, self.warmup, self.samples = prob, warmup, samples
        try:
            import jax  # noqa: F401
            import numpyro  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"NumPyro is not installed ({exc}); it is the optional "
                              "'bench-jax' extra: pip install numpyro "
                              "'jax[cpu]<0.8'") from exc

    def version(self):
        import jax
        import numpyro

        return f"NumPyro {numpyro.__version__} (JAX {jax.__version__}, " \
               f"{jax.default_backend()})"

    def compile(self):
        pass  # compiled inside warm_up() and the untimed first sampling pass

    def warm_up(self):
        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC, NUTS

        p = self.prob
        self.x, self.y = jnp.asarray(p["x"]), jnp.asarray(p["y"])
        dim = p["x"].shape[1]
        prior_w, prior_b = float(p["prior_w"]), float(p["prior_b"])

        def model(x, y):
            w = numpyro.sample("w", dist.Normal(jnp.zeros(dim), prior_w).to_event(1))
            b = numpyro.sample("b", dist.Normal(jnp.zeros(1), prior_b).to_event(1))
            logits = x @ w + b
            numpyro.sample("y", dist.Bernoulli(logits=logits).to_event(1), obs=y)

        self.kernel = NUTS(model, step_size=INIT_STEP_SIZE, adapt_step_size=True,
                           adapt_mass_matrix=True, dense_mass=False,
                           target_accept_prob=TARGET_ACCEPT,
                           max_tree_depth=MAX_TREE_DEPTH)
        self.mcmc = MCMC(self.kernel, num_warmup=self.warmup, num_samples=self.samples,
                         num_chains=p["chains"], chain_method="vectorized",
                         progress_bar=False)
        init = {k: jnp.asarray(v) for k, v in p["init"].items()}
        t0 = time.perf_counter()
        self.mcmc.warmup(jax.random.PRNGKey(p["seed"]), self.x, self.y,
                         init_params=init, extra_fields=("num_steps",))
        jax.block_until_ready(self.mcmc.post_warmup_state)
        self.warmup_s = time.perf_counter() - t0

    def sample(self):
        import jax

        m = self.mcmc
        _count_jax_compilation()
        _JAX_COMPILE.update(on=True, seconds=0.0)
        try:
            t0 = time.perf_counter()
            m.run(m.post_warmup_state.rng_key, self.x, self.y,
                  extra_fields=("num_steps",))
            jax.block_until_ready(m.last_state)
            samples = m.get_samples(group_by_chain=True)  # [C, S, ...]
            jax.block_until_ready(samples)
            wall = time.perf_counter() - t0
        finally:
            _JAX_COMPILE["on"] = False
        compile_s = _JAX_COMPILE["seconds"]
        seconds = wall - compile_s
        draws = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in samples.items()}
        extra = m.get_extra_fields(group_by_chain=True)
        n_steps = np.asarray(extra["num_steps"]).T  # [S, C]
        div = int(np.asarray(extra["diverging"]).sum())
        step = np.asarray(m.last_state.adapt_state.step_size)
        return _result(self.name, draws, n_steps, self.warmup_s, seconds, div, step,
                       notes=f"warm-up time includes compiling the warm-up program; "
                             f"the sampling time is {wall:.2f} s of wall time less "
                             f"{compile_s:.2f} s that JAX reports compiling the "
                             "sampling loop (MCMC.run compiles it on every call)")


class PyroJit(Pyro):
    name = "pyro-jit"
    how = ("as pyro, with jit_compile=True (traced in each chain's first "
           "iterations, inside the warm-up)")
    jit = True


# NumPyro's MCMC.run compiles its sampling loop again on every call (NumPyro
# 0.22: the loop's transform is a new function each time, so JAX's cache
# misses), about 7 s here. JAX reports the time of each compilation stage
# (tracing, lowering to MLIR, XLA's compile) through jax.monitoring; the
# timed pass subtracts what it reports.
_JAX_COMPILE = {"on": False, "seconds": 0.0, "registered": False}


def _jax_compile_listener(event, duration_secs, **kwargs):
    if _JAX_COMPILE["on"] and event.startswith("/jax/core/compile/"):
        _JAX_COMPILE["seconds"] += duration_secs


def _count_jax_compilation():
    if not _JAX_COMPILE["registered"]:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_jax_compile_listener)
        _JAX_COMPILE["registered"] = True


CONTENDERS = {"zhusuan": Zhusuan, "pyro": Pyro, "numpyro": NumPyro,
              "pyro-jit": PyroJit}


# --------------------------------------------------------------------------- #
# Figures, agreement, report
# --------------------------------------------------------------------------- #
def _flat(draws):
    """name -> [S, C, ...] to [S, C, 31] in the order w[0..29], b[0]."""
    s, c = draws["w"].shape[:2]
    return np.concatenate([draws["w"].reshape(s, c, -1), draws["b"].reshape(s, c, -1)],
                          axis=2).astype(np.float64)


def figures(res):
    """Time per leapfrog step, bulk ESS and ESS/s, means and MC errors."""
    flat = _flat(res["draws"])
    ess = np.asarray(zs.diagnostics.ess_bulk(flat), np.float64)
    rhat = np.asarray(zs.diagnostics.split_rhat(flat), np.float64)
    steps = int(res["n_steps"].sum())
    sd = flat.reshape(-1, flat.shape[-1]).std(0, ddof=1)
    t = res["sampling_s"]
    return {"leapfrog_steps": steps,
            "steps_per_iteration": float(res["n_steps"].mean()),
            "us_per_leapfrog": 1e6 * t / steps if steps else float("nan"),
            "min_ess_bulk": float(ess.min()), "median_ess_bulk": float(np.median(ess)),
            "min_ess_per_s": float(ess.min() / t), "median_ess_per_s":
            float(np.median(ess) / t), "max_r_hat": float(rhat.max()),
            "mean": flat.reshape(-1, flat.shape[-1]).mean(0), "sd": sd,
            "mcse": sd / np.sqrt(ess)}


def agreement(figs):
    """Per pair of libraries: the largest |difference of posterior means| in
    combined Monte-Carlo standard errors, and the coefficient where it is."""
    names = list(figs)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fa, fb = figs[a], figs[b]
            z = np.abs(fa["mean"] - fb["mean"]) / np.sqrt(fa["mcse"] ** 2
                                                          + fb["mcse"] ** 2)
            k = int(np.argmax(z))
            label = f"w[{k}]" if k < len(z) - 1 else "b[0]"
            out.append({"pair": f"{a} vs {b}", "max_z": float(z[k]), "where": label,
                        "ok": bool(z[k] < MAX_Z)})
    return out


def _load():
    return list(os.getloadavg())


def _threads():
    info = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset")}
    try:
        import torch

        if THREADS:
            torch.set_num_threads(int(THREADS))
        info["torch"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def report(results, skipped, mode, settings, load_start, load_end):
    """The side-by-side report: a dict (nuts.json) and Markdown (nuts.md)."""
    figs = {n: figures(r) for n, r in results.items()}
    agree = agreement(figs)
    ref = figs.get("zhusuan")
    rows = []
    for name in LIBRARIES + OPTIONAL:
        if name in skipped:
            rows.append({"library": name, "status": "skipped", "reason": skipped[name]})
            continue
        if name not in results:
            continue
        r, f = results[name], figs[name]
        row = {"library": name, "status": "ok", "version": r.get("version"),
               "how": r.get("how"), "warmup_s": r["warmup_s"],
               "sampling_s": r["sampling_s"], "divergences": r["divergences"],
               "step_size": r["step_size"], "notes": r["notes"]}
        row.update({k: v for k, v in f.items() if k not in ("mean", "sd", "mcse")})
        if ref is not None:
            row["us_per_leapfrog_over_zhusuan"] = (f["us_per_leapfrog"]
                                                   / ref["us_per_leapfrog"])
            row["zhusuan_ess_per_s_over_this"] = (ref["min_ess_per_s"]
                                                  / f["min_ess_per_s"])
        rows.append(row)
    doc = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(
               timespec="seconds"),
           "mode": mode, "chains": CHAINS, "warmup": settings["warmup"],
           "samples": settings["samples"], "max_tree_depth": MAX_TREE_DEPTH,
           "target_accept": TARGET_ACCEPT, "machine": {
               "cpu": _cpu_model(), "cores_usable": len(os.sched_getaffinity(0)),
               "python": platform.python_version(), "threads": _threads(),
               "load_average_start": load_start, "load_average_end": load_end},
           "rows": rows, "agreement": agree, "max_z": MAX_Z,
           "posterior_means": {n: f["mean"].tolist() for n, f in figs.items()}}
    return doc, markdown(doc)


def _g(v, digits=3):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) \
        else f"{v:.{digits}g}"


def markdown(doc):
    m = doc["machine"]
    la0, la1 = m["load_average_start"], m["load_average_end"]
    lines = [f"# NUTS: Bayesian logistic regression ({doc['mode']} run, "
             f"{doc['created']})", "",
             "Made by `benches/bench_nuts.py`. The breast-cancer model of "
             "`examples/blr_hmc.py` (455 points, 30 standardised features and an "
             "intercept; w ~ N(0, 1), b ~ N(0, 5^2)), the same data, initial "
             f"values and settings in every library: {doc['chains']} chains, "
             f"{doc['warmup']} warm-up iterations and {doc['samples']} draws per "
             f"chain, maximum tree depth {doc['max_tree_depth']}, Stan's warm-up "
             f"(target acceptance {doc['target_accept']}, diagonal mass), float32. "
             "µs/leapfrog is the sampling phase's wall time over the leapfrog "
             "steps of all chains; ESS is zhusuan's bulk ESS (`zs.diagnostics`) "
             "of each library's draws over the 31 coefficients, per second of "
             "the sampling phase. Compilation is outside the timed phase.", "",
             f"**Machine:** {m['cpu']}, {m['cores_usable']} usable cores, Python "
             f"{m['python']}, threads {m['threads']}; load average (1, 5, 15 min) "
             f"{', '.join(f'{v:.2f}' for v in la0)} at the start, "
             f"{', '.join(f'{v:.2f}' for v in la1)} at the end.", ""]
    if max(la0[0], la1[0]) > 0.75 * m["cores_usable"]:
        lines += ["**Note:** the machine was busy (load above 0.75 per core): "
                  "other processes competed for the cores, the figures are noisy "
                  "and the libraries ran one after the other, not alternating.", ""]
    lines += ["| library | warm-up s | sampling s | leapfrogs/iter | µs/leapfrog | "
              "min bulk ESS | median bulk ESS | min ESS/s | median ESS/s | max R-hat "
              "| divergences | µs/leapfrog ÷ zhusuan's | zhusuan's min ESS/s ÷ this |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["rows"]:
        if r["status"] != "ok":
            lines.append(f"| {r['library']} | skipped: {r['reason']} "
                         "| | | | | | | | | | | |")
            continue
        lines.append(
            f"| {r['library']} | {r['warmup_s']:.1f} | {r['sampling_s']:.2f} | "
            f"{r['steps_per_iteration']:.1f} | {r['us_per_leapfrog']:.0f} | "
            f"{r['min_ess_bulk']:.0f} | {r['median_ess_bulk']:.0f} | "
            f"{r['min_ess_per_s']:.0f} | {r['median_ess_per_s']:.0f} | "
            f"{r['max_r_hat']:.3f} | {r['divergences']} | "
            f"{_g(r.get('us_per_leapfrog_over_zhusuan'))} | "
            f"{_g(r.get('zhusuan_ess_per_s_over_this'))} |")
    lines += ["", "How each library ran its chains:", ""]
    for r in doc["rows"]:
        if r["status"] == "ok":
            lines.append(f"- **{r['library']}** ({r['version']}): {r['how']}."
                         + (f" {r['notes'][0].upper()}{r['notes'][1:]}."
                            if r["notes"] else ""))
    lines += ["", f"Posterior means (largest |difference| in combined Monte-Carlo "
              f"standard errors, must be below {doc['max_z']}):", ""]
    for a in doc["agreement"]:
        lines.append(f"- {a['pair']}: {a['max_z']:.2f} (at {a['where']}): "
                     f"{'agree' if a['ok'] else 'DISAGREE'}")
    return "\n".join(lines) + "\n"


def write(doc, md, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "nuts.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "nuts.md"), "w") as f:
        f.write(md)


def make(name, prob, settings):
    """The contender ``name`` set up for ``settings``; raises Unavailable."""
    c = CONTENDERS[name](prob, settings["warmup"], settings["samples"])
    return c


def run_one(contender):
    """Compile, warm up, then the timed sampling phase; the result dict."""
    contender.compile()
    contender.warm_up()
    res = contender.sample()
    res["version"], res["how"] = contender.version(), contender.how
    return res


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "results"))
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for Jittor (OMP_NUM_THREADS) and PyTorch "
                         "(default: each library's own); JAX keeps its own")
    ap.add_argument("--libraries", default=",".join(LIBRARIES),
                    help=f"comma-separated, of {','.join(LIBRARIES + OPTIONAL)}")
    args = ap.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    settings = MODES[mode]
    names = [s.strip() for s in args.libraries.split(",") if s.strip()]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown or not names:
        ap.error(f"--libraries: unknown {unknown}; choose from "
                 f"{','.join(LIBRARIES + OPTIONAL)}")
    prob = problem()
    load_start = _load()
    results, skipped = {}, {}
    for name in names:
        try:
            c = make(name, prob, settings)
        except Unavailable as exc:
            skipped[name] = str(exc)
            print(f"{name}: skipped ({exc})")
            continue
        results[name] = run_one(c)
        f = figures(results[name])
        print(f"{name}: {results[name]['sampling_s']:.2f} s sampling, "
              f"{f['leapfrog_steps']} leapfrogs ({f['us_per_leapfrog']:.0f} µs each), "
              f"min bulk ESS {f['min_ess_bulk']:.0f} ({f['min_ess_per_s']:.0f}/s)")
    doc, md = report(results, skipped, mode, settings, load_start, _load())
    write(doc, md, args.out)
    print(md)
    bad = [a for a in doc["agreement"] if not a["ok"]]
    if bad:
        print("posterior means disagree: " + "; ".join(
            f"{a['pair']} {a['max_z']:.2f}" for a in bad))
        return 1
    return 0


# --------------------------------------------------------------------------- #
# pytest-benchmark
# --------------------------------------------------------------------------- #
def _pytest_mode(config):
    mode = os.environ.get("ZHUSUAN_BENCH_NUTS")
    if mode:
        if mode not in MODES:
            raise ValueError(f"ZHUSUAN_BENCH_NUTS={mode!r}: choose from "
                             f"{sorted(MODES)}")
        return mode
    try:
        max_time = float(config.getoption("benchmark_max_time"))
    except (ValueError, TypeError):
        max_time = 1.0
    return "quick" if max_time < 1.0 else "full"  # make bench-quick sets 0.2


try:
    import pytest
except ImportError:  # stand-alone use without pytest
    pytest = None

if pytest is not None:
    _STATE = {"results": {}, "skipped": {}, "load_start": None}

    @pytest.fixture(scope="module")
    def nuts_setup(request):
        mode = _pytest_mode(request.config)
        _STATE["load_start"] = _load()
        return {"mode": mode, "settings": MODES[mode], "problem": problem()}

    @pytest.mark.parametrize("library", LIBRARIES)
    def test_nuts_blr(benchmark, nuts_setup, library):
        try:
            c = make(library, nuts_setup["problem"], nuts_setup["settings"])
        except Unavailable as exc:
            _STATE["skipped"][library] = str(exc)
            pytest.skip(str(exc))
        c.compile()
        out = {}

        def warm_up_and_sample():
            c.warm_up()
            out["res"] = c.sample()

        s = nuts_setup["settings"]
        benchmark.group = (f"NUTS, logistic regression ({CHAINS} chains, "
                           f"{s['warmup']} + {s['samples']} iterations each, "
                           f"{nuts_setup['mode']}): warm-up and sampling")
        benchmark.pedantic(warm_up_and_sample, rounds=1, iterations=1)
        res = out["res"]
        res["version"], res["how"] = c.version(), c.how
        _STATE["results"][library] = res
        f = figures(res)
        benchmark.extra_info.update(
            library=library, leapfrog_steps=f["leapfrog_steps"],
            us_per_leapfrog=f["us_per_leapfrog"], min_ess_bulk=f["min_ess_bulk"],
            min_ess_per_s=f["min_ess_per_s"], divergences=res["divergences"])
        assert np.isfinite(f["mean"]).all()
        assert f["leapfrog_steps"] > 0

    def test_nuts_blr_side_by_side(benchmark, nuts_setup):
        """The report (benches/results/nuts.md, nuts.json) and the agreement
        of the posterior means across libraries. (It takes the benchmark
        fixture, timing the report, so that --benchmark-only runs it.)"""
        results = _STATE["results"]
        if "zhusuan" not in results:
            pytest.skip("zhusuan's run did not complete")
        out = {}

        def make_report():
            out["doc"], out["md"] = report(results, _STATE["skipped"],
                                           nuts_setup["mode"], nuts_setup["settings"],
                                           _STATE["load_start"], _load())

        benchmark.group = "NUTS, logistic regression: the side-by-side report"
        benchmark.pedantic(make_report, rounds=1, iterations=1)
        doc = out["doc"]
        write(doc, out["md"], os.path.join(ROOT, "benches", "results"))
        bad = [a for a in doc["agreement"] if not a["ok"]]
        assert not bad, f"posterior means disagree: {bad}"


if __name__ == "__main__":
    sys.exit(main())
