"""``backproplab worked-example``: the study's Q3 network, one forward and one backward pass.

Prints every intermediate (``k``, ``h``, ``o``, ``y``, the loss) and every
gradient as tables, computed by the scalar engine. ``--json`` prints one JSON
object instead (keys ``k, h, o, y, loss, dW, db, dV, dc`` and a few more).
``--weights FILE.json`` runs another one-hidden-layer case: a JSON object with
``x`` (the input), ``W`` (inputs x hidden), ``b``, ``V`` (hidden x outputs), ``c``.
``--graph FILE`` also draws the computation graph (:mod:`backproplab.graph`).
"""

from __future__ import annotations

import argparse
import json
import math

from backproplab import graph
from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json, rich_console
from backproplab.errors import BackproplabError
from backproplab.fileio import load_json
from backproplab.scalar import Q3, labelled_entries, worked_pass

#: The keys a ``--weights`` file must have.
KEYS = ("x", "W", "b", "V", "c")


def register(subparsers) -> None:
    """Add the ``worked-example`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "worked-example",
        help="the study's Q3 network: every intermediate and gradient of one example",
        description=(
            "One forward and one backward pass of a 1-hidden-layer sigmoid network with "
            "softmax output and cross-entropy loss, by the scalar engine. Without "
            "--weights it is the study's Q3 network (x = [1, -1], 2-3-2), as described "
            "in docs/study.md (also beside every report of backproplab reproduce)."
        ),
    )
    p.add_argument("--target", type=int, default=0, help="target class c (default 0)")
    p.add_argument("--weights", metavar="FILE.json", default=None,
                   help="JSON object with x, W (inputs x hidden), b, V (hidden x outputs), c")
    add_json_option(p, "one JSON object (all values; W and dW inputs x hidden, V and dV "
                       "hidden x outputs, as in docs/study.md) instead of tables")
    p.add_argument("--graph", metavar="FILE", default=None,
                   help="also draw the computation graph, every scalar with its value and "
                        "gradient (.svg, .png or .pdf; needs Graphviz)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------
# input


def load_weights(path: str) -> dict:
    """Read and validate a weights file; returns ``{x, W, b, V, c}`` as lists of floats."""
    try:
        data = load_json(path)
    except FileNotFoundError:
        raise BackproplabError(
            f"weights file {path} does not exist; pass a JSON file with keys x, W, b, V, c"
        ) from None
    except OSError as exc:
        raise BackproplabError(
            f"cannot read weights file {path} ({exc.strerror or exc}); pass a readable UTF-8 "
            "JSON file") from None
    except ValueError as exc:
        if isinstance(exc, UnicodeDecodeError):
            raise BackproplabError(f"cannot read weights file {path} (UnicodeDecodeError); "
                                   "pass a readable UTF-8 JSON file") from None
        where = (f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else str(exc))
        raise BackproplabError(f"weights file {path} is not valid JSON ({where}); fix the file"
                               ) from None
    try:
        return validate_weights(data)
    except (TypeError, ValueError) as exc:
        raise BackproplabError(f"weights file {path}: {exc}") from None


def _number(v, where: str) -> float:
    try:  # float() of an integer beyond the float range raises OverflowError
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(float(v))
    except OverflowError:
        ok = False
    if not ok:
        try:
            shown = json.dumps(v)
        except RecursionError:  # a list nested about as deep as the parser allows
            shown = "[[[..."
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise ValueError(f"{where} must be a finite number, got {shown}; fix that entry")
    return float(v)


def _vector(v, n: int | None, where: str) -> list[float]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"{where} must be a non-empty list of numbers; fix that entry")
    if n is not None and len(v) != n:
        raise ValueError(f"{where} must have {n} entries to match the other weights, "
                         f"got {len(v)}; fix the shapes")
    return [_number(e, f"{where}[{i}]") for i, e in enumerate(v)]


def _matrix(M, rows: int, cols: int | None, where: str, shape: str) -> list[list[float]]:
    if not isinstance(M, list) or not M or not all(isinstance(r, list) for r in M):
        raise ValueError(f"{where} must be a list of rows ({shape}); fix that entry")
    if len(M) != rows:
        raise ValueError(f"{where} must have {rows} rows ({shape}), got {len(M)}; fix the shapes")
    cols = len(M[0]) if cols is None else cols
    return [_vector(r, cols, f"{where}[{i}]") for i, r in enumerate(M)]


def validate_weights(data) -> dict:
    """Check a ``{x, W, b, V, c}`` object's keys, shapes and numbers.

    Raises ``ValueError`` (or ``TypeError`` for a non-object) with a sentence
    naming the entry at fault.
    """
    if not isinstance(data, dict):
        raise TypeError("the JSON value must be an object with keys x, W, b, V, c")
    missing = [k for k in KEYS if k not in data]
    extra = sorted(set(data) - set(KEYS))
    if missing:
        raise ValueError(f"key(s) {', '.join(missing)} missing; the object needs x, W, b, V, c")
    if extra:
        raise ValueError(f"unknown key(s) {', '.join(extra)}; only x, W, b, V, c are allowed")
    x = _vector(data["x"], None, "x")
    W = _matrix(data["W"], len(x), None, "W", "inputs x hidden units")
    b = _vector(data["b"], len(W[0]), "b")
    V = _matrix(data["V"], len(b), None, "V", "hidden units x outputs")
    c = _vector(data["c"], len(V[0]), "c")
    if len(c) < 2:
        raise ValueError("V must have at least 2 columns (a softmax needs 2 classes)")
    return {"x": x, "W": W, "b": b, "V": V, "c": c}


# ---------------------------------------------------------------------------
# computation


def _clean(v):
    """Nested lists with ``-0.0`` shown as ``0.0`` (``-0.0 + 0.0 == 0.0``)."""
    if isinstance(v, list):
        return [_clean(e) for e in v]
    return v + 0.0 if isinstance(v, float) else v


def compute(weights: dict, target: int) -> dict:
    """One forward and backward pass of the scalar engine; every value as nested lists.

    Keys: ``x, target, k, h, o, y, loss`` (forward), ``dy, do, dh, dk, dV, dc, dW,
    db, dx`` (gradients of the loss), in the layout of docs/study.md (``W``/``dW`` inputs x
    hidden,
    ``V``/``dV`` hidden x outputs).
    """

    n_out = len(weights["c"])
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < n_out:
        raise BackproplabError(
            f"--target must be a class between 0 and {n_out - 1} for this network, got {target}"
        )
    passed = worked_pass(weights["x"], weights["W"], weights["b"], weights["V"], weights["c"],
                         target)
    result = {key: _clean(passed[key]) for key in (
        "x", "target", "k", "h", "o", "y", "loss", "dy", "do", "dh", "dk", "dV", "dc", "dW", "db",
        "dx")}
    # dl/dy_c = -1/y_c is -inf, legitimately, when y_c underflows to 0; anything else that
    # is not finite means the given numbers overflowed double precision
    for key, value in result.items():
        for label, v in labelled_entries(key, value) if key != "dy" else ():
            if not math.isfinite(v):
                raise BackproplabError(
                    f"the numbers overflow double precision ({label} is {_fmt(v)}); "
                    "use smaller values for x, W, b, V and c")
    return result


# ---------------------------------------------------------------------------
# output


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _vector_table(index: str, columns: dict):
    from rich.table import Table

    t = Table()
    t.add_column(index, justify="right")
    for name in columns:
        t.add_column(name, justify="right")
    n = len(next(iter(columns.values())))
    for i in range(n):
        t.add_row(str(i), *(_fmt(col[i]) for col in columns.values()))
    return t


def _matrix_table(M: list, row: str, col: str):
    from rich.table import Table

    t = Table()
    t.add_column(f"{row} \\ {col}", justify="right")
    for j in range(len(M[0])):
        t.add_column(f"{col}={j}", justify="right")
    for i, r in enumerate(M):
        t.add_row(f"{row}={i}", *(_fmt(v) for v in r))
    return t


def _print_tables(weights: dict, r: dict, is_q3: bool) -> None:
    con = rich_console(markup=False, highlight=False)
    n_in, n_hid, n_out = len(weights["x"]), len(weights["b"]), len(weights["c"])
    name = "the study's Q3 network" if is_q3 else "network from --weights"
    con.print(f"Worked example: {name}, {n_in}-{n_hid}-{n_out}, sigmoid hidden layer, "
              f"softmax output, loss l = -log y_c with target c = {r['target']}")
    con.print(f"input x = [{', '.join(_fmt(v) for v in weights['x'])}]")

    def show(title: str, table) -> None:
        con.print(title, table, sep="\n")

    con.print()
    show("W (input i -> hidden j)", _matrix_table(weights["W"], "i", "j"))
    show("b (hidden biases)", _vector_table("j", {"b_j": weights["b"]}))
    show("V (hidden j -> output k)", _matrix_table(weights["V"], "j", "k"))
    show("c (output biases)", _vector_table("k", {"c_k": weights["c"]}))
    con.print()
    con.print("Forward pass: k = x W + b, h = sigmoid(k), o = h V + c, y = softmax(o)")
    show("hidden layer", _vector_table("j", {"k_j": r["k"], "h_j": r["h"]}))
    show("output layer", _vector_table("k", {"o_k": r["o"], "y_k": r["y"]}))
    con.print(f"loss l = -log y_{r['target']} = {_fmt(r['loss'])}")
    con.print()
    con.print("Backward pass:")
    con.print("  dl/do = y - onehot(c), dl/dV = h (outer) dl/do, dl/dc = dl/do,")
    con.print("  dl/dh = V dl/do, dl/dk = dl/dh * h * (1 - h),")
    con.print("  dl/dW = x (outer) dl/dk, dl/db = dl/dk")
    show("output layer gradients",
         _vector_table("k", {"dl/dy_k": r["dy"], "dl/do_k": r["do"], "dl/dc_k": r["dc"]}))
    show("dl/dV", _matrix_table(r["dV"], "j", "k"))
    show("hidden layer gradients",
         _vector_table("j", {"dl/dh_j": r["dh"], "dl/dk_j": r["dk"], "dl/db_j": r["db"]}))
    show("dl/dW", _matrix_table(r["dW"], "i", "j"))
    if all(v == 0.0 for v in r["dh"]):
        con.print(
            "Note: this case is degenerate: dl/dh = 0 (for Q3 because V's two output "
            "columns are equal and dl/do sums to zero), so dl/dk, dl/dW and dl/db are 0 "
            "whatever the hidden layer's derivative is; it cannot reveal bugs there (such "
            "as computing the sigmoid derivative as k(1 - k) instead of h(1 - h)). "
            "tests/scalar and "
            "`backproplab gradcheck` use non-symmetric cases checked by finite differences."
        )
    if is_q3 and r["target"] == 0:
        con.print(
            "Note: the study's report printed 0.0596 in the third row of dl/dV (from a "
            f"mistyped weight); the correct value is {_fmt(abs(r['dV'][2][1]))} in "
            "magnitude, the same in every row."
        )


def run(args: argparse.Namespace) -> int:
    """``backproplab worked-example``: the study's Q3 network's forward and backward pass, by hand.

    Prints the tables of every value of the pass (inputs, activations,
    probabilities, gradients), or with ``--json`` one JSON object of all of
    them. With ``--graph FILE`` it also writes the computation graph there
    (Graphviz) and prints its path (on standard error with ``--json``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``worked-example`` options (``target``, ``weights``,
        ``graph``, ``json``); ``--weights FILE.json`` replaces the study's
        weights.

    Returns
    -------
    int
        0. An unreadable weights file or a bad ``--graph`` format raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    weights = Q3 if args.weights is None else load_weights(args.weights)
    if args.graph is not None:
        graph.check_format(args.graph)
    result = compute(weights, args.target)
    if args.graph is not None:
        graph.render(graph.build({**result, **weights}), args.graph)
        print(f"computation graph: {args.graph}")
    if args.json:
        print_json(result)
    else:
        _print_tables(weights, result, is_q3=args.weights is None)
    return 0
