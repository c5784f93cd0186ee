"""The benchmark run: every implementation at every batch size, timed in turns.

For every batch size all implementations are warmed up, then timed *in turns*
(epoch 1 of each, epoch 2 of each, ...), so that a change in the machine's load
hits all of them alike. A timed epoch during which other processes used more
than :data:`~backproplab.bench.probes.LOAD_FLAG` of the CPUs is run again, up
to ``retries`` times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from backproplab.bench.memory import judge_memory, measure_memory
from backproplab.bench.probes import (
    LOAD_FLAG,
    LoadProbe,
    MatmulPeak,
    is_loaded,
    library_versions,
    loadavg,
    machine_info,
    thread_info,
    wait_for_quiet,
)
from backproplab.bench.report import compute_ratios, judge_targets
from backproplab.bench.runners import available_impls, import_libraries, make_runner
from backproplab.bench.workload import (
    ACTIVATION,
    DEFAULT_BATCH_SIZES,
    DEFAULT_EPOCHS,
    DEFAULT_IMPLS,
    DEFAULT_LR,
    DEFAULT_MEMORY_BATCH_SIZES,
    DEFAULT_RETRIES,
    DEFAULT_WARMUP,
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
from backproplab.training.config import usable_cpus

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


def _check_options(epochs, warmup, retries, threads, device) -> None:
    for name, value, minimum in (("--epochs", epochs, 1), ("--warmup", warmup, 0),
                                 ("--retries", retries, 0), ("--threads", threads, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}")
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


def _timed_epoch(runner, timing: _Timing, label: str) -> tuple[float, dict, int]:
    """One timed epoch, run again while others loaded the machine (up to ``retries``
    times; the last try counts either way): seconds, load, tries."""
    for attempt in range(timing.retries + 1):
        if timing.wait_quiet:
            timing.waited += wait_for_quiet(timing.wait_quiet)
        timing.say(label + (f" (again: other load, try {attempt + 1})" if attempt else ""))
        probe = LoadProbe().start()
        t0 = time.perf_counter()
        own = runner.epoch()
        wall = time.perf_counter() - t0
        load = probe.stop()
        if not is_loaded(load["others"]):
            break
    return (float(own) if own is not None else wall), load, attempt + 1


def _time_batch_size(runners: dict, bs: str, n: int, timing: _Timing) -> list[dict]:
    """Warm up every runner, time them in turns; one result row per implementation."""
    for impl, runner in runners.items():
        for w in range(timing.warmup):
            timing.say(f"batch {bs}: warm-up {w + 1}/{timing.warmup} {impl}")
            runner.epoch()
    times: dict[str, list[float]] = {impl: [] for impl in runners}
    others: dict[str, list[float]] = {impl: [] for impl in runners}
    tries = dict.fromkeys(runners, 0)
    for e in range(timing.epochs):
        for impl, runner in runners.items():
            seconds, load, k = _timed_epoch(runner, timing,
                                            f"batch {bs}: epoch {e + 1}/{timing.epochs} {impl}")
            times[impl].append(seconds)
            tries[impl] += k
            if load["others"] is not None:
                others[impl].append(load["others"])
    return [{"impl": impl, "batch_size": bs, "steps_per_epoch": -(-n // batch_rows(bs, n)),
             "epoch_seconds": [round(t, 5) for t in times[impl]],
             "median_seconds": round(statistics.median(times[impl]), 5),
             "epochs_run": tries[impl],
             "others_load": round(max(others[impl]), 4) if others[impl] else None,
             "loaded": bool(others[impl]) and is_loaded(max(others[impl]))}
            for impl in runners]


def _time_all(run_impls, batch_sizes, X, y, *, lr, seed, device, threads, timing,
              peak: MatmulPeak) -> tuple[list[dict], dict]:
    """Every batch size in turn, the matmul peak measured before and after each;
    the result rows (with GFLOP/s) and the thread pools used."""
    from threadpoolctl import threadpool_limits

    n = int(X.shape[0])
    rows: list[dict] = []
    with threadpool_limits(limits=threads):
        if "torch" in run_impls:
            import torch

            torch.set_num_threads(threads)
        threads_used = thread_info(run_impls)
        timing.say(f"matmul peak ({peak.size} x {peak.size} float32)")
        peak.measure()
        for bs in batch_sizes:
            runners = {impl: make_runner(impl, X, y, bs, lr, seed, device) for impl in run_impls}
            rows += _time_batch_size(runners, bs, n, timing)
            del runners
            peak.measure()
    flops = flops_per_epoch(n)
    for row in rows:
        gflops = flops / row["median_seconds"] / 1e9
        row["gflops"] = round(gflops, 2)
        row["fraction_of_peak"] = round(gflops / peak.gflops, 4)
    return rows, threads_used


def _memory_rows(run_impls, mem_sizes, data: dict, say, **settings) -> list[dict]:
    rows = []
    for bs in mem_sizes:
        for impl in run_impls:
            say(f"memory: {impl} at batch {bs} (fresh process)")
            rows.append(judge_memory(measure_memory(impl, bs, **settings), data["bytes"]))
    return rows


def run_benchmark(impls=DEFAULT_IMPLS, batch_sizes=DEFAULT_BATCH_SIZES, *,
                  epochs: int = DEFAULT_EPOCHS, warmup: int = DEFAULT_WARMUP,
                  threads: int | None = None, quick: bool = False, synthetic: bool = False,
                  data_dir=None, limit: int | None = None, lr: float = DEFAULT_LR,
                  seed: int = 0, device: str = "cpu", memory: bool = True,
                  retries: int = DEFAULT_RETRIES, wait_quiet: float = 0.0,
                  memory_batch_sizes=DEFAULT_MEMORY_BATCH_SIZES, peak_size: int | None = None,
                  command: str | None = None,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Time every implementation at every batch size; returns the result dict.

    ``impls`` and ``batch_sizes`` take lists or comma-separated strings.
    Implementations whose library is missing are listed under ``"skipped"``.
    ``threads`` defaults to every core this process may use. With
    ``wait_quiet`` > 0, every timed epoch first waits up to that many seconds
    for the other processes to go quiet (see
    :func:`~backproplab.bench.probes.wait_for_quiet`). ``peak_size`` is the
    side of the matmul-peak product (default 2048, 256 with ``quick``; 8192 and
    1024 on the GPU). ``progress`` receives one line per step. Bad settings
    raise :class:`BackproplabError`.
    """

    say = progress or (lambda _msg: None)
    impls = parse_impls(impls)
    batch_sizes = parse_batch_sizes(batch_sizes)
    threads = usable_cpus() if threads is None else threads
    _check_options(epochs, warmup, retries, threads, device)
    run_impls, skipped = _runnable(impls, device)
    mem_sizes = parse_batch_sizes(memory_batch_sizes, "--memory-batch-sizes")  # checked anyway
    mem_sizes = mem_sizes if memory else []
    import_libraries(run_impls)  # before limiting threads: threadpoolctl sees loaded ones only
    say("loading data")
    X, y, data = load_data(quick=quick, synthetic=synthetic, data_dir=data_dir, limit=limit)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before, whole = loadavg(), LoadProbe().start()
    timing = _Timing(epochs, warmup, retries, wait_quiet, say)
    peak = MatmulPeak(peak_size or _PEAK_SIZES[device, quick], device, "torch" in run_impls)
    results, threads_used = _time_all(run_impls, batch_sizes, X, y, lr=lr, seed=seed,
                                      device=device, threads=threads, timing=timing, peak=peak)
    load_after, overall = loadavg(), whole.stop()
    mem_rows = _memory_rows(run_impls, mem_sizes, data, say, threads=threads, quick=quick,
                            synthetic=synthetic, data_dir=data_dir, limit=limit, lr=lr,
                            seed=seed, device=device)
    result = {
        "format": RESULT_FORMAT, "version": RESULT_VERSION, "started": started,
        "command": command,
        "config": {"sizes": list(SIZES), "activation": ACTIVATION, "optimizer": "sgd",
                   "momentum": 0.0, "weight_decay": 0.0, "lr": lr, "dtype": "float32",
                   "epochs": epochs, "warmup": warmup, "retries": retries,
                   "wait_quiet": wait_quiet, "batch_sizes": batch_sizes,
                   "threads": threads, "device": device, "quick": quick, "seed": seed,
                   "impls": run_impls},
        "skipped": skipped, "data": data, "machine": machine_info(),
        "libraries": library_versions(run_impls), "threads": threads_used,
        "load": {"loadavg_before": load_before, "loadavg_after": load_after,
                 "others_during_run": overall["others"], "steal_during_run": overall["steal"],
                 "loaded_timings": sum(r["loaded"] for r in results),
                 "seconds_waited_for_quiet": round(timing.waited, 1),
                 "flag_above": LOAD_FLAG},
        "matmul_peak": {**peak.best, "gflops": peak.gflops},
        "flops_per_epoch": flops_per_epoch(int(X.shape[0])), "results": results,
        "ratios": compute_ratios(results), "memory": mem_rows,
    }
    # the targets are about the full data set; a quick run's numbers mean little
    result["targets"] = [] if quick else judge_targets(result)
    return result
