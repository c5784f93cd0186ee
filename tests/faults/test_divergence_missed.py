"""Divergence the guard used to miss, and the smaller misleading outputs of issue 21."""

from __future__ import annotations

import os

import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess

from backproplab.errors import DivergenceError
from backproplab.study.presets import PRESETS, select
from backproplab.training.divergence import BLOWUP, DivergenceGuard

needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                   reason="needs Debian's dataset-fashion-mnist")


@needs_fashion
def test_the_relu_run_that_settled_at_chance_is_stopped(tmp_path):
    """Its batch losses jumped to 3.6e6 in the first 64 batches, then its epoch losses
    stayed at 16-25, just under the limit 25.8, at chance accuracy: it exited 0."""
    out = tmp_path / "run"
    r = run_subprocess("train", "--dataset", "fashion-mnist", "--data-dir", FASHION_MNIST_DIR,
                       "--limit", "2000", "--hidden", "32", "--activation", "relu", "--lr", "50",
                       "--epochs", "5", "--threads", "1", "--quiet", "--out", out, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert "training diverged in epoch 1 at batch 64 of 125" in r.stderr
    assert "more than 10 times the limit 25.84" in r.stderr
    assert "lower the learning rate --lr (now 50; try 5)" in r.stderr


def test_one_check_far_above_the_limit_stops_without_patience():
    guard = DivergenceGuard(10.0, 3, n_classes=2)  # limit 10 ln 2 = 6.93
    guard.check(1, 1, 100, total=0.5, seen=1, lr=0.1)
    limit = guard.limit
    guard.check(1, 2, 100, total=0.5 + BLOWUP * limit * 0.99, seen=2, lr=0.1)
    assert guard.strikes == 1  # above the limit, under the blow-up: patience applies
    with pytest.raises(DivergenceError, match="more than 10 times the limit 6.931"):
        guard.check(1, 3, 100, total=0.5 + BLOWUP * limit * 0.99 + BLOWUP * limit * 1.01,
                    seen=3, lr=0.1)


def test_presets_prints_the_names_only_accepts(cli):
    listing = cli("presets")
    assert listing.status == 0
    names = [line.split()[0] for line in listing.out.split("\n\n")[0].splitlines()]
    assert names == [p.name for p in PRESETS]
    assert [p.name for p in select(names)] == names  # what --only takes
    # a name as it shows where a line's first letter is capitalized, and any other case
    assert [p.name for p in select(["Q4-synth", "Learning-Rates"])] == ["q4-synth",
                                                                        "learning-rates"]
    shown = cli("presets", "Q4-synth")
    assert shown.status == 0 and shown.out.startswith("q4-synth  [Q4]")
