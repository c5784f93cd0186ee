"""A Ray sweep's driver ended by a signal: SIGTERM gives one line and status 130
(not Ray's stack dump and status 1), and whatever way it ends -- SIGKILL too --
no process of the local Ray instance it started (raylet, GCS, the agents, the
workers) outlives it by more than a few seconds. A Ray agent killed mid-sweep
(Ray then ends the driver process itself) is one sentence naming the trials
left to run."""

from __future__ import annotations

import os
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


def start_ray_sweep(out: Path) -> subprocess.Popen:
    """``backproplab sweep --executor ray`` (2 trials, 3 slow epochs) in a session of
    its own (everything Ray starts stays in it); returns once a trial runs."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", BACKPROPLAB_TEST_BATCH_SLEEP="0.02")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backproplab", "sweep", "--limit", "300", "--epochs", "3",
         "--hidden", "8", "--lr", "0.1,0.2", "--workers", "2", "--executor", "ray",
         "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)
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
