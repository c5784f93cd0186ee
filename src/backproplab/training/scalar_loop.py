"""The training loop of the scalar engine (study Q4): per-example SGD in plain Python.

:func:`fit_scalar` mirrors :func:`backproplab.training.fit` for a
:class:`backproplab.scalar.MLP`: the same callbacks, the same per-epoch records
and the same divergence guard, with one "batch" per example. The data arrive as
NumPy arrays and are turned into lists of Python floats once; the visiting order
comes from a NumPy generator (the training layer may use NumPy, the scalar engine
itself does not).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from backproplab import scalar
from backproplab.errors import BackproplabError, DivergenceError
from backproplab.training.divergence import DivergenceGuard, divergence_error
from backproplab.training.loop import History, epoch_record

#: What pure-Python arithmetic raises when the numbers run away.
_NUMERIC_ERRORS = (OverflowError, ZeroDivisionError, FloatingPointError, ValueError)


def _diverged(epoch, example, n, what, lr) -> DivergenceError:
    return divergence_error(epoch, example, n, what, lr, unit="example")


def _as_lists(X, y, n_inputs, n_classes, what):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
        raise BackproplabError(f"{what} data must be a non-empty 2-D array and one label per row")
    if X.shape[1] != n_inputs:
        raise BackproplabError(
            f"{what} inputs have {X.shape[1]} features but the model expects {n_inputs}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise BackproplabError(f"{what} labels must be integer classes in [0, {n_classes})")
    if not np.isfinite(X).all():
        raise BackproplabError(f"{what} inputs contain NaN or infinite values; clean the data")
    return X.tolist(), [int(c) for c in y]


def _evaluate(model, X, y, epoch, lr):
    try:
        loss, acc = scalar.evaluate(model, X, y)
    except _NUMERIC_ERRORS as exc:
        raise _diverged(epoch, len(X), len(X), f"evaluation failed ({exc})", lr) from None
    return float(loss), float(acc)


def fit_scalar(model, X, y, *, epochs: int, lr: float, rng, X_eval=None, y_eval=None,
               on_batch: Callable[[int, int, int, float], None] | None = None,
               on_epoch: Callable[[dict], bool | None] | None = None,
               start_epoch: int = 0, eval_train: bool = True,
               divergence: DivergenceGuard | None = None) -> History:
    """Per-example SGD on a scalar-engine ``model``; returns the per-epoch :class:`History`.

    Arguments and records as in :func:`backproplab.training.fit` (``batch`` in the
    callbacks is the example's position in the epoch; ``divergence`` checks count
    examples). ``rng`` (a NumPy ``Generator`` or int seed) draws each epoch's
    visiting order.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise BackproplabError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise BackproplabError(f"lr must be a positive number, got {lr!r}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n_inputs, n_classes = model.sizes[0], model.sizes[-1]
    Xl, yl = _as_lists(X, y, n_inputs, n_classes, "training")
    has_eval = X_eval is not None
    if has_eval:
        Xe, ye = _as_lists(X_eval, y_eval, n_inputs, n_classes, "evaluation")
    n = len(Xl)
    step = start_epoch * n
    train_step = model.train_step
    isfinite = math.isfinite
    guard = divergence if divergence is not None else DivergenceGuard(None)
    history = History()
    for epoch in range(start_epoch + 1, epochs + 1):
        t0 = time.perf_counter()
        total = 0.0
        order = rng.permutation(n).tolist()
        done = 0
        while done < n:  # the examples between two checks of the guard: one plain loop
            upto = guard.next_check(done, n, 1)
            for b, i in enumerate(order[done:upto], start=done + 1):
                try:
                    loss = train_step(Xl[i], yl[i], lr)
                except _NUMERIC_ERRORS as exc:
                    raise _diverged(epoch, b, n, f"the arithmetic failed ({exc})", lr) from None
                if not isfinite(loss):
                    raise _diverged(epoch, b, n, f"the loss is {loss}", lr)
                total += loss
                step += 1
                if on_batch is not None:
                    on_batch(epoch, b, step, loss)
            guard.check(epoch, upto, n, total, upto, float(lr), unit="example")
            done = upto
        train_seconds = time.perf_counter() - t0
        for W, bias in zip(model.weights, model.biases):
            if not all(isfinite(v) for row in W for v in row) or not all(map(isfinite, bias)):
                raise _diverged(epoch, n, n, "a weight became non-finite", lr)

        t1 = time.perf_counter()
        running = total / n
        if eval_train:
            train_loss, train_acc = _evaluate(model, Xl, yl, epoch, lr)
        else:
            train_loss, train_acc = running, None
        eval_loss = eval_acc = None
        if has_eval:
            eval_loss, eval_acc = _evaluate(model, Xe, ye, epoch, lr)
        record = epoch_record(epoch, (train_loss, train_acc), (eval_loss, eval_acc),
                              train_seconds, time.perf_counter() - t1, float(lr), running, step)
        history.append(record)
        if on_epoch is not None and on_epoch(record) is True:
            break
    return history


__all__ = ["fit_scalar"]
