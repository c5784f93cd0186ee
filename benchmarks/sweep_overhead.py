"""What running a sweep's trials on Ray costs, next to local worker processes.

Runs the same sweep of tiny trials (synth, 4 learning rates x 4 seeds = 16
trials by default) three times and reports, for each:

- ``local``: the local executor (a pool of ``--workers`` spawned processes,
  created by the sweep itself, so its start-up is included);
- ``ray-cold``: the Ray executor on a local Ray instance with ``--workers``
  CPUs started for the benchmark (``start_s``: starting the instance; the
  sweep itself then also starts Ray's worker processes);
- ``ray-warm``: the same sweep again, in a fresh folder, on the same instance
  (worker processes already running): the steady-state cost per trial.

``local`` and ``ray-warm`` run ``--repeat`` times (fresh folders) and the
fastest run is reported, because this machine is shared; ``ray-cold`` runs once.

Every trial's own run time (``seconds`` in its ``summary.json``, measured inside
the worker) is summed as ``train_s``. The scheduling overhead per trial is
``(sweep_s * workers - train_s) / trials``: worker time per trial that went
into anything but the trial's run (starting processes, shipping data and
files, writing folders, idle slots). ``ratio`` is a sweep's time over the local
one's. The machine's load average is recorded, because this machine is shared.

Usage::

    python benchmarks/sweep_overhead.py [--trials 16] [--workers 2] [--limit 2000]
                                        [--epochs 2] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from backproplab.bench.probes import loadavg, machine_info
from backproplab.sweeps import LocalExecutor, Sweep, run_sweep
from backproplab.sweeps.ray_executor import RayExecutor
from backproplab.training import TrainConfig
from backproplab.training.threads import usable_cpus


def _sweep(trials: int, limit: int, epochs: int):
    lrs = [0.02, 0.05, 0.1, 0.2]
    seeds = max(1, trials // len(lrs))
    base = TrainConfig(dataset="synth", limit=limit, hidden=(8,), batch_size=16, epochs=epochs)
    return Sweep(base, {"lr": lrs}, seeds=list(range(seeds)))


def timed_sweep(name: str, sweep, out: Path, executor):
    """Run ``sweep`` into ``out`` quietly; ``(outcome, wall seconds)``; a failed trial
    ends the script naming ``name``."""
    t0 = time.perf_counter()
    outcome = run_sweep(sweep, out, executor=executor, progress="quiet", aggregate=False)
    seconds = time.perf_counter() - t0
    if not outcome.ok:
        raise SystemExit(f"{name}: {len(outcome.failed)} trial(s) failed: "
                         f"{outcome.failed[0].error}")
    return outcome, seconds


def _measure(name: str, sweep, out: Path, executor, workers: int) -> dict:
    outcome, sweep_s = timed_sweep(name, sweep, out, executor)
    train_s = sum(float(r.summary["seconds"]) for r in outcome.results)
    n = len(outcome.results)
    return {"executor": name, "trials": n, "sweep_s": round(sweep_s, 3),
            "train_s": round(train_s, 3),
            "overhead_per_trial_s": round((sweep_s * workers - train_s) / n, 4)}


def _best(name: str, sweep, root: Path, executor, workers: int, repeat: int) -> dict:
    runs = [_measure(name, sweep, root / f"{name}-{i}", executor, workers)
            for i in range(repeat)]
    best = min(runs, key=lambda r: r["sweep_s"])
    best["all_sweep_s"] = [r["sweep_s"] for r in runs]
    return best


def measure(trials: int, workers: int, limit: int, epochs: int, repeat: int = 3) -> dict:
    """Run the sweeps (see the module docstring); returns the numbers."""
    sweep = _sweep(trials, limit, epochs)
    load_before = loadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        root = Path(tmp)
        rows.append(_best("local", sweep, root, LocalExecutor(workers), workers, repeat))
        t0 = time.perf_counter()
        with RayExecutor(workers, address="local") as ray_executor:
            start_s = time.perf_counter() - t0
            cold = _measure("ray-cold", sweep, root / "ray-cold", ray_executor, workers)
            cold["start_s"] = round(start_s, 3)
            rows.append(cold)
            rows.append(_best("ray-warm", sweep, root, ray_executor, workers, repeat))
    local_s = rows[0]["sweep_s"]
    for row in rows:
        row["ratio"] = round(row["sweep_s"] / local_s, 2)
    return {
        "machine": machine_info(),
        "workers": workers,
        "trial": {"dataset": "synth", "limit": limit, "hidden": [8], "batch_size": 16,
                  "epochs": epochs},
        "repeat": repeat,
        "load_average_before": load_before,
        "results": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16,
                        help="trials: 4 learning rates x trials/4 seeds (a multiple of 4)")
    parser.add_argument("--workers", type=int, default=usable_cpus(),
                        help="trials at a time (default: the cores this process may use)")
    parser.add_argument("--limit", type=int, default=2000, help="training points per trial")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the local and warm Ray sweeps; the fastest counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.trials < 4 or args.trials % 4:
        parser.error(f"--trials must be a positive multiple of 4 (4 learning rates x seeds), "
                     f"got {args.trials}")
    result = measure(args.trials, args.workers, args.limit, args.epochs, args.repeat)
    result["load_average_after"] = loadavg()
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['results'][0]['trials']} trials (synth, {args.limit} points, "
          f"{args.epochs} epochs) on {args.workers} worker(s), best of {args.repeat} "
          f"(ray-cold: once); load average before "
          f"{result['load_average_before']}, after {result['load_average_after']}")
    print(f"{'executor':<10} {'sweep s':>8} {'ratio':>6} {'train s':>8} {'overhead/trial s':>17} "
          f"{'start s':>8}")
    for row in result["results"]:
        start = f"{row['start_s']:.2f}" if "start_s" in row else "-"
        print(f"{row['executor']:<10} {row['sweep_s']:>8.2f} {row['ratio']:>6.2f} "
              f"{row['train_s']:>8.2f} {row['overhead_per_trial_s']:>17.3f} {start:>8}")


if __name__ == "__main__":
    main()
