"""Worker processes end with the sweep that started them.

A sweep's local workers (:class:`backproplab.sweeps.executors.LocalExecutor`)
are child processes of the driver. Whatever way the driver ends, they must not
outlive it (a worker left behind would finish its trial into the folder and
then wait forever for work that never comes). Two guards in every worker:

* :func:`_die_with_parent` asks the Linux kernel (``prctl(PR_SET_PDEATHSIG)``)
  to send the worker ``SIGKILL`` the moment its parent dies -- also when the
  parent was killed with ``SIGKILL`` and could run no code of its own;
* :func:`_watch_parent` starts a daemon thread that ends the worker when its
  parent process changes (the fallback where ``prctl`` is not available).

And one in the driver: :func:`sigterm_interrupts` turns ``SIGTERM`` into a
:class:`SweepTerminated` exception (a ``KeyboardInterrupt``), so that a
terminated sweep stops its workers exactly as an interrupted one does, and the
trial folders stay resumable.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Iterator

#: ``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between two looks of the watchdog thread at the parent process.
WATCH_INTERVAL = 0.25
#: Exit status of a worker that ends because its parent is gone.
ORPHAN_EXIT = 70


class SweepTerminated(KeyboardInterrupt):
    """The sweep's process received ``SIGTERM``; handled like an interrupt."""


def _die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent dies.

    Returns whether it could be arranged (Linux only). The signal is tied to
    the parent *thread* that created this process; the local executor creates
    its workers from the thread that runs the sweep, which lives as long as the
    workers are needed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no usable libc
        return False


def _watch_parent(parent_pid: int, interval: float = WATCH_INTERVAL) -> threading.Thread | None:
    """End this process (``os._exit``) as soon as its parent is no longer ``parent_pid``.

    Exits at once if the parent is already gone (it died before the guards
    were set up); otherwise starts and returns a daemon thread that checks
    every ``interval`` seconds.
    """
    if os.getppid() != parent_pid:
        os._exit(ORPHAN_EXIT)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            if os.getppid() != parent_pid:
                os._exit(ORPHAN_EXIT)

    thread = threading.Thread(target=watch, name="backproplab-parent-watch", daemon=True)
    thread.start()
    return thread


def guard_worker(parent_pid: int) -> None:
    """Both guards for a worker process whose parent is ``parent_pid``.

    The kernel is asked to kill the worker when its parent dies (Linux), and a
    daemon thread ends it once its parent is no longer ``parent_pid``.

    Parameters
    ----------
    parent_pid : int
        The sweep's process id, as the parent saw it.
    """
    _die_with_parent()
    _watch_parent(parent_pid)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While active, ``SIGTERM`` raises :class:`SweepTerminated` in the main thread.

    Does nothing outside the main thread (only it may set signal handlers);
    the previous handler is restored on exit.

    Yields
    ------
    None
        Use it as a context manager: ``with sigterm_interrupts(): ...``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        raise SweepTerminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["SweepTerminated", "guard_worker", "sigterm_interrupts"]
