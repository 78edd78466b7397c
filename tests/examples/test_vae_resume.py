"""examples/vae.py under faults: kill -9 and --resume, the metrics stream,
and the command line's checks (issue 15, findings 1, 6 and 9).

Kill-and-resume oracle: the same program run once without interruption.
Each faulty run is killed with SIGKILL right after training step N (the
program's test hook ``ZHUSUAN_TEST_KILL_AT_STEP``), then run again with
``--resume``; its per-step losses, ``metrics.jsonl`` and final
``metrics.json`` must equal the uninterrupted run's exactly, wall-time fields
aside, and so must the final weights. Kill points are drawn with a fixed
seed; ``make test`` runs 2 of them, ``ZHUSUAN_FULL_TESTS=1`` (``make
test-full``) all 5. Every run is a subprocess, so the runs share nothing but
the files in their --out-dir.
"""

import json
import os
import pickle
import signal
import subprocess
import sys

import zhusuan as zs

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import common  # noqa: E402
import vae  # noqa: E402

needs_data = pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the Debian package dataset-fashion-mnist (make setup)")

FULL = os.environ.get("ZHUSUAN_FULL_TESTS") == "1"
EPOCHS, STEPS, EVERY = 3, 4, 3  # 12 steps; checkpoints at 0, 3, 4, 6, 8, 9, 12
ARGS = ["--dataset", "fashion-mnist", "--epochs", str(EPOCHS), "--max-steps",
        str(STEPS), "--batch-size", "16", "--z-dim", "8", "--eval-n", "32",
        "--is-n", "8", "--is-k", "2", "--log-losses", "1000", "--checkpoint-every",
        str(EVERY), "--seed", "7"]
# Five kill points over the 12 steps, drawn once with a fixed seed.
KILL_POINTS = sorted(np.random.default_rng(15).choice(
    np.arange(1, EPOCHS * STEPS + 1), size=5, replace=False).tolist())
WALL_TIME = {"train_seconds", "steps_per_second", "seconds"}


def _backend():
    # Pin the backend: "auto" may pick another one in another process while
    # the extension is being rebuilt.
    native = zs.kernels.backend_info()["backends"]["native"]["available"]
    return "native" if native else "jit"


def _run(out, *extra, kill_at=None):
    env = dict(os.environ)
    env.pop(common.KILL_ENV, None)
    if kill_at is not None:
        env[common.KILL_ENV] = str(kill_at)
    cmd = [sys.executable, os.path.join(ROOT, "examples", "vae.py"), *ARGS,
           "--backend", _backend(), "--out-dir", str(out), *extra]
    # Through a shell that outlives the program: Jittor, imported by this
    # process, quits it when a child process dies from a signal (its SIGCHLD
    # handler), so the killed child must not be ours. The shell exits with
    # 128 + the signal number.
    return subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *cmd],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def _outputs(out):
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = {k: v for k, v in json.load(f).items() if k not in WALL_TIME}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        lines = [{k: v for k, v in json.loads(line).items() if k not in WALL_TIME}
                 for line in f]
    weights = zs.utils.read_checkpoint(os.path.join(out, common.CHECKPOINT_NAME))
    return metrics, lines, weights


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _run(out)
    assert done.returncode == 0, done.stderr[-3000:]
    return _outputs(out)


def _last_checkpoint_before(n):
    saved = {0} | {s for s in range(EVERY, EPOCHS * STEPS + 1, EVERY)} | {
        e * STEPS for e in range(1, EPOCHS + 1)}
    # The hook fires after step n's optimiser step and before step n's own
    # checkpoint, so the resumed run starts from the one before.
    return max(s for s in saved if s < n)


@needs_data
@pytest.mark.parametrize("kill_at", KILL_POINTS if FULL else KILL_POINTS[:2])
def test_resume_after_kill_9_equals_the_uninterrupted_run(tmp_path, uninterrupted,
                                                          kill_at):
    killed = _run(tmp_path, kill_at=kill_at)
    assert killed.returncode == 128 + signal.SIGKILL, killed.stderr[-3000:]
    resumed = _run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = _last_checkpoint_before(kill_at)
    assert f"step {start}\n" in resumed.stdout  # it resumed, it did not restart
    metrics, lines, ckpt = _outputs(tmp_path)
    ref_metrics, ref_lines, ref_ckpt = uninterrupted
    assert len(metrics["first_losses"]) == EPOCHS * STEPS
    assert metrics["first_losses"] == ref_metrics["first_losses"]
    assert metrics == ref_metrics
    assert lines == ref_lines and len(lines) == EPOCHS
    for name in ("generator", "variational", "optimizer"):
        a, b = ckpt.objects[name], ref_ckpt.objects[name]
        if name == "optimizer":
            a, b = a["defaults"]["param_groups"], b["defaults"]["param_groups"]
            assert ckpt.objects[name]["defaults"]["n_step"] == EPOCHS * STEPS
            a, b = dict(enumerate(a[0]["m"] + a[0]["values"])), dict(
                enumerate(b[0]["m"] + b[0]["values"]))
        for key in b:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")


@needs_data
def test_metrics_stream_is_written_every_epoch(tmp_path):
    """metrics.jsonl gets a line per finished epoch and metrics.json is
    rewritten with it, before the run ends: a run killed in epoch 3 has both
    for epochs 1 and 2 (before, metrics.json appeared only at the end)."""
    killed = _run(tmp_path, kill_at=2 * STEPS + 1)
    assert killed.returncode == 128 + signal.SIGKILL, killed.stderr[-3000:]
    with open(tmp_path / "metrics.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert [r["step"] for r in lines] == [STEPS, 2 * STEPS]
    with open(tmp_path / "metrics.json") as f:
        partial = json.load(f)
    assert partial["complete"] is False and partial["epochs"] == 2
    assert partial["train_elbo"] == [r["train_elbo"] for r in lines]
    assert partial["test_elbo"] == [r["test_elbo"] for r in lines]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


# -- the command line -----------------------------------------------------------------


def _error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        vae.parse_args(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_steps_must_be_positive(tmp_path, capsys, value):
    err = _error(capsys, ["--max-steps", value, "--out-dir", str(tmp_path)])
    assert f"--max-steps must be >= 1 when given, got {value}" in err


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_lr_must_be_finite_and_positive(tmp_path, capsys, value):
    err = _error(capsys, ["--lr", value, "--out-dir", str(tmp_path)])
    assert "--lr must be a finite number > 0" in err


def test_out_dir_that_cannot_be_created_fails_at_once(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _error(capsys, ["--out-dir", str(blocker / "run")])
    assert f"--out-dir {blocker / 'run'}: cannot create it" in err


def test_read_only_out_dir_fails_before_training(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)  # root writes anyway: then the write itself is refused
    else:
        import tempfile

        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kw):
            if dir is not None and os.path.abspath(dir) == str(ro):
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kw)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(vae, "load_dataset", lambda *a: pytest.fail("trained"))
    with pytest.raises(SystemExit):
        vae.main(["--out-dir", str(ro)])
    err = capsys.readouterr().err
    assert f"--out-dir {ro} is not writable (Permission denied)" in err


def test_write_errors_name_the_file(tmp_path, monkeypatch):
    stream = common.MetricsStream(str(tmp_path))
    (tmp_path / "metrics.jsonl").unlink()
    (tmp_path / "metrics.jsonl").mkdir()  # appending to it fails
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'metrics.jsonl'}"):
        stream.append({"epoch": 1})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'metrics.json'}: "
                                      "No space left on device"):
        stream.write({"epoch": 1})


def test_old_pickle_checkpoint_is_refused_with_the_format_change(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(SystemExit, match="old pickle format.*format changed"):
        common.resume_checkpoint(str(tmp_path), {}, {})
    # Renamed to the new name, it is still recognised as a pickle and refused.
    os.rename(tmp_path / "checkpoint.pkl", tmp_path / common.CHECKPOINT_NAME)
    with pytest.raises(SystemExit, match="Python pickle.*format changed"):
        common.resume_checkpoint(str(tmp_path), {}, {})
    assert not (tmp_path / "pwned").exists()
