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

Events are written with the ``tensorboard`` package alone (its event-file writer,
its protocol buffers and its plugins' summary builders; neither TensorFlow nor
PyTorch is needed): install the ``tensorboard`` extra. That package is imported
only when a run asks for it. The event file is a log that TensorBoard appends to
and reads while it grows, so it is the one file of a run not replaced atomically;
each epoch's events are flushed to disk when the epoch ends. A resumed run
starts a new event file that begins with a "session start" at the step after its
checkpoint, so TensorBoard drops what the interrupted run logged past that point.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from pathlib import Path

from backproplab.errors import BackproplabError
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
#: Events buffered before the writer's thread must take them (it also flushes every epoch).
QUEUE_SIZE = 1024


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise BackproplabError(
            "tensorboard=True needs the tensorboard package; install it with "
            f"`pip install 'backproplab[{EXTRA}]'` or run without tensorboard=True") from None


def require() -> None:
    """Check that TensorBoard can be imported, before a run writes anything.

    Raises
    ------
    BackproplabError
        One sentence naming the ``tensorboard`` extra when the package is missing.
    """
    _module("tensorboard.summary.writer.event_file_writer")


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
    >>> board.step(1, 2.30); board.epoch({"epoch": 1, "steps": 1, "train_loss": 2.2})
    >>> board.close()                                    # doctest: +SKIP
    """

    def __init__(self, run_dir, start_step: int = 0):
        writer = _module("tensorboard.summary.writer.event_file_writer")
        self._event_pb2 = _module("tensorboard.compat.proto.event_pb2")
        self._scalar = _module("tensorboard.plugins.scalar.summary_v2").scalar_pb
        self._text = _module("tensorboard.plugins.text.summary_v2").text_pb
        self._histogram = _module("tensorboard.plugins.histogram.summary_v2").histogram_pb
        self.folder = Path(run_dir) / TENSORBOARD
        self._writer = writer.EventFileWriter(str(self.folder), max_queue_size=QUEUE_SIZE)
        if start_step:
            self._add(start_step + 1, session_log=self._event_pb2.SessionLog(
                status=self._event_pb2.SessionLog.START))
            self.flush()

    def _add(self, step: int, **fields) -> None:
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                                     **fields))

    def step(self, step: int, loss: float) -> None:
        """The training loss of one step."""
        self._add(step, summary=self._scalar(STEP_LOSS, float(loss)))

    def epoch(self, record: dict) -> None:
        """Every finite numeric value of one ``metrics.jsonl`` record, at the step
        the epoch ended on (``record["steps"]``), then flush to disk."""
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

    def flush(self) -> None:
        """Write every pending event to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()


def open_board(cfg, run_dir, start_step: int = 0) -> Board | None:
    """The run's :class:`Board` (its config logged at ``start_step``), or ``None``
    when ``cfg.tensorboard`` is off."""
    if not cfg.tensorboard:
        return None
    board = Board(run_dir, start_step)
    board.config(start_step, cfg.to_dict())
    return board


__all__ = ["CONFIG_TAG", "EPOCH_PREFIX", "EXTRA", "STEP_LOSS", "WEIGHTS_TAG", "Board",
           "open_board", "require"]
