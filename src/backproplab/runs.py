"""The run folder and the sweep folder: every file name, and the one reader.

A *run folder* is what one training run writes (``backproplab train --out``, or
one trial of a sweep); a *sweep folder* holds a sweep's trial folders and its
aggregated results. The names of all their files are defined here and nowhere
else. :class:`RunFolder` is the one way to read a run folder: figures,
aggregation, plots, the report, sweeps and executors all use it. Readers never
write; the training code (:mod:`backproplab.training.run`) writes, every file
atomically (:mod:`backproplab.fileio`), so a reader never sees half a file.

Layout of a run folder::

    config.json      the resolved TrainConfig (written first)
    metrics.jsonl    one line per epoch
    batches.jsonl    one line per training step (epoch, step, loss)
    checkpoint.npz   model + optimizer + history after the last finished epoch
    best.npz         early stopping's best weights (with --restore-best)
    model.npz        the trained model (written at the end)
    summary.json     final metrics (written last: its presence means "finished")
    loss.png         the run's loss plot
    inspect.npz      with --inspect: snapshots at init and after every epoch
                     (training/snapshots.py)
    inspect_*.png    the inspection figures, and inspect_boundary.gif (backproplab plot)
    tensorboard/     with --tensorboard: TensorBoard event files, written as the run goes
                     (training/board.py)
    status.json      a sweep's record of the trial (ok / failed, seconds)
    error.txt        a failed trial's traceback
    .lock            held (``flock``) by the one process writing the folder

A run folder, a sweep folder and a reproduce folder each have one writer at a
time: :func:`backproplab.locks.lock_folder` takes an OS lock on the folder's
``.lock`` file (:data:`LOCK`); readers never take it and ignore the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes, read_json, read_jsonl
from backproplab.tensor import MLP

# --- a run folder -----------------------------------------------------------
CONFIG = "config.json"
METRICS = "metrics.jsonl"
BATCHES = "batches.jsonl"
CHECKPOINT = "checkpoint.npz"
MODEL = "model.npz"
SUMMARY = "summary.json"
PLOT = "loss.png"
BEST = "best.npz"
INSPECT = "inspect.npz"
# --- the inspection figures (backproplab.inspect; backproplab plot) ------------
EXAMPLES_FIGURE = "inspect_examples.png"
ERRORS_FIGURE = "inspect_errors.png"
WEIGHTS_FIGURE = "inspect_weights.png"
ACTIVATIONS_FIGURE = "inspect_activations.png"
CONFUSION_FIGURE = "inspect_confusion.png"
BOUNDARY_FIGURE = "inspect_boundary.png"
BOUNDARY_ANIMATION = "inspect_boundary.gif"
#: The inspection figures ``backproplab plot`` may write into a run folder.
INSPECT_FIGURES = (EXAMPLES_FIGURE, ERRORS_FIGURE, WEIGHTS_FIGURE, ACTIVATIONS_FIGURE,
                   CONFUSION_FIGURE, BOUNDARY_FIGURE, BOUNDARY_ANIMATION)
#: The files of a run (its training and its plots); ``overwrite=True`` removes exactly these.
RUN_FILES = (CONFIG, METRICS, BATCHES, CHECKPOINT, MODEL, SUMMARY, PLOT, BEST, INSPECT,
             *INSPECT_FIGURES)
#: The folder of a run's TensorBoard event files (``tensorboard=True``).
TENSORBOARD = "tensorboard"
#: The folders of a run; ``overwrite=True`` removes them with the files.
RUN_FOLDERS = (TENSORBOARD,)
# --- what a sweep adds to a trial's run folder --------------------------------
STATUS = "status.json"
ERROR = "error.txt"
#: Files the sweep itself writes into a trial folder.
TRIAL_RECORD_FILES = (STATUS, ERROR)
# --- a sweep folder -----------------------------------------------------------
SWEEP = "sweep.json"
RESULTS = "results.json"
RESULTS_CSV = "results.csv"
RESULTS_BATCHES_CSV = "results_batches.csv"
#: The sweep's figure (``backproplab plot SWEEP_DIR``).
SWEEP_FIGURE = "sweep.png"
#: Where ``backproplab compare`` writes its figure unless told (in the current folder).
COMPARE_FIGURE = "compare.png"
#: Files a sweep writes into the sweep folder besides the trial folders.
SWEEP_OUTPUT_FILES = (SWEEP, RESULTS, RESULTS_CSV, RESULTS_BATCHES_CSV, SWEEP_FIGURE)


#: The lock file of a folder being written (see :func:`lock_folder`); readers skip it.
LOCK = ".lock"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of an atomic write (see fileio)."""
    return name.startswith(".") and name.endswith(".tmp")


def is_bookkeeping(name: str) -> bool:
    """Whether ``name`` is the lock file or a temporary file: nothing a reader
    reads, nothing that makes a folder "hold" something."""
    return name == LOCK or is_temporary(name)


def check_out_folder(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path`, refused when it is empty, the root
    folder or the home folder (a run or sweep there would mix with everything else).

    Raises
    ------
    BackproplabError
        Naming the folder and asking for a folder of its own (``out_dir``).
    """
    if not str(path).strip():
        raise BackproplabError("out_dir is empty; give a folder of its own for the results",
                               settings=("out_dir",))
    folder = Path(path).expanduser()
    resolved = folder.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise BackproplabError(
            f"out_dir {str(path)!r} is the {'root' if resolved == Path(resolved.anchor) else 'home'}"
            " folder; give a folder of its own for the results, e.g. runs/NAME",
            settings=("out_dir",))
    return folder


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _as_float(v: Any) -> float:
    return float(v) if _finite(v) else math.nan


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
        whole-number epoch), naming the file and the fix.

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

    def _records(self, name: str) -> list[dict]:
        """The lines of a JSON Lines file of the run; every one must be an
        object with a whole-number ``epoch``."""
        path = self.path / name
        if not path.is_file():
            return []
        rows = read_jsonl(path)
        for i, row in enumerate(rows, 1):
            epoch = row.get("epoch") if isinstance(row, dict) else None
            if not _finite(epoch) or epoch != int(epoch):
                raise BackproplabError(
                    f"{path} is damaged: line {i} is not a record with a whole-number epoch; "
                    "restore the file or rerun the run")
        return rows

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
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise BackproplabError(f"{path} is not a readable .npz file ({exc}); delete it "
                                   "or rerun the run") from None

    def load_model(self) -> MLP:
        """The trained network as a :class:`backproplab.tensor.MLP`.

        The tensor engine's ``model.npz`` is read with ``MLP.load``; the scalar
        engine's (arrays ``W1, b1, ...``) is copied into a float64 tensor ``MLP``
        of the same sizes (sigmoid hidden layers, as the scalar engine computes).
        """
        path = self.path / MODEL
        if not path.is_file():
            raise BackproplabError(f"{self.path} has no {MODEL} (the run has not finished); "
                                   "finish or rerun it")
        if self.config.get("engine") != "scalar":
            return MLP.load(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                params = {k: np.asarray(z[k], dtype=np.float64) for k in z.files
                          if k[:1] in "Wb" and k[1:].isdigit()}
        except (OSError, ValueError) as exc:
            raise BackproplabError(f"{path} is not a readable model file ({exc}); "
                                   "rerun the run") from None
        n = len(params) // 2
        sizes = [params["W1"].shape[0]] + [params[f"W{i}"].shape[1] for i in range(1, n + 1)]
        model = MLP(sizes, activation="sigmoid", dtype="float64", seed=0)
        model.set_params(params)
        return model


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep's grid and its trial folders, one per seed.

    Parameters
    ----------
    values : dict of str to object
        The swept settings' values at this point (the seed excluded), as stored.
    seeds : tuple
        The seed of every trial of the point (``None`` where unknown).
    trials : tuple of RunFolder
        The trial folders, in the order of ``seeds``.
    """

    values: dict[str, Any]
    seeds: tuple[Any, ...]
    trials: tuple[RunFolder, ...]

    def by_seed(self) -> dict[Any, RunFolder]:
        """Seed -> trial folder."""
        return dict(zip(self.seeds, self.trials))

    @property
    def finished(self) -> bool:
        """Whether every trial of the point has finished (has its ``summary.json``)."""
        return all(t.finished for t in self.trials)


class SweepFolder:
    """One sweep folder as read from disk: its ``sweep.json`` and trial folders.

    The trials are those ``sweep.json`` lists, in run order; a folder without a
    readable ``sweep.json`` counts every sub-folder with a ``config.json``, in
    name order, and takes the settings and values from the trials' configs.

    Parameters
    ----------
    path : str or os.PathLike
        The sweep folder (``backproplab sweep --out``).

    Examples
    --------
    >>> sweep = SweepFolder("runs/lr-sweep")                    # doctest: +SKIP
    >>> sweep.settings()                                         # doctest: +SKIP
    {'lr': [0.03, 0.1]}
    >>> [(p.values, p.seeds) for p in sweep.groups()]            # doctest: +SKIP
    [({'lr': 0.03}, (0, 1)), ({'lr': 0.1}, (0, 1))]
    >>> [t.name for t in sweep.trials if not t.finished]         # doctest: +SKIP
    []
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SweepFolder({str(self.path)!r})"

    def check(self) -> SweepFolder:
        """The folder itself, refused when it is missing or a file.

        Raises
        ------
        BackproplabError
            Naming the path and asking for a sweep's ``out_dir``.
        """
        if self.path.exists() and not self.path.is_dir():
            raise BackproplabError(f"{self.path} is a file, not a sweep folder; check --out")
        if not self.path.is_dir():
            raise BackproplabError(f"sweep folder {self.path} does not exist; check --out")
        return self

    @cached_property
    def description(self) -> dict[str, Any] | None:
        """``sweep.json`` as stored (base config, grid, seeds, trials), or ``None``
        when it is missing or not a JSON object."""
        data = read_json(self.path / SWEEP)
        return data if isinstance(data, dict) else None

    @property
    def listed(self) -> bool:
        """Whether ``sweep.json`` lists the trials (else they are found by folder)."""
        return isinstance((self.description or {}).get("trials"), list)

    @cached_property
    def _listed_values(self) -> dict[str, dict[str, Any]]:
        """Trial name -> its values (settings and seed) as ``sweep.json`` lists them."""
        if not self.listed:
            return {}
        return {t["name"]: dict(t.get("values") or {}) for t in self.description["trials"]
                if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]}

    def trial_names(self) -> list[str]:
        """The trial folder names, in run order."""
        if self.listed:
            return list(self._listed_values)
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir()
                      if p.is_dir() and (p / CONFIG).is_file())

    @cached_property
    def trials(self) -> list[RunFolder]:
        """Every trial's folder, in run order (started or not, readable or not)."""
        return [RunFolder(self.path / name) for name in self.trial_names()]

    def settings(self, ignore: Collection[str] = ()) -> dict[str, list[Any]]:
        """The swept settings and their values, in grid order.

        Parameters
        ----------
        ignore : collection of str
            Settings left out (the seed always is), e.g. the options that say how
            a run is computed, not what.

        Returns
        -------
        dict of str to list
            ``sweep.json``'s grid; without one, every config key whose value
            differs between the readable trials, values in trial order.
        """
        skip = {"seed", *ignore}
        grid = (self.description or {}).get("grid")
        if self.listed and isinstance(grid, dict):
            return {k: list(v) for k, v in grid.items() if k not in skip}
        configs = [t.config for t in self.trials if t.is_run()]
        found: dict[str, list[Any]] = {}
        for config in configs:
            for key, value in config.items():
                if key not in skip and value not in found.setdefault(key, []):
                    found[key].append(value)
        return {k: v for k, v in found.items() if len(v) > 1}

    def values(self, trial: RunFolder | str, settings: Collection[str]) -> dict[str, Any]:
        """The values of ``settings`` and the seed of one trial: as ``sweep.json``
        lists them, else from its config (``{}`` when it has no readable one)."""
        name = trial if isinstance(trial, str) else trial.name
        if self.listed:
            stored = self._listed_values.get(name, {})
        else:
            run = RunFolder(self.path / name)
            stored = run.config if run.is_run() else {}
        if not stored:
            return {}
        return {**{k: stored.get(k) for k in settings}, "seed": stored.get("seed")}

    def groups(self, ignore: Collection[str] = ()) -> list[GridPoint]:
        """The grid points (trials that differ only in their seed), in run order.

        Parameters
        ----------
        ignore : collection of str
            As for :meth:`settings`.
        """
        keys = list(self.settings(ignore))
        points: dict[str, tuple[dict, list, list]] = {}
        for run in self.trials:
            values = self.values(run, keys)
            seed = values.pop("seed", None)
            values = {k: values.get(k) for k in keys}
            entry = points.setdefault(json.dumps(values, sort_keys=True), (values, [], []))
            entry[1].append(seed)
            entry[2].append(run)
        return [GridPoint(v, tuple(s), tuple(t)) for v, s, t in points.values()]

    @property
    def finished(self) -> bool:
        """Whether every trial has finished (has its ``summary.json``)."""
        return all(t.finished for t in self.trials)


def open_folder(path: str | os.PathLike) -> RunFolder | SweepFolder:
    """The run or the sweep that ``path`` holds, for commands that take either.

    Parameters
    ----------
    path : str or os.PathLike
        A run folder (it has a readable ``config.json``) or a sweep folder (a
        ``sweep.json`` listing trials, or trial folders).

    Returns
    -------
    RunFolder or SweepFolder

    Raises
    ------
    BackproplabError
        When ``path`` is missing, a file, or a folder that holds neither (or a run
        whose ``config.json`` is damaged).
    """
    folder = Path(path)
    fix = "give the folder of a training run or of a sweep"
    if not folder.exists():
        raise BackproplabError(f"{folder} does not exist; {fix}")
    if not folder.is_dir():
        raise BackproplabError(f"{folder} is a file, not a folder; {fix}")
    run = RunFolder(folder)
    if run.is_run():
        return run
    sweep = SweepFolder(folder)
    if sweep.trials:
        return sweep
    if run.file(CONFIG).exists():
        raise BackproplabError(f"{run.file(CONFIG)} is damaged (not a JSON object), so {folder} "
                               "is not a readable run; restore the file or rerun the run")
    raise BackproplabError(f"{folder} holds no run ({CONFIG}) and no sweep ({SWEEP} or trial "
                           f"folders); {fix}")


def read_run_files(run_dir: str | os.PathLike) -> dict[str, bytes]:
    """Every regular file under ``run_dir`` as ``relative/posix/path -> bytes``
    (the lock file and temporary files of interrupted atomic writes are left out).

    An executor whose workers write to a scratch folder uses this to ship the
    run folder back to the driver.
    """
    root = Path(run_dir)
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not is_bookkeeping(path.name)}


def write_run_files(run_dir: str | os.PathLike, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` (relative path -> bytes) into ``run_dir``, each atomically.

    Paths must stay inside ``run_dir``; ``config.json`` is written first and
    ``summary.json`` last, so a reader never sees a summary without its run.
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


__all__ = [
    "ACTIVATIONS_FIGURE",
    "BATCHES",
    "BEST",
    "BOUNDARY_ANIMATION",
    "BOUNDARY_FIGURE",
    "CHECKPOINT",
    "COMPARE_FIGURE",
    "CONFIG",
    "CONFUSION_FIGURE",
    "ERROR",
    "ERRORS_FIGURE",
    "EXAMPLES_FIGURE",
    "INSPECT",
    "INSPECT_FIGURES",
    "LOCK",
    "METRICS",
    "MODEL",
    "PLOT",
    "RESULTS",
    "RESULTS_BATCHES_CSV",
    "RESULTS_CSV",
    "RUN_FILES",
    "RUN_FOLDERS",
    "STATUS",
    "SUMMARY",
    "SWEEP",
    "SWEEP_FIGURE",
    "SWEEP_OUTPUT_FILES",
    "TENSORBOARD",
    "TRIAL_RECORD_FILES",
    "WEIGHTS_FIGURE",
    "GridPoint",
    "RunFolder",
    "SweepFolder",
    "check_out_folder",
    "is_bookkeeping",
    "is_temporary",
    "open_folder",
    "read_run_files",
    "write_run_files",
]
