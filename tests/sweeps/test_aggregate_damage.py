"""Aggregation reports damage instead of hiding it: a real sweep of six trials,
then a garbage ``metrics.jsonl`` in one trial and a broken ``summary.json`` in
another. Before, ``sweep --aggregate-only`` exited 0 ("aggregated 6 finished
trial(s)"), listed both as ok, and one group silently had one seed and an
empty final result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backproplab.sweeps import Sweep, run_sweep
from backproplab.training import TrainConfig

SWEEP = Sweep(TrainConfig(limit=200, epochs=1, hidden=(4,)), {"lr": [0.1, 0.2]}, [0, 1, 2])
GARBAGE = "lr=0.1_seed=1"      # metrics.jsonl replaced by garbage
BROKEN = "lr=0.1_seed=2"       # summary.json cut in the middle


def load(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    out = tmp_path / "sweep"
    assert run_sweep(SWEEP, out, workers=1, progress="quiet").ok
    (out / GARBAGE / "metrics.jsonl").write_text("garbage \x00 not json\nmore garbage\n")
    text = (out / BROKEN / "summary.json").read_text()
    (out / BROKEN / "summary.json").write_text(text[: len(text) // 2])
    return out


def test_aggregate_only_marks_damaged_trials_failed_and_exits_1(damaged: Path, cli):
    r = cli("sweep", "--aggregate-only", "--out", damaged, "--json")
    assert r.status == 1
    # --json: the table goes to stderr too; the verdict is its one "backproplab:" line
    err = [line for line in r.err.splitlines() if line.startswith("backproplab:")]
    assert len(err) == 1 and "Traceback" not in r.err
    assert len(r.out.strip().splitlines()) == 1  # stdout: the JSON line only
    assert "results are incomplete: 2 of 6 trial(s) not aggregated" in err[0]
    assert f"{GARBAGE} (failed: " in err[0] and "metrics.jsonl is damaged" in err[0]
    assert f"{BROKEN} (failed: " in err[0] and "summary.json is damaged" in err[0]
    assert "aggregated 4 finished trial(s) into 2 group(s)" in r.err
    summary = r.json()
    assert (summary["ok"], summary["failed"], summary["complete"]) == (4, 2, False)

    results = load(damaged / "results.json")
    status = {t["name"]: t for t in results["trials"]}
    assert status[GARBAGE]["status"] == status[BROKEN]["status"] == "failed"
    assert "metrics.jsonl is damaged: line 1 is not JSON" in status[GARBAGE]["error"]
    assert "summary.json is damaged (not a JSON object)" in status[BROKEN]["error"]
    assert sum(t["status"] == "ok" for t in results["trials"]) == 4
    assert results["complete"] is False and results["counts"]["failed"] == 2

    low, high = results["groups"]
    assert (low["label"], low["n"], low["seeds"]) == ("lr=0.1", 1, [0])
    assert low["missing"] == [{"trial": GARBAGE, "seed": 1, "status": "failed"},
                              {"trial": BROKEN, "seed": 2, "status": "failed"}]
    assert low["final"]["n"] == 1 and low["final"]["eval_loss"]["n"] == 1  # not empty
    assert (high["label"], high["n"], high["seeds"], high["missing"]) == \
        ("lr=0.2", 3, [0, 1, 2], [])


def test_whole_results_still_exit_0(tmp_path: Path, cli):
    out = tmp_path / "sweep"
    assert run_sweep(SWEEP, out, workers=1, progress="quiet").ok
    r = cli("sweep", "--aggregate-only", "--out", out, "--json")
    assert r.status == 0 and "backproplab:" not in r.err
    assert r.json()["complete"] is True
    assert all(g["missing"] == [] and g["n"] == 3 for g in load(out / "results.json")["groups"])


def test_rerun_trains_the_broken_trial_again_and_reports_the_rest(damaged: Path, cli):
    # the normal path: the trial without a readable summary trains again; the
    # finished trial with garbage logs is not retrained, but no longer passes for ok
    r = cli("sweep", "--limit", "200", "--epochs", "1", "--hidden", "4", "--lr", "0.1,0.2",
            "--seeds", "3", "--workers", "1", "--out", damaged, "--json", "--quiet")
    assert r.status == 1
    assert r.json()["failed"] == 0 and r.json()["ok"] == 1 and r.json()["skipped"] == 5
    err = r.err.strip().splitlines()
    assert len(err) == 1 and GARBAGE in err[0] and BROKEN not in err[0]
    assert "metrics.jsonl is damaged" in err[0]
    results = load(damaged / "results.json")
    assert results["groups"][0]["seeds"] == [0, 2]
    assert isinstance(load(damaged / BROKEN / "summary.json"), dict)


def test_a_damaged_config_is_a_failed_trial_not_one_that_never_started(tmp_path: Path, cli):
    out = tmp_path / "sweep"
    assert run_sweep(SWEEP, out, workers=1, progress="quiet").ok
    victim = "lr=0.2_seed=1"
    (out / victim / "config.json").write_text('{"dataset": "synth", "lr"')  # cut short
    r = cli("sweep", "--aggregate-only", "--out", out, "--json")
    assert r.status == 1 and "Traceback" not in r.err
    assert f"{victim} (failed: " in r.err and "config.json is damaged" in r.err
    trials = {t["name"]: t for t in load(out / "results.json")["trials"]}
    assert trials[victim]["status"] == "failed"
    assert "config.json is damaged (not a JSON object)" in trials[victim]["error"]
    group = next(g for g in load(out / "results.json")["groups"] if g["values"]["lr"] == 0.2)
    assert group["n"] == 2 and group["missing"] == [
        {"trial": victim, "seed": 1, "status": "failed"}]
