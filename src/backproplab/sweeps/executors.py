"""Executors: where the trials of a sweep run.

The sweep (:mod:`backproplab.sweeps.driver`) decides *what* to run and owns
the sweep folder; an executor only decides *where* each trial runs, under the
small contract of :mod:`backproplab.sweeps.trials` (:class:`Trial`,
:class:`TrialResult`, :class:`TrialEvent`, :class:`Executor`), so that other
executors (Ray, a cluster) plug in without touching the sweep logic.

This module runs one trial in whatever process an executor chooses
(:func:`execute_trial`), and holds :class:`LocalExecutor`, which runs trials in
worker processes on this machine (or in-process with ``workers=1``);
:func:`backproplab.sweeps.driver.make_executor` builds one by name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.locks import lock_folder
from backproplab.runs import CHECKPOINT, CONFIG, RunFolder
from backproplab.sweeps.lifetime import guard_worker, sigterm_interrupts
from backproplab.sweeps.pool import WorkerPool
from backproplab.sweeps.trials import (
    EventCallback,
    Executor,
    Trial,
    TrialEvent,
    TrialResult,
    notify,
)
from backproplab.training import TrainConfig, run_training
from backproplab.training.config import config_step_work, usable_cpus
from backproplab.training.libraries import LIBRARY_OPTIONS
from backproplab.training.options import MACHINE_OPTIONS
from backproplab.training.threads import (
    SECOND_THREAD_MIN_WORK,
    free_cores,
    machine_facts,
    split_cores,
)

#: Executor names accepted by :func:`make_executor` (and ``--executor``).
EXECUTORS = ("local", "ray")

#: Environment variables that cap the thread pools of BLAS/OpenMP libraries.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS",
)


def plain_json(obj: Any) -> Any:
    """A JSON round trip: tuples become lists, so equal configs compare equal.

    Parameters
    ----------
    obj : object
        A JSON-serializable value.

    Returns
    -------
    object
        The value as :func:`json.loads` gives it back (keys sorted).

    Examples
    --------
    >>> plain_json({"hidden": (300,), "lr": 0.1})
    {'hidden': [300], 'lr': 0.1}
    """
    return json.loads(json.dumps(obj, sort_keys=True))


def config_key(config: Mapping[str, Any]) -> str | None:
    """A canonical string of a config with defaults resolved and machine options dropped.

    Parameters
    ----------
    config : Mapping
        A training config (``TrainConfig.to_dict()`` or ``config.json``).

    Returns
    -------
    str or None
        Sorted JSON, or ``None`` if ``config`` is not a valid config.

    Examples
    --------
    >>> config_key({"lr": 0.1, "threads": 2}) == config_key({"lr": 0.1})
    True
    """
    try:
        resolved = TrainConfig.from_dict(dict(config)).resolved().to_dict()
    except (BackproplabError, TypeError, ValueError):
        return None
    for key in MACHINE_OPTIONS:
        resolved.pop(key, None)
    return json.dumps(plain_json(resolved), sort_keys=True)


def configs_match(stored: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether a run folder's ``config.json`` is the run ``wanted`` describes.

    Parameters
    ----------
    stored : Mapping or None
        The stored config (anything else than a mapping does not match).
    wanted : Mapping
        The trial's config.

    Returns
    -------
    bool
        Whether both are valid and equal once resolved, machine options aside; a
        trial that leaves ``gemm`` or ``kernels`` to the machine matches what its run recorded.
    """
    if not isinstance(stored, Mapping):
        return False
    # libraries the trial left to the machine were chosen at its start: take the recorded ones
    wanted = {**wanted, **{k: stored[k] for k in LIBRARY_OPTIONS
                           if wanted.get(k) is None and stored.get(k) is not None}}
    a = config_key(stored)
    return a is not None and a == config_key(wanted)


# ---------------------------------------------------------------------------
# running one trial (in whatever process an executor chooses)


def execute_trial(trial: Trial, out_dir: str | os.PathLike | None = None,
                  dataset: Any = None) -> TrialResult:
    """Train one trial into ``out_dir`` and report.

    The trial's lock on the folder is taken before anything in it is read or
    removed. The folder must belong to this trial: a run with another config
    (e.g. ``train --out`` got there first) fails the trial and is left alone. If
    it holds a checkpoint the run continues from it (``trial.resume``, or a
    checkpoint left by an attempt that died), otherwise the files an earlier
    attempt left there are removed and the run starts fresh.

    Parameters
    ----------
    trial : Trial
        The trial.
    out_dir : str, os.PathLike or None, default None
        The run folder; ``None`` for ``trial.out_dir``.
    dataset : backproplab.data.Dataset or None, default None
        The trial's data, already loaded (e.g. shared through Ray's object
        store); ``None``: the run loads it.

    Returns
    -------
    TrialResult
        ``"ok"`` with the run's summary, or ``"failed"`` with the error and its
        traceback: a failing run never raises (``KeyboardInterrupt`` and
        ``SystemExit`` still propagate).
    """
    start = time.perf_counter()
    target = Path(out_dir if out_dir is not None else trial.out_dir)
    resume = False
    try:
        config = TrainConfig.from_dict(dict(trial.config))
        # the lock first: nothing in the folder is read or removed without it
        with lock_folder(target, "trial") as lock, lock.lend():
            resume = trial.resume or (target / CHECKPOINT).is_file()
            _check_trial_folder(target, trial)
            summary = run_training(config, target, resume=resume, overwrite=not resume,
                                   progress="quiet", dataset=dataset,
                                   allow_changed_data=trial.allow_changed_data)
        return TrialResult(trial.name, "ok", summary=dict(summary), resumed=resume,
                           seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the others
        return TrialResult(trial.name, "failed", error=one_line(exc),
                           settings=exc.settings if isinstance(exc, BackproplabError) else None,
                           traceback=traceback.format_exc(), resumed=resume,
                           seconds=time.perf_counter() - start)


def _check_trial_folder(folder: Path, trial: Trial) -> None:
    """Refuse a trial folder that holds a run of another config than ``trial``'s.

    Raises
    ------
    BackproplabError
        Naming the folder; the run in it is left as it is.
    """
    run = RunFolder(folder)
    if run.file(CONFIG).exists() and not (run.is_run()
                                          and configs_match(run.config, trial.config)):
        raise BackproplabError(
            f"the trial folder {folder} holds a run that is not this trial's (another "
            "process wrote it); move that run away and run the sweep again")


def with_threads(trial: Trial, threads: int) -> Trial:
    """``trial`` with ``threads`` BLAS threads unless its config sets them.

    An executor that runs trials side by side gives each the threads it
    reserved for it (``threads`` is a machine option: it changes no result);
    left unset, a run would start one BLAS thread per core in every worker.

    Parameters
    ----------
    trial : Trial
        The trial.
    threads : int
        The threads reserved for it.

    Returns
    -------
    Trial
        ``trial`` itself when its config sets ``threads``, else a copy whose
        config does.
    """
    if trial.config.get("threads") is not None:
        return trial
    return dataclasses.replace(trial, config={**trial.config, "threads": threads})


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type, then its message with white space squeezed.

    Parameters
    ----------
    exc : BaseException
        The exception.

    Returns
    -------
    str
        ``"TYPE: message"`` (``"(no message)"`` for an empty one).

    Examples
    --------
    >>> one_line(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


# ---------------------------------------------------------------------------
# local executor


def check_trial_timeout(seconds: float | None) -> float | None:
    """``seconds`` as a per-trial timeout: None (no limit) or a positive number.

    Parameters
    ----------
    seconds : float or None
        The timeout to check.

    Returns
    -------
    float or None

    Raises
    ------
    BackproplabError
        When ``seconds`` is not a positive finite number.
    """
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise BackproplabError(
            f"trial_timeout must be a positive number of seconds, got {seconds!r}; give one "
            "like 600, or leave it out for no limit", settings=("trial_timeout",))
    return value


def default_workers() -> int:
    """The number of cores this process may use (the default ``workers``).

    Returns
    -------
    int
        :func:`backproplab.training.threads.usable_cpus`.
    """
    return usable_cpus()


def _step_work(trial: Trial) -> int | None:
    """Multiply-adds per step of ``trial`` (``None``: scalar engine or a bad config)."""
    try:
        return config_step_work(TrainConfig.from_dict(dict(trial.config)))
    except (BackproplabError, TypeError, ValueError):
        return None


_THREAD_LIMITER = None  # kept alive for the lifetime of a worker process


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Pool initializer: end with the driver ``parent_pid`` (see
    :mod:`backproplab.sweeps.lifetime`); cap every BLAS/OpenMP thread pool."""
    global _THREAD_LIMITER
    if parent_pid is not None:
        guard_worker(parent_pid)
    for var in THREAD_ENV_VARS:  # for libraries loaded later
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        _THREAD_LIMITER = threadpool_limits(limits=threads)  # for libraries already loaded
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass


def _pool_trial(trial: Trial) -> TrialResult:
    return execute_trial(trial)


class LocalExecutor(Executor):
    """Runs trials on this machine.

    ``workers > 1``: each trial in a worker process of a pool (``spawn``
    context: a fresh interpreter, no state inherited from the driver), at most
    ``workers`` at a time, each worker's BLAS limited to ``threads_per_worker``
    threads (a trial whose config sets ``threads`` keeps its own).
    ``workers == 1``: trials run one after another in this process (handy for
    debugging and tests).

    If a worker process dies (killed, out of memory), the one trial it was
    running is started again on a fresh worker, at most ``retries`` more times;
    a trial that still cannot finish is reported as failed, and the other
    trials are not affected.

    Parameters
    ----------
    workers : int or None, default None
        Trials at a time; ``None``: chosen by :meth:`plan` when the trials are
        known, from the cores free at that moment
        (:func:`backproplab.training.threads.split_cores`: one worker per free
        core, at most one per trial; before it, :func:`default_workers`).
    threads_per_worker : int or None, default None
        The BLAS threads of each worker's trials; ``None``: chosen by
        :meth:`plan` (cores left over as threads; 1 thread for trials whose
        steps are too small for a second).
    retries : int, default 1
        How many more times a trial whose worker died is started.
    start_method : str, default "spawn"
        The :mod:`multiprocessing` start method of the workers.
    trial_timeout : float or None, default None
        Seconds a trial may run; one running longer has its worker killed and
        fails (with a timeout, trials run in a worker process also when
        ``workers == 1``). ``None``: no limit.

    Raises
    ------
    BackproplabError
        If ``workers`` or ``threads_per_worker`` is not a positive integer, or
        ``trial_timeout`` not a positive number.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, threads_per_worker: int | None = None,
                 retries: int = 1, start_method: str = "spawn",
                 trial_timeout: float | None = None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise BackproplabError(f"--workers must be a positive integer, got {workers!r}")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise BackproplabError(
                f"threads per worker must be at least 1, got {threads_per_worker}")
        self.asked = (workers, threads_per_worker)
        self.workers = workers or default_workers()
        self.threads_per_worker = threads_per_worker or 1
        self.small_steps = False
        self.planned_for: tuple[str, ...] | None = None
        self.retries = retries
        self.start_method = start_method
        self.trial_timeout = check_trial_timeout(trial_timeout)

    def plan(self, trials: Sequence[Trial]) -> None:
        """Choose the workers and threads the options left open, for these trials."""
        self.planned_for = tuple(t.name for t in trials)
        workers, threads = self.asked
        works = [w for w in (_step_work(t) for t in trials) if w is not None]
        if (workers is None or threads is None) and trials:
            auto_w, auto_t = split_cores(len(trials), free_cores(machine_facts())[0],
                                         max(works) if works else None, workers)
            self.workers, self.threads_per_worker = auto_w, threads or auto_t
        self.small_steps = threads is None and bool(works) and \
            min(works) < SECOND_THREAD_MIN_WORK

    def trial_threads(self, trial: Trial) -> int:
        """The BLAS threads ``trial`` gets: the worker's, or 1 for small steps."""
        work = _step_work(trial) if self.small_steps else None
        return 1 if work is not None and work < SECOND_THREAD_MIN_WORK \
            else self.threads_per_worker

    def run(self, trials: Sequence[Trial],
            on_event: EventCallback | None = None) -> Iterator[TrialResult]:
        trials = list(trials)
        if not trials:
            return iter(())
        if self.planned_for != tuple(t.name for t in trials):  # run_sweep plans first
            self.plan(trials)
        if self.asked[0] == 1 and self.trial_timeout is None:
            return self._run_inline(trials, on_event)
        return self._run_pool(trials, on_event)

    def _run_inline(self, trials: list[Trial],
                    on_event: EventCallback | None) -> Iterator[TrialResult]:
        for trial in trials:
            notify(on_event, TrialEvent("started", trial))
            yield execute_trial(with_threads(trial, self.trial_threads(trial))
                                if self.asked[1] else trial)

    def _run_pool(self, trials: list[Trial],
                  on_event: EventCallback | None) -> Iterator[TrialResult]:
        run = _PoolRun(self, trials, on_event)
        clean_exit = False
        try:
            with sigterm_interrupts():  # SIGTERM stops the workers like Ctrl-C does
                while run.queue or run.running:
                    run.fill()
                    yield from run.wait()
            clean_exit = True
        finally:
            if clean_exit:
                run.pool.close()
            else:  # interrupted: stop the workers now; their trials resume next time
                run.pool.terminate()


class _PoolRun:
    """The state of :meth:`LocalExecutor._run_pool`: its workers
    (:class:`~backproplab.sweeps.pool.WorkerPool`), the trials waiting
    (``queue``), those in flight (``running``) and their attempts.

    A worker process that dies costs only the trial it was running: that trial
    is queued again (at most ``retries`` more times) on a fresh worker while
    the others go on. A trial that runs longer than ``trial_timeout`` seconds
    has its worker killed and fails (a stopped or hung worker cannot stall
    the sweep).
    """

    def __init__(self, executor: LocalExecutor, trials: list[Trial],
                 on_event: EventCallback | None):
        self.executor = executor
        self.on_event = on_event
        self.queue = list(reversed(trials))  # pop() from the end keeps the trial order
        self.attempts: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.deadline: dict[str, float] = {}
        self.running: dict[str, Trial] = {}
        self.pool = WorkerPool(min(executor.workers, len(trials)), _pool_trial,
                               initializer=_init_worker,
                               initargs=(executor.threads_per_worker, os.getpid()),
                               start_method=executor.start_method)

    def fill(self) -> None:
        """Keep every worker busy while trials wait."""
        while self.queue and len(self.running) < self.pool.size:
            trial = self.queue.pop()
            self.pool.submit(trial.name, with_threads(trial, self.executor.trial_threads(trial)))
            self.attempts[trial.name] = self.attempts.get(trial.name, 0) + 1
            self.started.setdefault(trial.name, time.perf_counter())
            if self.executor.trial_timeout is not None:
                self.deadline[trial.name] = time.monotonic() + self.executor.trial_timeout
            self.running[trial.name] = trial
            notify(self.on_event, TrialEvent("started", trial))

    def wait(self) -> Iterator[TrialResult]:
        """Wait for a trial to finish, a worker to die or a trial's time to run out."""
        deadlines = [self.deadline[name] for name in self.running if name in self.deadline]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for outcome in self.pool.wait(timeout):
            trial = self.running.pop(outcome.key)
            self.deadline.pop(trial.name, None)
            if outcome.died:
                yield from self._died(trial, outcome.value)
            else:
                yield self._result(trial, *outcome.value)
        now = time.monotonic()
        for name in [n for n, t in self.deadline.items() if t <= now and n in self.running]:
            self.pool.stop(name)
            trial = self.running.pop(name)
            del self.deadline[name]
            yield self._failed(trial, timeout_error(self.executor.trial_timeout))

    def _result(self, trial: Trial, ok: bool, value: Any) -> TrialResult:
        if ok:
            result = value
        else:  # raised outside the trial's own code, e.g. an unpicklable result
            lines = [line for line in str(value).strip().splitlines() if line.strip()]
            result = TrialResult(trial.name, "failed", traceback=str(value),
                                 error=lines[-1].strip() if lines else "unknown error",
                                 seconds=time.perf_counter() - self.started[trial.name])
        result.attempts = self.attempts[trial.name]
        return result

    def _died(self, trial: Trial, how: str) -> Iterator[TrialResult]:
        if self.attempts[trial.name] <= self.executor.retries:
            notify(self.on_event, TrialEvent(
                "retry", trial, f"its worker process died ({how}); starting it again"))
            self.queue.append(trial)
            return
        yield self._failed(trial, (
            f"WorkerDied: the worker process running this trial died ({how}; killed or out "
            f"of memory), {self.attempts[trial.name]} time(s)"))

    def _failed(self, trial: Trial, error: str) -> TrialResult:
        return TrialResult(trial.name, "failed", attempts=self.attempts[trial.name],
                           error=error,
                           seconds=time.perf_counter() - self.started[trial.name])


def timeout_error(seconds: float, resumes: bool = True) -> str:
    """The error of a trial stopped by the per-trial timeout.

    Parameters
    ----------
    seconds : float
        The timeout.
    resumes : bool, default True
        Whether the trial's checkpoints are in its folder, so that the next
        run resumes it (local workers); ``False`` where they stayed with the
        stopped worker (Ray): the next run trains the trial again.

    Returns
    -------
    str
        One line (``TrialTimeout: ...``) saying how to run the trial again.
    """
    head = f"TrialTimeout: the trial ran longer than the trial timeout of {seconds:g} s, so "
    if not resumes:
        return head + ("its Ray task was cancelled and what it trained on the worker is "
                       "lost; run the same command again with a larger --trial-timeout to "
                       "train it again")
    return head + ("its worker was stopped; run the same command again to resume it from its "
                   "checkpoint, with a larger --trial-timeout if it needs more time")


__all__ = ["EXECUTORS", "THREAD_ENV_VARS", "LocalExecutor", "check_trial_timeout", "config_key", "configs_match", "default_workers",
           "execute_trial", "one_line", "plain_json", "timeout_error", "with_threads"]
