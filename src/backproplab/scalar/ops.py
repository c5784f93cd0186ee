"""The elementary operations of the scalar engine, on plain lists of floats.

Vectors are lists of floats and matrices lists of rows; a weight matrix is
``fan_in x fan_out`` (see :mod:`backproplab.scalar.network`). Only ``math`` is
used here.
"""

import math


def sigmoid(z):
    """``1 / (1 + exp(-z))`` without overflow for any finite ``z``.

    For ``z < 0`` the equivalent ``exp(z) / (1 + exp(z))`` is used, so ``exp`` is
    only ever called on a non-positive number.

    Parameters
    ----------
    z : float

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> sigmoid(0.0), sigmoid(-1000.0)
    (0.5, 0.0)
    """
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def softmax(o):
    """``y_i = exp(o_i) / sum_j exp(o_j)``, computed as ``exp(o_i - max o)`` (no overflow).

    Parameters
    ----------
    o : list of float
        The logits (at least one).

    Returns
    -------
    list of float
        Probabilities summing to 1.

    Examples
    --------
    >>> softmax([1000.0, 1000.0])
    [0.5, 0.5]
    """
    m = max(o)
    e = [math.exp(v - m) for v in o]
    s = sum(e)
    return [v / s for v in e]


def cross_entropy_from_logits(o, c):
    """``-log softmax(o)[c]`` via log-sum-exp: ``log(sum_j exp(o_j - m)) - (o_c - m)``.

    Finite even where ``softmax(o)[c]`` underflows to 0.

    Parameters
    ----------
    o : list of float
        The logits.
    c : int
        The target class, an index into ``o``.

    Returns
    -------
    float
        The loss, >= 0.

    Examples
    --------
    >>> round(cross_entropy_from_logits([0.0, 0.0], 1), 6)
    0.693147
    >>> cross_entropy_from_logits([0.0, 1000.0], 0)
    1000.0
    """
    m = max(o)
    return math.log(sum([math.exp(v - m) for v in o])) - (o[c] - m)


def affine(a, W, b):
    """``k_j = b_j + sum_i a_i W[i][j]`` for a ``fan_in x fan_out`` matrix ``W``.

    Both branches add the terms in the same order, ``((b_j + a_0 W[0][j]) + a_1
    W[1][j]) + ...``; which one runs only depends on the shape, for speed: a
    wide matrix is walked row by row (few long loops), a tall one column by
    column (``zip(*W)``).

    Parameters
    ----------
    a : list of float
        The layer's input, ``fan_in`` entries.
    W : list of list of float
        ``fan_in`` rows of ``fan_out`` weights.
    b : list of float
        ``fan_out`` biases.

    Returns
    -------
    list of float
        The pre-activations, ``fan_out`` entries.

    Examples
    --------
    >>> affine([1.0, 2.0], [[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5])
    [1.5, 1.5]
    """
    if len(W) <= len(b):
        k = list(b)
        for ai, row in zip(a, W):
            k = [kj + ai * wij for kj, wij in zip(k, row)]
        return k
    return [sum([ai * wij for ai, wij in zip(a, col)], bj) for bj, col in zip(b, zip(*W))]


def matvec(W, d):
    """``g_i = sum_j W[i][j] d_j``: the gradient that flows back to a layer's input.

    Parameters
    ----------
    W : list of list of float
        ``fan_in`` rows of ``fan_out`` weights.
    d : list of float
        The gradient at the layer's output, ``fan_out`` entries.

    Returns
    -------
    list of float
        ``fan_in`` entries.

    Examples
    --------
    >>> matvec([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
    [3.0, 7.0]
    """
    return [sum([wij * dj for wij, dj in zip(row, d)]) for row in W]


def outer(a, d):
    """``G[i][j] = a_i d_j``: the weight gradient of a layer with input ``a``, output grad ``d``.

    Parameters
    ----------
    a : list of float
        The layer's input, ``fan_in`` entries.
    d : list of float
        The gradient at the layer's pre-activation, ``fan_out`` entries.

    Returns
    -------
    list of list of float
        ``fan_in x fan_out``, the layout of ``W``.

    Examples
    --------
    >>> outer([1.0, 2.0], [3.0, 4.0])
    [[3.0, 4.0], [6.0, 8.0]]
    """
    return [[ai * dj for dj in d] for ai in a]


def labelled_entries(name, value, prefix=""):
    """Every number of nested lists with its label: ``dW[1][2]``, ``k[0]``, ``loss``.

    Parameters
    ----------
    name : str
        The label's stem.
    value : float or nested list of float
        A number, a vector or a matrix (lists of rows).
    prefix : str, default ""
        The indices so far (the recursion's; callers leave it out).

    Yields
    ------
    tuple of (str, float)
        ``(label, number)``, row by row.

    Examples
    --------
    >>> list(labelled_entries("W", [[1.0, 2.0], [3.0, 4.0]]))[1:3]
    [('W[0][1]', 2.0), ('W[1][0]', 3.0)]
    """
    if isinstance(value, list):
        for i, v in enumerate(value):
            yield from labelled_entries(name, v, f"{prefix}[{i}]")
    else:
        yield f"{name}{prefix}", value
