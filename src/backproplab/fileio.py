"""Atomic file writes: every file goes to a temporary name in the same folder, then
``os.replace`` moves it into place, so a reader never sees a half-written file and a
crash never destroys the previous version."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from backproplab.errors import BackproplabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # a failed write() names no file: name the one being written (disk full ...)
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


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``, where every way the text can fail raises ``ValueError``.

    ``json.loads`` raises ``RecursionError`` on deeply nested arrays or objects
    (``[[[[...`` a few thousand deep): that becomes a ``ValueError`` saying so, as
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
        return json.loads(text)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply to read") from None


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in ``path``, or ``None`` when it is missing, unreadable or not JSON.

    For files a crash or a user may have damaged; callers decide what ``None`` means.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    object or None
    """
    try:
        return parse_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
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
           "is_finite_number", "parse_json", "read_json", "read_jsonl"]
