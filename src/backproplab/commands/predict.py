"""``backproplab predict``: classify raw inputs with a trained model."""

from __future__ import annotations

import argparse

from backproplab.commands.options import add_json_option, int_option
from backproplab.commands.output import print_json
from backproplab.predict import input_batches, load_predictor, top_k


def register(subparsers) -> None:
    """Add the ``predict`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "predict",
        help="classify images, .npy arrays, IDX files or CSV/TSV rows with a trained model",
        description=(
            "Load a model (a run folder or its model.npz) with the preprocessing its "
            "training used, and print for every example the predicted class and the top-K "
            "probabilities. Images (PNG, JPEG; needs backproplab[images]) are converted to "
            "grayscale and must have the training images' size (28x28); they are not "
            "inverted: the datasets are light objects on a black background (--invert for "
            "dark-on-light drawings). .npy and IDX files hold raw values (pixels 0-255). A "
            "model trained on a table predicts every row of a .csv/.tsv file: its columns "
            "are matched to the model's features by name, and the label column, if present, "
            "is ignored."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a run folder or a model.npz")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="image (.png, .jpg), .npy array, IDX file or .csv/.tsv table; each may "
                        "hold many examples")
    p.add_argument("--top", default=None, metavar="K",
                   help="how many of the most probable classes to print (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="use 255 - pixel (for dark drawings on a light background)")
    add_json_option(p, "one JSON object per example on stdout, and nothing else")
    p.set_defaults(func=run)


def predictions(predictor, paths, top: int, invert: bool = False):
    """``(input name, label, [(label, probability), ...])`` for every example in ``paths``;
    an input holding several examples names them ``PATH[i]``."""
    shape = predictor.preprocessing.input_shape
    for path in paths:
        count, batches = input_batches(path, shape, invert=invert,
                                       preprocessing=predictor.preprocessing)
        i = 0
        for raw in batches:  # a large input is read and classified a batch at a time
            for row in top_k(predictor.predict_proba(raw, source=str(path)), top):
                yield (str(path) if count == 1 else f"{path}[{i}]"), row[0][0], row
                i += 1


def run(args: argparse.Namespace) -> int:
    """``backproplab predict``: classify images, ``.npy`` arrays or IDX files with a trained model.

    Prints one line per example: its name (``PATH``, or ``PATH[i]`` for a file of
    several), the predicted class and the ``--top`` most probable classes with
    their probabilities; with ``--json`` one JSON object per example
    (``input``, ``label``, ``class``, ``top``). Writes nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``predict`` options (``model``, ``inputs``, ``top``,
        ``invert``, ``json``).

    Returns
    -------
    int
        0. An unreadable model or input, or one of the wrong size, raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    top = int_option("--top", args.top, default=3)
    predictor = load_predictor(args.model)
    classes = predictor.classes
    for name, label, ranked in predictions(predictor, args.inputs, top, args.invert):
        if args.json:
            print_json({"input": name, "label": label, "class": classes[label],
                        "top": [{"label": j, "class": classes[j], "probability": p}
                                for j, p in ranked]})
        else:
            best = ", ".join(f"{classes[j]} {p:.3f}" for j, p in ranked)
            print(f"{name}: {classes[label]}  ({best})")
    return 0
