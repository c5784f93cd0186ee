"""``backproplab plot RUN_DIR [--out DIR] [--raw-weights] [--json]``: a run's figures.

Writes ``loss.png`` and every inspection figure the run's files and data allow
(:func:`backproplab.inspection.plot_all`: examples, misclassified examples, the
first-layer weights' learned change (``--raw-weights``: the raw weights),
activation histograms, confusion matrix; for synth the decision boundary,
and its animation after each epoch for a run trained with ``--inspect``) into
RUN_DIR, or into ``--out``. Prints one path a line, or with ``--json`` one JSON
object. A folder that holds no run exits with status 2.
"""

from __future__ import annotations

import argparse

from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json
from backproplab.inspection import plot_all


def register(subparsers) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot", help="draw a run's loss plot and inspection figures from its folder",
        description="Draw loss.png and every inspection figure the run allows (examples, "
                    "misclassified examples, first-layer weights, hidden-activation "
                    "histograms, confusion matrix, synth's decision boundary and, for runs "
                    "trained with --inspect, its animation after each epoch). Reads the run "
                    "folder only; never trains.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a training run")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder to write the figures into (default: RUN_DIR)")
    p.add_argument("--raw-weights", action="store_true",
                   help="draw the raw first-layer weights (at initialization and after "
                        "training) instead of their learned change W - W_init")
    add_json_option(p, 'one JSON object {"run_dir": ..., "figures": [paths]}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the figures; 0 when done."""
    paths = plot_all(args.run_dir, args.out, raw_weights=args.raw_weights)
    if args.json:
        print_json({"run_dir": args.run_dir, "figures": [str(p) for p in paths]})
    else:
        for path in paths:
            print(path)
    return 0
