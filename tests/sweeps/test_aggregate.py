"""Aggregation against hand-computed means and sample standard deviations,
on hand-written run folders (no training involved)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from backproplab.errors import BackproplabError
from backproplab.sweeps.aggregate import aggregate_sweep, group_key
from backproplab.sweeps.power import mean_std
from backproplab.sweeps.tables import results_table


def write_run(root: Path, name: str, config: dict, epochs: list[dict], batches: list[dict],
              *, finished: bool = True, status: dict | None = None) -> Path:
    """A run folder as the training code writes it."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    (d / "batches.jsonl").write_text("".join(json.dumps(r) + "\n" for r in batches))
    if finished:
        last = epochs[-1]
        (d / "summary.json").write_text(json.dumps({
            "train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
            "eval_loss": last["eval_loss"], "eval_accuracy": last["eval_accuracy"],
            "eval_split": "validation", "epochs": len(epochs),
            "seconds": 10.0 * (1 + config["seed"]), "run_dir": str(d)}))
    if status is not None:
        (d / "status.json").write_text(json.dumps(status))
    return d


def epoch_row(epoch, train_loss, eval_loss, eval_acc, lr):
    return {"epoch": epoch, "train_loss": train_loss, "train_accuracy": 1 - train_loss / 2,
            "eval_loss": eval_loss, "eval_accuracy": eval_acc, "train_seconds": 1.0,
            "eval_seconds": 0.5, "lr": lr}


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """Two learning rates x three seeds; lr=0.1 seed 2 failed (no summary)."""
    root = tmp_path / "sweep"
    base = {"dataset": "synth", "hidden": [8], "lr": None, "batch_size": 16, "epochs": 2,
            "seed": 0, "threads": 1}
    # lr=0.01: eval accuracy at epoch 2 over seeds 0,1,2 = 0.90, 0.92, 0.97
    data = {
        (0.01, 0): ([0.70, 0.50], [0.60, 0.40], [0.80, 0.90], [1.0, 0.8]),
        (0.01, 1): ([0.72, 0.54], [0.62, 0.44], [0.82, 0.92], [1.2, 0.6]),
        (0.01, 2): ([0.74, 0.46], [0.64, 0.39], [0.84, 0.97], [1.4, 0.7]),
        (0.1, 0): ([0.60, 0.30], [0.50, 0.35], [0.85, 0.95], [0.9, 0.5]),
        (0.1, 1): ([0.62, 0.34], [0.52, 0.33], [0.86, 0.93], [1.1, 0.4]),
    }
    for (lr, seed), (tl, el, ea, bl) in data.items():
        cfg = dict(base, lr=lr, seed=seed, threads=1 + seed)  # threads must not split groups
        epochs = [epoch_row(e + 1, tl[e], el[e], ea[e], lr) for e in range(2)]
        batches = [{"epoch": 1, "step": 1, "loss": bl[0]}, {"epoch": 2, "step": 2, "loss": bl[1]}]
        write_run(root, f"lr={lr}_seed={seed}", cfg, epochs, batches,
                  status={"status": "ok", "seconds": 1.0})
    write_run(root, "lr=0.1_seed=2", dict(base, lr=0.1, seed=2),
              [epoch_row(1, 0.6, 0.5, 0.8, 0.1)], [{"epoch": 1, "step": 1, "loss": 9.0}],
              finished=False, status={"status": "failed", "error": "DivergenceError: boom"})
    names = [f"lr={lr}_seed={s}" for lr in (0.01, 0.1) for s in range(3)]
    (root / "sweep.json").write_text(json.dumps({
        "format": 1, "kind": "backproplab-sweep", "base": base,
        "grid": {"lr": [0.01, 0.1]}, "seeds": [0, 1, 2],
        "trials": [{"name": n, "values": {}} for n in names] + [
            {"name": "lr=0.3_seed=0", "values": {}}],
    }))
    return root


def sample_std(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def test_mean_std_is_sample_std():
    assert mean_std([1.0, 2.0, 4.0])[:2] == pytest.approx((7 / 3, math.sqrt(7 / 3)))
    mean, std, n = mean_std([5.0])
    assert (mean, n) == (5.0, 1) and math.isnan(std)
    mean, std, n = mean_std([float("nan"), None, 2.0, 4.0])
    assert (mean, std, n) == (3.0, pytest.approx(math.sqrt(2)), 2)
    mean, std, n = mean_std([None, True, float("inf")])  # nothing finite: no statistic
    assert n == 0 and math.isnan(mean) and math.isnan(std)


def test_groups_epochs_and_final_match_hand_computation(sweep_dir: Path):
    res = aggregate_sweep(sweep_dir)
    assert res["varying"] == ["lr"]
    labels = [g["label"] for g in res["groups"]]
    assert labels == ["lr=0.01", "lr=0.1"]
    g1, g2 = res["groups"]
    assert g1["seeds"] == [0, 1, 2] and g2["seeds"] == [0, 1]
    assert g1["trials"] == ["lr=0.01_seed=0", "lr=0.01_seed=1", "lr=0.01_seed=2"]

    e2 = g1["epochs"][1]
    assert e2["epoch"] == 2 and e2["n"] == 3
    # eval accuracy at epoch 2: 0.90, 0.92, 0.97 -> mean 0.93, sample std
    # sqrt(((-.03)^2 + (-.01)^2 + .04^2) / 2) = sqrt(0.0013) = 0.0360555...
    assert e2["eval_accuracy"]["mean"] == pytest.approx(0.93, abs=1e-15)
    assert e2["eval_accuracy"]["std"] == pytest.approx(math.sqrt(0.0013), rel=1e-12)
    assert e2["eval_loss"]["mean"] == pytest.approx((0.40 + 0.44 + 0.39) / 3, rel=1e-15)
    assert e2["eval_loss"]["std"] == pytest.approx(sample_std([0.40, 0.44, 0.39]), rel=1e-12)
    e1 = g1["epochs"][0]
    assert e1["train_loss"]["mean"] == pytest.approx(0.72, rel=1e-15)
    assert e1["train_loss"]["std"] == pytest.approx(0.02, rel=1e-12)
    assert e1["lr"] == {"mean": 0.01, "std": 0.0, "n": 3, "ci95": [0.01, 0.01]}
    # two seeds: std of (0.95, 0.93) = |0.95-0.93| / sqrt(2)
    f2 = g2["final"]
    assert f2["n"] == 2 and f2["epochs"] == [2]
    assert f2["eval_accuracy"]["mean"] == pytest.approx(0.94, rel=1e-14)
    assert f2["eval_accuracy"]["std"] == pytest.approx(0.02 / math.sqrt(2), rel=1e-12)
    # seconds from summary.json: 10 * (1 + seed)
    assert g1["final"]["seconds"]["mean"] == pytest.approx(20.0)
    assert g1["final"]["seconds"]["std"] == pytest.approx(10.0)


def test_batch_steps_are_aggregated_per_epoch_and_step(sweep_dir: Path):
    g1, g2 = aggregate_sweep(sweep_dir, write=False)["groups"]
    b = g1["batches"]
    assert b["epoch"] == [1, 2] and b["step"] == [1, 2] and b["n"] == [3, 3]
    assert b["loss_mean"] == pytest.approx([1.2, 0.7], rel=1e-14)
    assert b["loss_std"] == pytest.approx([0.2, 0.1], rel=1e-12)
    # the failed run's batch (loss 9.0) is not part of the lr=0.1 group
    assert g2["batches"]["loss_mean"] == pytest.approx([1.0, 0.45], rel=1e-14)


def test_trial_statuses_and_outputs(sweep_dir: Path):
    res = aggregate_sweep(sweep_dir)
    status = {t["name"]: t["status"] for t in res["trials"]}
    assert status["lr=0.1_seed=2"] == "failed"
    assert status["lr=0.3_seed=0"] == "not started"
    assert res["counts"] == {"ok": 5, "failed": 1, "incomplete": 0, "not started": 1}
    failed = next(t for t in res["trials"] if t["name"] == "lr=0.1_seed=2")
    assert failed["error"] == "DivergenceError: boom"
    assert "ddof=1" in res["std"]

    on_disk = json.loads((sweep_dir / "results.json").read_text())
    assert on_disk["groups"][0]["epochs"][1]["eval_accuracy"]["mean"] == pytest.approx(0.93)
    with open(sweep_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4  # 2 groups x 2 epochs
    assert [(r["lr"], r["epoch"], r["n"]) for r in rows] == [
        ("0.01", "1", "3"), ("0.01", "2", "3"), ("0.1", "1", "2"), ("0.1", "2", "2")]
    assert float(rows[1]["eval_accuracy_mean"]) == pytest.approx(0.93)
    assert float(rows[1]["eval_accuracy_std"]) == pytest.approx(math.sqrt(0.0013))
    with open(sweep_dir / "results_batches.csv", newline="") as fh:
        brows = list(csv.DictReader(fh))
    assert len(brows) == 4 and float(brows[0]["loss_mean"]) == pytest.approx(1.2)


def test_single_seed_std_is_null(tmp_path: Path):
    root = tmp_path / "s"
    cfg = {"lr": 0.1, "seed": 0}
    write_run(root, "only", cfg, [epoch_row(1, 0.5, 0.4, 0.9, 0.1)],
              [{"epoch": 1, "step": 1, "loss": 0.5}])
    res = aggregate_sweep(root)
    (g,) = res["groups"]
    assert g["label"] == "all" and g["final"]["eval_loss"] == {
        "mean": 0.4, "std": None, "n": 1, "ci95": None, "values": [0.4]}
    assert res["comparisons"] == []  # one group: nothing to compare
    assert g["batches"]["loss_std"] == [None]
    text = (root / "results.json").read_text()
    assert "NaN" not in text
    with open(root / "results.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["eval_loss_mean"] == "0.4" and row["eval_loss_std"] == ""
    assert row["eval_loss_ci95_lo"] == row["eval_loss_ci95_hi"] == ""


def test_intervals_and_comparisons_match_scipy(sweep_dir: Path):
    res = aggregate_sweep(sweep_dir)
    g1, g2 = res["groups"]
    acc1, acc2 = [0.90, 0.92, 0.97], [0.95, 0.93]
    assert g1["final"]["eval_accuracy"]["values"] == acc1
    assert g2["final"]["eval_accuracy"]["values"] == acc2
    for group, acc in ((g1, acc1), (g2, acc2)):
        want = sps.t.interval(0.95, len(acc) - 1, loc=np.mean(acc), scale=sps.sem(acc))
        assert group["final"]["eval_accuracy"]["ci95"] == pytest.approx(want, rel=1e-12)
        assert group["epochs"][1]["eval_accuracy"]["ci95"] == pytest.approx(want, rel=1e-12)
    assert "Student-t" in res["ci95"] and res["test"] == "welch"
    # one pair of groups, two metrics: Holm over one comparison leaves p unchanged
    acc, loss = res["comparisons"]
    assert (acc["a"], acc["b"], acc["metric"], loss["metric"]) == (
        "lr=0.01", "lr=0.1", "eval_accuracy", "eval_loss")
    want = sps.ttest_ind(acc1, acc2, equal_var=False)
    ci = want.confidence_interval(0.95)
    assert acc["difference"] == pytest.approx(np.mean(acc1) - np.mean(acc2), rel=1e-12)
    assert acc["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-10)
    assert acc["p_value"] == pytest.approx(want.pvalue, rel=1e-10) == acc["p_adjusted"]
    assert acc["significant"] is False and acc["test"] == "welch"
    assert loss["p_value"] == pytest.approx(
        sps.ttest_ind([0.40, 0.44, 0.39], [0.35, 0.33], equal_var=False).pvalue, rel=1e-10)
    with open(sweep_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    lo, hi = g1["epochs"][1]["eval_accuracy"]["ci95"]
    assert (float(rows[1]["eval_accuracy_ci95_lo"]), float(rows[1]["eval_accuracy_ci95_hi"])
            ) == (lo, hi)
    # the paired test pairs seeds 0 and 1, the seeds both groups finished
    paired = aggregate_sweep(sweep_dir, write=False, test="paired")["comparisons"][0]
    assert paired["test"] == "paired" and paired["p_value"] == pytest.approx(
        sps.ttest_rel(acc1[:2], acc2).pvalue, rel=1e-10)
    with pytest.raises(BackproplabError, match="unknown test 'z'"):
        aggregate_sweep(sweep_dir, test="z")


def test_one_seed_per_group_compares_with_a_reason_instead_of_numbers(tmp_path: Path):
    root = tmp_path / "s"
    for lr, acc in ((0.1, 0.9), (0.2, 0.8)):
        write_run(root, f"lr{lr}", {"lr": lr, "seed": 0}, [epoch_row(1, 0.5, 0.4, acc, lr)],
                  [{"epoch": 1, "step": 1, "loss": 0.5}])
    aggregate_sweep(root)
    res = json.loads((root / "results.json").read_text())
    acc, loss = res["comparisons"]
    assert acc["difference"] == pytest.approx(0.1) and acc["n_a"] == acc["n_b"] == 1
    for c in (acc, loss):
        assert c["ci95"] is c["p_value"] is c["p_adjusted"] is None
        assert c["significant"] is c["seeds_needed"] is None
        assert c["note"] == "p-value and interval: needs at least 2 seeds in each group"


def test_groups_without_sweep_json_use_the_keys_that_differ(tmp_path: Path):
    root = tmp_path / "s"
    for bs in (8, 16):
        for seed in (0, 1):
            write_run(root, f"b{bs}s{seed}", {"lr": 0.1, "batch_size": bs, "seed": seed},
                      [epoch_row(1, 0.5 + seed / 10, 0.4, 0.9, 0.1)],
                      [{"epoch": 1, "step": 1, "loss": 0.5}])
    res = aggregate_sweep(root)
    assert res["varying"] == ["batch_size"]
    assert [g["label"] for g in res["groups"]] == ["batch_size=8", "batch_size=16"]
    assert res["groups"][0]["epochs"][0]["train_loss"]["mean"] == pytest.approx(0.55)


def test_group_key_ignores_seed_and_threads():
    a = {"lr": 0.1, "seed": 0, "threads": 1}
    assert group_key(a) == group_key({"lr": 0.1, "seed": 3, "threads": 2})
    assert group_key(a) != group_key({"lr": 0.2, "seed": 0, "threads": 1})


def test_table_renders(sweep_dir: Path):
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(results_table(aggregate_sweep(sweep_dir, write=False)))
    text = console.export_text()
    assert "0.9300 ± 0.0361" in text and "0.9400 ± 0.0141" in text
    assert "validation acc" in text


def test_empty_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BackproplabError, match="no sweep"):
        aggregate_sweep(tmp_path)
    with pytest.raises(BackproplabError, match="does not exist"):
        aggregate_sweep(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackproplabError, match="is a file, not a sweep folder"):
        aggregate_sweep(tmp_path / "file")


def test_results_json_keeps_value_lists_on_one_line(sweep_dir: Path):
    from backproplab.sweeps.aggregate import dumps_results

    res = aggregate_sweep(sweep_dir)
    text = (sweep_dir / "results.json").read_text()
    assert json.loads(text) == json.loads(json.dumps(res))
    assert '"loss_mean": [1.2' in text
    obj = {"a": [1, 2.5, None, "x"], "b": {"c": [], "d": {}}, "e": [{"f": 1}], "g": 0.1}
    assert json.loads(dumps_results(obj)) == obj
    with pytest.raises(ValueError):
        dumps_results({"x": float("nan")})


@pytest.mark.parametrize("name, text", [
    ("metrics.jsonl", "[1, 2]\n"),                  # once: AttributeError traceback
    ("metrics.jsonl", '{"epoch": "x"}\n'),          # once: ValueError traceback
    ("batches.jsonl", '"a string"\n'),              # once: AttributeError traceback
])
def test_a_damaged_run_file_fails_its_trial_with_a_clear_reason(sweep_dir: Path, cli, name,
                                                                 text):
    (sweep_dir / "lr=0.01_seed=1" / name).write_text(text)
    res = aggregate_sweep(sweep_dir)
    trial = next(t for t in res["trials"] if t["name"] == "lr=0.01_seed=1")
    assert trial["status"] == "failed" and f"{name} is damaged: line 1" in trial["error"]
    group = res["groups"][0]
    assert group["seeds"] == [0, 2] and group["n"] == 2 and not res["complete"]
    assert group["missing"] == [{"trial": "lr=0.01_seed=1", "seed": 1, "status": "failed"}]
    r = cli("sweep", "--aggregate-only", "--out", sweep_dir)
    assert r.status == 1 and "is damaged" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
