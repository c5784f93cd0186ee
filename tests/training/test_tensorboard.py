"""``--tensorboard``: event files read back with TensorBoard's own reader and
compared with the run's ``metrics.jsonl``, ``batches.jsonl`` and ``config.json``
(``train``, ``train --resume`` and every trial of a ``sweep``); the one sentence
when the package is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import run_subprocess

pytest.importorskip("tensorboard")

SMALL = ("--dataset", "synth", "--limit", "600", "--hidden", "8", "--batch-size", "50",
         "--threads", "1")


def read_events(run_dir: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    """tag -> [(step, value)] of the run's ``tensorboard/`` folder, read by TensorBoard
    (scalars as float32 values; text and histograms as the tensors they are)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    acc = EventAccumulator(str(run_dir / "tensorboard"),
                           size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    events = {tag: [(e.step, make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
              for tag in acc.Tags()["tensors"]}
    events.update({tag: [(e.step, np.float32(e.value)) for e in acc.Scalars(tag)]
                   for tag in acc.Tags()["scalars"]})
    return events


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_run(run_dir: Path, inspect: bool = False) -> dict:
    """Every event equals the run's own files (values as float32, as TensorBoard keeps them)."""
    events = read_events(run_dir)
    metrics, batches = lines(run_dir / "metrics.jsonl"), lines(run_dir / "batches.jsonl")
    assert [(s, float(v)) for s, v in events["step/loss"]] == [
        (b["step"], float(np.float32(b["loss"]))) for b in batches]
    for key in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "lr",
                "train_loss_running", "train_seconds"):
        assert [(s, float(v)) for s, v in events[f"epoch/{key}"]] == [
            (m["steps"], float(np.float32(m[key]))) for m in metrics], key
    assert [int(v) for _, v in events["epoch/epoch"]] == [m["epoch"] for m in metrics]
    body = events["config"][-1][1][()].decode()  # a resumed run's: the last
    assert body.startswith("```\n") and body.endswith("\n```")
    assert json.loads(body[4:-4]) == json.loads((run_dir / "config.json").read_text())
    if inspect:
        hist = events["weights/W1"]
        assert [s for s, _ in hist] == [0, *(m["steps"] for m in metrics)]
        with np.load(run_dir / "model.npz") as z:
            w1 = z["param/W1"].astype(np.float64)
        buckets = hist[-1][1]  # (bins, 3): left edge, right edge, count
        assert buckets[:, 2].sum() == w1.size
        assert buckets[0, 0] == w1.min() and buckets[-1, 1] == w1.max()
    else:
        assert "weights/W1" not in events
    return events


def test_train_writes_what_metrics_jsonl_holds(tmp_path):
    out = tmp_path / "run"
    r = run_subprocess("train", *SMALL, "--epochs", "3", "--lr", "0.3", "--tensorboard",
                       "--inspect", "--out", out, "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr
    events = check_run(out, inspect=True)
    assert [s for s, _ in events["config"]] == [0]
    assert len(events["step/loss"]) == 3 * 12  # 600 examples, 5000 held out: 12 batches of 50
    assert len(events["weights/W1"]) == 4


def test_resume_continues_the_events_and_overwrite_removes_them(tmp_path):
    out = tmp_path / "run"
    base = ("train", *SMALL, "--lr", "0.3", "--out", out, "--quiet")
    assert run_subprocess(*base, "--epochs", "2", "--tensorboard", timeout=120).returncode == 0
    r = run_subprocess(*base, "--epochs", "3", "--tensorboard", "--resume", timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list((out / "tensorboard").iterdir())) == 2  # one event file per process
    events = check_run(out)
    assert [s for s, _ in events["step/loss"]] == list(range(1, 37))
    assert [s for s, _ in events["config"]] == [0, 24]  # resumed after epoch 2's 24th step

    r = run_subprocess(*base, "--epochs", "1", "--overwrite", timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (out / "tensorboard").exists()


def test_default_run_writes_no_events(tmp_path):
    out = tmp_path / "run"
    r = run_subprocess("train", *SMALL, "--epochs", "1", "--out", out, "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (out / "tensorboard").exists()
    assert json.loads((out / "config.json").read_text())["tensorboard"] is False


def test_every_sweep_trial_has_its_own_events(tmp_path):
    out = tmp_path / "sweep"
    r = run_subprocess("sweep", *SMALL, "--epochs", "2", "--lr", "0.1,0.3", "--seeds", "2",
                       "--workers", "2", "--tensorboard", "--out", out, "--quiet", "--json",
                       timeout=300)
    assert r.returncode == 0, r.stderr
    trials = sorted(p for p in out.iterdir() if (p / "config.json").is_file())
    assert [t.name for t in trials] == ["lr=0.1_seed=0", "lr=0.1_seed=1", "lr=0.3_seed=0",
                                        "lr=0.3_seed=1"]
    finals = {float(check_run(t)["epoch/eval_loss"][-1][1]) for t in trials}
    assert len(finals) == 4  # four different runs, each with its own events
    results = json.loads((out / "results.json").read_text())
    assert [g["label"] for g in results["groups"]] == ["lr=0.1", "lr=0.3"]  # not a group key


def test_missing_package_is_one_sentence_and_writes_nothing(tmp_path):
    shadow = tmp_path / "shadow" / "tensorboard"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('tensorboard is not installed')\n")
    src = Path(__file__).resolve().parents[2] / "src"
    out = tmp_path / "run"
    r = run_subprocess("train", *SMALL, "--epochs", "1", "--tensorboard", "--out", out,
                       env={"PYTHONPATH": f"{shadow.parent}:{src}"}, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [(
        "backproplab: error: --tensorboard needs the tensorboard package, which is not "
        'installed; install it with pip install "backproplab[tensorboard]" or run without '
        "--tensorboard")]
    assert not (out / "config.json").exists()
    r = run_subprocess("sweep", *SMALL, "--epochs", "1", "--tensorboard", "--out", out,
                       env={"PYTHONPATH": f"{shadow.parent}:{src}"}, timeout=120)
    assert r.returncode == 2 and 'pip install "backproplab[tensorboard]"' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_each_epoch_is_on_disk_when_it_ends(tmp_path):
    # what `tensorboard --logdir` shows while the run goes on: the writer is still open
    from backproplab.training.board import Board

    board = Board(tmp_path)
    for step in (1, 2, 3):
        board.step(step, 1.0 / step)
    assert "step/loss" not in read_events(tmp_path)  # kept in memory during the epoch
    board.epoch({"epoch": 1, "steps": 3, "train_loss": 0.25, "lr": 0.1, "eval_loss": None})
    events = read_events(tmp_path)
    assert [(s, float(v)) for s, v in events["step/loss"]] == [
        (1, 1.0), (2, float(np.float32(0.5))), (3, float(np.float32(1 / 3)))]
    assert events["epoch/lr"] == [(3, np.float32(0.1))] and "epoch/eval_loss" not in events
    board.close()
