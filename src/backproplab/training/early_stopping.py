"""Early stopping on the validation metric, with the best weights kept aside.

:class:`EarlyStopping` watches one metric of every epoch's record
(``eval_loss``, lower is better, or ``eval_accuracy``, higher is better). An
epoch *improves* when its value beats the best so far by more than
``min_delta`` (``value < best - min_delta`` for a loss, ``value > best +
min_delta`` for an accuracy); the first epoch always improves. After
``patience`` epochs in a row without improvement, training stops (Keras's
rule). With ``restore_best`` the weights of the best epoch are copied aside
when it happens and put back into the model at the end of training, whether it
stopped early or ran all its epochs.

Every record it sees gets three fields (they go into ``metrics.jsonl``):
``best_so_far`` (the best value up to this epoch), ``best_epoch_so_far`` and
``epochs_without_improvement``.

Example::

    es = EarlyStopping(patience=3, monitor="eval_accuracy", restore_best=True)
    history = fit(model, opt, X, y, epochs=100, rng=0, X_eval=Xv, y_eval=yv,
                  early_stopping=es)
    es.best_epoch, es.stopped_epoch, history.stopped_reason
"""

from __future__ import annotations

import math

from backproplab.errors import BackproplabError, choose_from

#: Metrics early stopping can watch, and whether lower or higher is better.
MONITORS = {"eval_loss": "min", "eval_accuracy": "max"}


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    patience : int, default 5
        Epochs without improvement after which :meth:`update` asks to stop.
    min_delta : float, default 0.0
        How much better than the best value an epoch must be to count as an
        improvement (>= 0).
    monitor : str, default "eval_loss"
        The epoch record's key that is watched, one of :data:`MONITORS` (which
        says whether it should go down or up).
    restore_best : bool, default False
        Keep a copy of the parameters of the best epoch (``best_params``) for the
        loop to put back when training stops.

    Raises
    ------
    BackproplabError
        Through :func:`check_early_stopping_options`, for a bad option.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "eval_loss",
                 restore_best: bool = False):
        check_early_stopping_options(patience=patience, min_delta=min_delta, monitor=monitor)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.monitor = monitor
        self.mode = MONITORS[monitor]
        self.restore_best = bool(restore_best)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        #: copies of the parameters at ``best_epoch`` (``restore_best`` only)
        self.best_params: dict | None = None
        #: whether the last epoch seen improved (the run folder then saves the weights)
        self.improved = False

    @property
    def stopped(self) -> bool:
        """Whether it has asked training to stop."""
        return self.stopped_epoch is not None

    def _better(self, value: float) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, record: dict, model=None) -> bool:
        """Take an epoch's record (it gets the three fields above); ``True`` means stop now.

        ``model`` is needed with ``restore_best`` (its parameters are copied when
        the epoch improves).
        """
        if self.monitor not in record or record[self.monitor] is None:
            raise BackproplabError(
                f"early stopping monitors {self.monitor} but the epoch has no such value; "
                "train with a validation set (not final=True)")
        value = float(record[self.monitor])
        self.improved = self._better(value)
        if self.improved:
            self.best, self.best_epoch, self.wait = value, int(record["epoch"]), 0
            if self.restore_best:
                if model is None:
                    raise BackproplabError("restore_best needs the model to copy its weights")
                self.best_params = {k: v.copy() for k, v in model.params.items()}
        else:
            self.wait += 1
        record["best_so_far"] = self.best
        record["best_epoch_so_far"] = self.best_epoch
        record["epochs_without_improvement"] = self.wait
        if self.wait >= self.patience:
            self.stopped_epoch = int(record["epoch"])
            return True
        return False

    def restore(self, model) -> int | None:
        """Put the best epoch's weights back into ``model`` (``restore_best`` only);
        returns that epoch, or ``None`` when there is nothing to restore."""
        if not self.restore_best or self.best_params is None:
            return None
        model.set_params(self.best_params)
        return self.best_epoch

    def state_dict(self) -> dict:
        """The counters (not the weights: a run folder keeps those in ``best.npz``)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict, best_params: dict | None = None) -> None:
        """Restore :meth:`state_dict` (and the best weights, when kept)."""
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = state.get("stopped_epoch")
        if best_params is not None:
            self.best_params = {k: v.copy() for k, v in best_params.items()}

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"monitor={self.monitor!r}, restore_best={self.restore_best})")


def check_early_stopping_options(*, patience=5, min_delta=0.0, monitor="eval_loss") -> None:
    """Raise :class:`BackproplabError` naming the first bad early-stopping option.

    Parameters
    ----------
    patience : int, default 5
        An integer >= 1 (epochs).
    min_delta : float, default 0.0
        A finite number >= 0.
    monitor : str, default "eval_loss"
        One of :data:`MONITORS`.

    Raises
    ------
    BackproplabError
        For the first option out of range, naming it.
    """
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise BackproplabError(
            f"patience must be an integer >= 1 epoch, got {patience!r}", settings=("patience",))
    if (isinstance(min_delta, bool) or not isinstance(min_delta, (int, float))
            or not math.isfinite(min_delta) or min_delta < 0):
        raise BackproplabError(
            f"min_delta must be a number >= 0, got {min_delta!r}", settings=("min_delta",))
    if monitor not in MONITORS:
        raise BackproplabError(
            f"unknown monitor {monitor!r}; choose {choose_from('monitor', MONITORS)}")


__all__ = ["MONITORS", "EarlyStopping", "check_early_stopping_options"]
