"""The live view of a sweep: trials done, running, failed, and time left."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.sweeps.trials import Trial, TrialEvent, TrialResult


class SweepProgress:
    """Trials done / running / failed and time left.

    A rich bar on a terminal, one plain line per finished trial otherwise,
    nothing with ``"quiet"``. Use it as a context manager (the bar is live
    inside it).

    Parameters
    ----------
    total : int
        The sweep's number of trials.
    workers : int
        Trials that run at the same time (shown in the plan line).
    mode : {"auto", "rich", "plain", "quiet"}, default "auto"
        ``"auto"``: ``"rich"`` when standard error is a terminal, else
        ``"plain"``.
    console : rich.console.Console or None, default None
        The console the bar draws on; ``None`` for one on standard error.
    out_dir : pathlib.Path or None, default None
        The sweep folder, named in the plan line.

    Raises
    ------
    BackproplabError
        For an unknown ``mode``.
    """

    def __init__(self, total: int, workers: int, mode: str = "auto",
                 console: Any = None, out_dir: Path | None = None):
        if mode not in ("auto", "rich", "plain", "quiet"):
            raise BackproplabError(
                f"unknown progress mode {mode!r}; choose auto, rich, plain or quiet")
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "plain"
        self.mode, self.total, self.workers, self.out_dir = mode, total, workers, out_dir
        self.done = 0
        self.failed = 0
        self.running: set[str] = set()
        self._console = console
        self._progress = None
        self._task = None

    # context manager: start/stop the live display
    def __enter__(self) -> SweepProgress:  # noqa: PYI034
        if self.mode == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._console = self._console or Console(stderr=True)
            self._progress = Progress(
                TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                TextColumn("running {task.fields[running]}"),
                TextColumn("[red]failed {task.fields[failed]}"),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                console=self._console,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "trials", total=self.total, completed=self.done, running=0, failed=0)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _print(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def _refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done,
                                  running=len(self.running), failed=self.failed)

    def note_plan(self, to_run: Sequence[Trial], finished: Sequence[TrialResult]) -> None:
        """Say what will run (``finished``: trials done earlier, counted as done)."""
        self.done = len(finished)
        self._refresh()
        resumed = sum(1 for t in to_run if t.resume)
        parts = [f"sweep: {self.total} trial(s) in {self.out_dir}"]
        if finished:
            parts.append(f"{len(finished)} finished earlier")
        if resumed:
            parts.append(f"{resumed} resumed from checkpoints")
        parts.append(f"{len(to_run)} to run on {self.workers} worker(s)")
        self._print(", ".join(parts))

    def on_event(self, event: TrialEvent) -> None:
        """Executor callback: a trial started or is retried."""
        if event.kind == "started":
            self.running.add(event.trial.name)
        elif event.kind == "retry":
            self._print(f"retrying {event.trial.name}: {event.message}")
        self._refresh()

    def finished(self, result: TrialResult) -> None:
        """A trial came back."""
        self.running.discard(result.name)
        self.done += 1
        if result.status == "failed":
            self.failed += 1
            line = f"[{self.done}/{self.total}] FAILED {result.name} " \
                   f"({result.seconds:.1f} s): {result.error}"
        else:
            s = result.summary or {}
            acc = s.get("eval_accuracy")
            metric = f", {s.get('eval_split', 'eval')} accuracy {acc:.4f}" \
                if isinstance(acc, (int, float)) and math.isfinite(acc) else ""
            line = f"[{self.done}/{self.total}] ok {result.name} ({result.seconds:.1f} s{metric})"
        self._print(line)
        self._refresh()



__all__ = ["SweepProgress"]
