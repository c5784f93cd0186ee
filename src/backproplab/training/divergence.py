"""The divergence guard of both training loops: when a run stops because its loss ran away.

Two rules, checked by the one epoch loop of both engines
(:func:`backproplab.training.epochs.run_epochs`):

1. **Non-finite** (always on): a batch loss that is NaN or infinite stops
   training at once; so do weights that became non-finite by the end of an
   epoch (checked before that epoch's checkpoint is written).
2. **Finite blow-up** (:class:`DivergenceGuard`, on by default in
   :func:`~backproplab.training.run_training`): the loss is *checked* after every
   ``ceil(CHECK_EXAMPLES / batch_size)`` batches of an epoch and at the end of
   every epoch. A check looks at the mean batch loss since the previous check
   (each batch loss taken before its update, weighted by batch size). The
   reference is the loss of the run's very first batch (the initial weights) or
   the loss of guessing, ``ln(n_classes)``, whichever is larger; training stops
   when the mean stays above ``divergence_factor`` times that reference at
   ``divergence_patience`` checks in a row, and at once when one check's mean
   is above :data:`BLOWUP` times that limit (a relu network whose batch losses
   jumped into the millions and then settled at seven to ten times chance, at
   chance accuracy, would otherwise pass every later check). ``divergence_factor``
   ``None`` or ``0`` turns this rule off.

Either way the loop raises :class:`~backproplab.errors.DivergenceError` with one
sentence naming the epoch and batch (``example`` for the scalar engine), what
went wrong and the fix: a smaller learning rate ``lr``.

The guard costs next to nothing per batch: the loop compares the batch number
with the next check's and hands the guard the running sum of the batch losses
it keeps anyway.
"""

from __future__ import annotations

import math

from backproplab.errors import BackproplabError, DivergenceError

#: Default ``divergence_factor``: how far above the reference loss counts as diverging.
DEFAULT_FACTOR = 10.0
#: Default ``divergence_patience``: checks in a row above the limit before stopping.
DEFAULT_PATIENCE = 3
#: Training examples between two checks within an epoch (rounded up to whole batches).
CHECK_EXAMPLES = 1000
#: A check whose mean loss is this many times the limit stops the run without patience.
BLOWUP = 10.0


def divergence_error(epoch: int, batch: int, n_batches: int, what: str, lr: float | None,
                     unit: str = "batch", lr0: float | None = None) -> DivergenceError:
    """The error of both guard rules, in one sentence.

    Parameters
    ----------
    epoch, batch, n_batches : int
        Where training stopped: ``unit`` ``batch`` of ``n_batches`` in ``epoch``.
    what : str
        What went wrong (``"the loss is nan"``).
    lr : float or None
        The learning rate in use; the message suggests one ten times smaller.
    unit : str
        ``"batch"``, or ``"example"`` for the scalar engine's per-example steps.
    lr0 : float, optional
        The configured ``lr`` where a schedule set the rate in use: the suggestion
        is then ten times smaller than it, and the sentence tells the two apart.

    Returns
    -------
    DivergenceError
        With ``epoch`` and ``batch`` attributes.
    """
    hint = f" lr (now {lr:g}; try {lr / 10:g})" if lr else ""
    if lr and lr0 and lr0 != lr:  # a schedule's rate: the option to change is lr itself
        hint = f" lr (now {lr0:g}, and {lr:g} in this epoch by its schedule; try {lr0 / 10:g})"
    err = DivergenceError(
        f"training diverged in epoch {epoch} at {unit} {batch} of {n_batches}: {what}; "
        f"lower the learning rate{hint}", settings=("lr",) if lr else ())
    err.epoch, err.batch, err.what = epoch, batch, what
    return err


def check_divergence_options(*, divergence_factor, divergence_patience) -> None:
    """Refuse guard settings that make no sense, naming the option and the fix.

    Parameters
    ----------
    divergence_factor : float, int or None
        ``None`` or ``0`` (both: the guard is off) or a finite number above 1
        (at 1 or below a healthy run would trip it).
    divergence_patience : int
        An integer >= 1.

    Raises
    ------
    BackproplabError
        If either is out of range.
    """
    factor = divergence_factor
    number = isinstance(factor, (int, float)) and not isinstance(factor, bool)
    if factor is not None and not (number and (factor == 0 or (math.isfinite(factor)
                                                                and factor > 1))):
        raise BackproplabError(
            f"divergence_factor must be a number above 1, or 0 to turn the divergence guard "
            f"off; got {factor!r}", settings=("divergence_factor",))
    patience = divergence_patience
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise BackproplabError(
            f"divergence_patience must be an integer >= 1, got {patience!r}",
            settings=("divergence_patience",))


class DivergenceGuard:
    """The finite blow-up rule (see the module docstring) for one training run.

    Parameters
    ----------
    factor : float or None
        ``divergence_factor``: the limit is this times the reference loss;
        ``None`` or ``0`` turns the guard off.
    patience : int
        ``divergence_patience``: checks in a row above the limit before stopping.
    n_classes : int
        Classes of the task; the loss of guessing, ``ln(n_classes)``, is the
        smallest reference.

    Notes
    -----
    A loop calls :meth:`next_check` to learn where its next check falls and
    :meth:`check` there with its running loss sum. The state that must survive
    a resume (the initial loss and the checks in a row so far) is
    :meth:`state_dict`.
    """

    def __init__(self, factor: float | None = DEFAULT_FACTOR, patience: int = DEFAULT_PATIENCE,
                 *, n_classes: int = 2):
        self.factor = factor
        self.patience = patience
        self.chance = math.log(max(n_classes, 2))
        self.n_classes = n_classes
        self.initial: float | None = None  # the loss of the run's first batch
        self.strikes = 0                   # checks in a row above the limit
        self._total, self._seen = 0.0, 0   # the loop's running sum at the previous check

    @property
    def limit(self) -> float | None:
        """The loss above which a check counts against the run (``None`` before the first)."""
        if not self.factor or self.initial is None:
            return None
        return self.factor * max(self.initial, self.chance)

    def next_check(self, start: int, n_batches: int, batch_size: int) -> int:
        """The batch count (within the epoch) after which the next check falls, given
        that ``start`` batches of ``n_batches`` of this epoch are done."""
        if not self.factor:
            return n_batches
        if self.initial is None:  # the first batch alone gives the reference
            return start + 1
        return min(n_batches, start + max(1, -(-CHECK_EXAMPLES // batch_size)))

    def check(self, epoch: int, batch: int, n_batches: int, total: float, seen: int,
              lr: float | None, unit: str = "batch", lr0: float | None = None) -> None:
        """Check the mean loss since the previous check (``lr``, ``lr0``: the rate in use and
        a schedule's starting rate, for the hint, as :func:`divergence_error` takes them).

        ``batch`` batches of ``n_batches`` are done in ``epoch``; ``total`` is the
        sum of batch loss times batch size over the ``seen`` examples of this
        epoch so far. Raises :class:`~backproplab.errors.DivergenceError` when the
        rule trips.
        """
        if not self.factor:
            return
        count = seen - self._seen
        mean = (total - self._total) / count
        if batch >= n_batches:  # the next epoch's sums start from zero
            self._total, self._seen = 0.0, 0
        else:
            self._total, self._seen = total, seen
        if self.initial is None:
            self.initial = mean
            return
        limit = self.limit
        self.strikes = self.strikes + 1 if mean > limit else 0
        blowup = mean > BLOWUP * limit
        if self.strikes >= self.patience or blowup:
            how = (f"more than {BLOWUP:g} times the limit {limit:.4g}" if blowup else
                   f"above the limit {limit:.4g}")
            raise divergence_error(
                epoch, batch, n_batches,
                f"the mean training loss of the last {count} examples is {mean:.4g}, {how} "
                f"(divergence_factor {self.factor:g} x max(initial loss {self.initial:.4g}, "
                f"chance ln {self.n_classes} = {self.chance:.4g}))"
                + ("" if blowup else f" at {self.strikes} checks in a row"), lr, unit, lr0)

    def state_dict(self) -> dict:
        """The state a checkpoint keeps (JSON-safe)."""
        return {"initial": self.initial, "strikes": self.strikes}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (an empty dict leaves the fresh state).

        Raises
        ------
        TypeError
            When ``state`` is not a dict.
        ValueError
            When ``initial`` is not ``None`` or a finite number, or ``strikes``
            is not a whole number of at least 0.
        """
        if not isinstance(state, dict):
            raise TypeError(f"the divergence guard's state is {state!r}, not an object")
        initial, strikes = state.get("initial", self.initial), state.get("strikes", self.strikes)
        if initial is not None and (isinstance(initial, bool) or not isinstance(
                initial, (int, float)) or not math.isfinite(initial)):
            raise ValueError(f"the divergence guard's initial loss is {initial!r}")
        if isinstance(strikes, bool) or not isinstance(strikes, int) or strikes < 0:
            raise ValueError(f"the divergence guard's strike count is {strikes!r}")
        self.initial, self.strikes = initial, strikes


__all__ = ["BLOWUP", "CHECK_EXAMPLES", "DEFAULT_FACTOR", "DEFAULT_PATIENCE", "DivergenceGuard",
           "check_divergence_options", "divergence_error"]
