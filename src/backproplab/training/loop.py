"""The training loop's Python API, :func:`fit`, and the tensor engine's trainer.

:func:`fit` trains either engine's model: a :class:`backproplab.tensor.MLP` with
one of its optimizers, through :class:`TensorTrainer`, or a
:class:`backproplab.scalar.MLP` with :class:`~backproplab.training.scalar_loop.ScalarSGD`
(the study's per-example SGD), through
:class:`~backproplab.training.scalar_loop.ScalarTrainer`. Both run the one epoch
loop, :func:`backproplab.training.epochs.run_epochs` (schedules, early stopping,
the divergence guard, the per-epoch records: see its module). Run folders,
checkpoints and progress bars are added by :func:`backproplab.training.run_training`
through the ``on_batch`` / ``on_epoch`` callbacks.

The tensor engine's batches: each epoch shuffles example *indices* with the
given generator (the data set is never copied; each batch is gathered with
``np.take`` into one reused buffer) and :func:`backproplab.tensor.train_step`
trains on it; evaluation runs in large batches (``eval_batch_size``).

The arguments of ``fit`` in more detail:

- ``epochs`` is the number of the last epoch and ``start_epoch`` the number of
  epochs already done (a resumed run passes the checkpoint's epoch), so the
  epochs run are ``start_epoch + 1 .. epochs``. ``batch_size`` is an integer or
  ``"full"`` (one step per epoch on the whole set); ``None`` means 16 for the
  tensor engine and 1, the only size it takes, for the scalar engine.
- ``shuffle``: ``None`` (default) shuffles every epoch unless one batch holds
  the whole set (which then trains in the data's order); ``True`` shuffles
  every epoch, also a single batch (scikit-learn's rule); ``False`` never does:
  the batches are consecutive slices of ``X``. The scalar engine visits the
  examples in a fresh order every epoch.
- ``loss_term(batch_len)`` (tensor engine), when given, is an extra term of
  every batch's loss (e.g. an L2 penalty): it runs before each step, with the
  weights the step starts from, and its value is added to that batch's loss
  (the ``loss`` of ``on_batch``, the running mean, the divergence guard); the
  term's gradient is its own business (scikit-learn's ``alpha`` sets
  ``optimizer.weight_decay`` to ``alpha / batch_len`` there).
- ``eval_train=False`` skips the pass over the training set;
  ``eval_batch_size`` is the batch size of the tensor engine's evaluation passes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backproplab import scalar
from backproplab.errors import BackproplabError
from backproplab.tensor import train_step
from backproplab.training.divergence import DivergenceGuard
from backproplab.training.epochs import History, run_epochs
from backproplab.training.scalar_loop import ScalarTrainer

#: Examples per evaluation batch (large: evaluation is memory bound, not step bound).
EVAL_BATCH_SIZE = 8192


def fit(model, optimizer, X, y, *, epochs: int, batch_size: int | str | None = None, rng,
        X_eval=None, y_eval=None,
        on_batch: Callable[[int, int, int, float], None] | None = None,
        on_epoch: Callable[[dict], bool | None] | None = None,
        start_epoch: int = 0, eval_train: bool = True,
        eval_batch_size: int = EVAL_BATCH_SIZE, schedule=None, early_stopping=None,
        shuffle: bool | None = None,
        loss_term: Callable[[int], float] | None = None,
        divergence: DivergenceGuard | None = None) -> History:
    """Train ``model`` with ``optimizer`` on ``(X, y)``, epochs ``start_epoch + 1 .. epochs``.

    Parameters
    ----------
    model, optimizer : tensor.MLP and its optimizer, or scalar.MLP and ScalarSGD
        ``model`` is trained in place.
    X, y, X_eval, y_eval : arrays
        Training examples and labels; the optional evaluation set.
    epochs, start_epoch : int
        The last epoch's number; the epochs already done (a resume).
    batch_size : int or "full", optional
    rng : numpy.random.Generator or int
        Draws each epoch's permutation.
    on_batch, on_epoch : callable, optional
        Called after every step and every epoch (:mod:`backproplab.training.epochs`).
    schedule, early_stopping, divergence : optional
        A ``Schedule``, an ``EarlyStopping`` (needs ``X_eval``), a ``DivergenceGuard``.
    shuffle, eval_train, eval_batch_size, loss_term
        See the module docstring.

    Returns
    -------
    History
        One record per epoch, with ``stopped_reason`` and ``restored_epoch``.

    Raises
    ------
    BackproplabError
        For bad settings or data (also ``X_eval`` without ``y_eval`` or the reverse);
        ``DivergenceError`` when training diverges.

    Examples
    --------
    >>> from backproplab.data import load_dataset
    >>> from backproplab.tensor import MLP, make_optimizer
    >>> d, model = load_dataset("synth", limit=256), MLP([2, 8, 2], seed=0)
    >>> h = fit(model, make_optimizer("sgd", model, lr=0.1), d.X_train, d.y_train,
    ...         epochs=2, batch_size=32, rng=0, X_eval=d.X_eval, y_eval=d.y_eval)
    >>> [r["epoch"] for r in h], h.stopped_reason
    ([1, 2], 'epochs')
    """
    if (X_eval is None) != (y_eval is None):
        given, missing = ("X_eval", "y_eval") if y_eval is None else ("y_eval", "X_eval")
        raise BackproplabError(f"fit got {given} without {missing}; pass both X_eval and "
                               "y_eval, or neither")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    trainer = _trainer(model, optimizer, (X, y), (X_eval, y_eval), rng, batch_size=batch_size,
                       shuffle=shuffle, loss_term=loss_term, eval_batch_size=eval_batch_size)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return run_epochs(trainer, epochs=epochs, start_epoch=start_epoch, on_batch=on_batch,
                          on_epoch=on_epoch, eval_train=eval_train, schedule=schedule,
                          early_stopping=early_stopping, divergence=divergence)


def _trainer(model, optimizer, train, evaluation, rng, *, batch_size, shuffle, loss_term,
             eval_batch_size):
    """The trainer of ``model``'s engine (:func:`fit`'s arguments)."""
    if isinstance(model, scalar.MLP):
        if batch_size not in (None, 1) or shuffle is False or loss_term is not None:
            raise BackproplabError(
                "the scalar engine trains on one example at a time, in a fresh order every "
                "epoch; drop batch_size, shuffle and loss_term")
        return ScalarTrainer(model, optimizer, *train, *evaluation, rng)
    return TensorTrainer(model, optimizer, *train, *evaluation, rng,
                         batch_size=16 if batch_size is None else batch_size, shuffle=shuffle,
                         loss_term=loss_term, eval_batch_size=eval_batch_size)


class TensorTrainer:
    """A :class:`backproplab.tensor.MLP`, its optimizer and its data, for
    :func:`~backproplab.training.epochs.run_epochs` (the adapter its module describes).

    Parameters
    ----------
    model, optimizer : MLP, Optimizer
        From :mod:`backproplab.tensor`.
    X, y, X_eval, y_eval : arrays
        The training set and the optional evaluation set, checked once here.
    rng : numpy.random.Generator
        Draws each epoch's permutation.
    batch_size : int or "full"
    shuffle, loss_term, eval_batch_size
        As in :func:`fit`.
    """

    unit = "batch"
    #: The schedule's starting rate (the configured ``lr``) while a schedule sets ``lr``.
    lr0 = None
    numeric_errors = ()  # NumPy gives NaN or infinity, which the loop looks for

    def __init__(self, model, optimizer, X, y, X_eval, y_eval, rng, *, batch_size,
                 shuffle=None, loss_term=None, eval_batch_size=EVAL_BATCH_SIZE):
        self.model, self.optimizer, self.eval_batch_size = model, optimizer, eval_batch_size
        # validate each set once (shapes, labels, NaN/inf, dtype, device), not per batch
        self.train = model.check_inputs(X, y)
        self.evaluation = None if X_eval is None else model.check_inputs(X_eval, y_eval)
        self.has_eval = self.evaluation is not None
        self.n = len(self.train[0])
        self._batches = _Batches(*self.train, _batch_len(batch_size, self.n), shuffle, rng,
                                 getattr(model, "xp", np))
        self.n_batches, self.batch_size = self._batches.n_batches, self._batches.bs
        self.loss_term = loss_term

    @property
    def lr(self) -> float | None:
        """The optimizer's learning rate (``None`` for one without)."""
        lr = getattr(self.optimizer, "lr", None)
        return float(lr) if lr is not None else None

    @lr.setter
    def lr(self, rate: float) -> None:
        self.optimizer.lr = rate

    def batches(self):
        """One epoch's batches ``(X, y, rows)``."""
        return iter(self._batches)

    @property
    def step(self):
        """``step(X, y) -> loss``: :func:`backproplab.tensor.train_step` on one batch
        (plus ``loss_term``, when given)."""
        model, optimizer, loss_term = self.model, self.optimizer, self.loss_term

        def step(xb, yb):  # a plain closure: cheaper per call than functools.partial
            return train_step(model, optimizer, xb, yb, check=False)

        def with_term(xb, yb):
            extra = loss_term(len(yb))  # with the weights the step starts from
            loss = float(train_step(model, optimizer, xb, yb, check=False))
            return loss if extra is None else loss + extra
        return step if loss_term is None else with_term

    def evaluate(self, split: str) -> tuple[float, float]:
        """``(mean loss, accuracy)`` on ``"train"`` or ``"eval"``."""
        data = self.train if split == "train" else self.evaluation
        loss, acc = self.model.evaluate(*data, batch_size=self.eval_batch_size, check=False)
        return float(loss), float(acc)

    def weights_finite(self) -> bool:
        """Whether every parameter is finite."""
        xp = getattr(self.model, "xp", np)
        return all(bool(xp.isfinite(p).all()) for p in self.model.params.values())

    @property
    def params(self) -> dict:
        """The model's parameters by name (the arrays themselves)."""
        return self.model.params

    def set_params(self, params: dict) -> None:
        """Copy ``params`` into the model by name."""
        self.model.set_params(params)


def _batch_len(batch_size, n: int) -> int:
    if batch_size == "full":
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise BackproplabError(f"batch size must be a positive integer or 'full', "
                               f"got {batch_size!r}")
    return min(int(batch_size), n)


class _Batches:
    """The batches of an epoch: consecutive slices of ``(X, y)`` (no shuffling), or a
    fresh permutation of the indices gathered with ``take`` into two reused buffers
    (the data set itself is never copied). Each batch is ``(X, y, rows)``."""

    def __init__(self, X, y, bs: int, shuffle: bool | None, rng, xp):
        n = len(X)
        self.X, self.y, self.bs, self.n, self.rng, self.xp = X, y, bs, n, rng, xp
        self.n_batches = -(-n // bs)
        self.shuffle = bs < n if shuffle is None else bool(shuffle)
        if self.shuffle:
            self.X_buf = xp.empty((bs,) + tuple(X.shape[1:]), dtype=X.dtype)
            self.y_buf = xp.empty(bs, dtype=y.dtype)

    def __iter__(self):
        X, y, bs, n, xp = self.X, self.y, self.bs, self.n, self.xp
        if not self.shuffle:
            for start in range(0, n, bs):
                yb = y[start:start + bs]
                yield X[start:start + bs], yb, len(yb)
            return
        order = self.rng.permutation(n)
        on_cpu = xp is np
        if not on_cpu:
            order = xp.asarray(order)  # one transfer per epoch
        X_buf, y_buf = self.X_buf, self.y_buf
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            k = len(idx)
            if on_cpu:  # mode="clip" gathers straight into the buffer (no temporary)
                yield (np.take(X, idx, axis=0, out=X_buf[:k], mode="clip"),
                       np.take(y, idx, out=y_buf[:k], mode="clip"), k)
            else:
                yield (xp.take(X, idx, axis=0, out=X_buf[:k]), xp.take(y, idx, out=y_buf[:k]),
                       k)


__all__ = ["EVAL_BATCH_SIZE", "TensorTrainer", "fit"]
