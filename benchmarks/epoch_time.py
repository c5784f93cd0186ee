"""Seconds per training epoch: `backproplab train`, the bare loop, PyTorch, NumPy and
scikit-learn, each in its own process, with the targets of issue 19 (met / not met).

The same measurement as ``backproplab bench`` (:func:`backproplab.bench.run_benchmark`
and :func:`backproplab.bench.print_report`, called here directly)::

    python benchmarks/epoch_time.py                         # the full table (~5 min on 2 cores)
    python benchmarks/epoch_time.py --load 1 --batch-sizes 16,128,1024 --no-memory
                                                            # busy-machine target
    python benchmarks/epoch_time.py --quick                 # a smoke test
    python benchmarks/epoch_time.py --kernels avx2          # every library on AVX2 kernels

``--kernels avx2`` runs everything (this process and every row) with the
libraries held to their AVX2 kernels (:data:`AVX2_KERNELS`: OpenBLAS's Haswell
kernels, MKL's AVX2 code path, PyTorch's AVX2 build of its operators): an AVX2
host's libraries on an AVX-512 machine, for the issue's "an AVX2 host and an
AVX-512 host". Only the kernels change, not the cores, caches or clock.

See ``--help`` and docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from backproplab.bench import print_report, run_benchmark
from backproplab.bench.workload import DEFAULT_BATCH_SIZES, DEFAULT_EPOCHS, DEFAULT_IMPLS
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json

#: The environment that holds NumPy's OpenBLAS, MKL and PyTorch to their AVX2 kernels.
AVX2_KERNELS = {"OPENBLAS_CORETYPE": "Haswell", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "ATEN_CPU_CAPABILITY": "avx2"}


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options these scripts share."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--batch-sizes", default=",".join(DEFAULT_BATCH_SIZES))
    p.add_argument("--epochs", type=int, default=None,
                   help=f"timed epochs (default {DEFAULT_EPOCHS}, 1 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed epochs (default 1)")
    p.add_argument("--threads", type=int, default=None, help="one thread count for every row")
    p.add_argument("--load", type=int, default=0, help="busy processes meanwhile (default 0)")
    p.add_argument("--impl", default=None, help="comma-separated implementations")
    p.add_argument("--quick", action="store_true", help="2,048 examples, 1 epoch")
    p.add_argument("--no-memory", action="store_true", help="skip peak memory")
    p.add_argument("--wait-quiet", type=float, default=0.0,
                   help="wait up to SECONDS for quiet before each epoch")
    p.add_argument("--json-out", default=None, help="write the result as JSON")
    return p


def run(args: argparse.Namespace, command: str, **fixed) -> int:
    """Run the benchmark with the parsed options (and ``fixed`` settings); print it."""
    impls = fixed.pop("impls", None) or args.impl or (
        "train" if args.load else ",".join(DEFAULT_IMPLS))
    try:
        result = run_benchmark(
            impls=impls, batch_sizes=args.batch_sizes,
            epochs=args.epochs or (1 if args.quick else DEFAULT_EPOCHS),
            warmup=args.warmup if args.warmup is not None else (0 if args.quick else 1),
            threads=args.threads, load=args.load, quick=args.quick,
            memory=not args.no_memory, wait_quiet=args.wait_quiet, command=command,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True), **fixed)
    except BackproplabError as exc:
        print(f"{command.split()[1]}: error: {exc}", file=sys.stderr)
        return 2
    print_report(result)
    if args.json_out:
        atomic_write_json(args.json_out, result)
        print(f"wrote {args.json_out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    p = parser("epoch_time.py", __doc__.split("\n\n")[0])
    p.add_argument("--kernels", choices=("native", "avx2"), default="native",
                   help="avx2: hold every library to its AVX2 kernels (default: native)")
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.kernels == "avx2" and any(os.environ.get(k) != v for k, v in AVX2_KERNELS.items()):
        # the libraries read these when they load: start again with them set
        os.execve(sys.executable, [sys.executable, __file__, *argv],
                  {**os.environ, **AVX2_KERNELS})
    return run(args, "python benchmarks/epoch_time.py " + " ".join(argv))


if __name__ == "__main__":
    sys.exit(main())
