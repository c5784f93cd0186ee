"""Writes and reads outside the folder (issue 21, group 2), and a folder touched
without its lock (group 1): real processes, real links, real renames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import run_subprocess
from tests.killing import ARGS, CONFIG, params, start_train, stop, wait_for

from backproplab.runs import LOCK
from backproplab.training import TrainConfig, run_training

pytestmark = pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="needs POSIX links")

SWEEP_ARGS = ("--limit", "200", "--epochs", "1", "--hidden", "4", "--workers", "1",
              "--threads", "1")


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (links as their target), to compare before/after."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
        else:
            out[rel] = "dir"
    return out


def one_sentence(proc: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def small_sweep(out: Path) -> Path:
    r = run_subprocess("sweep", "--out", out, "--lr", "0.1,0.2", *SWEEP_ARGS, "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def test_a_lock_that_is_a_link_is_never_followed_or_truncated(tmp_path):
    out = tmp_path / "run"
    run_training(CONFIG.replace(epochs=1), out, progress="quiet")
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    (out / LOCK).unlink()
    (out / LOCK).symlink_to(victim)
    for args in (("--out", out, "--resume", "--epochs", "2"),
                 (*ARGS, "--epochs", "1", "--out", out, "--overwrite")):
        err = one_sentence(run_subprocess("train", *args, "--quiet", timeout=120))
        assert "symbolic link" in err and str(out / LOCK) in err, err
        assert victim.read_text() == "the user's file\n"
        assert (out / LOCK).is_symlink()


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_dangling_lock_link_ends_with_one_sentence_not_a_spin(tmp_path, command):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).symlink_to(tmp_path / "gone" / "lock")
    args = (("train", *ARGS, "--epochs", "1") if command == "train"
            else ("sweep", "--lr", "0.1,0.2", *SWEEP_ARGS))
    err = one_sentence(run_subprocess(*args, "--out", out, "--quiet", timeout=60))
    assert "symbolic link" in err, err
    assert not (tmp_path / "gone").exists() and snapshot(out) == {LOCK: f"-> {tmp_path}/gone/lock"}


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("command", ["train", "sweep", "reproduce"])
def test_out_proc_self_ends_with_one_sentence(command):
    args = {"train": ("train", *ARGS, "--epochs", "1"),
            "sweep": ("sweep", "--lr", "0.1,0.2", *SWEEP_ARGS),
            "reproduce": ("reproduce", "--dataset", "synth", "--quick", "--only", "q4-synth")}
    err = one_sentence(run_subprocess(*args[command], "--out", "/proc/self", "--quiet",
                                      timeout=60))
    assert "/proc/self" in err and "not empty" in err, err


def foreign(tmp_path: Path) -> Path:
    """A folder of the user's: notes, a hidden temporary-looking file, a sub-folder."""
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me\n")
    (folder / ".draft.tmp").write_text("not backproplab's\n")
    (folder / "data" / "x.csv").write_text("1,2\n")
    return folder


@pytest.mark.parametrize("command", ["train", "train-overwrite", "sweep", "sweep-overwrite",
                                     "reproduce", "reproduce-overwrite"])
def test_a_folder_that_is_not_backproplabs_is_refused_before_anything_is_touched(
        tmp_path, command):
    folder = foreign(tmp_path)
    before = snapshot(folder)
    name = command.split("-")[0]
    args = {"train": ("train", *ARGS, "--epochs", "1"),
            "sweep": ("sweep", "--lr", "0.1,0.2", *SWEEP_ARGS),
            "reproduce": ("reproduce", "--dataset", "synth", "--quick", "--only", "q4-synth")}
    extra = ("--overwrite",) if command.endswith("overwrite") else ()
    err = one_sentence(run_subprocess(*args[name], *extra, "--out", folder, "--quiet",
                                      timeout=120))
    assert "not empty" in err and str(folder) in err, err
    assert snapshot(folder) == before  # no .lock left, the user's .tmp file still there


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    return small_sweep(tmp_path_factory.mktemp("sw") / "sweep")


def test_train_into_a_finished_sweep_or_one_of_its_trials_is_refused(finished_sweep):
    before = snapshot(finished_sweep)
    trial = next(p for p in sorted(finished_sweep.iterdir()) if p.is_dir())
    for out, why in ((finished_sweep, "holds no run"), (trial, "trial folder of the sweep")):
        for mode in ((), ("--overwrite",)):
            err = one_sentence(run_subprocess("train", *ARGS, "--epochs", "1", "--out", out,
                                              *mode, "--quiet", timeout=120))
            assert why in err, err
    err = one_sentence(run_subprocess("train", "--out", trial, "--resume", "--quiet"))
    assert "trial folder of the sweep" in err, err
    assert snapshot(finished_sweep) == before


def test_train_into_a_reproduce_folder_is_refused(tmp_path):
    folder = tmp_path / "repro"
    (folder / "presets").mkdir(parents=True)
    (folder / "reproduce.json").write_text(json.dumps({"kind": "backproplab-reproduce"}))
    (folder / "report.md").write_text("# report\n")
    before = snapshot(folder)
    err = one_sentence(run_subprocess("train", *ARGS, "--epochs", "1", "--out", folder,
                                      "--overwrite", "--quiet", timeout=120))
    assert "holds no run" in err, err
    assert snapshot(folder) == before


@pytest.mark.parametrize("how", ["parent", "absolute", "link"])
def test_trial_names_leading_outside_the_sweep_are_refused(finished_sweep, tmp_path, how):
    sweep = tmp_path / "sweep"
    subprocess.run(["cp", "-a", str(finished_sweep), str(sweep)], check=True)
    outside = tmp_path / "elsewhere"
    run_training(CONFIG.replace(epochs=1), outside, progress="quiet")
    spec = json.loads((sweep / "sweep.json").read_text())
    first = spec["trials"][0]["name"]
    if how == "link":  # the name is fine; the folder is a link to a run outside
        subprocess.run(["rm", "-r", str(sweep / first)], check=True)
        (sweep / first).symlink_to(outside)
    else:
        spec["trials"][0]["name"] = "../elsewhere" if how == "parent" else str(outside)
        (sweep / "sweep.json").write_text(json.dumps(spec))
    def files(folder: Path) -> dict:  # the sweep's own lock file takes its writer's pid
        return {k: v for k, v in snapshot(folder).items() if k != LOCK}

    before, outside_before = files(sweep), snapshot(outside)
    for args in (("--aggregate-only",), ("--lr", "0.1,0.2", *SWEEP_ARGS, "--overwrite")):
        err = one_sentence(run_subprocess("sweep", "--out", sweep, *args, "--quiet",
                                          timeout=120))
        assert "sweep.json" in err and "not a path inside" in err, err
    assert files(sweep) == before and snapshot(outside) == outside_before


HOLD_RUN = ("import sys, time\nfrom backproplab.locks import lock_folder\n"
            "lock = lock_folder(sys.argv[1], 'run')\nprint('held', flush=True)\ntime.sleep(60)\n")


def test_a_sweep_never_clears_a_trial_folder_another_process_holds(finished_sweep, tmp_path):
    """The worker takes the trial's lock before it removes anything: a trial folder
    held by another writer (a `train` that got there first) stays as it is."""
    sweep = tmp_path / "sweep"
    subprocess.run(["cp", "-a", str(finished_sweep), str(sweep)], check=True)
    trial = sweep / json.loads((sweep / "sweep.json").read_text())["trials"][1]["name"]
    (trial / "summary.json").unlink()  # unfinished: the sweep will train it again
    (trial / "status.json").unlink()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(trial)],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        before = snapshot(trial)
        r = run_subprocess("sweep", "--out", sweep, "--lr", "0.1,0.2", *SWEEP_ARGS, "--quiet",
                           timeout=120)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"pid {holder.pid}" in r.stderr and str(trial) in r.stderr, r.stderr
        assert snapshot(trial) == before
    finally:
        stop(holder, signal.SIGKILL)


def same_seed_weights(out: Path, tmp_path: Path, epochs: int) -> int:
    """The folder is one run: its config's seed retrains exactly its weights."""
    seed = TrainConfig.from_json(out / "config.json").seed
    ref = tmp_path / f"ref{seed}"
    run_training(CONFIG.replace(seed=seed, epochs=epochs), ref, progress="quiet")
    a, b = params(ref / "model.npz"), params(out / "model.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return seed


def test_a_run_folder_moved_while_it_trains_is_not_recreated(tmp_path):
    out, moved = tmp_path / "run", tmp_path / "moved"
    args = [a for a in ARGS if a not in ("--seed", "3")]
    first = start_train(*args, "--seed", "21", "--epochs", "3", "--out", out, sleep=0.01)
    try:
        wait_for(out / "checkpoint.npz", first)
        out.rename(moved)
        # a second writer takes the free path at once
        second = start_train(*args, "--seed", "22", "--epochs", "2", "--out", out, sleep=0)
        code_first = first.wait(timeout=120)
        err_first = first.stderr.read().decode()
        assert second.wait(timeout=120) == 0, second.stderr.read().decode()
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                stop(proc, signal.SIGKILL)
    assert code_first == 2 and err_first.count("\n") == 1, err_first
    assert "was moved or deleted" in err_first and str(out) in err_first, err_first
    # each folder is one run: the second's config and weights agree, the first
    # stopped in its moved folder without a model
    assert same_seed_weights(out, tmp_path, 2) == 22
    assert TrainConfig.from_json(moved / "config.json").seed == 21
    assert not (moved / "model.npz").exists() and not (moved / "summary.json").exists()
    metrics = [json.loads(x) for x in (moved / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, len(metrics) + 1))


def test_a_run_folder_deleted_while_it_trains_is_not_recreated(tmp_path):
    out = tmp_path / "run"
    proc = start_train(*ARGS, "--out", out, sleep=0.01)
    try:
        wait_for(out / "checkpoint.npz", proc)
        subprocess.run(["rm", "-rf", str(out)], check=True)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            stop(proc, signal.SIGKILL)
    err = proc.stderr.read().decode()
    assert code == 2 and err.count("\n") == 1 and "was moved or deleted" in err, err
    time.sleep(0.1)
    assert not out.exists()
