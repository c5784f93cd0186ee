"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a header followed by the array's bytes in C order::

    2 zero bytes | 1 byte dtype code | 1 byte number of dimensions n
    n big-endian uint32 sizes
    prod(sizes) * itemsize bytes of big-endian data

Files may be gzip-compressed (the usual ``*-ubyte.gz``). The reader checks the
zero bytes, the dtype code, and that the file holds exactly as many data bytes as
the header announces: a truncated file, one with trailing bytes, a wrong magic
number or a ``.gz`` name on something that is not gzip all raise
:class:`~backproplab.errors.BackproplabError` naming the file and the problem.

The array is a view on the decompressed bytes (``np.frombuffer``), so reading
makes no copy beyond decompression; it is therefore read-only. Multi-byte types
are converted to the native byte order (which needs a copy anyway).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes

#: IDX dtype code -> NumPy dtype (big-endian, as stored).
CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: NumPy dtype (any byte order) -> IDX dtype code.
DTYPE_TO_CODE = {dt.newbyteorder("="): code for code, dt in CODE_TO_DTYPE.items()}

GZIP_MAGIC = b"\x1f\x8b"


def _fail(path, problem: str, fix: str = "replace it with a good copy") -> BackproplabError:
    return BackproplabError(f"IDX file {path}: {problem}; {fix}")


def parse_idx(content: bytes | bytearray | memoryview, source: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes into an array (a view on ``content`` for 1-byte types).

    ``source`` names the file in error messages.
    """
    n_bytes = len(content)
    if n_bytes < 4:
        raise _fail(source, f"only {n_bytes} bytes, too short for an IDX header (truncated?)")
    zero, code, ndim = struct.unpack_from(">HBB", content, 0)
    if zero != 0:
        head = bytes(content[:4]).hex()
        raise _fail(source, f"wrong magic number 0x{head} (an IDX file starts with two zero bytes), "
                            "so this is not an IDX file")
    if code not in CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in CODE_TO_DTYPE)
        raise _fail(source, f"unknown dtype code 0x{code:02X} in the magic number (known: {known})")
    header = 4 + 4 * ndim
    if n_bytes < header:
        raise _fail(source, f"header announces {ndim} dimensions but the file ends after "
                            f"{n_bytes} bytes (truncated)")
    shape = struct.unpack_from(f">{ndim}I", content, 4)
    dtype = CODE_TO_DTYPE[code]
    count = 1
    for s in shape:
        count *= s
    expected = count * dtype.itemsize
    actual = n_bytes - header
    if actual < expected:
        raise _fail(source, f"truncated: header says shape {tuple(shape)} ({expected} data bytes) "
                            f"but only {actual} data bytes are present")
    if actual > expected:
        raise _fail(source, f"oversized: {actual - expected} bytes after the {expected} data bytes "
                            f"the header announces for shape {tuple(shape)}")
    arr = np.frombuffer(content, dtype=dtype, count=count, offset=header).reshape(shape)
    if dtype.itemsize > 1 and not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def decompress(data: bytes, source: str | os.PathLike = "<bytes>") -> bytes:
    """Gunzip ``data``; a damaged or truncated gzip stream raises BackproplabError."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(source, f"damaged gzip data ({exc})") from None


@dataclass
class IdxFile:
    """An IDX file as read from disk: the array plus what is needed to verify it.

    ``file_md5`` hashes the bytes on disk (compressed or not), ``content_sha256``
    the decompressed IDX bytes; both are computed on first use.
    """

    path: Path
    array: np.ndarray
    compressed: bool
    file_bytes: bytes = field(repr=False)
    content: bytes = field(repr=False)
    _md5: str | None = field(default=None, repr=False)
    _sha: str | None = field(default=None, repr=False)

    @property
    def file_md5(self) -> str:
        if self._md5 is None:
            self._md5 = hashlib.md5(self.file_bytes, usedforsecurity=False).hexdigest()
        return self._md5

    @property
    def content_sha256(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha256(self.content).hexdigest()
        return self._sha


def read_idx_file(path: str | os.PathLike) -> IdxFile:
    """Read an IDX file (gzip or raw) into an :class:`IdxFile`.

    A file whose name ends in ``.gz`` must be gzip; a file with another name is
    decompressed too when it starts with the gzip signature.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BackproplabError(f"IDX file {path} does not exist; check the path") from None
    except OSError as exc:
        raise BackproplabError(f"cannot read IDX file {path} ({exc.strerror}); "
                               "check its permissions") from None
    is_gzip = data[:2] == GZIP_MAGIC
    if path.suffix == ".gz" and not is_gzip:
        raise _fail(path, "named .gz but it is not gzip data",
                    "decompress it by hand or rename it without .gz if it is a raw IDX file")
    content = decompress(data, path) if is_gzip else data
    array = parse_idx(content, path)
    return IdxFile(path=path, array=array, compressed=is_gzip, file_bytes=data, content=content)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or raw) and return its array (read-only for 1-byte types)."""
    return read_idx_file(path).array


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array`` (any shape, a supported dtype)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in DTYPE_TO_CODE:
        raise BackproplabError(
            f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if array.ndim > 255:
        raise BackproplabError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    if any(s >= 2**32 for s in array.shape):
        raise BackproplabError(f"IDX sizes must fit in 32 bits, got shape {array.shape}")
    code = DTYPE_TO_CODE[native]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    body = np.ascontiguousarray(array, dtype=CODE_TO_DTYPE[code]).tobytes()
    return header + body


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically; gzip when ``compress`` (default: name ends in .gz).

    Gzip output is deterministic (no timestamp in the header).
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode_idx(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)


__all__ = ["IdxFile", "decompress", "encode_idx", "parse_idx", "read_idx", "read_idx_file",
           "write_idx"]
