"""Divergence the guard used to miss, and the smaller misleading outputs of issue 21: a
full disk that promised --resume where it would refuse, and preset names."""

from __future__ import annotations

import os

import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess
from tests.faults.test_disk import small_disk  # noqa: F401 - the fixture

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


@needs_fashion
def test_a_disk_full_before_the_first_checkpoint_does_not_promise_resume(request):
    """A 784-32-10 network's checkpoint does not fit where its config and first log
    lines do: --resume would refuse (no checkpoint), so the sentence names --overwrite."""
    folder, preexec, kind = request.getfixturevalue("small_disk")  # tests/faults/test_disk.py
    out = folder / "run"
    args = ("--dataset", "fashion-mnist", "--data-dir", FASHION_MNIST_DIR, "--limit", "500",
            "--hidden", "32", "--epochs", "2", "--threads", "1", "--quiet", "--out", out)
    r = run_subprocess("train", *args, preexec_fn=preexec, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, (kind, r.stderr)
    assert "checkpoint.npz" in r.stderr and "--resume" not in r.stderr, r.stderr
    assert r.stderr.rstrip().endswith("the run stopped before its first checkpoint, so start "
                                      "it again with --overwrite")
    assert (out / "config.json").is_file() and not (out / "checkpoint.npz").exists()
    resumed = run_subprocess("train", "--resume", "--out", out, "--quiet", timeout=120)
    assert resumed.returncode == 2 and "no checkpoint.npz to resume from" in resumed.stderr
