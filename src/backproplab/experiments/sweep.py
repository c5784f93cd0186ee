"""Sweeps: many training runs over seeds x hyperparameters, resumable, in parallel.

A :class:`Sweep` is a base training config, a grid (option -> list of values,
any :class:`~backproplab.training.TrainConfig` field) and a list of seeds. Its
trials are the cartesian product of the grid's values, each run once per seed.
Every trial is an ordinary run folder under the sweep folder, named after what
makes it differ from the others, e.g. ``lr=0.01_batch_size=16_seed=0``.

Seeds: a trial's ``TrainConfig.seed`` is the sweep seed itself. The training
code derives the initial weights and the batch order from that seed alone, so
trials that share a seed start from the same weights and see the same batches
at every learning rate or batch size: they differ only in what the sweep varies.

:func:`run_sweep` writes ``sweep.json`` first (base config, grid, seeds, trial
names), skips trials that finished earlier (their ``summary.json`` exists and
their config matches), continues trials that left a checkpoint, runs the rest on
an :class:`~backproplab.experiments.executors.Executor`, records each trial's
outcome in its folder (``status.json``, plus ``error.txt`` with the traceback
when it failed), and finally aggregates the finished trials into
``results.json`` / ``results.csv`` (:mod:`backproplab.experiments.aggregate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.experiments.executors import (
    CHECKPOINT_FILE,
    Executor,
    Trial,
    TrialEvent,
    TrialResult,
    iter_results,
    make_executor,
    write_run_files,
)
from backproplab.fileio import atomic_write_json, atomic_write_text, read_json

SWEEP_FILE = "sweep.json"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
STATUS_FILE = "status.json"
ERROR_FILE = "error.txt"
#: Files the sweep itself writes into a trial folder.
TRIAL_RECORD_FILES = (STATUS_FILE, ERROR_FILE)
#: Files the sweep writes into the sweep folder besides the trial folders.
SWEEP_OUTPUT_FILES = (SWEEP_FILE, "results.json", "results.csv", "results_batches.csv")
#: Options that say how a run is computed, not what: they may differ between
#: machines, so they are ignored when trials are compared and grouped.
MACHINE_OPTIONS = ("threads",)
#: The version of the ``sweep.json`` layout.
SWEEP_FORMAT = 1
#: Longest trial folder name; longer names are shortened with a hash.
MAX_NAME = 150


# ---------------------------------------------------------------------------
# the sweep spec


def _config_class():
    from backproplab.training.config import TrainConfig

    return TrainConfig


def _canon(obj: Any) -> Any:
    """JSON round trip: tuples become lists, so equal configs compare equal."""
    return json.loads(json.dumps(obj, sort_keys=True))


def format_value(value: Any) -> str:
    """A value as it appears in a trial folder name (``0.01``, ``300-100``, ``true``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "-".join(format_value(v) for v in value) if value else "none"
    elif value is None:
        text = "default"
    else:
        text = str(value)
    safe = "".join(c if c.isalnum() or c in ".+-" else "-" for c in text)
    return safe or "-"


def trial_name(values: Mapping[str, Any]) -> str:
    """The folder name of a trial: ``key=value`` parts joined by ``_``, seed last."""
    name = "_".join(f"{key}={format_value(value)}" for key, value in values.items())
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(json.dumps(_canon(dict(values)), sort_keys=True).encode())
        name = f"{name[:MAX_NAME - 12]}_{digest.hexdigest()[:10]}"
    return name


class Sweep:
    """Seeds x grid of options on top of a base config.

    ``base``: a ``TrainConfig`` (or its dict). ``grid``: option name -> list of
    values; an option given with a single value simply becomes part of the base.
    ``seeds``: the seeds every grid point runs with. Every trial's config is
    validated here, so a bad value fails before anything runs.
    """

    def __init__(self, base: Any = None, grid: Mapping[str, Sequence[Any]] | None = None,
                 seeds: Sequence[int] = (0,)):
        TrainConfig = _config_class()
        if base is None:
            base = TrainConfig()
        base_dict = base.to_dict() if hasattr(base, "to_dict") else dict(base)
        base_dict = TrainConfig.from_dict(base_dict).to_dict()  # validates, fills defaults
        fields = [f.name for f in dataclasses.fields(TrainConfig)]

        self.seeds = _check_seeds(seeds)
        clean_grid: dict[str, list[Any]] = {}
        for key, values in (grid or {}).items():
            if key == "seed":
                raise BackproplabError(
                    "the seed is not a grid option; give the seeds with --seeds N or --seed-list")
            if key not in fields:
                raise BackproplabError(
                    f"unknown sweep option {key!r}; choose among {', '.join(fields)}")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise BackproplabError(
                    f"the sweep values of {key} must be a list, got {values!r}")
            if not values:
                raise BackproplabError(f"the sweep option {key} has no values; give at least one")
            canon_values = []
            for value in values:
                try:
                    cfg = TrainConfig.from_dict({**base_dict, key: _as_config_value(key, value)})
                except TypeError as exc:  # pragma: no cover - from_dict names bad keys first
                    raise BackproplabError(f"bad value {value!r} for {key}: {exc}") from None
                canon_values.append(cfg.to_dict()[key])
            dupes = [v for i, v in enumerate(canon_values) if v in canon_values[:i]]
            if dupes:
                raise BackproplabError(
                    f"the sweep option {key} lists {format_value(dupes[0])} twice; "
                    "give each value once")
            if len(canon_values) == 1:
                base_dict[key] = canon_values[0]
            else:
                clean_grid[key] = canon_values
        base_dict["seed"] = self.seeds[0]
        self.base = TrainConfig.from_dict(base_dict).to_dict()
        self.grid = clean_grid
        self._points = self._make_points()

    # -- trials ------------------------------------------------------------

    def _make_points(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """``(name, values, config)`` for every trial, validated, names unique."""
        TrainConfig = _config_class()
        keys = list(self.grid)
        points = []
        names: dict[str, dict[str, Any]] = {}
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            for seed in self.seeds:
                values = dict(zip(keys, combo))
                values["seed"] = seed
                name = trial_name(values)
                if name in names:
                    raise BackproplabError(
                        f"two trials would share the folder name {name!r} "
                        f"({names[name]} and {values}); give values that differ visibly")
                names[name] = values
                merged = {**self.base, **values}
                try:
                    config = TrainConfig.from_dict(merged).to_dict()
                except BackproplabError as exc:
                    raise BackproplabError(f"trial {name} is invalid: {exc}") from None
                points.append((name, values, config))
        return points

    def __len__(self) -> int:
        return len(self._points)

    def trial_names(self) -> list[str]:
        """The trial folder names, in run order."""
        return [name for name, _, _ in self._points]

    def trials(self, out_dir: str | Path) -> list[Trial]:
        """The trials, with their folders under ``out_dir``."""
        root = Path(out_dir).resolve()
        return [Trial(name=name, config=dict(config), values=dict(values),
                      out_dir=str(root / name), index=i)
                for i, (name, values, config) in enumerate(self._points)]

    # -- (de)serialization ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The ``sweep.json`` description: base config, grid, seeds, trials."""
        base = dict(self.base)
        base.pop("seed", None)  # every trial sets its own
        return {
            "format": SWEEP_FORMAT,
            "kind": "backproplab-sweep",
            "base": base,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": list(self.seeds),
            "trials": [{"name": name, "values": values} for name, values, _ in self._points],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sweep:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or data.get("kind") != "backproplab-sweep":
            raise BackproplabError("this is not a backproplab sweep description (sweep.json)")
        base = dict(data["base"])
        base.setdefault("seed", 0)
        return cls(base, data.get("grid", {}), data.get("seeds", [0]))

    def same_as(self, other: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether a stored ``sweep.json`` describes the same trials; else why not."""
        mine = self.to_dict()
        theirs_base = {k: v for k, v in dict(other.get("base", {})).items()
                       if k not in MACHINE_OPTIONS}
        my_base = {k: v for k, v in mine["base"].items() if k not in MACHINE_OPTIONS}
        try:  # older files may lack newer options: fill in their defaults
            theirs_base = _config_class().from_dict({**theirs_base, "seed": 0}).to_dict()
            theirs_base.pop("seed")
            for key in MACHINE_OPTIONS:
                theirs_base.pop(key, None)
        except BackproplabError:
            pass
        if _canon(theirs_base) != _canon(my_base):
            diff = sorted(k for k in set(my_base) | set(theirs_base)
                          if _canon(my_base.get(k)) != _canon(theirs_base.get(k)))
            return False, f"its base config differs in {', '.join(diff) or 'its layout'}"

        def trial_set(trials: Iterable[Mapping[str, Any]]) -> set[str]:
            return {json.dumps(_canon([t["name"], t["values"]]), sort_keys=True)
                    for t in trials}

        if trial_set(mine["trials"]) != trial_set(other.get("trials", [])):
            return False, "its grid or seeds differ"
        return True, ""


def _as_config_value(key: str, value: Any) -> Any:
    if key == "hidden" and isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        raise BackproplabError(
            f"seeds must be a list of integers; for {seeds} seeds use range({seeds})")
    seeds = list(seeds)
    if not seeds:
        raise BackproplabError("a sweep needs at least one seed; use --seeds 1 or more")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise BackproplabError(f"seeds must be integers >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise BackproplabError("the seed list repeats a seed; give each seed once")
    return seeds


# ---------------------------------------------------------------------------
# the sweep folder


def _comparable(config: Mapping[str, Any]) -> str | None:
    """A canonical string of a config with defaults resolved and machine options
    dropped, or ``None`` if it is not a valid config."""
    try:
        resolved = _config_class().from_dict(dict(config)).resolved().to_dict()
    except (BackproplabError, TypeError, ValueError):
        return None
    for key in MACHINE_OPTIONS:
        resolved.pop(key, None)
    return json.dumps(_canon(resolved), sort_keys=True)


def configs_match(stored: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether a run folder's ``config.json`` is the run ``wanted`` describes."""
    if not isinstance(stored, Mapping):
        return False
    a = _comparable(stored)
    return a is not None and a == _comparable(wanted)


def prepare_sweep_dir(sweep: Sweep, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Check ``out_dir`` against ``sweep`` and write ``sweep.json`` (atomically).

    A folder that holds other files (no ``sweep.json``) is always an error; one
    that holds a different sweep is an error unless ``overwrite``, and then the
    earlier sweep's outputs and trial folders (those its ``sweep.json`` lists, and
    those this sweep will use) are removed first.
    """
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise BackproplabError(f"--out {root} is a file; give a folder for the sweep")
    old = read_json(root / SWEEP_FILE) if root.is_dir() else None
    if root.is_dir() and any(root.iterdir()):
        if old is None:
            # --overwrite replaces a sweep, never a folder of other files (as reproduce)
            raise BackproplabError(
                f"{root} is not empty and holds no sweep (no {SWEEP_FILE}); choose a new "
                "--out folder")
        if old is not None and not overwrite:
            same, why = sweep.same_as(old) if isinstance(old, dict) else (False, "unreadable")
            if not same:
                raise BackproplabError(
                    f"{root} holds a different sweep ({why}); pass --overwrite to replace "
                    "it or choose another --out")
        if overwrite:
            names = set(sweep.trial_names())
            if isinstance(old, dict):
                names |= {t.get("name") for t in old.get("trials", []) if isinstance(t, dict)}
            for name in sorted(n for n in names if isinstance(n, str) and n):
                target = root / name
                if target.parent == root and target.is_dir():
                    shutil.rmtree(target)
            for name in SWEEP_OUTPUT_FILES:
                (root / name).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / SWEEP_FILE, sweep.to_dict())
    return root


def plan_trials(trials: Sequence[Trial]) -> tuple[list[Trial], list[TrialResult]]:
    """Split trials into those to run and those finished earlier.

    A trial folder with ``summary.json`` and a matching config is finished
    (a ``"skipped"`` result); one with a checkpoint is continued
    (``resume=True``); one holding a run with another config is an error.
    """
    to_run: list[Trial] = []
    finished: list[TrialResult] = []
    for trial in trials:
        folder = Path(trial.out_dir)
        if not folder.exists():
            to_run.append(trial)
            continue
        stored = read_json(folder / CONFIG_FILE)
        if stored is None:
            extra = [p.name for p in folder.iterdir() if p.name not in TRIAL_RECORD_FILES]
            if extra and (folder / CONFIG_FILE).exists():
                raise BackproplabError(
                    f"the trial folder {folder} has an unreadable {CONFIG_FILE}; pass "
                    "--overwrite to run the sweep again from scratch")
            if any(not n.startswith(".") for n in extra):
                raise BackproplabError(
                    f"the trial folder {folder} holds files that are not this sweep's; "
                    "move them away or pass --overwrite")
            to_run.append(trial)
            continue
        if not configs_match(stored, trial.config):
            raise BackproplabError(
                f"the trial folder {folder} holds a run with a different config; pass "
                "--overwrite to run the sweep again from scratch")
        summary = read_json(folder / SUMMARY_FILE)
        if isinstance(summary, dict):
            status = read_json(folder / STATUS_FILE) or {}
            finished.append(TrialResult(trial.name, "skipped", summary=summary,
                                        seconds=float(status.get("seconds") or 0.0)))
        elif (folder / CHECKPOINT_FILE).is_file():
            to_run.append(dataclasses.replace(trial, resume=True))
        else:
            to_run.append(trial)
    return to_run, finished


def record_result(trial: Trial, result: TrialResult) -> None:
    """Write what came back into the trial folder: the run's files if the
    executor shipped them, ``status.json``, and ``error.txt`` on failure."""
    folder = Path(trial.out_dir)
    if result.files:
        write_run_files(folder, result.files)
        result.files = None  # written; do not keep the bytes around
        if result.summary is not None:
            result.summary["run_dir"] = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = result.to_dict()
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if result.status == "failed":
        atomic_write_text(folder / ERROR_FILE,
                          (result.traceback or result.error or "unknown error") + "\n")
    else:
        (folder / ERROR_FILE).unlink(missing_ok=True)
    atomic_write_json(folder / STATUS_FILE, record)


# ---------------------------------------------------------------------------
# running


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    out_dir: Path
    results: list[TrialResult]           #: one per trial, in trial order
    results_path: Path | None = None     #: ``results.json`` (None if not aggregated)
    aggregate: dict[str, Any] | None = field(default=None, repr=False)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many trials ended with ``status`` ("ok", "failed", "skipped")."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[TrialResult]:
        """The failed trials' results."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when no trial failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` line of ``backproplab sweep``."""
        return {
            "sweep_dir": str(self.out_dir),
            "trials": len(self.results),
            "ok": self.count("ok"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "failed_trials": [r.name for r in self.failed],
            "results": str(self.results_path) if self.results_path else None,
            "seconds": round(self.seconds, 3),
        }


def ensure_datasets(base: dict, grid: dict) -> None:
    """Find (or download, once, in this process) every image dataset the trials use.

    Done before anything is written, so a missing dataset is one clear error
    instead of one failure per trial, and worker processes never race to download
    the same files.
    """
    names = grid.get("dataset") or [base.get("dataset", "synth")]
    data_dirs = grid.get("data_dir") or [base.get("data_dir")]
    for name in dict.fromkeys(names):
        if name == "synth":
            continue
        from backproplab.data.mnist import find_dataset

        for data_dir in dict.fromkeys(data_dirs):
            find_dataset(name, data_dir=data_dir, download=True)


def run_sweep(sweep: Sweep, out_dir: str | Path, *, executor: Executor | None = None,
              workers: int | None = None, overwrite: bool = False, progress: str = "auto",
              aggregate: bool = True, console: Any = None) -> SweepOutcome:
    """Run every trial of ``sweep`` under ``out_dir`` and aggregate the results.

    ``executor``: where trials run (default: a :class:`LocalExecutor` with
    ``workers`` processes). ``progress``: ``"auto"`` (a live bar on a
    terminal, plain lines otherwise), ``"rich"``, ``"plain"`` or ``"quiet"``.
    A failing trial does not stop the others; check :attr:`SweepOutcome.ok`.
    """
    start = time.perf_counter()
    own_executor = executor is None
    if executor is None:
        executor = make_executor("local", workers)
    try:
        ensure_datasets(sweep.base, sweep.grid)
        root = prepare_sweep_dir(sweep, out_dir, overwrite=overwrite)
        trials = sweep.trials(root)  # the executor sets the BLAS threads of each
        to_run, finished = plan_trials(trials)
        by_name = {t.name: t for t in trials}
        results: dict[str, TrialResult] = {r.name: r for r in finished}
        display = SweepProgress(len(trials), len(finished), executor.workers, progress,
                                console=console, out_dir=root)
        # closing(): an interrupt stops the executor's workers at once
        with display, contextlib.closing(
                iter_results(executor, to_run, display.on_event)) as stream:
            display.note_plan(to_run, finished)
            for result in stream:
                record_result(by_name[result.name], result)
                results[result.name] = result
                display.finished(result)
    finally:
        if own_executor:
            executor.close()
    outcome = SweepOutcome(root, [results[t.name] for t in trials])
    if aggregate:
        from backproplab.experiments.aggregate import aggregate_sweep

        outcome.aggregate = aggregate_sweep(root, write=True)
        outcome.results_path = root / "results.json"
    outcome.seconds = time.perf_counter() - start
    return outcome


# ---------------------------------------------------------------------------
# progress


class SweepProgress:
    """Trials done / running / failed and time left: a rich bar on a terminal,
    one plain line per finished trial otherwise, nothing with ``"quiet"``."""

    def __init__(self, total: int, done_before: int, workers: int, mode: str = "auto",
                 console: Any = None, out_dir: Path | None = None):
        if mode not in ("auto", "rich", "plain", "quiet"):
            raise BackproplabError(
                f"unknown progress mode {mode!r}; choose auto, rich, plain or quiet")
        if mode == "auto":
            mode = "rich" if sys.stdout.isatty() else "plain"
        self.mode, self.total, self.workers, self.out_dir = mode, total, workers, out_dir
        self.done = done_before
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

            self._console = self._console or Console()
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
            print(text, flush=True)

    def _refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done,
                                  running=len(self.running), failed=self.failed)

    def note_plan(self, to_run: Sequence[Trial], finished: Sequence[TrialResult]) -> None:
        """Say what will run."""
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


__all__ = [
    "SWEEP_FILE", "Sweep", "SweepOutcome", "SweepProgress", "configs_match", "format_value",
    "plan_trials", "prepare_sweep_dir", "record_result", "run_sweep", "trial_name",
]
