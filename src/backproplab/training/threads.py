"""How many BLAS threads a run uses when none is asked for: what the machine can give.

A run's default ``threads`` is decided once, when the run starts, from three
facts about the machine (:class:`MachineFacts`) and the size of one step:

- the CPUs this process may run on (its affinity mask: ``taskset``, cpusets);
- the cgroup CPU quota (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``), rounded down to whole CPUs: a container limited to
  1.5 CPUs gets one thread, not the host's 64;
- the cores other processes keep busy right now: a 50 ms sample of
  ``/proc/stat`` over this process's CPUs, minus this process's own CPU time.
  A core counts as taken when others use at least half of it.

BLAS threads that wait for a descheduled partner stall every step: with one
of two cores busy elsewhere, two threads made an epoch 3-20x slower and one
thread was barely affected (docs/performance.md). So the default never plans
on a core someone else is using.

The last rule is about the step: a second thread costs a synchronisation per
product, which small products do not repay. Measured on this project's 2-core
machine (784-h-10 sigmoid MLP, float32, 8,192 examples, best of 3, 2 threads
over 1 thread): hidden 100: 1.40 at batch 16, 1.09 at 32, 0.96 at 64, 0.82 at
128; hidden 300: 1.02 at 16, 0.86 at 32, 0.73 at 64; hidden 1000: 0.78 at 8.
The crossover sits between about 4 and 5 million multiply-adds per step
(batch rows x the sum of fan-in x fan-out over the layers), so a step of fewer
than :data:`SECOND_THREAD_MIN_WORK` uses one thread (the study's 784-300-10
network: batch 16 -> one thread, batch 32 and up -> all free cores).
``benchmarks/thread_crossover.py`` measures it again on any machine.

Threads and results: with OpenBLAS 0.3.31 they are *not* bit-identical. With
its SkylakeX kernels a product whose shared dimension exceeds the kernel's
block (the 784 inputs of the study's first layer) is summed in other blocks
with 2 threads than with 1; with its Haswell kernels every product is, and even
a product's rows depend on how many rows it has. The weights then differ at
float32 rounding (after two epochs of the test run, by less than 1e-5). So a
run is reproducible with its own thread count: ``config.json`` records the
threads used, a replay (``--config``) and ``--resume`` take them from there,
and the fingerprint tests (tests/test_same_results.py) pin ``--threads 1``
(tests/training/test_threads.py checks all of this). Runs with ``gemm='mkl'`` do
not depend on the threads: MKL computes with conditional numerical
reproducibility ``AUTO | STRICT`` (:mod:`backproplab.tensor.blas_libs`).
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from threadpoolctl import threadpool_limits

from backproplab.data.catalog import CATALOG
from backproplab.tensor.blas import use_gemm
from backproplab.tensor.kernels import use_kernels

#: Multiply-adds per step below which a second BLAS thread gains nothing (see above).
SECOND_THREAD_MIN_WORK = 5_000_000
#: The most threads a run may ask for (thread pools take a C ``int``; no machine has more).
MAX_THREADS = 1024
#: Seconds of ``/proc/stat`` sampled for other processes' load.
LOAD_SAMPLE_SECONDS = 0.05
#: A core counts as taken when other processes use at least this share of it.
TAKEN_CORE_SHARE = 0.5
#: Facts younger than this are reused (a sweep resolves many configs at once).
FACTS_MAX_AGE = 2.0

_load_cache: tuple[float, float | None] | None = None


@dataclass(frozen=True)
class MachineFacts:
    """What the machine can give a run now.

    Attributes
    ----------
    affinity : int
        CPUs this process may run on.
    quota : float or None
        The cgroup CPU quota in CPUs (``None``: no quota).
    others_busy : float or None
        Cores' worth of CPU time other processes used on those CPUs during the
        sample (``None``: unknown, e.g. off Linux).
    """

    affinity: int
    quota: float | None = None
    others_busy: float | None = None

    def to_dict(self) -> dict:
        """The facts as a JSON-safe dict."""
        return {"affinity": self.affinity, "quota": self.quota, "others_busy": self.others_busy}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where
    the OS has none).

    Returns
    -------
    int
        At least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _affinity_set() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_quota(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup, in CPUs, or ``None`` where there is none.

    Reads cgroup v2's ``cpu.max`` (``"max 100000"``: none; ``"150000 100000"``:
    1.5 CPUs), else cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
    (quota -1: none) under ``cpu/`` or ``cpu,cpuacct/``. Inside a container the
    cgroup namespace puts the container's own files at ``root``.

    Parameters
    ----------
    root : str or Path
        The cgroup file system's mount point.

    Returns
    -------
    float or None
    """
    root = Path(root)
    text = _read(root / "cpu.max")
    if text is not None:
        parts = text.split()
        try:
            return None if parts[0] == "max" else int(parts[0]) / int(parts[1])
        except (IndexError, ValueError, ZeroDivisionError):
            return None
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota, period = _read(root / sub / "cpu.cfs_quota_us"), _read(root / sub / "cpu.cfs_period_us")
        if quota is None or period is None:
            continue
        try:
            q, p = int(quota), int(period)
        except ValueError:
            return None
        return q / p if q > 0 and p > 0 else None
    return None


def cpu_jiffies(cpus: set[int] | None = None, stat: str = "/proc/stat") -> tuple[int, int, int] | None:
    """``(busy, total, steal)`` jiffies from ``/proc/stat``: of all CPUs, or of the CPUs
    numbered in ``cpus``; ``None`` off Linux.

    Parameters
    ----------
    cpus : set of int, optional
        Sum only these CPUs' lines (default: the machine's ``cpu`` line).
    stat : str
        The file to read.

    Returns
    -------
    tuple of int or None
    """
    try:
        with open(stat) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    busy = total = steal = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if cpus is None and name != "cpu":
            continue
        if cpus is not None and not (name[3:].isdigit() and name.startswith("cpu")
                                     and int(name[3:]) in cpus):
            continue
        try:
            fields = [int(v) for v in rest.split()]
        except ValueError:
            return None
        user, nice, system, idle, iowait, irq, softirq, st = (fields + [0] * 8)[:8]
        all_ = user + nice + system + idle + iowait + irq + softirq + st
        busy, total, steal = busy + all_ - idle - iowait, total + all_, steal + st
    return (busy, total, steal) if total else None


def own_cpu_seconds() -> float:
    """CPU seconds this process (every thread) has used.

    Returns
    -------
    float
        User and system time, from ``getrusage(RUSAGE_SELF)``.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def others_busy_cores(seconds: float = LOAD_SAMPLE_SECONDS,
                      cpus: set[int] | None = None) -> float | None:
    """Cores' worth of CPU time that *other* processes used on ``cpus`` (default: this
    process's CPUs) over a sample of ``seconds``; ``None`` where it cannot be read.

    Parameters
    ----------
    seconds : float
        Length of the sample (this process sleeps meanwhile).
    cpus : set of int, optional

    Returns
    -------
    float or None
        Between 0 and the number of CPUs sampled.
    """
    cpus = _affinity_set() if cpus is None else cpus
    start, own = cpu_jiffies(cpus), own_cpu_seconds()
    time.sleep(seconds)
    end, own_end = cpu_jiffies(cpus), own_cpu_seconds()
    if start is None or end is None or end[1] <= start[1]:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    n_cpus = len(cpus) if cpus else (os.cpu_count() or 1)
    busy = end[0] - start[0] - (own_end - own) * hz
    return round(min(n_cpus, max(0.0, busy / (end[1] - start[1]) * n_cpus)), 2)


def machine_facts(sample_seconds: float = LOAD_SAMPLE_SECONDS,
                  max_age: float | None = None) -> MachineFacts:
    """What the machine can give now: usable CPUs, cgroup quota, others' load.

    A load sample taken less than ``max_age`` seconds ago is reused (the CPUs
    and the quota are read every time: they cost microseconds).

    Parameters
    ----------
    sample_seconds : float
        Length of the load sample.
    max_age : float, optional
        Seconds an earlier sample stays good (``0``: sample now); default
        :data:`FACTS_MAX_AGE`, read at the call.

    Returns
    -------
    MachineFacts
    """
    global _load_cache
    max_age = FACTS_MAX_AGE if max_age is None else max_age
    if _load_cache is None or time.monotonic() - _load_cache[0] >= max_age:
        _load_cache = (time.monotonic(), others_busy_cores(sample_seconds))
    return MachineFacts(usable_cpus(), cgroup_cpu_quota(), _load_cache[1])


def step_work(sizes, batch_rows: int) -> int:
    """Multiply-adds of one step's forward products.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths: input, hidden..., output.
    batch_rows : int
        Examples per step.

    Returns
    -------
    int
        ``batch_rows`` x the sum of fan-in x fan-out over the layers.

    Example
    -------
    >>> step_work((784, 300, 10), 16)
    3811200
    """
    return batch_rows * sum(a * b for a, b in itertools.pairwise(sizes))


def network_step_work(dataset: str, hidden, batch_size: int | str, limit: int | None) -> int:
    """:func:`step_work` of a run on a dataset of the project.

    Parameters
    ----------
    dataset : str
        A dataset name: its shape comes from the catalog (the synthetic set
        has 2 features, 2 classes and 60,000 points). A user's file (any other
        name) is not read here: its step counts as large enough to share, so
        the small-step rule never holds back its threads.
    hidden : sequence of int
        Hidden layer widths.
    batch_size : int or "full"
    limit : int or None
        Training examples kept (``None``: all).

    Returns
    -------
    int
    """
    spec = CATALOG.get(dataset)
    if spec is None and dataset != "synth":  # a user's file: shape unknown before it is read
        return SECOND_THREAD_MIN_WORK
    n_in, n_out = (math.prod(spec.files[0].shape[1:]), spec.n_classes) if spec else (2, 2)
    rows = limit or (spec.files[0].shape[0] if spec else 60_000)
    batch = rows if batch_size == "full" else min(int(batch_size), rows)
    return step_work((n_in, *hidden, n_out), batch)


def free_cores(facts: MachineFacts) -> tuple[int, str]:
    """The cores a run may plan on: usable CPUs, capped by the quota, less the cores
    others keep busy (at least 1); and why, in words.

    Parameters
    ----------
    facts : MachineFacts

    Returns
    -------
    (int, str)
    """
    cores, why = facts.affinity, f"{facts.affinity} usable CPU{'s' if facts.affinity != 1 else ''}"
    if facts.quota is not None and facts.quota < cores:
        cores = max(1, math.floor(facts.quota))
        why += f", a cgroup quota of {facts.quota:g} CPUs"
    if facts.others_busy is not None:
        taken = math.floor(facts.others_busy + 1 - TAKEN_CORE_SHARE)
        if taken > 0:
            cores = max(1, cores - taken)
            why += f", {facts.others_busy:g} busy with other processes"
    return cores, why


def choose_threads(facts: MachineFacts, work_per_step: int | None = None) -> tuple[int, str]:
    """The default thread count for these machine facts and this step size, and why.

    Parameters
    ----------
    facts : MachineFacts
        Usable CPUs, quota, other processes' load.
    work_per_step : int, optional
        Multiply-adds per step (:func:`step_work`); ``None``: unknown (no
        small-step rule).

    Returns
    -------
    (int, str)
        Threads (at least 1) and a short reason.

    Example
    -------
    >>> choose_threads(MachineFacts(affinity=2, quota=None, others_busy=1.0))
    (1, '2 usable CPUs, 1 busy with other processes')
    >>> choose_threads(MachineFacts(affinity=2), work_per_step=16 * 238_200)[0]
    1
    """
    cores, why = free_cores(facts)
    if cores > 1 and work_per_step is not None and work_per_step < SECOND_THREAD_MIN_WORK:
        return 1, (f"{why}; steps of {work_per_step / 1e6:.1f} M multiply-adds are too small "
                   "for a second thread")
    return cores, why


def split_cores(trials: int, cores: int, work_per_step: int | None = None,
                workers: int | None = None) -> tuple[int, int]:
    """How a sweep of ``trials`` shares ``cores`` free cores: ``(workers, threads)``.

    Trials side by side scale with the cores; BLAS threads do not (a second
    thread made an epoch at most 1.4x faster here, see the module docstring),
    so two 1-thread trials on 2 cores finish more trials per hour than one
    2-thread trial (``benchmarks/sweep_split.py`` measures both). So: one
    worker per core, at most one per trial; cores left over when there are
    fewer trials than cores become threads, unless the steps are too small
    for a second thread.

    Parameters
    ----------
    trials : int
        Trials to run.
    cores : int
        Free cores (:func:`free_cores`).
    work_per_step : int, optional
        The smallest step of the trials, in multiply-adds (:func:`step_work`).
    workers : int, optional
        Workers asked for (then only the threads are chosen).

    Returns
    -------
    (int, int)

    Example
    -------
    >>> split_cores(10, 2)
    (2, 1)
    >>> split_cores(1, 2, work_per_step=128 * 238_200)
    (1, 2)
    """
    if workers is None:
        workers = max(1, min(cores, trials))
    threads = max(1, cores // workers)
    if work_per_step is not None and work_per_step < SECOND_THREAD_MIN_WORK:
        threads = 1
    return workers, threads


@contextmanager
def computing(threads: int | None, gemm: str | None, kernels: str | None = None):
    """A run's libraries for its duration: ``threads`` threads in every pool, products by
    ``gemm``, the step's elementwise work by ``kernels``.

    Parameters
    ----------
    threads : int or None
        The run's ``threads`` (``None``: pools as they are).
    gemm : str or None
        The run's GEMM library (:data:`backproplab.tensor.blas.GEMMS`); ``None``
        keeps the current selection (runs without products on the CPU).
    kernels : str or None, default None
        The run's kernels (:data:`backproplab.tensor.kernels.KERNELS`); ``None``
        keeps the current selection.

    Yields
    ------
    None

    Raises
    ------
    BackproplabError
        When ``gemm`` or ``kernels`` is not available here (one sentence naming the fix).
    """
    with use_gemm(gemm, threads=threads), use_kernels(kernels), \
            threadpool_limits(limits=threads):
        yield


__all__ = ["FACTS_MAX_AGE", "LOAD_SAMPLE_SECONDS", "MAX_THREADS", "SECOND_THREAD_MIN_WORK",
           "MachineFacts", "cgroup_cpu_quota", "choose_threads", "computing", "cpu_jiffies", "free_cores",
           "machine_facts", "network_step_work", "others_busy_cores", "own_cpu_seconds", "split_cores", "step_work",
           "usable_cpus"]
