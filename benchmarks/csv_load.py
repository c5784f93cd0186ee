"""Loading a user's data: backproplab side by side with pandas and Pillow.

1. A 1,000,000 x 20 numeric CSV (20 float feature columns and an integer label
   column, written once with ``DataFrame.to_csv``): ``pandas.read_csv(path)``
   against ``backproplab.data.load_dataset(path)``, which also draws the
   stratified validation split and standardizes the features (float32). Each
   load runs in a fresh child process, ``--repeats`` times alternating, and
   reports its wall time, its CPU time (steadier on a busy machine; both loads
   run on one core) and its peak memory: the peak resident set size
   (``ru_maxrss``) less the resident size just before the load, so imports do
   not count. Targets (issue 17): backproplab's time at most 1.5x pandas', its
   peak memory at most 3x the float32 array (rows x 20 x 4 bytes).
2. An image folder of 10,000 PNGs (28x28 grayscale, 10 class subfolders):
   Pillow decoding the files one after the other (``Image.open(f).convert("L")``
   into a NumPy array) against ``load_dataset(folder)`` (decoding in threads,
   then split and scaled). Target: at least Pillow's rate.

Usage::

    python benchmarks/csv_load.py [--rows 1000000] [--images 10000] [--repeats 3]
        [--work DIR] [--out benchmarks/results/csv_load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from backproplab.bench.probes import child_json

FEATURES = 20
CLASSES = 10


def rss_bytes() -> int:
    """This process's resident set size now (``VmRSS``)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(kind: str, path: str) -> dict:
    """One load in this (fresh) process: its seconds and peak bytes above the start."""
    import pandas as pd
    from PIL import Image

    from backproplab.data import load_dataset

    before = rss_bytes()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if kind == "pandas":
        frame = pd.read_csv(path)
        n = len(frame)
    elif kind == "pillow":
        files = sorted(Path(path).glob("*/*.png"))
        images = [np.asarray(Image.open(f).convert("L")) for f in files]
        n = len(images)
    else:
        ds = load_dataset(path)
        n = len(ds.X_train) + len(ds.X_eval)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"kind": kind, "seconds": seconds, "cpu_seconds": cpu,
            "peak_bytes": max(peak - before, 0), "rows": n}


def measure(kind: str, path: Path) -> dict:
    """:func:`child` in a new Python process (so each peak is its own)."""
    row = child_json([__file__, "--child", kind, str(path)], threads=1)
    if "error" in row:
        raise SystemExit(f"csv_load.py: loading with {kind} failed: {row['error']}")
    return row


def write_csv(path: Path, rows: int) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((rows, FEATURES)).astype(np.float32),
                         columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = rng.integers(0, CLASSES, rows)
    frame.to_csv(path, index=False, float_format="%.6g")


def write_pngs(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
        image[:14] //= 4  # some structure, so that zlib has something to do
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def compare(a: str, b: str, path: Path, repeats: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {a: [], b: []}
    for _ in range(repeats):
        for kind in (a, b):
            out[kind].append(measure(kind, path))
    return out


def summary(runs: list[dict]) -> dict:
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_bytes": max(r["peak_bytes"] for r in runs), "rows": runs[0]["rows"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default=None, help="folder for the generated files (kept)")
    p.add_argument("--out", default=None, help="write the results as JSON here too")
    p.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="csv_load-"))
    work.mkdir(parents=True, exist_ok=True)
    csv, pngs = work / f"numeric-{args.rows}x{FEATURES}.csv", work / f"pngs-{args.images}"
    if not csv.exists():
        write_csv(csv, args.rows)
    if not pngs.exists():
        write_pngs(pngs, args.images)

    table = {k: summary(v) for k, v in compare("pandas", "backproplab", csv, args.repeats).items()}
    array = args.rows * FEATURES * 4
    pd_t, bp_t = table["pandas"]["seconds"], table["backproplab"]["seconds"]
    print(f"CSV {args.rows} x {FEATURES} ({csv.stat().st_size / 2**20:.0f} MiB), median of "
          f"{args.repeats}, float32 array {array / 2**20:.0f} MiB")
    for kind, r in table.items():
        print(f"  {kind:<12} {r['seconds']:7.2f} s ({r['cpu_seconds']:.2f} s CPU)   peak "
              f"{r['peak_bytes'] / 2**20:5.0f} MiB = {r['peak_bytes'] / array:.2f}x the float32 array")
    cpu_ratio = table["backproplab"]["cpu_seconds"] / table["pandas"]["cpu_seconds"]
    print(f"  time ratio backproplab / pandas: {bp_t / pd_t:.2f} wall, {cpu_ratio:.2f} CPU "
          f"(target <= 1.5); memory {table['backproplab']['peak_bytes'] / array:.2f}x "
          "(target <= 3)")

    images = {k: summary(v) for k, v in compare("pillow", "backproplab", pngs, args.repeats).items()}
    print(f"image folder: {args.images} PNGs of 28x28")
    for kind, r in images.items():
        print(f"  {kind:<12} {r['seconds']:7.2f} s ({r['cpu_seconds']:.2f} s CPU)   "
              f"{r['rows'] / r['seconds']:8.0f} images/s")
    ratio = images["pillow"]["seconds"] / images["backproplab"]["seconds"]
    cpu_rate = images["pillow"]["cpu_seconds"] / images["backproplab"]["cpu_seconds"]
    print(f"  rate backproplab / Pillow: {ratio:.2f} wall, {cpu_rate:.2f} CPU (target >= 1)")
    result = {"csv": table, "csv_bytes": csv.stat().st_size, "float32_array_bytes": array,
              "csv_time_ratio": bp_t / pd_t, "csv_cpu_ratio": cpu_ratio,
              "csv_memory_ratio": table["backproplab"]["peak_bytes"] / array,
              "images": images, "image_rate_ratio": ratio, "image_cpu_rate_ratio": cpu_rate, "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "python": platform.python_version()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
