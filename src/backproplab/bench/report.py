"""What a ``backproplab bench`` result says: ratios between the rows, the targets of
issue 19, and the tables printed for people."""

from __future__ import annotations

import statistics

from backproplab.bench.probes import LOAD_FLAG, machine_line
from backproplab.bench.workload import (
    BUSY_RATIO_TARGET,
    GPU_TORCH_RATIO_TARGETS,
    LOOP_RATIO_TARGET,
    MB,
    PEAK_FRACTION_BATCH,
    PEAK_FRACTION_TARGET,
    TORCH_RATIO_TARGETS,
)

#: The name of the ratio against the faster PyTorch row of a batch size.
TORCH_BEST = "torch (best)"


def find(results: list[dict], impl: str, batch_size: str) -> dict | None:
    """The result row of ``impl`` at ``batch_size``, or ``None``."""
    return next((r for r in results if r["impl"] == impl and r["batch_size"] == batch_size),
                None)


def ours(results: list[dict]) -> str:
    """The row the ratios are about: ``train`` where it ran, else the bare loop."""
    return "train" if any(r["impl"] == "train" for r in results) else "backproplab"


def _ratio(mine: dict, other: dict, vs: str) -> dict:
    # also the median of the per-round ratios: epochs of a round run back to back,
    # so a slow spell of the machine that hits both cancels out
    paired = [a / b for a, b in zip(mine["epoch_seconds"], other["epoch_seconds"]) if b > 0]
    return {"batch_size": mine["batch_size"], "of": mine["impl"], "vs": vs,
            "ratio": round(mine["median_seconds"] / other["median_seconds"], 4),
            "paired_ratio": round(statistics.median(paired), 4) if paired else None}


def compute_ratios(results: list[dict]) -> list[dict]:
    """Our row's median epoch time (``train``, else the bare loop) over every other
    row's, per batch size (``ratio``), the median of the epoch-by-epoch ratios
    (``paired_ratio``), and against the faster PyTorch row (``vs "torch (best)"``).

    Parameters
    ----------
    results : list of dict
        The result rows.

    Returns
    -------
    list of dict
        ``batch_size``, ``of``, ``vs``, ``ratio``, ``paired_ratio``.
    """
    name, out = ours(results), []
    for mine in (r for r in results if r["impl"] == name):
        same = [r for r in results if r["batch_size"] == mine["batch_size"]
                and r["impl"] != name]
        out += [_ratio(mine, other, other["impl"]) for other in same]
        torch = [r for r in same if r.get("library", r["impl"]) == "torch"]
        if torch:
            out.append(_ratio(mine, min(torch, key=lambda r: r["median_seconds"]), TORCH_BEST))
    return out


def _target(target: str, value: float, limit: float, op: str) -> dict:
    met = value <= limit if op == "<=" else value >= limit
    return {"target": target, "value": value, "limit": limit, "op": op, "met": met}


def _busy_targets(results: list[dict]) -> list[dict]:
    out = []
    for row in (r for r in results if r["impl"] == "train"):
        fixed = [find(results, f"train-{n}t", row["batch_size"]) for n in (1, 2)]
        if all(fixed):
            best = min(f["median_seconds"] for f in fixed)
            out.append(_target(f"busy machine: default threads vs best of 1 and 2 at batch "
                               f"{row['batch_size']}", round(row["median_seconds"] / best, 4),
                               BUSY_RATIO_TARGET, "<="))
    return out


def judge_targets(result: dict) -> list[dict]:
    """Issue 19's targets, each with the measured value and whether it is met.

    On a GPU (``config.device``) the PyTorch targets are the GPU ones and the
    GEMM-rate target is left out.

    Parameters
    ----------
    result : dict
        Needs ``results``, ``ratios`` and ``memory`` of a benchmark result.

    Returns
    -------
    list of dict
        ``target``, ``value``, ``limit``, ``op`` (``"<="`` or ``">="``), ``met``.
    """
    name, out = ours(result["results"]), []
    ratios = result["ratios"]
    gpu = result.get("config", {}).get("device") == "gpu"
    peer = "PyTorch CUDA" if gpu else "PyTorch (faster of 1/2 threads)"
    for bs, limit in (GPU_TORCH_RATIO_TARGETS if gpu else TORCH_RATIO_TARGETS).items():
        r = next((x for x in ratios if x["vs"] == TORCH_BEST and x["batch_size"] == bs), None)
        if r:
            out.append(_target(f"{name} vs {peer} at batch {bs}", r["ratio"], limit, "<="))
    mine = None if gpu else find(result["results"], name, PEAK_FRACTION_BATCH)
    if mine:
        out.append(_target(f"{name}: fraction of NumPy's best GEMM rate at batch "
                           f"{PEAK_FRACTION_BATCH}", mine["fraction_of_peak"],
                           PEAK_FRACTION_TARGET, ">="))
    out += [_target(f"train vs the bare loop at batch {r['batch_size']}", r["ratio"],
                    LOOP_RATIO_TARGET, "<=")
            for r in ratios if r["of"] == "train" and r["vs"] == "backproplab"]
    out += _busy_targets(result["results"])
    for m in result["memory"]:
        if m["impl"] == "backproplab" and "peak_mb" in m:
            out.append(_target(f"peak memory at batch {m['batch_size']} (MB)", m["peak_mb"],
                               m["target_mb"], "<="))
    return out


# ---------------------------------------------------------------- tables
def _per_batch_table(result: dict, title: str, cell):
    """A table with one row per implementation and one column per batch size;
    ``cell(row)`` formats a result row."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("implementation")
    sizes = result["config"]["batch_sizes"]
    for bs in sizes:
        t.add_column(f"batch {bs}", justify="right")
    for impl in result["config"]["impls"]:
        rows = (find(result["results"], impl, bs) for bs in sizes)
        t.add_row(impl, *("-" if r is None else cell(r) for r in rows))
    return t


def _times_table(result: dict):
    cfg, data = result["config"], result["data"]
    load = f", {cfg['load']} busy process(es) meanwhile" if cfg.get("load") else ""
    title = (f"seconds per epoch (median of {cfg['epochs']}; threads in brackets, each row "
             f"in its own process), {'-'.join(map(str, cfg['sizes']))} {cfg['activation']}, "
             f"SGD, float32, {data['rows']} {data['source']} examples, {cfg['device']}{load}")
    t = _per_batch_table(result, title, lambda r: f"{r['median_seconds']:.3f} "
                         f"({r.get('threads', '?')})" + (" *" if r["loaded"] else ""))
    name = ours(result["results"])
    for other in dict.fromkeys(r["vs"] for r in result["ratios"]):
        cells = []
        for bs in cfg["batch_sizes"]:
            r = next((x for x in result["ratios"]
                      if x["vs"] == other and x["batch_size"] == bs), None)
            cells.append("-" if r is None else f"{r['ratio']:.2f}x")
        t.add_row(f"[dim]{name} / {other}[/dim]", *cells)
    return t


def _gflops_table(result: dict):
    peak = result["matmul_peak"]
    title = (f"matrix work: GFLOP/s and fraction of NumPy's best GEMM rate "
             f"({peak['gflops']:.0f} GFLOP/s, {result['flops_per_epoch'] / 1e9:.1f} "
             f"GFLOP per epoch)")
    return _per_batch_table(result, title,
                            lambda r: f"{r['gflops']:.0f} ({r['fraction_of_peak']:.0%})")


def _mb(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def _memory_table(result: dict):
    from rich.table import Table

    m = Table(title=f"peak memory (MB, fresh process each; data "
                    f"{result['data']['bytes'] / MB:.0f} MB)")
    for col in ("implementation", "batch", "after load", "training peak", "process peak",
                "target"):
        m.add_column(col, justify="left" if col == "implementation" else "right")
    for row in result["memory"]:
        if "error" in row:
            m.add_row(row["impl"], row["batch_size"], row["error"], "", "", "")
            continue
        target = (f"{row['target_mb']:.0f}" if row["impl"] == "backproplab"
                  and not result["config"]["quick"] else "")  # quick: data too small to judge
        m.add_row(row["impl"], row["batch_size"], _mb(row["after_load_mb"]),
                  _mb(row["training_peak_mb"]), _mb(row["peak_mb"]), target)
    return m


def _targets_table(result: dict):
    from rich.table import Table

    tt = Table(title="targets (issue 19)")
    for col in ("target", "measured", "limit", "met"):
        tt.add_column(col, justify="left" if col == "target" else "right")
    for tg in result["targets"]:
        tt.add_row(tg["target"], f"{tg['value']:.3g}", f"{tg['op']} {tg['limit']:.3g}",
                   "met" if tg["met"] else "[bold red]not met[/bold red]")
    return tt


def default_threads_line(record: dict) -> str:
    """The line that says ``train``'s default threads and where they came from.

    Parameters
    ----------
    record : dict
        A result's ``default_threads`` (:func:`backproplab.bench.run.default_threads`
        plus ``sampled``).

    Returns
    -------
    str
    """
    source = ("one load sample before any row ran" if record["sampled"]
              else "the machine facts given")
    return (f"default threads (train and the bare loop), decided once from {source} "
            f"({record['why']}): "
            + ", ".join(f"{n} at batch {bs}" for bs, n in record["by_batch_size"].items()))


def _machine_lines(result: dict) -> list[str]:
    """The closing lines: machine, libraries, load, thread pools, skipped implementations."""
    load, machine = result["load"], result["machine"]
    before, after = load["loadavg_before"], load["loadavg_after"]
    lines = [machine_line(machine) + "; libraries: " + ", ".join(f"{k} {v}" for k, v in result["libraries"].items())]
    env = machine.get("environment") or {}
    if env:
        lines.append("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    if before and after:
        line = f"load average {before[0]:.2f} before, {after[0]:.2f} after"
        if load["others_during_run"] is not None:
            line += (f"; other processes used {load['others_during_run']:.0%} of the CPUs "
                     "during the timings")
        lines.append(line)
    if result.get("default_threads"):
        lines.append(default_threads_line(result["default_threads"]))
    pools = {}
    for r in result["results"]:
        pools.setdefault(r["impl"], r.get("pools") or [])
    lines.append("thread pools: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in pools.items()))
    for key, title in (("gemm", "GEMM"), ("kernels", "kernels")):  # our rows' libraries
        used = {r["impl"]: r[key] for r in result["results"]
                if r.get("library") in ("train", "backproplab") and r.get(key)}
        if used:  # (TrainConfig.gemm and .kernels)
            lines.append(f"{title}: " + "; ".join(f"{k}: {v}" for k, v in used.items()))
    if any(r.get("direct_blas") is False for r in result["results"]
           if r.get("library") in ("train", "backproplab")):
        lines.append("direct BLAS calls are off: the plain NumPy update path is used")
    lines += [f"skipped {k}: {v}" for k, v in result["skipped"].items()]
    return lines


def print_report(result: dict, console=None) -> None:
    """Print a benchmark result as tables: epoch times and ratios, GFLOP/s, memory, targets.

    Parameters
    ----------
    result : dict
        What :func:`backproplab.bench.run_benchmark` returns.
    console : rich.console.Console, optional
        Where to print (default: a console on stdout).
    """
    from rich.console import Console

    console = console or Console()
    console.print(_times_table(result))
    if any(r["loaded"] for r in result["results"]):
        console.print(f"* other processes used more than {LOAD_FLAG:.0%} of the CPUs during "
                      "that timing; rerun when the machine is quiet")
    console.print(_gflops_table(result))
    if result["memory"]:
        console.print(_memory_table(result))
    if result["targets"]:
        console.print(_targets_table(result))
    for line in _machine_lines(result):
        console.print(line)
