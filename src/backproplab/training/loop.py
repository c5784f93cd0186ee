"""The training loop of the tensor engine: :func:`fit` and its :class:`History`.

``fit`` is the whole loop and nothing else: it shuffles example *indices* with
the given generator each epoch (the data set is never copied; each batch is
gathered with ``np.take`` into one reused buffer), calls
:func:`backproplab.tensor.train_step` per batch, evaluates in large batches at
the end of each epoch and returns the per-epoch records. Run folders,
checkpoints and progress bars are added by :func:`backproplab.training.run_training`
through the ``on_batch`` / ``on_epoch`` callbacks.

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


def _nonfinite_param(model) -> str | None:
    xp = getattr(model, "xp", np)
    for name, p in model.params.items():
        if not bool(xp.isfinite(p).all()):
            return name
    return None


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


def _evaluate(model, X, y, batch_size: int) -> tuple[float, float]:
    loss, acc = model.evaluate(X, y, batch_size=batch_size, check=False)
    return float(loss), float(acc)


def _batch_size(batch_size, n: int) -> int:
    """The examples per step: ``n`` for ``"full"``, else ``batch_size`` capped at ``n``."""
    if batch_size == "full":
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise BackproplabError(f"batch size must be a positive integer or 'full', "
                               f"got {batch_size!r}")
    return min(int(batch_size), n)


def _train_epoch(model, optimizer, X, y, *, bs: int, order, buffers, epoch: int, step: int,
                 on_batch, guard: DivergenceGuard) -> tuple[float, int]:
    """The steps of one epoch: the whole set at once (``order`` ``None``) or the batches
    of ``order`` gathered into ``buffers``. The batches between two checks of
    ``guard`` run as one plain inner loop. Returns ``(sum of batch loss x batch
    size, step)``."""
    from backproplab.tensor import train_step

    n = len(X)
    total = 0.0
    if order is None:
        loss = float(train_step(model, optimizer, X, y, check=False))
        step += 1
        if not math.isfinite(loss):
            raise divergence_error(epoch, 1, 1, f"the loss is {loss}", _lr_of(optimizer))
        total = loss * n
        if on_batch is not None:
            on_batch(epoch, 1, step, loss)
        guard.check(epoch, 1, 1, total, n, _lr_of(optimizer))
        return total, step
    xp = getattr(model, "xp", np)
    on_cpu = xp is np
    X_buf, y_buf = buffers
    n_batches = -(-n // bs)
    done = 0
    while done < n_batches:
        upto = guard.next_check(done, n_batches, bs)
        for b in range(done, upto):
            idx = order[b * bs:(b + 1) * bs]
            k = len(idx)
            if on_cpu:  # mode="clip" gathers straight into the buffer (no temporary)
                xb = np.take(X, idx, axis=0, out=X_buf[:k], mode="clip")
                yb = np.take(y, idx, out=y_buf[:k], mode="clip")
            else:
                xb = xp.take(X, idx, axis=0, out=X_buf[:k])
                yb = xp.take(y, idx, out=y_buf[:k])
            loss = float(train_step(model, optimizer, xb, yb, check=False))
            step += 1
            if not math.isfinite(loss):
                raise divergence_error(epoch, b + 1, n_batches, f"the loss is {loss}",
                                       _lr_of(optimizer))
            total += loss * k
            if on_batch is not None:
                on_batch(epoch, b + 1, step, loss)
        guard.check(epoch, upto, n_batches, total, min(upto * bs, n), _lr_of(optimizer))
        done = upto
    return total, step


def fit(model, optimizer, X, y, *, epochs: int, batch_size: int | str = 16, rng,
        X_eval=None, y_eval=None,
        on_batch: Callable[[int, int, int, float], None] | None = None,
        on_epoch: Callable[[dict], bool | None] | None = None,
        start_epoch: int = 0, eval_train: bool = True,
        eval_batch_size: int = EVAL_BATCH_SIZE, schedule=None, early_stopping=None,
        divergence: DivergenceGuard | None = None) -> History:
    """Train ``model`` with ``optimizer`` on ``(X, y)``; returns the per-epoch :class:`History`.

    ``epochs`` is the number of the last epoch and ``start_epoch`` the number of
    epochs already done (a resumed run passes the checkpoint's epoch), so the
    epochs run are ``start_epoch + 1 .. epochs``. ``batch_size`` is an integer or
    ``"full"`` (one step per epoch on the whole set, in the data's order). ``rng``
    (a ``numpy.random.Generator``, or an int seed) draws each epoch's permutation.

    ``on_batch(epoch, batch, step, loss)`` runs after every step (``batch`` counts
    from 1 within the epoch, ``step`` from 1 over the whole run); ``on_epoch(record)``
    after every epoch with that epoch's record; if it returns ``True`` training
    stops after that epoch. ``schedule`` (a
    :class:`~backproplab.training.schedules.Schedule`) sets the learning rate of
    every epoch; ``early_stopping`` (an
    :class:`~backproplab.training.early_stopping.EarlyStopping`) needs an
    evaluation set. ``divergence`` (a
    :class:`~backproplab.training.divergence.DivergenceGuard`) stops a finite
    blow-up of the loss; without one only non-finite losses and weights stop
    training. See the module docstring for what each number in a record means,
    and for the divergence guard.

    Example::

        from backproplab.tensor import MLP, make_optimizer
        model = MLP([2, 16, 2], seed=0)
        history = fit(model, make_optimizer("sgd", model, lr=0.1), X, y,
                      epochs=3, batch_size=16, rng=1, X_eval=Xv, y_eval=yv)
        history.metric("eval_accuracy")
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise BackproplabError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not 0 <= start_epoch <= epochs:
        raise BackproplabError(f"start_epoch must lie in [0, {epochs}], got {start_epoch}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    # validate each set once (shapes, label range, NaN/inf; converts to the model's
    # dtype and device), then skip those scans per batch
    X, y = model.check_inputs(X, y)
    has_eval = X_eval is not None
    if has_eval:
        X_eval, y_eval = model.check_inputs(X_eval, y_eval)
    xp = getattr(model, "xp", np)
    guard = divergence if divergence is not None else DivergenceGuard(None)

    n = len(X)
    bs = _batch_size(batch_size, n)
    full = bs >= n
    n_batches = -(-n // bs)
    buffers = None
    if not full:
        buffers = (xp.empty((bs,) + tuple(X.shape[1:]), dtype=X.dtype),
                   xp.empty(bs, dtype=y.dtype))
    step = start_epoch * n_batches
    history = History()
    if early_stopping is not None and not has_eval:
        raise BackproplabError(
            "early stopping needs an evaluation set (X_eval, y_eval) to monitor; pass one or "
            "drop early stopping")
    last_epoch = epochs
    if early_stopping is not None and early_stopping.stopped:
        history.stopped_reason, last_epoch = "early_stopping", start_epoch  # a finished run
    elif getattr(schedule, "stopped", False):
        history.stopped_reason, last_epoch = "lr_plateau", start_epoch

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(start_epoch + 1, last_epoch + 1):
            if schedule is not None:
                rate = schedule.rate(epoch)
                if not (isinstance(rate, float) and math.isfinite(rate) and rate > 0):
                    raise BackproplabError(
                        f"the {schedule.name} schedule gives the rate {rate!r} for epoch "
                        f"{epoch}; the rate must stay positive (check --lr-gamma, --lr-min)")
                optimizer.lr = rate
            t0 = time.perf_counter()
            order = None
            if not full:
                order = rng.permutation(n)
                if xp is not np:
                    order = xp.asarray(order)  # one transfer per epoch
            total, step = _train_epoch(model, optimizer, X, y, bs=bs, order=order,
                                       buffers=buffers, epoch=epoch, step=step,
                                       on_batch=on_batch, guard=guard)
            train_seconds = time.perf_counter() - t0

            bad = _nonfinite_param(model)
            if bad is not None:
                raise divergence_error(epoch, n_batches, n_batches,
                                       f"weight {bad} has non-finite values", _lr_of(optimizer))

            t1 = time.perf_counter()
            running = total / n
            train = (running, None)
            if eval_train:
                train = _evaluate(model, X, y, eval_batch_size)
            evaluation = (None, None)
            if has_eval:
                evaluation = _evaluate(model, X_eval, y_eval, eval_batch_size)
            record = epoch_record(epoch, train, evaluation,
                                  train_seconds, time.perf_counter() - t1, _lr_of(optimizer),
                                  running, step)
            stop = None
            if schedule is not None and schedule.observe(record):
                stop = "lr_plateau"
            if early_stopping is not None and early_stopping.update(record, model):
                stop = stop or "early_stopping"
            history.append(record)
            if on_epoch is not None and on_epoch(record) is True:
                stop = stop or "callback"
            if stop is not None:
                history.stopped_reason = stop
                break
    if early_stopping is not None:
        history.restored_epoch = early_stopping.restore(model)
    return history


__all__ = ["EVAL_BATCH_SIZE", "History", "fit"]
