"""MNIST and Fashion-MNIST loaders, binarisation and minibatch iteration.

Both datasets come as four IDX files (see :mod:`zhusuan.datasets.idx`), either
gzipped (``*.gz``) or not::

    train-images-idx3-ubyte   60000 x 28 x 28 uint8
    train-labels-idx1-ubyte   60000 uint8
    t10k-images-idx3-ubyte    10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte    10000 uint8

The loaders look for them in a fixed list of directories (see
:func:`load_mnist` and :func:`load_fashion_mnist`) so that the same script works
on a laptop with a download cache, on a cluster with a shared data directory
(``$ZHUSUAN_DATA``) and on an offline machine with Debian's
``dataset-fashion-mnist`` package.

Only numpy and the standard library are imported at module level, so the
package does not depend on Jittor; ``tqdm`` is imported lazily when
downloading.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Union

import numpy as np

from .idx import read_idx

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SYSTEM_DIR",
    "DATA_ENV_VAR",
    "SHA256",
    "content_sha256",
    "find_dataset",
    "load_mnist",
    "load_fashion_mnist",
    "binarize",
    "binarize_fixed",
    "iterate_minibatches",
]

#: A directory name: a string or an ``os.PathLike``.
PathLike = Union[str, os.PathLike]
#: One split of a data set: images ``[N, 784]`` and integer labels ``[N]``.
Split = tuple[np.ndarray, np.ndarray]

#: The four file names of both datasets, without the optional ``.gz``.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Base URLs tried in order when downloading MNIST. Yann LeCun's original site
#: now often refuses automated downloads, so only mirrors are listed.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Base URLs tried in order when downloading Fashion-MNIST (opt-in).
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

#: SHA-256 of each file's decompressed IDX content, as published (MNIST: the
#: files every mirror above serves; Fashion-MNIST: Zalando Research's, equal
#: to what Debian's ``dataset-fashion-mnist`` decompresses to). A download
#: whose content differs is refused and not kept; files already on disk (a
#: ``data_dir``, the cache, the system copy) are read as they are. Digests of
#: the content rather than of the ``.gz`` bytes, because repackagers (Debian)
#: re-compress.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte":
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte":
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte":
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte":
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

#: Where Debian's ``dataset-fashion-mnist`` package installs the four ``.gz``
#: files.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

#: Environment variable naming a shared data directory.
DATA_ENV_VAR = "ZHUSUAN_DATA"

# Seconds before a connection attempt or a stalled read gives up; short so that
# an offline machine fails fast instead of hanging for minutes.
_DOWNLOAD_TIMEOUT = 10.0
_CHUNK_SIZE = 1 << 16

# Canonical names; aliases let callers write the name the way they think of it.
_ALIASES = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fashion": "fashion-mnist",
}

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def _canonical_name(name):
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            "unknown dataset {!r}; expected 'mnist' or 'fashion-mnist'".format(name)
        )
    return _ALIASES[key]


def _cache_dir(name):
    # Resolved at call time (not import time) so that a changed $HOME, e.g. in
    # tests, is honoured.
    return os.path.join(os.path.expanduser("~"), ".cache", "zhusuan", name)


def _default_search_dirs(name):
    """Directories searched after ``data_dir``, in order, for dataset ``name``."""
    dirs = []
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        env = os.path.expanduser(env)
        if name == "mnist":
            # MNIST is the default dataset, so a data directory holding only
            # the four MNIST files directly is accepted too.
            dirs.append(env)
        dirs.append(os.path.join(env, name))
    dirs.append(_cache_dir(name))
    if name == "fashion-mnist":
        dirs.append(FASHION_MNIST_SYSTEM_DIR)
    return dirs


def _search_dirs(name, data_dir=None, search_dirs=None):
    """The directories to look in: ``data_dir`` alone when it is given (a
    wrong ``data_dir`` must be an error naming it, not a silent fallback to
    another copy of the data), else ``search_dirs`` (default: the standard
    roots).

    Duplicates are removed so that error messages list each directory once.
    """
    if data_dir is not None:
        dirs = [data_dir]
    else:
        dirs = list(_default_search_dirs(name) if search_dirs is None else search_dirs)
    result, seen = [], set()
    for d in dirs:
        d = os.path.expanduser(os.fspath(d))
        key = os.path.abspath(d)
        if key not in seen:
            seen.add(key)
            result.append(d)
    return result


def _file_in(directory, base):
    """Path of ``base`` or ``base.gz`` in ``directory``, or None.

    The uncompressed file wins because it is faster to read.
    """
    for candidate in (base, base + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _missing_in(directory):
    return [base for base in MNIST_FILES if _file_in(directory, base) is None]


def _find_dir(name, data_dir=None, search_dirs=None):
    """First directory holding all four files of ``name``, or None."""
    for d in _search_dirs(name, data_dir, search_dirs):
        if os.path.isdir(d) and not _missing_in(d):
            return d
    return None


def find_dataset(name: str, data_dir: PathLike | None = None) -> str | None:
    """Return the directory holding a dataset's four files, without downloading.

    Examples use this to pick a dataset automatically (MNIST when present,
    otherwise Fashion-MNIST) on machines that may be offline.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"`` (``"fashion_mnist"`` and
        ``"fashion"`` are accepted too).
    data_dir : str or os.PathLike, optional
        The only directory looked in, when given.

    Returns
    -------
    str or None
        The first directory in the search order of :func:`load_mnist` /
        :func:`load_fashion_mnist` that contains all four files (each raw or
        ``.gz``), or None if there is none.
    """
    return _find_dir(_canonical_name(name), data_dir)


def content_sha256(path: PathLike) -> str:
    """SHA-256 (hex) of an IDX file's content: of the decompressed bytes for a
    gzipped file, of the file itself otherwise (what :data:`SHA256` pins)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    digest = hashlib.sha256()
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
        for chunk in iter(lambda: f.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url, dest, timeout, sha256=None):
    """Download ``url`` to ``dest`` through a temporary file in the same directory.

    The file only appears under its final name once it is complete, parses as
    IDX and (given ``sha256``) has that content digest, so an interrupted
    download, an HTML error page or altered data never masquerades as the
    data set, and concurrent downloads cannot see a half-written file.
    """
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(dest) + ".", suffix=".part", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                headers = getattr(response, "headers", None)
                length = headers.get("Content-Length") if headers else None
                total = int(length) if length and str(length).isdigit() else None
                bar = _progress_bar(total, os.path.basename(dest))
                try:
                    while True:
                        chunk = response.read(_CHUNK_SIZE)
                        if not chunk:
                            break
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
        read_idx(tmp)  # raises ValueError on a corrupted or non-IDX payload
        if sha256 is not None:
            got = content_sha256(tmp)
            if got != sha256:
                raise ValueError(
                    "the data's SHA-256 is {}, not the published {} "
                    "(zhusuan.datasets.mnist.SHA256); not kept".format(got, sha256))
        os.replace(tmp, dest)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a partial file behind.
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _progress_bar(total, desc):
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is a nicety, not a requirement
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)


def _download(name, target_dir, mirrors, timeout=_DOWNLOAD_TIMEOUT):
    """Download the missing files of ``name`` into ``target_dir``.

    Returns a list of error strings (empty on success). Stops at the first file
    that no mirror can provide: if the machine is offline, trying the remaining
    files would only multiply the waiting.
    """
    try:
        os.makedirs(target_dir, exist_ok=True)
    except OSError as exc:
        return ["cannot create {}: {}".format(target_dir, exc)]
    for base in _missing_in(target_dir):
        dest = os.path.join(target_dir, base + ".gz")
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + base + ".gz"
            try:
                _fetch(url, dest, timeout, SHA256[name].get(base))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # URLError covers DNS and HTTP errors, OSError socket timeouts
                # and disk errors, ValueError a payload that is not IDX.
                errors.append("{}: {}".format(url, exc))
            else:
                break
        else:
            return errors
    return []


def _not_found_message(name, searched, download_errors=None, data_dir=None):
    title = _TITLES[name]
    lines = [
        "{} not found. Looked for the four files (each raw or gzipped as .gz):".format(
            title
        )
    ]
    lines.extend("    " + base + "[.gz]" for base in MNIST_FILES)
    lines.append("in these directories, in order:")
    for d in searched:
        if not os.path.isdir(d):
            lines.append("    {} (does not exist)".format(d))
        else:
            lines.append("    {} (missing: {})".format(d, ", ".join(_missing_in(d))))
    if download_errors:
        lines.append("Downloading failed:")
        lines.extend("    " + err for err in download_errors)
    if data_dir is not None:
        lines.append(
            "data_dir={!r} was given, so no other directory was searched; leave "
            "data_dir unset to use the standard locations".format(os.fspath(data_dir))
        )
    cache = os.path.join("~", ".cache", "zhusuan", name)
    if name == "mnist":
        lines.append(
            "Put the four files in {} or in $ZHUSUAN_DATA (or $ZHUSUAN_DATA/mnist), "
            "or pass data_dir=...".format(cache)
        )
    else:
        lines.append(
            "Install them with `sudo apt-get install dataset-fashion-mnist` "
            "(into {}), or put them in {} or $ZHUSUAN_DATA/fashion-mnist, or pass "
            "data_dir=..., or call load_fashion_mnist(download=True)".format(
                FASHION_MNIST_SYSTEM_DIR, cache
            )
        )
    return "\n".join(lines)


def _read_split(directory, images_base, labels_base, normalize):
    images_path = _file_in(directory, images_base)
    labels_path = _file_in(directory, labels_base)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            "{} has shape {} but {} has shape {}; expected [N, ...] images and "
            "[N] labels".format(images_path, images.shape, labels_path, labels.shape)
        )
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    if normalize:
        # Division (not multiplication by 1/255) so that 255 maps to exactly 1.
        x /= np.float32(255.0)
    return x, labels.astype(np.int64)


def _load_dataset(
    name,
    data_dir=None,
    download=False,
    normalize=True,
    search_dirs=None,
    mirrors=None,
    timeout=_DOWNLOAD_TIMEOUT,
):
    """Shared implementation of the loaders.

    ``search_dirs`` replaces the standard roots searched after ``data_dir``
    (``$ZHUSUAN_DATA``, the home cache, the system directory) so that tests do
    not depend on the real machine; downloads go to ``data_dir`` if given, else
    to the home cache.
    """
    name = _canonical_name(name)
    directory = _find_dir(name, data_dir, search_dirs)
    download_errors = None
    if directory is None and download:
        if mirrors is None:
            mirrors = MNIST_MIRRORS if name == "mnist" else FASHION_MNIST_MIRRORS
        target = os.fspath(data_dir) if data_dir is not None else _cache_dir(name)
        target = os.path.expanduser(target)
        download_errors = _download(name, target, mirrors, timeout)
        if not download_errors and not _missing_in(target):
            directory = target
    if directory is None:
        searched = _search_dirs(name, data_dir, search_dirs)
        raise FileNotFoundError(
            _not_found_message(name, searched, download_errors, data_dir)
        )
    train = _read_split(directory, MNIST_FILES[0], MNIST_FILES[1], normalize)
    test = _read_split(directory, MNIST_FILES[2], MNIST_FILES[3], normalize)
    return train, test


def load_mnist(data_dir: PathLike | None = None, download: bool = True,
               normalize: bool = True) -> tuple[Split, Split]:
    """Load MNIST, downloading it into a cache if it is not found.

    The four files are looked for, each raw or gzipped, in ``data_dir`` when
    it is given (and only there: a wrong ``data_dir`` is an error naming it,
    never a silent fallback to another copy); otherwise in this order:
    ``$ZHUSUAN_DATA``, ``$ZHUSUAN_DATA/mnist``, ``~/.cache/zhusuan/mnist``.
    The first directory holding all four is used.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The directory holding the files, and the download target when given.
    download : bool
        If the files are not found, download the ``.gz`` files from a list of
        mirrors (10 s timeout) into ``data_dir`` or ``~/.cache/zhusuan/mnist``.
    normalize : bool
        Scale pixels from 0..255 to [0, 1] (divide by 255).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_*``: float32 arrays of shape ``[N, 784]`` (N = 60000 and 10000 for
        the real data); ``y_*``: int64 arrays of shape ``[N]`` with values
        0..9.

    Raises
    ------
    FileNotFoundError
        If the files are neither found nor downloadable; the message lists
        the directories searched, the file names and where to put them.
    ValueError
        If a file is corrupted (see :func:`zhusuan.datasets.read_idx`).
    """
    return _load_dataset("mnist", data_dir, download, normalize)


def load_fashion_mnist(data_dir: PathLike | None = None, download: bool = False,
                       normalize: bool = True) -> tuple[Split, Split]:
    """Load Fashion-MNIST (same file names and format as MNIST).

    The four files are looked for, each raw or gzipped, in ``data_dir`` when
    it is given (and only there: a wrong ``data_dir`` is an error naming it
    and the files, never a silent fallback to the system copy); otherwise in
    this order: ``$ZHUSUAN_DATA/fashion-mnist``,
    ``~/.cache/zhusuan/fashion-mnist``, ``/usr/share/datasets/fashion-mnist``
    (installed by ``apt-get install dataset-fashion-mnist``).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The directory holding the files, and the download target when given.
    download : bool
        Off by default (the Debian package is the expected source). If true and
        the files are not found, download them into ``data_dir`` or
        ``~/.cache/zhusuan/fashion-mnist``.
    normalize : bool
        Scale pixels from 0..255 to [0, 1] (divide by 255).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_*``: float32 arrays of shape ``[N, 784]`` (N = 60000 and 10000 for
        the real data); ``y_*``: int64 arrays of shape ``[N]`` with values
        0..9.

    Raises
    ------
    FileNotFoundError
        If the files are not found (and not downloaded); the message lists the
        directories searched, the file names and how to install them.
    ValueError
        If a file is corrupted (see :func:`zhusuan.datasets.read_idx`).
    """
    return _load_dataset("fashion-mnist", data_dir, download, normalize)


def binarize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample binary pixels with probabilities ``x`` (dynamic binarisation).

    Call it again each epoch for fresh samples; that regularises models
    trained on binarised MNIST compared with one fixed binarisation.

    Parameters
    ----------
    x : array_like
        Probabilities in [0, 1], any shape (e.g. ``[N, 784]``). Not modified.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape as ``x`` with values exactly 0 or 1,
        equal to ``rng.random(x.shape) < x``.
    """
    x = np.asarray(x)
    return (rng.random(x.shape) < x).astype(np.float32)


def binarize_fixed(x: np.ndarray, seed: int = 1234) -> np.ndarray:
    """Binarise ``x`` once with a fixed seed (for a reproducible test set).

    Parameters
    ----------
    x : array_like
        Probabilities in [0, 1], any shape. Not modified.
    seed : int
        Seed of the ``numpy.random.default_rng`` generator used; the same
        input and seed always give the same output.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape as ``x`` with values 0 or 1, equal to
        ``binarize(x, numpy.random.default_rng(seed))``.
    """
    return binarize(x, np.random.default_rng(seed))


def iterate_minibatches(x: np.ndarray | Sequence[np.ndarray], batch_size: int,
                        rng: np.random.Generator | None = None, drop_last: bool = False
                        ) -> Iterator[np.ndarray | tuple[np.ndarray, ...]]:
    """Yield minibatches along the first axis.

    Parameters
    ----------
    x : numpy.ndarray or tuple/list of numpy.ndarray
        Data of shape ``[N, ...]``; several arrays (e.g. ``(images, labels)``)
        are split with the same indices and yielded as a tuple.
    batch_size : int
        Number of rows per batch (positive).
    rng : numpy.random.Generator, optional
        If given, rows are visited in the order ``rng.permutation(N)``;
        otherwise in their stored order.
    drop_last : bool
        Skip the last batch when it has fewer than ``batch_size`` rows.

    Yields
    ------
    numpy.ndarray or tuple of numpy.ndarray
        Batches of shape ``[B, ...]`` with ``B == batch_size`` except possibly
        the last one. Unshuffled batches are views of ``x``; shuffled ones are
        copies.
    """
    multiple = isinstance(x, (tuple, list))
    arrays = [np.asarray(a) for a in x] if multiple else [np.asarray(x)]
    if not arrays:
        raise ValueError("iterate_minibatches needs at least one array")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            "batch_size must be a positive integer, got {!r}".format(batch_size)
        )
    batch_size = int(batch_size)
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(
            "all arrays must have the same length, got {}".format(
                [a.shape[0] for a in arrays]
            )
        )
    order = None if rng is None else rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index: slice | np.ndarray
        if order is None:
            index = slice(start, start + batch_size)
        else:
            index = order[start:start + batch_size]
        batch = tuple(a[index] for a in arrays)
        yield batch if multiple else batch[0]
