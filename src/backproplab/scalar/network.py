"""The study's network as plain Python floats (Q3-Q4): forward, backward, SGD.

Only ``math`` and ``random`` are used here (a test parses this package and checks
it). Vectors are lists of floats and matrices are lists of rows, in the layout of
docs/study.md: the weight matrix of a layer is ``fan_in x fan_out``, so ``W[i][j]``
connects input ``i`` to unit ``j`` and a layer computes
``k_j = b_j + sum_i a_i W[i][j]``.

Notation (the study's, generalised to any depth): ``x`` the input, for every
hidden layer ``k`` the pre-activation and ``h = sigmoid(k)`` the activation,
``o`` the logits of the output layer, ``y = softmax(o)`` and the loss
``l = -log y_c`` for the integer target class ``c``. With one hidden layer the
parameters ``W1, b1, W2, b2`` are the study's ``W, b, V, c``.
"""

import math
import random

from .ops import affine, cross_entropy_from_logits, matvec, outer, sigmoid, softmax

# Defaults for training the scalar engine on ``synth`` (``train --engine scalar``).
# With seed 0 they reach about 0.98 validation accuracy after the first epoch
# over the 60,000 points and stay >= 0.98 through 3 epochs (tests/scalar checks
# >= 0.93). The initial standard deviation is 1.0 rather than the tensor engine's
# 0.1: with 2 inputs, N(0, 1) weights give pre-activations of order 1, so the 8
# sigmoid units start in their sensitive range and pointing in different
# directions; with 0.1 the units start almost identical and the result depends
# more on the seed: after 3 epochs, validation accuracy 0.947-0.983 over seeds
# 0-3 with 0.1 against 0.981-0.987 with 1.0 (`train --engine scalar --epochs 3
# --seed S [--init-std 0.1]`).

#: Hidden layer width (``[2, DEFAULT_HIDDEN, 2]`` for synth).
DEFAULT_HIDDEN = 8
#: Learning rate of per-example SGD.
DEFAULT_LR = 0.1
#: Standard deviation of the normal initial weights (biases start at zero).
DEFAULT_INIT_STD = 1.0
#: Seed of ``random.Random`` for the initial weights.
DEFAULT_SEED = 0


# ---------------------------------------------------------------------------
# results of a pass


class Trace:
    """Everything a forward pass computed, kept for the backward pass.

    Made by :meth:`MLP.forward`; the parameters are stored as the attributes.

    Parameters
    ----------
    x : list of float
        A copy of the input.
    k, h : list of list of float
        ``k[l]`` and ``h[l]`` are the pre-activation and activation of hidden layer
        ``l`` (0-based: ``k[0]`` is the study's ``k``).
    o : list of float
        The logits.
    y : list of float
        ``softmax(o)``.
    loss : float
        ``-log y[target]``.
    target : int
        The target class.
    """

    __slots__ = ("h", "k", "loss", "o", "target", "x", "y")

    def __init__(self, x, k, h, o, y, loss, target):
        self.x, self.k, self.h, self.o, self.y = x, k, h, o, y
        self.loss, self.target = loss, target


class Gradients:
    """Gradients of the loss of one example with respect to everything.

    Made by :meth:`MLP.backward`; the parameters are stored as the attributes.
    Layers are 0-based here, so ``dW[0]`` is ``dl/dW1``.

    Parameters
    ----------
    dW, db : list
        The weights' (``fan_in x fan_out`` lists of rows) and the biases' gradients,
        one per layer.
    dk, dh : list of list of float
        Each hidden layer's pre-activation and activation gradients.
    do : list of float
        The logits' gradient, ``y - onehot(c)``.
    dy : list of float
        The softmax outputs' gradient: ``-1/y_c`` at ``c`` (``-inf`` where ``y_c``
        is 0), 0 elsewhere.
    dx : list of float
        The input's gradient.
    """

    __slots__ = ("dW", "db", "dh", "dk", "do", "dx", "dy")

    def __init__(self, dW, db, dk, dh, do, dy, dx):
        self.dW, self.db, self.dk, self.dh = dW, db, dk, dh
        self.do, self.dy, self.dx = do, dy, dx

    def to_dict(self):
        """Parameter gradients as ``{"W1": [[...]], "b1": [...], ...}`` (copies)."""
        return _by_name(self.dW, self.db)


def _by_name(matrices, vectors):
    """``{"W1": [[...]], "b1": [...], ...}``: copies of per-layer matrices and vectors."""
    out = {}
    for n, (W, b) in enumerate(zip(matrices, vectors), start=1):
        out[f"W{n}"] = [list(row) for row in W]
        out[f"b{n}"] = list(b)
    return out


# ---------------------------------------------------------------------------
# the network


def _check_number(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{where} must be a number, got {v!r}")
    try:
        f = float(v)
    except OverflowError:
        raise ValueError(f"{where} must be finite, got an integer beyond the float range") from None
    if not math.isfinite(f):
        raise ValueError(f"{where} must be finite, got {v!r}")
    return f


def _check_vector(v, n, where):
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"{where} must be a list of {n} numbers")
    if len(v) != n:
        raise ValueError(f"{where} must have {n} entries, got {len(v)}")
    return [_check_number(e, f"{where}[{i}]") for i, e in enumerate(v)]


def _check_matrix(M, rows, cols, where):
    if not isinstance(M, (list, tuple)) or len(M) != rows:
        got = len(M) if isinstance(M, (list, tuple)) else type(M).__name__
        raise ValueError(f"{where} must be a {rows} x {cols} list of rows, got {got} rows")
    return [_check_vector(r, cols, f"{where}[{i}]") for i, r in enumerate(M)]


class MLP:
    """A fully connected network: sigmoid hidden layers, softmax output, cross-entropy.

    Weights start as independent normal draws, layer by layer and row by row;
    biases start at zero. :meth:`from_weights` and :meth:`from_dict` build one from
    given values instead.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[2, 3, 2]`` (the study's Q3
        network) or ``[2, 4, 3, 2]``; the output needs at least 2 units.
    seed : int, default 0
        Seed of the ``random.Random`` the weights are drawn from.
    init_std : float, default 1.0
        Standard deviation of the initial weights.
    rng : random.Random, optional
        Draw from this generator instead (``seed`` is then ignored).

    Attributes
    ----------
    sizes : list of int
    weights : list of list of list of float
        ``weights[l]`` is layer ``l``'s ``fan_in x fan_out`` matrix (a list of
        rows); the public names are ``W1, W2, ...``.
    biases : list of list of float
        ``biases[l]`` is layer ``l``'s bias vector (``b1, b2, ...``).

    Raises
    ------
    ValueError
        For fewer than two sizes, a size below 1, or a one-unit output.

    Examples
    --------
    >>> net = MLP([2, 3, 2], seed=0)
    >>> trace = net.forward([0.5, -1.0], 1)
    >>> grads = net.backward(trace)
    >>> [len(W) for W in grads.dW], round(sum(trace.y), 12)
    ([2, 3], 1.0)
    >>> loss = net.train_step([0.5, -1.0], 1, lr=0.1)   # the loss before the update
    >>> loss == trace.loss, net.loss([0.5, -1.0], 1) < loss
    (True, True)
    """

    def __init__(self, sizes, *, seed=DEFAULT_SEED, init_std=DEFAULT_INIT_STD, rng=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
        if sizes[-1] < 2:
            raise ValueError("the softmax output layer needs at least 2 units")
        if rng is None:
            rng = random.Random(seed)
        self.sizes = sizes
        self.weights = [
            [[rng.gauss(0.0, init_std) for _ in range(fan_out)] for _ in range(fan_in)]
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])  # noqa: RUF007 (no itertools here)
        ]
        self.biases = [[0.0] * fan_out for fan_out in sizes[1:]]

    # -- construction from explicit values -------------------------------------

    @classmethod
    def from_weights(cls, weights, biases):
        """A network with the given matrices (``fan_in x fan_out`` lists of rows) and biases.

        Shapes and values are checked (``ValueError`` or ``TypeError`` naming the
        offending entry);
        the lists are copied as floats.
        """
        if not isinstance(weights, (list, tuple)) or not weights:
            raise ValueError("weights must be a non-empty list of matrices")
        if not isinstance(biases, (list, tuple)) or len(biases) != len(weights):
            raise ValueError("there must be exactly one bias vector per weight matrix")
        first = weights[0]
        if not isinstance(first, (list, tuple)) or not first:
            raise ValueError("W1 must be a non-empty list of rows")
        sizes = [len(first)]
        for n, W in enumerate(weights, start=1):
            if not isinstance(W, (list, tuple)) or not W or not isinstance(W[0], (list, tuple)):
                raise ValueError(f"W{n} must be a non-empty list of rows")
            if len(W[0]) < 1:
                raise ValueError(f"W{n} must have at least one column")
            sizes.append(len(W[0]))
        self = cls.__new__(cls)
        self.weights = [
            _check_matrix(W, fi, fo, f"W{n}")
            for n, (W, fi, fo) in enumerate(zip(weights, sizes[:-1], sizes[1:]), start=1)
        ]
        self.biases = [
            _check_vector(b, fo, f"b{n}") for n, (b, fo) in enumerate(zip(biases, sizes[1:]), 1)
        ]
        if sizes[-1] < 2:
            raise ValueError("the softmax output layer needs at least 2 units")
        self.sizes = sizes
        return self

    @classmethod
    def from_dict(cls, params):
        """The inverse of :meth:`to_dict`: ``{"W1": [[...]], "b1": [...], ...}``.

        Keys must be exactly ``W1, b1, ..., Wn, bn``; shapes must chain.
        """
        if not isinstance(params, dict):
            raise TypeError("parameters must be a dict of W1, b1, W2, b2, ...")
        n = len(params) // 2
        expected = {f"{p}{i}" for i in range(1, n + 1) for p in ("W", "b")}
        if n < 1 or set(params) != expected:
            raise ValueError(
                f"parameter names must be W1, b1, ..., Wn, bn; got {', '.join(sorted(params))}"
            )
        return cls.from_weights(
            [params[f"W{i}"] for i in range(1, n + 1)], [params[f"b{i}"] for i in range(1, n + 1)]
        )

    def to_dict(self):
        """Parameters as plain nested lists ``{"W1": [[...]], "b1": [...], ...}`` (copies)."""
        return _by_name(self.weights, self.biases)

    def copy(self):
        """An independent copy with the same parameters."""
        return MLP.from_dict(self.to_dict())

    # -- passes ----------------------------------------------------------------

    def forward(self, x, target):
        """One forward pass on input ``x`` with integer class ``target``; returns a :class:`Trace`."""
        n_in, n_out = self.sizes[0], self.sizes[-1]
        if isinstance(target, bool) or not hasattr(target, "__index__") or not 0 <= target < n_out:
            raise ValueError(f"target must be a class in 0..{n_out - 1}, got {target!r}")
        target = target.__index__()
        if len(x) != n_in:
            raise ValueError(f"the input must have {n_in} entries, got {len(x)}")
        ks, hs = [], []
        a = x
        last = len(self.weights) - 1
        for W, b in zip(self.weights[:last], self.biases[:last]):
            k = affine(a, W, b)
            a = [sigmoid(v) for v in k]
            ks.append(k)
            hs.append(a)
        o = affine(a, self.weights[last], self.biases[last])
        y = softmax(o)
        loss = cross_entropy_from_logits(o, target)
        return Trace(list(x), ks, hs, o, y, loss, target)

    def backward(self, trace):
        """The gradients of ``trace.loss`` with respect to every parameter and intermediate.

        The chain rule, layer by layer from the output: ``do = y - onehot(c)``;
        for each layer with input ``a``: ``dW = a (outer) delta``, ``db = delta``,
        ``da = W delta``; through a sigmoid: ``dk = dh * h * (1 - h)``.
        """
        y, c = trace.y, trace.target
        do = list(y)
        do[c] -= 1.0
        dy = [0.0] * len(y)
        dy[c] = -1.0 / y[c] if y[c] > 0.0 else -math.inf
        acts = [trace.x] + trace.h
        L = len(self.weights)
        dW, db = [None] * L, [None] * L
        dk, dh = [None] * (L - 1), [None] * (L - 1)
        delta = do
        dx = None
        for l in range(L - 1, -1, -1):
            dW[l] = outer(acts[l], delta)
            db[l] = list(delta)
            da = matvec(self.weights[l], delta)
            if l == 0:
                dx = da
            else:
                h = trace.h[l - 1]
                dh[l - 1] = da
                delta = [g * hj * (1.0 - hj) for g, hj in zip(da, h)]
                dk[l - 1] = delta
        return Gradients(dW, db, dk, dh, do, dy, dx)

    def sgd_step(self, grads, lr):
        """``p -= lr * dl/dp`` for every weight and bias, in place."""
        for W, gW, b, gb in zip(self.weights, grads.dW, self.biases, grads.db):
            for row, grow in zip(W, gW):
                row[:] = [w - lr * g for w, g in zip(row, grow)]
            b[:] = [v - lr * g for v, g in zip(b, gb)]

    def train_step(self, x, target, lr):
        """One SGD step on one example; returns the loss before the update.

        The same arithmetic as ``sgd_step(backward(forward(x, target)), lr)``
        (bit for bit), fused so that the hot loop of training keeps only the
        activations and updates each layer as soon as its error signal
        ``delta`` is known (after the signal for the layer below has been
        computed with the old weights). No input checks here (this is the hot
        loop): ``x`` must have ``sizes[0]`` floats and ``target`` be a valid class.
        """
        weights, biases = self.weights, self.biases
        last = len(weights) - 1
        acts = [x]
        a = x
        for l in range(last):
            a = [sigmoid(v) for v in affine(a, weights[l], biases[l])]
            acts.append(a)
        o = affine(a, weights[last], biases[last])
        m = max(o)
        e = [math.exp(v - m) for v in o]
        s = sum(e)
        loss = math.log(s) - (o[target] - m)
        delta = [v / s for v in e]  # y, then y - onehot(target) = dl/do
        delta[target] -= 1.0
        for l in range(last, -1, -1):
            W, b, a = weights[l], biases[l], acts[l]
            if l:
                da = matvec(W, delta)
            for ai, row in zip(a, W):
                row[:] = [w - lr * (ai * dj) for w, dj in zip(row, delta)]
            b[:] = [v - lr * dj for v, dj in zip(b, delta)]
            if l:
                delta = [g * hj * (1.0 - hj) for g, hj in zip(da, a)]
        return loss

    def loss(self, x, target):
        """The loss ``-log y_target`` of one example."""
        return self.forward(x, target).loss

    def logits(self, x):
        """The output layer's pre-softmax values ``o`` for one input (no intermediates kept)."""
        weights, biases = self.weights, self.biases
        last = len(weights) - 1
        a = x
        for l in range(last):
            a = [sigmoid(v) for v in affine(a, weights[l], biases[l])]
        return affine(a, weights[last], biases[last])

    def predict_proba(self, x):
        """The softmax output ``y`` for one input."""
        return softmax(self.logits(x))

    def predict(self, x):
        """The most probable class for one input (the first one on a tie)."""
        o = self.logits(x)
        return o.index(max(o))


# ---------------------------------------------------------------------------
# training and evaluation over a data set


def evaluate(model, X, y):
    """Mean loss and accuracy of ``model`` on a data set.

    Parameters
    ----------
    model : MLP
    X : list of list of float
        The inputs (at least one).
    y : list of int
        The classes.

    Returns
    -------
    tuple of float
        ``(mean loss, accuracy)``; a tie between logits counts as the first class.

    Raises
    ------
    ValueError
        If ``X`` is empty.

    Examples
    --------
    >>> net = MLP.from_dict({"W1": [[1.0, -1.0]], "b1": [0.0, 0.0]})
    >>> evaluate(net, [[2.0], [-2.0]], [0, 1])[1]
    1.0
    """
    if not X:
        raise ValueError("cannot evaluate on an empty data set")
    total, correct = 0.0, 0
    for x, c in zip(X, y):
        o = model.logits(x)
        total += cross_entropy_from_logits(o, c)
        correct += o.index(max(o)) == c
    return total / len(X), correct / len(X)
