"""Trials per hour of a sweep on this machine: N 1-thread workers against fewer, wider ones.

Runs the same sweep (Fashion-MNIST, the study's 784-300-10 sigmoid network,
plain SGD, ``--trials`` trials of ``--epochs`` epoch(s) on ``--limit`` examples)
once per split of the free cores into workers x threads (on 2 cores: 2 x 1 and
1 x 2), plus once with the split the sweep chooses by itself
(:func:`backproplab.training.threads.split_cores`), at each ``--batch-sizes``
value, and prints a table: wall seconds, trials per hour, the ratio to the best
split, and whether the automatic choice is within 5% of the best (target met /
not met). Every sweep runs in fresh folders with its own pool of spawned
workers, so process start-up counts, as it does for users.

One command, a couple of minutes on 2 cores::

    python benchmarks/sweep_split.py                       # 4 trials, batch 16 and 128
    python benchmarks/sweep_split.py --limit 5000 --json   # a quick check, JSON out

The machine's facts (CPU, usable cores, quota, what the default-threads rule
sees now, load averages) come from :mod:`backproplab.bench.probes`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from sweep_overhead import timed_sweep

from backproplab.bench.probes import loadavg, machine_info, machine_line
from backproplab.sweeps import LocalExecutor, Sweep
from backproplab.training import TrainConfig
from backproplab.training.threads import free_cores, machine_facts, usable_cpus

#: How close to the best split the automatic choice must be.
TOLERANCE = 1.05


def splits(cores: int) -> list[tuple[int, int]]:
    """Every ``(workers, threads)`` with ``workers * threads == cores``, most workers first."""
    return [(w, cores // w) for w in range(cores, 0, -1) if cores % w == 0]


def _sweep(batch_size: int, trials: int, limit: int | None, epochs: int) -> Sweep:
    base = TrainConfig(dataset="fashion-mnist", limit=limit, hidden=(300,), batch_size=batch_size,
                       epochs=epochs, lr=0.1)
    return Sweep(base, {}, seeds=list(range(trials)))


def _time(sweep: Sweep, out: Path, executor: LocalExecutor) -> dict:
    outcome, seconds = timed_sweep("sweep_split.py", sweep, out, executor)
    n = len(outcome.results)
    return {"workers": executor.workers, "threads": executor.threads_per_worker,
            "trials": n, "seconds": round(seconds, 3),
            "trials_per_hour": round(n * 3600 / seconds, 1)}


def measure(batch_sizes: list[int], trials: int, limit: int | None, epochs: int) -> dict:
    """Time every split and the automatic one at every batch size; the result dict."""
    cores = usable_cpus()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep-split-") as tmp:
        for bs in batch_sizes:
            sweep = _sweep(bs, trials, limit, epochs)
            timed = [dict(_time(sweep, Path(tmp) / f"b{bs}-{w}x{t}",
                                LocalExecutor(w, threads_per_worker=t)), split=f"{w} x {t}")
                     for w, t in splits(cores)]
            auto = _time(sweep, Path(tmp) / f"b{bs}-auto", LocalExecutor())
            auto["split"] = f"auto ({auto['workers']} x {auto['threads']})"
            best = max(r["trials_per_hour"] for r in timed)
            for r in [*timed, auto]:
                r["batch_size"] = bs
                r["vs_best"] = round(best / r["trials_per_hour"], 3)
            auto["target_met"] = auto["vs_best"] <= TOLERANCE
            rows += [*timed, auto]
    return {"trial": {"dataset": "fashion-mnist", "sizes": [784, 300, 10], "limit": limit,
                      "epochs": epochs, "trials": trials},
            "free_cores_at_start": free_cores(machine_facts()), "results": rows}


def print_table(result: dict) -> None:
    """The table for people."""
    m = result["machine"]
    t = result["trial"]
    print(f"{machine_line(m)}; free now: {m['free_now']}")
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    print(f"{t['trials']} trials of {t['epochs']} epoch(s), fashion-mnist "
          f"{t['limit'] or 'all 55,000'} examples, 784-300-10 sigmoid, SGD")
    print(f"{'batch':>6} {'workers x threads':<20} {'seconds':>8} {'trials/h':>9} "
          f"{'best/this':>9}  target")
    for r in result["results"]:
        target = "" if "target_met" not in r else (
            f"auto within {TOLERANCE:.2f}x of the best: "
            + ("met" if r["target_met"] else "not met"))
        print(f"{r['batch_size']:>6} {r['split']:<20} {r['seconds']:>8.2f} "
              f"{r['trials_per_hour']:>9.0f} {r['vs_best']:>9.2f}  {target}")


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure, print the table (or JSON)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="16,128", help="comma-separated (default 16,128)")
    p.add_argument("--trials", type=int, default=4, help="trials per sweep (default 4)")
    p.add_argument("--limit", type=int, default=None, help="training examples (default all)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    before = loadavg()
    result = {"machine": machine_info(), "loadavg_before": before,
              **measure([int(b) for b in args.batch_sizes.split(",")], args.trials,
                        args.limit, args.epochs),
              "loadavg_after": loadavg()}
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
