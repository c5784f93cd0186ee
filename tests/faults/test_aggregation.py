"""Aggregation proves completeness (issue 21, group 1): a trial counts only when its
metrics cover exactly epochs 1..N of its config, once each, with finite numbers,
and agree with its summary and checkpoint. Anything else fails the trial with
the reason; the group's seed count is the seeds actually averaged."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import run_subprocess
from tests.faults.damage import FAULTS, edit_checkpoint

from backproplab.sweeps.aggregate import aggregate_sweep
from backproplab.tensor import MLP
from backproplab.training import TrainConfig

TRIAL = "lr=0.1_seed=1"   # the trial damaged
OTHER = "lr=0.1_seed=0"   # the one left beside it in its group


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("agg") / "sweep"
    r = run_subprocess("sweep", "--out", out, "--lr", "0.1,0.2", "--seeds", "2", "--limit",
                       "200", "--epochs", "3", "--hidden", "4", "--workers", "1",
                       "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def set_metric(text: str, key: str, value: str) -> str:
    row = json.loads(text)
    return json.dumps(row).replace(f'"{key}": {json.dumps(row[key])}', f'"{key}": {value}') + "\n"


def _cut(d):          # metrics.jsonl cut after epoch 1 (summary and all else intact)
    (d / "metrics.jsonl").write_text(lines(d / "metrics.jsonl")[0])


def _value(value):
    def edit(d):
        rows = lines(d / "metrics.jsonl")
        rows[2] = set_metric(rows[2], "eval_accuracy", value)
        (d / "metrics.jsonl").write_text("".join(rows))
    return edit


def _append(d):       # another run's epoch line appended
    rows = lines(d / "metrics.jsonl")
    extra = json.loads(rows[-1])
    extra["epoch"] = 4
    (d / "metrics.jsonl").write_text("".join(rows) + json.dumps(extra) + "\n")


def _duplicate(d):    # epoch 2 twice
    rows = lines(d / "metrics.jsonl")
    (d / "metrics.jsonl").write_text("".join(rows[:2] + rows[1:]))


def _summary(d):
    s = json.loads((d / "summary.json").read_text())
    s["eval_accuracy"] = 0.999
    (d / "summary.json").write_text(json.dumps(s))


def _checkpoint(d):
    edit_checkpoint(d / "checkpoint.npz", lambda a, e, o: e.update(epoch=2))


def _batches(d):
    (d / "batches.jsonl").write_text("".join(lines(d / "batches.jsonl")[:-1]))


def _other_run(d):    # the folder holds a run of another seed (e.g. a train that got in)
    c = json.loads((d / "config.json").read_text())
    c["seed"] = 7
    (d / "config.json").write_text(json.dumps(c))


DAMAGE = {
    "metrics cut after epoch 1": (_cut, "not exactly epochs 1 to 3"),
    "NaN accuracy": (_value("NaN"), "no finite number for eval_accuracy"),
    "string accuracy": (_value('"0.93"'), "no finite number for eval_accuracy"),
    "null accuracy": (_value("null"), "no finite number for eval_accuracy"),
    "infinite accuracy": (_value("Infinity"), "no finite number for eval_accuracy"),
    "epoch line appended": (_append, "not exactly epochs 1 to 3"),
    "epoch line duplicated": (_duplicate, "not exactly epochs 1 to 3"),
    "summary disagrees": (_summary, "disagrees with epoch 3"),
    "checkpoint of another epoch": (_checkpoint, "not the summary's epoch 3"),
    "a step missing": (_batches, "not hold exactly steps"),
    "config of another run": (_other_run, "other values than sweep.json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_trial_that_is_not_provably_whole_fails_with_its_reason(real_sweep, tmp_path,
                                                                   damage):
    sweep = tmp_path / "sweep"
    shutil.copytree(real_sweep, sweep)
    keep = json.loads((sweep / OTHER / "summary.json").read_text())["eval_accuracy"]
    edit, why = DAMAGE[damage]
    edit(sweep / TRIAL)
    r = run_subprocess("sweep", "--aggregate-only", "--out", sweep, "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "results are incomplete" in r.stderr and TRIAL in r.stderr, r.stderr
    res = json.loads((sweep / "results.json").read_text())
    assert res["complete"] is False and res["counts"]["ok"] == 3
    trial = next(t for t in res["trials"] if t["name"] == TRIAL)
    assert trial["status"] == "failed" and why in trial["error"], trial
    assert str(sweep / TRIAL) in trial["error"]
    group = next(g for g in res["groups"] if g["values"] == {"lr": 0.1})
    # the table's seed count is the seeds averaged: one, with its own value
    assert group["n"] == 1 and group["seeds"] == [0] and group["trials"] == [OTHER]
    assert group["final"]["eval_accuracy"]["mean"] == keep
    assert group["final"]["eval_accuracy"]["n"] == 1
    assert group["missing"] == [{"trial": TRIAL, "seed": 1, "status": "failed"}]


def test_an_intact_sweep_and_a_cleaned_checkpoint_stay_complete(real_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(real_sweep, sweep)
    (sweep / TRIAL / "checkpoint.npz").unlink()  # a user freeing space: nothing disagrees
    res = aggregate_sweep(sweep, write=False)
    assert res["complete"] is True and [g["n"] for g in res["groups"]] == [2, 2]


# ---------------------------------------------------------------------------
# the property: random sweep folders with damage never give a wrong mean


def write_trial(root: Path, name: str, config: dict, accs: list[float]) -> None:
    """A finished trial as training writes it: 1 step per epoch, a checkpoint."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    rows = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": a, "eval_loss": 1.0 - a,
             "eval_accuracy": a, "train_seconds": 0.1, "eval_seconds": 0.1, "lr": config["lr"],
             "steps": e} for e, a in enumerate(accs, 1)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "batches.jsonl").write_text("".join(
        json.dumps({"epoch": e, "step": e, "loss": 1.0 / e}) + "\n" for e in range(1, len(accs) + 1)))
    last = rows[-1]
    (d / "summary.json").write_text(json.dumps({
        **{k: last[k] for k in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy")},
        "eval_split": "validation", "epochs": len(accs), "seconds": 1.0, "steps": len(accs),
        "run_dir": str(d), "stopped_reason": "epochs"}))
    MLP([2, 2], seed=0).save(d / "checkpoint.npz", extra={"epoch": len(accs),
                                                           "steps": len(accs)})


def _rewrite(path: Path, change) -> None:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows = change(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


#: damage that changes what a trial says: name -> edit(trial folder, draw)
HARMFUL = {
    "cut": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: rows[:-1]),
    "duplicate": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: rows + rows[-1:]),
    "append": lambda d, r: _rewrite(d / "metrics.jsonl",
                                    lambda rows: [*rows, {**rows[-1], "epoch": len(rows) + 1}]),
    "nan": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: [
        {**x, "eval_accuracy": math.nan} if i == r % len(rows) else x
        for i, x in enumerate(rows)]),
    "string": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: [
        {**x, "eval_accuracy": str(x["eval_accuracy"])} if i == r % len(rows) else x
        for i, x in enumerate(rows)]),
    "value": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: [  # the last epoch's
        {**x, "eval_accuracy": x["eval_accuracy"] + 0.5}
        if x["epoch"] == max(y["epoch"] for y in rows) else x for x in rows]),
    "summary": lambda d, r: (d / "summary.json").write_text(json.dumps(
        {**json.loads((d / "summary.json").read_text()), "eval_accuracy": -1.0})),
    "summary epochs": lambda d, r: (d / "summary.json").write_text(json.dumps(
        {**(s := json.loads((d / "summary.json").read_text())), "epochs": s["epochs"] + 1})),
    "checkpoint": lambda d, r: edit_checkpoint(d / "checkpoint.npz",
                                               lambda a, e, o: e.update(epoch=e["epoch"] + 1)),
    "batches": lambda d, r: _rewrite(d / "batches.jsonl", lambda rows: rows[1:]),
    "seed": lambda d, r: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "seed": 100 + r})),
    "epochs": lambda d, r: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "epochs": 10 + r})),
}
#: damage that changes nothing a trial says
HARMLESS = {
    "reorder": lambda d, r: _rewrite(d / "metrics.jsonl", lambda rows: rows[::-1]),
    "no checkpoint": lambda d, r: (d / "checkpoint.npz").unlink(),
    "no status": lambda d, r: (d / "status.json").unlink(missing_ok=True),
}
#: damage that removes a trial from the results outright
GONE = {
    "no summary": lambda d, r: (d / "summary.json").unlink(),
    "no folder": lambda d, r: shutil.rmtree(d),
}
ALL = {**HARMFUL, **HARMLESS, **GONE}


@st.composite
def damaged_sweeps(draw):
    lrs = draw(st.lists(st.sampled_from([0.01, 0.03, 0.1, 0.3]), min_size=1, max_size=3,
                        unique=True))
    seeds = list(range(draw(st.integers(1, 4))))
    epochs = draw(st.integers(1, 3))
    acc = st.floats(0.0, 1.0, allow_nan=False, width=32).map(float)
    accs = {(lr, s): draw(st.lists(acc, min_size=epochs, max_size=epochs))
            for lr in lrs for s in seeds}
    # some harmless edits, then at most one that changes what the trial says (two could
    # cancel out: a line appended, then cut)
    damage = {key: [*draw(st.lists(st.sampled_from(sorted(HARMLESS)), max_size=2, unique=True)),
                    *draw(st.lists(st.sampled_from(sorted({**HARMFUL, **GONE})), max_size=1))]
              for key in accs if draw(st.booleans())}
    return lrs, seeds, epochs, accs, damage, draw(st.integers(0, 1000))


@FAULTS
@given(damaged_sweeps())
def test_aggregation_never_reports_a_wrong_mean(case):
    lrs, seeds, epochs, accs, damage, r = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sweep"
        base = TrainConfig(hidden=(2,), epochs=epochs, limit=100).to_dict()
        names = {key: f"lr={key[0]}_seed={key[1]}" for key in accs}
        for (lr, seed), values in accs.items():
            write_trial(root, names[lr, seed], {**base, "lr": lr, "seed": seed}, values)
        (root / "sweep.json").write_text(json.dumps({
            "format": 1, "kind": "backproplab-sweep", "base": base, "grid": {"lr": lrs},
            "seeds": seeds, "trials": [{"name": names[k], "values": {"lr": k[0], "seed": k[1]}}
                                       for k in accs]}))
        gone = set()
        for key, ops in damage.items():
            folder = root / names[key]
            for op in ops:
                try:
                    ALL[op](folder, r)
                except (OSError, TypeError):  # the file is gone, or no longer a number
                    continue
                if op in HARMFUL or op in GONE:
                    gone.add(names[key])
        res = aggregate_sweep(root, write=False)

    status = {t["name"]: t for t in res["trials"]}
    counted = set()
    for group in res["groups"]:
        lr = group["values"]["lr"]
        assert group["trials"] and len(group["seeds"]) == group["n"] == len(group["trials"])
        assert set(group["trials"]).isdisjoint(gone), (group["trials"], damage)
        want = [accs[lr, seed][-1] for seed in group["seeds"]]
        final = group["final"]["eval_accuracy"]
        assert final["n"] == group["n"] and final["values"] == want
        assert final["mean"] == pytest.approx(float(np.mean(want)), rel=1e-12, abs=1e-15)
        counted |= set(group["trials"])
    # every trial is counted (whole, ok) or reported with why it is not
    for name in names.values():
        assert (name in counted) == (status[name]["status"] == "ok"), status[name]
        if name in gone and status[name]["status"] == "failed":
            assert status[name]["error"]
    assert counted == set(names.values()) - gone
    assert res["complete"] is (not gone)
