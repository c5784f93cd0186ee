"""Learning-rate schedules: the rate each epoch of a run trains with.

A schedule gives the rate for an epoch *before* it runs (:meth:`Schedule.rate`,
epochs counted from 1) and sees the epoch's record afterwards
(:meth:`Schedule.observe`); the training loop sets ``optimizer.lr`` from it, so
the ``lr`` of every line of ``metrics.jsonl`` is the rate that epoch used. The
rate is constant within an epoch. With ``lr0`` the configured rate:

============  ==============================================================
constant      ``lr0``
step          ``lr0 * gamma ** ((epoch - 1) // step_size)``  (PyTorch's StepLR)
exponential   ``lr0 * gamma ** (epoch - 1)``  (PyTorch's ExponentialLR)
cosine        ``lr_min + (lr0 - lr_min) * (1 + cos(pi * (epoch - 1) / epochs)) / 2``
              (PyTorch's CosineAnnealingLR with ``T_max = epochs``)
invscaling    ``lr0 / (t + 1) ** power`` where ``t`` is the number of training
              examples seen before the epoch, ``(epoch - 1) * n_train``:
              scikit-learn's ``learning_rate="invscaling"``, whose ``t``
              (``MLPClassifier.t_``) also counts samples and is updated at the
              end of every epoch (not per step)
plateau       scikit-learn's ``learning_rate="adaptive"``: the rate stays
              ``lr0`` while the training loss keeps decreasing; when the
              epoch's mean batch loss has not dropped below the best so far
              minus ``tol`` for more than ``patience`` consecutive epochs
              (scikit-learn's ``n_iter_no_change``, default 10), the rate is
              divided by 5 and the count restarts; once the rate is at or below
              1e-6 such an epoch stops training instead (as scikit-learn does)
============  ==============================================================

A schedule's own state (only ``plateau`` has any) is saved in every checkpoint
through :meth:`Schedule.state_dict`, so a resumed run continues it exactly.

Example::

    s = make_schedule("step", lr=0.1, lr_step_size=2, lr_gamma=0.5)
    [s.rate(e) for e in (1, 2, 3, 4, 5)]   # [0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math

from backproplab.errors import BackproplabError, choose_from
from backproplab.fileio import is_finite_number

#: Schedules by name (the CLI's ``--lr-schedule`` choices).
SCHEDULES = ("constant", "step", "exponential", "cosine", "invscaling", "plateau")
#: ``lr_gamma`` when it is not given, per schedule.
DEFAULT_GAMMA = {"step": 0.1, "exponential": 0.9}
#: scikit-learn's ``adaptive`` schedule: the divisor and the rate at which it stops.
PLATEAU_DIVISOR = 5.0
PLATEAU_MIN_LR = 1e-6


class Schedule:
    """Base class: a constant rate. Subclasses override :meth:`rate`.

    Parameters
    ----------
    lr : float
        The configured learning rate ``lr0``, a finite number > 0.

    Raises
    ------
    BackproplabError
        If ``lr`` is not a finite positive number.
    """

    name = "constant"

    def __init__(self, lr: float):
        if not is_finite_number(lr) or lr <= 0:
            raise BackproplabError(f"lr must be a positive number, got {lr!r}; try lr=0.01",
                                   settings=("lr",))
        self.lr0 = float(lr)

    def rate(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (counted from 1)."""
        return self.lr0

    def observe(self, record: dict) -> bool:
        """See an epoch's record after it ran; ``True`` asks the loop to stop training."""
        return False

    def state_dict(self) -> dict:
        """What must survive a checkpoint (nothing, for schedules that depend only on the epoch)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def rates(self, epochs: int) -> list[float]:
        """The rates of epochs ``1..epochs`` (for schedules that do not depend on the losses)."""
        return [self.rate(e) for e in range(1, epochs + 1)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr0!r})"


class Constant(Schedule):
    """The same rate every epoch."""

    name = "constant"


class Step(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    lr : float
        The rate of the first ``step_size`` epochs.
    step_size : int
        Epochs between two multiplications by ``gamma``.
    gamma : float
        The factor, in (0, 1].

    Examples
    --------
    >>> [Step(0.1, 2, 0.5).rate(e) for e in (1, 2, 3, 5)]
    [0.1, 0.1, 0.05, 0.025]
    """

    name = "step"

    def __init__(self, lr: float, step_size: int, gamma: float):
        super().__init__(lr)
        self.step_size, self.gamma = step_size, gamma

    def rate(self, epoch: int) -> float:
        return self.lr0 * self.gamma ** ((epoch - 1) // self.step_size)


class Exponential(Schedule):
    """Multiply the rate by ``gamma`` every epoch.

    Parameters
    ----------
    lr : float
        The rate of epoch 1.
    gamma : float
        The factor between two epochs' rates, in (0, 1].
    """

    name = "exponential"

    def __init__(self, lr: float, gamma: float):
        super().__init__(lr)
        self.gamma = gamma

    def rate(self, epoch: int) -> float:
        return self.lr0 * self.gamma ** (epoch - 1)


class Cosine(Schedule):
    """Half a cosine from ``lr0`` (epoch 1) towards ``lr_min`` over ``epochs`` epochs.

    Parameters
    ----------
    lr : float
        The rate of epoch 1.
    epochs : int
        The run's number of epochs (PyTorch's ``T_max``); epochs past it keep
        the rate ``lr_min``.
    lr_min : float, default 0.0
        The rate the cosine ends at.
    """

    name = "cosine"

    def __init__(self, lr: float, epochs: int, lr_min: float = 0.0):
        super().__init__(lr)
        self.epochs, self.lr_min = epochs, lr_min

    def rate(self, epoch: int) -> float:
        e = min(epoch - 1, self.epochs)
        return self.lr_min + (self.lr0 - self.lr_min) * (1 + math.cos(math.pi * e / self.epochs)) / 2


class InverseScaling(Schedule):
    """scikit-learn's ``invscaling``: ``lr0 / (t + 1) ** power``, ``t`` = examples seen so far.

    Parameters
    ----------
    lr : float
        ``lr0``, the rate before any example was seen.
    power : float
        The exponent (scikit-learn's ``power_t``).
    samples_per_epoch : int
        The training set's size: ``t`` grows by it after every epoch.
    """

    name = "invscaling"

    def __init__(self, lr: float, power: float, samples_per_epoch: int):
        super().__init__(lr)
        self.power, self.samples_per_epoch = power, samples_per_epoch

    def rate_after(self, samples_seen: int) -> float:
        """The rate once ``samples_seen`` training examples have been trained on."""
        return float(self.lr0) / (samples_seen + 1) ** self.power

    def rate(self, epoch: int) -> float:
        try:
            return self.rate_after((epoch - 1) * self.samples_per_epoch)
        except OverflowError:  # (t + 1) ** power beyond a float: the rate is below any
            return 0.0


class ReduceOnPlateau(Schedule):
    """scikit-learn's ``adaptive``: divide the rate by 5 when the training loss stalls.

    ``observe`` reads ``monitor`` (default ``train_loss_running``, the mean of
    the epoch's batch losses, which is scikit-learn's ``loss_``). An epoch whose
    value is above ``best - tol`` (``mode="max"``, for a score: below ``best +
    tol``) counts as one without improvement; more than ``patience`` of them in a
    row divide the rate by 5 and restart the count, or, when the rate is already
    at or below ``min_lr`` (1e-6), stop training. ``best`` is the lowest value
    seen (``mode="max"``: the highest). With ``min_lr=math.inf`` every such
    plateau stops training: scikit-learn's ``tol`` / ``n_iter_no_change`` rule
    for its other schedules.

    Parameters
    ----------
    lr : float
        The rate until the first plateau.
    patience : int, default 10
        Epochs without improvement tolerated before the rate is divided.
    tol : float, default 1e-4
        How much better than the best value an epoch must be to count as an
        improvement.
    monitor : str, default "train_loss_running"
        The key of the epoch's record that is watched (``train_loss`` when
        the record lacks it).
    mode : {"min", "max"}, default "min"
        Whether the monitored value should go down (a loss) or up (a score).
    min_lr : float, default 1e-6
        At or below this rate a plateau stops training instead.

    Raises
    ------
    BackproplabError
        If ``mode`` is neither ``"min"`` nor ``"max"`` (and, through
        :class:`Schedule`, if ``lr`` is not a positive number).
    """

    name = "plateau"

    def __init__(self, lr: float, patience: int = 10, tol: float = 1e-4,
                 monitor: str = "train_loss_running", mode: str = "min",
                 min_lr: float = PLATEAU_MIN_LR):
        super().__init__(lr)
        if mode not in ("min", "max"):
            raise BackproplabError(f"the plateau schedule's mode must be 'min' or 'max', "
                                   f"got {mode!r}")
        self.patience, self.tol, self.monitor = patience, tol, monitor
        self.mode, self.min_lr = mode, min_lr
        self.lr = self.lr0
        self.best = self._worst()
        self.bad_epochs = 0
        self.stopped = False

    def _worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def rate(self, epoch: int) -> float:
        return self.lr

    def observe(self, record: dict) -> bool:
        loss = record.get(self.monitor)
        if loss is None:
            loss = record.get("train_loss")
        if loss is None:
            raise BackproplabError(f"the plateau schedule needs {self.monitor} in every epoch's "
                                   "record")
        if self.mode == "min":
            stalled = loss > self.best - self.tol
            self.best = min(self.best, loss)
        else:
            stalled = loss < self.best + self.tol
            self.best = max(self.best, loss)
        self.bad_epochs = self.bad_epochs + 1 if stalled else 0
        if self.bad_epochs > self.patience:
            if self.lr <= self.min_lr:
                self.stopped = True
                return True
            self.lr /= PLATEAU_DIVISOR
            self.bad_epochs = 0
        return False

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best if math.isfinite(self.best) else None,
                "bad_epochs": self.bad_epochs, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.lr = float(state["lr"])
        self.best = self._worst() if state.get("best") is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state.get("stopped", False))


def check_schedule_options(lr_schedule: str = "constant", *, lr_step_size: int = 10,
                           lr_gamma: float | None = None, lr_min: float = 0.0,
                           lr_power: float = 0.5, lr_patience: int = 10, lr_tol: float = 1e-4,
                           lr: float | None = None) -> None:
    """Raise :class:`BackproplabError` naming the first bad schedule option.

    Parameters
    ----------
    lr_schedule : str, default "constant"
        One of :data:`SCHEDULES`.
    lr_step_size : int, default 10
        Epochs between steps of the ``step`` schedule, >= 1.
    lr_gamma : float or None, default None
        The factor of ``step`` and ``exponential``, in (0, 1]; ``None`` for
        the schedule's default (:data:`DEFAULT_GAMMA`).
    lr_min : float, default 0.0
        The ``cosine`` schedule's final rate, >= 0 and, for ``cosine``, below
        ``lr``.
    lr_power : float, default 0.5
        The ``invscaling`` exponent, >= 0.
    lr_patience : int, default 10
        The ``plateau`` schedule's patience in epochs, >= 1.
    lr_tol : float, default 1e-4
        The ``plateau`` schedule's tolerance, >= 0.
    lr : float or None, default None
        The learning rate, when known (checked against ``lr_min``).

    Raises
    ------
    BackproplabError
        For the first option out of its range, naming it.

    Examples
    --------
    >>> check_schedule_options("step", lr_gamma=0.5)
    >>> check_schedule_options("step", lr_gamma=2.0)
    Traceback (most recent call last):
    ...
    backproplab.errors.BackproplabError: lr_gamma must be a number in (0, 1], ...
    """
    if lr_schedule not in SCHEDULES:
        raise BackproplabError(
            f"unknown lr_schedule {lr_schedule!r}; choose {choose_from('lr_schedule', SCHEDULES)}")
    if isinstance(lr_step_size, bool) or not isinstance(lr_step_size, int) or lr_step_size < 1:
        raise BackproplabError(
            f"lr_step_size must be an integer >= 1 epoch, got {lr_step_size!r}",
            settings=("lr_step_size",))
    if lr_gamma is not None and (not is_finite_number(lr_gamma) or not 0 < lr_gamma <= 1):
        raise BackproplabError(
            f"lr_gamma must be a number in (0, 1], the factor the rate is "
            f"multiplied by; got {lr_gamma!r} (a rate must stay positive)", settings=("lr_gamma",))
    if not is_finite_number(lr_min) or lr_min < 0:
        raise BackproplabError(
            f"lr_min must be a number >= 0 (a learning rate cannot be negative), "
            f"got {lr_min!r}", settings=("lr_min",))
    if lr_schedule == "cosine" and lr is not None and is_finite_number(lr) and lr_min >= lr:
        raise BackproplabError(
            f"lr_min={lr_min!r} must be below the learning rate lr={lr!r} for the "
            "cosine schedule")
    if not is_finite_number(lr_power) or lr_power < 0:
        raise BackproplabError(f"lr_power must be a number >= 0, got {lr_power!r}",
                               settings=("lr_power",))
    if isinstance(lr_patience, bool) or not isinstance(lr_patience, int) or lr_patience < 1:
        raise BackproplabError(
            f"lr_patience must be an integer >= 1 epoch, got {lr_patience!r}",
            settings=("lr_patience",))
    if not is_finite_number(lr_tol) or lr_tol < 0:
        raise BackproplabError(f"lr_tol must be a number >= 0, got {lr_tol!r}",
                               settings=("lr_tol",))


def make_schedule(lr_schedule: str, lr: float, *, epochs: int | None = None,
                  samples_per_epoch: int | None = None, lr_step_size: int = 10,
                  lr_gamma: float | None = None, lr_min: float = 0.0, lr_power: float = 0.5,
                  lr_patience: int = 10, lr_tol: float = 1e-4) -> Schedule:
    """Build the schedule ``lr_schedule`` starting from rate ``lr``.

    The keyword names are :class:`~backproplab.training.TrainConfig`'s fields.
    ``epochs`` is needed by ``cosine``, ``samples_per_epoch`` (the training set's
    size) by ``invscaling``.

    Parameters
    ----------
    lr_schedule : str
        One of :data:`SCHEDULES`.
    lr : float
        The starting rate ``lr0``, > 0.
    epochs : int or None, default None
        The run's number of epochs; required by ``cosine``.
    samples_per_epoch : int or None, default None
        The training set's size; required by ``invscaling``.
    lr_step_size, lr_gamma, lr_min, lr_power, lr_patience, lr_tol
        The schedules' options, as in :func:`check_schedule_options`.

    Returns
    -------
    Schedule
        A :class:`Constant`, :class:`Step`, :class:`Exponential`,
        :class:`Cosine`, :class:`InverseScaling` or :class:`ReduceOnPlateau`.

    Raises
    ------
    BackproplabError
        If an option is out of range, ``cosine`` lacks ``epochs`` or
        ``invscaling`` lacks ``samples_per_epoch``, or (with ``epochs``) the
        rate of the last epoch is not a positive number (an underflow to 0).

    Examples
    --------
    >>> s = make_schedule("step", lr=0.1, lr_step_size=2, lr_gamma=0.5)
    >>> s.rates(5)
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    check_schedule_options(lr_schedule, lr_step_size=lr_step_size, lr_gamma=lr_gamma,
                           lr_min=lr_min, lr_power=lr_power, lr_patience=lr_patience,
                           lr_tol=lr_tol, lr=lr)
    schedule = _build(lr_schedule, lr, epochs, samples_per_epoch, lr_step_size,
                      DEFAULT_GAMMA.get(lr_schedule) if lr_gamma is None else float(lr_gamma),
                      lr_min, lr_power, lr_patience, lr_tol)
    if epochs is not None and not isinstance(schedule, ReduceOnPlateau):
        # the rates never rise, so the last epoch's is the smallest
        last = schedule.rate(epochs)
        if not (math.isfinite(last) and last > 0):
            option = _RATE_OPTION.get(lr_schedule, "lr")
            raise BackproplabError(
                f"the {lr_schedule} schedule's rate falls to {last!r} by epoch {epochs} (it "
                f"must stay positive); choose {_RATE_FIX.get(lr_schedule, 'a larger lr')} or "
                "fewer epochs", settings=(option,))
    return schedule


#: The option that sets how fast a schedule's rate falls, and the change that slows it.
_RATE_OPTION = {"step": "lr_gamma", "exponential": "lr_gamma", "invscaling": "lr_power"}
_RATE_FIX = {"step": "lr_gamma closer to 1", "exponential": "lr_gamma closer to 1",
             "invscaling": "a smaller lr_power"}


def _build(lr_schedule, lr, epochs, samples_per_epoch, lr_step_size, gamma, lr_min, lr_power,
           lr_patience, lr_tol) -> Schedule:
    """The schedule :func:`make_schedule` describes (its options checked)."""
    if lr_schedule == "constant":
        return Constant(lr)
    if lr_schedule == "step":
        return Step(lr, lr_step_size, gamma)
    if lr_schedule == "exponential":
        return Exponential(lr, gamma)
    if lr_schedule == "cosine":
        if not isinstance(epochs, int) or epochs < 1:
            raise BackproplabError("the cosine schedule needs the number of epochs (>= 1)")
        return Cosine(lr, epochs, float(lr_min))
    if lr_schedule == "invscaling":
        if not isinstance(samples_per_epoch, int) or samples_per_epoch < 1:
            raise BackproplabError("the invscaling schedule needs the training set's size (>= 1)")
        return InverseScaling(lr, float(lr_power), samples_per_epoch)
    return ReduceOnPlateau(lr, patience=lr_patience, tol=float(lr_tol))


__all__ = ["DEFAULT_GAMMA", "PLATEAU_DIVISOR", "PLATEAU_MIN_LR", "SCHEDULES", "Constant", "Cosine",
           "Exponential", "InverseScaling", "ReduceOnPlateau", "Schedule", "Step",
           "check_schedule_options", "make_schedule"]
