"""``backproplab plot RUN_OR_SWEEP [--out DIR] [--raw-weights] [--json]``: figures from a folder.

For a run folder: ``loss.png`` and every inspection figure the run's files and
data allow (:func:`backproplab.inspection.plot_all`: examples, misclassified
examples, the first-layer weights' learned change (``--raw-weights``: the raw
weights), activation histograms, confusion matrix; for synth the decision
boundary, and its animation after each epoch for a run trained with
``--inspect``). For a sweep folder: ``sweep.png``
(:func:`backproplab.plots.sweeps.plot_sweep`: each group's curves with a band over
the 95% interval of the mean over seeds, and the final accuracy against the
swept value with the interval as error bars), drawn from what is finished so far
(every finished epoch of every trial, the final metrics of the finished trials).
The figures go into the folder, or into ``--out``. Prints one path a line, or
with ``--json`` one JSON object. A folder that holds no run and no sweep exits
with status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json, stderr_note
from backproplab.errors import BackproplabError
from backproplab.inspection import plot_all
from backproplab.plots.sweeps import plot_sweep
from backproplab.runs import SWEEP_FIGURE, RunFolder, SweepFolder, open_folder
from backproplab.sweeps.aggregate import read_sweep


def register(subparsers) -> None:
    """Add the ``plot`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "plot", help="draw a run's or a sweep's figures from its folder",
        description="For a run: draw loss.png and every inspection figure the run allows "
                    "(examples, misclassified examples, the first-layer weights' learned change, "
                    "hidden-activation "
                    "histograms, confusion matrix, synth's decision boundary and, for runs "
                    "trained with --inspect, its animation after each epoch). For a sweep: "
                    "draw sweep.png (each group's curves with a band over the 95% interval "
                    "of the mean over seeds, and the final accuracy against the swept value), "
                    "from what has finished so far. Reads the folder only; never trains.",
    )
    p.add_argument("run_dir", metavar="RUN_OR_SWEEP",
                   help="the folder of a training run (train --out) or of a sweep (sweep --out)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder to write the figures into (default: the folder plotted)")
    p.add_argument("--raw-weights", action="store_true",
                   help="draw the raw first-layer weights (at initialization and after "
                        "training) instead of their learned change W - W_init")
    add_json_option(p, 'one JSON object {"run_dir" or "sweep_dir": ..., "figures": [paths]}')
    p.set_defaults(func=run)


def plot_sweep_folder(path: str, folder: SweepFolder, out: str | None) -> Path:
    """Draw ``sweep.png`` of the opened sweep ``folder`` (given as ``path``; into
    ``out`` when given)."""
    results = read_sweep(folder, log=stderr_note(path))
    if not any(g["epochs"] for g in results["groups"]):
        raise BackproplabError(f"no trial of the sweep {path} has finished an epoch yet; "
                               "plot it again once one has")
    return plot_sweep(results, Path(out if out is not None else path) / SWEEP_FIGURE)


def run(args: argparse.Namespace) -> int:
    """``backproplab plot``: draw the figures of a run folder or of a sweep folder.

    For a run, ``loss.png`` and every inspection figure the run allows; for a
    sweep, ``sweep.png`` from the trials finished so far (trials left out are
    named on standard error). The figures go into ``--out`` (default: the folder
    plotted); their paths are printed, one per line, or with ``--json`` as one
    JSON object ``{"run_dir" or "sweep_dir", "figures"}``. Never trains.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``plot`` options (``run_dir``, ``out``, ``raw_weights``,
        ``json``).

    Returns
    -------
    int
        0. A folder that is neither a run nor a sweep, or a sweep without a
        finished epoch, raises :class:`~backproplab.errors.BackproplabError`
        (exit status 2).
    """
    folder = open_folder(args.run_dir)
    if isinstance(folder, RunFolder):
        key = "run_dir"
        paths = plot_all(args.run_dir, args.out, raw_weights=args.raw_weights)
    else:
        key, paths = "sweep_dir", [plot_sweep_folder(args.run_dir, folder, args.out)]
    if args.json:
        print_json({key: args.run_dir, "figures": [str(p) for p in paths]})
    else:
        for path in paths:
            print(path)
    return 0
