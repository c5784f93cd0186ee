"""Helpers for tests that start ``backproplab train`` as a real process and kill it
(tests/training/test_resume_kill.py, tests/faults/)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from backproplab.fileio import read_jsonl
from backproplab.training import TrainConfig, run_training
from backproplab.training.run import BATCH_SLEEP_ENV

# 640 points in batches of 16: 40 batches per epoch; with 10 ms of sleep per batch
# (test-only hook, changes no result) an epoch lasts about 0.4 s
ARGS = ("--hidden", "8", "--limit", "640", "--batch-size", "16", "--epochs", "4",
        "--optimizer", "momentum", "--lr", "0.05", "--threads", "1", "--seed", "3")
CONFIG = TrainConfig(hidden=(8,), limit=640, batch_size=16, epochs=4, optimizer="momentum",
                     lr=0.05, threads=1, seed=3)
STEPS_PER_EPOCH = 40


def start_train(*args, sleep: float = 0.01, preexec_fn=None) -> subprocess.Popen:
    """``python -m backproplab train ARGS --quiet`` in a child process (stderr piped)."""
    env = {**os.environ, BATCH_SLEEP_ENV: str(sleep), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "backproplab", "train", *map(str, args),
                             "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=preexec_fn)  # noqa: PLW1509 - no threads


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until ``path`` exists while ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.01)


def stop(proc: subprocess.Popen, sig: int, timeout: float = 30) -> int:
    """Send ``sig`` to ``proc`` and return its exit status (killed if it lingers)."""
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


def reference_run(out: Path, config: TrainConfig = CONFIG) -> Path:
    """An uninterrupted run of ``config`` in ``out`` (in this process)."""
    run_training(config, out, progress="quiet")
    return out


def params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith("param/")}


def assert_same_run(reference: Path, out: Path, epochs: int = 4) -> None:
    """``out`` ends with the weights, epochs and step losses of ``reference``, bit for bit."""
    a, b = params(reference / "model.npz"), params(out / "model.npz")
    assert a.keys() == b.keys() and len(a) == 4
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # and the logs have no duplicated or missing lines
    assert [m["epoch"] for m in read_jsonl(out / "metrics.jsonl")] == list(range(1, epochs + 1))
    steps = [row["step"] for row in read_jsonl(out / "batches.jsonl")]
    assert steps == list(range(1, epochs * STEPS_PER_EPOCH + 1))
    ref_losses = [row["loss"] for row in read_jsonl(reference / "batches.jsonl")]
    assert [row["loss"] for row in read_jsonl(out / "batches.jsonl")] == ref_losses
