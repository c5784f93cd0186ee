"""Figures of many runs at once: a sweep's groups, or groups from several folders.

They draw *aggregated* groups, the entries of a sweep's ``results.json``
(:func:`backproplab.sweeps.aggregate.aggregate_runs`): each has a ``label``, its
swept ``values``, ``epochs`` (per epoch, every metric's ``{"mean", "ci95", "n"}``
over the seeds that reached that epoch) and ``final`` (the same for each run's
last epoch, over the finished runs). The statistics come with the groups; this
module computes none, it only draws them:

* a curve per group (the mean over seeds) with a band over its 95% interval of
  the mean; where a group has one seed there is no interval, and no band;
* the final metric against the swept value, with the interval as error bars.

Like every figure of :mod:`backproplab.plots`, they use matplotlib's object API,
the shared panels' labels and bands (:mod:`~backproplab.plots.panels`), and are
written atomically (:func:`~backproplab.plots.figure.save_figure`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.plots.figure import new_figure, save_figure
from backproplab.plots.panels import interval_band, metric_label

#: The per-epoch metrics drawn as curves, and the final metric drawn against the setting.
CURVES = ("eval_loss", "eval_accuracy")
FINAL = "eval_accuracy"
#: What the bands and bars are, said on every figure.
BAND_NOTE = ("line: mean over seeds; band and bars: 95% Student-t interval of the mean, "
             "cut at the metric's range (none with a single seed)")
_MARKERS = ("o", "s", "^", "D", "v", "P")


def _name(metric: str, split: str | None) -> str:
    return metric_label(metric, split or "evaluation")


def _stat(entry: Mapping[str, Any] | None, metric: str) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of a ``{"mean", "ci95"}`` entry; NaN where there is none.

    The interval is cut at the values ``metric`` can take (an accuracy lies in
    [0, 1], a loss or a time is not negative): with two or three seeds the t
    interval can be wider than that, and the axis would show impossible values.
    """
    entry = entry or {}
    mean = entry.get("mean")
    ci = entry.get("ci95") or (None, None)
    mean, lo, hi = (math.nan if v is None else float(v) for v in (mean, *ci))
    low, high = -math.inf, math.inf
    if "accuracy" in metric:
        low, high = 0.0, 1.0
    elif metric.endswith(("loss", "seconds")):
        low = 0.0
    return mean, min(max(lo, low), high), min(max(hi, low), high)  # NaN stays NaN


def curve_panel(ax, groups: Sequence[Mapping[str, Any]], metric: str, *,
                split: str | None = None, x: Sequence[Mapping[int, float]] | None = None,
                x_name: str = "epoch", x_label: str | None = None) -> None:
    """Draw every group's mean curve of ``metric`` per epoch, with its interval as a band.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    groups : sequence of mapping
        Aggregated groups (``label``, ``epochs``), in legend order.
    metric : str
        A per-epoch metric, e.g. ``"eval_loss"``.
    split : str, optional
        The evaluation split's name, for the axis label.
    x : sequence of mapping of int to float, optional
        Per group, epoch -> where that epoch is drawn (optimizer steps, seconds...);
        by default the epoch itself.
    x_name : str, default "epoch"
        What ``x`` is, in the panel's title (``"... vs steps"``).
    x_label : str, optional
        The x axis's label; default ``x_name``.
    """
    from matplotlib.ticker import MaxNLocator

    for i, group in enumerate(groups):
        rows = [r for r in group.get("epochs", []) if metric in r]
        if not rows:
            continue
        at = {r["epoch"]: r["epoch"] for r in rows} if x is None else x[i]
        xs = np.array([at.get(r["epoch"], math.nan) for r in rows], dtype=np.float64)
        mean, lo, hi = np.array([_stat(r[metric], metric) for r in rows]).T
        interval_band(ax, xs, mean, lo, hi, group["label"], color=f"C{i % 10}",
                      marker="o" if len(rows) <= 30 else None, lw=1.4)
    ax.set_xlabel(x_label or x_name)
    if x is None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_name(metric, split))
    ax.set_title(f"{_name(metric, split)} " + ("per epoch" if x is None else f"vs {x_name}"))
    ax.grid(alpha=0.3)


def _positions(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None, bool]:
    """x positions of setting values: the numbers themselves (log scale when all are
    positive and span a factor of 10 or more), else one slot per distinct value."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and values:
        x = np.array(values, dtype=np.float64)
        return x, None, bool((x > 0).all() and x.max() >= 10 * x.min())
    names = list(dict.fromkeys(_text(v) for v in values))
    return np.array([names.index(_text(v)) for v in values], dtype=np.float64), names, False


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def final_panel(ax, groups: Sequence[Mapping[str, Any]], metric: str = FINAL, *,
                setting: str | None = None, split: str | None = None) -> None:
    """Draw each group's final ``metric`` with its interval as error bars.

    With ``setting``, against that setting's value, one line per combination of
    the groups' other values (each with its own marker in the legend); without,
    one point per group, at its number (1 for the first of ``groups``), which
    :func:`plot_groups` puts before each label in the legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    groups : sequence of mapping
        Aggregated groups (``label``, ``values``, ``final``); those without a
        finished run are left out.
    metric : str
        A final metric, e.g. ``"eval_accuracy"``.
    setting : str, optional
        The swept setting on the x axis (a key of every group's ``values``).
    split : str, optional
        The evaluation split's name, for the axis label.
    """
    from matplotlib.lines import Line2D  # matplotlib loads only when a figure is drawn

    done = [(i, g) for i, g in enumerate(groups) if (g.get("final") or {}).get(metric)]
    xs, names, log = _positions([g["values"][setting] if setting else str(i + 1)
                                 for i, g in done])
    series: dict[str, list] = {}  # one line per combination of the other values
    for (i, g), x in zip(done, xs):
        rest = " ".join(f"{k}={_text(v)}" for k, v in g.get("values", {}).items()
                        if k != setting)
        series.setdefault(rest if setting else "", []).append(
            (x, i, _stat(g["final"][metric], metric)))
    keys = []  # the legend: each series by its line and marker
    for n, (key, points) in enumerate(series.items()):
        points.sort(key=lambda p: p[0])
        marker = _MARKERS[n % len(_MARKERS)]
        if setting:  # the line joins a series; each point has its group's colour
            ax.plot([p[0] for p in points], [p[2][0] for p in points], color="0.6",
                    linewidth=1)
            keys.append(Line2D([], [], color="0.4", linewidth=1, marker=marker, label=key))
        for x, i, (mean, lo, hi) in points:
            err = [[mean - lo], [hi - mean]] if math.isfinite(lo) else None
            ax.errorbar([x], [mean], yerr=err, fmt=marker, color=f"C{i % 10}", capsize=4)
    if log:
        ax.set_xscale("log")
    if names is not None:
        ax.set_xticks(range(len(names)), names)
    elif len(set(xs)) <= 12:
        ax.set_xticks(sorted(set(xs)), [f"{v:g}" for v in sorted(set(xs))])
        ax.minorticks_off()
    if setting and len(series) > 1:
        ax.legend(handles=keys, fontsize=8)
    ax.set_xlabel(setting or "group (its number in the legend)")
    ax.set_ylabel(f"final {_name(metric, split)}")
    ax.set_title(f"final {_name(metric, split)}" + (f" vs {setting}" if setting else ""))
    ax.grid(alpha=0.3)


def plot_groups(groups: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                title: str, setting: str | None = None,
                split: str | None = None) -> Path:
    """Write one figure of ``groups``: a curve panel per metric of :data:`CURVES`
    and the final :data:`FINAL` (against ``setting`` when given).

    Parameters
    ----------
    groups : sequence of mapping
        Aggregated groups (see the module's docstring), in legend order.
    path : str or os.PathLike
        The PNG to write.
    title : str
        The figure's title.
    setting : str, optional
        The swept setting for the final panel's x axis.
    split : str, optional
        The evaluation split's name (``"validation"`` or ``"test"``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if setting is None:  # the final panel places the groups by number
        groups = [{**g, "label": f"{i + 1}. {g['label']}"} for i, g in enumerate(groups)]
    fig, axes = new_figure(ncols=len(CURVES) + 1, width=4.6, height=3.8, dpi=110)
    for ax, metric in zip(axes[0], CURVES):
        curve_panel(ax, groups, metric, split=split)
    final_panel(axes[0][-1], groups, FINAL, setting=setting, split=split)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center",
                   ncols=min(len(labels), 4), fontsize=8)
    fig.suptitle(f"{title}\n{BAND_NOTE}", fontsize=9)
    return save_figure(fig, path)


def plot_sweep(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a sweep's figure from its aggregated ``results`` (the structure of
    ``results.json``): every group's curves with bands, and the final accuracy
    against the first swept setting.

    Parameters
    ----------
    results : mapping
        :func:`backproplab.sweeps.aggregate.aggregate_runs`'s result.
    path : str or os.PathLike
        The PNG to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    varying = list(results.get("varying") or [])
    counts = results.get("counts") or {}
    done = counts.get("ok", 0)
    total = sum(counts.values())
    name = Path(str(results.get("sweep_dir") or path)).name
    title = f"sweep {name}: {done} of {total} trials finished"
    return plot_groups(results["groups"], path, title=title,
                       setting=varying[0] if varying else None,
                       split=results.get("eval_split"))


__all__ = ["BAND_NOTE", "CURVES", "FINAL", "curve_panel", "final_panel", "plot_groups",
           "plot_sweep"]
