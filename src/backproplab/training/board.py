"""TensorBoard event files of a run (``tensorboard=True``): the one adapter.

With ``tensorboard=True`` a run writes TensorBoard event files into its run
folder's ``tensorboard/`` folder as it trains, so ``tensorboard --logdir runs/``
shows every run, and every trial of a sweep, live:

``step/loss``         the training loss of every step (x axis: the step, counted over the run)
``epoch/METRIC``      every numeric key of the epoch's ``metrics.jsonl`` line (losses,
                      accuracies, seconds, ``lr``: the learning rate the epoch used), at
                      the step the epoch ended on
``config``            the run's resolved config as text, at step 0 (and a resumed run's,
                      which may have more epochs, at the step it resumes after)
``weights/W1``        with ``inspect=True``: a histogram of the first layer's weights at
                      initialization (step 0) and after every epoch

Events are written with the ``tensorboard`` package alone: its record writer
(the event-file format and its checksums), its protocol buffers, and its text
and histogram plugins' summary builders; neither TensorFlow nor PyTorch is
needed (``tensorboard.summary.Writer`` writes scalars only, and its
``EventFileWriter``'s writer thread, computing TensorBoard's pure-Python
checksum, fights the training loop for the GIL: about 0.4 ms a step on
Fashion-MNIST). Install the ``tensorboard`` extra; the package is imported only
when a run asks for it. The event file is a log that TensorBoard reads while it
grows, so it is the one file of a run appended to, not replaced atomically. A
step's loss is kept in memory (a tuple) and the epoch's events are written and
flushed to disk when the epoch ends, between epochs, not between batches. A resumed run
starts a new event file that begins with a "session start" at the step after its
checkpoint, so TensorBoard drops what the interrupted run logged past that point.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import time
from pathlib import Path

from backproplab.errors import import_optional
from backproplab.runs import TENSORBOARD

#: The pip extra that installs TensorBoard.
EXTRA = "tensorboard"
#: Tag of the per-step training loss.
STEP_LOSS = "step/loss"
#: Prefix of the per-epoch metrics' tags.
EPOCH_PREFIX = "epoch/"
#: Tag of the run's config.
CONFIG_TAG = "config"
#: Tag of the first layer's weight histograms.
WEIGHTS_TAG = "weights/W1"
_FILES = itertools.count()  # event files opened by this process


def _module(name: str):
    return import_optional(name, package="the tensorboard package", extra=EXTRA,
                           needed_by="tensorboard=True", otherwise="run without tensorboard=True")


def require() -> None:
    """Check that TensorBoard can be imported, before a run writes anything.

    Raises
    ------
    BackproplabError
        One sentence naming the ``tensorboard`` extra when the package is missing.
    """
    _module("tensorboard.summary.writer.record_writer")


class Board:
    """The event file a run writes into ``RUN_DIR/tensorboard/``.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run folder; its ``tensorboard/`` folder is created when missing.
    start_step : int, default=0
        The last step already done (a resumed run: its checkpoint's steps);
        events after it that an earlier, interrupted writer logged are dropped
        by TensorBoard.

    Raises
    ------
    BackproplabError
        When the ``tensorboard`` package is not installed.

    Examples
    --------
    >>> board = Board("runs/example")                    # doctest: +SKIP
    >>> board.step(1, 2.30)                              # doctest: +SKIP
    >>> board.epoch({"epoch": 1, "steps": 1, "train_loss": 2.2})  # doctest: +SKIP
    >>> board.close()                                    # doctest: +SKIP
    """

    def __init__(self, run_dir, start_step: int = 0):
        records = _module("tensorboard.summary.writer.record_writer")
        self._event_pb2 = _module("tensorboard.compat.proto.event_pb2")
        self._summary_pb2 = _module("tensorboard.compat.proto.summary_pb2")
        self._text = _module("tensorboard.plugins.text.summary_v2").text_pb
        self._histogram = _module("tensorboard.plugins.histogram.summary_v2").histogram_pb
        self.folder = Path(run_dir) / TENSORBOARD
        self.folder.mkdir(parents=True, exist_ok=True)
        # TensorBoard's own naming: it reads every file with "tfevents" in its name
        self.path = self.folder / (f"events.out.tfevents.{int(time.time()):010d}."
                                   f"{socket.gethostname()}.{os.getpid()}.{next(_FILES)}")
        self._file = open(self.path, "ab")  # noqa: SIM115 - a log, closed by close()
        self._records = records.RecordWriter(self._file)
        self._steps: list[tuple[float, int, float]] = []
        self._add(0, file_version="brain.Event:2")
        if start_step:
            self._add(start_step + 1, session_log=self._event_pb2.SessionLog(
                status=self._event_pb2.SessionLog.START))
        self.flush()

    def _add(self, step: int, wall_time: float | None = None, **fields) -> None:
        event = self._event_pb2.Event(wall_time=time.time() if wall_time is None else wall_time,
                                      step=int(step), **fields)
        self._records.write(event.SerializeToString())

    def _scalar(self, tag: str, value: float):
        """A scalar summary (TensorBoard's plain ``simple_value``: about 6 times
        cheaper to build than the scalar plugin's tensor form, read the same)."""
        pb = self._summary_pb2.Summary
        return pb(value=[pb.Value(tag=tag, simple_value=value)])

    def step(self, step: int, loss: float) -> None:
        """The training loss of one step (kept until the epoch ends: writing an
        event costs TensorBoard's pure-Python checksum, so the steps are written
        in one go at the end of the epoch, not between the batches)."""
        self._steps.append((time.time(), step, loss))

    def epoch(self, record: dict) -> None:
        """The epoch's steps, then every finite numeric value of its ``metrics.jsonl``
        record at the step it ended on (``record["steps"]``); then flush to disk."""
        self._write_steps()
        step = int(record["steps"])
        for key, value in record.items():
            if key in ("epoch", "steps") or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._add(step, summary=self._scalar(EPOCH_PREFIX + key, float(value)))
        self._add(step, summary=self._scalar(EPOCH_PREFIX + "epoch", float(record["epoch"])))
        self.flush()

    def config(self, step: int, config: dict) -> None:
        """The run's config as text (a JSON block, one option a line) at ``step``."""
        text = "```\n" + json.dumps(config, indent=1) + "\n```"
        self._add(step, summary=self._text(CONFIG_TAG, text))

    def weights(self, step: int, weights) -> None:
        """A histogram of the first layer's weights (``W1``) at ``step``."""
        self._add(step, summary=self._histogram(WEIGHTS_TAG, weights))

    def _write_steps(self) -> None:
        for wall_time, step, loss in self._steps:
            self._add(step, wall_time, summary=self._scalar(STEP_LOSS, float(loss)))
        self._steps.clear()

    def flush(self) -> None:
        """Write the steps kept so far, then everything to disk."""
        self._write_steps()
        self._file.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if not self._file.closed:
            self.flush()
            self._file.close()


def open_board(cfg, run_dir, start_step: int = 0) -> Board | None:
    """The run's :class:`Board`, its config logged at ``start_step``, or ``None``
    when ``cfg.tensorboard`` is off.

    Parameters
    ----------
    cfg : TrainConfig
        The run's resolved config; ``cfg.tensorboard`` decides, and
        ``cfg.to_dict()`` is logged as the ``config`` text.
    run_dir : str or os.PathLike
        The run folder (events go to its ``tensorboard/`` folder).
    start_step : int, default 0
        The last step already done (a resumed run's checkpoint).

    Returns
    -------
    Board or None
        The open event file, or ``None`` when TensorBoard is off.
    """
    if not cfg.tensorboard:
        return None
    board = Board(run_dir, start_step)
    board.config(start_step, cfg.to_dict())
    return board


__all__ = ["CONFIG_TAG", "EPOCH_PREFIX", "EXTRA", "STEP_LOSS", "WEIGHTS_TAG", "Board",
           "open_board", "require"]
