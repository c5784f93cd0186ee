"""``backproplab bench``: epoch time of backproplab, PyTorch and scikit-learn side by side."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``bench`` subcommand."""
    from backproplab.bench import add_arguments

    p = subparsers.add_parser(
        "bench",
        help="time one training epoch of backproplab, NumPy, PyTorch and scikit-learn",
        description=(
            "Train the study's 784-300-10 sigmoid network with plain SGD in float32 on "
            "Fashion-MNIST's 55,000 training images (random data of that shape where the "
            "dataset is missing) with every installed implementation, in turns, at several "
            "batch sizes; print the median seconds per epoch, ratios, GFLOP/s against the "
            "machine's matmul peak, peak memory (fresh process each) and the load of other "
            "processes. See docs/performance.md."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its tables; 0 on success."""
    from backproplab.bench import run_from_args

    return run_from_args(args)
