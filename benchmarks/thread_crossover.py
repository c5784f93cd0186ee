"""Where a second BLAS thread starts to pay: epoch time at 1 and 2 threads per hidden width
and batch size, the measurement behind ``SECOND_THREAD_MIN_WORK``.

Trains the 784-h-10 sigmoid network (float32, plain SGD, the project's own
``fit``) on ``--rows`` random examples of MNIST's shape for one epoch at each
batch size, alternating 1 and 2 threads ``--repeat`` times, and prints the best
seconds of each, their ratio, the step's multiply-adds, and whether the rule in
:mod:`backproplab.training.threads` (2 threads from ``SECOND_THREAD_MIN_WORK``
multiply-adds per step) picked the faster count (agrees / disagrees; a ratio
within 5% counts as agreeing either way)::

    python benchmarks/thread_crossover.py                       # hidden 100,300,1000
    python benchmarks/thread_crossover.py --hidden 300 --repeat 5

Run it on a quiet machine: the machine's facts and load come from
:mod:`backproplab.bench.probes`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from backproplab.bench.probes import LoadProbe, loadavg, machine_info, machine_line
from backproplab.tensor import MLP, make_optimizer
from backproplab.training.loop import fit
from backproplab.training.threads import SECOND_THREAD_MIN_WORK, step_work

BATCHES = (8, 16, 32, 64, 128, 256)


def epoch_seconds(X, y, hidden: int, batch: int, threads: int) -> float:
    """One epoch's ``train_seconds`` of a fresh 784-hidden-10 network."""
    with threadpool_limits(limits=threads):
        model = MLP([784, hidden, 10], activation="sigmoid", dtype="float32", seed=0)
        opt = make_optimizer("sgd", model, 0.01)
        Xc, yc = model.check_inputs(X, y)
        history = fit(model, opt, Xc, yc, epochs=1, batch_size=batch,
                      rng=np.random.default_rng(0), eval_train=False)
    return float(history[0]["train_seconds"])


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", default="100,300,1000", help="hidden widths (default 100,300,1000)")
    p.add_argument("--rows", type=int, default=8192, help="examples per epoch (default 8192)")
    p.add_argument("--repeat", type=int, default=3, help="alternations; the best counts")
    args = p.parse_args(argv)
    m = machine_info()
    print(f"{machine_line(m)}; free now {m['free_now']}; load average {loadavg()}")
    rng = np.random.default_rng(0)
    X = rng.random((args.rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.rows)
    probe = LoadProbe().start()
    print(f"{'hidden':>6} {'batch':>5} {'M mul-add':>9} {'1 thread':>9} {'2 threads':>9} "
          f"{'2t/1t':>6}  rule")
    for hidden in (int(h) for h in args.hidden.split(",")):
        for batch in BATCHES:
            best = {1: float("inf"), 2: float("inf")}
            for _ in range(args.repeat):
                for t in (1, 2):
                    best[t] = min(best[t], epoch_seconds(X, y, hidden, batch, t))
            work = step_work((784, hidden, 10), batch)
            ratio = best[2] / best[1]
            rule = 2 if work >= SECOND_THREAD_MIN_WORK else 1
            agrees = abs(ratio - 1) <= 0.05 or (ratio < 1) == (rule == 2)
            print(f"{hidden:>6} {batch:>5} {work / 1e6:>9.1f} {best[1]:>9.3f} {best[2]:>9.3f} "
                  f"{ratio:>6.2f}  {rule} thread(s): {'agrees' if agrees else 'disagrees'}")
    print(f"other processes used {probe.stop()['others']} of the CPUs meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
