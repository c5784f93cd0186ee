"""What a ``backproplab bench`` result says: ratios between implementations, the
targets of issue 7, and the tables printed for people."""

from __future__ import annotations

import statistics

from backproplab.bench.probes import LOAD_FLAG
from backproplab.bench.workload import (
    MB,
    PEAK_FRACTION_BATCH,
    PEAK_FRACTION_TARGET,
    SKLEARN_RATIO_TARGET,
    TORCH_RATIO_TARGETS,
)


def find(results: list[dict], impl: str, batch_size: str) -> dict | None:
    """The result row of ``impl`` at ``batch_size``, or ``None``."""
    return next((r for r in results if r["impl"] == impl and r["batch_size"] == batch_size),
                None)


def compute_ratios(results: list[dict]) -> list[dict]:
    """backproplab's median epoch time over every other implementation's, per batch size
    (``ratio``), and the median of the epoch-by-epoch ratios (``paired_ratio``)."""
    out = []
    for ours in (r for r in results if r["impl"] == "backproplab"):
        for other in results:
            if other["batch_size"] != ours["batch_size"] or other["impl"] == "backproplab":
                continue
            # also the median of the per-round ratios: epochs of a round run back to back,
            # so a slow spell of the machine that hits both cancels out
            paired = [a / b for a, b in zip(ours["epoch_seconds"], other["epoch_seconds"])
                      if b > 0]
            out.append({"batch_size": ours["batch_size"], "vs": other["impl"],
                        "ratio": round(ours["median_seconds"] / other["median_seconds"], 4),
                        "paired_ratio": round(statistics.median(paired), 4) if paired
                        else None})
    return out


def judge_targets(result: dict) -> list[dict]:
    """Issue 7's targets, each with the measured value and whether it is met.

    Parameters
    ----------
    result : dict
        Needs ``results``, ``ratios`` and ``memory`` of a benchmark result.

    Returns
    -------
    list of dict
        ``target``, ``value``, ``limit``, ``op`` (``"<="`` or ``">="``), ``met``.
    """
    out = []
    for bs, limit in TORCH_RATIO_TARGETS.items():
        r = next((x for x in result["ratios"] if x["vs"] == "torch" and x["batch_size"] == bs),
                 None)
        if r:
            out.append({"target": f"epoch time vs torch at batch {bs}", "value": r["ratio"],
                        "limit": limit, "op": "<=", "met": r["ratio"] <= limit})
    for r in result["ratios"]:
        if r["vs"] == "sklearn-float64":
            out.append({"target": f"epoch time vs sklearn (float64) at batch {r['batch_size']}",
                        "value": r["ratio"], "limit": SKLEARN_RATIO_TARGET, "op": "<=",
                        "met": r["ratio"] <= SKLEARN_RATIO_TARGET})
    ours = find(result["results"], "backproplab", PEAK_FRACTION_BATCH)
    if ours:
        out.append({"target": f"fraction of matmul peak at batch {PEAK_FRACTION_BATCH}",
                    "value": ours["fraction_of_peak"], "limit": PEAK_FRACTION_TARGET,
                    "op": ">=", "met": ours["fraction_of_peak"] >= PEAK_FRACTION_TARGET})
    for m in result["memory"]:
        if m["impl"] == "backproplab" and "peak_mb" in m:
            out.append({"target": f"peak memory at batch {m['batch_size']} (MB)",
                        "value": m["peak_mb"], "limit": m["target_mb"], "op": "<=",
                        "met": m["meets_target"]})
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
    title = (f"seconds per epoch (median of {cfg['epochs']}), {'-'.join(map(str, cfg['sizes']))} "
             f"{cfg['activation']}, SGD, float32, {data['rows']} {data['source']} examples, "
             f"{cfg['threads']} thread{'s' if cfg['threads'] != 1 else ''}, {cfg['device']}")
    t = _per_batch_table(result, title, lambda r: f"{r['median_seconds']:.3f}"
                         + (" *" if r["loaded"] else ""))
    impls = cfg["impls"]
    for other in impls:
        if other == "backproplab" or "backproplab" not in impls:
            continue
        cells = []
        for bs in cfg["batch_sizes"]:
            r = next((x for x in result["ratios"]
                      if x["vs"] == other and x["batch_size"] == bs), None)
            cells.append("-" if r is None else f"{r['ratio']:.2f}x")
        t.add_row(f"[dim]backproplab / {other}[/dim]", *cells)
    return t


def _gflops_table(result: dict):
    peak = result["matmul_peak"]
    title = (f"matrix work: GFLOP/s and fraction of the matmul peak "
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

    tt = Table(title="targets (issue 7)")
    for col in ("target", "measured", "limit", "met"):
        tt.add_column(col, justify="left" if col == "target" else "right")
    for tg in result["targets"]:
        tt.add_row(tg["target"], f"{tg['value']:.3g}", f"{tg['op']} {tg['limit']:.3g}",
                   "yes" if tg["met"] else "[bold red]no[/bold red]")
    return tt


def _machine_lines(result: dict) -> list[str]:
    """The closing lines: machine, libraries, load, thread pools, skipped implementations."""
    load, threads = result["load"], result["threads"]
    before, after = load["loadavg_before"], load["loadavg_after"]
    lines = [f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; "
             f"libraries: " + ", ".join(f"{k} {v}" for k, v in result["libraries"].items())]
    if before and after:
        line = f"load average {before[0]:.2f} before, {after[0]:.2f} after"
        if load["others_during_run"] is not None:
            line += (f"; other processes used {load['others_during_run']:.0%} of the CPUs "
                     "during the timings")
        lines.append(line)
    lines.append("thread pools: " + ", ".join(
        f"{p['internal_api']} {p['num_threads']} ({p.get('architecture') or '?'})"
        for p in threads["pools"]) + (f"; torch {threads['torch']}" if "torch" in threads else ""))
    if not threads["direct_blas"]["enabled"] and any(p["user_api"] == "blas"
                                                     for p in threads["pools"]):
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
