"""Progress display: rich bars on a terminal, plain lines otherwise, nothing when quiet."""

from __future__ import annotations

import io

import pytest

from backproplab.errors import BackproplabError
from backproplab.training import TrainConfig, run_training
from backproplab.training.progress import (
    PlainProgress,
    Progress,
    RichProgress,
    format_epoch,
    make_progress,
)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_selection():
    assert type(make_progress("quiet")) is Progress
    assert type(make_progress("auto", io.StringIO())) is PlainProgress
    assert type(make_progress("plain", FakeTerminal())) is PlainProgress
    assert type(make_progress("auto", FakeTerminal())) is RichProgress
    with pytest.raises(BackproplabError, match="progress"):
        make_progress("fancy")


def test_format_epoch():
    line = format_epoch({"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.75,
                         "eval_loss": 0.25, "eval_accuracy": 0.875, "train_seconds": 1.0,
                         "eval_seconds": 0.5}, 5, "test")
    assert line.startswith("epoch 2/5")
    assert "train loss 0.5000" in line and "test loss 0.2500" in line and "0.8750" in line


def test_a_huge_finite_loss_is_one_short_number():
    # a scalar run at lr 1e300 once printed losses with 300 digits
    line = format_epoch({"epoch": 1, "train_loss": 4.7e300, "train_accuracy": 0.55,
                         "eval_loss": 123456.0, "eval_accuracy": 0.56, "train_seconds": 0.1,
                         "eval_seconds": 0.1}, 2)
    assert "train loss 4.7e+300" in line and "validation loss 1.235e+05" in line
    assert len(line) < 150


def test_rich_bars_on_a_terminal(tmp_path):
    term = FakeTerminal()
    cfg = TrainConfig(hidden=(4,), limit=400, epochs=2, threads=1)
    run_training(cfg, tmp_path / "r", progress=make_progress("auto", term))
    text = term.getvalue()
    assert "epochs" in text and "batches" in text
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "synth: train 400 x 2" in text


def test_train_prints_huge_losses_shortly(cli, tmp_path):
    # the divergence guard would stop this run (its losses are far over the limit): off
    r = cli("train", "--engine", "scalar", "--lr", "1e300", "--limit", "200", "--epochs", "1",
            "--divergence-factor", "0", "--out", tmp_path / "r")
    assert r.status == 0, r.err
    assert "e+" in r.out and max(len(line) for line in r.out.splitlines()) < 200
