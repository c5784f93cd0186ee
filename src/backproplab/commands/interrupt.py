"""Ctrl-C in the ``backproplab`` command: one line and exit status 130, at any moment.

Python's own ``SIGINT`` handler raises ``KeyboardInterrupt`` wherever the main
thread happens to be, and two places make the command's ``except
KeyboardInterrupt`` not enough:

* code that ``exec`` or ``eval`` runs from a string. ``dataclasses`` and
  ``collections.namedtuple`` build their methods that way, so it runs whenever
  a module with a dataclass is imported. When a ``KeyboardInterrupt`` leaves
  such code, CPython (3.11 at least) marks the interrupt *unhandled* for the
  whole process, and that mark survives the ``except`` that catches it: after
  printing its line and exiting with 130, the interpreter kills itself with
  ``SIGINT`` at the end of its shutdown (status -2 instead of 130);
* the import of a compiled extension: NumPy turns an interrupt during its
  import into an ``ImportError``;
* code that Python runs where an exception cannot propagate (a weakref
  callback, a ``__del__``, a garbage-collector callback: matplotlib runs many
  while the study draws its figures). There the ``KeyboardInterrupt`` is
  printed as "Exception ignored in ..." and dropped, and the command went on
  as if no Ctrl-C had come.

:func:`catch_interrupts` installs a handler that remembers every Ctrl-C and
raises ``KeyboardInterrupt`` only outside string-run code (inside it, the
interrupt is raised a moment later, from a ``SIGALRM`` timer, by when that code
has returned), and a ``sys.unraisablehook`` that sends a dropped interrupt
again the same way, without printing it; :func:`interrupted` then lets the command's error handler read
any exception that follows a Ctrl-C as that Ctrl-C, and
:func:`report_interrupt` prints the one line with ``SIGINT`` ignored, so that a
second Ctrl-C cannot end the process on its way out.

This module is the first thing ``python -m backproplab`` imports, and it
imports nothing that Python's start-up has not loaded already: until its handler
is in place a Ctrl-C gets Python's answer. Hence ``_signal``, the C module under
:mod:`signal` (whose enum classes take milliseconds to build), and a timer
instead of a thread.
"""

from __future__ import annotations

import _signal  # not `signal`: see above
import sys
from types import FrameType

#: The exit status of an interrupted command (as a shell reports ``SIGINT``).
INTERRUPTED = 130
#: Seconds after which a Ctrl-C that arrived in string-run code is sent again.
RETRY_SECONDS = 0.01
#: The file name Python gives code compiled from a string by ``exec``/``eval``.
STRING_CODE = "<string>"

_STATE = {"installed": False, "received": False, "reported": False, "waiting": False}
#: The ``sys.unraisablehook`` that was in place before :func:`catch_interrupts`.
_PREVIOUS_HOOK = {"hook": sys.unraisablehook}


def _inside_string_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a frame that called it is the module-level code of an
    ``exec``/``eval`` of a string (the outermost frame, ``python -c``, does not count)."""
    while frame is not None and frame.f_back is not None:
        if frame.f_code.co_filename == STRING_CODE and frame.f_code.co_name == "<module>":
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """The handler of ``SIGINT`` and, while an interrupt waits, of ``SIGALRM``."""
    _STATE["received"] = True
    if _inside_string_code(frame):
        _send_again()
        return
    _stop_waiting()
    raise KeyboardInterrupt


def _send_again() -> None:
    """Run :func:`_on_sigint` again in :data:`RETRY_SECONDS`, from a ``SIGALRM`` timer
    (main thread only: ``signal.signal`` raises ``ValueError`` elsewhere)."""
    _STATE["waiting"] = True
    _signal.signal(_signal.SIGALRM, _on_sigint)
    _signal.setitimer(_signal.ITIMER_REAL, RETRY_SECONDS)


def _on_unraisable(unraisable) -> None:
    """``sys.unraisablehook``: a Ctrl-C that Python had to drop (raised in a weakref
    callback, a ``__del__``, ...) is sent again, unprinted; anything else goes to the
    hook that was in place before."""
    if _STATE["received"] and not _STATE["reported"] \
            and isinstance(unraisable.exc_value, KeyboardInterrupt):
        try:
            _send_again()
            return
        except ValueError:  # dropped outside the main thread: say so, as Python would
            pass
    _PREVIOUS_HOOK["hook"](unraisable)


def _stop_waiting() -> None:
    """Disarm the timer of an interrupt that waited (its ``SIGALRM`` handler too)."""
    if _STATE["waiting"]:
        _STATE["waiting"] = False
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)


def catch_interrupts() -> None:
    """Make Ctrl-C this process's :class:`KeyboardInterrupt`, never raised inside
    string-run code, never dropped (in a weakref callback or ``__del__``), and
    remembered (:func:`interrupted`).

    For the ``backproplab`` command's process only (``__main__`` and
    :func:`backproplab.cli.entry` call it, as early as they can); does nothing
    outside the main thread or when ``SIGINT`` is ignored.

    Example
    -------
    >>> catch_interrupts()  # doctest: +SKIP
    """
    try:
        if _signal.getsignal(_signal.SIGINT) == _signal.SIG_IGN:
            return
        _signal.signal(_signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread
        return
    if sys.unraisablehook is not _on_unraisable:
        _PREVIOUS_HOOK["hook"] = sys.unraisablehook
        sys.unraisablehook = _on_unraisable
    _STATE["installed"] = True


def interrupted() -> bool:
    """Whether a Ctrl-C reached this process since :func:`catch_interrupts`.

    Returns
    -------
    bool
        True once ``SIGINT`` arrived: an exception raised after it (say the
        ``ImportError`` of an interrupted NumPy import) is that interrupt.
    """
    return _STATE["received"]


def report_interrupt() -> int:
    """Print ``backproplab: interrupted`` and return :data:`INTERRUPTED`.

    In the command's process (after :func:`catch_interrupts`) ``SIGINT`` is
    ignored from here on: the process is ending, and a second Ctrl-C must not
    end it by the signal instead of with status 130.

    Returns
    -------
    int
        130.
    """
    if _STATE["installed"]:
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        _stop_waiting()
    _STATE["reported"] = True
    print("backproplab: interrupted", file=sys.stderr)
    return INTERRUPTED


def exit_if_interrupted(exc: BaseException) -> None:
    """End the process with the one line and status 130 if ``exc`` is a Ctrl-C
    or came after one; otherwise return, for the caller to re-raise ``exc``.

    For the ``except BaseException`` around the command's imports, which run
    before :func:`backproplab.cli.main` can handle anything.

    Parameters
    ----------
    exc : BaseException
        What the imports raised.

    Raises
    ------
    SystemExit
        With status 130, when ``exc`` is (or follows) an interrupt.
    """
    if isinstance(exc, KeyboardInterrupt) or (interrupted() and isinstance(exc, Exception)):
        sys.exit(report_interrupt())


def final_status(status: int) -> int:
    """The command's exit status, once it is done: ``status``, or 130 when a
    Ctrl-C arrived that nothing reported yet. ``SIGINT`` is ignored from here on
    (in the command's process), so that the interpreter's shutdown cannot be
    ended by it.

    Parameters
    ----------
    status : int
        What the command returned.

    Returns
    -------
    int
    """
    if _STATE["installed"]:
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    return report_interrupt() if _STATE["received"] and not _STATE["reported"] else status


__all__ = ["INTERRUPTED", "catch_interrupts", "exit_if_interrupted", "final_status",
           "interrupted", "report_interrupt"]
