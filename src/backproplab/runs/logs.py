"""A run's logs, ``metrics.jsonl`` and ``batches.jsonl``: the one writer and the one strict reader.

:class:`RunLog` writes them during training: kept in memory, and each file
atomically replaced at the end of every epoch, so a crash leaves the previous
complete version and never a torn line. :func:`read_log` reads one strictly:
every line must be a JSON record with the fields asked for, so a damaged log
is named (:class:`DamagedFile`) instead of being read short. Resuming
(:func:`resume_logs`), aggregation and the figures all read through it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_text, is_finite_number, parse_json, read_bounded
from backproplab.runs.names import BATCHES, METRICS

#: What every line of a log must hold when a run is resumed from it.
_METRICS_FIELDS = ("epoch", "train_loss", "eval_accuracy")
_BATCHES_FIELDS = ("epoch", "step", "loss")
#: What to do about a damaged file of a run, unless the reader says otherwise.
RERUN_FIX = "restore the file or rerun the run"


class DamagedFile(BackproplabError):
    """A file of a run that cannot be read as what it must be.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    why : str
        What is wrong with it (``"line 3 is not JSON"``).
    fix : str, default=RERUN_FIX
        What the user can do; readers with another context use :meth:`with_fix`.
    """

    def __init__(self, path: str | os.PathLike, why: str, fix: str = RERUN_FIX):
        self.path, self.why = Path(path), why
        super().__init__(f"{path} is damaged: {why}; {fix}")

    def with_fix(self, fix: str, prefix: str = "") -> BackproplabError:
        """The same damage with another fix (and a prefix such as ``"cannot resume: "``)."""
        return BackproplabError(f"{prefix}{self.path} is damaged: {self.why}; {fix}")


def _whole(value: Any) -> bool:
    return is_finite_number(value) and value == int(value)


def read_log(path: str | os.PathLike, fields: Sequence[str] = ("epoch",), *,
             torn_tail: bool = False) -> list[dict]:
    """The records of a JSON Lines log of a run, strictly (``[]`` when the file is missing).

    Parameters
    ----------
    path : str or os.PathLike
        ``metrics.jsonl`` or ``batches.jsonl`` of a run folder.
    fields : sequence of str, default=("epoch",)
        The fields every record must have; ``epoch`` and ``step`` must be whole numbers.
    torn_tail : bool, default=False
        Whether a last line without its newline that is not JSON is left out
        (what a crash of an older writer leaves) instead of being damage.

    Returns
    -------
    list of dict
        Every non-blank line, in file order.

    Raises
    ------
    DamagedFile
        Naming the first line that is not UTF-8 text, not JSON, or not a record
        with ``fields``.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    lines = read_bounded(path).split(b"\n")
    for i, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8").strip()
            row = parse_json(line) if line else None
        except ValueError as exc:  # UnicodeDecodeError is one too
            if torn_tail and i == len(lines):
                break
            what = "UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "JSON"
            raise DamagedFile(path, f"line {i} is not {what}") from None
        if not line:
            continue
        if (not isinstance(row, dict) or any(k not in row for k in fields)
                or not all(_whole(row[k]) for k in ("epoch", "step") if k in fields)):
            whole = " and ".join(k for k in ("epoch", "step") if k in fields)
            raise DamagedFile(path, f"line {i} is not a record with {', '.join(fields)} "
                                    f"(whole-number {whole})")
        rows.append(row)
    return rows


def resume_logs(folder: str | os.PathLike, epochs: int,
                steps: int | None) -> tuple[list[dict], list[dict]]:
    """The log records a checkpoint after ``epochs`` epochs (and ``steps`` steps,
    when known) covers; later lines (a run killed between its logs and its
    checkpoint) are dropped.

    Parameters
    ----------
    folder : str or os.PathLike
        The run folder.
    epochs : int
        The checkpoint's epoch.
    steps : int or None
        The checkpoint's step count (``None`` for older checkpoints: then the
        step log only has to be numbered without gaps).

    Returns
    -------
    (list of dict, list of dict)
        The ``metrics.jsonl`` and ``batches.jsonl`` records to keep (what
        :class:`RunLog` starts from).

    Raises
    ------
    BackproplabError
        When a log is damaged or does not cover every epoch and step up to the
        checkpoint (edited, truncated): resuming would silently lose its numbers.
    """
    out = Path(folder)
    fix, prefix = "restore it or start the run again with overwrite=True", "cannot resume: "
    try:
        metrics = [r for r in read_log(out / METRICS, _METRICS_FIELDS, torn_tail=True)
                   if r["epoch"] <= epochs]
        batches = [r for r in read_log(out / BATCHES, _BATCHES_FIELDS, torn_tail=True)
                   if r["epoch"] <= epochs]
        if [r["epoch"] for r in metrics] != list(range(1, epochs + 1)):
            raise DamagedFile(out / METRICS,
                              f"it does not hold one line for each of epochs 1 to {epochs}")
        n = steps if isinstance(steps, int) and not isinstance(steps, bool) else len(batches)
        if [r["step"] for r in batches] != list(range(1, n + 1)):
            raise DamagedFile(out / BATCHES,
                              f"it does not hold one line for each of steps 1 to {n}")
    except DamagedFile as exc:
        raise exc.with_fix(fix, prefix) from None
    return metrics, batches


def _batch_line(epoch: int, step: int, loss: float) -> str:
    return f'{{"epoch": {epoch}, "step": {step}, "loss": {float(loss)!r}}}\n'


class RunLog:
    """The writer of ``metrics.jsonl`` and ``batches.jsonl`` during training.

    Both are kept in memory and each file is atomically replaced at the end of
    every epoch (a crash leaves the previous complete version; no torn lines).

    Parameters
    ----------
    folder : str or os.PathLike
        The run folder.
    resumed : (list of dict, list of dict), optional
        The ``(metrics, batches)`` records a checkpoint covers
        (:func:`resume_logs`); they replace the files at once. Without it the
        logs start empty (and both files are written empty).
    """

    def __init__(self, folder: str | os.PathLike,
                 resumed: tuple[list[dict], list[dict]] | None = None):
        self.out = Path(folder)
        metrics, batches = resumed if resumed is not None else ([], [])
        self.metrics: list[dict] = list(metrics)
        self.batch_text = [_batch_line(r["epoch"], r["step"], r["loss"]) for r in batches]
        self.pending: list[tuple[int, int, float]] = []
        self._write_metrics()
        atomic_write_text(self.out / BATCHES, "".join(self.batch_text))

    def add_batch(self, epoch: int, step: int, loss: float) -> None:
        """Record one training step (written with its epoch)."""
        self.pending.append((epoch, step, loss))

    def end_epoch(self, record: dict) -> None:
        """Write the epoch's steps and its ``metrics.jsonl`` record."""
        self.batch_text.append("".join(_batch_line(e, s, v) for e, s, v in self.pending))
        self.pending.clear()
        atomic_write_text(self.out / BATCHES, "".join(self.batch_text))
        self.metrics.append(record)
        self._write_metrics()

    def _write_metrics(self) -> None:
        atomic_write_text(self.out / METRICS,
                          "".join(json.dumps(r) + "\n" for r in self.metrics))


__all__ = ["RERUN_FIX", "DamagedFile", "RunLog", "read_log", "resume_logs"]
