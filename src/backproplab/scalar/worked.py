"""The study's Q3 network written once, and one forward and backward pass of any
one-hidden-layer network in the study's names (``W, b, V, c``).

``backproplab worked-example``, the study's live checks and the checker of
learners' implementations (:mod:`backproplab.check`) all take the network and
its values from here. Standard library only, like the rest of the scalar engine.
"""

from .network import MLP

#: The study's Q3 network (docs/derivations.md): ``W`` is 2x3 (input i -> hidden j),
#: ``V`` is 3x2 (hidden j -> output k), input ``x = [1, -1]``.
Q3 = {
    "x": [1.0, -1.0],
    "W": [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]],
    "b": [0.0, 0.0, 0.0],
    "V": [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]],
    "c": [0.0, 0.0],
}
#: The Q3 network's target class.
Q3_TARGET = 0

#: The values :func:`worked_pass` returns, forward pass first, in the order of the computation.
FORWARD_KEYS = ("k", "h", "o", "y", "loss")
#: The gradients :func:`worked_pass` returns, in the order the backward pass computes them.
GRADIENT_KEYS = ("dy", "do", "dc", "dV", "dh", "dk", "db", "dW", "dx")


def worked_pass(x, W, b, V, c, target):
    """One forward and one backward pass of a one-hidden-layer network.

    Parameters
    ----------
    x : list of float
        The input, ``d`` numbers.
    W : list of list of float
        ``d x m`` first-layer weights (input ``i`` -> hidden unit ``j``).
    b : list of float
        The ``m`` hidden biases.
    V : list of list of float
        ``m x C`` second-layer weights (hidden unit ``j`` -> output ``k``).
    c : list of float
        The ``C`` output biases.
    target : int
        The target class, ``0 <= target < C``.

    Returns
    -------
    dict
        ``x`` and ``target``, the forward values ``k, h, o, y, loss`` and the
        gradients of the loss ``dy, do, dc, dV, dh, dk, db, dW, dx`` as nested
        lists of floats in the same layout as the parameters.

    Raises
    ------
    ValueError, TypeError
        When the shapes do not chain or a value is not a finite number.

    Examples
    --------
    >>> r = worked_pass(target=Q3_TARGET, **Q3)
    >>> r["y"], r["dc"]
    ([0.5, 0.5], [-0.5, 0.5])
    """
    model = MLP.from_weights([W, V], [b, c])
    trace = model.forward(x, target)
    g = model.backward(trace)
    return {
        "x": list(trace.x), "target": trace.target,
        "k": trace.k[0], "h": trace.h[0], "o": trace.o, "y": trace.y, "loss": trace.loss,
        "dy": g.dy, "do": g.do, "dc": g.db[1], "dV": g.dW[1],
        "dh": g.dh[0], "dk": g.dk[0], "db": g.db[0], "dW": g.dW[0], "dx": g.dx,
    }
