"""``backproplab evaluate``: a saved model's loss, accuracy and confusion matrix."""

from __future__ import annotations

import argparse

from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json, rich_console
from backproplab.data import DATASETS
from backproplab.predict import evaluate, load_predictor


def register(subparsers) -> None:
    """Add the ``evaluate`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "evaluate",
        help="loss, accuracy, per-class accuracy and confusion matrix of a trained model",
        description=(
            "Evaluate a model (a run folder or its model.npz) on the validation split of its "
            "dataset (the split its run validated on), or on the test split with --final, "
            "or on all of a labelled file or folder (--dataset PATH), using the "
            "preprocessing recorded with the model."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a run folder or a model.npz")
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help=f"the model's own dataset ({' | '.join(DATASETS)} or the path it was "
                        "trained on; default: as recorded with the model), or any labelled "
                        ".csv/.tsv file, .npz file or image folder, evaluated whole")
    p.add_argument("--target", default=None, metavar="NAME",
                   help="the label column of a CSV/TSV --dataset (default: the model's)")
    p.add_argument("--final", action="store_true",
                   help="evaluate on the test split instead of the validation split")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the dataset's files are (default: the run's own --data-dir, "
                        "else the usual places)")
    add_json_option(p, "the results as one JSON object on stdout, and nothing else")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``backproplab evaluate``: a trained model's loss, accuracy, per-class accuracy
    and confusion matrix on its dataset's validation split (``--final``: test).

    Prints two rich tables (per class, then the confusion matrix) after a line
    with the loss and accuracy, or with ``--json`` one JSON object. Writes
    nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``evaluate`` options (``model``, ``dataset``: a name or a
        user's file, ``final``, ``data_dir``, ``target``, ``json``).

    Returns
    -------
    int
        0. A model or dataset that cannot be read or does not match raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    result = evaluate(load_predictor(args.model), args.dataset, final=args.final,
                      data_dir=args.data_dir, target=args.target)
    if args.json:
        print_json(result)
    else:
        print_tables(result)
    return 0


def print_tables(result: dict) -> None:
    """The evaluation as two rich tables: per class, then the confusion matrix."""
    from rich.table import Table

    console = rich_console(width=max(100, 12 * len(result["classes"]) + 24))
    console.print(f"{result['model']} on the {result['split']} split of {result['dataset']} "
                  f"({result['n']} examples): loss {result['loss']:.4f}, "
                  f"accuracy {result['accuracy']:.4f}")
    per_class = Table(title="per class")
    for col in ("label", "class", "examples", "accuracy"):
        per_class.add_column(col, justify="left" if col == "class" else "right")
    for i, (name, acc) in enumerate(zip(result["classes"], result["per_class_accuracy"])):
        per_class.add_row(str(i), name, str(sum(result["confusion"][i])),
                          "-" if acc is None else f"{acc:.4f}")
    console.print(per_class)
    confusion = Table(title="confusion matrix (rows: true class, columns: predicted label)")
    confusion.add_column("true \\ predicted")
    for i in range(len(result["classes"])):
        confusion.add_column(str(i), justify="right")
    for name, row in zip(result["classes"], result["confusion"]):
        confusion.add_row(name, *map(str, row))
    console.print(confusion)
