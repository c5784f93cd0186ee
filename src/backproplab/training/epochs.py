"""The epoch loop both engines share: :func:`run_epochs`, its :class:`History` and records.

:func:`run_epochs` is the engine-neutral skeleton of training: the range of
epochs (``start_epoch + 1 .. epochs``, so a resumed run goes on where it
stopped), the learning-rate schedule before each epoch, the steps with the
divergence guard's cadence, the scan of the weights, the evaluation passes,
:func:`epoch_record`, and the end of each epoch (schedule, early stopping,
``on_epoch``). What differs between the engines comes from a *trainer*, a small
adapter around one model and its data (:class:`~backproplab.training.loop.TensorTrainer`
for :class:`backproplab.tensor.MLP`, :class:`~backproplab.training.scalar_loop.ScalarTrainer`
for :class:`backproplab.scalar.MLP`, whose batches hold one example). A trainer has:

- ``n`` (training examples), ``n_batches`` (steps per epoch), ``batch_size``
  (examples of a full batch), ``unit`` (``"batch"`` or ``"example"``: how the
  divergence messages count steps), ``has_eval`` (whether there is an
  evaluation set);
- ``lr``: the learning rate in use (a schedule sets it before every epoch);
- ``batches()``: one epoch's batches, each ``(inputs, labels, k)`` with ``k``
  its number of examples;
- ``step``: read once per epoch, a callable ``step(inputs, labels)`` that trains
  on one batch and returns its mean loss before the update; ``numeric_errors``:
  the exceptions of ``step`` and ``evaluate`` that mean the arithmetic ran away
  (``()`` where NumPy gives NaN or infinity instead);
- ``evaluate(split)``: ``(mean loss, accuracy)`` on ``"train"`` or ``"eval"``;
- ``weights_finite()``: whether every weight is finite;
- ``params`` and ``set_params(params)``: the weights by name, for early
  stopping's best weights.

The per-epoch numbers (see ``docs/training.md``): ``train_loss`` /
``train_accuracy`` come from a separate pass over the training set with the
weights at the end of the epoch (with ``eval_train=False`` the pass is skipped:
``train_loss`` is then the running mean and ``train_accuracy`` ``None``);
``train_loss_running`` is the mean of the epoch's batch losses, each taken
before its update and weighted by batch size; ``train_seconds`` times the steps
(batches, forward, backward, update, the per-batch callback), ``eval_seconds``
both evaluation passes.

``on_batch(epoch, batch, step, loss)`` is called after every step (``batch``
counts from 1 within the epoch, ``step`` over the run); ``on_epoch(record)``
after every epoch, once the schedule and early stopping have seen the record
(so a checkpoint written there holds their state after the epoch); returning
``True`` stops training. ``History.stopped_reason`` says why training ended:
``"epochs"``, ``"early_stopping"``, ``"lr_plateau"`` (the plateau schedule's rate
reached its minimum) or ``"callback"``.

The divergence guard (:mod:`backproplab.training.divergence`): a non-finite
batch loss (or a ``numeric_errors`` exception) stops training at once with a
:class:`~backproplab.errors.DivergenceError` naming the epoch and the step; the
weights are scanned at the end of every epoch, before ``on_epoch`` (which writes
the checkpoint) runs, so no checkpoint ever holds non-finite weights; a
:class:`~backproplab.training.divergence.DivergenceGuard` checks the running loss
at the steps it asks for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from backproplab.errors import BackproplabError, DivergenceError
from backproplab.training.divergence import DivergenceGuard, divergence_error


class History(list):
    """The per-epoch records of a training, in order: a list of dicts.

    ``history.metric("eval_accuracy")`` gives one metric as a list;
    ``history.last`` the final record (``None`` when empty).
    ``history.stopped_reason`` says why training ended (``"epochs"``,
    ``"early_stopping"``, ``"lr_plateau"`` or ``"callback"``) and
    ``history.restored_epoch`` which epoch's weights early stopping put back
    (``None`` when it did not).
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


def epoch_record(epoch: int, train: tuple, evaluation: tuple, train_seconds: float | None,
                 eval_seconds: float, lr, running: float, steps: int | None) -> dict:
    """One line of ``metrics.jsonl``: the keys every engine's epoch reports.

    Parameters
    ----------
    epoch : int
        The epoch's number (from 1).
    train, evaluation : tuple
        ``(loss, accuracy)`` on the training and evaluation sets (``None`` where
        not measured).
    train_seconds, eval_seconds : float
        Time of the steps and of the evaluation passes.
    lr : float or None
        The learning rate the epoch used.
    running : float
        The mean of the batch losses during the epoch.
    steps : int
        Steps over the whole run after this epoch.

    Returns
    -------
    dict
        ``epoch, train_loss, train_accuracy, eval_loss, eval_accuracy,
        train_seconds, eval_seconds, lr, train_loss_running, steps``.
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


def run_epochs(trainer, *, epochs: int, start_epoch: int = 0,
               on_batch: Callable[[int, int, int, float], None] | None = None,
               on_epoch: Callable[[dict], bool | None] | None = None,
               eval_train: bool = True, schedule=None, early_stopping=None,
               divergence: DivergenceGuard | None = None) -> History:
    """Train through ``trainer`` for epochs ``start_epoch + 1 .. epochs``.

    Parameters
    ----------
    trainer : TensorTrainer or ScalarTrainer
        The model and its data (see the module docstring for what it offers).
    epochs, start_epoch : int
        The last epoch's number; the epochs already done (a resume).
    on_batch, on_epoch : callable, optional
        Called after every step and every epoch (see the module docstring).
    eval_train : bool, default=True
        Measure the training set with each epoch's final weights.
    schedule, early_stopping, divergence : optional
        A ``Schedule``, an ``EarlyStopping`` (needs an evaluation set), a
        ``DivergenceGuard``.

    Returns
    -------
    History
        The records of the epochs run (:func:`epoch_record`, plus early
        stopping's fields), why training ended and which epoch's weights it
        put back.

    Raises
    ------
    BackproplabError
        For bad ``epochs`` / ``start_epoch``, or early stopping without an
        evaluation set; :class:`~backproplab.errors.DivergenceError` when the
        loss or the weights run away (see the module docstring).
    """
    _check_run(epochs, start_epoch, early_stopping, trainer.has_eval)
    guard = divergence if divergence is not None else DivergenceGuard(None)
    history = History()
    stopped = _stopped_before(early_stopping, schedule)  # a finished, resumed run
    history.stopped_reason = stopped or history.stopped_reason
    step = start_epoch * trainer.n_batches
    for epoch in range(start_epoch + 1, (start_epoch if stopped else epochs) + 1):
        _set_rate(schedule, trainer, epoch)
        t0 = time.perf_counter()
        total, step = _train_epoch(trainer, epoch, step, on_batch, guard)
        train_seconds = time.perf_counter() - t0
        if not trainer.weights_finite():
            raise _diverged(trainer, epoch, trainer.n_batches, "a weight became non-finite")
        record = _evaluate_epoch(trainer, epoch, eval_train, total / trainer.n)
        record.update(train_seconds=train_seconds, lr=trainer.lr, steps=step)
        stop = _end_epoch(trainer, record, history, schedule, early_stopping, on_epoch)
        if stop is not None:
            history.stopped_reason = stop
            break
    if early_stopping is not None:
        history.restored_epoch = early_stopping.restore(trainer)
    return history


def _diverged(trainer, epoch: int, batch: int, what: str) -> DivergenceError:
    return divergence_error(epoch, batch, trainer.n_batches, what, trainer.lr, trainer.unit,
                            trainer.lr0)


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


def _set_rate(schedule, trainer, epoch: int) -> None:
    if schedule is None:
        return
    rate = schedule.rate(epoch)
    if not (isinstance(rate, float) and math.isfinite(rate) and rate > 0):
        raise BackproplabError(
            f"the {schedule.name} schedule gives the rate {rate!r} for epoch "
            f"{epoch}; the rate must stay positive (check lr_gamma, lr_min)",
            settings=("lr_gamma", "lr_min"))
    trainer.lr, trainer.lr0 = rate, schedule.lr0


def _train_epoch(trainer, epoch: int, step: int, on_batch,
                 guard: DivergenceGuard) -> tuple[float, int]:
    """The steps of one epoch; returns the sum of the batch losses weighted by batch
    length, and the last step's number. ``guard`` checks the running loss at the
    batches it asks for (:meth:`DivergenceGuard.next_check`)."""
    total = 0.0
    n, n_batches, bs, unit = trainer.n, trainer.n_batches, trainer.batch_size, trainer.unit
    train_step, errors, isfinite = trainer.step, trainer.numeric_errors, math.isfinite
    check_at = guard.next_check(0, n_batches, bs)
    for b, (xb, yb, k) in enumerate(trainer.batches(), start=1):
        try:
            loss = float(train_step(xb, yb))
        except errors as exc:
            raise _diverged(trainer, epoch, b, f"the arithmetic failed ({exc})") from None
        step += 1
        if not isfinite(loss):
            raise _diverged(trainer, epoch, b, f"the loss is {loss}")
        total += loss * k
        if on_batch is not None:
            on_batch(epoch, b, step, loss)
        if b == check_at:
            guard.check(epoch, b, n_batches, total, min(b * bs, n), trainer.lr, unit,
                        trainer.lr0)
            check_at = guard.next_check(b, n_batches, bs)
    return total, step


def _evaluate_epoch(trainer, epoch: int, eval_train: bool, running: float) -> dict:
    """The epoch's record without ``train_seconds``, ``lr`` and ``steps``: the passes over
    the training set (skipped without ``eval_train``: the running mean stands in) and
    the evaluation set."""
    t1 = time.perf_counter()
    try:
        train = trainer.evaluate("train") if eval_train else (running, None)
        evaluation = trainer.evaluate("eval") if trainer.has_eval else (None, None)
    except trainer.numeric_errors as exc:
        raise _diverged(trainer, epoch, trainer.n_batches, f"evaluation failed ({exc})") from None
    return epoch_record(epoch, train, evaluation, None, time.perf_counter() - t1, None,
                        running, None)


def _end_epoch(trainer, record: dict, history: History, schedule, early_stopping,
               on_epoch) -> str | None:
    """Show the record to the schedule and early stopping, append it to ``history``,
    then call ``on_epoch``; returns why training stops now, or ``None``."""
    stop = None
    if schedule is not None and schedule.observe(record):
        stop = "lr_plateau"
    if early_stopping is not None and early_stopping.update(record, trainer):
        stop = stop or "early_stopping"
    history.append(record)
    if on_epoch is not None and on_epoch(record) is True:
        stop = stop or "callback"
    return stop


__all__ = ["History", "epoch_record", "run_epochs"]
