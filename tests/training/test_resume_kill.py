"""Resume after SIGKILL in the middle of an epoch ends with bit-identical weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from backproplab.fileio import read_jsonl
from backproplab.training import TrainConfig, run_training
from backproplab.training.run import BATCH_SLEEP_ENV

# 640 points in batches of 16: 40 batches per epoch; with 10 ms of sleep per batch
# (test-only hook, changes no result) an epoch lasts about 0.4 s
ARGS = ("--hidden", "8", "--limit", "640", "--batch-size", "16", "--epochs", "4",
        "--optimizer", "momentum", "--lr", "0.05", "--threads", "1", "--seed", "3")


def _params(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith("param/")}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_resume_after_sigkill_is_bit_identical(tmp_path, cli):
    reference = tmp_path / "reference"
    cfg = TrainConfig(hidden=(8,), limit=640, batch_size=16, epochs=4, optimizer="momentum",
                      lr=0.05, threads=1, seed=3)
    run_training(cfg, reference, progress="quiet")

    out = tmp_path / "killed"
    env = {**os.environ, BATCH_SLEEP_ENV: "0.01", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "train", *ARGS, "--quiet",
                             "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.npz").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.01)
        time.sleep(0.15)  # well inside the next epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists(), "the run finished before it was killed"
    done = read_jsonl(out / "metrics.jsonl")
    assert 1 <= len(done) < 4

    r = cli("train", "--out", out, "--resume", "--json")
    assert r.status == 0, r.err
    assert r.json()["resumed_from_epoch"] == len(done)
    a, b = _params(reference / "model.npz"), _params(out / "model.npz")
    assert a.keys() == b.keys() and len(a) == 4
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # and the logs have no duplicated or missing lines
    assert [m["epoch"] for m in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4]
    steps = [row["step"] for row in read_jsonl(out / "batches.jsonl")]
    assert steps == list(range(1, 4 * 40 + 1))
    ref_losses = [row["loss"] for row in read_jsonl(reference / "batches.jsonl")]
    assert [row["loss"] for row in read_jsonl(out / "batches.jsonl")] == ref_losses
