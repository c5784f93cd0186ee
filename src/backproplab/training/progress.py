"""Progress display for a training run: rich bars, plain lines, or nothing.

``make_progress("auto")`` picks rich progress bars (epochs and batches) when the
output is a terminal and plain per-epoch lines otherwise (logs, pipes, CI);
``"plain"`` and ``"quiet"`` force one or the other. Like every progress display
of the project it writes to stderr unless given another stream, so that stdout
keeps the results (and only JSON with ``--json``). The run calls the same few
methods whatever the display: :meth:`Progress.message`, :meth:`start`,
:meth:`batch`, :meth:`epoch_end`, :meth:`close`.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from backproplab.errors import BackproplabError

MODES = ("auto", "plain", "quiet")


def format_loss(value: float) -> str:
    """A loss for a progress line: 4 decimals, or 4 significant digits with an
    exponent once it is huge (a run heading for divergence), never 300 digits.

    Parameters
    ----------
    value : float
        The loss.

    Returns
    -------
    str

    Examples
    --------
    >>> format_loss(0.123456), format_loss(123456.7)
    ('0.1235', '1.235e+05')
    """
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def format_epoch(record: dict, epochs: int, eval_split: str = "validation") -> str:
    """One readable line for an epoch's metrics (the ``metrics.jsonl`` record).

    Parameters
    ----------
    record : dict
        The epoch's record: ``epoch`` and, where present, ``train_loss``,
        ``train_accuracy``, ``eval_loss``, ``eval_accuracy``,
        ``train_seconds``, ``eval_seconds``.
    epochs : int
        The run's number of epochs (the line says ``epoch E/EPOCHS``).
    eval_split : str, default "validation"
        What the evaluation split is called on the line.

    Returns
    -------
    str

    Examples
    --------
    >>> format_epoch({"epoch": 2, "train_loss": 0.5, "eval_loss": 0.25,
    ...               "eval_accuracy": 0.9}, 5)
    'epoch 2/5  train loss 0.5000  validation loss 0.2500  acc 0.9000  (0.00 s train, 0.00 s eval)'
    """
    parts = [f"epoch {record['epoch']}/{epochs}"]
    if record.get("train_loss") is not None:
        parts.append(f"train loss {format_loss(record['train_loss'])}")
    if record.get("train_accuracy") is not None:
        parts.append(f"acc {record['train_accuracy']:.4f}")
    if record.get("eval_loss") is not None:
        parts.append(f"{eval_split} loss {format_loss(record['eval_loss'])}")
    if record.get("eval_accuracy") is not None:
        parts.append(f"acc {record['eval_accuracy']:.4f}")
    parts.append(f"({record.get('train_seconds', 0.0):.2f} s train, "
                 f"{record.get('eval_seconds', 0.0):.2f} s eval)")
    return "  ".join(parts)


class Progress:
    """The quiet display (prints nothing); the base of the others."""

    def message(self, text: str) -> None:
        """A line of information (the data's range, where the run resumes...)."""

    def start(self, *, epochs: int, start_epoch: int, batches_per_epoch: int,
              eval_split: str = "validation") -> None:
        """Training begins (or resumes after ``start_epoch`` finished epochs)."""

    def batch(self, epoch: int, batch: int, loss: float) -> None:
        """Batch ``batch`` (1-based) of ``epoch`` finished with this loss."""

    def epoch_end(self, record: dict) -> None:
        """An epoch finished; ``record`` is its ``metrics.jsonl`` line."""

    def close(self) -> None:
        """Training ended (normally or not): release the display."""


class PlainProgress(Progress):
    """Plain lines: the data line and one line per epoch, nothing per batch.

    Parameters
    ----------
    stream : file object or None, default None
        Where the lines go; ``None`` for standard error (looked up when a line
        is printed).
    """

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream
        self.epochs = 0
        self.eval_split = "validation"

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def message(self, text: str) -> None:
        self._print(text)

    def start(self, *, epochs, start_epoch, batches_per_epoch, eval_split="validation"):
        self.epochs, self.eval_split = epochs, eval_split

    def epoch_end(self, record):
        self._print(format_epoch(record, self.epochs, self.eval_split))


class RichProgress(PlainProgress):
    """Rich progress bars for epochs and for the batches of the current epoch.

    Batch updates are throttled (at most ~10 per second reach rich) so that the
    display costs nothing measurable even at thousands of steps per second.

    Parameters
    ----------
    stream : file object or None, default None
        Where the bars are drawn; ``None`` for standard error.
    """

    def __init__(self, stream: IO[str] | None = None):
        super().__init__(stream)
        from rich.console import Console

        self.console = Console(file=stream) if stream is not None else Console(stderr=True)
        self._bars = None

    def message(self, text):
        self.console.print(text, highlight=False)

    def start(self, *, epochs, start_epoch, batches_per_epoch, eval_split="validation"):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        super().start(epochs=epochs, start_epoch=start_epoch,
                      batches_per_epoch=batches_per_epoch, eval_split=eval_split)
        self._bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                          TimeRemainingColumn(), console=self.console, transient=False)
        self._bars.start()
        self._epochs = self._bars.add_task("epochs", total=epochs, completed=start_epoch,
                                           info="")
        self._batches = self._bars.add_task("batches", total=batches_per_epoch, info="")
        self._n_batches = batches_per_epoch
        self._last = 0.0

    def batch(self, epoch, batch, loss):
        now = time.perf_counter()
        if now - self._last >= 0.1:
            self._last = now
            self._bars.update(self._batches, completed=batch, info=f"loss {format_loss(loss)}")

    def epoch_end(self, record):
        # the batch bar shows the finished epoch until the next epoch's first update
        self._bars.update(self._batches, completed=self._n_batches)
        self._bars.update(self._epochs, completed=record["epoch"])
        self._last = 0.0
        self._bars.console.print(format_epoch(record, self.epochs, self.eval_split),
                                 highlight=False)

    def close(self):
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def make_progress(mode: str = "auto", stream: IO[str] | None = None) -> Progress:
    """The display for ``mode``.

    Parameters
    ----------
    mode : {"auto", "plain", "quiet"}, default "auto"
        ``"auto"``: bars on a terminal, else plain lines; ``"plain"``: one line
        per epoch; ``"quiet"``: nothing.
    stream : file object or None, default None
        Where it writes; ``None`` for standard error.

    Returns
    -------
    Progress
        A :class:`RichProgress`, :class:`PlainProgress` or the silent
        :class:`Progress`.

    Raises
    ------
    BackproplabError
        If ``mode`` is not one of :data:`MODES`.
    """
    if mode not in MODES:
        raise BackproplabError(f"unknown progress mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "quiet":
        return Progress()
    target = stream or sys.stderr
    if mode == "auto" and getattr(target, "isatty", lambda: False)():
        return RichProgress(stream)
    return PlainProgress(stream)


__all__ = ["MODES", "PlainProgress", "Progress", "RichProgress", "format_epoch",
           "format_loss", "make_progress"]
