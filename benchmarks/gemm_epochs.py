"""Epoch times of ``backproplab train`` with each GEMM library, and MKL's reproducibility modes.

Part 1, the libraries: ``backproplab train --dataset fashion-mnist --epochs 3
--lr 0.1 --batch-size B --gemm G --threads T`` for every (batch size, threads) row and every GEMM present
(``openblas``, ``mkl``), each run a fresh process, the GEMMs alternating run by
run (paired, so a change in the machine's load hits both alike), ``--rounds``
times. Reported per run: the median of its epochs' ``train_seconds`` (from
``metrics.jsonl``) of epochs 2 and 3 (the first, with the libraries' warm-up,
is given apart); per row: their median and minimum over the rounds (the
minimum is the least disturbed by other processes), and mkl / openblas.

Part 2, MKL's conditional numerical reproducibility (CNR): with MKL loaded in
each CNR mode (``off``, ``auto``, ``auto,strict``; backproplab uses
``auto,strict``), 3 epochs at batch 16 (1 thread) and 1024 (2 threads),
alternating, and whether one epoch at 1 and at 2 threads gives bit-identical
weights.

One command, about 5 minutes on 2 cores::

    python benchmarks/gemm_epochs.py
    python benchmarks/gemm_epochs.py --rounds 1 --rows 16:1 --no-cnr   # quicker

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

from backproplab.bench.probes import loadavg, machine_info, machine_line
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


def _stats(runs: list[list[float]]) -> dict:
    """Epoch seconds of several runs: the first epochs (warm-up) apart, then the
    median and the minimum of all later epochs (the minimum is the least disturbed
    by other processes on a shared machine)."""
    later = [s for r in runs for s in r[1:]]
    return {"median": round(statistics.median(later), 3), "min": round(min(later), 3),
            "first": round(statistics.median(r[0] for r in runs), 3)}


def train_cli(gemm: str, batch_size: int, threads: int, epochs: int, out: Path) -> list[float]:
    """One ``backproplab train`` run in its own process; its epochs' train_seconds."""
    cmd = [sys.executable, "-m", "backproplab", "train", "--dataset", "fashion-mnist",
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--lr", "0.1",
           "--gemm", gemm, "--threads", str(threads), "--quiet", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    return _epoch_seconds(out)


def libraries(rows: list[tuple[int, int]], rounds: int, tmp: Path) -> list[dict]:
    """Part 1: every (batch size, threads) x GEMM, alternating, ``rounds`` times."""
    gemms = [g for g in ("openblas", "mkl") if blas.present(g)]
    runs: dict[tuple, list[list[float]]] = {}
    for r in range(rounds):
        for b, t in rows:
            for g in (gemms if r % 2 == 0 else gemms[::-1]):
                secs = train_cli(g, b, t, 3, tmp / f"{g}-{b}-{t}-{r}")
                runs.setdefault((b, t, g), []).append(secs)
                print(f"  round {r + 1}: batch {b}, {t} thread(s), {g}: "
                      f"{[round(s, 3) for s in secs]}", file=sys.stderr, flush=True)
    out = []
    for b, t in rows:
        st = {g: _stats(runs[(b, t, g)]) for g in gemms}
        out.append({"batch_size": b, "threads": t, **st,
                    "ratio": {k: round(st["mkl"][k] / st["openblas"][k], 3)
                              for k in ("median", "min")} if len(st) == 2 else None})
    return out


def _cnr_run(mode: int, batch_size: int, threads: int, epochs: int, out: Path):
    cfg = {"dataset": "fashion-mnist", "epochs": epochs, "batch_size": batch_size, "lr": 0.1,
           "threads": threads, "gemm": "mkl"}
    subprocess.run([sys.executable, "-c", _CNR_CHILD, str(mode), json.dumps(cfg), str(out)],
                   check=True, capture_output=True, timeout=900)
    return _epoch_seconds(out), _weights_digest(out)


def cnr(rounds: int, tmp: Path) -> list[dict]:
    """Part 2: each CNR mode at batch 16 (1 thread) and 1024 (2 threads), alternating;
    then whether one epoch at 1 and at 2 threads gives the same weights."""
    rows = []
    for b, t in ((16, 1), (1024, 2)):
        runs: dict[str, list[list[float]]] = {}
        for r in range(rounds):
            for name, mode in (CNR_MODES.items() if r % 2 == 0 else
                               reversed(CNR_MODES.items())):
                secs, _ = _cnr_run(mode, b, t, 3, tmp / f"cnr-{b}-{mode}-{r}")
                runs.setdefault(name, []).append(secs)
        for name, mode in CNR_MODES.items():
            digests = [_cnr_run(mode, b, n, 1, tmp / f"same-{b}-{mode}-{n}")[1] for n in (1, 2)]
            rows.append({"batch_size": b, "threads": t, "mode": name, **_stats(runs[name]),
                         "same_1_vs_2_threads": digests[0] == digests[1]})
            print(f"  cnr {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure and print both parts (``--json`` for one JSON object)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="16:1,128:1,128:2,1024:1,1024:2",
                   help="batch:threads pairs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-cnr", action="store_true", help="skip part 2")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not blas.present("mkl"):
        print("MKL is not installed here: pip install 'backproplab[mkl]'", file=sys.stderr)
        return 2
    result = {"machine": machine_info(), "loadavg_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="gemm-epochs-") as tmp:
        rows = [tuple(int(v) for v in r.split(":")) for r in args.rows.split(",")]
        result["libraries"] = libraries(rows, args.rounds, Path(tmp))
        result["cnr"] = [] if args.no_cnr else cnr(args.rounds, Path(tmp))
    result["loadavg_after"] = loadavg()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{machine_line(result['machine'])}; load average {result['loadavg_before']} "
          f"before, {result['loadavg_after']} after")
    print("seconds per epoch: median / min of epochs 2-3 of every round (first epoch apart)")
    for r in result["libraries"]:
        o, m = r.get("openblas", {}), r.get("mkl", {})
        print(f"  batch {r['batch_size']:>5}, {r['threads']} thr: openblas {o.get('median')} / "
              f"{o.get('min')} (first {o.get('first')}); mkl {m.get('median')} / {m.get('min')} "
              f"(first {m.get('first')}); mkl/openblas {r['ratio']}")
    if result["cnr"]:
        print("MKL CNR modes: seconds per epoch median / min; 1 vs 2 threads bit-identical")
    for r in result["cnr"]:
        print(f"  batch {r['batch_size']:>5}, {r['threads']} thr, {r['mode']:<12} {r['median']:.3f} "
              f"/ {r['min']:.3f} (first {r['first']:.3f}); same: {r['same_1_vs_2_threads']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
