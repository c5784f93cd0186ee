"""What a sweep and its executors exchange: trials, events, results, and the contract.

* :class:`Trial` -- one run of the sweep: its folder name, its full training
  config (a ``TrainConfig.to_dict()``), the grid values that make it differ from
  the other trials, the folder it belongs in on the driver, and whether it
  continues from a checkpoint left there (``resume``).
* :class:`TrialResult` -- what came back: ``status`` (``"ok"``, ``"failed"`` or,
  set by the sweep for trials finished earlier, ``"skipped"``), the run's
  summary or the error, the seconds it took, and optionally ``files``: the run
  folder's files as bytes. An executor whose workers cannot write into the
  driver's folder (no shared filesystem) returns them there, and the sweep
  writes them atomically into the trial folder (:func:`backproplab.runs.write_run_files`).
* :class:`Executor` -- ``run(trials, on_event)`` yields one :class:`TrialResult`
  per trial, in the order trials finish, and calls ``on_event`` with a
  :class:`TrialEvent` when a trial starts. A training error never escapes
  ``run``; it becomes a ``"failed"`` result, so that the other trials finish.
  :func:`iter_results` holds an executor to that.

The executors themselves are in :mod:`backproplab.sweeps.executors` (local
worker processes) and :mod:`backproplab.sweeps.ray_executor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Trial:
    """One run of a sweep (see the module docstring).

    Attributes
    ----------
    name : str
        The folder name under the sweep folder, unique in the sweep.
    config : dict
        The full training config, ``TrainConfig.to_dict()``.
    values : dict
        The grid values of this trial, ``seed`` included.
    out_dir : str
        The trial folder on the driver (absolute path).
    resume : bool, default False
        Continue from the checkpoint in ``out_dir``.
    index : int, default 0
        Position in the sweep's trial list.
    allow_changed_data : bool, default False
        With ``resume``: continue even when the data differs from the data the
        checkpoint was trained on (``run_training``'s ``allow_changed_data``).
    """

    name: str                 #: folder name under the sweep folder, unique in the sweep
    config: dict[str, Any]    #: the full training config, ``TrainConfig.to_dict()``
    values: dict[str, Any]    #: the grid values of this trial, ``seed`` included
    out_dir: str              #: the trial folder on the driver (absolute path)
    resume: bool = False      #: continue from the checkpoint in ``out_dir``
    index: int = 0            #: position in the sweep's trial list
    allow_changed_data: bool = False  #: resume on data that differs from the checkpoint's


@dataclass
class TrialResult:
    """What running (or skipping) one trial produced.

    Attributes
    ----------
    name : str
        The trial's name.
    status : {"ok", "failed", "skipped"}
        How it ended (``"skipped"``: finished by an earlier sweep).
    summary : dict or None
        :func:`run_training`'s summary when ok.
    error : str or None
        One line: the exception's type and message.
    settings : tuple of str or None
        For a :class:`BackproplabError` (the user's to fix), the settings it
        names (the sweep command shows them as flags); ``None`` otherwise.
    traceback : str or None
        The full traceback text, when failed.
    seconds : float
        The trial's wall time.
    attempts : int
        How many times it was started.
    resumed : bool
        Whether it continued from a checkpoint.
    files : dict of str to bytes or None
        The run folder's files (relative path -> bytes), for executors whose
        workers do not share the driver's filesystem; the sweep writes them.
    """

    name: str
    status: str                              #: "ok" | "failed" | "skipped"
    summary: dict[str, Any] | None = None    #: ``run_training``'s summary when ok
    error: str | None = None                 #: one line: exception type and message
    #: for a :class:`BackproplabError` (the user's to fix), the settings it names
    #: (its ``settings``; the sweep command shows them as flags); None otherwise
    settings: tuple[str, ...] | None = None
    traceback: str | None = None             #: the full traceback text, when failed
    seconds: float = 0.0                     #: wall time of the trial
    attempts: int = 1                        #: how many times it was started
    resumed: bool = False                    #: continued from a checkpoint
    files: dict[str, bytes] | None = field(default=None, repr=False)
    #: the run folder's files (relative path -> bytes), for executors whose
    #: workers do not share the driver's filesystem; the sweep writes them.

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record (``files`` left out) for ``status.json``/``results.json``."""
        return {"name": self.name, "status": self.status, "error": self.error,
                "seconds": self.seconds, "attempts": self.attempts, "resumed": self.resumed}


@dataclass(frozen=True)
class TrialEvent:
    """A notification from an executor.

    Attributes
    ----------
    kind : {"started", "retry"}
        What happened to the trial.
    trial : Trial
        The trial.
    message : str, default ""
        Why a trial is retried.
    """

    kind: str
    trial: Trial
    message: str = ""


EventCallback = Callable[[TrialEvent], None]


class Executor:
    """Runs trials somewhere; subclasses implement :meth:`run`.

    ``workers`` is how many trials run at the same time (the progress display
    and the sweep use it). Executors are context managers; :meth:`close`
    releases whatever they hold (processes, cluster connections).
    """

    name = "base"
    workers = 1

    def run(self, trials: Sequence[Trial],
            on_event: EventCallback | None = None) -> Iterator[TrialResult]:
        """Run ``trials``, yielding one result per trial as each finishes.

        A trial that raises becomes a ``"failed"`` result; ``run`` itself only
        raises for problems of the executor (and ``KeyboardInterrupt``).
        """
        raise NotImplementedError

    def plan(self, trials: Sequence[Trial]) -> None:
        """Settle ``workers`` for these trials before they run (the default keeps it)."""

    def close(self) -> None:
        """Release resources; the default holds none."""

    def __enter__(self) -> Executor:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def notify(on_event: EventCallback | None, event: TrialEvent) -> None:
    """Call ``on_event`` with ``event``, if there is a callback.

    Parameters
    ----------
    on_event : callable or None
        An executor's event callback.
    event : TrialEvent
        What happened.
    """
    if on_event is not None:
        on_event(event)


def iter_results(executor: Executor, trials: Iterable[Trial],
                 on_event: EventCallback | None = None) -> Iterator[TrialResult]:
    """``executor.run`` with a check that it reports every trial exactly once.

    Parameters
    ----------
    executor : Executor
        Runs the trials.
    trials : iterable of Trial
        The trials.
    on_event : callable or None, default None
        Passed to ``executor.run``.

    Yields
    ------
    TrialResult
        Each trial's result as it finishes.

    Raises
    ------
    RuntimeError
        If the executor reports a trial twice, one it was not given, or none
        for some trial.
    """
    trials = list(trials)
    expected = {t.name for t in trials}
    seen: set[str] = set()
    stream = executor.run(trials, on_event)
    try:
        for result in stream:
            if result.name not in expected or result.name in seen:
                raise RuntimeError(
                    f"executor {executor.name!r} reported trial {result.name!r} twice or "
                    "for a trial it was not given")
            seen.add(result.name)
            yield result
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a generator's cleanup (stopping workers) runs now, not at GC
    missing = expected - seen
    if missing:
        raise RuntimeError(
            f"executor {executor.name!r} returned no result for {len(missing)} trial(s): "
            + ", ".join(sorted(missing)))


__all__ = ["EventCallback", "Executor", "Trial", "TrialEvent", "TrialResult", "iter_results",
           "notify"]
