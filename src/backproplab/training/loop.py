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

The divergence guard: a non-finite batch loss stops training at once with
:class:`~backproplab.errors.DivergenceError` naming the epoch and batch; the
weights are also checked for non-finite values at the end of every epoch, before
``on_epoch`` (which writes the checkpoint) runs, so no checkpoint ever holds
them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from backproplab.errors import BackproplabError, DivergenceError

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


def divergence_error(epoch: int, batch: int, n_batches: int, what: str, lr: float | None,
                     unit: str = "batch") -> DivergenceError:
    """The divergence guard's error: where it happened (``unit`` ``batch`` of
    ``n_batches``; the scalar engine says ``example``), what, and a smaller rate to try."""
    hint = f" (e.g. lr={lr / 10:g})" if lr else ""
    err = DivergenceError(
        f"training diverged in epoch {epoch} at {unit} {batch} of {n_batches}: {what}; "
        f"lower the learning rate{hint}")
    err.epoch, err.batch = epoch, batch
    return err


def fit(model, optimizer, X, y, *, epochs: int, batch_size: int | str = 16, rng,
        X_eval=None, y_eval=None,
        on_batch: Callable[[int, int, int, float], None] | None = None,
        on_epoch: Callable[[dict], bool | None] | None = None,
        start_epoch: int = 0, eval_train: bool = True,
        eval_batch_size: int = EVAL_BATCH_SIZE, schedule=None, early_stopping=None) -> History:
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
    evaluation set. See the module docstring for what each number in a record
    means, and for the divergence guard.

    Example::

        from backproplab.tensor import MLP, make_optimizer
        model = MLP([2, 16, 2], seed=0)
        history = fit(model, make_optimizer("sgd", model, lr=0.1), X, y,
                      epochs=3, batch_size=16, rng=1, X_eval=Xv, y_eval=yv)
        history.metric("eval_accuracy")
    """
    from backproplab.tensor import train_step

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
    on_cpu = xp is np

    n = len(X)
    if batch_size == "full":
        bs = n
    elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise BackproplabError(f"batch size must be a positive integer or 'full', "
                               f"got {batch_size!r}")
    else:
        bs = min(int(batch_size), n)
    full = bs >= n
    n_batches = -(-n // bs)
    if not full:
        X_buf = xp.empty((bs,) + tuple(X.shape[1:]), dtype=X.dtype)
        y_buf = xp.empty(bs, dtype=y.dtype)
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
                        f"{epoch}; the rate must stay positive (check lr_gamma, lr_min)",
                        settings=("lr_gamma", "lr_min"))
                optimizer.lr = rate
            t0 = time.perf_counter()
            total = 0.0
            if full:
                loss = float(train_step(model, optimizer, X, y, check=False))
                step += 1
                if not math.isfinite(loss):
                    raise divergence_error(epoch, 1, 1, f"the loss is {loss}", _lr_of(optimizer))
                total = loss * n
                if on_batch is not None:
                    on_batch(epoch, 1, step, loss)
            else:
                order = rng.permutation(n)
                if not on_cpu:
                    order = xp.asarray(order)  # one transfer per epoch
                for b in range(n_batches):
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
            train_seconds = time.perf_counter() - t0

            bad = _nonfinite_param(model)
            if bad is not None:
                raise divergence_error(epoch, n_batches, n_batches,
                                       f"weight {bad} has non-finite values", _lr_of(optimizer))

            t1 = time.perf_counter()
            running = total / n
            if eval_train:
                train_loss, train_acc = model.evaluate(X, y, batch_size=eval_batch_size,
                                                         check=False)
                train_loss, train_acc = float(train_loss), float(train_acc)
            else:
                train_loss, train_acc = running, None
            eval_loss = eval_acc = None
            if has_eval:
                eval_loss, eval_acc = model.evaluate(X_eval, y_eval,
                                                    batch_size=eval_batch_size, check=False)
                eval_loss, eval_acc = float(eval_loss), float(eval_acc)
            record = epoch_record(epoch, (train_loss, train_acc), (eval_loss, eval_acc),
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
