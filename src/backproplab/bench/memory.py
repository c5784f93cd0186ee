"""Peak memory of one implementation training one epoch, each in a fresh Python process.

:func:`measure_memory` starts ``python -c ...`` with the measurement's settings
as JSON on stdin; the child runs :func:`memory_probe` and prints its result as
one JSON line.
"""

from __future__ import annotations

import importlib
import json
import re
import resource
import sys

from backproplab.bench.probes import child_json
from backproplab.bench.runners import make_runner
from backproplab.bench.workload import (
    MB,
    MEMORY_DATA_FACTOR,
    MEMORY_EXTRA_MB,
    load_data,
    module_for,
)

_MEMORY_KEYS = ("load_peak_mb", "after_load_mb", "training_peak_mb", "peak_mb",
                "device_peak_mb")


def _status_mb() -> dict:
    """VmRSS and VmHWM (peak) of this process in MB, from /proc/self/status."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            text = fh.read()
    except OSError:
        text = ""
    for key in ("VmRSS", "VmHWM"):
        m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
        out[key] = int(m.group(1)) * 1024 / MB if m else None
    if out["VmHWM"] is None:  # no /proc: getrusage's peak (kB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["VmHWM"] = peak / MB if sys.platform == "darwin" else peak * 1024 / MB
    return out


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _device_peak_mb(impl: str) -> float:
    if impl == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / MB
    import cupy

    return cupy.get_default_memory_pool().total_bytes() / MB


def memory_probe(spec: dict) -> dict:
    """Load the data, train one epoch of one implementation, and report memory in MB.

    Meant to run in a fresh process (see :func:`measure_memory`).

    Parameters
    ----------
    spec : dict
        ``impl``, ``batch_size``, ``threads``, ``quick``, ``synthetic``,
        ``data_dir``, ``limit``, ``lr``, ``seed`` and ``device``.

    Returns
    -------
    dict
        ``impl``, ``batch_size``; ``load_peak_mb``: the peak while importing and
        loading; ``after_load_mb``: resident size once the data is in memory;
        ``training_peak_mb``: the peak from then on, through building the model
        and one epoch (``None`` where the peak cannot be reset); ``peak_mb``: the
        whole process's peak; ``device_peak_mb`` on the GPU.
    """
    impl, threads = spec["impl"], spec["threads"]
    if module_for(impl) != "numpy":
        importlib.import_module(module_for(impl))
    X, y, _ = load_data(quick=spec["quick"], synthetic=spec["synthetic"],
                        data_dir=spec.get("data_dir"), limit=spec.get("limit"))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        if impl == "torch":
            import torch

            torch.set_num_threads(threads)
        before = _status_mb()
        reset = _reset_peak()
        runner = make_runner(impl, X, y, spec["batch_size"], spec["lr"], spec["seed"],
                             spec.get("device", "cpu"))
        runner.epoch()
        after = _status_mb()
    return {
        "impl": impl,
        "batch_size": spec["batch_size"],
        "load_peak_mb": before["VmHWM"],
        "after_load_mb": before["VmRSS"],
        "training_peak_mb": after["VmHWM"] if reset else None,
        "peak_mb": max(before["VmHWM"] or 0.0, after["VmHWM"] or 0.0),
        "device_peak_mb": _device_peak_mb(impl) if spec.get("device") == "gpu" else None,
    }


def child_main() -> None:
    """The child process of :func:`measure_memory`: settings on stdin, one JSON line out."""
    print(json.dumps(memory_probe(json.loads(sys.stdin.read()))))


def measure_memory(impl: str, batch_size: str, *, threads: int, quick: bool, synthetic: bool,
                   data_dir, limit, lr: float, seed: int, device: str = "cpu",
                   timeout: float = 900) -> dict:
    """Peak memory of one implementation training one epoch, in a fresh Python process.

    Parameters
    ----------
    impl : str
        The implementation (:data:`~backproplab.bench.workload.IMPLS`).
    batch_size : str
        A batch size, or ``"full"``.
    threads : int
        Its BLAS threads (also set as the child's thread variables).
    quick, synthetic, data_dir, limit
        The data, as in :func:`~backproplab.bench.workload.load_data`.
    lr : float
        The learning rate.
    seed : int
        The seed.
    device : str, default "cpu"
        Where it trains.
    timeout : float, default 900
        Seconds the child may take.

    Returns
    -------
    dict
        :func:`memory_probe`'s result, or ``{"impl", "batch_size", "error"}``
        where the child failed or timed out.
    """
    spec = {"impl": impl, "batch_size": batch_size, "threads": threads, "quick": quick,
            "synthetic": synthetic, "data_dir": str(data_dir) if data_dir else None,
            "limit": limit, "lr": lr, "seed": seed, "device": device}
    code = "from backproplab.bench.memory import child_main; child_main()"
    row = child_json(["-c", code], threads=threads, input=json.dumps(spec), timeout=timeout)
    return {"impl": impl, "batch_size": batch_size, **row} if "error" in row else row


def judge_memory(row: dict, data_bytes: int) -> dict:
    """Add the data size, the target and whether it is met to a :func:`measure_memory`
    row, rounded to 0.01 MB; returns the row."""
    data_mb = data_bytes / MB
    row["data_mb"] = round(data_mb, 2)
    row["target_mb"] = round(MEMORY_DATA_FACTOR * data_mb + MEMORY_EXTRA_MB, 2)
    if "peak_mb" in row:
        row["peak_over_data"] = round(row["peak_mb"] / data_mb, 3)
        row["meets_target"] = row["peak_mb"] <= row["target_mb"]
    for k in _MEMORY_KEYS:
        if row.get(k) is not None:
            row[k] = round(row[k], 2)
    return row
