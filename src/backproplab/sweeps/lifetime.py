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

Processes the driver does not start itself (a local Ray instance's agents,
started by its raylet) cannot be given those guards; :func:`start_reaper`
starts a small watchdog process that notes every descendant of the driver and
kills those still running the moment the driver ends, however it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

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


# ---------------------------------------------------------------------------
# the processes a driver's children start


def _process_table() -> dict[int, tuple[int, str]]:
    """``pid -> (parent pid, start time)`` of every process (from Linux's /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":  # a zombie is already gone
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(pid: int, table: dict[int, tuple[int, str]] | None = None) -> dict[int, str]:
    """Every living descendant of ``pid``: ``pid -> start time`` (Linux only).

    Parameters
    ----------
    pid : int
        The ancestor.
    table : dict, optional
        A process table as :func:`_process_table` reads it (read now by default).

    Returns
    -------
    dict
        Process id -> its start time (to tell it from a later process with the same id).
    """
    table = _process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = table[child][1]
                todo.append(child)
    return found


def reap(driver: int, interval: float = WATCH_INTERVAL) -> None:
    """Body of the watchdog of :func:`start_reaper`.

    Notes the descendants of ``driver`` every ``interval`` seconds until standard
    input closes (the driver ended), then kills every one of them still running
    (a process whose id was reused since is left alone).

    Parameters
    ----------
    driver : int
        The driver's process id.
    interval : float, default WATCH_INTERVAL
        Seconds between two looks at the process table.
    """
    me = os.getpid()
    noted: dict[int, str] = {}
    while True:
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], interval)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
        noted.update({p: t for p, t in _descendants(driver).items() if p != me})
    table = _process_table()
    for pid, started in noted.items():
        if pid in table and table[pid][1] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def start_reaper() -> subprocess.Popen | None:
    """Start a watchdog that kills this process's descendants when it ends.

    The watchdog (:func:`reap`) runs in a session of its own (a Ctrl-C for the
    driver's terminal does not reach it) and learns of the driver's end when
    the pipe to it closes, which the kernel does however the driver ends.

    Returns
    -------
    subprocess.Popen or None
        The watchdog; None where there is no /proc to find the processes in.

    Example
    -------
    >>> reaper = start_reaper()   # doctest: +SKIP
    """
    if not Path("/proc/self/stat").exists():
        return None
    code = f"from backproplab.sweeps.lifetime import reap; reap({os.getpid()})"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)


__all__ = ["SweepTerminated", "guard_worker", "reap", "sigterm_interrupts",
           "start_reaper"]
