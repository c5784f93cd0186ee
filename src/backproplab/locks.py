"""The writer's lock on a folder: one process writes a run, sweep or reproduce folder.

A run folder, a sweep folder and a reproduce folder each have one writer at a
time: :func:`lock_folder` takes an OS lock on the folder's ``.lock`` file
(:data:`backproplab.runs.LOCK`) before anything is written and keeps it for the
whole command; the kernel drops it when the process ends, however it ends.
Readers never take it and ignore the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import final

from backproplab.errors import BackproplabError
from backproplab.fileio import check_held, hold_folder, read_bounded, release_folder
from backproplab.runs import LOCK, check_out_folder, is_temporary

#: How many times a lock file that vanished between its creation and its lock
#: (the last holder removed the folder it had made) is tried again.
RETRIES = 20

#: The locks this process holds: folder (device, inode) -> its lock.
_HELD: dict[tuple[int, int], FolderLock] = {}


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
    check : callable, optional
        ``check(path)`` raises :class:`BackproplabError` when the folder is not one
        this command may write (another kind of folder, someone else's files). It
        runs before anything is created and again under the lock, before the
        temporary files are removed.
    """

    def __init__(self, path: str | os.PathLike, what: str = "run",
                 check: Callable[[Path], None] | None = None):
        self.path = check_out_folder(path)
        self.what = what
        self.check = check
        self.fd: int | None = None
        self.created = False
        self.made_lock = False
        self.lent = False  # while True, a lock_folder on the same folder is nested in this one
        self.outer: FolderLock | None = None  # the lock this one is nested in

    def acquire(self) -> FolderLock:
        """Take the lock, write this process's pid into the lock file and remove
        the temporary files an interrupted writer left behind.

        A folder whose lock this process holds is refused like any other, except
        inside :meth:`lend`: then the lock returned is nested, and releases nothing.

        Raises
        ------
        BackproplabError
            When another process holds the lock (naming its pid), the path is a
            file, the lock file is a link or cannot be created, or ``check`` refuses
            the folder.
        """
        if self.path.exists() and not self.path.is_dir():
            raise BackproplabError(f"{self.path} exists and is not a folder; choose another "
                                   "out_dir", settings=("out_dir",))
        if self.check is not None:
            try:
                self.check(self.path)  # before anything is created
            except BackproplabError:
                self._refuse_if_held()  # a writer at work: say so, not what its files hold
                raise
        outer = _HELD.get(_identity(self.path))
        if outer is not None and outer.lent and check_held(outer.path):
            self.outer = outer
            return self
        self.created = not self.path.exists()
        for _ in range(RETRIES):
            self.fd = self._try_lock()
            if self.fd is not None:
                break
        else:
            raise BackproplabError(
                f"the lock file {self.path / LOCK} keeps vanishing (another process removes "
                f"it); stop that process or choose another out_dir", settings=("out_dir",))
        try:
            os.ftruncate(self.fd, 0)  # the pid first: a second writer's refusal names it
            os.write(self.fd, f"{os.getpid()}\n".encode())
            if self.check is not None:
                self.check(self.path)  # the folder may have changed before we locked it
            hold_folder(self.path, self.what)
            _HELD[_identity(self.path)] = self
            _remove_temporary(self.path)
        except BaseException:
            self.release()
            raise
        return self

    def _try_lock(self) -> int | None:
        """One try: the locked descriptor of the folder's lock file, or ``None``
        when the file vanished before it was locked (try again)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a parent that is a file, no permission, read-only disk
            raise BackproplabError(
                f"cannot create the {self.what} folder {self.path} ({exc.strerror or exc}); "
                "choose another out_dir", settings=("out_dir",)) from None
        lock = self.path / LOCK
        existed = os.path.lexists(lock)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the last holder removed the folder it had made
            return None
        except OSError as exc:  # a read-only disk, no permission: the command says which
            if exc.errno != errno.ELOOP:
                raise
            raise BackproplabError(f"the lock file {lock} is a symbolic link, which is never "
                                   "followed; remove it", settings=("out_dir",)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise self._in_use(lock) from None
        try:
            st, mine = os.lstat(lock), os.fstat(fd)
            same = (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
        except FileNotFoundError:  # the last holder removed it before we locked
            same = False
        if not same:
            os.close(fd)
            return None
        self.made_lock = not existed
        return fd

    def _in_use(self, lock: Path) -> BackproplabError:
        """The refusal of a folder whose lock another process holds, naming it."""
        return BackproplabError(
            f"the {self.what} folder {self.path} is in use by another backproplab "
            f"process (pid {_holder(lock)}); wait for it to finish or stop it, or "
            "choose another out_dir", settings=("out_dir",))

    def _refuse_if_held(self) -> None:
        """Raise :meth:`_in_use` when another process holds the folder's lock now
        (probed with a shared lock, dropped at once; creates nothing)."""
        if _identity(self.path) in _HELD:  # this process holds it: the check's reason stands
            return
        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # no lock file (or a link): nobody holds it
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise self._in_use(lock) from None
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lend(self) -> Iterator[FolderLock]:
        """Within ``with lock.lend():``, code of this process that locks the same
        folder (e.g. :func:`backproplab.training.run_training` called by a sweep's
        worker, which took the trial's lock first) gets a nested lock instead of a
        refusal.

        Examples
        --------
        >>> with lock_folder("runs/trial", "trial") as lock, lock.lend():  # doctest: +SKIP
        ...     run_training(config, "runs/trial")                          # doctest: +SKIP
        """
        self.lent = True
        try:
            yield self
        finally:
            self.lent = False

    def release(self) -> None:
        """Drop the lock (the lock file stays, unless this lock created it and the
        folder holds nothing else: then it goes, and the folder too when this
        lock created it)."""
        if self.outer is not None:
            self.outer = None
            return
        if self.fd is None:
            return
        try:
            if _HELD.get(_identity(self.path)) is self:
                del _HELD[_identity(self.path)]
            release_folder(self.path)
            if (self.made_lock and os.fstat(self.fd).st_ino == os.lstat(self.path / LOCK).st_ino
                    and [p.name for p in self.path.iterdir()] == [LOCK]):
                (self.path / LOCK).unlink()
                if self.created:
                    self.path.rmdir()
        except OSError:
            pass
        finally:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self if self.fd is not None or self.outer is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _identity(path: Path) -> tuple[int, int]:
    """The folder's (device, inode); ``(-1, -1)`` when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_dev, st.st_ino)


def _holder(lock: Path, tries: int = 20) -> str:
    """The pid written into a lock file; the holder writes it right after locking, so
    an empty file is read again (``tries`` times, 10 ms apart) before ``"unknown"``."""
    for attempt in range(tries):
        try:
            pid = read_bounded(lock, 64).decode("ascii").strip()
        except (OSError, ValueError):
            return "unknown"
        if pid:
            return pid
        if attempt + 1 < tries:
            time.sleep(0.01)
    return "unknown"


def lock_folder(path: str | os.PathLike, what: str = "run",
                check: Callable[[Path], None] | None = None) -> FolderLock:
    """Take the writer's lock on ``path``; use it as a context manager.

    ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``path/.lock``: a second writer is refused
    at once, and the kernel releases the lock when the holder exits or is killed
    (no stale lock to clean up). Taking it also removes the temporary files of
    atomic writes that an interrupted writer left in ``path`` (after ``check``
    accepted the folder, see :class:`FolderLock`). The lock file is never
    followed when it is a link. While the lock is held, atomic writes into
    ``path`` refuse to recreate it when it is moved or deleted
    (:func:`backproplab.fileio.hold_folder`). A process that holds the lock
    already gets a nested lock that releases nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (created if missing).
    what : str, default "run"
        What the folder holds (``"run"``, ``"sweep"``, ``"reproduction"``), for the
        error message.
    check : callable, optional
        ``check(path)`` refuses a folder this command may not write (see
        :class:`FolderLock`); it runs before anything is created.

    Returns
    -------
    FolderLock
        Held; leaving the ``with`` block (or ``release()``) gives it back.

    Raises
    ------
    BackproplabError
        When ``path`` is not a folder, another process holds the lock, the lock
        file is a link, or ``check`` refuses the folder.

    Examples
    --------
    >>> with lock_folder("runs/example", "run"):     # doctest: +SKIP
    ...     ...                                     # write the run folder
    """
    return FolderLock(path, what, check).acquire()


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
