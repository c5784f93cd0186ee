"""``backproplab sweep`` end to end: real small sweeps on synth, bad input,
aggregation only, and a worker process killed in the middle of a trial."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backproplab import tensor

SMALL = ("--limit", "2000", "--epochs", "2", "--hidden", "8")


def load(path: Path):
    return json.loads(path.read_text())


def test_sweep_runs_aggregates_and_skips_on_rerun(cli, tmp_path):
    out = tmp_path / "sweep"
    args = ("sweep", *SMALL, "--lr", "0.1,0.3", "--seeds", "2", "--workers", "2",
            "--out", out, "--json")
    r = cli(*args)
    assert r.status == 0, r.err
    summary = r.json()
    assert summary == {**summary, "sweep_dir": str(out), "trials": 4, "ok": 4, "failed": 0,
                       "skipped": 0, "results": str(out / "results.json")}
    # --json: progress lines and the table on stderr, stdout holds only the JSON line
    assert "lr=0.1_seed=1" in r.err and "sweep results" in r.err
    assert len(r.out.splitlines()) == 1
    results = load(out / "results.json")
    assert [(g["label"], g["seeds"]) for g in results["groups"]] == [
        ("lr=0.1", [0, 1]), ("lr=0.3", [0, 1])]
    assert (out / "results.csv").read_text().count("\n") == 1 + 4

    stamp = (out / "lr=0.3_seed=1" / "summary.json").stat().st_mtime_ns
    r = cli(*args, "--quiet")
    assert r.status == 0 and r.json()["skipped"] == 4 and r.json()["ok"] == 0
    assert r.out.strip().count("\n") == 0  # --quiet: only the JSON line
    assert (out / "lr=0.3_seed=1" / "summary.json").stat().st_mtime_ns == stamp


def test_failing_trial_gives_status_1_and_names_it(cli, tmp_path):
    out = tmp_path / "sweep"
    r = cli("sweep", "--limit", "300", "--epochs", "1", "--lr", "0.1,1e30", "--workers", "2",
            "--out", out, "--json")
    assert r.status == 1
    assert r.json()["failed_trials"] == ["lr=1e+30_seed=0"] and r.json()["ok"] == 1
    assert "lr=1e+30_seed=0: DivergenceError" in r.err and "Traceback" not in r.err
    assert load(out / "lr=1e+30_seed=0" / "status.json")["status"] == "failed"
    assert load(out / "results.json")["groups"][0]["label"] == "lr=0.1"


def test_a_failed_trial_names_the_settings_by_their_flags(cli, tmp_path, monkeypatch):
    from backproplab.errors import BackproplabError
    from backproplab.sweeps import executors

    def refuse(config, out_dir, **kw):  # --workers 1 runs trials in this process
        raise BackproplabError("the step schedule gives the rate 0.0 for epoch 2; check "
                               "lr_gamma, lr_min (lr_schedule='step')",
                               settings=("lr_gamma", "lr_min"))

    monkeypatch.setattr(executors, "run_training", refuse)
    r = cli("sweep", *SMALL, "--workers", "1", "--out", tmp_path / "s", "--json")
    assert r.status == 1 and r.json()["failed"] == 1
    assert ("seed=0: BackproplabError: the step schedule gives the rate 0.0 for epoch 2; "
            "check --lr-gamma, --lr-min (--lr-schedule step) (see " in r.err)


def test_hidden_alternatives_use_semicolons_or_repeated_flags(cli, tmp_path):
    r = cli("sweep", "--limit", "200", "--epochs", "1", "--hidden", "4;3,2", "--hidden", "5",
            "--workers", "1", "--out", tmp_path / "h", "--json", "--quiet")
    assert r.status == 0, r.err
    names = [t["name"] for t in load(tmp_path / "h" / "sweep.json")["trials"]]
    assert names == ["hidden=4_seed=0", "hidden=3-2_seed=0", "hidden=5_seed=0"]
    assert load(tmp_path / "h" / "hidden=3-2_seed=0" / "config.json")["hidden"] == [3, 2]


@pytest.mark.parametrize("args, message", [
    (("--lr", ""), "--lr got an empty value list"),
    (("--lr", "0.1,,x"), "has an empty item"),
    (("--lr", "0.1,x"), "--lr must be a number, got 'x'"),
    (("--threads", "two"), "--threads must be an integer, got 'two'"),
    (("--lr", "0.1,-1"), "lr must be a positive number"),
    (("--batch-size", "16,zero"), "--batch-size must be a positive integer or 'full'"),
    (("--hidden", "300;;"), "has an empty item"),
    (("--epochs", "1,1"), "the sweep option --epochs lists 1 twice"),
    (("--batch-size", "16", "--batch-size", "16"), "the sweep option --batch-size lists 16 twice"),
    (("--seeds", "0"), "--seeds must be a positive number"),
    (("--seeds", "three"), "--seeds must be a positive number"),
    (("--seed-list", "0,,1"), "has an empty item"),
    (("--seed-list", "0,0"), "repeats a seed"),
    (("--activation", "sigmoid,swish"), "unknown activation 'swish'"),
    (("--workers", "0"), "--workers must be a positive integer"),
    (("--executor", "slurm"), "unknown executor 'slurm'"),
])
def test_bad_input_is_one_sentence_and_status_2(cli, tmp_path, args, message):
    out = tmp_path / "never"
    r = cli("sweep", "--out", out, *args)
    assert r.status == 2
    assert message in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written before the input is checked


def test_unknown_option_and_missing_out_are_usage_errors(cli, tmp_path):
    r = cli("sweep", "--out", tmp_path / "x", "--learning-rate", "0.1")
    assert r.status == 2 and "unrecognized arguments: --learning-rate" in r.err
    r = cli("sweep", "--lr", "0.1")
    assert r.status == 2 and "--out" in r.err


def test_different_sweep_needs_overwrite_and_aggregate_only(cli, tmp_path):
    out = tmp_path / "s"
    base = ("sweep", "--limit", "200", "--epochs", "1", "--workers", "1", "--out", out)
    assert cli(*base, "--lr", "0.1,0.2", "--quiet").status == 0
    r = cli(*base, "--lr", "0.1,0.3")
    assert r.status == 2 and "holds a different sweep" in r.err and "--overwrite" in r.err
    r = cli(*base, "--lr", "0.1,0.3", "--overwrite", "--json", "--quiet")
    assert r.status == 0 and r.json()["ok"] == 2
    assert not (out / "lr=0.2_seed=0").exists()

    (out / "results.json").unlink()
    (out / "results.csv").unlink()
    r = cli("sweep", "--aggregate-only", "--out", out, "--json")
    assert r.status == 0, r.err
    assert r.json()["groups"] == 2 and r.json()["ok"] == 2
    assert (out / "results.csv").is_file() and "sweep results" in r.err
    assert load(out / "results.json")["varying"] == ["lr"]

    r = cli("sweep", "--aggregate-only", "--out", out, "--lr", "0.5")
    assert r.status == 2 and "drop --lr" in r.err
    r = cli("sweep", "--aggregate-only", "--out", tmp_path / "missing")
    assert r.status == 2 and "does not exist" in r.err


def test_rich_progress_display(tmp_path):
    from rich.console import Console

    from backproplab.sweeps import Sweep, run_sweep
    from backproplab.training import TrainConfig

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    sweep = Sweep(TrainConfig(limit=200, epochs=1, hidden=(4,)), {"lr": [0.1, 1e30]}, [0])
    outcome = run_sweep(sweep, tmp_path, workers=1, progress="rich", console=console)
    text = buf.getvalue()
    assert outcome.count("failed") == 1
    assert "trials" in text and "2/2" in text and "failed 1" in text
    assert "FAILED lr=1e+30_seed=0" in text


# ---------------------------------------------------------------------------
# a worker process killed during a trial


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(entry))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_worker_trial_is_retried_and_matches_an_undisturbed_run(tmp_path):
    from backproplab.sweeps import Sweep, run_sweep
    from backproplab.training import TrainConfig

    options = ["--limit", "1000", "--epochs", "3", "--hidden", "8", "--lr", "0.1,0.2"]
    out = tmp_path / "killed"
    env = dict(os.environ, BACKPROPLAB_TEST_BATCH_SLEEP="0.004")  # ~0.75 s per trial
    proc = subprocess.Popen(
        [sys.executable, "-m", "backproplab", "sweep", *options, "--workers", "2",
         "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        victim = None
        while time.monotonic() < deadline and victim is None and proc.poll() is None:
            started = list(out.glob("*/batches.jsonl"))
            workers = _children(proc.pid)
            if started and len(workers) == 2:
                victim = workers[0]
            else:
                time.sleep(0.05)
        if victim is None:
            proc.kill()
            pytest.fail(f"the sweep never ran two workers: {proc.communicate()[1][-2000:]}")
        time.sleep(0.3)  # well inside the trials
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["ok"] == 2 and result["failed"] == 0
    assert "retrying" in stderr
    statuses = [load(out / f"lr={lr}_seed=0" / "status.json") for lr in (0.1, 0.2)]
    assert max(s["attempts"] for s in statuses) == 2

    # the retried trials end exactly where undisturbed ones do
    ref = tmp_path / "ref"
    sweep = Sweep(TrainConfig(limit=1000, epochs=3, hidden=(8,)), {"lr": [0.1, 0.2]}, [0])
    assert run_sweep(sweep, ref, workers=1, progress="quiet").ok
    for name in sweep.trial_names():
        got = tensor.MLP.load(out / name / "model.npz").params
        want = tensor.MLP.load(ref / name / "model.npz").params
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        assert load(out / name / "summary.json")["eval_loss"] == \
            load(ref / name / "summary.json")["eval_loss"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_interrupted_sweep_stops_its_workers_and_resumes(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "backproplab", "sweep", "--limit", "1000", "--epochs", "3",
           "--hidden", "8", "--lr", "0.1,0.2", "--workers", "2", "--out", str(out)]
    env = dict(os.environ, BACKPROPLAB_TEST_BATCH_SLEEP="0.01")  # ~0.6 s per epoch
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*/checkpoint.npz")) and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.05)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in stderr
    time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()
             and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, "worker processes outlived the interrupted sweep"
    assert not list(out.glob("*/summary.json"))

    r = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["ok"] == 2
    assert any(load(f)["resumed"] for f in out.glob("*/status.json"))
