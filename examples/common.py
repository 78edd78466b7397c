"""Helpers shared by the example programs: data, pictures, checkpoints.

Kept out of the library because they are conveniences of the examples
(Pillow, matplotlib and tqdm are example/test extras, not runtime
dependencies of zhusuan).
"""

import json
import os
import pickle
import tempfile

import numpy as np

import zhusuan as zs

__all__ = [
    "load_dataset",
    "save_image_grid",
    "plot_curves",
    "save_checkpoint",
    "load_checkpoint",
    "write_json",
]


def load_dataset(name, data_dir=None):
    """Load ``'mnist'``, ``'fashion-mnist'`` or ``'auto'`` (MNIST if it is on
    disk, else Fashion-MNIST). Returns ``(resolved_name, x_train, x_test)`` with
    images as float32 [N, 784] in [0, 1]."""
    if name == "auto":
        name = "mnist" if zs.datasets.find_dataset("mnist", data_dir) else "fashion-mnist"
        print(f"dataset: {name} (auto: MNIST "
              f"{'found' if name == 'mnist' else 'not found, using Fashion-MNIST'})")
    if name == "mnist":
        (x_train, _), (x_test, _) = zs.datasets.load_mnist(data_dir=data_dir)
    elif name == "fashion-mnist":
        (x_train, _), (x_test, _) = zs.datasets.load_fashion_mnist(data_dir=data_dir)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return name, x_train, x_test


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


def _atomic_write(path, data):
    """Write bytes to ``path`` so that a crash never leaves it half written."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    _atomic_write(path, json.dumps(obj, indent=2).encode())


def _to_numpy(x):
    """Nested lists / dicts with every Jittor Var replaced by a numpy copy."""
    import jittor as jt

    if isinstance(x, jt.Var):
        return x.numpy()
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    return x


def _optimizer_state(opt):
    """The optimiser's ``state_dict()`` (Jittor's format, which
    ``jt.optim.Adam`` and ``zs.optim.Adam`` share) as numpy arrays, without
    the parameters (saved with the modules) and their last gradients (the
    next step computes new ones)."""
    state = opt.state_dict()
    defaults = dict(state["defaults"])
    defaults["param_groups"] = [
        {k: v for k, v in pg.items() if k not in ("params", "grads")}
        for pg in defaults["param_groups"]]
    return {"format": "state_dict", "state": _to_numpy({"defaults": defaults})}


def _load_optimizer_state(opt, saved):
    if saved.get("format") == "state_dict":
        opt.load_state_dict(saved["state"])
        return
    # Checkpoints written before the state_dict format: Adam's moments per
    # group ("values", "m") and the step count.
    groups = [dict(g) for g in saved["groups"]]
    opt.load_state_dict({"defaults": {"n_step": saved["n_step"],
                                      "param_groups": groups}})


def save_checkpoint(path, modules, optimizer, extra, options=None):
    """Atomically save module weights, the optimiser's state and ``extra`` (a dict).

    The optimiser (``jt.optim.Adam``, ``zs.optim.Adam`` or any Jittor-style
    optimiser) is saved through its ``state_dict()``, so a checkpoint written
    with one of Jittor's and zhusuan's Adam resumes with the other.

    ``optimizer`` may be None (an SG-MCMC sampler's ``state_dict`` is the
    whole chain state). ``options`` (a dict) records what a resumed run must
    share with this one (batch size, latent size, data set, ...);
    :func:`load_checkpoint` checks it.
    """
    state = {
        "modules": {name: {k: v.numpy() for k, v in m.state_dict().items()}
                    for name, m in modules.items()},
        "optimizer": None if optimizer is None else _optimizer_state(optimizer),
        "extra": extra,
        "options": options,
    }
    _atomic_write(path, pickle.dumps(state, protocol=4))


def load_checkpoint(path, modules, optimizer, options=None):
    """Restore what :func:`save_checkpoint` wrote; returns its ``extra``.

    With ``options``, first compare them with those the checkpoint recorded:
    continuing with another batch size, latent size, learning rate, seed or
    data set would silently mix two experiments (or fail later on a shape),
    so any difference stops the run with a message naming each option.
    Checkpoints that recorded none are not checked.
    """
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise RuntimeError(f"cannot read checkpoint {path}: {exc}") from exc
    saved = state.get("options")
    if options is not None and saved is not None:
        diffs = [f"{k}={saved[k]!r} (this run: {v!r})"
                 for k, v in options.items() if k in saved and saved[k] != v]
        if diffs:
            raise SystemExit(f"--resume: {path} was written with " + ", ".join(diffs)
                             + "; run with the same options or another --out-dir")
    for name, m in modules.items():
        if name not in state["modules"]:
            raise RuntimeError(f"checkpoint {path} has no weights for '{name}'")
        m.load_state_dict(state["modules"][name])
    if optimizer is not None:
        _load_optimizer_state(optimizer, state["optimizer"])
    return state["extra"]
