"""``backproplab bench``: epoch time of backproplab, PyTorch and scikit-learn side by side.

Also the entry point of ``benchmarks/epoch_time.py`` and
``benchmarks/gpu_epoch_time.py`` (:func:`main`, same options). With ``--json``
stdout carries only JSON (the result, one object on one line) and the tables go
to stderr; without it the tables go to stdout. Progress lines go to stderr
when it is a terminal.
"""

from __future__ import annotations

import argparse
import math
import sys

from backproplab.bench import print_report, run_benchmark
from backproplab.bench.probes import LOAD_FLAG
from backproplab.bench.workload import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_EPOCHS,
    DEFAULT_IMPLS,
    DEFAULT_LR,
    DEFAULT_RETRIES,
    DEFAULT_WARMUP,
    QUICK_ROWS,
)
from backproplab.commands.options import add_json_option, float_option, int_option
from backproplab.commands.output import check_out_file, json_stdout, print_json, rich_console
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json

DESCRIPTION = (
    "Train the study's 784-300-10 sigmoid network with plain SGD in float32 on "
    "Fashion-MNIST's 55,000 training images with `backproplab train` itself, the bare "
    "training loop and every installed peer (PyTorch at 1 and 2 threads, NumPy, "
    "scikit-learn), each in its own fresh process, timed in turns at several batch "
    "sizes; print the median seconds per epoch, ratios, GFLOP/s against NumPy's best "
    "GEMM rate, peak memory, the machine's facts and the load of other processes, and "
    "whether each target of issue 19 is met. See docs/performance.md."
)


def register(subparsers) -> None:
    """Add the ``bench`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "bench",
        help="time one training epoch of backproplab, NumPy, PyTorch and scikit-learn",
        description=DESCRIPTION,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``backproplab bench`` and benchmarks/epoch_time.py)."""

    p.add_argument("--batch-sizes", default=",".join(DEFAULT_BATCH_SIZES), metavar="LIST",
                   help="comma-separated batch sizes, each a number or 'full' "
                        "(default 16,128,1024,full)")
    p.add_argument("--epochs", default=None, metavar="N",
                   help=f"timed epochs per implementation and batch size (default "
                        f"{DEFAULT_EPOCHS}, 1 with --quick; the median is reported)")
    p.add_argument("--warmup", default=None, metavar="N",
                   help=f"untimed epochs first (default {DEFAULT_WARMUP}, 0 with --quick)")
    p.add_argument("--retries", default=None, metavar="N",
                   help="run an epoch again up to N times when other processes used more than "
                        f"{LOAD_FLAG * 100:.0f}%% of the CPUs meanwhile (default "
                        f"{DEFAULT_RETRIES}, 0 with --quick)")
    p.add_argument("--wait-quiet", default=None, metavar="SECONDS",
                   help="before each timed epoch, wait up to SECONDS for other processes to "
                        "go quiet (default 0: do not wait; useful on shared machines)")
    p.add_argument("--threads", default=None, metavar="N",
                   help="threads for every row (default: train and the bare loop run at "
                        "train's default, decided once from a load sample before any row; "
                        "PyTorch runs at 1 and at 2, the others use all cores)")
    p.add_argument("--load", default=None, metavar="N",
                   help="run N busy processes meanwhile and time train at its default threads "
                        "and at 1 and 2 (the busy-machine target; default 0)")
    p.add_argument("--impl", default=None, metavar="LIST",
                   help="implementations: train, backproplab (the bare loop), numpy, torch, "
                        "sklearn (= sklearn-float64,sklearn-float32) (default: all of them; "
                        "with --load: train)")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"),
                   help="cpu (default) or gpu (backproplab on CuPy vs torch CUDA)")
    p.add_argument("--quick", action="store_true",
                   help=f"small data ({QUICK_ROWS} examples), 1 epoch, no warm-up: "
                        "checks that everything runs, numbers mean little")
    p.add_argument("--synthetic", action="store_true",
                   help="use random data of MNIST's shape even where Fashion-MNIST is present")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding Fashion-MNIST's IDX files")
    p.add_argument("--lr", default=str(DEFAULT_LR), metavar="LR",
                   help=f"learning rate (default {DEFAULT_LR}; does not change the speed)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement (fresh processes)")
    p.add_argument("--memory-batch-sizes", default=None, metavar="LIST",
                   help="batch sizes at which peak memory is measured (default 1024,full; "
                        "full with --quick)")
    p.add_argument("--json-out", default=None, metavar="FILE",
                   help="write the full result as JSON to FILE")
    add_json_option(p, "the result as one JSON object on one line, the only output on stdout "
                       "(the tables go to stderr)")


def settings(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`backproplab.bench.run_benchmark` that the parsed
    options give (bad values raise :class:`BackproplabError` before anything is timed)."""
    quick = bool(args.quick)
    if args.json_out:
        check_out_file(args.json_out, "--json-out")
    load = int_option("--load", args.load, 0, 0)
    return {
        "impls": args.impl or ("train" if load else DEFAULT_IMPLS),
        "batch_sizes": args.batch_sizes, "load": load,
        "epochs": int_option("--epochs", args.epochs, 1 if quick else DEFAULT_EPOCHS, 1),
        "warmup": int_option("--warmup", args.warmup, 0 if quick else DEFAULT_WARMUP, 0),
        "retries": int_option("--retries", args.retries, 0 if quick else DEFAULT_RETRIES, 0),
        "threads": int_option("--threads", args.threads, None, 1),
        "wait_quiet": float_option("--wait-quiet", args.wait_quiet or 0,
                                   "a number of seconds >= 0", lambda v: v >= 0),
        "lr": float_option("--lr", args.lr, "a positive finite number",
                           lambda v: v > 0 and math.isfinite(v)),
        "quick": quick, "synthetic": args.synthetic, "data_dir": args.data_dir,
        "device": args.device, "memory": not args.no_memory,
        "memory_batch_sizes": args.memory_batch_sizes or ("full" if quick else "1024,full"),
    }


def command_line(args: argparse.Namespace, prog: str = "backproplab bench") -> str:
    """The command that reproduces a run with these parsed options (recorded in the result)."""
    parts = [prog]
    for opt in ("batch_sizes", "epochs", "warmup", "retries", "wait_quiet", "threads", "load",
                "impl",
                "device", "data_dir", "lr", "memory_batch_sizes", "json_out"):
        value = getattr(args, opt, None)
        if value is not None:
            parts.append(f"--{opt.replace('_', '-')} {value}")
    for flag in ("quick", "synthetic", "no_memory", "json"):
        if getattr(args, flag, False):
            parts.append(f"--{flag.replace('_', '-')}")
    return " ".join(parts)


def run(args: argparse.Namespace, command: str | None = None) -> int:
    """``backproplab bench``: time one training epoch of backproplab and its peers.

    Runs :func:`~backproplab.bench.run.run_benchmark` with the options given and
    prints its tables (on standard error with ``--json``; progress notes go to
    standard error on a terminal). ``--json-out FILE`` also writes the result
    there (atomically); ``--json`` prints it as one JSON line on standard
    output.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench`` options.
    command : str or None, default None
        The command line recorded in the result; ``None``: rebuilt from ``args``.

    Returns
    -------
    int
        0. Bad options and a ``--json-out`` that cannot be written raise
        :class:`~backproplab.errors.BackproplabError` (exit status 2).

    Raises
    ------
    BackproplabError
        If ``--json-out`` cannot be written.
    """
    from rich.console import Console


    kwargs = settings(args)
    console = rich_console(stderr=bool(args.json))
    status = Console(stderr=True)
    result = run_benchmark(**kwargs, command=command or command_line(args),
                           progress=lambda msg: status.log(msg) if status.is_terminal else None)
    print_report(result, console)
    if args.json_out:
        try:
            atomic_write_json(args.json_out, result)
        except OSError as exc:
            raise BackproplabError(f"cannot write --json-out {args.json_out} "
                                   f"({exc.strerror or exc}); choose another file") from None
        console.print(f"wrote {args.json_out}")
    if args.json:
        print_json(result)
    return 0


def main(argv: list[str] | None = None, prog: str = "epoch_time.py") -> int:
    """Entry point of the scripts in ``benchmarks/`` (same options as ``backproplab bench``).

    Parameters
    ----------
    argv : list of str or None, default None
        The arguments; ``None`` reads ``sys.argv``.
    prog : str, default "epoch_time.py"
        The script's name, for ``--help`` and error lines.

    Returns
    -------
    int
        :func:`run`'s status, or 2 after printing ``PROG: error: ...`` for a
        :class:`~backproplab.errors.BackproplabError`.
    """
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        # with --json nothing but the JSON line may reach stdout, as under the command line
        with json_stdout(args.json):
            return run(args, command=command_line(args, f"python benchmarks/{prog}"))
    except BackproplabError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
