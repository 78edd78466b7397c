"""Compare zhusuan with the alternatives, on this machine, in one run.

Usage::

    python benches/run.py                 # full run (make bench)
    python benches/run.py --quick         # fewer repetitions (make bench-quick)
    python benches/run.py --smoke         # every code path once, timing off (CI)
    python benches/run.py --cases head,vae --reps 21 --out benches/results

What it does, in order:

1. describes the machine (CPU, cores, memory, load, library versions and
   zhusuan's backends);
2. measures the machine's ceilings: copy bandwidth and the best matmul rate
   (:mod:`benches.floors`), before the cases and again after them, keeping
   the better of the two;
3. for every case (``head`` at B = 1, 128, 1024, 4096 (B = 1 is the fixed
   cost of a call: framework, graph and launch, almost no arithmetic);
   ``vae``; ``iwae``) sets up
   each contender (:mod:`benches.cases`), checks that all of them compute the
   same values as zhusuan on identical inputs and weights, then times them:
   a warm-up (which also compiles Jittor's kernels), then ``reps``
   repetitions in which the contenders alternate (A B C, C B A, A B C, ...)
   so that drift of the machine's speed hits all of them alike; a repetition
   is as many consecutive calls as last about ``target`` seconds, and its time
   divided by its calls is one sample (see :func:`time_alternating`; each case
   also has a time budget after which no new repetition starts); the report
   gives the median, min and max of the samples, the ratio of each median to
   zhusuan's (its default backend) and to the case's floor;
4. writes ``latest.json``, ``latest.md`` and ``latest.png`` into ``--out``.

``--smoke`` runs one call per contender and tiny sizes: it checks that the
code path works and that the numbers are consistent, not how fast anything
is. PyTorch and Pyro are optional: without them their contenders are listed
as skipped, with the reason.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

os.environ.setdefault("log_silent", "1")  # Jittor's compile logs

if __package__ in (None, ""):  # run as a script: make ``benches`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

__all__ = ["main", "run", "MODES", "CHECK_RTOL", "describe_machine", "time_alternating",
           "set_threads"]

# Imported by _load_libraries(), after --threads has set OMP_NUM_THREADS
# (which libgomp, and so Jittor, reads once when it is loaded).
zs = jt = cases = floors = None


def _load_libraries():
    global zs, jt, cases, floors
    if cases is None:
        import zhusuan  # noqa: I001  (before jittor: sets Jittor's environment)
        import jittor

        from benches import cases as _cases, floors as _floors

        zs, jt, cases, floors = zhusuan, jittor, _cases, _floors


def set_threads(n, log=print):
    """Use ``n`` threads in every framework: OMP_NUM_THREADS for Jittor (and
    oneDNN), which only takes effect if Jittor is not loaded yet, and
    ``torch.set_num_threads`` for PyTorch."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "jittor" in sys.modules:
        log(f"warning: Jittor is already loaded; OMP_NUM_THREADS={n} may not "
            "apply to it")
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)

# Settings per mode: repetitions per case, the seconds one repetition should
# last (calls per repetition are calibrated to reach it), warm-up calls, the
# time budget of each case instance (seconds of timed rounds; no new round
# starts after it, so a busy machine cannot make the run arbitrarily long),
# and the sizes.
MODES = {
    "full": {"reps": {"head": 51, "vae": 41, "iwae": 15}, "target": 0.1, "warmup": 5,
             "budget": {"head": 60.0, "vae": 90.0, "iwae": 60.0},
             "head_batches": (1, 128, 1024, 4096), "vae_batch": 128,
             "iwae_batch": 128, "iwae_k": 50},
    "quick": {"reps": {"head": 9, "vae": 7, "iwae": 3}, "target": 0.02, "warmup": 3,
              "budget": {"head": 8.0, "vae": 15.0, "iwae": 10.0},
              "head_batches": (1, 128, 1024, 4096), "vae_batch": 128,
              "iwae_batch": 128, "iwae_k": 50},
    "smoke": {"reps": {"head": 1, "vae": 1, "iwae": 1}, "target": 0.0, "warmup": 1,
              "budget": {"head": None, "vae": None, "iwae": None},
              "head_batches": (16,), "vae_batch": 16, "iwae_batch": 4, "iwae_k": 3},
}
CASES = ("head", "vae", "iwae")

# Agreement of every contender with zhusuan on identical inputs and weights:
# the largest absolute difference of each value, divided by the largest
# absolute value of zhusuan's, must stay below CHECK_RTOL. Everything is
# float32 (unit roundoff 6e-8); sums over up to 4096*784 terms in different
# orders and the tutorial's probs -> logits round trip (sigmoid, then
# log p - log1p(-p)) give differences up to ~2e-5 here; 1e-4 leaves room
# while still catching a wrong constant, reduction or sign (errors of 1e-3
# and more).
CHECK_RTOL = 1e-4


# --------------------------------------------------------------------------- #
# The machine
# --------------------------------------------------------------------------- #
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(name):
    try:
        mod = __import__(name)
    except ImportError:
        return None
    return getattr(mod, "__version__", "unknown")


def describe_machine():
    """CPU, cores, memory, load, versions, threads and zhusuan's backends."""
    _load_libraries()
    from jittor.compile_extern import mkl_ops

    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "load_average_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jittor": jt.__version__,
        "jittor_onednn": mkl_ops is not None,
        "torch": _version("torch"),
        "pyro": _version("pyro"),
        "zhusuan": zs.__version__,
        "zhusuan_backends": zs.kernels.backend_info(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": None,
    }
    if info["torch"] is not None:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    return info


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #
def time_alternating(contenders, reps, target, warmup, budget=None, min_reps=3,
                     log=print):
    """Time ``step()`` of each contender, alternating between them.

    After ``warmup`` untimed calls each, ``reps`` rounds run every contender
    once, in alternating order (A B C, then C B A, ...). In a round a
    contender makes ``calls`` consecutive calls, timed together, and the time
    per call is one sample. ``calls`` is chosen so that one sample lasts about
    ``target`` seconds (timer resolution and per-sample overhead vanish), from
    the median of the calls so far, and re-chosen after every round, so that
    a machine that slows down (or a warm-up call that was lucky) cannot make
    samples long. With ``budget`` (seconds), no new round starts once the
    rounds have taken that long and at least ``min_reps`` rounds ran.

    Returns ``{name: {"samples": [...], "calls": [...], "loss_first": ...,
    "loss_last": ..., "error": str or None}}`` and the number of rounds run.
    A contender whose step raises is dropped from the rotation with the error
    recorded.
    """
    out = {c.name: {"samples": [], "calls": [], "loss_first": None, "loss_last": None,
                    "error": None} for c in contenders}
    per_call = {}
    live = []
    for c in contenders:
        rec = out[c.name]
        try:
            times = []
            for i in range(max(1, warmup)):
                t0 = time.perf_counter()
                loss = c.step()
                times.append(time.perf_counter() - t0)
                if i == 0:
                    rec["loss_first"] = loss
            rec["loss_last"] = loss
            per_call[c.name] = statistics.median(times[1:] or times)
            live.append(c)
        except Exception as exc:  # report it in the table, keep the others
            rec["error"] = _describe(exc)
            log(f"    {c.name}: failed in warm-up: {rec['error']}")
    t_start = time.perf_counter()
    rounds = 0
    for r in range(reps):
        if (budget is not None and r >= min_reps
                and time.perf_counter() - t_start > budget):
            break
        order = live if r % 2 == 0 else live[::-1]
        for c in order:
            rec = out[c.name]
            if rec["error"]:
                continue
            n = max(1, math.ceil(target / max(per_call[c.name], 1e-9)))
            try:
                t0 = time.perf_counter()
                for _ in range(n):
                    loss = c.step()
                rec["samples"].append((time.perf_counter() - t0) / n)
                rec["calls"].append(n)
                rec["loss_last"] = loss
                per_call[c.name] = statistics.median(rec["samples"])
            except Exception as exc:
                rec["error"] = _describe(exc)
                log(f"    {c.name}: failed: {rec['error']}")
        rounds += 1
    return out, rounds


def _describe(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #
def _plan(selected, settings):
    """The case instances to run: (key, label, params, contenders, cost)."""
    plan = []
    if "head" in selected:
        for b in settings["head_batches"]:
            plan.append(("head", f"head B={b}", {"B": b}, cases.head_contenders(b),
                         floors.head_cost(b)))
    if "vae" in selected:
        b = settings["vae_batch"]
        plan.append(("vae", f"VAE step B={b}", {"B": b}, cases.vae_contenders(b),
                     floors.vae_cost(b)))
    if "iwae" in selected:
        b, k = settings["iwae_batch"], settings["iwae_k"]
        plan.append(("iwae", f"IWAE step B={b} k={k}", {"B": b, "k": k},
                     cases.iwae_contenders(b, k), floors.iwae_cost(b, k)))
    return plan


def _agreement(values, ref_name):
    """Each contender's largest relative difference from ``ref_name``'s values."""
    ref = values.get(ref_name)
    out = {}
    for name, vals in values.items():
        if ref is None or name == ref_name:
            continue
        errs = {}
        for key, r in ref.items():
            if key not in vals:
                continue
            scale = max(float(np.max(np.abs(r))), 1e-30)
            errs[key] = float(np.max(np.abs(np.asarray(vals[key]) - r))) / scale
        worst = max(errs.values()) if errs else 0.0
        out[name] = {"against": ref_name, "max_rel_err": worst, "errors": errs,
                     "ok": bool(worst <= CHECK_RTOL), "tolerance": CHECK_RTOL}
    return out


def _run_case(key, label, params, contenders, cost, settings, reps, log,
              default_backend):
    t_case = time.perf_counter()
    try:
        return _run_case_inner(key, label, params, contenders, cost, settings, reps,
                               log, default_backend, t_case)
    finally:
        # Contenders switch zhusuan's backend; leave the user's choice as it was.
        zs.kernels.set_backend(default_backend)


def _run_case_inner(key, label, params, contenders, cost, settings, reps, log,
                    default_backend, t_case):
    rows = {c.name: {"name": c.name, "framework": c.framework, "status": "ok",
                     "reason": None, "check": None} for c in contenders}
    ready, values = [], {}
    for c in contenders:
        try:
            c.setup()
        except cases.Unavailable as exc:
            rows[c.name].update(status="skipped", reason=str(exc))
            continue
        except Exception as exc:
            rows[c.name].update(status="failed", reason=_describe(exc))
            log(f"    {c.name}: failed in setup: {rows[c.name]['reason']}")
            continue
        try:
            values[c.name] = c.evaluate()
            ready.append(c)
        except Exception as exc:
            rows[c.name].update(status="failed", reason=_describe(exc))
            log(f"    {c.name}: failed in evaluate(): {rows[c.name]['reason']}")
            c.close()
    default = f"zhusuan[{default_backend}]"
    zs_names = [c.name for c in ready if c.is_zhusuan]
    ref = default if default in zs_names else (zs_names[0] if zs_names else None)
    checks = _agreement(values, ref) if ref else {}
    timings, rounds = time_alternating(ready, reps, settings["target"],
                                       settings["warmup"], settings["budget"][key],
                                       log=log)
    for c in ready:
        c.close()
    for name, rec in timings.items():
        row = rows[name]
        row["check"] = checks.get(name)
        row["loss_first"], row["loss_last"] = rec["loss_first"], rec["loss_last"]
        row["calls_per_rep"] = (round(statistics.median(rec["calls"]))
                                if rec["calls"] else None)
        if rec["error"]:
            row.update(status="failed", reason=rec["error"])
        s = rec["samples"]
        if s:
            row.update(median_s=statistics.median(s), min_s=min(s), max_s=max(s),
                       reps=len(s))
        elif not rec["error"]:
            row.update(status="failed", reason="no repetitions ran")
    ref_median = rows[ref].get("median_s") if ref else None
    for row in rows.values():
        med = row.get("median_s")
        row["ratio_to_zhusuan"] = med / ref_median if med and ref_median else None
    notes = []
    if ready and rounds < reps:
        notes.append(f"stopped after {rounds} of {reps} repetitions: the case's "
                     f"time budget ({settings['budget'][key]:.0f} s) ran out")
    if ref is None:
        notes.append("no zhusuan contender ran: "
                     + "; ".join(r["reason"] or "" for r in rows.values()
                                 if r["framework"] == "zhusuan"))
    return {"case": key, "label": label, "params": params, "reference": ref,
            "cost": cost, "floor": None, "contenders": list(rows.values()),
            "notes": notes, "seconds": time.perf_counter() - t_case}


def run(out_dir="benches/results", mode="full", selected=CASES, reps=None, log=print):
    """Run the comparison and write the outputs; returns the results dict."""
    _load_libraries()
    settings = MODES[mode]
    t0 = time.perf_counter()
    machine = describe_machine()
    avail = [n for n, b in machine["zhusuan_backends"]["backends"].items()
             if b["available"]]
    log(f"machine: {machine['cpu']}, {machine['cores_usable']} cores, load "
        f"{machine['load_average_start'][0]:.2f}; zhusuan backends: {avail}")
    ceilings = _ceilings(mode, machine, "before the cases", log)
    results = []
    for key, label, params, contenders, cost in _plan(selected, settings):
        n = reps if reps is not None else settings["reps"][key]
        log(f"{label}: {len(contenders)} contenders, {n} repetitions ...")
        res = _run_case(key, label, params, contenders, cost, settings, n,
                        log, machine["zhusuan_backends"]["chosen"])
        _apply_floor(res, ceilings)  # provisional, for the log line
        for row in res["contenders"]:
            log("    " + _row_text(row))
        results.append(res)
    ceilings = floors.best_ceilings(ceilings, _ceilings(mode, machine, "after", log))
    for res in results:
        _apply_floor(res, ceilings)
    machine["load_average_end"] = list(os.getloadavg())
    doc = {
        "schema": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "mode": mode,
        "settings": {"reps": reps if reps is not None else settings["reps"],
                     "target_seconds_per_rep": settings["target"],
                     "budget_seconds_per_case": settings["budget"],
                     "warmup_calls": settings["warmup"],
                     "alternation": "A B C, C B A, ... (boustrophedon)",
                     "check_rtol": CHECK_RTOL},
        "machine": machine,
        "ceilings": ceilings,
        "cases": results,
        "seconds": time.perf_counter() - t0,
    }
    write_outputs(doc, out_dir)
    log(f"wrote {out_dir}/latest.json, latest.md, latest.png in {doc['seconds']:.0f} s")
    return doc


def _ceilings(mode, machine, when, log):
    log(f"measuring ceilings ({when}) ...")
    threads = machine["cores_usable"]
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # e.g. set by --threads
        threads = max(1, min(threads, int(os.environ["OMP_NUM_THREADS"])))
    c = floors.measure_ceilings(mode, threads, with_torch=machine["torch"] is not None)
    log(f"  copy {c['dram_bytes_per_s'] / 1e9:.1f} GB/s (DRAM-sized), matmul "
        f"{c['matmul']['best_flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"({c['matmul']['best_source']})")
    return c


def _apply_floor(res, ceilings):
    """Set the case's floor and each contender's ratio to it."""
    floor = res["floor"] = floors.floor_seconds(res["cost"], ceilings)
    for row in res["contenders"]:
        med = row.get("median_s")
        row["ratio_to_floor"] = med / floor["seconds"] if med else None


def _row_text(row):
    if row.get("median_s") is None:
        return f"{row['name']}: {row['status']} ({row['reason']})"
    text = f"{row['name']}: median {row['median_s'] * 1e3:.3f} ms"
    if row["ratio_to_zhusuan"] is not None:
        text += f", x zhusuan {row['ratio_to_zhusuan']:.2f}"
    return text + f", x floor {row['ratio_to_floor']:.1f}"


# --------------------------------------------------------------------------- #
# Outputs
# --------------------------------------------------------------------------- #
def _ms(s):
    if s is None:
        return ""
    return f"{s * 1e3:.3g}" if s * 1e3 < 100 else f"{s * 1e3:.0f}"


def _x(r):
    return "" if r is None else f"{r:.2f}"


def _short(text, limit=100):
    text = (text or "").replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def markdown_table(doc):
    """The results as one Markdown table (plus the floors' derivation)."""
    lines = ["| case | contender | median ms | min ms | max ms | reps | "
             "× zhusuan | × floor |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for case in doc["cases"]:
        fl = case["floor"]
        for row in case["contenders"]:
            if row.get("median_s") is None:
                lines.append(f"| {case['label']} | {row['name']} | {row['status']}: "
                             f"{_short(row['reason'])} | | | | | |")
                continue
            name = row["name"] + (" (ref)" if row["name"] == case["reference"] else "")
            lines.append(f"| {case['label']} | {name} | {_ms(row['median_s'])} | "
                         f"{_ms(row['min_s'])} | {_ms(row['max_s'])} | "
                         f"{row['reps']} | {_x(row['ratio_to_zhusuan'])} | "
                         f"{_x(row['ratio_to_floor'])} |")
        lines.append(f"| {case['label']} | *floor ({fl['bound']}-bound)* | "
                     f"{_ms(fl['seconds'])} | | | | | 1.00 |")
    return "\n".join(lines)


def machine_text(doc):
    m, c = doc["machine"], doc["ceilings"]
    mem = f"{m['memory_bytes'] / 2**30:.0f} GiB" if m.get("memory_bytes") else "?"
    backends = m["zhusuan_backends"]
    avail = [n for n, b in backends["backends"].items() if b["available"]]
    la0, la1 = m["load_average_start"], m.get("load_average_end", [float("nan")])
    levels = ", ".join(f"{e['bytes_per_s'] / 1e9:.0f} GB/s at "
                       f"{e['bytes_moved'] / 2**20:.0f} MiB" for e in c["copy"])
    return (f"{m['cpu']}, {m['cores_usable']} cores, {mem}; Python {m['python']}, "
            f"numpy {m['numpy']}, Jittor {m['jittor']} (oneDNN: "
            f"{'yes' if m['jittor_onednn'] else 'no'}), PyTorch {m['torch'] or '-'}, "
            f"Pyro {m['pyro'] or '-'}, zhusuan {m['zhusuan']} (backends available: "
            f"{', '.join(avail)}; default {backends['chosen']}). Threads: "
            f"OMP_NUM_THREADS={m['omp_num_threads'] or 'unset'}, torch "
            f"{m['torch_threads'] or '-'}. Load average "
            f"(1 min) {la0[0]:.2f} at the start, {la1[0]:.2f} at the end. "
            f"Ceilings (with these threads): copy "
            f"{c['dram_bytes_per_s'] / 1e9:.1f} GB/s (DRAM-sized "
            f"working set; by size moved: {levels}), "
            f"matmul {c['matmul']['best_flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"({c['matmul']['best_source']}, n={c['matmul']['n']}).")


def busy_note(doc):
    """A warning when other work competed for the cores during the run."""
    m = doc["machine"]
    loads = [m["load_average_start"][0], m.get("load_average_end", [0.0])[0]]
    cores = m["cores_usable"]
    if max(loads) <= 0.75 * cores:
        return ""
    return (f"the machine was busy (1-minute load average {loads[0]:.1f} at the "
            f"start and {loads[1]:.1f} at the end, on {cores} cores; the load "
            "includes this run): other processes competed for the cores, so times "
            "are inflated and noisy, multi-threaded contenders most of all (try "
            "--threads 1 on a busy machine). Ratios between contenders are fairer "
            "than absolute times, since the contenders alternate.")


def _markdown(doc):
    parts = [f"# zhusuan benchmarks ({doc['mode']} run, {doc['created']})", "",
             "Made by `python benches/run.py` (`make bench`). Times are per call "
             "(one head forward+backward, or one training step). × zhusuan is "
             "the contender's median divided by zhusuan's (its default backend, "
             "marked ref): above 1 is slower than zhusuan. × floor is the median "
             "divided by the case's hardware floor (see Floors).", "",
             "**Machine:** " + machine_text(doc), ""]
    busy = busy_note(doc)
    if busy:
        parts += [f"**Note:** {busy}", ""]
    parts += [markdown_table(doc), "", "## Floors", ""]
    for case in doc["cases"]:
        fl = case["floor"]
        parts.append(f"- **{case['label']}**: {fl['bytes'] / 1e6:.3g} MB at "
                     f"{fl['bandwidth_bytes_per_s'] / 1e9:.0f} GB/s = "
                     f"{fl['memory_seconds'] * 1e3:.3g} ms; "
                     f"{fl['flops'] / 1e9:.3g} GFLOP "
                     f"at {fl['flops_per_s'] / 1e9:.0f} GFLOP/s = "
                     f"{fl['compute_seconds'] * 1e3:.3g} ms; {fl['how']}.")
    notes = []
    for case in doc["cases"]:
        for row in case["contenders"]:
            chk = row.get("check")
            if chk and not chk["ok"]:
                notes.append(f"- {case['label']}: {row['name']} disagrees with "
                             f"{chk['against']} (relative error "
                             f"{chk['max_rel_err']:.2g})")
            if row.get("ratio_to_floor") is not None and row["ratio_to_floor"] < 1:
                notes.append(f"- {case['label']}: {row['name']} ran faster than the "
                             "floor: the ceilings were measured low (other work on "
                             "the machine during both measurements), so this "
                             "case's floor is overstated")
        notes += [f"- {case['label']}: {n}" for n in case["notes"]]
    if notes:
        parts += ["", "## Notes", ""] + notes
    return "\n".join(parts) + "\n"


def _chart(doc, path):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    # Jittor sets flush-to-zero, after which numpy.finfo (called by matplotlib)
    # warns that the smallest subnormal is zero: true, and harmless here.
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
    import matplotlib.pyplot as plt

    n = len(doc["cases"])
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.0 + 0.45 * sum(
        len(c["contenders"]) + 1 for c in doc["cases"])), squeeze=False)
    for ax, case in zip(axes[:, 0], doc["cases"], strict=True):
        rows = case["contenders"]
        names = [r["name"] for r in rows]
        y = np.arange(len(rows))
        med = [r.get("median_s") or 0.0 for r in rows]
        lo = [m - (r.get("min_s") or m) for m, r in zip(med, rows, strict=True)]
        hi = [(r.get("max_s") or m) - m for m, r in zip(med, rows, strict=True)]
        colors = ["tab:blue" if r["framework"] == "zhusuan" else "tab:gray"
                  for r in rows]
        ax.barh(y, [m * 1e3 for m in med], xerr=[[v * 1e3 for v in lo],
                                                  [v * 1e3 for v in hi]],
                color=colors, capsize=2)
        for yi, r in zip(y, rows, strict=True):
            if r.get("median_s") is None:
                ax.text(0.01, yi, f"{r['status']}", transform=ax.get_yaxis_transform(),
                        va="center", fontsize=8, color="tab:red")
        ax.axvline(case["floor"]["seconds"] * 1e3, color="tab:red", ls="--",
                   label=f"floor ({case['floor']['bound']}-bound)")
        shown = [m for m in med if m > 0] + [case["floor"]["seconds"]]
        ax.set_xlim(left=min(shown) * 1e3 / 2)  # log-scale bars need a visible base
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(case["label"], fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("median time per call (ms, log scale; whiskers: min-max)")
    fig.suptitle(f"zhusuan vs alternatives ({doc['mode']} run)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(doc, out_dir):
    """Write latest.json, latest.md and latest.png into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(_markdown(doc))
    _chart(doc, os.path.join(out_dir, "latest.png"))


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="fewer repetitions (smoke use)")
    g.add_argument("--smoke", action="store_true",
                   help="one call per contender, tiny sizes: checks the code path only")
    p.add_argument("--out", default=os.path.join("benches", "results"),
                   help="directory for latest.json, latest.md and latest.png")
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per case (default: per mode and case; a case "
                        "also stops at its time budget)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every framework (default: each one's own, "
                        "usually all cores; 1 is steadier on a busy machine)")
    args = p.parse_args(argv)
    selected = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    unknown = sorted(set(selected) - set(CASES))
    if unknown or not selected:
        p.error(f"--cases: unknown {unknown}; choose from {','.join(CASES)}")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    args.selected = selected
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        set_threads(args.threads)
    return run(args.out, args.mode, args.selected, args.reps)


if __name__ == "__main__":
    main()
