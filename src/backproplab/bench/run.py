"""The benchmark run: every peer at every batch size, each in its own process, timed in turns.

For every batch size each peer (an implementation at a thread count, see
:mod:`~backproplab.bench.peers`) starts in a fresh process and is warmed up;
then the peers are timed *in turns* (epoch 1 of each, epoch 2 of each, ...), so
that a change in the machine's load hits all of them alike. A timed epoch
during which other processes used more than
:data:`~backproplab.bench.probes.LOAD_FLAG` of the CPUs is run again, up to
``retries`` times. With ``load=N``, N busy processes run throughout (the
busy-machine target); epochs are then not retried.

``train``'s default thread count (and so the bare loop's) is decided once, in
this process, from one load sample taken before any row runs (with ``load``,
while the busy processes run), and passed to every ``train`` row as a number:
see :func:`default_threads` and :mod:`~backproplab.bench.peers`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from backproplab.bench.memory import judge_memory, measure_memory
from backproplab.bench.peers import Peer, PeerProcess, peer_settings, settle, train_config
from backproplab.bench.probes import (
    LOAD_FLAG,
    BusyLoad,
    LoadProbe,
    MatmulPeak,
    is_loaded,
    library_versions,
    loadavg,
    machine_info,
    wait_for_quiet,
)
from backproplab.bench.report import compute_ratios, default_threads_line, judge_targets
from backproplab.bench.runners import available_impls
from backproplab.bench.workload import (
    ACTIVATION,
    DEFAULT_BATCH_SIZES,
    DEFAULT_EPOCHS,
    DEFAULT_IMPLS,
    DEFAULT_LR,
    DEFAULT_MEMORY_BATCH_SIZES,
    DEFAULT_RETRIES,
    DEFAULT_WARMUP,
    QUICK_ROWS,
    RESULT_FORMAT,
    RESULT_VERSION,
    SIZES,
    batch_rows,
    flops_per_epoch,
    load_data,
    parse_batch_sizes,
    parse_impls,
)
from backproplab.errors import BackproplabError
from backproplab.tensor.backend import get_array_module
from backproplab.tensor.blas import default_gemm
from backproplab.tensor.kernels import default_kernels
from backproplab.training.config import config_step_work
from backproplab.training.threads import (
    MAX_THREADS,
    MachineFacts,
    choose_threads,
    free_cores,
    machine_facts,
    usable_cpus,
)

#: The fixed part of a result's ``config``: the network and the optimizer.
_WORKLOAD = {"sizes": list(SIZES), "activation": ACTIVATION, "optimizer": "sgd",
             "momentum": 0.0, "weight_decay": 0.0, "dtype": "float32"}
#: Side of the matmul-peak product by (device, quick).
_PEAK_SIZES = {("cpu", False): 2048, ("cpu", True): 256, ("gpu", False): 8192,
               ("gpu", True): 1024}


@dataclass
class _Timing:
    """How epochs are timed, and the seconds spent waiting for a quiet machine."""

    epochs: int
    warmup: int
    retries: int
    wait_quiet: float
    say: Callable[[str], None]
    waited: float = 0.0


def plan_peers(impls: list[str], device: str, threads: int | None, load: int,
               cores: int) -> list[Peer]:
    """The rows to time: each implementation at its thread counts.

    ``train`` runs with its default threads (or ``threads``); under a
    ``load`` it also runs at 1 and 2 threads (the busy-machine target).
    ``backproplab`` (the bare loop) uses the same: ``threads=None`` in the plan,
    resolved per batch size by :func:`default_threads` before the peers start.
    PyTorch on the CPU runs at 1 and at 2 threads (its best is the reference),
    unless ``threads`` forces one count. The others use ``threads`` or every core.

    Parameters
    ----------
    impls : list of str
        Implementation names (:data:`~backproplab.bench.workload.IMPLS`).
    device : {"cpu", "gpu"}
    threads : int or None
        ``--threads``: one count for everything.
    load : int
        Busy processes running meanwhile.
    cores : int
        Usable CPUs.

    Returns
    -------
    list of Peer
    """
    out = []
    for impl in impls:
        if impl == "train":
            out.append(Peer("train", "train", threads))
            if not load and device == "cpu" and default_gemm() == "mkl":
                out.append(Peer("train-openblas", "train", threads, gemm="openblas"))
            if not load and device == "cpu" and default_kernels() == "numba":
                out.append(Peer("train-numpy-kernels", "train", threads, kernels="numpy"))
            if load and threads is None and device == "cpu":
                out += [Peer(f"train-{n}t", "train", n) for n in (1, 2)]
        elif impl == "backproplab":
            out.append(Peer(impl, impl, threads))
        elif impl == "torch" and threads is None and device == "cpu":
            out += [Peer(f"torch-{n}t", "torch", n) for n in (1, 2) if n == 1 or cores >= 2]
        else:
            out.append(Peer(impl, impl, threads or cores))
    return out


def default_threads(facts: MachineFacts, batch_sizes: list[str], settings: dict) -> dict:
    """``train``'s default thread count at each batch size, for one set of machine facts.

    The rule is ``train``'s own (:func:`~backproplab.training.threads.choose_threads`
    on the step of :func:`~backproplab.bench.peers.train_config`); the facts are
    sampled once, before any row runs, so that no row's thread pools (nor the
    matmul-peak product) count as other processes' load.

    Parameters
    ----------
    facts : MachineFacts
        Usable CPUs, quota and other processes' load.
    batch_sizes : list of str
        The batch sizes to time.
    settings : dict
        As :func:`~backproplab.bench.peers.peer_settings` gives them.

    Returns
    -------
    dict
        ``machine`` (the facts), ``free_cores`` and ``why`` (the cores a run may
        plan on, and why), ``by_batch_size`` (batch size -> threads).
    """
    cores, why = free_cores(facts)
    by_bs = {}
    for bs in batch_sizes:
        work = config_step_work(train_config({**settings, "batch_size": bs}, None))
        by_bs[bs] = choose_threads(facts, work)[0]
    return {"machine": facts.to_dict(), "free_cores": cores, "why": why, "by_batch_size": by_bs}


def _resolve(peers: list[Peer], chosen: int | None) -> list[Peer]:
    """The peers with ``train``'s default (``threads=None``) replaced by ``chosen``."""
    return [replace(p, threads=chosen, default=True) if p.threads is None else p
            for p in peers]


def _check_options(epochs, warmup, retries, threads, load, device) -> None:
    for name, value, minimum in (("--epochs", epochs, 1), ("--warmup", warmup, 0),
                                 ("--retries", retries, 0), ("--threads", threads or 1, 1),
                                 ("--load", load, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}")
    for name, value in (("--threads", threads or 1), ("--load", load)):
        if value > MAX_THREADS:
            raise BackproplabError(f"{name} must be at most {MAX_THREADS}, got {value}; "
                                   "give the cores you have")
    if device not in ("cpu", "gpu"):
        raise BackproplabError(f"unknown device {device!r}; choose cpu or gpu")
    if device == "gpu":
        get_array_module("gpu")  # a clear error where CuPy is missing


def _runnable(impls: list[str], device: str) -> tuple[list[str], dict]:
    run_impls, skipped = available_impls(impls, device)
    if not run_impls:
        raise BackproplabError(
            "none of the implementations can run here ("
            + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    return run_impls, skipped


def _timed_epoch(proc: PeerProcess, timing: _Timing, label: str) -> tuple[dict, int]:
    """One timed epoch, run again while others loaded the machine (up to ``retries``
    times; the last try counts either way): the peer's answer, and the tries."""
    for attempt in range(timing.retries + 1):
        if timing.wait_quiet:
            timing.waited += wait_for_quiet(timing.wait_quiet)
        timing.say(label + (f" (again: other load, try {attempt + 1})" if attempt else ""))
        settle()
        got = proc.epoch()
        if not is_loaded(got["others"]):
            break
    return got, attempt + 1


def _start_peers(peers: list[Peer], settings: dict, say) -> dict:
    """A process per peer, each with its thread count given."""
    procs: dict[str, PeerProcess] = {}
    try:
        for peer in peers:
            say(f"batch {settings['batch_size']}: starting {peer.name}"
                + (f" ({peer.threads} threads, the default)" if peer.default else ""))
            procs[peer.name] = PeerProcess(peer, settings)
    except BaseException:
        for proc in procs.values():
            proc.close()
        raise
    return procs


def _row(name: str, proc: PeerProcess, bs: str, n: int, got: list[dict], tries: int) -> dict:
    others = [g["others"] for g in got if g["others"] is not None]
    times = [g["seconds"] for g in got]
    pools = proc.info["pools"]
    return {"impl": name, "library": proc.peer.impl, "threads": proc.info["threads"],
            "default_threads": proc.peer.default,
            "pools": [f"{p['internal_api']} {p['num_threads']}" for p in pools["pools"]]
            + ([f"torch {pools['torch']}"] if "torch" in pools else []),
            "direct_blas": pools["direct_blas"]["enabled"],
            "gemm": pools["direct_blas"].get("gemm"), "kernels": pools.get("kernels"),
            "batch_size": bs, "steps_per_epoch": -(-n // batch_rows(bs, n)),
            "epoch_seconds": [round(t, 5) for t in times],
            "epoch_wall_seconds": [round(g["wall"], 5) for g in got],
            "median_seconds": round(statistics.median(times), 5), "epochs_run": tries,
            "others_load": round(max(others), 4) if others else None,
            "loaded": bool(others) and is_loaded(max(others))}


def _time_batch_size(peers: list[Peer], settings: dict, n: int, timing: _Timing) -> list[dict]:
    """Start every peer, warm each up, time them in turns; one result row per peer (every
    peer's process has exited when this returns)."""
    bs = settings["batch_size"]
    procs = _start_peers(peers, settings, timing.say)
    try:
        for name, proc in procs.items():
            for w in range(timing.warmup):
                timing.say(f"batch {bs}: warm-up {w + 1}/{timing.warmup} {name}")
                settle()
                proc.epoch()
        got: dict[str, list[dict]] = {name: [] for name in procs}
        tries = dict.fromkeys(procs, 0)
        for e in range(timing.epochs):
            for name, proc in procs.items():
                answer, k = _timed_epoch(proc, timing,
                                         f"batch {bs}: epoch {e + 1}/{timing.epochs} {name}")
                got[name].append(answer)
                tries[name] += k
        return [_row(name, proc, bs, n, got[name], tries[name]) for name, proc in procs.items()]
    finally:
        for proc in procs.values():
            proc.close()


def _time_all(peers, batch_sizes, n, *, settings, busy: int, defaults: dict | None, timing,
              peak: MatmulPeak) -> tuple[list[dict], dict]:
    """Every batch size in turn (``train``'s default threads from ``defaults``), the
    matmul peak measured before and after each; the result rows (with GFLOP/s and the
    fraction of NumPy's best GEMM rate) and the result's ``load`` part."""
    before, whole = loadavg(), LoadProbe().start()
    rows: list[dict] = []
    timing.say(f"matmul peak ({peak.size} x {peak.size} float32)")
    peak.measure()
    for bs in batch_sizes:
        chosen = defaults["by_batch_size"][bs] if defaults else None
        rows += _time_batch_size(_resolve(peers, chosen), {**settings, "batch_size": bs}, n,
                                 timing)
        peak.measure()
    flops = flops_per_epoch(n)
    for row in rows:
        gflops = flops / row["median_seconds"] / 1e9
        row["gflops"] = round(gflops, 2)
        row["fraction_of_peak"] = round(gflops / peak.gflops, 4)
    return rows, _load_record(before, whole, busy, rows, timing)


def _memory_rows(run_impls, mem_sizes, data: dict, say, **settings) -> list[dict]:
    rows = []
    for bs in mem_sizes:
        for impl in run_impls:
            if impl == "train":  # the bare loop's process stands for it
                continue
            say(f"memory: {impl} at batch {bs} (fresh process)")
            rows.append(judge_memory(measure_memory(impl, bs, **settings), data["bytes"]))
    return rows


def _data_facts(**kw) -> tuple[int, dict]:
    """The rows and the description of the benchmark's data (every peer loads its own)."""
    X, _, data = load_data(**kw)
    return int(X.shape[0]), data


def _runnable_here(run_impls: list[str], skipped: dict, data: dict) -> list[str]:
    """``train`` needs the real dataset (it loads it the way a run does)."""
    if "train" in run_impls and data["source"] != "fashion-mnist":
        skipped["train"] = "needs Fashion-MNIST on this machine (the run loads it)"
        run_impls = [i for i in run_impls if i != "train"]
    if not run_impls:
        raise BackproplabError("none of the implementations can run here ("
                               + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    return run_impls


def run_benchmark(impls=DEFAULT_IMPLS, batch_sizes=DEFAULT_BATCH_SIZES, *,
                  epochs: int = DEFAULT_EPOCHS, warmup: int = DEFAULT_WARMUP,
                  threads: int | None = None, load: int = 0, quick: bool = False,
                  synthetic: bool = False, data_dir=None, limit: int | None = None,
                  lr: float = DEFAULT_LR, seed: int = 0, device: str = "cpu",
                  memory: bool = True, retries: int = DEFAULT_RETRIES,
                  wait_quiet: float = 0.0, memory_batch_sizes=DEFAULT_MEMORY_BATCH_SIZES,
                  peak_size: int | None = None, command: str | None = None,
                  progress: Callable[[str], None] | None = None,
                  machine: MachineFacts | None = None) -> dict:
    """Time every peer at every batch size, each in its own process; returns the result.

    Parameters
    ----------
    impls, batch_sizes : list or comma-separated str
        Implementations (missing libraries go to ``"skipped"``); batch sizes.
    epochs, warmup, retries : int
        Timed epochs (median reported), untimed ones, re-runs of loaded epochs.
    threads : int, optional
        One count for every row; default: :func:`default_threads` for ``train``
        and the bare loop, 1 and 2 for PyTorch, every core for the others.
    load : int
        Busy processes meanwhile (the busy-machine target; no retries).
    quick, synthetic, data_dir, limit, lr, seed, device, memory, memory_batch_sizes,
    wait_quiet, peak_size, command, progress
        Data, training, peak memory (fresh process each), waiting for quiet
        (seconds), the matmul-peak side, the recorded command line, and a
        callable receiving one line per step.
    machine : MachineFacts, optional
        The facts ``train``'s default threads follow; default: sampled once in
        this process before any row runs (:func:`default_threads`).

    Returns
    -------
    dict
        See docs/performance.md, "Reproducing and reading the JSON".

    Raises
    ------
    BackproplabError
        Bad settings, nothing runnable, or a peer process that failed.
    """
    say = progress or (lambda _msg: None)
    impls, batch_sizes = parse_impls(impls), parse_batch_sizes(batch_sizes)
    _check_options(epochs, warmup, retries, threads, load, device)
    cores = usable_cpus()
    run_impls, skipped = _runnable(impls, device)
    mem_sizes = parse_batch_sizes(memory_batch_sizes, "--memory-batch-sizes")  # checked anyway
    limit = QUICK_ROWS if quick and limit is None else limit
    n, data = _data_facts(quick=quick, synthetic=synthetic, data_dir=data_dir, limit=limit)
    run_impls = _runnable_here(run_impls, skipped, data)
    peers = plan_peers(run_impls, device, threads, load, cores)
    settings = peer_settings("", lr=lr, seed=seed, device=device, quick=quick,
                             synthetic=synthetic, data_dir=data_dir, limit=limit,
                             max_epochs=warmup + epochs * (retries + 1) + 1)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    timing = _Timing(epochs, warmup, 0 if load else retries, wait_quiet, say)
    peak = MatmulPeak(peak_size or _PEAK_SIZES[device, quick], device, with_torch=False)
    with BusyLoad(load):
        defaults = None if threads else _decide_threads(machine, batch_sizes, settings, say)
        results, load_record = _time_all(peers, batch_sizes, n, settings=settings, busy=load,
                                         defaults=defaults, timing=timing, peak=peak)
    mem_rows = _memory_rows(run_impls, mem_sizes if memory else [], data, say,
                            threads=threads or cores, quick=quick, synthetic=synthetic,
                            data_dir=data_dir, limit=limit, lr=lr, seed=seed, device=device)
    result = {
        "format": RESULT_FORMAT, "version": RESULT_VERSION, "started": started, "command": command,
        "config": {**_WORKLOAD, "lr": lr, "epochs": epochs, "warmup": warmup,
                   "retries": timing.retries, "wait_quiet": wait_quiet,
                   "batch_sizes": batch_sizes, "threads": threads, "load": load,
                   "device": device, "quick": quick, "seed": seed,
                   "impls": [p.name for p in peers]},
        "skipped": skipped, "data": data, "machine": machine_info(), "default_threads": defaults,
        "libraries": library_versions(run_impls), "load": load_record,
        "matmul_peak": {**peak.best, "gflops": peak.gflops}, "flops_per_epoch": flops_per_epoch(n),
        "results": results, "ratios": compute_ratios(results), "memory": mem_rows,
    }
    # the targets are about the full data set; a quick run's numbers mean little
    result["targets"] = [] if quick else judge_targets(result)
    return result


def _decide_threads(machine: MachineFacts | None, batch_sizes, settings, say) -> dict:
    """:func:`default_threads` from ``machine``, or from one load sample taken now (after
    a settle: before any row runs, nothing of the benchmark's own is spinning)."""
    sampled = machine is None
    if sampled:
        settle()
        machine = machine_facts(max_age=0.0)
    record = {**default_threads(machine, batch_sizes, settings), "sampled": sampled}
    say(default_threads_line(record))
    return record


def _load_record(before, whole: LoadProbe, busy: int, results: list[dict],
                 timing: _Timing) -> dict:
    """The ``load`` part of a result: load averages, others' share, flagged timings."""
    overall = whole.stop()
    return {"loadavg_before": before, "loadavg_after": loadavg(),
            "others_during_run": overall["others"], "steal_during_run": overall["steal"],
            "busy_processes": busy, "loaded_timings": sum(r["loaded"] for r in results),
            "seconds_waited_for_quiet": round(timing.waited, 1), "flag_above": LOAD_FLAG}
