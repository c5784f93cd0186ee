"""Aggregation of a sweep: mean and standard deviation across seeds.

Reads run folders only (``config.json``, ``metrics.jsonl``, ``batches.jsonl``,
``summary.json``, and the sweep's ``status.json`` records); it never trains.

Trials are grouped by their whole config except the seed (and machine options
such as ``threads``), so a group is one grid point run with several seeds. Only
finished trials (those with ``summary.json``) are aggregated. For every group:

* per epoch, for every metric of ``metrics.jsonl``: mean and std across seeds;
* per batch step ``(epoch, step)`` of ``batches.jsonl``: mean and std of the loss;
* the final epoch (each run's last epoch, with every seed's value) and the run
  time: mean and std;
* ``comparisons``: every pair of groups tested on the final ``eval_accuracy`` and
  ``eval_loss`` (:func:`backproplab.sweeps.stats.compare_groups`: Welch's t-test by
  default, Holm-adjusted over the pairs of each metric, with the seeds a
  decision would need).

The standard deviation is the *sample* standard deviation (``ddof=1``, dividing
by ``n - 1``), the usual ``mean +- std`` over a few seeds; with a single seed
it is undefined and reported as ``null`` (JSON), an empty cell (CSV) or NaN
(Python). ``n`` says how many runs each number is over. Every ``{mean, std, n}``
also has ``ci95``: the 95% Student-t interval of the mean, ``[lo, hi]``
(:func:`backproplab.sweeps.stats.mean_ci`), ``null`` below 2 seeds.

Outputs in the sweep folder: ``results.json`` (everything),
``results.csv`` (one row per group x epoch) and ``results_batches.csv`` (one
row per group x batch step).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_text, is_finite_number
from backproplab.locks import lock_folder
from backproplab.runs import RESULTS, RESULTS_BATCHES_CSV, RESULTS_CSV, RunFolder, SweepFolder
from backproplab.seedstats import column_stats
from backproplab.sweeps.damage import config_damage, incomplete_message, trial_damage
from backproplab.sweeps.power import mean_std
from backproplab.sweeps.spec import MACHINE_OPTIONS
from backproplab.sweeps.stats import check_test, compare_groups, t_interval

#: Per-epoch metrics aggregated (the columns of ``metrics.jsonl``).
EPOCH_METRICS = ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy",
                 "train_seconds", "eval_seconds", "lr", "train_loss_running")
#: Keys that never define a group: the seed varies inside a group, the others
#: say how a run was computed, not what.
NOT_GROUP_KEYS = ("seed", *MACHINE_OPTIONS)
#: What the ``std`` numbers are.
STD_NOTE = ("sample standard deviation across seeds (ddof=1, divides by n-1); "
            "null when a group has a single run")
#: What the ``ci95`` intervals are.
CI_NOTE = ("95% Student-t interval of the mean across seeds, [lo, hi]: mean -+ "
           "t(0.975, n-1) * std / sqrt(n); null when a group has a single run")
#: The final metrics every pair of groups is compared on.
COMPARED = ("eval_accuracy", "eval_loss")
RESULTS_FORMAT = 1


def _stat(values: Iterable[float]) -> dict[str, Any] | None:
    """``{"mean", "std", "n", "ci95"}`` of the finite values; ``None`` with none."""
    mean, std, n = mean_std(values)
    if not n:
        return None
    ci = t_interval(mean, std, n)
    return {"mean": _num(mean), "std": _num(std), "n": n, "ci95": list(ci) if ci else None}


def _num(x: float) -> float | None:
    """NaN/inf -> None, for JSON."""
    return float(x) if is_finite_number(x) else None


def _json_key(obj: Any) -> str:
    """``obj`` as sorted JSON text: a key under which equal values meet."""
    return json.dumps(obj, sort_keys=True)


def group_key(config: Mapping[str, Any]) -> str:
    """What identifies a trial's group: its config without seed and machine options.

    Parameters
    ----------
    config : Mapping
        A trial's config (``config.json``).

    Returns
    -------
    str
        A canonical JSON string; trials with equal keys are seeds of one group.

    Examples
    --------
    >>> group_key({"lr": 0.1, "seed": 0}) == group_key({"lr": 0.1, "seed": 7})
    True
    """
    return _json_key({k: v for k, v in config.items() if k not in NOT_GROUP_KEYS})


# ---------------------------------------------------------------------------
# aggregation


def _varying_keys(groups: Sequence[Sequence[RunFolder]], folder: SweepFolder) -> list[str]:
    if folder.listed:
        return list(folder.settings(ignore=NOT_GROUP_KEYS))
    configs = [g[0].config for g in groups]
    keys: list[str] = []
    for cfg in configs:
        for k in cfg:
            if k not in keys and k not in NOT_GROUP_KEYS:
                keys.append(k)
    return [k for k in keys if len({_json_key(c.get(k)) for c in configs}) > 1]


def _sort_key(value: Any) -> tuple:
    if is_finite_number(value):
        return (0, float(value), "")
    return (1, 0.0, _json_key(value))


def _label(values: Mapping[str, Any]) -> str:
    if not values:
        return "all"
    parts = []
    for k, v in values.items():
        if isinstance(v, list):
            v = ",".join(map(str, v))
        parts.append(f"{k}={v}")
    return " ".join(parts)


def _epoch_rows(runs: Sequence[RunFolder]) -> list[dict[str, Any]]:
    by_epoch: dict[int, list[dict]] = {}
    for run in runs:
        for row in run.epochs:
            if is_finite_number(row.get("epoch")):
                by_epoch.setdefault(int(row["epoch"]), []).append(row)
    out = []
    for epoch in sorted(by_epoch):
        rows = by_epoch[epoch]
        entry: dict[str, Any] = {"epoch": epoch, "n": len(rows)}
        for metric in EPOCH_METRICS:
            if stat := _stat(r.get(metric) for r in rows):
                entry[metric] = stat
        out.append(entry)
    return out


def _final(runs: Sequence[RunFolder]) -> dict[str, Any]:
    """The last epoch of each run: every metric's statistics, with ``values`` (each
    run's own, in the order of the group's ``seeds``; ``null`` where it has none)."""
    lasts = [max(r.epochs, key=lambda row: row.get("epoch", 0)) if r.epochs else {}
             for r in runs]
    entry: dict[str, Any] = {"n": len(runs),
                             "epochs": sorted({int(row["epoch"]) for row in lasts
                                               if is_finite_number(row.get("epoch"))})}
    for metric in EPOCH_METRICS:
        if stat := _stat(row.get(metric) for row in lasts):
            entry[metric] = {**stat, "values": [_num(row.get(metric, math.nan))
                                                for row in lasts]}
    if stat := _stat((r.summary or {}).get("seconds") for r in runs):
        entry["seconds"] = stat
    return entry


def comparisons(groups: Sequence[Mapping[str, Any]], *,
                test: str = "welch") -> list[dict[str, Any]]:
    """Every pair of ``groups`` (entries of ``results.json``) compared on each
    final metric of :data:`COMPARED`, Holm-adjusted per metric.

    Parameters
    ----------
    groups : sequence of mapping
        The ``groups`` of :func:`aggregate_runs` (their ``final`` values and seeds).
    test : {"welch", "paired", "permutation"}
        The test (:func:`backproplab.sweeps.stats.compare_groups`); ``"paired"``
        pairs the runs of two groups by seed.

    Returns
    -------
    list of dict
        The entries of :func:`~backproplab.sweeps.stats.compare_groups`, the
        metrics one after the other.
    """
    labels = [g["label"] for g in groups]
    out: list[dict[str, Any]] = []
    for metric in COMPARED:
        values = {g["label"]: ((g.get("final") or {}).get(metric) or {}).get("values") or []
                  for g in groups}
        seeds = {g["label"]: g.get("seeds") or [] for g in groups}
        if len(set(labels)) == len(labels) > 1:
            out += compare_groups(values, metric, test=test, seeds=seeds)
    return out


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """One field of every row as float64; missing or non-numeric values become NaN."""
    values = [r.get(key) for r in rows]
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([v if is_finite_number(v) else np.nan for v in values], dtype=np.float64)


def _batch_stats(runs: Sequence[RunFolder]) -> dict[str, list]:
    """Mean/std of the loss per ``(epoch, step)`` across runs (columnar)."""
    tables = []
    for run in runs:
        if not run.batches:
            continue
        epoch, step = _column(run.batches, "epoch"), _column(run.batches, "step")
        keep = np.isfinite(epoch) & np.isfinite(step) & (step >= 0)
        if keep.any():
            tables.append((epoch[keep].astype(np.int64), step[keep].astype(np.int64),
                           _column(run.batches, "loss")[keep]))
    if not tables:
        return {"epoch": [], "step": [], "n": [], "loss_mean": [], "loss_std": []}
    # (epoch, step) -> one integer that sorts the same way
    width = max(int(s.max()) for _, s, _ in tables) + 1
    flat = [e * width + s for e, s, _ in tables]
    keys = np.unique(np.concatenate(flat))
    grid = np.full((len(tables), len(keys)), np.nan)
    for i, (f, (_, _, loss)) in enumerate(zip(flat, tables)):
        grid[i, np.searchsorted(keys, f)] = loss
    means, stds, counts = column_stats(grid)
    return {
        "epoch": (keys // width).tolist(),
        "step": (keys % width).tolist(),
        "n": counts.astype(int).tolist(),
        "loss_mean": [x if math.isfinite(x) else None for x in means.tolist()],
        "loss_std": [x if math.isfinite(x) else None for x in stds.tolist()],
    }


def _trial_records(runs: Sequence[RunFolder], damage: Mapping[str, str],
                   missing: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Every trial's entry of ``results.json``: status, error, seconds."""
    trials = []
    for run in runs:
        status = (run.status or {}).get("status")
        error = (run.status or {}).get("error") if status == "failed" else None
        if run.name in damage:
            status, error = "failed", damage[run.name]
        elif run.finished:
            status = "ok"
        elif status is None or status == "ok":  # "ok" without a summary: not finished
            status = "incomplete"
        seconds = (run.summary or run.status or {}).get("seconds", math.nan)
        trials.append({"name": run.name, "status": status, "error": error,
                       "seconds": _num(seconds if run.name not in damage else math.nan)})
    trials.extend({"name": name, "status": "failed" if why else "not started", "error": why,
                   "seconds": None} for name, why in missing.items())
    return trials


def _members(runs: Sequence[RunFolder], folder: SweepFolder, missing: Iterable[str],
             varying: Sequence[str]) -> dict[str, list[tuple]]:
    """Grid point (its varying values, canonical) -> ``(trial, seed)`` of every
    trial of it: ``sweep.json``'s values where it lists them, else the run folders' configs."""
    out: dict[str, list[tuple]] = {}
    for run in runs:  # where sweep.json lists the trial, its values (a config may be another's)
        values = (folder.values(run.name, varying) if folder.listed else {}) or {
            **{k: run.config.get(k) for k in varying}, "seed": run.config.get("seed")}
        out.setdefault(_json_key({k: values.get(k) for k in varying}), []).append(
            (run.name, values.get("seed")))
    for name in missing:
        values = folder.values(name, varying)
        out.setdefault(_json_key({k: values.get(k) for k in varying}), []).append(
            (name, values.get("seed")))
    return out


def summarize_runs(runs: Sequence[RunFolder]) -> dict[str, Any]:
    """The statistics of one group's runs (readable ones; see :func:`aggregate_runs`).

    Parameters
    ----------
    runs : sequence of RunFolder
        The runs of one group (e.g. one grid point's seeds, or a single run).

    Returns
    -------
    dict
        ``seeds``, ``trials``, ``n`` and ``final`` over the finished runs;
        ``epochs`` and ``batches`` over every run, each epoch (step) over the
        runs that have finished it; ``running``: the runs without a summary.
    """
    done = [r for r in runs if r.finished]
    return {"seeds": [r.config.get("seed") for r in done], "trials": [r.name for r in done],
            "n": len(done), "epochs": _epoch_rows(runs), "final": _final(done),
            "batches": _batch_stats(runs), "running": [r.name for r in runs if not r.finished]}


def aggregate_runs(folder: SweepFolder, *, test: str = "welch",
                   running: bool = False) -> dict[str, Any]:
    """Group the runs of ``folder`` by config without seed and aggregate the finished ones.

    A trial whose files cannot be read, or whose finished run is not provably
    one whole run of its config (:func:`backproplab.sweeps.damage.trial_damage`,
    :func:`~backproplab.sweeps.damage.config_damage`), is not aggregated: it is
    ``"failed"`` with the reason as its error; a trial without a config is
    ``"not started"``.

    Parameters
    ----------
    folder : SweepFolder
        The sweep folder (its trials, and ``sweep.json``'s grid order when it has one).
    test : {"welch", "paired", "permutation"}
        The test of the ``comparisons`` (:func:`comparisons`).
    running : bool, default=False
        Also put the finished epochs of trials still running (no summary yet) into
        their group's ``epochs`` and ``batches``, naming them in its ``running``;
        ``final``, ``n`` and the comparisons stay over finished trials.

    Returns
    -------
    dict
        The ``results.json`` structure: ``groups`` (each with ``values``,
        ``label``, ``seeds``, ``trials``, ``n`` -- the seeds aggregated --,
        ``missing`` -- the trials of the group that are not, with their seed
        and status --, ``epochs``, ``final`` and ``batches``), ``comparisons``,
        ``trials`` (every trial's status) and ``complete`` (every trial
        aggregated).
    """
    runs = [run for run in folder.trials if run.is_run()]
    missing = {run.name: config_damage(run) for run in folder.trials if not run.is_run()}
    damage = trial_damage(folder, runs)  # damaged, or finished but not provably whole
    finished = [r for r in runs if r.finished and r.name not in damage]
    partial = [r for r in runs if running and not r.finished and r.name not in damage
               and r.epochs]
    grouped: dict[str, list[RunFolder]] = {}
    for run in finished + partial:
        grouped.setdefault(group_key(run.config), []).append(run)
    groups = list(grouped.values())
    varying = _varying_keys(groups, folder)
    if not folder.listed:  # no grid order to follow: order by the varying values
        groups.sort(key=lambda g: [_sort_key(g[0].config.get(k)) for k in varying])
    eval_splits = {r.summary.get("eval_split") for r in finished if r.summary.get("eval_split")}
    trials = _trial_records(runs, damage, missing)
    status_of = {t["name"]: t["status"] for t in trials}
    members = _members(runs, folder, missing, varying)

    out_groups = []
    for group in groups:
        values = {k: group[0].config.get(k) for k in varying}
        stats = summarize_runs(group)
        listed = stats["trials"] + stats["running"]
        out_groups.append({
            "label": _label(values),
            "values": values,
            "config": {k: v for k, v in group[0].config.items() if k not in NOT_GROUP_KEYS},
            **{k: stats.pop(k) for k in ("seeds", "trials", "n")},
            "missing": [{"trial": name, "seed": seed, "status": status_of[name]}
                        for name, seed in members.get(_json_key(values), [])
                        if name not in listed],
            **stats,
        })
        if not running:
            del out_groups[-1]["running"]
    return {
        "format": RESULTS_FORMAT,
        "std": STD_NOTE,
        "ci95": CI_NOTE,
        "test": test,
        "varying": varying,
        "eval_split": eval_splits.pop() if len(eval_splits) == 1 else None,
        "counts": {s: sum(1 for t in trials if t["status"] == s)
                   for s in ("ok", "failed", "incomplete", "not started")},
        "complete": all(t["status"] == "ok" for t in trials),
        "groups": out_groups,
        "comparisons": comparisons(out_groups, test=test),
        "trials": trials,
    }


def aggregate_sweep(sweep_dir: str | Path | SweepFolder, *, write: bool = True,
                    test: str = "welch", running: bool = False) -> dict[str, Any]:
    """Aggregate the run folders of ``sweep_dir``; with ``write``, save
    ``results.json``, ``results.csv`` and ``results_batches.csv`` there.

    Parameters
    ----------
    sweep_dir : str, Path or SweepFolder
        The sweep folder (an opened one is read as it is, not opened again).
    write : bool
        Write the result files.
    test : {"welch", "paired", "permutation"}
        The test comparing the groups (recorded in ``results.json``).
    running : bool
        Also draw on the finished epochs of trials still running (:func:`aggregate_runs`).

    Returns
    -------
    dict
        The ``results.json`` structure (:func:`aggregate_runs`).

    Raises
    ------
    BackproplabError
        For a folder that holds no sweep, an unknown ``test``, or with ``write`` a
        folder another process is writing (a sweep still running).
    """
    check_test(test)
    folder = (sweep_dir if isinstance(sweep_dir, SweepFolder) else SweepFolder(sweep_dir)).check()
    root = folder.path
    if not folder.trials:
        raise BackproplabError(
            f"{root} holds no sweep and no run folders; give the --out folder of a sweep")
    if not write:
        return _aggregated(folder, test, running)
    with lock_folder(root, "sweep"):  # not while a sweep writes it (its results would win)
        results = _aggregated(folder, test, running)
        _write_results(root, results)
    return results


def _aggregated(folder: SweepFolder, test: str, running: bool) -> dict[str, Any]:
    results = aggregate_runs(folder, test=test, running=running)
    results["sweep_dir"] = str(folder.path.resolve())
    return results


def read_sweep(sweep_dir: str | Path | SweepFolder, log: Callable[[str], None] | None = None,
               ) -> dict[str, Any]:
    """A sweep's aggregate as far as it is finished, for reading it (nothing written).

    Trials still running give their finished epochs; the trials left out (not
    started, running, failed, damaged) are named in one line
    (:func:`~backproplab.sweeps.damage.incomplete_message`) given to ``log``.

    Parameters
    ----------
    sweep_dir : str, Path or SweepFolder
        The sweep folder (an opened one is read as it is).
    log : callable or None, default None
        Called with that line when some trial is left out.

    Returns
    -------
    dict
        The ``results.json`` structure (:func:`aggregate_runs`).

    Raises
    ------
    BackproplabError
        For a folder that holds no sweep.
    """
    results = aggregate_sweep(sweep_dir, write=False, running=True)
    message = incomplete_message(results)
    if message and log is not None:
        log(message)
    return results


# ---------------------------------------------------------------------------
# output


def format_cell(value: Any) -> str:
    """A value as a cell of the results' CSV files and tables.

    Parameters
    ----------
    value : object
        A number, a list (of hidden sizes), a string or ``None``.

    Returns
    -------
    str
        ``""`` for ``None``, ``repr`` of a float (every digit), a list's items
        joined by commas, ``str`` of anything else.

    Examples
    --------
    >>> [format_cell(v) for v in (None, 0.1, [300, 100], "sgd")]
    ['', '0.1', '300,100', 'sgd']
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _epochs_csv(results: Mapping[str, Any]) -> str:
    """``results.csv``: one row per group x epoch, ``METRIC_mean``, ``METRIC_std``,
    ``METRIC_ci95_lo`` and ``METRIC_ci95_hi`` columns (the interval's cells are
    empty below 2 seeds)."""
    varying = list(results["varying"])
    header = ["group", *varying, "epoch", "n"]
    for metric in EPOCH_METRICS:
        header += [f"{metric}_mean", f"{metric}_std", f"{metric}_ci95_lo", f"{metric}_ci95_hi"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for group in results["groups"]:
        for row in group["epochs"]:
            cells = [group["label"], *(format_cell(group["values"].get(k)) for k in varying),
                     row["epoch"], row["n"]]
            for metric in EPOCH_METRICS:
                stat = row.get(metric) or {}
                lo, hi = stat.get("ci95") or (None, None)
                cells += [format_cell(stat.get("mean")), format_cell(stat.get("std")),
                          format_cell(lo), format_cell(hi)]
            writer.writerow(cells)
    return buf.getvalue()


def _batches_csv(results: Mapping[str, Any]) -> str:
    """``results_batches.csv``: one row per group x batch step."""
    varying = list(results["varying"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["group", *varying, "epoch", "step", "n", "loss_mean", "loss_std"])
    for group in results["groups"]:
        b = group["batches"]
        fixed = [group["label"], *(format_cell(group["values"].get(k)) for k in varying)]
        for e, s, n, m, sd in zip(b["epoch"], b["step"], b["n"], b["loss_mean"], b["loss_std"]):
            writer.writerow([*fixed, e, s, n, format_cell(m), format_cell(sd)])
    return buf.getvalue()


def _write_results(sweep_dir: str | Path, results: Mapping[str, Any]) -> Path:
    """Write ``results.json``, ``results.csv`` and ``results_batches.csv``; returns
    the path of ``results.json``."""
    root = Path(sweep_dir)
    atomic_write_text(root / RESULTS_CSV, _epochs_csv(results))
    atomic_write_text(root / RESULTS_BATCHES_CSV, _batches_csv(results))
    return atomic_write_text(root / RESULTS, dumps_results(results) + "\n")


def dumps_results(obj: Any, indent: int = 2, _level: int = 0) -> str:
    """JSON like ``json.dumps(obj, indent=2)``, except that a list of plain
    values (the per-batch columns: hundreds of thousands of numbers) stays on
    one line, which keeps ``results.json`` several times smaller."""
    pad, inner = " " * (indent * _level), " " * (indent * (_level + 1))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {dumps_results(v, indent, _level + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return json.dumps(list(obj), allow_nan=False)
        return "[\n" + ",\n".join(inner + dumps_results(v, indent, _level + 1)
                                   for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


__all__ = [
    "CI_NOTE",
    "COMPARED",
    "EPOCH_METRICS",
    "STD_NOTE",
    "aggregate_runs",
    "aggregate_sweep",
    "comparisons",
    "format_cell",
    "group_key",
    "read_sweep",
    "summarize_runs",
    ]
