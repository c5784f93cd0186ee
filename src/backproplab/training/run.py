"""One training run, written into its run folder, resumable after a crash.

:func:`run_training` is the whole run: validate the config and write it first,
load the data, build the model and optimizer from the seed, train (with the
tensor engine through :func:`backproplab.training.fit`, or the scalar engine one
example at a time), and after every epoch append the metrics and replace the
checkpoint, so that ``resume=True`` continues where a killed run stopped and
ends with exactly the weights an uninterrupted run would have.

Run folder (see ``docs/training.md``)::

    config.json     the full validated config, written before anything else
    metrics.jsonl   one line per epoch (epoch, train/eval loss and accuracy, times, lr)
    batches.jsonl   one line per step (epoch, step, loss)
    checkpoint.npz  after every epoch: model, optimizer state, shuffling RNG state, epoch,
                    the schedule's, early stopping's and the divergence guard's state
    best.npz        with --restore-best: the weights of the best epoch so far
    model.npz       the final weights (the best epoch's with --restore-best) and the
                    preprocessing of the data (backproplab.data.preprocess), for predict
    summary.json    the result (the same keys as ``backproplab train --json``)
    loss.png        written by the command from the files above

Randomness: ``SeedSequence(config.seed)`` is spawned into two generators, one
for the initial weights and one for the batch order, so trials that share a
seed share both whatever else they vary (learning rate, optimizer...).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

from backproplab.data import load_configured
from backproplab.data.files import is_file_dataset
from backproplab.data.preprocess import Preprocessing
from backproplab.errors import BackproplabError, DivergenceError
from backproplab.fileio import atomic_write_json
from backproplab.locks import lock_folder
from backproplab.runs import (
    BEST,
    CHECKPOINT,
    CONFIG,
    MODEL,
    RUN_FILES,
    RUN_FOLDERS,
    SUMMARY,
    TRIAL_RECORD_FILES,
    RunFolder,
    RunLog,
    check_out_folder,
    is_bookkeeping,
    resume_logs,
)
from backproplab.tensor.kernels import prepare as prepare_kernels
from backproplab.tensor.memory import available_memory
from backproplab.training import board
from backproplab.training.config import TrainConfig
from backproplab.training.data_identity import DATA_KEY, check_same_data, data_fingerprint
from backproplab.training.engines import ENGINES, run_controls, run_seeds
from backproplab.training.libraries import require_libraries
from backproplab.training.options import data_options
from backproplab.training.progress import Progress, make_progress
from backproplab.training.resume import merge_resume_config, read_checkpoint, restore_controls
from backproplab.training.snapshots import Snapshots
from backproplab.training.threads import computing

#: Test-only: seconds to sleep after every batch, so that a test can kill a run
#: in the middle of an epoch. Not part of the config: it changes no result.
BATCH_SLEEP_ENV = "BACKPROPLAB_TEST_BATCH_SLEEP"
#: Keys every summary has (also the ``--json`` line of ``backproplab train``).
SUMMARY_KEYS = ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "eval_split",
                "epochs", "seconds", "run_dir")


# ---------------------------------------------------------------------------
# run folders


def default_run_dir(config: TrainConfig, root: str | os.PathLike = "runs") -> Path:
    """A new folder under ``root`` named from the time and the main options.

    The name is ``STAMP-DATASET-ENGINE-hHIDDEN-lrLR-bBATCH-sSEED`` (local time,
    characters outside ``A-Za-z0-9._-`` replaced by ``_``), with ``-2``, ``-3``
    ... added when that folder exists. Nothing is created.

    Parameters
    ----------
    config : TrainConfig
        The run's config (resolved here for the engine's defaults).
    root : str or os.PathLike, default "runs"
        The folder the run folder goes in.

    Returns
    -------
    pathlib.Path
        E.g. ``runs/20240131-142501-synth-tensor-h300-lr0.1-b16-s0``.
    """
    cfg = config.resolved()
    hidden = "x".join(map(str, cfg.hidden))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = Path(cfg.dataset).stem if is_file_dataset(cfg.dataset) else cfg.dataset
    name = f"{stamp}-{data}-{cfg.engine}-h{hidden}-lr{cfg.lr:g}-b{cfg.batch_size}-s{cfg.seed}"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    path, n = Path(root) / name, 2
    while path.exists():
        path, n = Path(root) / f"{name}-{n}", n + 1
    return path


def _has_results(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` already holds any file of a run."""
    out = Path(out_dir)
    return out.is_dir() and any((out / f).exists() for f in (*RUN_FILES, *RUN_FOLDERS))


def _check_fresh(out: Path, overwrite: bool) -> None:
    """Refuse, before anything is loaded or written, an out_dir that can't take a new run."""
    if out.exists() and not out.is_dir():
        raise BackproplabError(f"{out} exists and is not a folder; choose another out_dir",
                               settings=("out_dir",))
    if _has_results(out) and not overwrite:
        if not (out / CHECKPOINT).is_file():  # resume would refuse: nothing to continue
            raise BackproplabError(
                f"{out} already holds a run that stopped before its first epoch ended (no "
                f"{CHECKPOINT} to resume from); pass overwrite=True to start it again, or "
                "choose another out_dir", settings=("out_dir",))
        raise BackproplabError(
            f"{out} already holds a run; pass resume=True to continue it, overwrite=True to "
            "replace it, or choose another out_dir", settings=("out_dir",))
    others = sorted(p.name for p in out.iterdir() if not is_bookkeeping(p.name)
                    and p.name not in TRIAL_RECORD_FILES) if out.is_dir() else []
    if others and not _has_results(out):
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise BackproplabError(
            f"{out} is not empty and holds no run ({shown}); it is not backproplab's to "
            "write into: choose a new or empty out_dir", settings=("out_dir",))


def _prepare_fresh(out: Path, overwrite: bool) -> None:
    _check_fresh(out, overwrite)
    if _has_results(out):
        for name in RUN_FILES:
            try:
                (out / name).unlink()
            except FileNotFoundError:
                pass
        for name in RUN_FOLDERS:
            shutil.rmtree(out / name, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission, a read-only disk ...
        raise BackproplabError(
            f"cannot create the run folder {out} ({exc.strerror or exc}); choose another "
            "out_dir", settings=("out_dir",)) from None


# ---------------------------------------------------------------------------
# the run


def _describe(dataset, cfg: TrainConfig) -> str:
    """The data line printed before training (the study asks to look at the data first)."""
    text = dataset.describe()
    raw = dataset.meta.get("raw_range") if isinstance(dataset.meta, dict) else None
    if raw is not None:
        mode = dataset.normalizer.mode if dataset.normalizer is not None else cfg.normalize
        text += f"; raw range {raw[0]:.3g} .. {raw[1]:.3g}, normalized: {mode}"
    return text


def _summarize(metrics: list[dict], cfg: TrainConfig, out: Path, eval_split: str,
               seconds: float, extra: dict) -> dict:
    last = metrics[-1]
    best = max(metrics, key=lambda r: (r["eval_accuracy"] if r["eval_accuracy"] is not None
                                       else -math.inf, -r["epoch"]))
    summary = {
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "eval_loss": last["eval_loss"],
        "eval_accuracy": last["eval_accuracy"],
        "eval_split": eval_split,
        "epochs": last["epoch"],
        "seconds": seconds,
        "run_dir": str(out),
        "best_epoch": best["epoch"],
        "best_eval_accuracy": best["eval_accuracy"],
        "best_eval_loss": min((r["eval_loss"] for r in metrics if r["eval_loss"] is not None),
                              default=None),
        "train_seconds": sum(r["train_seconds"] for r in metrics),
        "eval_seconds": sum(r["eval_seconds"] for r in metrics),
        "steps": last.get("steps"),
        "engine": cfg.engine,
        "dataset": cfg.dataset,
    }
    summary.update(extra)
    return summary


def load_run_dataset(config: TrainConfig, *, download: bool = True):
    """The :class:`~backproplab.data.Dataset` a run with ``config`` trains on.

    The data options of the resolved config, loaded exactly as
    :func:`run_training` loads them (:func:`backproplab.data.load_configured`).
    Executors that load the data once for many runs use this. A user's file
    too large for the memory available
    (:func:`backproplab.tensor.memory.available_memory`) is refused before it
    is read.

    Parameters
    ----------
    config : TrainConfig
        The run's config.
    download : bool, default True
        Whether a dataset missing from the cache may be downloaded.

    Returns
    -------
    backproplab.data.Dataset
    """
    available = available_memory()
    return load_configured(data_options(config.resolved().to_dict()), download=download,
                           max_bytes=None if available is None else available[0])


def run_training(config: TrainConfig | None, out_dir: str | os.PathLike, *,
                 resume: bool = False, overwrite: bool = False,
                 progress: str | Progress = "auto", dataset=None,
                 data_sha256: str | None = None, allow_changed_data: bool = False) -> dict:
    """Train as ``config`` says, writing the run folder ``out_dir``; returns the summary.

    Parameters
    ----------
    config : TrainConfig or None
        The run's options; ``None`` only with ``resume`` (use the saved config).
    out_dir : str or Path
        The run folder; one that already holds a run is refused unless
        ``resume`` (continue from the last checkpoint, bit-identically; only
        ``epochs``, ``threads``, ``data_dir`` may change) or ``overwrite``.
    progress : {"auto", "plain", "quiet"} or Progress, default="auto"
    dataset : Dataset, optional
        The data already loaded (:func:`load_run_dataset`), e.g. shared by runs.
    data_sha256 : str, optional
        The fingerprint (:func:`data_fingerprint`) the data must have: a replayed
        run's (its ``summary.json``'s ``data_sha256``).
    allow_changed_data : bool, default=False
        Train on data that differs from ``data_sha256``, or with ``resume`` from
        the data the checkpoint was trained on, instead of refusing it.

    Returns
    -------
    dict
        The summary (:data:`SUMMARY_KEYS`), also written into the folder.

    Raises
    ------
    BackproplabError
        For bad options or folders, including a folder another process is
        writing. ``DivergenceError`` when the loss or weights become non-finite,
        or the loss runs away (``divergence_factor``, see
        :mod:`backproplab.training.divergence`); the last good checkpoint and the
        metrics up to it stay in place. Data that differs from the run's
        (``resume``) or from ``data_sha256`` is refused before anything is
        written, unless ``allow_changed_data``.

    Notes
    -----
    The run holds the folder's lock (:func:`backproplab.locks.lock_folder`) from
    before its first write to its end: a second run, resume or sweep on the same
    folder is refused at once, naming the process that holds it. ``out_dir`` may
    not be empty, the root or the home folder.

    Examples
    --------
    >>> from backproplab.training import TrainConfig, run_training
    >>> config = TrainConfig(dataset="synth", hidden=(16,), lr=0.1, epochs=3)
    >>> summary = run_training(config, "runs/synth16")       # doctest: +SKIP
    >>> summary["eval_accuracy"] > 0.9                       # doctest: +SKIP
    True
    """
    if resume and overwrite:
        raise BackproplabError("resume=True and overwrite=True contradict each other; choose one")
    if config is None and not resume:
        raise BackproplabError("a new run needs a TrainConfig")
    out = check_out_folder(out_dir)
    if config is not None:  # a library missing here: refused before anything is written
        require_libraries(config)
    # refused before the folder is created or locked, and again under the lock
    check = None if resume else (lambda path: _check_fresh(path, overwrite))
    with lock_folder(out, "run", check):
        return _train(config, out, resume=resume, overwrite=overwrite, progress=progress,
                      dataset=dataset, data=(data_sha256, allow_changed_data))


def _train(config: TrainConfig | None, out: Path, *, resume: bool, overwrite: bool,
           progress: str | Progress, dataset, data: tuple[str | None, bool]) -> dict:
    """:func:`run_training` in the locked folder ``out``; ``data`` is
    ``(data_sha256, allow_changed_data)``."""
    t_start = time.perf_counter()
    display = progress if isinstance(progress, Progress) else make_progress(progress)
    cfg, dataset, sha, made = _prepare(config, out, resume=resume, overwrite=overwrite,
                                       dataset=dataset, data=data)
    with computing(cfg.threads, cfg.gemm, cfg.kernels):
        if dataset is None:
            dataset = load_run_dataset(cfg)
        elif dataset.name != cfg.dataset:
            raise BackproplabError(
                f"the dataset given to the run is {dataset.name!r} but its config asks for "
                f"{cfg.dataset!r}; pass the data the config describes (or none)")
        display.message(_describe(dataset, cfg))
        run = _Run(cfg, dataset, out, display, resume, allow_changed_data=data[1],
                   data_sha256=sha, made=made)
        prepare_kernels(cfg.dtype)  # compiled before the first epoch's clock starts
        history = run.train()
    return run.finish(history, time.perf_counter() - t_start)


def _prepare(config: TrainConfig | None, out: Path, *, resume: bool, overwrite: bool, dataset,
             data: tuple[str | None, bool]):
    """The run's resolved config, checked against the folder; a new run's folder is
    cleared and gets ``config.json``. Returns ``(config, dataset or None, the data's
    fingerprint where a replay computed it, else None, a new run's ``(engine, controls)``
    (the engine's memory checked, not yet built; the schedule's rates checked), else
    None)``."""
    if resume:
        cfg = merge_resume_config(RunFolder(out).train_config(TrainConfig), config)
        if cfg.tensorboard:
            board.require()
        if not (out / CHECKPOINT).is_file():
            raise BackproplabError(
                f"{out} has no {CHECKPOINT} to resume from (the run stopped before its first "
                "epoch ended); start it again with overwrite=True")
        return cfg, dataset, None, None
    cfg = config.resolved()
    _check_fresh(out, overwrite)
    if cfg.tensorboard:
        board.require()  # a missing package writes nothing
    if dataset is None:
        # load before anything is written or replaced: a missing or corrupt
        # dataset leaves --out as it was (no half-started run to refuse later)
        with computing(cfg.threads, cfg.gemm, cfg.kernels):
            dataset = load_run_dataset(cfg)
    sha = None
    if data[0] is not None:  # a replay: the data must be the replayed run's
        sha = data_fingerprint(dataset)
        check_same_data(data[0], sha, "the run replayed", data[1])
    engine = ENGINES[cfg.engine](cfg, dataset)
    engine.check_memory()  # a model too large writes nothing
    controls = run_controls(cfg, len(dataset.X_train))  # nor does a rate falling to 0
    _prepare_fresh(out, overwrite)
    atomic_write_json(out / CONFIG, cfg.to_dict())
    return cfg, dataset, sha, (engine, controls)


class _Run:
    """One run in its folder: the engine, its controls, the logs, and what each
    epoch writes (metrics, checkpoint, best weights, inspection snapshots)."""

    def __init__(self, cfg: TrainConfig, dataset, out: Path, display: Progress, resume: bool,
                 allow_changed_data: bool = False, data_sha256: str | None = None,
                 made: tuple | None = None):
        self.cfg, self.dataset, self.out, self.display = cfg, dataset, out, display
        # a replay hashed the data already (_prepare): hash it once per run
        self.data_sha256 = data_sha256 or data_fingerprint(dataset)
        self.sleep = float(os.environ.get(BATCH_SLEEP_ENV, "0") or 0)
        # a new run's engine and controls come from _prepare (checked there): made once
        engine, controls = made or (ENGINES[cfg.engine](cfg, dataset), None)
        self.engine = engine
        init_ss, self.shuffle_rng = run_seeds(cfg.seed)
        self.schedule, self.stopper = controls or run_controls(cfg, len(dataset.X_train))
        self.start_epoch, self.resumed_from, logs = 0, None, None
        if resume:
            extra = read_checkpoint(engine, out / CHECKPOINT, cfg, self.shuffle_rng)
            check_same_data(extra.get(DATA_KEY), self.data_sha256, f"the run in {out}",
                            allow_changed_data)
            self.start_epoch = self.resumed_from = int(extra["epoch"])
            logs = resume_logs(out, self.start_epoch, extra.get("steps"))
            restore_controls(out, extra, self.schedule, self.stopper, engine)
            atomic_write_json(out / CONFIG, cfg.to_dict())  # epochs/threads may have changed
            display.message(f"resuming {out} after epoch {self.start_epoch} of {cfg.epochs}")
        else:
            engine.build(init_ss)
        self.log = RunLog(out, logs)
        self.snaps = Snapshots.start(cfg, dataset, engine, out, self.start_epoch)
        self.board = None

    def on_batch(self, epoch: int, batch: int, step: int, loss: float) -> None:
        self.log.add_batch(epoch, step, loss)
        self.display.batch(epoch, batch, loss)
        if self.sleep:
            time.sleep(self.sleep)

    def on_batch_board(self, epoch: int, batch: int, step: int, loss: float) -> None:
        """:meth:`on_batch`, and the step's loss to TensorBoard (``tensorboard=True``)."""
        self.on_batch(epoch, batch, step, loss)
        self.board.step(step, loss)

    def on_epoch(self, record: dict) -> None:
        self.log.end_epoch(record)
        if self.board is not None:
            if self.snaps is not None:
                self.board.weights(record["steps"], self.engine.arrays()["W1"])
            self.board.epoch(record)
        if self.snaps is not None:
            self.snaps.record(self.engine, record["epoch"])
        controls = {}
        if self.schedule is not None:
            controls["schedule"] = self.schedule.state_dict()
        if self.stopper is not None:
            controls["early_stopping"] = self.stopper.state_dict()
        self.engine.save(self.out / CHECKPOINT, extra={
            "epoch": record["epoch"], "steps": record["steps"],
            "rng_state": self.shuffle_rng.bit_generator.state, "config": self.cfg.to_dict(),
            "divergence": self.engine.guard.state_dict(), DATA_KEY: self.data_sha256,
            **controls})
        # after the checkpoint: a run stopped in between finds the best weights
        # in the checkpoint (see restore_controls)
        if self.stopper is not None and self.stopper.restore_best and self.stopper.improved:
            self.engine.save(self.out / BEST, extra={"epoch": record["epoch"]},
                             with_optimizer=False)
        self.display.epoch_end(record)

    def train(self):
        """The epochs still to run; returns fit's history (``None`` when none were left)."""
        if self.start_epoch >= self.cfg.epochs:
            return None
        done = self.log.metrics[-1]["steps"] if self.log.metrics else 0
        self.board = board.open_board(self.cfg, self.out, done)
        if self.board is not None and self.snaps is not None and not self.start_epoch:
            self.board.weights(0, self.engine.arrays()["W1"])
        self.display.start(epochs=self.cfg.epochs, start_epoch=self.start_epoch,
                           batches_per_epoch=self.engine.batches_per_epoch(),
                           eval_split=self.dataset.eval_split)
        on_batch = self.on_batch if self.board is None else self.on_batch_board
        try:
            return self.engine.train(start_epoch=self.start_epoch, rng=self.shuffle_rng,
                                     on_batch=on_batch, on_epoch=self.on_epoch,
                                     schedule=self.schedule, early_stopping=self.stopper)
        except DivergenceError as exc:
            done = self.log.metrics[-1]["epoch"] if self.log.metrics else 0
            kept = (f"the checkpoint of epoch {done} stays in {self.out}" if done
                    else "no checkpoint was written")
            raise DivergenceError(f"{exc}; {kept}", settings=exc.settings) from None
        finally:
            self.display.close()
            if self.board is not None:
                self.board.close()

    def finish(self, history, seconds: float) -> dict:
        """Write ``model.npz`` and, last, ``summary.json``; returns the summary."""
        cfg, dataset, engine, metrics = self.cfg, self.dataset, self.engine, self.log.metrics
        if history is None and self.stopper is not None:
            self.stopper.restore(engine)  # a finished run resumed: the best weights
        stop = _stop_info(history, self.stopper, self.schedule, metrics)
        engine.save(self.out / MODEL, extra={
            "epoch": stop.get("restored_epoch") or stop["stopped_epoch"],
            "config": cfg.to_dict(),
            "preprocessing": Preprocessing.from_dataset(dataset).to_dict()},
            with_optimizer=False)
        summary = _summarize(metrics, cfg, self.out, dataset.eval_split, seconds,
                             {"n_train": len(dataset.X_train), "n_eval": len(dataset.X_eval),
                              "n_params": engine.n_params(),
                              "resumed_from_epoch": self.resumed_from,
                              DATA_KEY: self.data_sha256})
        summary.update(_stop_summary(stop, metrics))
        atomic_write_json(self.out / SUMMARY, summary)
        return summary


def _stop_info(history, stopper, schedule, metrics: list[dict]) -> dict:
    """Why and when training ended, and which epoch's weights the model holds."""
    reason = history.stopped_reason if history is not None else "epochs"
    if history is None and stopper is not None and stopper.stopped:
        reason = "early_stopping"
    elif history is None and getattr(schedule, "stopped", False):
        reason = "lr_plateau"
    info = {"stopped_reason": reason, "stopped_epoch": metrics[-1]["epoch"] if metrics else 0}
    if stopper is not None:
        info.update(monitor=stopper.monitor, best_epoch=stopper.best_epoch,
                    best_value=stopper.best,
                    restored_epoch=stopper.best_epoch if stopper.restore_best else None)
    return info


def _stop_summary(stop: dict, metrics: list[dict]) -> dict:
    """Summary keys about stopping. With restored weights, the reported losses and
    accuracies are those of the restored epoch (the weights in model.npz)."""
    out = {"stopped_reason": stop["stopped_reason"], "stopped_epoch": stop["stopped_epoch"]}
    if "monitor" in stop:
        out.update({"best_epoch": stop["best_epoch"], "early_stopping_monitor": stop["monitor"],
                    "early_stopping_best": stop["best_value"],
                    "restored_epoch": stop["restored_epoch"]})
        restored = stop["restored_epoch"]
        rows = [r for r in metrics if r["epoch"] == restored]
        if restored is not None and rows:
            row = rows[-1]
            out.update({k: row[k] for k in ("train_loss", "train_accuracy", "eval_loss",
                                             "eval_accuracy")})
    return out


__all__ = [
    "BATCH_SLEEP_ENV",
    "SUMMARY_KEYS",
    "default_run_dir",
    "load_run_dataset",
    "run_training",
]
