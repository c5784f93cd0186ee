"""Real signals: SIGKILL at random points and resume; Ctrl-C at any time."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.killing import ARGS, assert_same_run, reference_run, start_train, stop, wait_for

from backproplab.fileio import read_jsonl

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _kill_and_resume(tmp_path, cli, n: int, seed: int) -> None:
    """Kill a training process ``n`` times at random points (startup, mid-epoch,
    between writes), restarting or resuming after each kill; then finish it."""
    reference = reference_run(tmp_path / "reference")
    out, rng, landed = tmp_path / "killed", random.Random(seed), []
    for _ in range(n):
        # a finished run starts again, so that every kill interrupts real work
        resumable = (out / "checkpoint.npz").exists() and not (out / "summary.json").exists()
        mode = "--resume" if resumable else "--overwrite"
        args = ("--out", out, mode) if mode == "--resume" else (*ARGS, "--out", out, mode)
        proc = start_train(*args, sleep=0.02)  # about 1 s per epoch, 4 epochs
        time.sleep(rng.uniform(0.05, 3.0))
        code = stop(proc, signal.SIGKILL)
        epochs = len(read_jsonl(out / "metrics.jsonl")) if (out / "metrics.jsonl").exists() else 0
        landed.append("finished" if code == 0 else f"epoch {epochs}")
    r = cli("train", "--out", out, "--resume", "--json") if (out / "checkpoint.npz").exists() \
        else cli("train", *ARGS, "--out", out, "--overwrite", "--json")
    assert r.status == 0, r.err
    assert_same_run(reference, out)
    print(f"\n{n} SIGKILLs landed at: {', '.join(landed)}; the resumed run is bit-identical "
          "to the uninterrupted one")


def test_five_random_sigkills_then_resume_is_bit_identical(tmp_path, cli):
    _kill_and_resume(tmp_path, cli, 5, seed=0)


@pytest.mark.slow
def test_twenty_random_sigkills_then_resume_is_bit_identical(tmp_path, cli):
    _kill_and_resume(tmp_path, cli, 20, seed=1)


def _wait_for_the_interpreter(proc, timeout: float = 30) -> None:
    """Wait until the child's Python catches SIGINT (its runtime is up), so that a
    delay counts from there and not from the fork: on a loaded machine the bare
    interpreter start alone can outlast the shortest delay, and a signal in it
    gets the interpreter's answer, not backproplab's."""
    status = Path(f"/proc/{proc.pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        caught = next((line for line in status.read_text().splitlines()
                       if line.startswith("SigCgt:")), "SigCgt: 0")
        if int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.002)


@pytest.mark.parametrize("delay", [0.06, 0.12, 0.25, 0.5])
def test_ctrl_c_while_starting_is_one_line_and_130(delay, tmp_path):
    # the imports take a few tenths of a second: the signal lands in them (or in
    # the data loading and first batches for the longer delays)
    proc = start_train(*ARGS, "--out", tmp_path / "run")
    _wait_for_the_interpreter(proc)  # before it, no program could answer: Python's start-up
    time.sleep(delay)
    code = stop(proc, signal.SIGINT)
    err = proc.stderr.read().decode()
    assert code == 130 and err == "backproplab: interrupted\n", (code, err)


def test_ctrl_c_at_many_moments_of_the_start_is_one_line_and_130(tmp_path):
    # one try per moment, from the imports (some of them run dataclass code that
    # `exec` builds from a string) through the data loading to the first batches
    results = []
    for i, delay in enumerate([0.05 + 0.05 * k for k in range(16)]):
        proc = start_train(*ARGS, "--out", tmp_path / f"run{i}")
        _wait_for_the_interpreter(proc)
        time.sleep(delay)
        code = stop(proc, signal.SIGINT)
        results.append((round(delay, 2), code, proc.stderr.read().decode()))
    wrong = [r for r in results if r[1:] != (130, "backproplab: interrupted\n")]
    assert not wrong, wrong


def _run_interrupted(setup: str, body: str) -> subprocess.CompletedProcess:
    """Run ``setup``, then ``body`` (indented into a ``try``), in a child Python with the
    command's Ctrl-C handler; a KeyboardInterrupt out of ``body`` is reported as the
    command reports it."""
    script = ("from backproplab.commands.interrupt import catch_interrupts, report_interrupt\n"
              "catch_interrupts()\n" + setup + "try:\n"
              + "".join(f"    {line}\n" for line in body.splitlines())
              + "except KeyboardInterrupt:\n    report_interrupt()\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)


def test_ctrl_c_inside_code_run_from_a_string_is_handled_where_caught():
    # CPython marks a KeyboardInterrupt that leaves exec'd string code (dataclasses
    # build their methods that way) as unhandled for the whole process: even caught,
    # it made the interpreter kill itself with SIGINT at exit (status -2). The
    # command's handler holds the interrupt until that code has returned.
    r = _run_interrupted("", "exec('import os, signal\\nos.kill(os.getpid(), signal.SIGINT)')\n"
                             "while True:\n    pass")
    assert (r.returncode, r.stderr) == (0, "backproplab: interrupted\n")


def test_ctrl_c_inside_a_weakref_callback_is_not_dropped():
    # Python cannot raise from a weakref callback (or a __del__): the interrupt was
    # printed as "Exception ignored in ..." and dropped, and the command went on to
    # its end (seen in `reproduce`, whose figures run matplotlib's weakref callbacks,
    # about one Ctrl-C in six during that phase). The handler sends it again.
    setup = ("import os, signal, time, weakref\n"
             "class Thing:\n"
             "    pass\n"
             "def callback(ref):\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    time.sleep(0.01)\n")
    r = _run_interrupted(setup, "thing = Thing()\n"
                                "ref = weakref.ref(thing, callback)\n"
                                "del thing\n"
                                "deadline = time.monotonic() + 30\n"
                                "while time.monotonic() < deadline:\n"
                                "    pass\n"
                                "print('went on after the Ctrl-C')")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "backproplab: interrupted\n")


def test_ctrl_c_while_training_is_one_line_and_the_run_resumes(tmp_path, cli):
    out = tmp_path / "run"
    proc = start_train(*ARGS, "--out", out, sleep=0.01)
    wait_for(out / "checkpoint.npz", proc)
    code = stop(proc, signal.SIGINT)
    err = proc.stderr.read().decode()
    assert code == 130 and err == "backproplab: interrupted\n", (code, err)
    r = cli("train", "--out", out, "--resume", "--json")
    assert r.status == 0 and r.json()["epochs"] == 4, r.err


def test_the_same_command_after_ctrl_c_in_the_first_epoch_names_overwrite_not_resume(
        tmp_path, cli):
    # regression: the rerun was told "already holds a run; pass --resume", and --resume
    # then refused (no checkpoint): the advice now is the one that works
    out = tmp_path / "run"
    proc = start_train(*ARGS, "--out", out, sleep=0.05)  # 2 s per epoch
    wait_for(out / "config.json", proc)
    assert stop(proc, signal.SIGINT) == 130
    assert not (out / "checkpoint.npz").exists(), "the first epoch ended before the Ctrl-C"
    r = cli("train", *ARGS, "--out", out, "--quiet")
    assert r.status == 2 and r.err.count("\n") == 1, r.err
    assert "--resume" not in r.err and "pass --overwrite to start it again" in r.err, r.err
    r = cli("train", *ARGS, "--out", out, "--overwrite", "--json")
    assert r.status == 0 and r.json()["epochs"] == 4, r.err
