"""Checkpoints that resume a training run exactly and execute no code on load.

A checkpoint holds the state of named objects (Jittor modules, optimisers
such as ``jt.optim.Adam`` or ``zs.optim.Adam``/``SGD``, samplers, anything
with ``state_dict()`` / ``load_state_dict()``), a free-form ``state`` (epoch,
step, running sums, per-epoch records) and the run's ``options``, as one file:

.. code-block:: text

    ZHUSUAN-CHECKPOINT 1\\n
    sha256 <hex digest of everything after the fourth line>\\n
    size <bytes after the fourth line>\\n
    header <bytes of the JSON header>\\n
    <JSON header: the objects' and state's structure, options, array table>
    <.npz archive of every array (numpy.savez, no pickled objects)>

Writing is atomic (a temporary file in the same directory, flushed and
fsynced, then ``os.replace`` and an fsync of the directory), so a crash or
``kill -9`` at any moment leaves either the previous checkpoint or the new one.
Loading executes no code: the header is JSON, the arrays are read with
``numpy.load(..., allow_pickle=False)`` and must have a numeric or boolean
dtype (or hold fixed-width strings). A checkpoint is refused, with its path
and the reason, when it is not in this format (a pickle is named as such),
when it is truncated or its checksum does not match, or when it does not
fit the objects it is loaded into (a missing or extra parameter, a shape or dtype that differs: the
parameter is named). Everything is read and checked before anything is
assigned, so a refused checkpoint leaves the model and optimiser untouched.

Resuming exactly: the random-state rule
---------------------------------------
Jittor's random ops read its generator when they run, and the generator's
state cannot be read back, so it cannot be saved. Instead derive every
random stream from the run's seed and a position in the run, with
:func:`derive_seed`::

    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng(zs.utils.derive_seed(seed, "data", epoch))
        order = rng.permutation(n)                  # data order of this epoch
        x_epoch = zs.datasets.binarize(x[order], rng)
        for step in range(start_step, steps_per_epoch):
            global_step = epoch * steps_per_epoch + step
            jt.set_seed(zs.utils.derive_seed(seed, "step", global_step))
            loss = model(batch(step)); optimizer.step(loss)
        jt.set_seed(zs.utils.derive_seed(seed, "eval", epoch))
        evaluate(...)
        zs.utils.save_checkpoint(path, {"model": model, "optimizer": optimizer},
                                 state={"epoch": epoch + 1, "step": 0, ...},
                                 options=options)

Then the draws of step ``s`` depend only on ``(seed, s)``, and a run resumed
from a checkpoint at step ``s`` (model, optimiser and the loop's own sums
restored) computes bit for bit what the uninterrupted run computed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zlib
from collections import namedtuple
from collections.abc import Mapping
from typing import Any, Union

import jittor as jt
import numpy as np

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "Checkpoint",
    "CheckpointError",
    "derive_seed",
    "atomic_write",
]

#: A file name: a string or an ``os.PathLike``.
PathLike = Union[str, os.PathLike]

MAGIC = b"ZHUSUAN-CHECKPOINT 1\n"
FORMAT = "zhusuan-checkpoint"
VERSION = 1
# dtype kinds an array may have: bool, signed and unsigned int, float, complex,
# bytes and unicode strings (none of which numpy stores as a pickle).
_ARRAY_KINDS = "biufcSU"
_PICKLE_HINT = (
    "it is a Python pickle (the checkpoint format of earlier zhusuan examples, "
    "checkpoint.pkl); the checkpoint format changed to a JSON header plus .npz "
    "arrays with a SHA-256 checksum, and pickles are not loaded because "
    "unpickling runs whatever code the file carries. Start a new run (or, if "
    "you wrote the file yourself and trust it, read it with the zhusuan version "
    "that wrote it)")


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or used; ``path`` and ``reason``
    say which file and why."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"checkpoint {self.path}: {reason}")


#: What :func:`read_checkpoint` returns: ``objects`` maps each saved name to
#: its decoded state (numpy arrays in place of Vars), ``state`` and
#: ``options`` are what was saved, ``header`` the raw JSON header.
Checkpoint = namedtuple("Checkpoint", ["objects", "state", "options", "header"])


# -- seeds ----------------------------------------------------------------------------


def derive_seed(seed: int, *keys: int | str) -> int:
    """A seed that is a pure function of ``seed`` and ``keys``.

    ``keys`` are integers or strings naming a random stream and a position in
    the run (``derive_seed(seed, "step", global_step)``,
    ``derive_seed(seed, "data", epoch)``). The result is an int in
    ``[0, 2**31)``, usable by ``jt.set_seed`` and ``np.random.default_rng``;
    distinct keys give independent streams (NumPy's ``SeedSequence``).
    Seeding each step's draws this way is what makes a resumed run equal the
    uninterrupted one (see the module docstring).
    """
    words = []
    for value in (seed, *keys):
        if isinstance(value, str):
            words.append(zlib.crc32(value.encode("utf-8")))
        elif isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, np.integer)):
            raise TypeError(f"derive_seed takes integers and strings, got {value!r}")
        else:
            words.append(int(value) % (1 << 64))
    state = np.random.SeedSequence(words).generate_state(1, np.uint32)
    return int(state[0] & 0x7FFFFFFF)


# -- writing --------------------------------------------------------------------------


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` (bytes) to ``path`` so that a crash leaves either the
    old file or the new one: a temporary file in the same directory is
    written, flushed and fsynced, then renamed over ``path`` with
    ``os.replace``, and the directory is fsynced. An ``OSError`` (disk full,
    read-only directory) names ``path``; the temporary file is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                                   suffix="-" + os.path.basename(path))
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> a normal file's mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(folder)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}",
                      path) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Encoder:
    """Turns a state tree into JSON plus a table of arrays."""

    def __init__(self):
        self.arrays = {}

    def encode(self, value, where):
        if isinstance(value, jt.Var):
            return self._array(value.numpy(), where, scalar=False)
        if isinstance(value, np.ndarray):
            return self._array(value, where, scalar=False)
        if isinstance(value, np.generic):
            return self._array(np.asarray(value), where, scalar=True)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TypeError(f"{where}: dict keys must be strings to be "
                                    f"checkpointed, got {k!r}")
                if k.startswith("$"):
                    raise TypeError(f"{where}: dict key {k!r} starts with '$', "
                                    "which the checkpoint format reserves")
                out[k] = self.encode(v, f"{where}/{k}")
            return out
        if isinstance(value, list):
            return [self.encode(v, f"{where}/{i}") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, f"{where}/{i}")
                               for i, v in enumerate(value)]}
        raise TypeError(f"{where}: cannot checkpoint a {type(value).__name__} "
                        "(arrays, Vars, numbers, strings, None, lists, tuples and "
                        "dicts with string keys can be saved)")

    def _array(self, array, where, scalar):
        array = np.array(array, order="C", copy=True)  # keeps 0-d arrays 0-d
        if array.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"{where}: arrays of dtype {array.dtype} cannot be "
                            "checkpointed (numbers, booleans and strings only)")
        key = where
        if key in self.arrays:
            raise ValueError(f"{where}: two arrays with one name")
        self.arrays[key] = array
        return {"$array": key, "$scalar": True} if scalar else {"$array": key}


def _optimizer_tree(opt):
    """The optimiser's ``state_dict()`` (Jittor's format, shared by
    ``jt.optim`` and ``zs.optim``) without the parameters (saved with their
    modules) and their last gradients (the next step computes new ones)."""
    defaults = dict(opt.state_dict()["defaults"])
    defaults["param_groups"] = [
        {k: v for k, v in pg.items() if k not in ("params", "grads")}
        for pg in defaults.get("param_groups", [])]
    return {"defaults": defaults}


def _kind(obj):
    if isinstance(obj, jt.optim.Optimizer):
        return "optimizer"
    if isinstance(obj, jt.Module) and type(obj).state_dict is jt.Module.state_dict:
        # A module with its own state_dict (a sampler) is loaded through it.
        return "module"
    if callable(getattr(obj, "state_dict", None)) and callable(
            getattr(obj, "load_state_dict", None)):
        return "state_dict"
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}: it needs state_dict() "
                    "and load_state_dict()")


def _param_shapes(opt):
    return [[list(p.shape) for p in pg["params"]] for pg in opt.param_groups]


def save_checkpoint(path: PathLike, objects: Mapping[str, Any] | None = None,
                    state: Mapping[str, Any] | None = None,
                    options: Mapping[str, Any] | None = None) -> None:
    """Save a checkpoint atomically (see the module docstring for the format).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (conventionally ``checkpoint.zsc``).
    objects : dict, optional
        Name -> object with ``state_dict()``: Jittor modules (their
        ``state_dict()``), optimisers (``jt.optim.*`` or ``zs.optim.*``: their
        ``state_dict()`` without the parameters and gradients), samplers or
        anything else whose ``state_dict()`` is a tree of arrays, Vars,
        numbers, strings, lists, tuples and string-keyed dicts.
    state : dict, optional
        The loop's own state (epoch, step, running sums, per-epoch records,
        ...), same kinds of values. Returned by :func:`load_checkpoint`.
    options : dict, optional
        What a resumed run must share with this one (learning rate, batch
        size, seed, ...); :func:`load_checkpoint` compares them.

    Raises
    ------
    TypeError
        A value that cannot be stored, named by its place in the tree.
    OSError
        Writing failed; the message names ``path``. The previous file at
        ``path``, if any, is left as it was.
    """
    enc = _Encoder()
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "objects": {}}
    for name, obj in (objects or {}).items():
        kind = _kind(obj)
        if kind == "optimizer":
            entry = {"kind": kind, "param_shapes": _param_shapes(obj),
                     "tree": enc.encode(_optimizer_tree(obj), name)}
        elif kind == "module":
            entry = {"kind": kind, "tree": enc.encode(dict(obj.state_dict()), name)}
        else:
            entry = {"kind": kind, "tree": enc.encode(obj.state_dict(), name)}
        entry["type"] = f"{type(obj).__module__}.{type(obj).__qualname__}"
        header["objects"][name] = entry
    header["state"] = enc.encode(state, "$state")
    header["options"] = enc.encode(options, "$options")
    header["arrays"] = {k: {"dtype": a.dtype.str, "shape": list(a.shape)}
                        for k, a in enc.arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **enc.arrays)
    payload = buf.getvalue()
    header["payload_bytes"] = len(payload)
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    body = head + payload
    digest = hashlib.sha256(body).hexdigest()
    lines = f"sha256 {digest}\nsize {len(body)}\nheader {len(head)}\n".encode()
    atomic_write(path, MAGIC + lines + body)


# -- reading --------------------------------------------------------------------------


def _split(path, data):
    """Check the envelope and the checksum; return (header dict, payload)."""
    if not data.startswith(MAGIC):
        if data[:1] == b"\x80" or data[:1] in (b"(", b"]", b"}"):
            raise CheckpointError(path, _PICKLE_HINT)
        if data[:4] == b"PK\x03\x04":
            raise CheckpointError(path, "it is a zip/.npz archive, not a zhusuan "
                                        "checkpoint (no 'ZHUSUAN-CHECKPOINT' line)")
        if data.startswith(b"ZHUSUAN-CHECKPOINT "):
            version = data.split(b"\n", 1)[0][len(b"ZHUSUAN-CHECKPOINT "):]
            raise CheckpointError(path, f"format version {version[:20]!r} is not "
                                        f"supported (this zhusuan reads {VERSION})")
        raise CheckpointError(path, "not a zhusuan checkpoint (the file does not "
                                    "start with 'ZHUSUAN-CHECKPOINT 1')")
    rest = data[len(MAGIC):]
    fields = {}
    for name in ("sha256", "size", "header"):
        line, sep, rest = rest.partition(b"\n")
        parts = line.split(b" ")
        if not sep or len(parts) != 2 or parts[0] != name.encode():
            raise CheckpointError(path, f"damaged envelope: expected the '{name}' "
                                        f"line, found {line[:80]!r}")
        fields[name] = parts[1].decode("ascii", "replace")
    try:
        size, head_len = int(fields["size"]), int(fields["header"])
    except ValueError:
        raise CheckpointError(path, "damaged envelope: the size fields are not "
                                    "integers") from None
    if len(rest) != size:
        what = "truncated" if len(rest) < size else "has extra bytes"
        raise CheckpointError(path, f"{what}: {size} bytes of contents expected, "
                                    f"{len(rest)} found")
    digest = hashlib.sha256(rest).hexdigest()
    if digest != fields["sha256"]:
        raise CheckpointError(path, f"checksum mismatch: the file records sha256 "
                                    f"{fields['sha256']}, its contents hash to "
                                    f"{digest} (the file is damaged or was modified)")
    try:
        header = json.loads(rest[:head_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"the JSON header does not parse: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(path, "the header is not a zhusuan checkpoint header")
    for key in ("objects", "arrays", "payload_bytes"):
        if key not in header:
            raise CheckpointError(path, f"the header has no '{key}'")
    payload = rest[head_len:]
    if len(payload) != header["payload_bytes"]:
        raise CheckpointError(path, f"the arrays take {len(payload)} bytes, the "
                                    f"header says {header['payload_bytes']}")
    return header, payload


def _read_arrays(path, header, payload):
    table = header["arrays"]
    try:
        npz = np.load(io.BytesIO(payload), allow_pickle=False)
    except Exception as exc:  # a zip that does not open: any error is "damaged"
        raise CheckpointError(path, f"the array archive does not open: {exc}") from None
    with npz:
        names = set(npz.files)
        missing, extra = sorted(set(table) - names), sorted(names - set(table))
        if missing or extra:
            raise CheckpointError(path, f"the array archive does not match its table "
                                        f"(missing {missing}, unlisted {extra})")
        arrays = {}
        for key, spec in table.items():
            try:
                array = npz[key]
            except ValueError as exc:
                # numpy refuses object arrays (pickles) with allow_pickle=False.
                raise CheckpointError(path, f"array '{key}' was refused: {exc} "
                                            "(it holds pickled Python objects, which "
                                            "would run code when loaded)") from None
            except Exception as exc:
                raise CheckpointError(path, f"array '{key}' does not read: "
                                            f"{exc}") from None
            if array.dtype.kind not in _ARRAY_KINDS:
                raise CheckpointError(path, f"array '{key}' has dtype {array.dtype}; "
                                            "only numbers, booleans and strings are "
                                            "loaded")
            if array.dtype.str != spec.get("dtype") or list(array.shape) != spec.get(
                    "shape"):
                raise CheckpointError(path, f"array '{key}' is {array.dtype.str} "
                                            f"{list(array.shape)}, its table says "
                                            f"{spec.get('dtype')} {spec.get('shape')}")
            arrays[key] = array
    return arrays


def _decode(path, value, arrays):
    if isinstance(value, list):
        return [_decode(path, v, arrays) for v in value]
    if isinstance(value, dict):
        if "$array" in value:
            key = value["$array"]
            if key not in arrays:
                raise CheckpointError(path, f"the header refers to array {key!r}, "
                                            "which the archive does not have")
            array = arrays[key]
            return array[()] if value.get("$scalar") else array
        if "$tuple" in value:
            return tuple(_decode(path, v, arrays) for v in value["$tuple"])
        return {k: _decode(path, v, arrays) for k, v in value.items()}
    return value


def read_checkpoint(path: PathLike) -> Checkpoint:
    """Read and verify a checkpoint without loading it into anything.

    Returns a :class:`Checkpoint` ``(objects, state, options, header)`` with
    numpy arrays in place of Vars. Raises :class:`CheckpointError` (naming
    ``path`` and the reason) for a file that cannot be read, is not in the
    format, is a pickle, is truncated, fails its checksum or holds
    non-numeric arrays.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CheckpointError(path, f"cannot read it: {exc.strerror or exc}") from exc
    header, payload = _split(path, data)
    arrays = _read_arrays(path, header, payload)
    objects = {}
    for name, entry in header["objects"].items():
        if not isinstance(entry, dict) or "tree" not in entry:
            raise CheckpointError(path, f"object '{name}' has no state in the header")
        objects[name] = _decode(path, entry["tree"], arrays)
    return Checkpoint(objects, _decode(path, header.get("state"), arrays),
                      _decode(path, header.get("options"), arrays), header)


def _check_options(path, saved, options):
    if options is None or saved is None:
        return
    diffs = [f"{k}={saved[k]!r} (this run: {v!r})"
             for k, v in options.items() if k in saved and saved[k] != v]
    if diffs:
        raise CheckpointError(path, "it was written with " + ", ".join(diffs)
                              + "; resume with the same options")


def _check_module(path, name, module, saved):
    current = module.state_dict()
    if not isinstance(saved, dict):
        raise CheckpointError(path, f"'{name}' is not a module state in the file")
    missing = [k for k in current if k not in saved]
    if missing:
        raise CheckpointError(path, f"it has no parameter '{name}.{missing[0]}'"
                                    + (f" (and {len(missing) - 1} more missing)"
                                       if len(missing) > 1 else ""))
    extra = [k for k in saved if k not in current]
    if extra:
        raise CheckpointError(path, f"it has parameter '{name}.{extra[0]}', which "
                                    f"'{name}' does not have")
    for key, var in current.items():
        array = saved[key]
        if not isinstance(array, np.ndarray):
            raise CheckpointError(path, f"parameter '{name}.{key}' is not an array")
        if list(array.shape) != list(var.shape):
            raise CheckpointError(path, f"parameter '{name}.{key}' has shape "
                                        f"{list(array.shape)} in the checkpoint, "
                                        f"{list(var.shape)} in the model")
        if str(array.dtype) != str(var.dtype):
            raise CheckpointError(path, f"parameter '{name}.{key}' has dtype "
                                        f"{array.dtype} in the checkpoint, "
                                        f"{var.dtype} in the model")


def _check_optimizer(path, name, opt, saved, param_shapes):
    shapes = _param_shapes(opt)
    if param_shapes != shapes:
        for k, (a, b) in enumerate(zip(param_shapes or [], shapes, strict=False)):
            if a != b:
                for i, (sa, sb) in enumerate(zip(a, b, strict=False)):
                    if sa != sb:
                        raise CheckpointError(
                            path, f"optimizer '{name}': parameter {i} of group {k} "
                                  f"has shape {sa} in the checkpoint, {sb} here")
                raise CheckpointError(path, f"optimizer '{name}': group {k} has "
                                            f"{len(a)} parameters in the checkpoint, "
                                            f"{len(b)} here")
        raise CheckpointError(path, f"optimizer '{name}' has "
                                    f"{len(param_shapes or [])} parameter groups in "
                                    f"the checkpoint, {len(shapes)} here")
    try:
        groups = saved["defaults"]["param_groups"]
    except (TypeError, KeyError):
        raise CheckpointError(path, f"optimizer '{name}' has no param_groups") from None
    for k, (pg, current) in enumerate(zip(groups, opt.param_groups, strict=False)):
        for key, value in pg.items():
            if key in current and isinstance(current[key], list) and current[key] \
                    and isinstance(current[key][0], jt.Var):
                if not isinstance(value, list) or len(value) != len(shapes[k]):
                    raise CheckpointError(path, f"optimizer '{name}': '{key}' of group "
                                                f"{k} does not have one array per "
                                                "parameter")
                for i, (array, shape) in enumerate(zip(value, shapes[k], strict=True)):
                    if not isinstance(array, np.ndarray) or list(array.shape) != shape:
                        got = (list(array.shape) if isinstance(array, np.ndarray)
                               else type(array).__name__)
                        raise CheckpointError(path, f"optimizer '{name}': '{key}'[{i}]"
                                                    f" of group {k} is {got}, its "
                                                    f"parameter has shape {shape}")
        for key, value in current.items():
            if key not in ("params", "grads") and isinstance(value, list) and value \
                    and isinstance(value[0], jt.Var) and key not in pg:
                raise CheckpointError(path, f"optimizer '{name}': group {k} has no "
                                            f"'{key}' state")


def load_checkpoint(path: PathLike, objects: Mapping[str, Any] | None = None,
                    options: Mapping[str, Any] | None = None) -> Any:
    """Load a checkpoint written by :func:`save_checkpoint` into ``objects``;
    return its ``state``.

    Every step that can fail comes first: the file is read, its checksum
    verified and its arrays decoded (:func:`read_checkpoint`); ``options``, if
    given, are compared with the saved ones (an option that differs is an
    error naming it and both values; options the checkpoint lacks are not
    checked); each module's parameters must match the checkpoint's names,
    shapes and dtypes, and each optimiser's groups and state arrays its
    parameters. Only then is anything assigned (objects that are neither
    modules nor optimisers first, as their own ``load_state_dict`` may still
    refuse the state). Raises :class:`CheckpointError` naming ``path`` and
    the reason, with nothing assigned.
    """
    path = os.fspath(path)
    ckpt = read_checkpoint(path)
    _check_options(path, ckpt.options, options)
    objects = objects or {}
    plan = []
    for name, obj in objects.items():
        if name not in ckpt.objects:
            raise CheckpointError(path, f"it has no state for '{name}' (it has "
                                        f"{sorted(ckpt.objects)})")
        kind, saved = _kind(obj), ckpt.objects[name]
        recorded = ckpt.header["objects"][name].get("kind")
        if recorded != kind:
            raise CheckpointError(path, f"'{name}' was saved as a {recorded}, "
                                        f"it is loaded into a {kind}")
        if kind == "module":
            _check_module(path, name, obj, saved)
        elif kind == "optimizer":
            _check_optimizer(path, name, obj, saved,
                             ckpt.header["objects"][name].get("param_shapes"))
        plan.append((kind, name, obj, saved))
    order = {"state_dict": 0, "optimizer": 1, "module": 2}
    for kind, _name, obj, saved in sorted(plan, key=lambda p: order[p[0]]):
        if kind == "module":
            with jt.flag_scope(auto_convert_64_to_32=0):
                obj.load_state_dict({k: jt.array(v) for k, v in saved.items()})
        else:
            obj.load_state_dict(saved)
    return ckpt.state
