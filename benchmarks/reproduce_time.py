"""Wall time of the study's ``reproduce``: before and after a change, and on Ray nodes.

Each reproduction runs as users run it, ``backproplab reproduce`` in its own
process, into a fresh temporary folder (nothing is reused), on the same
dataset. Printed per row: wall seconds, trials finished (run folders with a
``summary.json``), trials per hour, and the load average before and after.

- ``--before REV`` (repeatable) also times the source tree of a git revision
  (extracted with ``git archive`` into a temporary folder and run with its
  ``src`` first on ``PYTHONPATH``, in this same environment), so the rows
  compare code, not machines;
- ``--ray-nodes 1,2,3`` times the current source on simulated Ray clusters of
  that many 1-CPU nodes (``benchmarks/ray_nodes.py``'s cluster; the nodes are
  processes of this machine and share its cores, so the speed-up is bounded
  by the cores, not the nodes).

Full mode, as the issue asks (about 4-6 minutes per row on 2 cores)::

    python benchmarks/reproduce_time.py --before 6769aab
    python benchmarks/reproduce_time.py --ray-nodes 1,2,3 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backproplab.bench.probes import loadavg, machine_info, machine_line

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_nodes import simulated_cluster  # a sibling script

REPO = Path(__file__).resolve().parents[1]


def reproduce(src: Path, out: Path, dataset: str, quick: bool, extra: list[str]) -> dict:
    """Run ``backproplab reproduce`` from the source tree ``src`` into ``out``; time it."""
    env = dict(os.environ, PYTHONPATH=str(src / "src"))
    cmd = [sys.executable, "-m", "backproplab", "reproduce", "--dataset", dataset,
           "--out", str(out), "--quiet", *(["--quick"] if quick else []), *extra]
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=str(out.parent),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"reproduce_time: {' '.join(cmd)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-2000:]}")
    trials = sum(1 for _ in out.rglob("summary.json"))
    return {"wall_s": round(wall, 1), "trials": trials,
            "trials_per_hour": round(trials * 3600 / wall), "load_before": load_before,
            "load_after": loadavg()}


def extract(rev: str, into: Path) -> Path:
    """The source tree of git revision ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def rows(args, tmp: Path) -> list[dict]:
    """Every row the arguments ask for, timed one after another."""
    out = []
    only = ["--only", args.only] if args.only else []
    for i, rev in enumerate(args.before):
        src = extract(rev, Path(tempfile.mkdtemp(dir=tmp)))
        row = reproduce(src, tmp / f"before{i}", args.dataset, args.quick, only)
        out.append({"row": f"before ({rev})", **row})
    if not args.skip_current:
        out.append({"row": "current", **reproduce(REPO, tmp / "current", args.dataset,
                                                  args.quick, only)})
    for n in [int(x) for x in args.ray_nodes.split(",") if x]:
        with simulated_cluster(n, 1) as (address, _started):
            row = reproduce(REPO, tmp / f"ray{n}", args.dataset, args.quick,
                            [*only, "--executor", "ray", "--ray-address", address])
        out.append({"row": f"ray, {n} node(s) of 1 CPU", **row})
    return out


def _load(avg: list[float] | None) -> str:
    return f"{avg[0]:.2f}" if avg else "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", action="append", default=[], metavar="REV",
                   help="also time this git revision's source (repeatable)")
    p.add_argument("--ray-nodes", default="", help="simulated Ray cluster sizes, e.g. 1,2,3")
    p.add_argument("--skip-current", action="store_true",
                   help="do not time the current source on the local executor")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--quick", action="store_true", help="reproduce --quick instead of full")
    p.add_argument("--only", default=None, metavar="NAME[,NAME]",
                   help="reproduce only these presets (a short check of this script)")
    p.add_argument("--json", action="store_true", help="print only one JSON object")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(args, Path(tmp))
    report = {"mode": "quick" if args.quick else "full", "dataset": args.dataset,
              "machine": machine_info(), "results": table}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"reproduce ({report['mode']}, {args.dataset}); {machine_line(report['machine'])}")
    print(f"{'row':<28} {'wall s':>8} {'trials':>7} {'trials/h':>9}  load before -> after")
    for r in table:
        print(f"{r['row']:<28} {r['wall_s']:>8} {r['trials']:>7} {r['trials_per_hour']:>9}  "
              f"{_load(r['load_before'])} -> {_load(r['load_after'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
