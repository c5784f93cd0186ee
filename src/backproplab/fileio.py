"""Atomic file writes: every file goes to a temporary name in the same folder, then
``os.replace`` moves it into place, so a reader never sees a half-written file and a
crash never destroys the previous version."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from backproplab.errors import BackproplabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()
#: the most bytes of a file's name kept in its temporary name (255 bytes in all at most)
_TMP_NAME_BYTES = 200

#: The folders this process writes under their lock (:mod:`backproplab.locks`):
#: absolute path -> (device, inode, what the folder holds).
_HELD: dict[str, tuple[int, int, str]] = {}


def hold_folder(path: str | os.PathLike, what: str) -> None:
    """Tie the atomic writes into ``path`` to the folder there now (its lock holder calls this).

    From then on a write into ``path`` never creates it again: when the folder was
    moved or deleted (or another one took its place), the write raises instead.

    Parameters
    ----------
    path : str or os.PathLike
        The folder, as the writer names it.
    what : str
        What the folder holds, for the message (``"run"``, ``"sweep"``...).
    """
    st = os.stat(path)
    _HELD[os.path.abspath(path)] = (st.st_dev, st.st_ino, what)


def release_folder(path: str | os.PathLike) -> None:
    """Undo :func:`hold_folder` (the lock was released)."""
    _HELD.pop(os.path.abspath(path), None)


def check_held(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is held by this process (:func:`hold_folder`).

    Raises
    ------
    BackproplabError
        When it is held but the folder at that path is gone or another one.
    """
    held = _HELD.get(os.path.abspath(folder))
    if held is None:
        return False
    try:
        st = os.stat(folder)
        same = (st.st_dev, st.st_ino) == held[:2]
    except OSError:
        same = False
    if not same:
        raise BackproplabError(
            f"the {held[2]} folder {folder} was moved or deleted while this process was "
            "writing it, so nothing more is written there; put it back and resume, or start "
            "again")
    return True


def _atomic(path: str | os.PathLike, mode: str, write: Callable[[IO], None]) -> Path:
    path = Path(path)
    if not check_held(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    # ".NAME.XXXXXXXX.tmp" adds 14 bytes: a name near the 255-byte limit is shortened in it
    name = os.fsdecode(os.fsencode(path.name)[:_TMP_NAME_BYTES])
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _MODE)  # mkstemp makes 0600; files follow the umask like open() does
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        check_held(path.parent)  # not into a folder that took the place of the held one
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and \
                (exc.filename is None or os.fsdecode(exc.filename) == tmp):
            # a failed write() names no file, a failed replace() the temporary one:
            # name the file being written (disk full, a folder in its place ...)
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating its folder).

    Parameters
    ----------
    path : str or os.PathLike
    data : bytes

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return _atomic(path, "wb", lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (creating its folder).

    Parameters
    ----------
    path : str or os.PathLike
    text : str

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return _atomic(path, "w", lambda fh: fh.write(text))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON indented by 2, with a final newline, to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
    obj : object
        JSON-serializable.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> print(atomic_write_json("out/run.json", {"lr": 0.1}).read_text(), end="")
    {
      "lr": 0.1
    }
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_with(path: str | os.PathLike, write: Callable[[IO], None]) -> Path:
    """Atomically write ``path`` by calling ``write(binary_file_handle)``.

    Use it for writers that want a file object, such as ``numpy.savez``.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Called once with the temporary file opened for binary writing.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return _atomic(path, "wb", write)


def remove_entry(path: str | os.PathLike) -> None:
    """Delete ``path`` whatever it is: a folder with its tree, a file or a link.

    A link is removed itself, never followed (a link to a folder leaves that
    folder alone); a missing ``path`` is fine.

    Parameters
    ----------
    path : str or os.PathLike
        The entry to delete.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "sub").mkdir(); (root / "sub" / "f.txt").write_text("x")
    1
    >>> remove_entry(root / "sub"); remove_entry(root / "missing")
    >>> list(root.iterdir())
    []
    """
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` (e.g. read from JSON) is an ``int`` or ``float``, not a ``bool``, and finite.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_finite_number(0.5), is_finite_number(True), is_finite_number(float("nan"))
    (True, False, False)
    """
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


#: The most bytes a JSON file may hold (config.json, summary.json, sweep.json, a
#: weights file): thousands of times what any of them needs, and small enough that
#: parsing it costs a few hundred MB at worst.
JSON_MAX_BYTES = 16 << 20
#: The deepest nesting of arrays and objects a JSON document may have (the
#: project's files nest four deep at most).
JSON_MAX_DEPTH = 64

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def read_bounded(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, refused before they are read when the
    file is not a regular file or holds more than ``max_bytes``.

    The file is opened without blocking, so a FIFO with no writer is refused
    instead of waiting forever, and a device such as ``/dev/zero`` is refused
    instead of read until memory runs out.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_bytes : int or None
        The most bytes to read; ``None`` reads what a regular file holds.

    Returns
    -------
    bytes

    Raises
    ------
    OSError
        When the file cannot be opened (missing, no permission), is not a regular
        file (``errno.EINVAL``: a FIFO, a device, a folder), or holds more than
        ``max_bytes`` (``errno.EFBIG``); ``strerror`` says which, in words.

    Examples
    --------
    >>> read_bounded("/dev/zero")
    Traceback (most recent call last):
    ...
    OSError: [Errno 22] it is a device, not a regular file: '/dev/zero'
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a file")
            raise OSError(errno.EINVAL, f"it is {kind}, not a regular file", str(path))
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        if max_bytes is None:
            data = fh.read()
        else:  # read(n) allocates n bytes first: ask for what the file holds
            size = os.fstat(fh.fileno()).st_size
            data = b"" if size > max_bytes else fh.read(size + 1)
            if len(data) > size:  # it grew since: read on, up to the bound
                data += fh.read(max_bytes + 1 - len(data))
    if max_bytes is not None and (size > max_bytes or len(data) > max_bytes):
        raise OSError(errno.EFBIG, f"it holds more than {max_bytes} bytes, the most such a "
                      "file may hold", str(path))
    return data


def _check_depth(value: Any, max_depth: int) -> None:
    """Raise ValueError when arrays or objects in ``value`` nest deeper than ``max_depth``
    (walked with a list, not recursion)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            raise ValueError(f"arrays or objects nested more than {max_depth} deep")
        todo.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def parse_json(text: str | bytes, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """``json.loads(text)``, where every way the text can fail raises ``ValueError``.

    Arrays or objects nested deeper than ``max_depth`` are refused, so that no
    reader recurses through them later; ``json.loads`` raises ``RecursionError``
    on nesting a few thousand deep, and that becomes a ``ValueError`` too, as
    invalid JSON and undecodable bytes already are (``JSONDecodeError`` and
    ``UnicodeDecodeError`` are ``ValueError`` subclasses).

    Parameters
    ----------
    text : str or bytes

    Returns
    -------
    object

    Raises
    ------
    ValueError
        For text that is not JSON.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply to read") from None
    if isinstance(value, (dict, list)):
        _check_depth(value, max_depth)
    return value


def load_json(path: str | os.PathLike, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """The JSON document in the file ``path``, read with a bound on its size and depth.

    The one reader of the project's JSON files (configs, summaries, sweep.json,
    weights files): :func:`read_bounded` (a regular file of at most ``max_bytes``),
    then UTF-8 and :func:`parse_json` (at most :data:`JSON_MAX_DEPTH` deep).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_bytes : int
        The largest file accepted (default :data:`JSON_MAX_BYTES`).

    Returns
    -------
    object
        What the file holds.

    Raises
    ------
    OSError
        When the file cannot be read, or is refused (see :func:`read_bounded`).
    ValueError
        When it is not UTF-8 JSON, or nests too deep.
    """
    return parse_json(read_bounded(path, max_bytes).decode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in ``path``, or ``None`` when it is missing, unreadable, refused by
    :func:`load_json` or not JSON.

    For files a crash or a user may have damaged; callers decide what ``None`` means.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    object or None
    """
    try:
        return load_json(path)
    except (OSError, ValueError):
        return None


#: deflate never expands more than about 1032:1
_DEFLATE_RATIO = 1032
_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], Any]:
    """``(shape, dtype)`` from the ``.npy`` header of one zip member (nothing else read)."""
    import numpy as np  # NumPy's own .npy header readers; fileio itself stays light

    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    with zf.open(info) as fh:
        if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise ValueError(f"member {info.filename} is not an array")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in readers:
            raise ValueError(f"member {info.filename} has .npy format version {version}, "
                             "which backproplab does not read")
        try:
            shape, _, dtype = readers[version](fh)
        except Exception as exc:  # noqa: BLE001 - NumPy's header parser fails in many ways
            raise ValueError(f"member {info.filename} has a damaged .npy header "
                             f"({type(exc).__name__}: {exc})") from None
    return tuple(shape), dtype


def npz_members(path: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], Any, int]]:
    """What each array of an ``.npz`` file declares, read from the zip directory and the
    ``.npy`` headers alone, before anything is decompressed.

    An ``.npz`` is a zip of ``.npy`` members, and NumPy allocates the whole
    declared array before it reads a byte of it: a damaged or hostile file can ask
    for gigabytes in a few bytes. Every member is checked here: its zip entry may
    not claim more than its stored bytes can hold (deflate expands at most about
    1032:1), and its array header may not declare more than the entry holds. A
    caller then bounds the total.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    dict
        ``{name: (shape, dtype, declared bytes)}``, names without ``.npy``.

    Raises
    ------
    OSError, ValueError, zipfile.BadZipFile
        When the file cannot be read, is not a zip of arrays, or a member claims
        or declares more than it stores.
    """
    members = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            most = info.compress_size
            if info.compress_type != zipfile.ZIP_STORED:
                most = info.compress_size * _DEFLATE_RATIO + 1024
            if info.file_size > most:
                raise ValueError(f"member {info.filename} claims {info.file_size} bytes but "
                                 f"stores only {info.compress_size}")
            shape, dtype = _npy_header(zf, info)
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size:
                raise ValueError(f"array {info.filename} declares shape {shape} of {dtype} "
                                 f"({declared} bytes) but only {info.file_size} bytes are "
                                 "stored")
            name = info.filename.removesuffix(".npy")
            members[name] = (shape, dtype, declared)
    return members


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON Lines file; a torn last line (from a crash) is ignored.

    Reading stops at the first line that is not JSON: what follows a torn line is
    not trusted. Blank lines are skipped.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list
        One object per line.

    Raises
    ------
    BackproplabError
        When a line before the last is not UTF-8 text (a damaged file), naming
        the file, the line and the fix.
    OSError
        When the file cannot be read.
    """
    rows = []
    lines = read_bounded(path).split(b"\n")
    for i, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            if i == len(lines):  # the last line, without its newline: torn
                break
            raise BackproplabError(
                f"{path} is damaged: line {i} is not UTF-8 text; restore the file, or delete "
                "the folder and run again") from None
        if not line:
            continue
        try:
            rows.append(parse_json(line))
        except ValueError:  # not JSON (a torn line): what follows is not trusted
            break
    return rows


__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "atomic_write_with",
           "is_finite_number", "parse_json", "read_json", "read_jsonl", "remove_entry"]
