"""The Ray executor: the trials of a sweep as tasks on a Ray cluster.

``RayExecutor`` plugs into the executor contract of
:mod:`backproplab.sweeps.executors`; the sweep logic (what to run, what to
skip, where results go) is unchanged. What it does differently from the local
executor:

* **Where**: each trial is a Ray task with its resources declared (1 CPU by
  default, a GPU as well when the trial's config says ``device="gpu"``). The
  cluster is the one at ``address`` (``--ray-address``), else the one in the
  ``RAY_ADDRESS`` environment variable, else a local Ray instance started for
  the run (as many CPUs as ``workers``) and stopped afterwards.
* **Data**: the driver loads each distinct dataset once (trials that differ
  only in model or optimizer options share one) and puts it into Ray's object
  store once; every task gets it as an object reference, so a worker reads the
  arrays as zero-copy, read-only views and nothing is loaded or shipped per
  trial.
* **Files**: a worker trains into a scratch folder of its own and returns the
  run folder's files as bytes with the result; the sweep on the driver writes
  them into the trial folder (each file atomically, ``summary.json`` last). The
  cluster needs no shared filesystem and no copy of the data.
* **Faults**: when a worker process dies during a trial (killed, out of
  memory, its node lost), the driver submits the trial again, at most
  ``retries`` more times; an exception raised *by the trial* is a failed
  result at once, never retried. A rerun of an interrupted sweep skips the
  trials whose results reached the driver (the sweep's usual skip logic).
* **Same numbers**: workers run with one BLAS thread (environment variables
  for libraries loaded later, ``threadpoolctl`` for those already loaded) and
  the trial code is the local executor's (:func:`execute_trial`), so a trial's
  metrics and weights are bit-identical to a local run with the same seed.

The connection is made when the executor is built, before the sweep writes
anything (:func:`backproplab.sweeps.ray_connect.connect`).
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.runs import (
    SUMMARY,
    TRIAL_RECORD_FILES,
    read_run_files,
    rewrite_summary,
    write_run_files,
)
from backproplab.sweeps.executors import (
    THREAD_ENV_VARS,
    check_trial_timeout,
    default_workers,
    execute_trial,
    one_line,
    timeout_error,
    with_threads,
)
from backproplab.sweeps.lifetime import sigterm_interrupts, start_reaper
from backproplab.sweeps.ray_connect import connect, import_ray
from backproplab.sweeps.trials import (
    EventCallback,
    Executor,
    Trial,
    TrialEvent,
    TrialResult,
    notify,
)
from backproplab.training import TrainConfig, load_run_dataset
from backproplab.training.options import DATA_OPTIONS  # trials agreeing on them share data

# ---------------------------------------------------------------------------
# the task (runs in a Ray worker process)


def data_key(config: Mapping[str, Any]) -> tuple:
    """What decides a trial's data: the data options of its resolved config.

    Trials with equal keys share one copy of the dataset in Ray's object
    store.

    Parameters
    ----------
    config : Mapping
        A trial's config.

    Returns
    -------
    tuple
        ``(name, repr(value))`` pairs, one per data option.
    """
    resolved = TrainConfig.from_dict(dict(config)).resolved().to_dict()
    return tuple((name, repr(resolved.get(name))) for name in DATA_OPTIONS)


def _run_trial_task(trial: Trial, dataset: Any, resume_files: dict[str, bytes] | None,
                   threads: int) -> TrialResult:
    """Body of the Ray task: train ``trial`` into a scratch folder and return the
    result with the run folder's files (also after a failure, as the local
    executor would leave them in the trial folder).

    ``dataset``: the loaded data (Ray resolves the object reference), or
    ``None`` to load it here. ``resume_files``: the trial folder's files when the
    trial continues from a checkpoint.
    """
    from threadpoolctl import threadpool_limits

    for var in THREAD_ENV_VARS:  # for libraries loaded after this point
        os.environ[var] = str(threads)
    with threadpool_limits(limits=threads), \
            tempfile.TemporaryDirectory(prefix="backproplab-trial-") as scratch:
        run_dir = Path(scratch) / "run"
        if resume_files:
            write_run_files(run_dir, resume_files)
        result = execute_trial(trial, run_dir, dataset=dataset)
        result.files = read_run_files(run_dir) if run_dir.is_dir() else None
        if result.summary is not None and SUMMARY in (result.files or {}):
            # the summary names the folder the run ends up in, not this scratch folder
            result.summary = rewrite_summary(result.files, trial.out_dir)
    return result


# ---------------------------------------------------------------------------
# the executor


class RayExecutor(Executor):
    """Runs trials as Ray tasks (see the module docstring).

    Building the executor connects (or starts the local instance); :meth:`close`
    disconnects (and stops an instance it started). In a process where Ray is
    already initialized, that connection is used.

    Parameters
    ----------
    workers : int or None, default None
        Trials in flight at a time; ``None`` for the cluster's CPUs divided by
        ``cpus_per_trial``.
    address : str or None, default None
        The cluster (``host:port``, ``ray://host:port``, ``auto``); ``None`` for
        ``$RAY_ADDRESS``, else a local instance.
    cpus_per_trial : int, default 1
        The CPUs each task reserves, and its BLAS thread count.
    gpus_per_trial : float, default 1
        The GPUs reserved by trials whose config has ``device="gpu"``.
    retries : int, default 2
        How many times a trial whose worker died is started again.
    env : Mapping or None, default None
        Extra environment variables for the workers.
    connect_timeout : float or None, default None
        Seconds to wait for the cluster (also
        ``$BACKPROPLAB_RAY_CONNECT_TIMEOUT``).
    trial_timeout : float or None, default None
        Seconds after which a running trial's task is cancelled and the trial
        failed; ``None``: no limit.

    Raises
    ------
    BackproplabError
        If ``workers``, ``cpus_per_trial``, ``gpus_per_trial`` or ``retries`` is
        out of range, Ray is not installed, or the cluster cannot be reached.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 cpus_per_trial: int = 1, gpus_per_trial: float = 1, retries: int = 2,
                 env: Mapping[str, str] | None = None, connect_timeout: float | None = None,
                 trial_timeout: float | None = None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise BackproplabError(f"--workers must be a positive integer, got {workers!r}")
        if isinstance(cpus_per_trial, bool) or not isinstance(cpus_per_trial, int) \
                or cpus_per_trial < 1:
            raise BackproplabError(
                f"CPUs per trial must be a positive integer, got {cpus_per_trial!r}")
        if not gpus_per_trial > 0:
            raise BackproplabError(f"GPUs per trial must be positive, got {gpus_per_trial!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise BackproplabError(f"retries must be an integer >= 0, got {retries!r}")
        self.trial_timeout = check_trial_timeout(trial_timeout)
        self.ray = import_ray()
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.retries = retries
        self.env = {var: str(cpus_per_trial) for var in THREAD_ENV_VARS}
        self.env.update({str(k): str(v) for k, v in (env or {}).items()})
        #: the data keys put into the object store by the last :meth:`run`
        self.datasets_put: list[tuple] = []
        self.address, self._owns_connection, self.started_local = connect(
            self.ray, address, cpus=(workers or default_workers()) * cpus_per_trial,
            timeout=connect_timeout)
        # the instance's agents are its raylet's children: they end with this process
        self._reaper = start_reaper() if self.started_local else None
        if workers is None:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // cpus_per_trial)
        self.workers = workers
        self._task = self.ray.remote(_run_trial_task)

    def close(self) -> None:
        """Disconnect from the cluster (stopping a local instance this executor
        started); a connection made before the executor is left open."""
        if self._owns_connection and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns_connection = False
        if self._reaper is not None:  # it kills what shutdown left running
            self._reaper.stdin.close()
            self._reaper.wait(timeout=30)
            self._reaper = None

    # -- running -------------------------------------------------------------

    def _options(self, trial: Trial) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_trial,
            "max_retries": 0,            # the driver retries, counting attempts itself
            "retry_exceptions": False,   # an error raised by a trial is its result
            "runtime_env": {"env_vars": dict(self.env)},
            "name": f"backproplab-trial:{trial.name}",
        }
        if trial.config.get("device") == "gpu":
            options["num_gpus"] = self.gpus_per_trial
        return options

    def _check_gpus(self, trials: Sequence[Trial]) -> None:
        """Refuse GPU trials on a cluster without GPUs (Ray would wait for one forever)."""
        wanting = [t.name for t in trials if t.config.get("device") == "gpu"]
        if wanting and self.ray.cluster_resources().get("GPU", 0) < self.gpus_per_trial:
            raise BackproplabError(
                f"{len(wanting)} trial(s) ask for a GPU (device gpu, e.g. {wanting[0]}) but "
                f"the Ray cluster has {self.ray.cluster_resources().get('GPU', 0):g}; add GPU "
                "nodes to the cluster or run with --device cpu")

    def _resume_files(self, trial: Trial) -> dict[str, bytes] | None:
        if not trial.resume or not Path(trial.out_dir).is_dir():
            return None
        # the sweep's own records stay on the driver
        files = read_run_files(trial.out_dir)
        return {k: v for k, v in files.items() if k not in TRIAL_RECORD_FILES}

    def run(self, trials: Sequence[Trial],
            on_event: EventCallback | None = None) -> Iterator[TrialResult]:
        trials = list(trials)
        if not trials:
            return iter(())
        return self._run(trials, on_event)

    def _dataset_ref(self, trial: Trial, datasets: dict):
        """The trial's data in the object store (put once per data key), or the error
        that loading it raised (the trials that need it fail)."""
        key = data_key(trial.config)
        if key not in datasets:
            try:
                data = load_run_dataset(TrainConfig.from_dict(dict(trial.config)))
                datasets[key] = self.ray.put(data)
                self.datasets_put.append(key)
                del data  # the object store holds it now
            except Exception as exc:  # noqa: BLE001 - the trials that need it fail
                datasets[key] = exc
        return datasets[key]

    def _run(self, trials: list[Trial],
             on_event: EventCallback | None) -> Iterator[TrialResult]:
        self._check_gpus(trials)
        self.datasets_put = []
        run = _RayRun(self, trials, on_event)
        clean_exit = False
        try:
            with sigterm_interrupts():  # SIGTERM: one line and the trials cancelled
                while run.queue or run.running:
                    yield from run.fill()
                    if run.running:
                        yield from run.wait()
            clean_exit = True
        finally:
            if not clean_exit:  # interrupted: stop the trials still running
                for ref in run.running:
                    run.cancel(ref)
            run.datasets.clear()  # drop the references: the object store may free them


class _RayRun:
    """The state of :meth:`RayExecutor._run`: trials waiting (``queue``), tasks in
    flight (``running``), attempts, deadlines and the datasets put."""

    def __init__(self, executor: RayExecutor, trials: list[Trial],
                 on_event: EventCallback | None):
        self.executor = executor
        self.ray = executor.ray
        self.on_event = on_event
        self.worker_lost, self.RayError = _ray_errors()
        self.datasets: dict[tuple, Any] = {}   # data key -> ObjectRef, or the loading error
        self.queue = list(reversed(trials))    # pop() from the end keeps the trial order
        self.attempts: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.deadline: dict[Any, float] = {}
        self.running: dict[Any, Trial] = {}

    def fill(self) -> Iterator[TrialResult]:
        """Submit trials while fewer than ``workers`` are in flight."""
        ex = self.executor
        while self.queue and len(self.running) < ex.workers:
            # one BLAS thread per reserved CPU unless the config says otherwise
            trial = with_threads(self.queue.pop(), ex.cpus_per_trial)
            self.attempts[trial.name] = self.attempts.get(trial.name, 0) + 1
            self.started.setdefault(trial.name, time.perf_counter())
            data = ex._dataset_ref(trial, self.datasets)
            if isinstance(data, Exception):
                yield TrialResult(trial.name, "failed", error=one_line(data),
                                  traceback="".join(traceback.format_exception(data)),
                                  attempts=self.attempts[trial.name])
                continue
            ref = ex._task.options(**ex._options(trial)).remote(
                trial, data, ex._resume_files(trial), ex.cpus_per_trial)
            self.running[ref] = trial
            if ex.trial_timeout is not None:
                self.deadline[ref] = time.monotonic() + ex.trial_timeout
            notify(self.on_event, TrialEvent("started", trial))

    def wait(self) -> Iterator[TrialResult]:
        """Wait for one task to end, or for a trial's time to run out."""
        timeout = None
        if self.deadline:
            timeout = max(0.0, min(self.deadline.values()) - time.monotonic())
        done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        for ref in done:
            self.deadline.pop(ref, None)
            result = self._collect(ref, self.running.pop(ref))
            if result is not None:
                yield result
        now = time.monotonic()
        for ref in [r for r, t in self.deadline.items() if t <= now]:
            del self.deadline[ref]
            trial = self.running.pop(ref)
            self.cancel(ref)
            yield TrialResult(trial.name, "failed", attempts=self.attempts[trial.name],
                              error=timeout_error(self.executor.trial_timeout,
                                                  resumes=False),
                              seconds=time.perf_counter() - self.started[trial.name])

    def cancel(self, ref: Any) -> None:
        try:
            self.ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001, S110 - best effort while stopping
            pass

    def _collect(self, ref: Any, trial: Trial) -> TrialResult | None:
        """The finished task's result; None when its trial was queued again."""
        elapsed = time.perf_counter() - self.started[trial.name]
        attempts = self.attempts[trial.name]
        try:
            result = self.ray.get(ref)
        except self.worker_lost as exc:
            if attempts <= self.executor.retries:
                notify(self.on_event, TrialEvent(
                    "retry", trial,
                    f"its Ray worker died ({type(exc).__name__}); starting it again"))
                self.queue.append(trial)
                return None
            result = TrialResult(
                trial.name, "failed", seconds=elapsed, traceback=str(exc),
                error=f"WorkerDied: the Ray worker running this trial died {attempts} "
                      f"time(s) ({type(exc).__name__}: {_first_line(exc)})")
        except self.RayError as exc:
            # raised by the task's own code or while setting it up (a missing
            # module, a bad runtime environment): retrying would fail the same way
            result = TrialResult(trial.name, "failed", error=_ray_error(exc),
                                 traceback=str(exc), seconds=elapsed)
        result.attempts = attempts
        return result


def _ray_errors():
    """``(worker_lost, RayError)``: the errors that mean the process running a trial
    (or its node, or the data it held) is gone -- the trial itself did nothing
    wrong, so it is started again -- and Ray's base error."""
    from ray.exceptions import (
        LocalRayletDiedError,
        NodeDiedError,
        ObjectLostError,
        OutOfMemoryError,
        RayError,
        WorkerCrashedError,
    )

    return (WorkerCrashedError, NodeDiedError, OutOfMemoryError, LocalRayletDiedError,
            ObjectLostError), RayError


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:200] if lines else "(no message)"


def _ray_error(exc: BaseException) -> str:
    """One line for an error raised inside a Ray task (or while setting it up)."""
    cause = getattr(exc, "cause", None)
    text = one_line(cause) if isinstance(cause, BaseException) else \
        f"{type(exc).__name__}: {_first_line(exc)}"
    if "No module named 'backproplab'" in str(exc):
        text += " (install backproplab on every node of the Ray cluster)"
    return text


__all__ = ["RayExecutor", "data_key"]
