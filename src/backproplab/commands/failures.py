"""One sentence for the operating system's errors a user can cause.

A full disk, a read-only or forbidden output folder, a path that is a file: the
command line (:func:`backproplab.cli.main`) prints :func:`os_error_message` and
exits with status 2 instead of a traceback. What was written before the error
stays valid (every file is replaced atomically), so a run continues with
``--resume`` once the cause is fixed.
"""

from __future__ import annotations

import errno
import os

#: errno -> (what happened, the fix); ``{path}`` is the file or folder concerned.
FIXES = {
    errno.ENOSPC: ("no space is left on the disk of {path}",
                   ("free space on it (or choose another --out) and run again; "
                    "a run continues with --resume")),
    errno.EDQUOT: ("the disk quota is exhausted for {path}",
                   ("free space on it (or choose another --out) and run again; "
                    "a run continues with --resume")),
    errno.EFBIG: ("{path} would exceed the largest file size allowed (ulimit -f)",
                  "raise the limit or choose another --out; a run continues with --resume"),
    errno.EROFS: ("{path} is on a read-only file system", "choose a writable --out"),
    errno.EACCES: ("permission denied for {path}",
                   "choose a writable --out or fix the folder's permissions"),
    errno.EPERM: ("the operation is not permitted on {path}",
                  "choose a writable --out or fix the folder's permissions"),
    errno.ENOTDIR: ("a part of {path} is a file, not a folder",
                    "choose another path (or move the file away)"),
    errno.EISDIR: ("{path} is a folder where a file was expected",
                   "give the path of a file, or move the folder away"),
    errno.ENOENT: ("{path} does not exist", "check the path"),
    errno.EEXIST: ("{path} already exists", "choose another path or move it away"),
    errno.ENAMETOOLONG: ("the path {path} is too long", "choose a shorter path"),
    errno.EMFILE: ("too many files are open while working on {path}",
                   "raise the limit (ulimit -n) or use fewer workers"),
    errno.EIO: ("the disk of {path} reported an input/output error",
                "check the disk and choose another --out"),
}


#: how the fixes above end where the run folder has no checkpoint yet
NOT_RESUMABLE = ("the run stopped before its first checkpoint, so start it again with "
                 "--overwrite")


def os_error_message(exc: OSError, resumable: bool = True) -> str:
    """The one sentence for ``exc``: what happened to which path, and the fix.

    ``resumable`` False says the run stopped before it wrote a checkpoint, so
    the fix names ``--overwrite`` where it would name ``--resume`` (which would
    then refuse).

    Parameters
    ----------
    exc : OSError
        The error; its ``errno`` picks the sentence (:data:`FIXES`), its
        ``filename`` (and ``filename2``) the path.
    resumable : bool, default True
        Whether the run can be resumed (it wrote a checkpoint).

    Returns
    -------
    str
        The problem and the fix, for ``backproplab: error:``.

    Examples
    --------
    >>> import errno
    >>> os_error_message(OSError(errno.ENOSPC, "No space left on device", "runs/a/x.npz"))
    'no space is left on the disk of runs/a/x.npz; free space on it (or choose another --out) and run again; a run continues with --resume'
    """
    path = exc.filename if exc.filename is not None else "the output folder"
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    problem, fix = FIXES.get(exc.errno, (None, None))
    if problem is None:
        reason = exc.strerror or type(exc).__name__
        return f"{path}: {reason.lower()}; check the path, its permissions and its disk"
    if not resumable:
        fix = fix.replace("a run continues with --resume", NOT_RESUMABLE)
    return f"{problem.format(path=path)}; {fix}"


def decode_error_message(exc: UnicodeDecodeError) -> str:
    """The one sentence for a file that is not UTF-8 text.

    No path is known here: readers that know it raise
    :class:`~backproplab.errors.BackproplabError` themselves.

    Parameters
    ----------
    exc : UnicodeDecodeError
        The error (its ``start`` and ``reason`` are named).

    Returns
    -------
    str
        The problem and the fix, for ``backproplab: error:``.
    """
    return (f"a file that should hold UTF-8 text does not (byte {exc.start}: {exc.reason}); "
            "restore the damaged file or start again with --overwrite")


__all__ = ["FIXES", "NOT_RESUMABLE", "decode_error_message", "os_error_message"]
