"""Concurrent writers: one process writes a run, sweep or reproduce folder at a time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from tests.killing import ARGS, CONFIG, params, start_train, stop, wait_for

from backproplab.errors import BackproplabError
from backproplab.locks import lock_folder
from backproplab.runs import LOCK, check_out_folder, read_run_files
from backproplab.sweeps import Sweep, run_sweep
from backproplab.training import TrainConfig, run_training

IN_USE = re.compile(r"is in use by another backproplab process \(pid (\d+)\)")


def test_two_trains_at_once_one_wins_and_the_folder_is_consistent(tmp_path):
    out = tmp_path / "run"
    seeds = (11, 12)
    args = [a for a in ARGS if a not in ("--seed", "3")]
    procs = [start_train(*args, "--seed", s, "--epochs", "2", "--out", out, sleep=0)
             for s in seeds]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert loser.count("\n") == 1 and "Traceback" not in loser
    assert IN_USE.search(loser) or "already holds a run" in loser, loser
    # the folder is one run: its config's seed gives exactly its weights
    seed = TrainConfig.from_json(out / "config.json").seed
    ref = tmp_path / "ref"
    run_training(CONFIG.replace(seed=seed, epochs=2), ref, progress="quiet")
    a, b = params(ref / "model.npz"), params(out / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    print(f"\nconcurrent train: exit codes {codes}, winner seed {seed}, loser said: {loser.strip()}")


def test_resume_overwrite_or_the_same_command_while_a_run_trains_is_refused_naming_its_pid(
        tmp_path, cli):
    # the same command again was told the folder "already holds a run; pass --resume",
    # which the next try refused as in use: it is in use, and says so at once
    out = tmp_path / "run"
    proc = start_train(*ARGS, "--out", out, sleep=0.01)
    try:
        wait_for(out / "checkpoint.npz", proc)
        before = (out / "config.json").read_bytes()
        for flags in (("--resume",), (*ARGS, "--overwrite"), ARGS):
            r = cli("train", *flags, "--out", out, "--quiet")
            assert r.status == 2, r.err
            assert IN_USE.search(r.err).group(1) == str(proc.pid), r.err
            assert str(out) in r.err and "--out" in r.err and r.err.count("\n") == 1
        assert (out / "config.json").read_bytes() == before
    finally:
        code = stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    # the kernel dropped the dead process's lock: the run resumes at once
    r = cli("train", "--out", out, "--resume", "--json")
    assert r.status == 0, r.err


HOLD = ("import sys, time\nfrom backproplab.locks import lock_folder\n"
        "lock = lock_folder(sys.argv[1], 'sweep')\nprint('held', flush=True)\ntime.sleep(60)\n")


@pytest.fixture
def held(tmp_path):
    """A folder whose lock another process holds; yields (folder, pid)."""
    folder = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"held\n"
        yield folder, proc.pid
    finally:
        stop(proc, signal.SIGKILL)


def test_a_sweep_on_a_folder_in_use_is_refused(held, cli):
    folder, pid = held
    r = cli("sweep", "--out", folder, "--lr", "0.1", "--lr", "0.2", "--limit", "100",
            "--epochs", "1", "--workers", "1", "--overwrite", "--quiet")
    assert r.status == 2 and IN_USE.search(r.err).group(1) == str(pid), r.err
    assert [p.name for p in folder.iterdir()] == [LOCK]  # nothing written


def test_a_reproduction_on_a_folder_in_use_is_refused(held, cli):
    folder, pid = held
    r = cli("reproduce", "--dataset", "synth", "--quick", "--only", "q4-synth", "--out", folder)
    assert r.status == 2 and IN_USE.search(r.err).group(1) == str(pid), r.err


def test_the_lock_file_holds_the_pid_and_a_second_lock_is_refused(tmp_path):
    with lock_folder(tmp_path / "r", "run") as lock:
        assert (tmp_path / "r" / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(BackproplabError, match=r"the run folder .* is in use by another "
                           r"backproplab process \(pid \d+\); wait for it"):
            lock_folder(tmp_path / "r", "run")
        assert lock.fd is not None
    # a folder made only for the lock goes again; it never "holds a run"
    assert not (tmp_path / "r").exists()


def test_readers_skip_the_lock_file(tmp_path):
    out = tmp_path / "run"
    run_training(CONFIG.replace(epochs=1), out, progress="quiet")
    assert (out / LOCK).is_file()
    assert LOCK not in read_run_files(out) and "config.json" in read_run_files(out)


def test_stale_temporaries_go_on_resume_and_overwrite(tmp_path):
    out = tmp_path / "run"
    run_training(CONFIG.replace(epochs=1), out, progress="quiet")
    for mode in ("resume", "overwrite"):
        stale = [out / ".checkpoint.npz.x1y2.tmp", out / ".metrics.jsonl.abc.tmp"]
        for path in stale:
            path.write_bytes(b"half a file")
        run_training(CONFIG.replace(epochs=2) if mode == "resume" else CONFIG.replace(epochs=1),
                     out, progress="quiet", **{mode: True})
        assert not any(p.exists() for p in stale), mode


@pytest.mark.parametrize("out,why", [("", "is empty"), ("/", "root folder"),
                                     ("~", "home folder")])
def test_out_refuses_empty_root_and_home(out, why, cli):
    with pytest.raises(BackproplabError, match=why):
        check_out_folder(out)
    r = cli("train", "--epochs", "1", "--limit", "100", "--quiet", "--out", out)
    assert r.status == 2 and why in r.err and "--out" in r.err, r.err


def test_two_sweeps_at_once_are_refused_in_process(tmp_path):
    # the lock is per open file: even the same process cannot take it twice (a lock
    # that waited for it instead of refusing would never return here)
    sweep = Sweep({"dataset": "synth", "epochs": 1, "limit": 100}, {"lr": [0.1]}, seeds=[0])
    with (lock_folder(tmp_path / "s", "sweep"),
          pytest.raises(BackproplabError, match="sweep folder .* is in use")):
        run_sweep(sweep, tmp_path / "s", workers=1, progress="quiet")


def test_a_refusal_in_the_moment_after_locking_still_names_the_holders_pid(tmp_path):
    # regression: a second writer that came between the holder's flock and its pid
    # write said "pid unknown" (seen when two `train`s started at once)
    import fcntl
    import threading

    folder = tmp_path / "run"
    folder.mkdir()
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, the pid not written yet
        threading.Timer(0.05, os.write, (fd, b"4242\n")).start()
        with pytest.raises(BackproplabError) as err, lock_folder(folder, "run"):
            pass
        assert IN_USE.search(str(err.value)).group(1) == "4242"
    finally:
        os.close(fd)


def test_aggregate_only_while_the_sweep_is_written_is_refused_and_writes_nothing(tmp_path, cli):
    # regression: sweep --aggregate-only wrote results.* without the folder's lock, so
    # beside a running sweep whichever wrote last won (stale results after a sweep)
    folder = tmp_path / "s"
    sweep = Sweep({"dataset": "synth", "epochs": 1, "limit": 100}, {"lr": [0.1, 0.2]},
                  seeds=[0])
    run_sweep(sweep, folder, workers=1, progress="quiet")
    (folder / "results.json").unlink()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"held\n"
        r = cli("sweep", "--aggregate-only", "--out", folder, "--quiet")
        assert r.status == 2 and IN_USE.search(r.err).group(1) == str(proc.pid), r.err
        assert not (folder / "results.json").exists()
    finally:
        stop(proc, signal.SIGKILL)
    r = cli("sweep", "--aggregate-only", "--out", folder, "--quiet")  # free again: it writes
    assert r.status == 0 and (folder / "results.json").is_file(), r.err
