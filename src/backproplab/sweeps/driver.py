"""The one sweep driver: runs trials on an executor and records what came back.

Both ``backproplab sweep`` (:func:`run_sweep`, one grid) and the study's
``reproduce`` (many presets' grids as one list) run their trials through
:func:`run_trials`: trials that finished earlier are skipped, interrupted ones
resume from their checkpoints, trials with identical configurations (machine
options aside) train once and are copied, and each trial's outcome is recorded
in its folder (``status.json``, plus ``error.txt`` with the traceback when it
failed). :func:`run_sweep` then aggregates the finished trials into
``results.json`` / ``results.csv`` (:mod:`backproplab.sweeps.aggregate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backproplab.data.files import is_file_dataset
from backproplab.data.mnist import find_dataset
from backproplab.data.sources import read_source
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json, atomic_write_text, remove_entry
from backproplab.locks import lock_folder
from backproplab.runs import (
    CHECKPOINT,
    CONFIG,
    ERROR,
    LOCK,
    RESULTS,
    STATUS,
    TRIAL_RECORD_FILES,
    DamagedFile,
    RunFolder,
    is_bookkeeping,
    read_run_files,
    rewrite_summary,
    write_run_files,
)
from backproplab.sweeps.aggregate import aggregate_sweep
from backproplab.sweeps.executors import EXECUTORS, LocalExecutor, config_key, configs_match
from backproplab.sweeps.progress import SweepProgress
from backproplab.sweeps.ray_executor import RayExecutor, data_key
from backproplab.sweeps.spec import Sweep, check_sweep_dir, prepare_sweep_dir
from backproplab.sweeps.stats import check_test
from backproplab.sweeps.trials import Executor, Trial, TrialResult, iter_results
from backproplab.tensor import blas as gemms
from backproplab.tensor import get_array_module, kernels
from backproplab.tensor.memory import available_memory
from backproplab.training import TrainConfig, board, load_run_dataset
from backproplab.training.data_identity import DATA_KEY, check_same_data, data_fingerprint

# ---------------------------------------------------------------------------
# the trial folders


def plan_trials(trials: Sequence[Trial]) -> tuple[list[Trial], list[TrialResult]]:
    """Split trials into those to run and those finished earlier.

    A trial folder with ``summary.json`` and a matching config is finished
    (a ``"skipped"`` result); one with a checkpoint is continued
    (``resume=True``); a missing, empty or half-written one starts afresh.

    Parameters
    ----------
    trials : sequence of Trial
        The sweep's trials, their folders named by ``out_dir``.

    Returns
    -------
    tuple
        ``(to_run, finished)``: the trials to run (in the given order) and a
        ``"skipped"`` :class:`TrialResult` for each finished one.

    Raises
    ------
    BackproplabError
        If a trial folder holds a run with another config, an unreadable
        ``config.json`` or files that are not this sweep's.
    """
    to_run: list[Trial] = []
    finished: list[TrialResult] = []
    for trial in trials:
        run = RunFolder(trial.out_dir)
        if not run.path.exists():
            to_run.append(trial)
            continue
        if not run.is_run():
            extra = [p.name for p in run.path.iterdir() if p.name not in TRIAL_RECORD_FILES]
            if extra and run.file(CONFIG).exists():
                raise BackproplabError(
                    f"the trial folder {run.path} has an unreadable {CONFIG}; pass "
                    "--overwrite to run the sweep again from scratch")
            if any(not is_bookkeeping(n) for n in extra):
                raise BackproplabError(
                    f"the trial folder {run.path} holds files that are not this sweep's; "
                    "move them away or pass --overwrite")
            to_run.append(trial)
            continue
        if not configs_match(run.config, trial.config):
            raise BackproplabError(
                f"the trial folder {run.path} holds a run with a different config; pass "
                "--overwrite to run the sweep again from scratch")
        if run.finished:
            finished.append(TrialResult(trial.name, "skipped", summary=run.summary,
                                        seconds=float((run.status or {}).get("seconds") or 0.0)))
        elif run.file(CHECKPOINT).is_file():
            to_run.append(dataclasses.replace(trial, resume=True))
        else:
            to_run.append(trial)
    return to_run, finished


def _record_result(trial: Trial, result: TrialResult) -> None:
    """Write what came back into the trial folder: the run's files if the
    executor shipped them, ``status.json``, and ``error.txt`` on failure."""
    folder = Path(trial.out_dir)
    with lock_folder(folder, "trial"):  # never written without the trial's lock
        if result.files:
            write_run_files(folder, result.files)
            result.files = None  # written; do not keep the bytes around
            if result.summary is not None:
                result.summary["run_dir"] = str(folder)
        record = result.to_dict()
        record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if result.status == "failed":
            atomic_write_text(folder / ERROR,
                              (result.traceback or result.error or "unknown error") + "\n")
        else:
            (folder / ERROR).unlink(missing_ok=True)
        atomic_write_json(folder / STATUS, record)


def recorded_data(trial: Trial) -> str | None:
    """The data fingerprint a trial's recorded run was trained on: its
    ``summary.json``'s when it finished, else its checkpoint's.

    Parameters
    ----------
    trial : Trial
        The trial; its folder is read, never written.

    Returns
    -------
    str or None
        The fingerprint (``data_sha256``), or ``None`` when the folder holds no
        run of this trial with one (not started, another config, a damaged
        checkpoint: :func:`plan_trials` and the run itself deal with those).
    """
    run = RunFolder(trial.out_dir)
    if not run.is_run() or not configs_match(run.config, trial.config):
        return None
    try:
        recorded = (run.summary or run.checkpoint_extra() or {}).get(DATA_KEY)
    except DamagedFile:
        return None
    return recorded if isinstance(recorded, str) else None


def check_recorded_data(trials: Sequence[Trial], fingerprints: dict | None = None, *,
                        where: str = "this sweep") -> None:
    """Refuse trials whose recorded runs (finished, or interrupted with a
    checkpoint) were trained on other data than their data options load now.

    The data of each set of data options (:func:`~backproplab.sweeps.ray_executor.data_key`)
    is loaded and fingerprinted once, and only when a trial of it has a run
    recorded; nothing is written.

    Parameters
    ----------
    trials : sequence of Trial
        The sweep's trials (``reproduce``: every preset's, named ``PRESET/TRIAL``).
    fingerprints : dict or None, default None
        Data key -> fingerprint of the data now; used and extended, so that a
        second call (the check under the sweep's lock) loads nothing again.
    where : str, default "this sweep"
        What the trials belong to, for the message (``"this reproduction"``).

    Raises
    ------
    BackproplabError
        From :func:`~backproplab.training.data_identity.check_same_data`, for
        the first trial whose data differs: naming both fingerprints and
        ``allow_changed_data``.
    """
    fingerprints = {} if fingerprints is None else fingerprints
    for trial in trials:
        recorded = recorded_data(trial)
        if recorded is None:
            continue
        key = data_key(trial.config)
        if key not in fingerprints:
            config = TrainConfig.from_dict(dict(trial.config))
            fingerprints[key] = data_fingerprint(load_run_dataset(config, download=False))
        check_same_data(recorded, fingerprints[key],
                        f"the trial {trial.name} of {where}", allow=False)


# ---------------------------------------------------------------------------
# what a sweep did


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : pathlib.Path
        The sweep folder.
    results : list of TrialResult
        One per trial, in trial order.
    results_path : pathlib.Path or None, default None
        ``results.json``, or ``None`` when the sweep was not aggregated.
    aggregate : dict or None, default None
        The aggregate written there.
    seconds : float, default 0.0
        The sweep's wall time.
    """

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


def _ensure_datasets(base: dict, grid: dict) -> None:
    """Find (or download, once, in this process) every image dataset the trials use,
    and read every user's file once (each bad input is one sentence).

    Done before anything is written, so a missing dataset is one clear error
    instead of one failure per trial, and worker processes never race to download
    the same files.
    """
    names = grid.get("dataset") or [base.get("dataset", "synth")]
    data_dirs = grid.get("data_dir") or [base.get("data_dir")]
    available = available_memory()
    for name in dict.fromkeys(names):
        if name == "synth":
            continue
        if is_file_dataset(name):
            for target in dict.fromkeys(grid.get("target") or [base.get("target")]):
                read_source(name, target=target,
                            max_bytes=None if available is None else available[0])
            continue
        for data_dir in dict.fromkeys(data_dirs):
            find_dataset(name, data_dir=data_dir, download=True)


def _require_machine(base: dict, grid: dict, local: bool) -> None:
    """Check, once and before anything is written, that this machine has what the
    trials name: TensorBoard for ``tensorboard``; with ``local`` (trials run here: a
    Ray cluster's machines may differ) ``device="gpu"`` (CuPy and a CUDA device), a
    forced ``gemm`` or ``kernels``. A missing one is then one sentence naming the
    fix, not one failed trial each."""
    def values(key):
        return [v for v in dict.fromkeys(grid.get(key) or [base.get(key)]) if v is not None]

    if any(values("tensorboard")):
        board.require()
    if not local:
        return
    if "gpu" in values("device"):
        get_array_module("gpu")
    for name in values("gemm"):
        gemms.require(name)
    for name in values("kernels"):
        kernels.require(name)


# ---------------------------------------------------------------------------
# running


def make_executor(name: str = "local", workers: int | None = None, **options: Any) -> Executor:
    """Build an executor by name: ``"local"`` or ``"ray"``.

    Parameters
    ----------
    name : {"local", "ray"}, default "local"
        The executor (:data:`EXECUTORS`).
    workers : int or None, default None
        Trials that run at the same time; ``None`` for the number of cores, or
        the Ray cluster's CPUs.
    **options
        Passed to the executor's class (for Ray: ``address``, ``retries``...;
        see :class:`backproplab.sweeps.ray_executor.RayExecutor`).

    Returns
    -------
    Executor
        A :class:`LocalExecutor` or a connected :class:`RayExecutor`; close it
        (it is a context manager).

    Raises
    ------
    BackproplabError
        For an unknown ``name`` (and, from the executor, bad ``workers``).
    """
    if name == "local":
        return LocalExecutor(workers, **options)
    if name == "ray":
        return RayExecutor(workers, **options)
    raise BackproplabError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def _trial_key(config: dict[str, Any]) -> str:
    """What makes two trials the same run: the resolved config without machine options."""
    key = config_key(config)
    if key is None:  # sweeps validate every trial's config when they are built
        raise BackproplabError(f"trial config {config!r} is not a valid training config")
    return key


def _trial_cost(config: dict[str, Any]) -> float:
    """A rough relative cost of a trial (seconds on one core), to start long ones first."""
    n = config.get("limit") or (60_000 if config.get("dataset") == "synth" else 55_000)
    if config.get("final") and config.get("dataset") != "synth" and not config.get("limit"):
        n = 60_000
    epochs = config.get("epochs", 1)
    if config.get("engine") == "scalar":
        return epochs * n * 3e-5
    bs = config.get("batch_size")
    steps = 1 if bs == "full" else -(-n // int(bs or 16))
    return epochs * (steps * 2e-4 + n * 1.5e-5)


def _copy_run(src: Path, dst: Path) -> dict[str, Any]:
    """Copy the finished run folder ``src`` into the trial folder ``dst``
    (atomic writes, ``config.json`` first, ``summary.json`` last); returns the
    copy's summary (``run_dir`` pointing at ``dst``, ``copied_from`` at ``src``)."""
    files = {k: v for k, v in read_run_files(src).items() if k not in TRIAL_RECORD_FILES}
    summary = rewrite_summary(files, dst, copied_from=str(src))
    with lock_folder(dst, "trial"):  # what an earlier attempt left goes, under the lock
        for path in dst.iterdir():
            if path.name != LOCK:
                remove_entry(path)
        write_run_files(dst, files)
    return summary


@dataclass
class _Plan:
    """Which trials train, which are copied from another, which finished earlier."""

    queue: list[Trial]                                   # train these, longest first
    copy_now: list[tuple[Trial, Path]]                   # copy from a finished run
    followers: dict[str, list[Trial]]                    # trained name -> its copies
    finished: list[TrialResult]

    @property
    def n_copies(self) -> int:
        return len(self.copy_now) + sum(len(v) for v in self.followers.values())


def _plan(trials: Sequence[Trial], sources: dict[str, Path]) -> _Plan:
    to_run, finished = plan_trials(trials)
    by_name = {t.name: t for t in trials}
    for result in finished:
        sources.setdefault(_trial_key(by_name[result.name].config),
                           Path(by_name[result.name].out_dir))
    primaries: dict[str, Trial] = {}
    followers: dict[str, list[Trial]] = {}
    copy_now: list[tuple[Trial, Path]] = []
    for trial in to_run:
        key = _trial_key(trial.config)
        if key in sources:
            copy_now.append((trial, sources[key]))
        elif key in primaries:
            followers.setdefault(primaries[key].name, []).append(trial)
        else:
            primaries[key] = trial
    queue = sorted(primaries.values(), key=lambda t: -_trial_cost(t.config))
    return _Plan(queue, copy_now, followers, finished)


def run_trials(trials: Sequence[Trial], executor: Executor, display: SweepProgress, *,
               sources: dict[str, Path] | None = None,
               say: Callable[[str], None] | None = None) -> dict[str, TrialResult]:
    """Run ``trials`` (folders already prepared) on ``executor``.

    Trials already finished are skipped, interrupted ones resume, identical
    configurations run once and are copied. Every result is written into its
    trial folder (``status.json``, ``error.txt`` on failure) as it comes back.

    Parameters
    ----------
    trials : sequence of Trial
        The trials to run.
    executor : Executor
        Where they run.
    display : SweepProgress
        Told of the plan, of every start and of every result.
    sources : dict or None, default None
        Maps a configuration (the resolved config without machine options) to a
        finished run folder to copy instead of training; it is used and
        extended, so that later calls copy what earlier calls trained.
    say : callable or None, default None
        Called with a line of information (how many trials are copies).

    Returns
    -------
    dict of str to TrialResult
        Every trial's result by name.
    """
    sources = {} if sources is None else sources
    plan = _plan(trials, sources)
    results: dict[str, TrialResult] = {r.name: r for r in plan.finished}

    def record(trial: Trial, result: TrialResult) -> None:
        _record_result(trial, result)
        results[trial.name] = result
        display.finished(result)

    def copy_into(trial: Trial, src: Path) -> None:
        record(trial, TrialResult(trial.name, "ok", summary=_copy_run(src, Path(trial.out_dir))))

    display.note_plan(plan.queue, plan.finished)
    if plan.n_copies and say is not None:
        say(f"{plan.n_copies} trial(s) repeat the configuration of another trial and are "
            "copied from it instead of trained again")
    for trial, src in plan.copy_now:
        copy_into(trial, src)
    by_name = {t.name: t for t in plan.queue}
    # closing(): an interrupt stops the executor's workers at once
    with contextlib.closing(iter_results(executor, plan.queue, display.on_event)) as stream:
        for result in stream:
            trial = by_name[result.name]
            record(trial, result)
            for other in plan.followers.get(trial.name, []):
                if result.status == "failed":
                    record(other, TrialResult(
                        other.name, "failed", traceback=result.traceback,
                        error=f"same configuration as {trial.name}, which failed: "
                              f"{result.error}"))
                else:
                    copy_into(other, Path(trial.out_dir))
            if result.status != "failed":
                sources.setdefault(_trial_key(trial.config), Path(trial.out_dir))
    return results


def _folder_check(sweep: Sweep, overwrite: bool,
                  allow_changed_data: bool) -> Callable[[Path], None]:
    """The check of the sweep folder (before anything is created, and again under
    its lock): it holds this sweep or none (:func:`check_sweep_dir`), and unless
    ``overwrite`` or ``allow_changed_data`` its recorded trials were trained on
    the data loaded now (:func:`check_recorded_data`; loaded once for both)."""
    fingerprints: dict = {}

    def check(path: Path) -> None:
        check_sweep_dir(sweep, path, overwrite=overwrite)
        if not (overwrite or allow_changed_data):
            check_recorded_data(sweep.trials(path), fingerprints)

    return check


def run_sweep(sweep: Sweep, out_dir: str | Path, *, executor: Executor | None = None,
              workers: int | None = None, overwrite: bool = False, progress: str = "auto",
              aggregate: bool = True, console: Any = None,
              test: str = "welch", allow_changed_data: bool = False) -> SweepOutcome:
    """Run every trial of ``sweep`` under ``out_dir`` and aggregate the results.

    Parameters
    ----------
    sweep : Sweep
        The grid of configs and the seeds.
    out_dir : str or Path
        The sweep folder; it gets ``sweep.json``, one run folder per trial and
        the aggregated ``results.json`` / ``results.csv``.
    executor : Executor, optional
        Where trials run (default: a local pool of ``workers`` processes).
    workers : int, optional
        Trials run at the same time by the default executor (default: the cores).
    overwrite : bool
        Replace a different sweep found in ``out_dir``.
    progress : {"auto", "rich", "plain", "quiet"}
        A live bar on a terminal, plain lines (on stderr) otherwise, or nothing.
    aggregate : bool
        Write ``results.json`` / ``results.csv`` at the end.
    console : rich.console.Console, optional
        Where the live bar is drawn.
    test : {"welch", "paired", "permutation"}
        How the aggregate compares the groups: Welch's t-test, the paired t-test
        over shared seeds, or a permutation test (:mod:`backproplab.sweeps.stats`).
    allow_changed_data : bool, default False
        Go on when recorded trials were trained on other data than loads now (finished
        ones are kept, the others train on the data now).

    Returns
    -------
    SweepOutcome
        One result per trial; a failing trial does not stop the others (``.ok``).

    Raises
    ------
    BackproplabError
        For a bad sweep folder, a dataset that cannot be found or changed
        since trials were recorded, or an unknown ``test``, before any trial runs.

    Examples
    --------
    >>> from backproplab.sweeps import Sweep, run_sweep
    >>> sweep = Sweep({"dataset": "synth", "epochs": 1, "limit": 500},
    ...               grid={"lr": [0.03, 0.1]}, seeds=[0, 1])
    >>> outcome = run_sweep(sweep, "runs/lr-sweep", workers=2)   # doctest: +SKIP
    >>> outcome.ok                                               # doctest: +SKIP
    True
    """
    start = time.perf_counter()
    check_test(test)
    own_executor = executor is None
    if executor is None:
        executor = make_executor("local", workers)
    try:
        _ensure_datasets(sweep.base, sweep.grid)
        _require_machine(sweep.base, sweep.grid, isinstance(executor, LocalExecutor))
        check = _folder_check(sweep, overwrite, allow_changed_data)
        with lock_folder(out_dir, "sweep", check) as lock:  # each trial locks its own too
            root = prepare_sweep_dir(sweep, out_dir, overwrite=overwrite)
            trials = sweep.trials(root, allow_changed_data=allow_changed_data)
            executor.plan(trials)  # workers x threads for these trials and this machine
            display = SweepProgress(len(trials), executor.workers, progress,
                                    console=console, out_dir=root)
            with display:
                results = run_trials(trials, executor, display)
            outcome = SweepOutcome(root, [results[t.name] for t in trials])
            if aggregate:
                with lock.lend():  # aggregate_sweep writes under this sweep's own lock
                    outcome.aggregate = aggregate_sweep(root, write=True, test=test)
                outcome.results_path = root / RESULTS
    finally:
        if own_executor:
            executor.close()
    outcome.seconds = time.perf_counter() - start
    return outcome


__all__ = [
    "SweepOutcome", "check_recorded_data", "make_executor", "plan_trials",
    "recorded_data", "run_sweep", "run_trials", ]
