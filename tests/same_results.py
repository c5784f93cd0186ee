"""Fingerprints of run folders, to check that a refactoring changes no result.

``tests/fixtures/baseline_runs.json`` holds, for a few training commands, the
SHA-256 of every trained parameter array and of ``metrics.jsonl`` /
``batches.jsonl`` (timings left out), as produced by the code before the
redesign. Regenerate only when a result is *meant* to change:
``python tests/same_results.py`` (then say why in the commit).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).parent / "fixtures" / "baseline_runs.json"
TIMING = {"train_seconds", "eval_seconds", "seconds"}

#: name -> the ``backproplab train`` arguments of that run (BLAS threads fixed at 1).
RUNS = {
    "synth-sgd": ["--dataset", "synth", "--epochs", "3", "--seed", "1"],
    "synth-adam": ["--dataset", "synth", "--epochs", "2", "--seed", "2", "--optimizer", "adam",
                   "--lr", "0.01", "--hidden", "16,8", "--activation", "relu",
                   "--lr-schedule", "cosine"],
    "synth-full": ["--dataset", "synth", "--epochs", "2", "--seed", "4", "--batch-size", "full",
                   "--lr", "0.5", "--lr-schedule", "plateau", "--early-stopping"],
    "synth-scalar": ["--dataset", "synth", "--engine", "scalar", "--epochs", "1",
                     "--limit", "500", "--seed", "3"],
    "fmnist-mom": ["--dataset", "fashion-mnist", "--limit", "2000", "--epochs", "2", "--seed",
                   "0", "--hidden", "64", "--optimizer", "momentum", "--lr", "0.05"],
}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def fingerprint(run_dir: str | Path) -> dict[str, str]:
    """SHA-256 of each ``param/*`` array of model.npz and of the metric files."""
    run_dir = Path(run_dir)
    out = {}
    with np.load(run_dir / "model.npz", allow_pickle=False) as z:
        for key in sorted(k for k in z.files if k.startswith("param/")):
            a = z[key]
            out[key] = _digest(a.tobytes() + f"{a.dtype}{a.shape}".encode())
    for name in ("metrics.jsonl", "batches.jsonl"):
        h = hashlib.sha256()
        for line in (run_dir / name).read_text().splitlines():
            rec = {k: v for k, v in json.loads(line).items() if k not in TIMING}
            h.update(json.dumps(rec, sort_keys=True).encode())
        out[name] = h.hexdigest()[:24]
    return out


if __name__ == "__main__":  # regenerate the fixture from run folders given by name=path
    found = {}
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        found[name] = fingerprint(path)
    FIXTURE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
