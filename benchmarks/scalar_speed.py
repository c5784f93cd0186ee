"""Speed of the scalar engine: examples per second of per-example SGD on synth.

Trains a fresh ``[2, hidden, 2]`` network for one pass over the first ``--limit``
synth training points, one example at a time, and prints examples/second for

- ``train_step``: the engine's fused step (:meth:`MLP.train_step`, what
  ``train --engine scalar`` uses), and
- ``forward+backward+sgd_step``: the same update through the general-purpose
  passes that keep every intermediate and gradient.

Each is timed ``--repeat`` times (fresh network each time) and the best time is
reported, because this machine is shared. Usage::

    python benchmarks/scalar_speed.py [--limit 20000] [--hidden 8] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from backproplab.bench.probes import machine_info
from backproplab.data import load_synth
from backproplab.scalar import DEFAULT_HIDDEN, DEFAULT_LR, MLP


def _generic_epoch(model, X, y, lr):
    for x, c in zip(X, y):
        model.sgd_step(model.backward(model.forward(x, c)), lr)


def _fused_epoch(model, X, y, lr):
    step = model.train_step
    for x, c in zip(X, y):
        step(x, c, lr)


def measure(limit: int, hidden: int, repeat: int, lr: float = DEFAULT_LR) -> dict:
    """Best examples/second over ``repeat`` one-epoch runs, for both update paths."""
    ds = load_synth(limit=limit, dtype=np.float64)
    X, y = ds.X_train.tolist(), ds.y_train.tolist()
    result = {
        "machine": machine_info(),
        "examples": len(X),
        "sizes": [2, hidden, 2],
        "repeat": repeat,
    }
    for name, fn in (("train_step", _fused_epoch), ("forward+backward+sgd_step", _generic_epoch)):
        best = float("inf")
        for _ in range(repeat):
            model = MLP([2, hidden, 2], seed=0)
            t0 = time.perf_counter()
            fn(model, X, y, lr)
            best = min(best, time.perf_counter() - t0)
        result[name] = round(len(X) / best)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=20000, help="training points per pass")
    p.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, help="hidden units")
    p.add_argument("--repeat", type=int, default=3, help="timed passes per path (best kept)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args()
    r = measure(args.limit, args.hidden, args.repeat)
    if args.json:
        print(json.dumps(r))
        return
    print(f"scalar engine, sizes {r['sizes']}, {r['examples']} examples per pass, "
          f"Python {r['machine']['python']} on {r['machine']['cpu']}, best of {r['repeat']}")
    for name in ("train_step", "forward+backward+sgd_step"):
        print(f"  {name:<28} {r[name]:>9,} examples/s")


if __name__ == "__main__":
    main()
