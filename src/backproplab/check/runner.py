"""Running a learner's file in its own process, with limits.

Each file runs in a fresh Python process (:mod:`backproplab.check.worker`, run as
a script by this interpreter) that caps its own CPU time, address space and file sizes; the
parent adds a wall-clock limit and kills the process's whole group when it is
passed. The child's answer is one JSON object on its stdout (never a pickle); the
learner's own output goes to a temporary file, of which only the end is kept. A
file that crashes, loops forever, eats memory or calls ``sys.exit`` ends its own
process and nothing else.

This is isolation, not a security sandbox: the learner's code runs with the
user's rights and can read and write their files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from backproplab.check import worker
from backproplab.fileio import parse_json

#: Default wall-clock limit per file, in seconds.
DEFAULT_TIMEOUT = 10.0
#: Default memory limit per file (address space), in MiB.
DEFAULT_MEMORY_MB = 2048
#: How much of the learner's own output (stderr and prints) is kept, in bytes.
OUTPUT_TAIL = 4000
#: How often a file's wait looks at its ``stop`` event, in seconds.
STOP_POLL = 0.05
#: Environment variables that keep the child's numerical libraries to one thread.
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class RawRun:
    """What came back from one file's process.

    Attributes
    ----------
    data : dict or None
        The worker's JSON answer, or ``None`` when it gave none.
    timed_out : bool
        Whether the wall-clock limit was passed (the process was killed).
    returncode : int or None
        The process's exit status (negative: killed by that signal).
    output : str
        The end of the learner's own output (stderr and prints).
    """

    data: dict | None
    timed_out: bool
    returncode: int | None
    output: str


#: The most bytes of results read back from a learner's process (the worker's own
#: file-size limit, 16 MiB, already stops it from writing more).
MAX_RESULT_BYTES = 16 * 2**20


def run_isolated(path: str | os.PathLike, probes: list[dict], timeout: float = DEFAULT_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB,
                 stop: threading.Event | None = None) -> RawRun:
    """Run the learner's file ``path`` on ``probes`` in its own limited process.

    Parameters
    ----------
    path : str or os.PathLike
        The learner's Python file.
    probes : list of dict
        The probes' payloads (:meth:`backproplab.check.probes.Probe.payload`).
    timeout : float, optional
        Wall-clock seconds before the process (and its children) are killed; the
        CPU-time limit is one second more.
    memory_mb : int, optional
        The process's address-space limit in MiB (0: none).
    stop : threading.Event, optional
        When set (a Ctrl-C in the caller), the process and its children are
        killed at once and the run ends with no answer.

    Returns
    -------
    RawRun
    """
    path = Path(path).resolve()
    cmd = [sys.executable, worker.__file__, str(path), repr(float(timeout)), str(int(memory_mb))]
    # stdout is a file, not a pipe: the worker's file-size limit then bounds what a
    # learner's code can write to it, and nothing unbounded is held in memory here
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out_file, stderr=err,
                                cwd=path.parent, env={**os.environ, **ONE_THREAD},
                                start_new_session=True)
        timed_out = _wait(proc, json.dumps(probes).encode(), timeout, stop)
        _kill_group(proc)  # a timed-out learner, or anything its code left running
        err.seek(max(0, err.seek(0, os.SEEK_END) - OUTPUT_TAIL))
        output = err.read().decode("utf-8", "replace")
        out_file.seek(0)
        out = out_file.read(MAX_RESULT_BYTES + 1)
    data = None
    if out and not timed_out and len(out) <= MAX_RESULT_BYTES:
        try:
            data = parse_json(out)
        except ValueError:
            data = None
    return RawRun(data if isinstance(data, dict) else None, timed_out, proc.returncode, output)


def _wait(proc: subprocess.Popen, payload: bytes, timeout: float,
          stop: threading.Event | None) -> bool:
    """Give the process its probes and wait for it to end; True when it ran past
    ``timeout``. With a ``stop`` event, returns (False) soon after it is set."""
    deadline = time.monotonic() + timeout
    while stop is None or not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        try:  # called again after a timeout, communicate loses nothing (input only once)
            proc.communicate(payload, timeout=left if stop is None else min(left, STOP_POLL))
            return False
        except subprocess.TimeoutExpired:
            payload = None
    return False


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


__all__ = ["DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT", "RawRun", "run_isolated"]
