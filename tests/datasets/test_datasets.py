"""Tests of zhusuan.datasets: IDX reader, MNIST/Fashion-MNIST loaders, binarisation.

Expected values come from independent oracles: IDX files are written here byte
by byte with ``struct`` (not with the reader's dtype table), loaders are
checked against the arrays that were written, and binarisation against the
binomial distribution. Nothing here touches the network or the real home
directory: ``$HOME`` and ``$ZHUSUAN_DATA`` are redirected to temporary
directories and ``urllib.request.urlopen`` is replaced.
"""

import gzip
import hashlib
import io
import math
import os
import re
import struct
import urllib.error
import urllib.request

from zhusuan import datasets
from zhusuan.datasets import (
    MNIST_FILES,
    binarize,
    binarize_fixed,
    find_dataset,
    iterate_minibatches,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from zhusuan.datasets import mnist as zmnist

import numpy as np
import pytest

# struct format letter and IDX type code of each element type.
_STRUCT = {
    "uint8": ("B", 0x08),
    "int8": ("b", 0x09),
    "int16": ("h", 0x0B),
    "int32": ("i", 0x0C),
    "float32": ("f", 0x0D),
    "float64": ("d", 0x0E),
}


def idx_bytes(values, shape, kind):
    """IDX encoding of ``values`` (flat Python numbers) with ``shape``, by hand."""
    letter, code = _STRUCT[kind]
    header = struct.pack(">BBBB", 0, 0, code, len(shape))
    header += struct.pack(">" + "I" * len(shape), *shape)
    return header + struct.pack(">" + letter * len(values), *values)


def write(path, payload, gz):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Point $HOME at an empty directory and unset $ZHUSUAN_DATA.

    Returns the fake home so tests can check what was (not) written there.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ZHUSUAN_DATA", raising=False)
    return home


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------

_rs = np.random.RandomState(0)
_CASES = {
    # name: (numpy array, IDX kind)
    "images_u8_3d": (_rs.randint(0, 256, size=(4, 5, 3)).astype(np.uint8), "uint8"),
    "labels_u8_1d": (np.array([0, 9, 3, 255, 1, 7], dtype=np.uint8), "uint8"),
    "int8_2d": (np.array([[-128, -1, 0], [1, 64, 127]], dtype=np.int8), "int8"),
    "int16_1d": (np.array([-32768, -2, 0, 300, 32767], dtype=np.int16), "int16"),
    "int32_2d": (
        np.array([[-(2**31), -1, 0], [1, 123456789, 2**31 - 1]], dtype=np.int32),
        "int32",
    ),
    "float32_1d": (np.array([-1.5, 0.0, 3.25, 1e-30], dtype=np.float32), "float32"),
    "float64_2d": (
        np.array([[math.pi, -math.e], [1e300, -0.0], [5e-324, 2.5]], dtype=np.float64),
        "float64",
    ),
    "empty": (np.zeros((0, 28, 28), dtype=np.uint8), "uint8"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", sorted(_CASES))
def test_read_idx_returns_written_array(tmp_path, case, gz):
    expected, kind = _CASES[case]
    payload = idx_bytes(expected.ravel().tolist(), expected.shape, kind)
    path = write(tmp_path / (case + (".gz" if gz else "")), payload, gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(kind)
    assert got.dtype.isnative
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    # Bit-exact for floats too (e.g. -0.0 and subnormals survive).
    assert got.tobytes() == expected.tobytes()
    # The result is an ordinary writable array, not a view of a bytes buffer.
    assert got.flags.writeable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    payload = idx_bytes(arr.ravel().tolist(), arr.shape, "uint8")
    gz_without_suffix = write(tmp_path / "compressed.idx", payload, gz=True)
    raw_with_suffix = write(tmp_path / "plain.gz", payload, gz=False)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), arr)
    np.testing.assert_array_equal(read_idx(raw_with_suffix), arr)
    # str paths work as well as pathlib paths.
    np.testing.assert_array_equal(read_idx(str(raw_with_suffix)), arr)


def _good_payload():
    return idx_bytes(list(range(10)), (2, 5), "uint8")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    "name, payload, reason",
    [
        ("badmagic", b"\x01\x00" + _good_payload()[2:], "bad magic"),
        ("badmagic2", b"\x00\x07" + _good_payload()[2:], "bad magic"),
        ("truncated", _good_payload()[:-3], "truncated"),
        ("trailing", _good_payload() + b"\x00", "trailing data"),
        ("badtype", _good_payload()[:2] + b"\x07" + _good_payload()[3:], "0x07"),
        ("shortheader", b"\x00\x00\x08\x03" + b"\x00" * 5, "truncated IDX header"),
        ("tiny", b"\x00\x00", "not an IDX file"),
    ],
)
def test_read_idx_bad_files_name_the_file(tmp_path, name, payload, reason, gz):
    path = write(tmp_path / ("bad-" + name + "-file"), payload, gz)
    with pytest.raises(ValueError, match=re.escape(str(path))) as info:
        read_idx(path)
    assert reason in str(info.value)


def test_read_idx_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(list(range(200)), (200,), "uint8"))
    path = tmp_path / "cut-download.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "no-such-file-idx1-ubyte"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_idx(path)


# ---------------------------------------------------------------------------
# Loaders on a tiny fake dataset
# ---------------------------------------------------------------------------


def make_fake_mnist(directory, n_train=10, n_test=5, seed=0, gz=(True, False)):
    """Write the four files (tiny) into ``directory``; return the raw arrays.

    ``gz`` cycles over the files so that raw and gzipped files are mixed.
    """
    rng = np.random.RandomState(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        MNIST_FILES[0]: rng.randint(0, 256, size=(n_train, 28, 28)),
        MNIST_FILES[1]: rng.randint(0, 10, size=n_train),
        MNIST_FILES[2]: rng.randint(0, 256, size=(n_test, 28, 28)),
        MNIST_FILES[3]: rng.randint(0, 10, size=n_test),
    }
    # Make sure both ends of the pixel range occur, to check the scaling.
    arrays[MNIST_FILES[0]][0, 0, :2] = [0, 255]
    for i, (base, arr) in enumerate(arrays.items()):
        compress = gz[i % len(gz)]
        payload = idx_bytes(arr.ravel().tolist(), arr.shape, "uint8")
        write(directory / (base + (".gz" if compress else "")), payload, compress)
    return arrays


def check_loaded(result, arrays, normalize=True):
    (x_train, y_train), (x_test, y_test) = result
    pairs = [(x_train, y_train, 0), (x_test, y_test, 2)]
    for x, y, k in pairs:
        raw_images = arrays[MNIST_FILES[k]]
        raw_labels = arrays[MNIST_FILES[k + 1]]
        n = raw_images.shape[0]
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        flat = raw_images.reshape(n, 784).astype(np.float64)
        if normalize:
            # Oracle in float64, compared to 1 ulp of float32.
            np.testing.assert_allclose(x, flat / 255.0, rtol=1e-7, atol=0)
            assert x.min() >= 0.0 and x.max() <= 1.0
        else:
            np.testing.assert_array_equal(x, flat)
        np.testing.assert_array_equal(y, raw_labels)
    if normalize:
        assert x_train[0, 0] == 0.0 and x_train[0, 1] == 1.0


@pytest.mark.parametrize("normalize", [True, False])
def test_load_mnist_from_data_dir(tmp_path, isolated_env, normalize):
    arrays = make_fake_mnist(tmp_path / "data")
    result = load_mnist(data_dir=tmp_path / "data", download=False, normalize=normalize)
    check_loaded(result, arrays, normalize)


def test_load_mnist_all_raw_or_all_gzip(tmp_path, isolated_env):
    for gz in (True, False):
        d = tmp_path / ("gz" if gz else "raw")
        arrays = make_fake_mnist(d, gz=(gz,), seed=int(gz))
        check_loaded(load_mnist(data_dir=str(d), download=False), arrays)


def test_load_mnist_via_env_root(tmp_path, isolated_env, monkeypatch):
    arrays = make_fake_mnist(tmp_path / "shared")
    monkeypatch.setenv("ZHUSUAN_DATA", str(tmp_path / "shared"))
    check_loaded(load_mnist(download=False), arrays)
    assert find_dataset("mnist") == str(tmp_path / "shared")


def test_load_mnist_via_env_subdir(tmp_path, isolated_env, monkeypatch):
    arrays = make_fake_mnist(tmp_path / "shared" / "mnist", n_train=7, n_test=3)
    monkeypatch.setenv("ZHUSUAN_DATA", str(tmp_path / "shared"))
    check_loaded(load_mnist(download=False), arrays)
    assert find_dataset("mnist") == os.path.join(str(tmp_path / "shared"), "mnist")


def test_load_mnist_from_home_cache(isolated_env):
    arrays = make_fake_mnist(isolated_env / ".cache" / "zhusuan" / "mnist")
    check_loaded(load_mnist(download=False), arrays)


def test_search_order(tmp_path, isolated_env, monkeypatch):
    # Distinguishable datasets (different sizes) in every location.
    first = make_fake_mnist(tmp_path / "explicit", n_train=2, n_test=1, seed=1)
    env = make_fake_mnist(tmp_path / "shared", n_train=3, n_test=1, seed=2)
    cache = make_fake_mnist(
        isolated_env / ".cache" / "zhusuan" / "mnist", n_train=4, n_test=1, seed=3
    )
    monkeypatch.setenv("ZHUSUAN_DATA", str(tmp_path / "shared"))
    check_loaded(load_mnist(data_dir=tmp_path / "explicit", download=False), first)
    check_loaded(load_mnist(download=False), env)
    monkeypatch.delenv("ZHUSUAN_DATA")
    check_loaded(load_mnist(download=False), cache)


def test_incomplete_directory_is_skipped(tmp_path, isolated_env, monkeypatch):
    # Among the standard locations, one that lacks a file is passed over.
    complete = make_fake_mnist(isolated_env / ".cache" / "zhusuan" / "mnist")
    partial = tmp_path / "partial"
    make_fake_mnist(partial, n_train=2, n_test=1)
    (partial / (MNIST_FILES[3])).unlink()  # the fourth file is written raw
    monkeypatch.setenv("ZHUSUAN_DATA", str(partial))
    check_loaded(load_mnist(download=False), complete)


def test_incomplete_data_dir_is_an_error(tmp_path, isolated_env):
    # An explicit data_dir is the only place looked in: a copy elsewhere (here
    # the home cache) is not taken instead (issue 15, finding 7).
    make_fake_mnist(isolated_env / ".cache" / "zhusuan" / "mnist")
    partial = tmp_path / "partial"
    make_fake_mnist(partial, n_train=2, n_test=1)
    (partial / (MNIST_FILES[3])).unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(data_dir=partial, download=False)
    message = str(info.value)
    assert f"{partial} (missing: {MNIST_FILES[3]})" in message
    assert "data_dir=" in message and "no other directory was searched" in message
    assert os.path.join(str(isolated_env), ".cache") not in message


@pytest.mark.skipif(not os.path.isdir(zmnist.FASHION_MNIST_SYSTEM_DIR),
                    reason="needs the system copy of Fashion-MNIST")
def test_wrong_data_dir_does_not_fall_back_to_the_system_copy(tmp_path, isolated_env):
    # Before the fix this loaded /usr/share/datasets/fashion-mnist silently.
    wrong = tmp_path / "typo"
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(data_dir=wrong)
    message = str(info.value)
    assert f"{wrong} (does not exist)" in message
    for base in MNIST_FILES:
        assert base + "[.gz]" in message
    assert zmnist.FASHION_MNIST_SYSTEM_DIR + " (" not in message
    assert find_dataset("fashion-mnist", data_dir=wrong) is None
    assert find_dataset("fashion-mnist") == zmnist.FASHION_MNIST_SYSTEM_DIR


def test_missing_files_error_message(tmp_path, isolated_env, monkeypatch):
    monkeypatch.setenv("ZHUSUAN_DATA", str(tmp_path / "shared"))
    data_dir = tmp_path / "nothing-here"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(data_dir=data_dir, download=False)
    message = str(info.value)
    for base in MNIST_FILES:
        assert base in message
    # Only the given data_dir is searched; the standard roots are not.
    assert f"{data_dir} (does not exist)" in message
    assert f"{tmp_path / 'shared'} (" not in message
    assert os.path.join(str(isolated_env), ".cache", "zhusuan", "mnist (") not in message
    assert "ZHUSUAN_DATA" in message
    assert "~/.cache/zhusuan/mnist" in message
    # Nothing was created anywhere when download=False.
    assert not data_dir.exists()
    assert list(isolated_env.iterdir()) == []


def test_error_message_lists_files_missing_from_partial_directory(tmp_path):
    partial = tmp_path / "partial"
    make_fake_mnist(partial)
    (partial / (MNIST_FILES[2] + ".gz")).unlink()  # the third file is gzipped
    with pytest.raises(FileNotFoundError) as info:
        zmnist._load_dataset("mnist", data_dir=partial, search_dirs=[])
    assert "missing: " + MNIST_FILES[2] in str(info.value)


def test_corrupted_file_in_dataset_raises_value_error(tmp_path, isolated_env):
    make_fake_mnist(tmp_path / "data", gz=(False,))
    bad = tmp_path / "data" / MNIST_FILES[1]
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        load_mnist(data_dir=tmp_path / "data", download=False)


def test_label_count_mismatch(tmp_path, isolated_env):
    make_fake_mnist(tmp_path / "data", gz=(False,))
    labels = tmp_path / "data" / MNIST_FILES[1]
    labels.write_bytes(idx_bytes([1, 2, 3], (3,), "uint8"))
    with pytest.raises(ValueError, match=MNIST_FILES[1]):
        load_mnist(data_dir=tmp_path / "data", download=False)


# ---------------------------------------------------------------------------
# Fashion-MNIST search (with the system directory overridden)
# ---------------------------------------------------------------------------


def test_fashion_mnist_search_and_message(tmp_path, isolated_env, monkeypatch):
    system = tmp_path / "usr-share-fashion"
    monkeypatch.setattr(zmnist, "FASHION_MNIST_SYSTEM_DIR", str(system))
    monkeypatch.setenv("ZHUSUAN_DATA", str(tmp_path / "shared"))
    assert find_dataset("fashion-mnist") is None
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(system) in message
    assert os.path.join(str(tmp_path / "shared"), "fashion-mnist") in message
    for base in MNIST_FILES:
        assert base in message

    # MNIST files directly in $ZHUSUAN_DATA must not be taken for Fashion-MNIST.
    make_fake_mnist(tmp_path / "shared")
    assert find_dataset("fashion") is None

    # The system directory (all four .gz, as Debian installs them) is found.
    arrays = make_fake_mnist(system, gz=(True,))
    assert find_dataset("fashion_mnist") == str(system)
    check_loaded(load_fashion_mnist(), arrays)

    # ... but $ZHUSUAN_DATA/fashion-mnist comes first.
    arrays = make_fake_mnist(tmp_path / "shared" / "fashion-mnist", n_train=3)
    check_loaded(load_fashion_mnist(), arrays)


def test_search_dirs_override(tmp_path, isolated_env):
    arrays = make_fake_mnist(tmp_path / "somewhere")
    assert zmnist._find_dir("mnist", search_dirs=[tmp_path / "x"]) is None
    found = zmnist._find_dir(
        "mnist", search_dirs=[tmp_path / "x", tmp_path / "somewhere"]
    )
    assert found == str(tmp_path / "somewhere")
    result = zmnist._load_dataset(
        "fashion-mnist", search_dirs=[str(tmp_path / "somewhere")]
    )
    check_loaded(result, arrays)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="cifar"):
        find_dataset("cifar10")


# ---------------------------------------------------------------------------
# Download (urlopen replaced; no network)
# ---------------------------------------------------------------------------


def pin_served(monkeypatch, arrays):
    """Pin the fake data set's digests (zmnist.SHA256 holds the real ones),
    computed here from the arrays with hashlib: what a download must match."""
    digests = {base: hashlib.sha256(idx_bytes(a.ravel().tolist(), a.shape, "uint8"))
               .hexdigest() for base, a in arrays.items()}
    monkeypatch.setitem(zmnist.SHA256, "mnist", digests)


class FakeResponse(io.BytesIO):
    def __init__(self, payload, send_length=True):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))} if send_length else {}


def test_download_offline_error(tmp_path, isolated_env, monkeypatch):
    calls = []

    def offline(url, timeout=None, **kwargs):
        calls.append((url, timeout))
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(download=True)
    message = str(info.value)
    for base in MNIST_FILES:
        assert base in message
    assert "Temporary failure in name resolution" in message
    assert "~/.cache/zhusuan/mnist" in message and "ZHUSUAN_DATA" in message
    # Every mirror was tried for the first file, then it gave up (fail fast).
    assert [u for u, _ in calls] == [
        m + MNIST_FILES[0] + ".gz" for m in zmnist.MNIST_MIRRORS
    ]
    assert all(t is not None and 0 < t <= 10 for _, t in calls)
    # No temporary files left behind in the download directory.
    cache = isolated_env / ".cache" / "zhusuan" / "mnist"
    assert list(cache.iterdir()) == []


def test_download_success(tmp_path, isolated_env, monkeypatch):
    # Serve a tiny fake dataset; the first mirror is down, the second works and
    # one file comes without a Content-Length header.
    source = tmp_path / "served"
    arrays = make_fake_mnist(source, gz=(True,))
    pin_served(monkeypatch, arrays)
    good_mirror = zmnist.MNIST_MIRRORS[1]
    requested = []

    def fake_urlopen(url, timeout=None, **kwargs):
        requested.append(url)
        assert timeout is not None and timeout <= 10
        if not url.startswith(good_mirror):
            raise urllib.error.URLError("mirror down")
        name = url[len(good_mirror):]
        payload = (source / name).read_bytes()
        return FakeResponse(payload, send_length=name != MNIST_FILES[1] + ".gz")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    result = load_mnist()  # download=True is the default
    check_loaded(result, arrays)
    cache = isolated_env / ".cache" / "zhusuan" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        b + ".gz" for b in MNIST_FILES
    )
    for base in MNIST_FILES:
        assert (cache / (base + ".gz")).read_bytes() == (
            source / (base + ".gz")
        ).read_bytes()
    assert sorted(set(requested)) == sorted(
        m + b + ".gz" for m in zmnist.MNIST_MIRRORS for b in MNIST_FILES
    )
    # Second call finds the cache and does not download again.
    requested.clear()
    check_loaded(load_mnist(), arrays)
    assert requested == []


def test_download_into_data_dir_rejects_bad_payload(
    tmp_path, isolated_env, monkeypatch
):
    # The first mirror serves an HTML error page with status 200; it must be
    # rejected (and deleted) and the next mirror used. Only the missing file is
    # downloaded.
    data_dir = tmp_path / "data"
    arrays = make_fake_mnist(data_dir, gz=(False,))
    pin_served(monkeypatch, arrays)
    served = (data_dir / MNIST_FILES[2]).read_bytes()
    (data_dir / MNIST_FILES[2]).unlink()
    requested = []

    def fake_urlopen(url, timeout=None, **kwargs):
        requested.append(url)
        if url.startswith(zmnist.MNIST_MIRRORS[0]):
            return FakeResponse(b"<html>Access denied</html>")
        return FakeResponse(gzip.compress(served))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    check_loaded(load_mnist(data_dir=data_dir), arrays)
    assert requested == [m + MNIST_FILES[2] + ".gz" for m in zmnist.MNIST_MIRRORS]
    names = sorted(p.name for p in data_dir.iterdir())
    assert names == sorted(MNIST_FILES[:2] + (MNIST_FILES[2] + ".gz", MNIST_FILES[3]))
    # Nothing was written to the home cache.
    assert list(isolated_env.iterdir()) == []


def test_download_all_mirrors_bad_payload(tmp_path, isolated_env, monkeypatch):
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, timeout=None, **kw: FakeResponse(b"\x00\x00\x08\x01garbage"),
    )
    with pytest.raises(FileNotFoundError, match="Downloading failed") as info:
        load_mnist(data_dir=tmp_path / "d")
    assert "truncated" in str(info.value)
    assert list((tmp_path / "d").iterdir()) == []


def test_download_with_other_content_is_refused(tmp_path, isolated_env, monkeypatch):
    """A well-formed IDX file whose content is not the published data (the
    real digests are pinned) is refused on every mirror, named with both
    digests, and not kept."""
    source = tmp_path / "served"
    make_fake_mnist(source, gz=(True,))
    payload = (source / (MNIST_FILES[0] + ".gz")).read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout=None, **kw: FakeResponse(payload))
    with pytest.raises(FileNotFoundError, match="Downloading failed") as info:
        load_mnist(data_dir=tmp_path / "d")
    got = hashlib.sha256(gzip.decompress(payload)).hexdigest()
    message = str(info.value)
    assert got in message and zmnist.SHA256["mnist"][MNIST_FILES[0]] in message
    assert message.count("not the published") == len(zmnist.MNIST_MIRRORS)
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.skipif(not os.path.isdir(zmnist.FASHION_MNIST_SYSTEM_DIR),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_pinned_fashion_mnist_digests_are_the_system_copys():
    """The pinned Fashion-MNIST digests against hashlib over gzip's
    decompression of Debian's files (the published data, re-compressed)."""
    for base in MNIST_FILES:
        path = os.path.join(zmnist.FASHION_MNIST_SYSTEM_DIR, base + ".gz")
        with gzip.open(path, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        assert zmnist.SHA256["fashion-mnist"][base] == want, base
        assert zmnist.content_sha256(path) == want


def test_fashion_mnist_does_not_download_by_default(
    tmp_path, isolated_env, monkeypatch
):
    monkeypatch.setattr(zmnist, "FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "none"))

    def forbidden(*args, **kwargs):
        raise AssertionError("urlopen must not be called")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    with pytest.raises(FileNotFoundError):
        load_fashion_mnist()
    assert find_dataset("mnist") is None  # find_dataset never downloads either


# ---------------------------------------------------------------------------
# Binarisation
# ---------------------------------------------------------------------------

_PROBS = np.array([0.0, 1e-3, 0.05, 0.3, 0.5, 0.77, 0.999, 1.0], dtype=np.float32)


def test_binarize_matches_bernoulli_mean():
    # Each entry of the mean of n draws has standard error sqrt(p (1 - p) / n).
    # A 6-sigma two-sided bound fails with probability about 2e-9 per entry
    # under the normal approximation (n p >= 20 here for every p not 0 or 1),
    # so < 2e-8 for the whole test whatever the seed; p = 0 and 1 must be exact.
    n = 20000
    rng = np.random.default_rng(2024)
    draws = np.stack([binarize(_PROBS, rng) for _ in range(n)])
    mean = draws.mean(axis=0, dtype=np.float64)
    p = _PROBS.astype(np.float64)
    tolerance = 6.0 * np.sqrt(p * (1.0 - p) / n)
    assert np.all(np.abs(mean - p) <= tolerance), (mean, p, tolerance)
    assert mean[0] == 0.0 and mean[-1] == 1.0


def test_binarize_values_shape_and_no_mutation():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).random((6, 784)).astype(np.float32)
    original = x.copy()
    b1 = binarize(x, rng)
    b2 = binarize(x, rng)
    assert b1.shape == x.shape and b1.dtype == np.float32
    assert set(np.unique(b1)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x, original)
    # Dynamic: consecutive calls resample (equal w.p. far below 1e-100 here).
    assert not np.array_equal(b1, b2)
    # Definition: rng.random(x.shape) < x, with the generator's own stream.
    expected = np.random.default_rng(7).random(x.shape) < x
    np.testing.assert_array_equal(binarize(x, np.random.default_rng(7)), expected)


def test_binarize_fixed_deterministic_and_seed_dependent():
    x = np.full((10, 784), 0.5, dtype=np.float32)
    original = x.copy()
    a = binarize_fixed(x)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert set(np.unique(a)) == {0.0, 1.0}
    np.testing.assert_array_equal(binarize_fixed(x), a)
    np.testing.assert_array_equal(binarize_fixed(x, seed=1234), a)
    # Another seed gives another sample (identical w.p. 2**-7840).
    assert not np.array_equal(binarize_fixed(x, seed=1), a)
    np.testing.assert_array_equal(x, original)
    expected = np.random.default_rng(1234).random(x.shape) < x
    np.testing.assert_array_equal(a, expected)


# ---------------------------------------------------------------------------
# iterate_minibatches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, batch_size, drop_last, sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (9, 3, True, [3, 3, 3]),
        (2, 5, False, [2]),
        (2, 5, True, []),
        (0, 4, False, []),
    ],
)
def test_iterate_minibatches_in_order(n, batch_size, drop_last, sizes):
    x = np.arange(n * 2).reshape(n, 2)
    batches = list(iterate_minibatches(x, batch_size, drop_last=drop_last))
    assert [len(b) for b in batches] == sizes
    if sizes:
        kept = sum(sizes)
        np.testing.assert_array_equal(np.concatenate(batches), x[:kept])


def test_iterate_minibatches_shuffled():
    n = 100
    x = np.arange(n)
    batches = list(iterate_minibatches(x, 16, rng=np.random.default_rng(0)))
    assert [len(b) for b in batches] == [16] * 6 + [4]
    seen = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(seen), x)  # a permutation ...
    assert not np.array_equal(seen, x)  # ... not the identity (p = 1/100!)
    # Reproducible for the same seed, different for another seed.
    def order(seed, **kwargs):
        rng = np.random.default_rng(seed)
        return list(iterate_minibatches(x, 16, rng=rng, **kwargs))

    np.testing.assert_array_equal(np.concatenate(order(0)), seen)
    assert not np.array_equal(np.concatenate(order(1)), seen)
    dropped = order(0, drop_last=True)
    assert [len(b) for b in dropped] == [16] * 6


def test_iterate_minibatches_tuple_keeps_rows_aligned():
    x = np.arange(30).reshape(15, 2)
    y = x[:, 0] * 10
    batches = list(iterate_minibatches((x, y), 4, rng=np.random.default_rng(3)))
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    for bx, by in batches:
        np.testing.assert_array_equal(by, bx[:, 0] * 10)
    assert sum(len(bx) for bx, _ in batches) == 15


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_iterate_minibatches_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        list(iterate_minibatches(np.zeros(4), bad))


def test_iterate_minibatches_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        list(iterate_minibatches((np.zeros(4), np.zeros(5)), 2))


def test_public_api():
    assert set(datasets.__all__) >= {
        "read_idx",
        "load_mnist",
        "load_fashion_mnist",
        "find_dataset",
        "binarize",
        "binarize_fixed",
        "iterate_minibatches",
    }
    for name in datasets.__all__:
        assert hasattr(datasets, name)


# ---------------------------------------------------------------------------
# The real Fashion-MNIST from Debian's dataset-fashion-mnist, when installed
# ---------------------------------------------------------------------------


@pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="/usr/share/datasets/fashion-mnist is missing "
    "(apt-get install dataset-fashion-mnist to run this test)",
)
def test_real_fashion_mnist(isolated_env):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # Published class balance: 6000 training and 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [1000] * 10)
    # Scaling is exactly /255 of integer pixel values.
    np.testing.assert_array_equal(np.round(x_test[:100] * 255) / 255, x_test[:100])
