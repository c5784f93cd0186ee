"""A Ray sweep's driver ended by a signal: SIGTERM gives one line and status 130
(not Ray's stack dump and status 1), and whatever way it ends -- SIGKILL too --
no process of the local Ray instance it started (raylet, GCS, the agents, the
workers) outlives it by more than a few seconds. A Ray agent killed mid-sweep
(Ray then ends the driver process itself) is one sentence naming the trials
left to run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs Linux /proc")


def session_processes(sid: int) -> dict[int, str]:
    """The living processes of session ``sid``: pid -> command line (start)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = cmdline[:80]
    return found


def popen_ray_sweep(out: Path, epochs: int, **env: str) -> subprocess.Popen:
    """``backproplab sweep --executor ray`` (2 trials) in a session of its own
    (everything Ray starts stays in it), with ``env`` added to its environment."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    return subprocess.Popen(
        [sys.executable, "-m", "backproplab", "sweep", "--limit", "300", "--epochs",
         str(epochs), "--hidden", "8", "--lr", "0.1,0.2", "--workers", "2", "--executor",
         "ray", "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1", **env), start_new_session=True)


def start_ray_sweep(out: Path) -> subprocess.Popen:
    """:func:`popen_ray_sweep` with 3 slow epochs; returns once a trial runs."""
    proc = popen_ray_sweep(out, 3, BACKPROPLAB_TEST_BATCH_SLEEP="0.02")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # a trial runs, and with it the agents
        running = " ".join(session_processes(proc.pid).values())
        if "backproplab-trial" in running and "RuntimeEnvAgent" in running:
            return proc
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("no trial started on Ray in 120 s")


def assert_nothing_left(sid: int) -> None:
    deadline = time.monotonic() + 10
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_processes(sid), "Ray processes outlived the driver"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_ray_driver_ended_by_a_signal_takes_every_ray_process(tmp_path, sig):
    proc = start_ray_sweep(tmp_path / "s")
    try:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGTERM:
        assert proc.returncode == 130, stderr
        assert stderr.endswith("backproplab: interrupted\n"), stderr
        assert stderr.count("interrupted") == 1 and "Traceback" not in stderr, stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    assert_nothing_left(proc.pid)


def test_a_dead_ray_agent_is_one_sentence_naming_the_trials_left(tmp_path):
    # regression: killing the RuntimeEnvAgent takes the raylet down, and Ray ends
    # the driver process at once: exit 1, Ray's log lines and nothing said
    proc = start_ray_sweep(tmp_path / "s")
    try:
        (agent,) = [pid for pid, cmd in session_processes(proc.pid).items()
                    if cmd.startswith("ray::RuntimeEnvAgent")]
        os.kill(agent, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("backproplab: the sweep's Ray driver process ended before the "
                           "sweep did"), stderr
    assert "2 of 2 trial(s) are left to run (lr=0.1_seed=0, lr=0.2_seed=0)" in last, last
    assert_nothing_left(proc.pid)


#: Loaded by the supervised sweep driver's interpreter at start-up (a
#: ``sitecustomize`` module): sends the process SIGTERM itself at a chosen point
#: inside ``ray.init``, so that the signal lands there every time, not by timing.
TERM_IN_RAY_INIT = '''
import os, signal, sys
where = os.environ.get("TEST_TERM_IN_RAY_INIT")
if where == "while the watching process imports Ray":
    class Finder:  # the signal arrives when the import of ray starts
        def find_spec(self, name, path=None, target=None):
            if name == "ray":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGTERM)
            return None
    sys.meta_path.insert(0, Finder())
elif where and os.environ.get("BACKPROPLAB_SUPERVISOR"):  # the driver, not its watcher
    import ray._private.node as node
    import ray._private.worker as worker

    def term():
        os.kill(os.getpid(), signal.SIGTERM)

    if where == "before the head node starts":
        start = node.Node.start_head_processes
        def start_head_processes(self, *args, **kwargs):
            term()
            return start(self, *args, **kwargs)
        node.Node.start_head_processes = start_head_processes
    else:  # the driver's core worker runs, ray.init has not returned
        connect = worker.connect
        def connected(*args, **kwargs):
            result = connect(*args, **kwargs)
            term()
            return result
        worker.connect = connected
'''

#: What Ray's C++ failure-signal handler prints for a SIGTERM while it is installed.
RAY_SIGNAL_DUMP = re.compile(r"(\[[^\]]*\] logging\.cc:\d+: )?(\*\*\* SIGTERM received at time="
                             r"\d+ on cpu \d+ \*\*\*|PC: @ .*|    @ .*)")


@pytest.mark.parametrize("where", ["while the watching process imports Ray",
                                   "before the head node starts",
                                   "once the driver's core worker runs"])
def test_sigterm_while_ray_starts_is_one_line_and_130(tmp_path, where):
    # regression: Ray's own handler, set inside ray.init, made it exit 15 and say
    # nothing (and after its core worker started, print a stack dump too); the
    # watching process died of the signal (-15) while it imported Ray
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TERM_IN_RAY_INIT)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    out = tmp_path / "s"
    proc = popen_ray_sweep(out, 1, PYTHONPATH=path, TEST_TERM_IN_RAY_INIT=where)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and stdout == "", stderr
    lines = stderr.splitlines()
    assert lines[-1] == "backproplab: interrupted" and stderr.count("interrupted") == 1, stderr
    if where != "once the driver's core worker runs":
        assert lines == ["backproplab: interrupted"], stderr
    else:  # Ray's C++ handler prints its dump first (docs/reliability.md), nothing else
        assert all(RAY_SIGNAL_DUMP.fullmatch(line) for line in lines[:-1]), stderr
    assert not out.exists()  # nothing written
    assert_nothing_left(proc.pid)
