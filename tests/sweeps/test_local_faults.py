"""The local executor under real signals: a worker killed at any moment is
retried and never crashes the sweep; a driver killed (SIGKILL) or terminated
(SIGTERM) takes its workers with it and leaves resumable trial folders. Every
trial ends bit-identical to an undisturbed run (tests/same_results.py's
``fingerprint``: the parameter arrays and the metric files)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.same_results import fingerprint

from backproplab.sweeps import Sweep, run_sweep
from backproplab.sweeps.executors import LocalExecutor
from backproplab.sweeps.lifetime import SweepTerminated, sigterm_interrupts
from backproplab.training import TrainConfig

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs Linux /proc")

#: Four short trials (1000 synthetic points, 3 epochs, 63 batches each).
OPTIONS = ["--limit", "1000", "--epochs", "3", "--hidden", "8", "--lr", "0.1,0.2",
           "--seeds", "2"]
SWEEP = Sweep(TrainConfig(limit=1000, epochs=3, hidden=(8,)), {"lr": [0.1, 0.2]}, [0, 1])
SLEEP_ENV = "BACKPROPLAB_TEST_BATCH_SLEEP"


def load(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict]:
    """The fingerprints of an undisturbed run of every trial of ``SWEEP``."""
    out = tmp_path_factory.mktemp("reference")
    assert run_sweep(SWEEP, out, workers=1, progress="quiet").ok
    return {name: fingerprint(out / name) for name in SWEEP.trial_names()}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def workers_of(pid: int) -> list[int]:
    """The pool worker processes (``spawn_main``) whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return out


def start_sweep(out: Path, sleep: str, *extra: str, session: bool = False) -> subprocess.Popen:
    """``backproplab sweep`` of ``OPTIONS`` on 2 workers (``session``: in a process
    group of its own, so that a Ctrl-C can go to the whole group as a terminal's does)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **{SLEEP_ENV: sleep})
    return subprocess.Popen(
        [sys.executable, "-m", "backproplab", "sweep", *OPTIONS, "--workers", "2",
         "--out", str(out), "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=session)


def trial_of(pid: int) -> str | None:
    """The trial a worker process runs: the folder whose ``.lock`` it holds open."""
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.endswith("/.lock"):
                return Path(target).parent.name
    except OSError:
        pass
    return None


def wait_for_worker(proc: subprocess.Popen, *, not_on: set[str] = frozenset(),
                    not_pids: set[int] = frozenset(), timeout: float = 60) -> tuple[int, str]:
    """``(pid, trial)`` of a worker of ``proc`` (not one of ``not_pids``) that runs a
    trial not in ``not_on``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        for pid in set(workers_of(proc.pid)) - set(not_pids):
            trial = trial_of(pid)
            if trial is not None and trial not in not_on:
                return pid, trial
        time.sleep(0.01)
    raise AssertionError(f"no worker ran a trial other than {sorted(not_on)} in {timeout} s")


def assert_matches(out: Path, reference: dict[str, dict]) -> None:
    for name, want in reference.items():
        assert fingerprint(out / name) == want, name
        assert load(out / name / "status.json")["status"] == "ok"


# ---------------------------------------------------------------------------
# a worker dies


def test_worker_dying_between_submissions_is_retried_not_raised(tmp_path, reference):
    # regression: the worker of the first trial dies right after it was submitted;
    # the next submission met the broken pool and raised BrokenProcessPool
    killed: list[int] = []
    others = set(workers_of(os.getpid()))

    def on_event(event):
        if event.kind == "started" and not killed:
            (pid,) = set(workers_of(os.getpid())) - others
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # the pool notices the death and marks itself broken

    trials = SWEEP.trials(tmp_path)
    for trial in trials:
        Path(trial.out_dir).mkdir(parents=True)
    results = list(LocalExecutor(2, retries=1).run(trials, on_event))
    assert killed
    assert sorted(r.name for r in results) == sorted(SWEEP.trial_names())
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    assert {r.name: r.attempts for r in results}[trials[0].name] == 2
    for name, want in reference.items():
        assert fingerprint(tmp_path / name) == want


def test_workers_killed_at_random_moments_never_crash_the_sweep(tmp_path, reference):
    rng = random.Random(20240611)
    for attempt in range(4):
        out = tmp_path / f"try{attempt}"
        proc = start_sweep(out, "0.003")  # ~0.2 s per epoch
        try:
            deadline = time.monotonic() + 60
            while not workers_of(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.5))  # start-up, mid-trial or between trials
            workers = workers_of(proc.pid)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
        summary = json.loads(stdout.strip().splitlines()[-1])
        assert (summary["ok"], summary["failed"]) == (4, 0)
        assert_matches(out, reference)


def test_each_death_is_charged_only_to_its_own_trial(tmp_path, reference):
    # regression: one death was charged to every trial in flight, and one retry is
    # allowed, so the second kill failed a trial whose own worker never died
    out = tmp_path / "s"
    proc = start_sweep(out, "0.01")  # ~0.6 s per epoch
    try:
        first, killed_a = wait_for_worker(proc)
        there = set(workers_of(proc.pid))
        os.kill(first, signal.SIGKILL)
        # the second kill: a worker started after the first, running another trial
        second, killed_b = wait_for_worker(proc, not_on={killed_a}, not_pids=there)
        os.kill(second, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1])["failed"] == 0
    attempts = {name: load(out / name / "status.json")["attempts"] for name in reference}
    assert attempts[killed_a] == attempts[killed_b] == 2
    assert sorted(attempts.values()) == [1, 1, 2, 2], attempts
    assert_matches(out, reference)


def test_a_stopped_worker_times_out_alone_and_the_rerun_resumes_it(tmp_path, reference):
    out = tmp_path / "s"
    proc = start_sweep(out, "0.01", "--trial-timeout", "15")
    try:
        stopped, trial = wait_for_worker(proc)
        os.kill(stopped, signal.SIGSTOP)  # a hung worker: only a timeout ends its trial
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert (summary["ok"], summary["failed_trials"]) == (3, [trial])
    assert f"  {trial}: TrialTimeout: the trial ran longer than the trial timeout of 15 s" \
        in stderr
    assert not alive(stopped)
    rerun = start_sweep(out, "0")
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert_matches(out, reference)


def test_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path):
    # a terminal's Ctrl-C goes to the whole process group: workers that were still
    # starting printed KeyboardInterrupt tracebacks, and the sweep more than one line
    # (Ctrl-C while the libraries load: tests/faults/test_signals.py)
    landed = []
    for i, delay in enumerate([0.0, 0.05, 0.15, 0.3, 0.6, 1.2]):  # after the first worker
        proc = start_sweep(tmp_path / f"try{i}", "0.003", session=True)
        try:
            deadline = time.monotonic() + 60
            while not workers_of(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay)
            landed.append(len(workers_of(proc.pid)))
            os.killpg(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, (i, stderr)
        assert stderr.endswith("backproplab: interrupted\n"), (i, stderr)
        assert stderr.count("interrupted") == 1 and "Traceback" not in stderr, (i, stderr)
        deadline = time.monotonic() + 10  # and nothing of the sweep is left running
        while time.monotonic() < deadline and group_alive(proc.pid):
            time.sleep(0.05)
        assert not group_alive(proc.pid), i
    print(f"\nworkers running when each Ctrl-C landed: {landed}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------------
# the driver dies


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_driver_takes_its_workers_and_the_rerun_resumes(tmp_path, reference, sig):
    out = tmp_path / "s"
    proc = start_sweep(out, "0.01")  # ~0.6 s per epoch
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not (
                list(out.glob("*/checkpoint.npz")) and len(workers_of(proc.pid)) == 2):
            time.sleep(0.02)
        workers = workers_of(proc.pid)
        assert len(workers) == 2, proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGTERM:  # handled like an interrupt: workers stopped, status 130
        assert proc.returncode == 130 and "interrupted" in stderr, stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "worker processes outlived the sweep"
    assert len(list(out.glob("*/summary.json"))) < 4

    rerun = start_sweep(out, "0")
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1])["failed"] == 0
    assert any(load(f)["resumed"] for f in out.glob("*/status.json"))
    assert_matches(out, reference)


def test_sigterm_raises_sweep_terminated_only_while_guarded():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SweepTerminated), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
    assert signal.getsignal(signal.SIGTERM) is previous
    assert issubclass(SweepTerminated, KeyboardInterrupt)  # the command's interrupt path
