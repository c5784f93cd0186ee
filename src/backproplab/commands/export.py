"""``backproplab export``: a trained network as ONNX or a PyTorch state_dict."""

from __future__ import annotations

import argparse
import sys

from backproplab.predict import FORMATS, export, load_predictor


def register(subparsers) -> None:
    """Add the ``export`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "export",
        help="export a trained network to ONNX or a PyTorch state_dict",
        description=(
            "Write the network of a model (a run folder or its model.npz) as ONNX "
            "(MatMul/Add/activation per layer, Softmax at the end; needs backproplab[onnx]) "
            "or as a PyTorch state_dict for nn.Sequential(Linear, act, ..., Linear, "
            "Softmax(dim=1)) (keys 0.weight, 0.bias, 2.weight, ...). Both take the "
            "preprocessed input (flattened, normalized as in training) in float32; the "
            "preprocessing is in the ONNX metadata, and next to the .pt as "
            "NAME.preprocessing.json."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a run folder or a model.npz")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx or torch")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the file to write (default: next to model.npz, as model.onnx or "
                        "model.pt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``backproplab export``: write a trained network as ONNX or a PyTorch state_dict.

    Writes the file (``--out``, default beside ``model.npz``; for ``torch`` also
    ``NAME.preprocessing.json``), prints every file written on standard output,
    one per line, and the network's shape on standard error.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``export`` options (``model``, ``format``, ``out``).

    Returns
    -------
    int
        0. An unreadable model or a missing extra (``onnx``, ``torch``) raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    predictor = load_predictor(args.model)
    for path in export(predictor, args.format, args.out):
        print(path)
    print(f"exported {predictor.model.sizes} {predictor.model.activation} network "
          f"({predictor.dataset})", file=sys.stderr)
    return 0
