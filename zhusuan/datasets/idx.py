"""Reader for the IDX binary format used by MNIST and Fashion-MNIST.

An IDX file is::

    byte 0-1   two zero bytes
    byte 2     type code of the elements (see ``IDX_DTYPES``)
    byte 3     number of dimensions ``ndim``
    then       ``ndim`` big-endian unsigned 32-bit sizes
    then       the elements, big-endian, in C (row-major) order

The files are usually distributed gzipped. Whether a file is compressed is
decided by its first two bytes (the gzip magic ``1f 8b``), not by its name,
because people routinely decompress a file and keep the ``.gz`` name or the
other way round.

Only numpy and the standard library are used so that the datasets package can
be imported without Jittor.
"""

from __future__ import annotations

import errno
import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "IDX_DTYPES"]

#: Element type codes of the IDX format and the big-endian numpy dtype that
#: stores each on disk.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """Return the (decompressed if gzipped) contents of ``path``."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                return gz.read()
        except (EOFError, OSError, zlib.error) as exc:
            # A truncated or corrupted download shows up here; report it as a
            # bad file rather than leaking a low-level zlib message without
            # the file name.
            raise ValueError(
                "{}: corrupted or truncated gzip data ({})".format(path, exc)
            ) from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the file. Gzip compression is detected from the file's first
        two bytes, so the name does not matter.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order whose shape is the one stored in
        the header, e.g. ``[N, 28, 28]`` ``uint8`` for MNIST images and
        ``[N]`` ``uint8`` for labels. The dtype follows the type code:
        0x08 ``uint8``, 0x09 ``int8``, 0x0B ``int16``, 0x0C ``int32``,
        0x0D ``float32``, 0x0E ``float64``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message names the path).
    ValueError
        If the magic bytes are wrong, the type code is unknown, or the amount
        of data does not match the sizes in the header (e.g. a truncated
        download). The message starts with the path.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, "IDX file not found", path)
    data = _read_bytes(path)

    if len(data) < 4:
        raise ValueError(
            "{}: not an IDX file (only {} bytes, the header needs at least 4)".format(
                path, len(data)
            )
        )
    zero0, zero1, code, ndim = struct.unpack(">BBBB", data[:4])
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            "{}: not an IDX file (bad magic bytes {!r}, expected b'\\x00\\x00')".format(
                path, data[:2]
            )
        )
    if code not in IDX_DTYPES:
        known = ", ".join("0x{:02X}".format(c) for c in sorted(IDX_DTYPES))
        raise ValueError(
            "{}: unknown IDX type code 0x{:02X} (known codes: {})".format(
                path, code, known
            )
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            "{}: truncated IDX header ({} bytes, {} needed for {} dimensions)".format(
                path, len(data), header_len, ndim
            )
        )
    shape = struct.unpack(">" + "I" * ndim, data[4:header_len])
    dtype = IDX_DTYPES[code]
    # Python ints, so the product cannot overflow for large headers.
    count = 1
    for size in shape:
        count *= size
    expected = count * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing data"
        raise ValueError(
            "{}: IDX file {}: header shape {} needs {} data bytes, found {}".format(
                path, what, tuple(shape), expected, actual
            )
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_len)
    # astype copies, which both converts to native byte order and detaches the
    # result from the read-only bytes buffer.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)
