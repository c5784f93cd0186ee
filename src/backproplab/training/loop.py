"""The training loop of the tensor engine: :func:`fit` and its :class:`History`.

``fit`` is the whole loop and nothing else: it shuffles example *indices* with
the given generator each epoch (the data set is never copied; each batch is
gathered with ``np.take`` into one reused buffer), calls
:func:`backproplab.tensor.train_step` per batch, evaluates in large batches at
the end of each epoch and returns the per-epoch records. Run folders,
checkpoints and progress bars are added by :func:`backproplab.training.run_training`
through the ``on_batch`` / ``on_epoch`` callbacks.

The arguments of ``fit`` in more detail:

- ``epochs`` is the number of the last epoch and ``start_epoch`` the number of
  epochs already done (a resumed run passes the checkpoint's epoch), so the
  epochs run are ``start_epoch + 1 .. epochs``. ``batch_size`` is an integer or
  ``"full"`` (one step per epoch on the whole set).
- ``shuffle``: ``None`` (default) shuffles every epoch unless one batch holds
  the whole set (which then trains in the data's order); ``True`` shuffles
  every epoch, also a single batch (scikit-learn's rule); ``False`` never does:
  the batches are consecutive slices of ``X``.
- ``on_batch(epoch, batch, step, loss)``: ``batch`` counts from 1 within the
  epoch, ``step`` from 1 over the whole run. ``on_epoch(record)`` gets each
  epoch's record; if it returns ``True`` training stops after that epoch.
- ``loss_term(batch_len)``, when given, is an extra term of every batch's loss
  (e.g. an L2 penalty): it runs before each step, with the weights the step
  starts from, and its value is added to that batch's loss (the ``loss`` of
  ``on_batch``, the running mean, the divergence guard); the term's gradient
  is its own business (scikit-learn's ``alpha`` sets ``optimizer.weight_decay``
  to ``alpha / batch_len`` there).
- ``eval_train=False`` skips the pass over the training set (below);
  ``eval_batch_size`` is the batch size of both evaluation passes.

What the per-epoch numbers mean:

- ``train_loss`` / ``train_accuracy``: a separate pass over the whole training
  set with the weights at the end of the epoch (the same weights as
  ``eval_loss``, so the two curves compare like with like). Its time counts in
  ``eval_seconds``, not ``train_seconds``. With ``eval_train=False`` the pass is
  skipped: ``train_loss`` is then the running mean below and
  ``train_accuracy`` is ``None``.
- ``train_loss_running``: the mean of the batch losses seen during the epoch
  (each taken before its update, weighted by batch size): what a training log
  usually prints, for free.
- ``train_seconds``: the training steps alone (gathering batches, forward,
  backward, update and the cheap per-batch callback); ``eval_seconds``: both
  evaluation passes.

Learning-rate schedules and early stopping (both optional, see
:mod:`backproplab.training.schedules` and :mod:`backproplab.training.early_stopping`):
the schedule sets ``optimizer.lr`` before every epoch (so each record's ``lr``
is the rate that epoch used) and sees the record afterwards; early stopping
adds its fields to the record, may end training, and with ``restore_best``
puts the best epoch's weights back at the end. Both act *before* ``on_epoch``,
so a checkpoint written there holds their state after the epoch.
``History.stopped_reason`` says why training ended: ``"epochs"`` (all of them
ran), ``"early_stopping"``, ``"lr_plateau"`` (the plateau schedule's rate fell
to its minimum) or ``"callback"`` (``on_epoch`` returned ``True``).

The divergence guard (:mod:`backproplab.training.divergence`): a non-finite
batch loss stops training at once with :class:`~backproplab.errors.DivergenceError`
naming the epoch and batch; the weights are also checked for non-finite values at
the end of every epoch, before ``on_epoch`` (which writes the checkpoint) runs, so
no checkpoint ever holds them. With a
:class:`~backproplab.training.divergence.DivergenceGuard` (``divergence=``),
a finite loss that stays far above its start stops training too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.tensor import train_step
from backproplab.training.divergence import DivergenceGuard, divergence_error

#: Examples per evaluation batch (large: evaluation is memory bound, not step bound).
EVAL_BATCH_SIZE = 8192


class History(list):
    """The per-epoch records of :func:`fit`, in order: a list of dicts.

    ``history.metric("eval_accuracy")`` gives one metric as a list;
    ``history.last`` the final record (``None`` when empty).
    ``history.stopped_reason`` says why training ended (see the module
    docstring) and ``history.restored_epoch`` which epoch's weights early
    stopping put back (``None`` when it did not).
    """

    stopped_reason: str = "epochs"
    restored_epoch: int | None = None

    def metric(self, name: str) -> list:
        """The values of ``name`` for every epoch (``None`` where missing)."""
        return [row.get(name) for row in self]

    @property
    def last(self) -> dict | None:
        """The last epoch's record, or ``None``."""
        return self[-1] if self else None


def _check_weights(model, optimizer, epoch: int, n_batches: int) -> None:
    """The divergence guard's end-of-epoch scan of the weights."""
    xp = getattr(model, "xp", np)
    for name, p in model.params.items():
        if not bool(xp.isfinite(p).all()):
            raise divergence_error(epoch, n_batches, n_batches,
                                   f"weight {name} has non-finite values", _lr_of(optimizer))


def epoch_record(epoch: int, train: tuple, evaluation: tuple, train_seconds: float,
                 eval_seconds: float, lr, running: float, steps: int) -> dict:
    """One line of ``metrics.jsonl``: the keys every engine's epoch reports.

    ``train`` and ``evaluation`` are ``(loss, accuracy)`` pairs (``None`` where not
    measured); ``running`` is the mean of the batch losses during the epoch.
    """
    return {
        "epoch": epoch,
        "train_loss": train[0],
        "train_accuracy": train[1],
        "eval_loss": evaluation[0],
        "eval_accuracy": evaluation[1],
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "lr": lr,
        "train_loss_running": running,
        "steps": steps,
    }


def _lr_of(optimizer) -> float | None:
    lr = getattr(optimizer, "lr", None)
    return float(lr) if lr is not None else None


def fit(model, optimizer, X, y, *, epochs: int, batch_size: int | str = 16, rng,
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
    model, optimizer : MLP, Optimizer
        From :mod:`backproplab.tensor`; ``model`` is trained in place.
    X, y, X_eval, y_eval : arrays
        Training examples and labels; the optional evaluation set.
    epochs, start_epoch : int
        The last epoch's number; the epochs already done (a resume).
    batch_size : int or "full", default=16
    rng : numpy.random.Generator or int
        Draws each epoch's permutation.
    on_batch, on_epoch : callable, optional
        Called after every step and every epoch (see the module docstring).
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
        For bad settings or data; ``DivergenceError`` when training diverges.

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
    _check_run(epochs, start_epoch, early_stopping, X_eval is not None)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # validate each set once (shapes, labels, NaN/inf, dtype, device), not per batch
    X, y = model.check_inputs(X, y)
    evaluation = None if X_eval is None else model.check_inputs(X_eval, y_eval)
    batches = _Batches(X, y, _batch_len(batch_size, len(X)), shuffle, rng,
                       getattr(model, "xp", np))
    step = start_epoch * batches.n_batches
    guard = divergence if divergence is not None else DivergenceGuard(None)
    history = History()
    stopped = _stopped_before(early_stopping, schedule)  # a finished, resumed run
    history.stopped_reason = stopped or history.stopped_reason
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(start_epoch + 1, (start_epoch if stopped else epochs) + 1):
            _set_rate(schedule, optimizer, epoch)
            t0 = time.perf_counter()
            total, step = _train_epoch(model, optimizer, batches, epoch, step, on_batch,
                                       loss_term, guard)
            train_seconds = time.perf_counter() - t0
            _check_weights(model, optimizer, epoch, batches.n_batches)
            record = _evaluate_epoch(model, epoch, (X, y) if eval_train else None, evaluation,
                                     eval_batch_size, total / len(X))
            record.update(train_seconds=train_seconds, lr=_lr_of(optimizer), steps=step)
            stop = _end_epoch(model, record, history, schedule, early_stopping, on_epoch)
            if stop is not None:
                history.stopped_reason = stop
                break
    if early_stopping is not None:
        history.restored_epoch = early_stopping.restore(model)
    return history


def _stopped_before(early_stopping, schedule) -> str | None:
    """Why a resumed run had already stopped (its controls' state says so), or ``None``."""
    if early_stopping is not None and early_stopping.stopped:
        return "early_stopping"
    if getattr(schedule, "stopped", False):
        return "lr_plateau"
    return None


def _check_run(epochs, start_epoch, early_stopping, has_eval: bool) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise BackproplabError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not 0 <= start_epoch <= epochs:
        raise BackproplabError(f"start_epoch must lie in [0, {epochs}], got {start_epoch}")
    if early_stopping is not None and not has_eval:
        raise BackproplabError(
            "early stopping needs an evaluation set (X_eval, y_eval) to monitor; pass one or "
            "drop early stopping")


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
    (the data set itself is never copied)."""

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
                yield X[start:start + bs], y[start:start + bs]
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
                       np.take(y, idx, out=y_buf[:k], mode="clip"))
            else:
                yield xp.take(X, idx, axis=0, out=X_buf[:k]), xp.take(y, idx, out=y_buf[:k])


def _set_rate(schedule, optimizer, epoch: int) -> None:
    if schedule is None:
        return
    rate = schedule.rate(epoch)
    if not (isinstance(rate, float) and math.isfinite(rate) and rate > 0):
        raise BackproplabError(
            f"the {schedule.name} schedule gives the rate {rate!r} for epoch "
            f"{epoch}; the rate must stay positive (check lr_gamma, lr_min)",
            settings=("lr_gamma", "lr_min"))
    optimizer.lr = rate


def _train_epoch(model, optimizer, batches: _Batches, epoch: int, step: int, on_batch,
                 loss_term, guard: DivergenceGuard) -> tuple[float, int]:
    """The steps of one epoch; returns the sum of the batch losses weighted by batch
    length, and the last step's number. ``guard`` checks the running loss at the
    batches it asks for (:meth:`DivergenceGuard.next_check`)."""
    total = 0.0
    n_batches, bs = batches.n_batches, batches.bs
    check_at = guard.next_check(0, n_batches, bs)
    for b, (xb, yb) in enumerate(batches, start=1):
        k = len(yb)
        extra = None if loss_term is None else loss_term(k)
        loss = float(train_step(model, optimizer, xb, yb, check=False))
        if extra is not None:
            loss += extra
        step += 1
        if not math.isfinite(loss):
            raise divergence_error(epoch, b, batches.n_batches, f"the loss is {loss}",
                                   _lr_of(optimizer))
        total += loss * k
        if on_batch is not None:
            on_batch(epoch, b, step, loss)
        if b == check_at:
            guard.check(epoch, b, n_batches, total, min(b * bs, batches.n), _lr_of(optimizer))
            check_at = guard.next_check(b, n_batches, bs)
    return total, step


def _evaluate_epoch(model, epoch: int, train, evaluation, batch_size: int,
                    running: float) -> dict:
    """The epoch's record without ``train_seconds``, ``lr`` and ``steps``: the passes over
    ``train`` (``None``: skipped, the running mean stands in) and ``evaluation``."""
    t1 = time.perf_counter()
    train_loss, train_acc = running, None
    if train is not None:
        train_loss, train_acc = model.evaluate(*train, batch_size=batch_size, check=False)
        train_loss, train_acc = float(train_loss), float(train_acc)
    eval_loss = eval_acc = None
    if evaluation is not None:
        eval_loss, eval_acc = model.evaluate(*evaluation, batch_size=batch_size, check=False)
        eval_loss, eval_acc = float(eval_loss), float(eval_acc)
    return epoch_record(epoch, (train_loss, train_acc), (eval_loss, eval_acc), None,
                        time.perf_counter() - t1, None, running, None)


def _end_epoch(model, record: dict, history: History, schedule, early_stopping,
               on_epoch) -> str | None:
    """Show the record to the schedule and early stopping, append it to ``history``,
    then call ``on_epoch``; returns why training stops now, or ``None``."""
    stop = None
    if schedule is not None and schedule.observe(record):
        stop = "lr_plateau"
    if early_stopping is not None and early_stopping.update(record, model):
        stop = stop or "early_stopping"
    history.append(record)
    if on_epoch is not None and on_epoch(record) is True:
        stop = stop or "callback"
    return stop


__all__ = ["EVAL_BATCH_SIZE", "History", "fit"]
