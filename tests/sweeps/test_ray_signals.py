"""A Ray sweep's driver ended by a signal: SIGTERM gives one line and status 130
(not Ray's stack dump and status 1), and whatever way it ends -- SIGKILL too --
no process of the local Ray instance it started (raylet, GCS, the agents, the
workers) outlives it by more than a few seconds."""

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_ray_driver_ended_by_a_signal_takes_every_ray_process(tmp_path, sig):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", BACKPROPLAB_TEST_BATCH_SLEEP="0.02")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backproplab", "sweep", "--limit", "300", "--epochs", "3",
         "--hidden", "8", "--lr", "0.1,0.2", "--workers", "2", "--executor", "ray",
         "--out", str(tmp_path / "s"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)  # everything Ray starts stays in this session
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a trial runs, and with it the agents
            running = " ".join(session_processes(proc.pid).values())
            if "backproplab-trial" in running and "RuntimeEnvAgent" in running:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
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
    deadline = time.monotonic() + 10
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_processes(proc.pid), "Ray processes outlived the driver"
