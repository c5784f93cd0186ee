"""Run a command in a child process that is watched, so that its sudden death is reported.

A Ray driver cannot survive its Ray node: when the raylet dies (and it dies
with any of its agents, e.g. the RuntimeEnvAgent or DashboardAgent), Ray's own
code ends the driver process on the spot, with no Python cleanup and no chance
to say what is left. ``backproplab sweep --executor ray`` therefore runs the
sweep in a child process (:func:`run_supervised`): the command's process only
forwards Ctrl-C and ``SIGTERM`` to it and waits. A child that ends the normal
way (any exit status) tells so through a pipe just before it exits
(:func:`enter_child`), and its status is the command's; one that does not
was ended from outside, and the caller reports that in one sentence.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from backproplab.sweeps.lifetime import guard_worker

#: Set in the child's environment: ``"PARENT_PID:FD"`` (FD: the pipe's end to write to).
SUPERVISOR_ENV = "BACKPROPLAB_SUPERVISOR"
#: The signals the watching process passes on to the child.
FORWARDED = (signal.SIGINT, signal.SIGTERM)


def is_child() -> bool:
    """Whether this process is a supervised child (of :func:`run_supervised`).

    Returns
    -------
    bool
        True when the supervisor's environment variable is set.
    """
    return bool(os.environ.get(SUPERVISOR_ENV))


def enter_child() -> None:
    """In the supervised child: end with the watching process, and tell it at exit
    that this process ended the normal way (``sys.exit``, not killed)."""
    parent, _, fd = os.environ.pop(SUPERVISOR_ENV).partition(":")
    os.set_inheritable(int(fd), False)  # for this process alone, not for Ray's
    guard_worker(int(parent))
    atexit.register(_say_normal_end, int(fd))


def _say_normal_end(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except OSError:  # the watching process is gone: nobody to tell
        pass


def run_supervised(argv: Sequence[str]) -> tuple[int, bool]:
    """Run ``backproplab ARGV`` in a watched child process and wait for it.

    Parameters
    ----------
    argv : sequence of str
        The command line after ``backproplab``.

    Returns
    -------
    (int, bool)
        The child's exit status (negative: the signal that killed it), and
        whether it ended the normal way; when it did not, the caller says why.

    Example
    -------
    >>> status, normal = run_supervised(["sweep", "--executor", "ray", "--out", "s"])  # doctest: +SKIP
    """
    read_end, write_end = os.pipe()
    child: subprocess.Popen | None = None
    pending: list[int] = []

    def forward(signum, frame) -> None:
        if child is None:
            pending.append(signum)
        else:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        env = {**os.environ, SUPERVISOR_ENV: f"{os.getpid()}:{write_end}"}
        # a process group of its own: a terminal's Ctrl-C reaches it once, from here
        child = subprocess.Popen([sys.executable, "-m", "backproplab", *argv], env=env,
                                 pass_fds=(write_end,), process_group=0)
        os.close(write_end)
        for signum in pending:
            child.send_signal(signum)
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child is None:
            os.close(write_end)
    with os.fdopen(read_end, "rb") as said:
        normal = said.read(1) == b"x"
    return status, normal


__all__ = ["FORWARDED", "SUPERVISOR_ENV", "enter_child", "is_child", "run_supervised"]
