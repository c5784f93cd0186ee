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
anything: an unreachable address fails within about ``connect_timeout``
seconds (a TCP check of the address first, then Ray's own connection in a
thread with a deadline) with a :class:`BackproplabError` naming the address.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json
from backproplab.runs import SUMMARY, TRIAL_RECORD_FILES, read_run_files, write_run_files
from backproplab.sweeps.executors import (
    THREAD_ENV_VARS,
    EventCallback,
    Executor,
    Trial,
    TrialEvent,
    TrialResult,
    default_workers,
    execute_trial,
    notify,
    one_line,
    with_threads,
)
from backproplab.training import TrainConfig, load_run_dataset

#: How to install the optional dependency.
INSTALL_HINT = 'pip install "backproplab[ray]"'
#: The variable Ray itself reads for a cluster address.
ADDRESS_ENV = "RAY_ADDRESS"
#: Ray's switch for token authentication; with an explicit address Ray only
#: sends a token when it is ``token`` (Ray's choice: we do not change it).
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Seconds allowed for connecting to a cluster (overrides ``connect_timeout``).
CONNECT_TIMEOUT_ENV = "BACKPROPLAB_RAY_CONNECT_TIMEOUT"
#: Default seconds for Ray's connection to a cluster whose port answered.
DEFAULT_CONNECT_TIMEOUT = 20.0
#: Seconds for the TCP check of a cluster address.
PORT_CHECK_TIMEOUT = 5.0
#: Ports Ray listens on when an address names none: the GCS, and the Ray client.
DEFAULT_GCS_PORT = 6379
DEFAULT_CLIENT_PORT = 10001
#: Training options that decide which data a trial trains on: trials that agree
#: on all of them share one dataset object in the object store.
DATA_OPTIONS = ("dataset", "data_dir", "final", "val_size", "limit", "normalize", "dtype",
                "data_seed", "target", "val_fraction", "test")


def import_ray():
    """The ``ray`` module, or a :class:`BackproplabError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BackproplabError(
            f"the ray executor needs Ray, which is not installed; install it with "
            f"{INSTALL_HINT} or use --executor local") from None
    return ray


def executor_options(executor: str, ray_address: str | None) -> dict[str, Any]:
    """``make_executor`` keyword options from the commands' ``--executor`` and
    ``--ray-address``; ``--ray-address`` without ``--executor ray`` is an error."""
    if ray_address is not None and executor != "ray":
        raise BackproplabError(
            f"--ray-address needs --executor ray (got --executor {executor}); add "
            "--executor ray or drop --ray-address")
    return {"address": ray_address} if ray_address is not None else {}


# ---------------------------------------------------------------------------
# addresses and connecting


def resolve_address(address: str | None) -> str | None:
    """The cluster address to use: ``address``, else ``$RAY_ADDRESS``, else
    ``None`` (start a local instance). ``"local"`` also means a local instance."""
    if address is None:
        address = os.environ.get(ADDRESS_ENV)
    address = (address or "").strip()
    if not address or address == "local":
        return None
    return address


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port``, ``[ipv6]:port`` or ``ray://host:port``
    address (Ray's default ports when it names none); ``None`` for ``"auto"``,
    which Ray resolves itself. A malformed port is a :class:`BackproplabError`."""
    if address == "auto":
        return None
    scheme = address.split("://", 1)[0] if "://" in address else None
    if scheme is not None and scheme != "ray":
        raise BackproplabError(
            f"the Ray address {address!r} starts with {scheme}://, which Ray cannot connect a "
            "driver to (the dashboard's http:// address is for job submission); give the "
            "head node as HOST:6379 or ray://HOST:10001")
    client = address.startswith("ray://")
    rest = address[len("ray://"):] if client else address
    rest = rest.split("/", 1)[0]
    default = DEFAULT_CLIENT_PORT if client else DEFAULT_GCS_PORT
    if rest.startswith("["):  # [ipv6]:port
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, ""
    if not host:
        raise BackproplabError(
            f"the Ray address {address!r} names no host; give one like 10.0.0.5:6379")
    if not port_text:
        return host, default
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise BackproplabError(
            f"the Ray address {address!r} has a bad port {port_text!r}; give one like "
            "10.0.0.5:6379")
    return host, port


def check_reachable(address: str, timeout: float = PORT_CHECK_TIMEOUT) -> None:
    """Raise :class:`BackproplabError` unless a TCP connection to ``address``'s
    port opens within ``timeout`` seconds (Ray itself would retry for minutes)."""
    target = split_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BackproplabError(
            f"cannot reach the Ray cluster at {address} ({reason}); check --ray-address "
            f"(or {ADDRESS_ENV}) and that the cluster runs (`ray start --head` on its "
            "head node)") from None


def preflight(address: str | None) -> None:
    """Fail fast, before a command writes anything, when Ray is missing or the
    cluster address (``address``, else ``$RAY_ADDRESS``) does not answer; the
    executor itself connects later. Nothing to check for a local instance."""
    import_ray()
    target = resolve_address(address)
    if target is not None:
        check_reachable(target)


def _connect_with_deadline(ray, address: str, timeout: float, init_options: dict) -> None:
    """``ray.init(address)`` in a helper thread, given up after ``timeout`` s."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            ray.init(address=address, **init_options)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    # Ray warns that it cannot install its SIGTERM handler from a helper thread;
    # the driver does not need it (an interrupted sweep resumes on its next run)
    worker_log = logging.getLogger("ray._private.worker")
    quiet = _DropMessage("SIGTERM handler is not set")
    worker_log.addFilter(quiet)
    thread = threading.Thread(target=target, name="backproplab-ray-connect", daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    finally:
        worker_log.removeFilter(quiet)
    if thread.is_alive():
        auth = "" if os.environ.get(AUTH_MODE_ENV, "").lower() == "token" else (
            f"; if the cluster uses token authentication (the default of `ray start`), set "
            f"{AUTH_MODE_ENV}=token and give its token (~/.ray/auth_token or RAY_AUTH_TOKEN)")
        raise BackproplabError(
            f"cannot reach the Ray cluster at {address}: no answer within {timeout:g} s "
            f"although its port is open (is it a Ray head node, with the same Ray version?); "
            f"check --ray-address (or {ADDRESS_ENV}){auth}")
    if "error" in box:
        exc = box["error"]
        text = " ".join(str(exc).split())[:300].rstrip(".") or type(exc).__name__
        raise BackproplabError(
            f"cannot connect to the Ray cluster at {address}: {text}; check --ray-address "
            f"(or {ADDRESS_ENV}) and that driver and cluster run the same Ray version")


class _DropMessage(logging.Filter):
    """A logging filter that drops records starting with ``prefix``."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefix)


def _connect_timeout(value: float | None) -> float:
    text = os.environ.get(CONNECT_TIMEOUT_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            raise BackproplabError(
                f"{CONNECT_TIMEOUT_ENV}={text!r} is not a number of seconds; "
                "give one like 20") from None
    value = DEFAULT_CONNECT_TIMEOUT if value is None else float(value)
    if not value > 0:
        raise BackproplabError(f"the Ray connect timeout must be positive, got {value:g}")
    return value


# ---------------------------------------------------------------------------
# the task (runs in a Ray worker process)


def data_key(config: Mapping[str, Any]) -> tuple:
    """What decides a trial's data: the data options of its resolved config."""
    resolved = TrainConfig.from_dict(dict(config)).resolved().to_dict()
    return tuple((name, repr(resolved.get(name))) for name in DATA_OPTIONS)


def run_trial_task(trial: Trial, dataset: Any, resume_files: dict[str, bytes] | None,
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
        summary_path = run_dir / SUMMARY
        if result.summary is not None and summary_path.is_file():
            # the summary names the folder the run ends up in, not this scratch folder
            result.summary["run_dir"] = trial.out_dir
            atomic_write_json(summary_path, result.summary)
        result.files = read_run_files(run_dir) if run_dir.is_dir() else None
    return result


# ---------------------------------------------------------------------------
# the executor


class RayExecutor(Executor):
    """Runs trials as Ray tasks (see the module docstring).

    ``workers``: trials in flight at a time (default: the cluster's CPUs divided
    by ``cpus_per_trial``; for a local instance, this machine's cores).
    ``address``: the cluster (``host:port``, ``ray://host:port``, ``auto``);
    default ``$RAY_ADDRESS``, else a local instance. In a process where Ray is
    already initialized, that connection is used. ``cpus_per_trial`` is both
    the CPUs each task reserves and its BLAS thread count; ``gpus_per_trial`` is
    reserved by trials whose config has ``device="gpu"``. ``retries``: how
    many times a trial whose worker died is started again. ``env``: extra
    environment variables for the workers. ``connect_timeout``: seconds to wait
    for the cluster (also ``$BACKPROPLAB_RAY_CONNECT_TIMEOUT``).

    Building the executor connects (or starts the local instance); :meth:`close`
    disconnects (and stops an instance it started).
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 cpus_per_trial: int = 1, gpus_per_trial: float = 1, retries: int = 2,
                 env: Mapping[str, str] | None = None, connect_timeout: float | None = None):
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
        self.ray = import_ray()
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.retries = retries
        self.env = {var: str(cpus_per_trial) for var in THREAD_ENV_VARS}
        self.env.update({str(k): str(v) for k, v in (env or {}).items()})
        #: the data keys put into the object store by the last :meth:`run`
        self.datasets_put: list[tuple] = []
        self._owns_connection = False
        self.started_local = False
        self.address = self._connect(address, workers, connect_timeout)
        if workers is None:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // cpus_per_trial)
        self.workers = workers
        self._task = self.ray.remote(run_trial_task)

    # -- connection --------------------------------------------------------

    def _connect(self, address: str | None, workers: int | None,
                 connect_timeout: float | None) -> str:
        """Connect to (or start) the cluster; returns a description of it."""
        ray = self.ray
        if ray.is_initialized():
            if address is not None and resolve_address(address) is not None:
                raise BackproplabError(
                    f"Ray is already initialized in this process, so the address "
                    f"{address} cannot be used; leave the address out to use that "
                    "connection, or call ray.shutdown() first")
            return "the Ray instance this process is connected to"
        options = {"include_dashboard": False, "log_to_driver": False,
                   "logging_level": "warning"}
        target = resolve_address(address)
        if target is None:
            cpus = (workers or default_workers()) * self.cpus_per_trial
            # Ray's notice that the instance it starts uses a token (nothing to act
            # on here: this process started it and holds the token)
            auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")
            quiet = _DropMessage("Token authentication is enabled")
            auth_log.addFilter(quiet)
            try:
                ray.init(address="local", num_cpus=cpus, **options)
            except Exception as exc:  # noqa: BLE001 - any failure to start is the user's to fix
                text = " ".join(str(exc).split())[:300]
                raise BackproplabError(
                    f"could not start a local Ray instance: {text}; check the Ray "
                    "installation or give a running cluster with --ray-address") from None
            finally:
                auth_log.removeFilter(quiet)
            self._owns_connection = self.started_local = True
            return f"a local Ray instance with {cpus} CPU(s)"
        timeout = _connect_timeout(connect_timeout)
        check_reachable(target, min(PORT_CHECK_TIMEOUT, timeout))
        _connect_with_deadline(ray, target, timeout, options)
        self._owns_connection = True
        return f"the Ray cluster at {target}"

    def close(self) -> None:
        """Disconnect from the cluster (stopping a local instance this executor
        started); a connection made before the executor is left open."""
        if self._owns_connection and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns_connection = False

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
        ray = self.ray
        worker_lost, RayError = _ray_errors()

        self._check_gpus(trials)
        datasets: dict[tuple, Any] = {}   # data key -> ObjectRef, or the loading error
        self.datasets_put = []
        queue = list(reversed(trials))    # pop() from the end keeps the trial order
        attempts: dict[str, int] = {}
        started: dict[str, float] = {}
        running: dict[Any, Trial] = {}
        clean_exit = False

        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    # one BLAS thread per reserved CPU unless the config says otherwise
                    trial = with_threads(queue.pop(), self.cpus_per_trial)
                    attempts[trial.name] = attempts.get(trial.name, 0) + 1
                    started.setdefault(trial.name, time.perf_counter())
                    data = self._dataset_ref(trial, datasets)
                    if isinstance(data, Exception):
                        yield TrialResult(
                            trial.name, "failed", error=one_line(data),
                            traceback="".join(traceback.format_exception(data)),
                            attempts=attempts[trial.name])
                        continue
                    ref = self._task.options(**self._options(trial)).remote(
                        trial, data, self._resume_files(trial), self.cpus_per_trial)
                    running[ref] = trial
                    notify(on_event, TrialEvent("started", trial))
                if not running:
                    continue
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    trial = running.pop(ref)
                    elapsed = time.perf_counter() - started[trial.name]
                    try:
                        result = ray.get(ref)
                    except worker_lost as exc:
                        if attempts[trial.name] <= self.retries:
                            notify(on_event, TrialEvent(
                                "retry", trial,
                                f"its Ray worker died ({type(exc).__name__}); starting it "
                                "again"))
                            queue.append(trial)
                            continue
                        result = TrialResult(
                            trial.name, "failed", seconds=elapsed, traceback=str(exc),
                            error=f"WorkerDied: the Ray worker running this trial died "
                                  f"{attempts[trial.name]} time(s) ({type(exc).__name__}: "
                                  f"{_first_line(exc)})")
                    except RayError as exc:
                        # raised by the task's own code or while setting it up (a
                        # missing module, a bad runtime environment): retrying would
                        # fail the same way
                        result = TrialResult(trial.name, "failed", error=_ray_error(exc),
                                             traceback=str(exc), seconds=elapsed)
                    result.attempts = attempts[trial.name]
                    yield result
            clean_exit = True
        finally:
            if not clean_exit:  # interrupted: stop the trials still running
                for ref in running:
                    try:
                        ray.cancel(ref, force=True)
                    except Exception:  # noqa: BLE001, S110 - best effort while stopping
                        pass
            datasets.clear()  # drop the references: the object store may free them


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


__all__ = [
    "ADDRESS_ENV", "CONNECT_TIMEOUT_ENV", "INSTALL_HINT", "RayExecutor", "check_reachable",
    "data_key", "executor_options", "import_ray", "preflight", "resolve_address", "run_trial_task", "split_address",
]
