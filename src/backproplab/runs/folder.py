"""One run folder as read from disk (:class:`RunFolder`), and a run's files moved as a whole."""

from __future__ import annotations

import json
import math
import os
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import (
    atomic_write_bytes,
    is_finite_number,
    load_json,
    parse_json,
    read_json,
)
from backproplab.runs.logs import DamagedFile, read_log
from backproplab.runs.names import (
    BATCHES,
    CHECKPOINT,
    CONFIG,
    METRICS,
    MODEL,
    STATUS,
    SUMMARY,
    is_bookkeeping,
)
from backproplab.tensor import MLP
from backproplab.tensor.files import (
    is_scalar_engine_file,
    json_load,
    read_npz,
    scalar_engine_arrays,
)

#: The config class :meth:`RunFolder.train_config` builds.
C = TypeVar("C")


def _as_float(v: Any) -> float:
    return float(v) if is_finite_number(v) else math.nan


class RunFolder:
    """One run folder as read from disk; each file is read on first use.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (``backproplab train --out``, or a sweep's trial folder).

    Raises
    ------
    BackproplabError
        When a file that is asked for is damaged (not JSON, records without a
        whole-number epoch: :class:`~backproplab.runs.logs.DamagedFile`),
        naming the file and the fix.

    Examples
    --------
    >>> run = RunFolder("runs/example")            # doctest: +SKIP
    >>> run.finished, run.metric("eval_accuracy")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The folder's name (a trial's name inside a sweep)."""
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the folder's files (a name defined in this module)."""
        return self.path / name

    def is_run(self) -> bool:
        """Whether the folder holds a run: a ``config.json`` that reads as an object."""
        return isinstance(read_json(self.path / CONFIG), dict)

    @cached_property
    def config(self) -> dict[str, Any]:
        """``config.json``: the resolved training config."""
        data = read_json(self.path / CONFIG)
        if not isinstance(data, dict):
            raise BackproplabError(
                f"{self.path} is not a run folder ({CONFIG} is missing or not a JSON object); "
                "give the folder of a training run")
        return data

    def train_config(self, config_type: type[C]) -> C:
        """The run's options, read strictly from ``config.json`` to resume the run.

        Parameters
        ----------
        config_type : type
            The class that checks them: :class:`backproplab.training.TrainConfig`
            (this layer sits below training, so the caller names it); its
            ``from_dict`` builds the result.

        Returns
        -------
        config_type
            ``config_type.from_dict(config.json)``.

        Raises
        ------
        BackproplabError
            When the folder holds no ``config.json`` (no run to resume), or it is
            not a readable JSON object, or its options are invalid.

        Examples
        --------
        >>> from backproplab.training import TrainConfig              # doctest: +SKIP
        >>> RunFolder("runs/example").train_config(TrainConfig).lr    # doctest: +SKIP
        0.1
        """
        path = self.path / CONFIG
        if not path.is_file():
            raise BackproplabError(f"{self.path} holds no run to resume (no {CONFIG}); start "
                                   "the run without resume=True")
        try:
            data = load_json(path)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise BackproplabError(f"{path} is not readable JSON ({why}); start again with "
                                   "overwrite=True") from None
        if not isinstance(data, dict):
            raise BackproplabError(f"{path} is not a JSON object; start again with "
                                   "overwrite=True")
        return config_type.from_dict(data)

    def _records(self, name: str) -> list[dict]:
        """The records of a log of the run (:func:`~backproplab.runs.logs.read_log`);
        a torn last line is left out while the run is unfinished."""
        return read_log(self.path / name, torn_tail=not self.finished)

    @cached_property
    def _metric_rows(self) -> list[dict]:
        return self._records(METRICS)

    @cached_property
    def epochs(self) -> list[dict]:
        """The per-epoch records of ``metrics.jsonl``, in epoch order."""
        rows = [r for r in self._metric_rows if r.get("kind", "epoch") != "batch"]
        return sorted(rows, key=lambda r: r["epoch"])

    @cached_property
    def batches(self) -> list[dict]:
        """The per-step records (``batches.jsonl``, and ``kind: batch`` lines of
        older ``metrics.jsonl`` files), in step order."""
        rows = [r for r in self._metric_rows if r.get("kind") == "batch"]
        rows += self._records(BATCHES)
        return sorted(rows, key=lambda r: r.get("step", 0))

    @cached_property
    def summary(self) -> dict | None:
        """``summary.json``, or ``None`` while the run is unfinished."""
        data = read_json(self.path / SUMMARY)
        return data if isinstance(data, dict) else None

    @cached_property
    def status(self) -> dict | None:
        """A sweep's ``status.json`` for this trial, or ``None``."""
        data = read_json(self.path / STATUS)
        return data if isinstance(data, dict) else None

    @property
    def finished(self) -> bool:
        """A run is finished when its ``summary.json`` exists."""
        return self.summary is not None

    def metric(self, name: str) -> np.ndarray:
        """One per-epoch metric as float64 (NaN where missing)."""
        return np.array([_as_float(r.get(name)) for r in self.epochs], dtype=np.float64)

    def epoch_numbers(self) -> np.ndarray:
        """The epoch number of every epoch record."""
        return np.array([r["epoch"] for r in self.epochs], dtype=np.float64)

    def steps_per_epoch(self) -> int:
        """Training steps in one epoch (from the step log; 1 when there is none)."""
        b = self.batches
        if b:
            return max(1, sum(1 for r in b if r.get("epoch") == b[0].get("epoch")))
        return 1

    def n_train(self) -> int:
        """Training examples per epoch (from the summary, else from the step log)."""
        s = self.summary or {}
        if isinstance(s.get("n_train"), int):
            return s["n_train"]
        bs = self.config.get("batch_size")
        return int(self.steps_per_epoch() * (bs if isinstance(bs, int) else 1))

    def arrays(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of one ``.npz`` file of the run (e.g. :data:`INSPECT`), or
        ``None`` when the run has no such file; read without pickle."""
        path = self.path / name
        if not path.is_file():
            return None
        return read_npz(path, "run")

    def checkpoint_extra(self) -> dict[str, Any] | None:
        """The run information ``checkpoint.npz`` holds (``epoch``, ``steps``, ...),
        or ``None`` when the run has no checkpoint.

        Raises
        ------
        DamagedFile
            When the file is there but is not a checkpoint with that information.
        """
        path = self.path / CHECKPOINT
        if not path.is_file():
            return None
        try:
            files = read_npz(path, "checkpoint")
            extra = (scalar_engine_arrays(files)[1] if is_scalar_engine_file(files)
                     else json_load(files["extra"]))
        except (BackproplabError, KeyError, ValueError) as exc:
            raise DamagedFile(path, f"it is not a checkpoint with its run information ({exc})",
                              ) from None
        if not isinstance(extra, dict):
            raise DamagedFile(path, "its run information is not a JSON object")
        return extra

    def load_model(self) -> MLP:
        """The trained network (``model.npz``) as a :class:`backproplab.tensor.MLP`;
        a scalar-engine run's is the float64 sigmoid network it computes
        (:meth:`backproplab.tensor.MLP.load` reads both engines' files)."""
        path = self.path / MODEL
        if not path.is_file():
            raise BackproplabError(f"{self.path} has no {MODEL} (the run has not finished); "
                                   "finish or rerun it")
        return MLP.load(path)


def read_run_files(run_dir: str | os.PathLike) -> dict[str, bytes]:
    """Every regular file under ``run_dir``, to ship a run folder elsewhere.

    An executor whose workers write to a scratch folder uses this to ship the run
    folder back to the driver. The lock file and temporary files of interrupted
    atomic writes are left out.

    Parameters
    ----------
    run_dir : str or os.PathLike

    Returns
    -------
    dict of str to bytes
        ``relative/posix/path -> contents``, sorted by path.
    """
    root = Path(run_dir)
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not is_bookkeeping(path.name)}


def rewrite_summary(files: dict[str, bytes], run_dir: str | os.PathLike,
                    **changes: Any) -> dict[str, Any]:
    """Point the ``summary.json`` among a run's ``files`` at ``run_dir``, where they
    are about to be written (a copy, or a scratch folder's files moved home).

    Parameters
    ----------
    files : dict of str to bytes
        The run's files (:func:`read_run_files`); its ``summary.json`` is replaced.
    run_dir : str or os.PathLike
        The folder the summary's ``run_dir`` names.
    **changes
        More keys to set, e.g. ``copied_from``.

    Returns
    -------
    dict
        The new summary.

    Raises
    ------
    BackproplabError
        When ``files`` has no readable ``summary.json`` (an unfinished run).
    """
    try:
        summary = parse_json(files[SUMMARY])
    except (KeyError, ValueError):
        summary = None
    if not isinstance(summary, dict):
        raise BackproplabError(f"the run moved to {run_dir} has no readable {SUMMARY}; "
                               "rerun it")
    summary.update(run_dir=str(run_dir), **changes)
    files[SUMMARY] = (json.dumps(summary, indent=2) + "\n").encode("utf-8")
    return summary


def write_run_files(run_dir: str | os.PathLike, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` into ``run_dir``, each atomically.

    ``config.json`` is written first and ``summary.json`` last, so a reader never
    sees a summary without its run.

    Parameters
    ----------
    run_dir : str or os.PathLike
    files : dict of str to bytes
        Relative path -> contents (as :func:`read_run_files` gives them).

    Returns
    -------
    list of pathlib.Path
        The paths written, in that order.

    Raises
    ------
    BackproplabError
        When a path is absolute, empty or climbs out of ``run_dir`` with ``..``.
    """
    root = Path(run_dir)
    order = sorted(files, key=lambda n: (n != CONFIG, n == SUMMARY, n))
    written = []
    for name in order:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise BackproplabError(
                f"refusing to write {name!r} outside the run folder {root}; "
                "the executor returned a bad file name")
        written.append(atomic_write_bytes(root / rel, files[name]))
    return written


__all__ = ["RunFolder", "read_run_files", "rewrite_summary", "write_run_files"]
