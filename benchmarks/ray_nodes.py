"""How a sweep's wall time scales with the nodes of a Ray cluster.

Simulates clusters of 1, 2, ... nodes on this machine (``ray.cluster_utils.Cluster``:
a head node without CPUs for the driver, each worker node with ``--cpus-per-node``
CPUs), runs the same fixed grid of synth trials on each, and prints the sweep's
wall time (cluster start-up not included) and the speed-up over one node.

The simulated nodes are processes of this one machine: they share its cores,
so the speed-up is bounded by the cores it has, not by the nodes.

    python benchmarks/ray_nodes.py --nodes 1,2,3 --trials 6 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from sweep_overhead import timed_sweep  # a sibling script

from backproplab.bench.probes import loadavg, machine_info, machine_line
from backproplab.sweeps import Sweep
from backproplab.sweeps.ray_executor import RayExecutor
from backproplab.training import TrainConfig


def grid(trials: int, limit: int, epochs: int) -> Sweep:
    """``trials`` synth trials: learning rates x seed 0 (each trains the same amount)."""
    lrs = [round(0.05 * (i + 1), 2) for i in range(trials)]
    base = TrainConfig(dataset="synth", limit=limit, hidden=(32,), epochs=epochs)
    return Sweep(base, {"lr": lrs}, seeds=[0])


@contextmanager
def simulated_cluster(nodes: int, cpus: int):
    """A Ray cluster of ``nodes`` simulated nodes of ``cpus`` CPUs each (a CPU-less
    head for the driver), on this machine; yields ``(address, seconds to start)``."""
    from ray.cluster_utils import Cluster

    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=cpus)
        cluster.wait_for_nodes()
        yield cluster.address, time.perf_counter() - start
    finally:
        cluster.shutdown()


def time_cluster(nodes: int, cpus: int, sweep: Sweep) -> dict:
    """Start a simulated cluster of ``nodes`` nodes, time the sweep on it, stop it."""
    import ray

    with simulated_cluster(nodes, cpus) as (address, started):
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level="error")
        try:
            with tempfile.TemporaryDirectory() as tmp, RayExecutor() as ex:
                outcome, wall = timed_sweep("ray_nodes.py", sweep, Path(tmp) / "s", ex)
        finally:
            ray.shutdown()
    train = sum(float((r.summary or {}).get("seconds") or 0) for r in outcome.results)
    return {"nodes": nodes, "cpus": nodes * cpus, "workers": ex.workers,
            "start_s": round(started, 2), "sweep_s": round(wall, 2),
            "train_s_total": round(train, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", default="1,2,3", help="cluster sizes to time (default 1,2,3)")
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--limit", type=int, default=60000, help="synth points per trial")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--json", action="store_true", help="print only one JSON object")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sweep = grid(args.trials, args.limit, args.epochs)
    rows = [time_cluster(int(n), args.cpus_per_node, sweep) for n in args.nodes.split(",")]
    for row in rows:
        row["speedup"] = round(rows[0]["sweep_s"] / row["sweep_s"], 2)
    report = {"trials": args.trials, "limit": args.limit, "epochs": args.epochs,
              "machine": machine_info(), "load_average": loadavg(), "results": rows}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.trials} synth trials ({args.limit} points, {args.epochs} epochs, hidden 32) "
          f"on simulated nodes of {args.cpus_per_node} CPU; this "
          f"{machine_line(report['machine'])}, load average {report['load_average']}")
    print(f"{'nodes':>5} {'start s':>8} {'sweep s':>8} {'speed-up':>8} {'train s (sum)':>14}")
    for row in rows:
        print(f"{row['nodes']:>5} {row['start_s']:>8} {row['sweep_s']:>8} "
              f"{row['speedup']:>8} {row['train_s_total']:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
