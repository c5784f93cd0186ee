"""``backproplab plot RUN_DIR [--out DIR] [--json]``: a run's figures from its folder.

Writes ``loss.png`` and every inspection figure the run's files and data allow
(:func:`backproplab.inspect.plot_all`: examples, misclassified examples, first-layer
weights, activation histograms, confusion matrix; for synth the decision boundary,
and its animation after each epoch for a run trained with ``--inspect``) into
RUN_DIR, or into ``--out``. Prints one path a line, or with ``--json`` one JSON
object. A folder that holds no run exits with status 2.
"""

from __future__ import annotations

import argparse

from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json
from backproplab.inspect import plot_all


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
    add_json_option(p, 'one JSON object {"run_dir": ..., "figures": [paths]}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the figures; 0 when done."""
    paths = plot_all(args.run_dir, args.out)
    if args.json:
        print_json({"run_dir": args.run_dir, "figures": [str(p) for p in paths]})
    else:
        for path in paths:
            print(path)
    return 0
