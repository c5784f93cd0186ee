"""The computation graph of a one-hidden-layer network, drawn with Graphviz.

Every scalar of the forward pass is a node (the inputs, weights, biases, ``k``,
``h``, ``o``, ``y`` and the loss) showing its value and its gradient ``dl/dnode``;
the operations are the small nodes between them, as micrograd's ``draw_dot``
draws its values. Given a learner's values too, each node shows them beside the
reference and the nodes that differ are marked.

The one adapter to Graphviz: the ``graphviz`` Python package (the ``graph``
extra) is imported only when a graph is drawn, and its ``dot`` program must be
installed; either missing gives one sentence saying how to install it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError, import_optional
from backproplab.fileio import atomic_write_bytes

#: The file types a graph can be written as (by the file's extension).
FORMATS = ("svg", "png", "pdf")
#: Colour of the nodes where the learner's value or gradient differs.
DIFFERS = "#f4a6a6"
#: Each drawn quantity and its gradient's name (``None``: the loss, whose gradient is 1).
NODES = {"x": "dx", "W": "dW", "b": "db", "k": "dk", "h": "dh", "V": "dV", "c": "dc",
         "o": "do", "y": "dy", "loss": None}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v + 0.0:.4g}"


def _entry(values: dict | None, name: str | None, index: tuple[int, ...]) -> Any:
    if values is None or name is None:
        return None
    v = values.get(name)
    for i in index:
        if not isinstance(v, list) or i >= len(v):
            return None
        v = v[i]
    return v if isinstance(v, (int, float)) else None


def _label(name: str, index: tuple[int, ...], ref: dict, theirs: dict | None) -> str:
    title = name + "".join(f"[{i}]" for i in index)
    grad = NODES[name]
    fields = [title, f"value {_fmt(_entry(ref, name, index))}"]
    if theirs is not None and name in theirs:
        fields.append(f"yours {_fmt(_entry(theirs, name, index))}")
    fields.append(f"grad {_fmt(_entry(ref, grad, index) if grad else 1.0)}")
    if theirs is not None and grad in theirs:
        fields.append(f"yours {_fmt(_entry(theirs, grad, index))}")
    return "{ " + " | ".join(fields) + " }"


def build(values: dict, theirs: dict | None = None,
          differs: Callable[[str, tuple[int, ...]], bool] | None = None) -> Any:
    """The computation graph as a ``graphviz.Digraph``.

    Parameters
    ----------
    values : dict
        The reference: ``x, W, b, V, c, target`` and the values and gradients of
        :func:`backproplab.scalar.worked_pass` (``k, h, o, y, loss, dx, dW, ...``).
    theirs : dict, optional
        A learner's values and gradients by the same names (any subset), shown
        beside the reference.
    differs : callable, optional
        ``differs(name, index) -> bool`` for a value's or a gradient's name
        (``"k"``, ``"dk"``): mark the node when either differs (used with ``theirs``).

    Returns
    -------
    graphviz.Digraph

    Raises
    ------
    BackproplabError
        When the ``graphviz`` Python package is not installed.
    """
    graphviz = import_optional("graphviz", package="the graphviz Python package",
                               extra="graph", needed_by="drawing the graph")
    g = graphviz.Digraph("backprop", graph_attr={"rankdir": "LR"},
                         node_attr={"shape": "record", "fontname": "Helvetica",
                                    "fontsize": "10"})
    d, m, C = len(values["x"]), len(values["b"]), len(values["c"])

    def node(name: str, *index: int) -> str:
        key = name + "_" + "_".join(map(str, index))
        marked = theirs is not None and differs is not None and (
            differs(name, index) or (NODES[name] is not None and differs(NODES[name], index)))
        g.node(key, _label(name, index, values, theirs),
               **({"style": "filled", "fillcolor": DIFFERS} if marked else {}))
        return key

    def op(key: str, label: str, inputs: list[str], output: str) -> None:
        g.node(key, label, shape="circle", fontsize="9")
        for i in inputs:
            g.edge(i, key)
        g.edge(key, output)

    xs = [node("x", i) for i in range(d)]
    hs = []
    for j in range(m):
        k = node("k", j)
        op(f"affine_k{j}", "Σ x·W + b",
           xs + [node("W", i, j) for i in range(d)] + [node("b", j)], k)
        hs.append(node("h", j))
        op(f"sigmoid_{j}", "σ", [k], hs[-1])
    os_ = []
    for n in range(C):
        os_.append(node("o", n))
        op(f"affine_o{n}", "Σ h·V + c", hs + [node("V", j, n) for j in range(m)] + [node("c", n)],
           os_[-1])
    ys = [node("y", n) for n in range(C)]
    g.node("softmax", "softmax", shape="circle", fontsize="9")
    for o in os_:
        g.edge(o, "softmax")
    for y in ys:
        g.edge("softmax", y)
    op("neglog", f"-log y[{values['target']}]", [ys[values["target"]]], node("loss"))
    return g


def render(graph: Any, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` as SVG, PNG or PDF (by its extension) with Graphviz's ``dot``.

    Parameters
    ----------
    graph : graphviz.Digraph
        From :func:`build`.
    path : str or os.PathLike
        Where to write; the extension picks the format (:data:`FORMATS`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    BackproplabError
        An unknown extension, or Graphviz's ``dot`` program missing.
    """
    check_format(path)
    path = Path(path)
    import graphviz

    try:
        data = graph.pipe(format=path.suffix.lower().lstrip("."))
    except graphviz.ExecutableNotFound:
        raise BackproplabError("Graphviz's dot program is not installed; install Graphviz "
                               "(apt install graphviz, brew install graphviz, or "
                               "https://graphviz.org/download/) to draw the graph") from None
    atomic_write_bytes(path, data)
    return path


def check_format(path: str | os.PathLike) -> None:
    """Refuse an unknown graph extension before any work is done.

    Parameters
    ----------
    path : str or os.PathLike
        Where a graph is to be written.

    Raises
    ------
    BackproplabError
        When its extension is not one of :data:`FORMATS`.
    """
    if Path(path).suffix.lower().lstrip(".") not in FORMATS:
        raise BackproplabError(f"cannot draw a graph as {Path(path).name}; give the file a "
                               ".svg, .png or .pdf extension")


__all__ = ["DIFFERS", "FORMATS", "NODES", "build", "check_format", "render"]
