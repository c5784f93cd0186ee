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

Memory stays bounded by what the header declares: gzip data is decompressed in
chunks after the header has been read, and never beyond the declared size (a
gzip bomb stops one chunk past it); a caller that knows the largest legitimate
file (the catalog's datasets) passes ``max_bytes`` and a larger declared size is
refused before any data is decompressed.

The array is a view on the decompressed bytes (``np.frombuffer``), so reading
makes no copy beyond decompression; it is therefore read-only. Multi-byte types
are converted to the native byte order (which needs a copy anyway).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes, read_bounded

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
#: Bytes decompressed at a time.
CHUNK = 1 << 20
#: The longest IDX header (255 dimensions).
IDX_MAX_HEADER = 4 + 4 * 255


def _fail(path, problem: str, fix: str = "replace it with a good copy") -> BackproplabError:
    return BackproplabError(f"IDX file {path}: {problem}; {fix}")


def _not_gzip(path, head: bytes) -> BackproplabError:
    """A file named ``.gz`` whose first bytes ``head`` are not gzip's: raw IDX data
    wants a new name; anything else (nothing at all, an HTML page) a good copy."""
    if not head:
        return _fail(path, "empty (0 bytes)")
    if head[:2] == b"\0\0":
        return _fail(path, "named .gz but it is not gzip data",
                     "rename it without .gz (it starts like a raw IDX file)")
    return _fail(path, f"named .gz but it is neither gzip nor IDX data (it starts with "
                       f"{bytes(head[:16])!r})")


def _header(content, source) -> tuple[int, np.dtype, tuple[int, ...], int]:
    """``(header length, dtype, shape, data bytes)`` from the first bytes of an IDX file.

    ``content`` must hold at least the 4-byte magic number; when it is too short
    for the sizes, the shape is empty and the data bytes are -1.
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
        return header, CODE_TO_DTYPE[code], (), -1
    shape = struct.unpack_from(f">{ndim}I", content, 4)
    return header, CODE_TO_DTYPE[code], shape, math.prod(shape) * CODE_TO_DTYPE[code].itemsize


def _check_declared(source, shape, expected: int, max_bytes: int | None, why: str) -> None:
    if max_bytes is not None and expected > max_bytes:
        raise _fail(source, f"header declares shape {tuple(shape)} ({expected} data bytes), more "
                            f"than the {max_bytes} bytes this file may hold ({why})")


def parse_idx(content: bytes | bytearray | memoryview, source: str | os.PathLike = "<bytes>",
              max_bytes: int | None = None, why: str = "a limit set by the caller") -> np.ndarray:
    """Parse uncompressed IDX bytes into an array.

    Parameters
    ----------
    content : bytes, bytearray or memoryview
        The IDX bytes.
    source : str or os.PathLike, default "<bytes>"
        Names the file in error messages.
    max_bytes : int or None, default None
        The most data bytes the header may declare.
    why : str, default "a limit set by the caller"
        Where ``max_bytes`` comes from, for the message.

    Returns
    -------
    numpy.ndarray
        In the header's shape and dtype (native byte order); a view on
        ``content`` for 1-byte types.

    Raises
    ------
    BackproplabError
        For a bad header, truncated or oversized data, or a header over
        ``max_bytes``.
    """
    n_bytes = len(content)
    header, dtype, shape, expected = _header(content, source)
    if expected < 0:
        raise _fail(source, f"header announces {header // 4 - 1} dimensions but the file ends "
                            f"after {n_bytes} bytes (truncated)")
    _check_declared(source, shape, expected, max_bytes, why)
    actual = n_bytes - header
    if actual < expected:
        raise _fail(source, f"truncated: header says shape {tuple(shape)} ({expected} data bytes) "
                            f"but only {actual} data bytes are present")
    if actual > expected:
        raise _fail(source, f"oversized: {actual - expected} bytes after the {expected} data bytes "
                            f"the header announces for shape {tuple(shape)}")
    arr = np.frombuffer(content, dtype=dtype, count=expected // dtype.itemsize,
                        offset=header).reshape(shape)
    if dtype.itemsize > 1 and not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _read_exactly(stream, buf: bytearray, n: int) -> None:
    """Append up to ``n`` bytes of ``stream`` to ``buf``, in chunks (fewer at its end)."""
    goal = len(buf) + n
    while len(buf) < goal:
        chunk = stream.read(min(CHUNK, goal - len(buf)))
        if not chunk:
            return
        buf += chunk


def inflate_idx(data: bytes | memoryview, source: str | os.PathLike = "<bytes>",
                max_bytes: int | None = None, why: str = "a limit set by the caller",
                ) -> memoryview:
    """The uncompressed IDX bytes in the gzip stream ``data``, read-only, decompressed in chunks.

    The header is read first; a header declaring more than ``max_bytes`` data
    bytes is refused before anything else is decompressed, and decompression
    stops one chunk after the declared size, so a gzip bomb never expands in
    memory beyond what its header announces.

    Parameters
    ----------
    data : bytes or memoryview
        The gzip stream.
    source : str or os.PathLike, default "<bytes>"
        Names the file in error messages.
    max_bytes : int or None, default None
        The most data bytes the header may declare.
    why : str, default "a limit set by the caller"
        Where ``max_bytes`` comes from, for the message.

    Returns
    -------
    memoryview

    Raises
    ------
    BackproplabError
        For a damaged stream, one holding more or fewer bytes than declared, or
        a header over ``max_bytes``.
    """
    buf = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            _read_exactly(stream, buf, 4)
            header, _, _, _ = _header(buf, source)
            _read_exactly(stream, buf, header - len(buf))
            _, _, shape, expected = _header(buf, source)
            if expected < 0:
                return memoryview(bytes(buf))  # too short: parse_idx names the problem
            _check_declared(source, shape, expected, max_bytes, why)
            _read_exactly(stream, buf, expected)
            if len(buf) == header + expected:
                extra = len(stream.read(CHUNK))
                if extra:
                    more = "at least " if extra == CHUNK else ""
                    raise _fail(source, f"oversized: {more}{extra} bytes after the {expected} "
                                        f"data bytes the header announces for shape {shape}")
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(source, f"damaged gzip data ({exc})") from None
    return memoryview(buf).toreadonly()


def gzip_bound(n: int) -> int:
    """The most bytes a gzip file of ``n`` bytes of content takes, with room to spare.

    Counts deflate's stored blocks, the header with a file name and the trailer.

    Parameters
    ----------
    n : int
        The content's length in bytes.

    Returns
    -------
    int
    """
    return n + n // 1000 + 5 * (n // 16384 + 1) + 1024


@dataclass
class IdxFile:
    """An IDX file as read from disk: the array plus what is needed to verify it.

    ``file_md5`` hashes the bytes on disk (compressed or not), ``content_sha256``
    the decompressed IDX bytes; both are computed on first use.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    array : numpy.ndarray
        Its array.
    compressed : bool
        Whether the file is gzip.
    file_bytes : bytes
        The bytes on disk.
    content : bytes or memoryview
        The decompressed IDX bytes.
    """

    path: Path
    array: np.ndarray
    compressed: bool
    file_bytes: bytes = field(repr=False)
    content: bytes | memoryview = field(repr=False)
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


def _open(path: Path):
    """``open(path, "rb")``, its failures as one sentence naming the file."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BackproplabError(f"IDX file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise BackproplabError(f"IDX file {path} is a folder; pass the file") from None
    except OSError as exc:
        raise BackproplabError(f"cannot read IDX file {path} ({exc.strerror}); "
                               "check its permissions") from None


def _read_bounded(path: Path, max_bytes: int | None, why: str) -> bytes:
    """The bytes of ``path`` through :func:`backproplab.fileio.read_bounded`: a FIFO,
    device or folder is refused unread, and a file larger than an IDX file under
    ``max_bytes`` data bytes could be (raw or gzip) is refused."""
    limit = None if max_bytes is None else gzip_bound(max_bytes + IDX_MAX_HEADER)
    try:
        return read_bounded(path, limit)
    except FileNotFoundError:
        raise BackproplabError(f"IDX file {path} does not exist; check the path") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise _fail(path, f"over {limit} bytes on disk, more than an IDX file of at most "
                              f"{max_bytes} data bytes can be ({why})") from None
        if exc.errno == errno.EINVAL:
            raise BackproplabError(f"IDX file {path} cannot be read ({exc.strerror}); "
                                   "pass the file itself") from None
        raise BackproplabError(f"cannot read IDX file {path} ({exc.strerror}); "
                               "check its permissions") from None


def read_idx_file(path: str | os.PathLike, max_bytes: int | None = None,
                  why: str = "a limit set by the caller") -> IdxFile:
    """Read an IDX file (gzip or raw) into an :class:`IdxFile`.

    A file whose name ends in ``.gz`` must be gzip; a file with another name is
    decompressed too when it starts with the gzip signature. Whatever the
    bound, gzip data is decompressed in chunks and never beyond the size its
    header declares.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_bytes : int or None, default None
        The most data bytes the header may declare: a larger file is refused
        before its data is read or decompressed.
    why : str, default "a limit set by the caller"
        Where ``max_bytes`` comes from, for the message.

    Returns
    -------
    IdxFile

    Raises
    ------
    BackproplabError
        For a file that is missing, damaged, truncated, oversized, over the bound, or
        named ``.gz`` without being gzip.
    """
    path = Path(path)
    data = _read_bounded(path, max_bytes, why)
    is_gzip = data[:2] == GZIP_MAGIC
    if path.suffix == ".gz" and not is_gzip:
        raise _not_gzip(path, data[:16])
    content = inflate_idx(data, path, max_bytes, why) if is_gzip else data
    array = parse_idx(content, path, max_bytes, why)
    return IdxFile(path=path, array=array, compressed=is_gzip, file_bytes=data, content=content)


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip or raw) and return its array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_bytes : int or None, default None
        Bounds its data bytes, as in :func:`read_idx_file`.

    Returns
    -------
    numpy.ndarray
        Read-only for 1-byte types.
    """
    return read_idx_file(path, max_bytes).array


def _open_idx(path: Path):
    """``(raw file, stream, compressed)`` of the IDX file at ``path``, gzip or raw."""
    fh = _open(path)
    head = fh.read(16)
    is_gzip = head[:2] == GZIP_MAGIC
    fh.seek(0)
    if path.suffix == ".gz" and not is_gzip:
        fh.close()
        raise _not_gzip(path, head)
    return fh, (gzip.GzipFile(fileobj=fh) if is_gzip else fh), is_gzip


def iter_idx(path: str | os.PathLike, rows: int, max_bytes: int | None = None,
             ) -> tuple[tuple[int, ...], Iterator[np.ndarray]]:
    """The declared shape of an IDX file (gzip or raw) and its array in pieces.

    Only the header is read here; each piece (at most ``rows`` entries along the
    first axis) is read and decompressed when the iterator reaches it, so memory
    stays at one piece whatever the file declares. A raw file's size is checked
    against its header at once; a gzip file that holds fewer or more bytes than
    declared raises when the iterator reaches the difference.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    rows : int
        Entries of the first axis per piece (a 0-dimensional file is one piece).
    max_bytes : int, optional
        The most data bytes the header may declare.

    Returns
    -------
    (tuple of int, iterator of numpy.ndarray)
        The shape, and the pieces (native byte order) in file order.

    Raises
    ------
    BackproplabError
        When the file is missing, its header is damaged or declares too much, or
        (raw files, at once) its size differs from the declared one.
    """
    path = Path(path)
    fh, stream, is_gzip = _open_idx(path)
    try:
        buf = bytearray()
        _read_exactly(stream, buf, 4)
        header, dtype, _, _ = _header(buf, path)
        _read_exactly(stream, buf, header - len(buf))
        _, dtype, shape, expected = _header(buf, path)
        if expected < 0:
            raise _fail(path, f"header announces {header // 4 - 1} dimensions but the file "
                              f"ends after {len(buf)} bytes (truncated)")
        _check_declared(path, shape, expected, max_bytes, "a limit set by the caller")
        if not is_gzip:
            size = os.fstat(fh.fileno()).st_size
            if size != header + expected:
                what = "truncated" if size < header + expected else "oversized"
                raise _fail(path, f"{what}: header says shape {tuple(shape)} ({expected} data "
                                  f"bytes) but {size - header} data bytes are present")
    except (OSError, EOFError, zlib.error) as exc:
        fh.close()
        raise _fail(path, f"damaged gzip data ({exc})") from None
    except BaseException:
        fh.close()
        raise
    return tuple(shape), _pieces(path, fh, stream, tuple(shape), dtype, rows)


def _pieces(path: Path, fh, stream, shape: tuple[int, ...], dtype: np.dtype,
            rows: int) -> Iterator[np.ndarray]:
    """The array of an IDX file whose header ``stream`` has passed, ``rows`` entries at a time."""
    n, inner = (shape[0], shape[1:]) if shape else (1, ())
    per = math.prod(inner) * dtype.itemsize
    with fh, stream:
        try:
            for start in range(0, n, max(1, rows)):
                k = min(rows, n - start)
                buf = bytearray()
                _read_exactly(stream, buf, k * per)
                if len(buf) < k * per:
                    raise _fail(path, f"truncated: header says shape {shape} but the data ends "
                                      f"in entry {start + len(buf) // max(per, 1)}")
                piece = np.frombuffer(buf, dtype=dtype).reshape((k, *inner) if shape else ())
                yield piece.astype(dtype.newbyteorder("=")) if not dtype.isnative else piece
            if stream.read(1):
                raise _fail(path, f"oversized: bytes after the data the header announces for "
                                  f"shape {shape}")
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(path, f"damaged gzip data ({exc})") from None


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array``.

    Parameters
    ----------
    array : array_like
        Any shape, of dtype uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    bytes
        The header (big-endian sizes) and the data.

    Raises
    ------
    BackproplabError
        For another dtype, more than 255 dimensions or a size of 2**32 or more.

    Examples
    --------
    >>> data = encode_idx(np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> len(data), parse_idx(data).tolist()
    (18, [[0, 1, 2], [3, 4, 5]])
    """
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
    """Write ``array`` as an IDX file, atomically.

    Gzip output is deterministic (no timestamp in the header).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    array : numpy.ndarray
        As in :func:`encode_idx`.
    compress : bool or None, default None
        Gzip it; ``None``: when the name ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode_idx(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)


__all__ = ["IdxFile", "encode_idx", "gzip_bound", "inflate_idx", "iter_idx", "parse_idx",
           "read_idx", "read_idx_file", "write_idx"]
