"""Epoch times of ``backproplab train`` with each GEMM library, and MKL's reproducibility modes.

Part 1, the libraries: ``backproplab train --dataset fashion-mnist --epochs 3
--lr 0.1 --batch-size B --gemm G`` for every batch size and every GEMM present
(``openblas``, ``mkl``), each run a fresh process, the GEMMs alternating run by
run (paired, so a change in the machine's load hits both alike), ``--rounds``
times. Reported per run: the median of its epochs' ``train_seconds`` (from
``metrics.jsonl``); per row: the median over the rounds, and mkl / openblas.

Part 2, MKL's conditional numerical reproducibility (CNR): one epoch at batch
16 and batch 1024, at 1 and 2 threads, with MKL loaded in each CNR mode
(``off``, ``auto``, ``auto,strict``; backproplab uses ``auto,strict``):
seconds per epoch, and whether the weights after the epoch are bit-identical
between 1 and 2 threads and between two runs.

One command, about 5 minutes on 2 cores::

    python benchmarks/gemm_epochs.py
    python benchmarks/gemm_epochs.py --rounds 1 --batch-sizes 16 --no-cnr   # quicker

The load average before and after is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from backproplab.bench.probes import loadavg, machine_info
from backproplab.runs import RunFolder
from backproplab.tensor import blas

#: CNR modes measured: name -> the value given to ``MKL_CBWR_Set``.
CNR_MODES = {"off": 0, "auto": 2, "auto,strict": 2 | 0x10000}

#: A child that trains one run with MKL in one CNR mode (argv: mode value, config JSON, out).
_CNR_CHILD = """
import json, sys
from backproplab.tensor import blas_libs
blas_libs.MKL_CNR = int(sys.argv[1])
from backproplab.training import TrainConfig, run_training
run_training(TrainConfig(**json.loads(sys.argv[2])), sys.argv[3], progress="quiet")
"""


def _weights_digest(run_dir: Path) -> str:
    with np.load(run_dir / "model.npz", allow_pickle=False) as z:
        h = hashlib.sha256()
        for key in sorted(k for k in z.files if k.startswith("param/")):
            h.update(z[key].tobytes())
    return h.hexdigest()[:16]


def _epoch_seconds(run_dir: Path) -> list[float]:
    return [float(r["train_seconds"]) for r in RunFolder(run_dir).epochs]


def train_cli(gemm: str, batch_size: int, epochs: int, out: Path) -> list[float]:
    """One ``backproplab train`` run in its own process; its epochs' train_seconds."""
    cmd = [sys.executable, "-m", "backproplab", "train", "--dataset", "fashion-mnist",
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--lr", "0.1",
           "--gemm", gemm, "--quiet", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    return _epoch_seconds(out)


def libraries(batch_sizes: list[int], rounds: int, tmp: Path) -> list[dict]:
    """Part 1: every batch size x GEMM, alternating, ``rounds`` times."""
    gemms = [g for g in ("openblas", "mkl") if blas.present(g)]
    rows: dict[tuple, list[float]] = {}
    for r in range(rounds):
        for b in batch_sizes:
            for g in (gemms if r % 2 == 0 else gemms[::-1]):
                secs = train_cli(g, b, 3, tmp / f"{g}-{b}-{r}")
                rows.setdefault((b, g), []).append(statistics.median(secs))
                print(f"  round {r + 1}: batch {b} {g}: {[round(s, 3) for s in secs]}",
                      file=sys.stderr, flush=True)
    out = []
    for b in batch_sizes:
        med = {g: statistics.median(rows[(b, g)]) for g in gemms}
        out.append({"batch_size": b, **{g: round(med[g], 3) for g in gemms},
                    "runs": {g: [round(s, 3) for s in rows[(b, g)]] for g in gemms},
                    "ratio": round(med["mkl"] / med["openblas"], 3) if len(med) == 2 else None})
    return out


def _cnr_run(mode: int, batch_size: int, threads: int, out: Path) -> tuple[float, str]:
    cfg = {"dataset": "fashion-mnist", "epochs": 1, "batch_size": batch_size, "lr": 0.1,
           "threads": threads, "gemm": "mkl"}
    subprocess.run([sys.executable, "-c", _CNR_CHILD, str(mode), json.dumps(cfg), str(out)],
                   check=True, capture_output=True, timeout=900)
    return _epoch_seconds(out)[0], _weights_digest(out)


def cnr(tmp: Path) -> list[dict]:
    """Part 2: each CNR mode at (batch 16, 1 thread / 2 threads) and (1024, 1 / 2)."""
    rows = []
    for b in (16, 1024):
        for name, mode in CNR_MODES.items():
            runs = {t: [_cnr_run(mode, b, t, tmp / f"cnr-{b}-{mode}-{t}-{i}") for i in range(2)]
                    for t in (1, 2)}
            rows.append({"batch_size": b, "mode": name,
                         "seconds": {t: round(min(s for s, _ in v), 3) for t, v in runs.items()},
                         "same_twice": all(v[0][1] == v[1][1] for v in runs.values()),
                         "same_1_vs_2_threads": runs[1][0][1] == runs[2][0][1]})
            print(f"  cnr {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure and print both parts (``--json`` for one JSON object)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="16,128,1024")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-cnr", action="store_true", help="skip part 2")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not blas.present("mkl"):
        print("MKL is not installed here: pip install 'backproplab[mkl]'", file=sys.stderr)
        return 2
    result = {"machine": machine_info(), "loadavg_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="gemm-epochs-") as tmp:
        result["libraries"] = libraries([int(b) for b in args.batch_sizes.split(",")],
                                        args.rounds, Path(tmp))
        result["cnr"] = [] if args.no_cnr else cnr(Path(tmp))
    result["loadavg_after"] = loadavg()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; load "
          f"average {result['loadavg_before']} before, {result['loadavg_after']} after")
    print("seconds per epoch (median over rounds of each run's median of 3 epochs)")
    for r in result["libraries"]:
        print(f"  batch {r['batch_size']:>5}: openblas {r.get('openblas')}  mkl {r.get('mkl')}"
              f"  mkl/openblas {r['ratio']}")
    if result["cnr"]:
        print("MKL CNR modes: seconds per epoch at 1 / 2 threads; bit-identical weights")
    for r in result["cnr"]:
        print(f"  batch {r['batch_size']:>5} {r['mode']:<12} {r['seconds'][1]:.3f} / "
              f"{r['seconds'][2]:.3f} s; two runs same: {r['same_twice']}; 1 vs 2 threads "
              f"same: {r['same_1_vs_2_threads']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
