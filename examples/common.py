"""Helpers shared by the example programs: data, pictures, checkpoints.

Kept out of the library because they are conveniences of the examples
(Pillow, matplotlib and tqdm are example/test extras, not runtime
dependencies of zhusuan).

Under MPI (``mpirun -np N``, see ``docs/distributed.md``) the files are
rank 0's: :func:`save_checkpoint` and :class:`MetricsStream` write nothing on
the other ranks, and :func:`say` prints on rank 0 only.
"""

import json
import math
import os
import signal
import sys
import tempfile

import zhusuan as zs

import numpy as np

__all__ = [
    "say",
    "single_process_only",
    "load_dataset",
    "save_image_grid",
    "plot_curves",
    "save_checkpoint",
    "resume_checkpoint",
    "checkpoint_path",
    "CHECKPOINT_NAME",
    "MetricsStream",
    "check_training_args",
    "write_json",
    "maybe_kill",
]


def say(*args, **kwargs):
    """``print`` on rank 0 only (every process prints without MPI)."""
    if zs.distributed.is_main():
        print(*args, **kwargs)


def single_process_only(program):
    """Stop, with a message, an example that does not train data-parallel
    when it is started by ``mpirun`` with more than one process (each
    process would train its own copy and write the same files)."""
    n = zs.distributed.world_size()
    if n > 1:
        if zs.distributed.is_main():
            print(f"{program} runs in one process (started here as {n} MPI "
                  "processes); examples/vae.py and examples/iwae.py train "
                  "data-parallel under mpirun", file=sys.stderr, flush=True)
        raise SystemExit(2)


def load_dataset(name, data_dir=None):
    """Load ``'mnist'``, ``'fashion-mnist'`` or ``'auto'`` (MNIST if it is on
    disk, else Fashion-MNIST). Returns ``(resolved_name, x_train, x_test)`` with
    images as float32 [N, 784] in [0, 1]."""
    if name == "auto":
        name = "mnist" if zs.datasets.find_dataset("mnist", data_dir) else "fashion-mnist"
        say(f"dataset: {name} (auto: MNIST "
            f"{'found' if name == 'mnist' else 'not found, using Fashion-MNIST'})")
    if name == "mnist":
        (x_train, _), (x_test, _) = zs.datasets.load_mnist(data_dir=data_dir)
    elif name == "fashion-mnist":
        (x_train, _), (x_test, _) = zs.datasets.load_fashion_mnist(data_dir=data_dir)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return name, x_train, x_test


def sklearn_split(loader, test_fraction, split_seed, who):
    """A scikit-learn bundled data set (``loader``: the name of its
    ``sklearn.datasets`` function), split once at random (seeded) into train
    and test rows, with the features' training mean and standard deviation.

    Returns ``(data, x, y, train, test, x_mean, x_std)``: the Bunch, float64
    features and targets, the index arrays, and the statistics to
    standardise with (the test rows never shape them).
    """
    try:
        import sklearn.datasets
    except ImportError as exc:  # an example extra, not a zhusuan dependency
        raise SystemExit(f"{who} needs scikit-learn: pip install scikit-learn "
                         "(or the 'examples' extra)") from exc
    data = getattr(sklearn.datasets, loader)()
    x, y = np.asarray(data.data, np.float64), np.asarray(data.target, np.float64)
    perm = np.random.default_rng(split_seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    return data, x, y, train, test, x[train].mean(0), x[train].std(0)


def save_image_grid(images, path, rows=None, size=28):
    """Tile [N, size*size] images in [0, 1] into one PNG (white borders)."""
    from PIL import Image

    images = np.asarray(images, dtype=np.float64).reshape(-1, size, size)
    n = len(images)
    cols = int(np.ceil(np.sqrt(n))) if rows is None else int(np.ceil(n / rows))
    rows = int(np.ceil(n / cols))
    pad = 2
    grid = np.ones((rows * (size + pad) + pad, cols * (size + pad) + pad))
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (size + pad), pad + c * (size + pad)
        grid[y:y + size, x:x + size] = img
    Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).resize(
        (grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def plot_curves(curves, path, ylabel="ELBO (nats)", title=None):
    """Line plot of named per-epoch curves (dict name -> list) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- files: atomic JSON, the metrics stream, checkpoints ------------------------------

#: The checkpoint every example writes into its --out-dir (zs.utils format).
CHECKPOINT_NAME = "checkpoint.zsc"
#: The pickled checkpoints of earlier versions, refused on --resume.
OLD_CHECKPOINT_NAME = "checkpoint.pkl"


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (an OSError names ``path``)."""
    zs.utils.atomic_write(path, json.dumps(obj, indent=2).encode())


class MetricsStream:
    """The per-epoch record of a run: ``metrics.jsonl`` gets one JSON line per
    epoch (flushed and fsynced, so a crash loses no finished epoch) and
    ``metrics.json`` is rewritten atomically after every epoch (and at the
    end, with the final figures).

    ``records`` are the epochs already done: a resumed run passes those its
    checkpoint carries, so that the stream equals an uninterrupted run's
    (lines an interrupted run appended after its last checkpoint are dropped);
    a new run passes none and starts an empty stream.

    Under MPI only rank 0 writes; on the other ranks the methods do nothing.
    """

    def __init__(self, out_dir, records=()):
        self.jsonl_path = os.path.join(out_dir, "metrics.jsonl")
        self.json_path = os.path.join(out_dir, "metrics.json")
        self.writes = zs.distributed.is_main()
        if self.writes:
            zs.utils.atomic_write(self.jsonl_path, "".join(
                json.dumps(r) + "\n" for r in records).encode())

    def append(self, record):
        """Append one epoch's record to metrics.jsonl and make it durable."""
        if not self.writes:
            return
        try:
            with open(self.jsonl_path, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {self.jsonl_path}: "
                                     f"{exc.strerror or exc}", self.jsonl_path) from exc

    def write(self, metrics):
        """Rewrite metrics.json atomically."""
        if self.writes:
            write_json(self.json_path, metrics)


def checkpoint_path(out_dir):
    return os.path.join(out_dir, CHECKPOINT_NAME)


def save_checkpoint(out_dir, objects, state, options):
    """Write ``<out_dir>/checkpoint.zsc`` atomically with
    :func:`zhusuan.utils.save_checkpoint`: ``objects`` (modules, optimisers,
    samplers by name), the loop's ``state`` and the run's ``options``. Under
    MPI rank 0 writes it (every rank holds the same parameters and state);
    the others write nothing."""
    if not zs.distributed.is_main():
        return
    zs.utils.save_checkpoint(checkpoint_path(out_dir), objects, state=state,
                             options=options)


def resume_checkpoint(out_dir, objects, options):
    """``--resume``: load ``<out_dir>/checkpoint.zsc`` into ``objects`` and
    return the loop's state, or stop the program with a message that names
    the file and the reason (no checkpoint, a checkpoint of the old pickle
    format, a damaged file, options that differ from this run's)."""
    path = checkpoint_path(out_dir)
    if not os.path.exists(path):
        old = os.path.join(out_dir, OLD_CHECKPOINT_NAME)
        if os.path.exists(old):
            raise SystemExit(
                f"--resume: {old} is a checkpoint in the old pickle format; the "
                f"checkpoint format changed ({CHECKPOINT_NAME}: JSON header, .npz "
                "arrays and a SHA-256 checksum) and pickles are not loaded, since "
                "unpickling runs whatever code the file carries. Start a new run "
                "(without --resume, or with another --out-dir)")
        raise SystemExit(f"--resume: no checkpoint at {path}")
    try:
        return zs.utils.load_checkpoint(path, objects, options)
    except zs.utils.CheckpointError as exc:
        raise SystemExit(f"--resume: {exc}") from exc


# -- command lines --------------------------------------------------------------------


def check_out_dir(parser, out_dir):
    """Create ``out_dir`` and check that a file can be written in it, so that a
    read-only or impossible --out-dir fails before any training, naming it."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out-dir {out_dir}: cannot create it ({exc.strerror or exc})")
    try:
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        parser.error(f"--out-dir {out_dir} is not writable ({exc.strerror or exc})")


def check_training_args(parser, args):
    """The checks every training example shares: ``--max-steps`` >= 1 when
    given, ``--lr`` finite and > 0 (when the program has one and it is set),
    ``--out-dir`` writable. Errors go through ``parser.error`` and name the
    flag."""
    max_steps = getattr(args, "max_steps", None)
    if max_steps is not None and max_steps < 1:
        parser.error(f"--max-steps must be >= 1 when given, got {max_steps}")
    lr = getattr(args, "lr", None)
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        parser.error(f"--lr must be a finite number > 0, got {lr}")
    if getattr(args, "out_dir", None) is not None:
        check_out_dir(parser, args.out_dir)
    return args


# -- fault injection for the tests ----------------------------------------------------

KILL_ENV = "ZHUSUAN_TEST_KILL_AT_STEP"


def maybe_kill(global_step):
    """With ``$ZHUSUAN_TEST_KILL_AT_STEP=N``, SIGKILL this process right after
    its training step N (counted over the whole run, from 1): the tests'
    deterministic stand-in for ``kill -9`` at a chosen point."""
    target = os.environ.get(KILL_ENV)
    if target and int(target) == global_step:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
