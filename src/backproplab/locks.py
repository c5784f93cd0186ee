"""The writer's lock on a folder: one process writes a run, sweep or reproduce folder.

A run folder, a sweep folder and a reproduce folder each have one writer at a
time: :func:`lock_folder` takes an OS lock on the folder's ``.lock`` file
(:data:`backproplab.runs.LOCK`) before anything is written and keeps it for the
whole command; the kernel drops it when the process ends, however it ends.
Readers never take it and ignore the file.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import final

from backproplab.errors import BackproplabError
from backproplab.runs import LOCK, check_out_folder, is_temporary


@final
class FolderLock:
    """The writer's lock on a run, sweep or reproduce folder (see :func:`lock_folder`).

    Parameters
    ----------
    path : str or os.PathLike
        The folder; it is created when missing (and removed again on release when
        nothing but the lock was put into it).
    what : str
        What the folder holds, for the message (``"run"``, ``"sweep"``...).
    """

    def __init__(self, path: str | os.PathLike, what: str = "run"):
        self.path = check_out_folder(path)
        self.what = what
        self.fd: int | None = None
        self.created = False

    def acquire(self) -> FolderLock:
        """Take the lock, write this process's pid into the lock file and remove
        the temporary files an interrupted writer left behind.

        Raises
        ------
        BackproplabError
            When another process holds the lock (naming its pid), or the path is a file.
        """
        if self.path.exists() and not self.path.is_dir():
            raise BackproplabError(f"{self.path} exists and is not a folder; choose another "
                                   "out_dir", settings=("out_dir",))
        self.created = not self.path.exists()
        while self.fd is None:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a parent that is a file, no permission, read-only disk
                raise BackproplabError(
                    f"cannot create the {self.what} folder {self.path} ({exc.strerror or exc}); "
                    "choose another out_dir", settings=("out_dir",)) from None
            lock = self.path / LOCK
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the last holder removed the folder it had made
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise BackproplabError(
                    f"the {self.what} folder {self.path} is in use by another backproplab "
                    f"process (pid {_holder(lock)}); wait for it to finish or stop it, or "
                    "choose another out_dir", settings=("out_dir",)) from None
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:  # the last holder removed it before we locked
                same = False
            if not same:
                os.close(fd)
                continue
            self.fd = fd
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        _remove_temporary(self.path)
        return self

    def release(self) -> None:
        """Drop the lock (the lock file stays, unless the folder was created for
        this lock and holds nothing else: then both go)."""
        if self.fd is None:
            return
        try:
            if self.created and [p.name for p in self.path.iterdir()] == [LOCK]:
                (self.path / LOCK).unlink()
                self.path.rmdir()
        except OSError:
            pass
        finally:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(lock: Path) -> str:
    """The pid written into a lock file (``"unknown"`` while it is being written)."""
    try:
        return lock.read_text(encoding="ascii").strip() or "unknown"
    except (OSError, ValueError):
        return "unknown"


def lock_folder(path: str | os.PathLike, what: str = "run") -> FolderLock:
    """Take the writer's lock on ``path``; use it as a context manager.

    ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``path/.lock``: a second writer is refused
    at once, and the kernel releases the lock when the holder exits or is killed
    (no stale lock to clean up). Taking it also removes the temporary files of
    atomic writes that an interrupted writer left in ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (created if missing).
    what : str, default "run"
        What the folder holds (``"run"``, ``"sweep"``, ``"reproduction"``), for the
        error message.

    Returns
    -------
    FolderLock
        Held; leaving the ``with`` block (or ``release()``) gives it back.

    Raises
    ------
    BackproplabError
        When ``path`` is not a folder, or another process holds the lock.

    Examples
    --------
    >>> with lock_folder("runs/example", "run"):     # doctest: +SKIP
    ...     ...                                     # write the run folder
    """
    return FolderLock(path, what).acquire()


def _remove_temporary(folder: str | os.PathLike) -> list[str]:
    """Remove the temporary files of interrupted atomic writes directly in
    ``folder`` (only its writer may call this); returns their names."""
    removed = []
    for path in Path(folder).iterdir():
        if is_temporary(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return sorted(removed)


__all__ = ["FolderLock", "lock_folder"]
