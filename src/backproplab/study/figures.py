"""Figures of the study, drawn only from run folders (they never train).

Every function takes run folders (the ``--out`` of ``backproplab train`` or the
trial folders of a sweep), reads ``config.json``, ``metrics.jsonl``,
``batches.jsonl``, ``summary.json`` and, where a figure needs the network,
``model.npz``, and writes one PNG atomically; it returns the PNG's path.

Where several runs of one configuration are given (its seeds), :func:`batch_loss`
and :func:`train_val` draw the panels of one run's ``loss.png``
(:mod:`backproplab.plots.panels`): the mean across the runs with a band of +- one
*sample* standard deviation (ddof=1), the spread of the seeds. The figures that
put several configurations side by side, :func:`compare` and :func:`lr_summary`,
draw them as a sweep's groups are drawn (:mod:`backproplab.plots.sweeps`, with the
statistics of :func:`backproplab.sweeps.aggregate.summarize_runs`): the mean with
its 95% interval, the precision of the comparison.

Functions:

- :func:`batch_loss`: the per-batch training loss, raw and smoothed with a
  bias-corrected exponential moving average (:func:`backproplab.plots.ema`).
- :func:`train_val`: training vs evaluation loss and accuracy per epoch.
- :func:`compare`: several configurations (learning rates, batch sizes) in
  panels of (metric, x axis), x being epochs, optimizer steps, examples seen
  or training wall time.
- :func:`final_summary`: value per seed and mean +- std of a run's last epoch
  (e.g. test accuracy of the final runs), with reference lines.
- :func:`lr_summary`: final evaluation accuracy and loss against the learning
  rate (log scale) with 95% intervals, with optional reference points.
- The figures of what one network learned (the confusion matrix, the decision
  boundary, weights, activations, examples) live in :mod:`backproplab.inspection`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.inspection.folder import run_folder
from backproplab.plots.figure import describe_config, new_figure, save_figure
from backproplab.plots.panels import batch_loss_panel, eval_split, metric_label, train_eval_panel
from backproplab.plots.sweeps import BAND_NOTE, curve_panel, final_panel
from backproplab.runs import BATCHES, RunFolder
from backproplab.study.layout import seeds_phrase
from backproplab.sweeps.aggregate import summarize_runs
from backproplab.sweeps.power import mean_std

#: x axes :func:`compare` can draw against.
X_AXES = {
    "epoch": "epoch",
    "steps": "optimizer steps (weight updates)",
    "examples": "training examples seen",
    "seconds": "training wall time (s, steps only, cumulative)",
}


def _x_values(run: RunFolder, axis: str) -> np.ndarray:
    """The x coordinate of every epoch record of ``run`` on ``axis`` (see :data:`X_AXES`)."""
    epochs = run.epoch_numbers()
    if axis == "epoch":
        return epochs
    if axis == "steps":
        steps = run.metric("steps")
        if np.isnan(steps).any():
            steps = epochs * run.steps_per_epoch()
        return steps
    if axis == "examples":
        return epochs * run.n_train()
    return np.nancumsum(run.metric("train_seconds"))  # "seconds" (compare checks the axis)


def _runs(run_dirs: Iterable[str | os.PathLike | RunFolder]) -> list[RunFolder]:
    runs = [run_folder(r) for r in run_dirs]
    if not runs:
        raise BackproplabError("no run folders to plot; run the experiment first")
    return runs


def _group(label: str, runs: Sequence[RunFolder], values: Mapping | None = None) -> dict:
    """``runs`` (one configuration's seeds) as an aggregated group, the form the
    sweeps' panels draw (:mod:`backproplab.plots.sweeps`)."""
    return {"label": label, "values": dict(values or {}), **summarize_runs(runs)}


def _epoch_x(runs: Sequence[RunFolder], axis: str) -> dict[int, float]:
    """Epoch -> the mean over ``runs`` of its coordinate on ``axis`` (finite values)."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for epoch, x in zip(run.epoch_numbers(), _x_values(run, axis)):
            if math.isfinite(x):
                by_epoch.setdefault(int(epoch), []).append(float(x))
    return {epoch: float(np.mean(xs)) for epoch, xs in by_epoch.items()}


# ---------------------------------------------------------------------------
# figures


def batch_loss(run_dirs, path, *, beta: float | None = None, title: str | None = None) -> Path:
    """The per-batch training loss of one configuration: raw and smoothed.

    Drawn by :func:`backproplab.plots.panels.batch_loss_panel` (raw loss of the
    first run, bias-corrected EMA of every run, mean +- std across runs, epoch
    boundaries), the same panel as the left one of a run's ``loss.png``.

    Parameters
    ----------
    run_dirs : iterable of path-like or RunFolder
        The seeds of one configuration.
    path : path-like
        Where to write the PNG.
    beta : float, optional
        The EMA weight; default :func:`~backproplab.plots.curves.ema_beta` of
        the curve length.
    title : str, optional
        Replaces the default title (the configuration's description).

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        If there is no run, or a run has no per-batch losses.
    """
    runs = _runs(run_dirs)
    for run in runs:
        if not run.batches:
            raise BackproplabError(f"{run.path} has no per-batch losses ({BATCHES}); "
                                   "rerun it with this version of backproplab")
    fig, axes = new_figure(width=8.0, height=4.5)
    ax = axes[0][0]
    batch_loss_panel(ax, runs, beta=beta)
    ax.set_title(title or f"Per-batch training loss: {describe_config(runs[0].config)}")
    return save_figure(fig, path, dpi=fig.dpi)


def train_val(run_dirs, path, *, title: str | None = None, show_seeds: bool = True,
              log_x: bool = False, marks: Mapping[int, str] | None = None) -> Path:
    """Training vs evaluation loss (left) and accuracy (right) per epoch.

    Each panel is :func:`backproplab.plots.panels.train_eval_panel` (the right
    panel of a run's ``loss.png`` is the same): with several runs, mean +- std
    bands. The evaluation split (validation or test) is named from the runs'
    summaries.

    Parameters
    ----------
    run_dirs : iterable of path-like or RunFolder
        The seeds of one configuration.
    path : path-like
        Where to write the PNG.
    title : str, optional
        Replaces the default title.
    show_seeds : bool
        Also draw each seed as a thin line.
    log_x : bool
        Epochs on a log axis.
    marks : mapping of int to str, optional
        Epoch -> label, drawn as dotted vertical lines (epochs beyond the runs
        are left out).

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        If there is no run.
    """
    runs = _runs(run_dirs)
    split = eval_split(runs)
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    last_epoch = max((len(r.epochs) and r.epochs[-1]["epoch"]) for r in runs)
    for ax, kind in zip(axes[0], ("loss", "accuracy")):
        train_eval_panel(ax, runs, kind, split=split, show_seeds=show_seeds)
        for epoch, label in (marks or {}).items():
            if epoch <= last_epoch:
                ax.axvline(epoch, color="0.4", ls=":", lw=1.2, label=label)
        if log_x:
            ax.set_xscale("log")
        ax.legend()
    fig.suptitle(title or f"Training vs {split}: {describe_config(runs[0].config)} "
                          f"({seeds_phrase(len(runs))})")
    return save_figure(fig, path, dpi=fig.dpi)


def compare(groups: Sequence[tuple[str, Sequence]], path, *,
            panels: Sequence[tuple[str, str]] = (("eval_loss", "epoch"),
                                                 ("eval_accuracy", "epoch")),
            title: str | None = None, log_x: Sequence[str] = ()) -> Path:
    """Several configurations side by side: one panel per ``(metric, x axis)``.

    Each configuration is aggregated over its seeds as a sweep's group is
    (:func:`backproplab.sweeps.aggregate.summarize_runs`) and drawn by the sweeps'
    own panel (:func:`backproplab.plots.sweeps.curve_panel`): the mean with a band
    over its 95% interval. With an x axis other than ``epoch`` an epoch is drawn at
    the mean of its x values across the seeds (e.g. cumulative training time).

    Parameters
    ----------
    groups : sequence of (str, sequence of path-like)
        ``(label, run folders)`` pairs, one per configuration (its seeds).
    path : path-like
        The PNG to write.
    panels : sequence of (str, str), default eval loss and accuracy against epochs
        Metrics of ``metrics.jsonl`` against an x axis of :data:`X_AXES`
        (``epoch``, ``steps``, ``examples``, ``seconds``).
    title : str, optional
    log_x : sequence of str, default ()
        The x axes drawn on a log scale.

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When ``groups`` is empty or a panel names an unknown x axis.
    """
    loaded = [(label, _runs(dirs)) for label, dirs in groups]
    if not loaded:
        raise BackproplabError("nothing to compare; run the sweep first")
    for _, axis in panels:
        if axis not in X_AXES:
            raise BackproplabError(f"unknown x axis {axis!r}; choose one of {', '.join(X_AXES)}")
    stats = [_group(f"{label} (n={len(runs)})", runs) for label, runs in loaded]
    ncols = min(len(panels), 2)
    fig, axes = new_figure(ncols=ncols, nrows=math.ceil(len(panels) / ncols),
                           width=5.5, height=4.0)
    flat = [ax for row in axes for ax in row]
    for ax, (metric, axis) in zip(flat, panels):
        x = None if axis == "epoch" else [_epoch_x(runs, axis) for _, runs in loaded]
        curve_panel(ax, stats, metric, split=eval_split(loaded[0][1]), x=x, x_name=axis,
                    x_label=X_AXES[axis])
        if axis in log_x:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=8)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    first = loaded[0][1][0]
    fig.suptitle(f"{title or 'Comparison: ' + str(first.config.get('dataset'))}\n{BAND_NOTE}",
                 fontsize=10)
    return save_figure(fig, path, dpi=fig.dpi)


def final_summary(run_dirs, path, *, metric: str = "eval_accuracy",
                  references: Mapping[str, float] | None = None,
                  title: str | None = None) -> Path:
    """The last epoch's ``metric`` of every run and their mean ± std, with reference lines.

    One point per seed, then the mean with a ± std error bar as the last point.
    Points, not bars: the axis is zoomed to the values (accuracies of a few runs
    differ in the third decimal), and bars cut off at a zoomed axis would
    exaggerate the differences.

    Parameters
    ----------
    run_dirs : sequence of path-like
        The runs (one per seed).
    path : path-like
        The PNG to write.
    metric : str, default "eval_accuracy"
    references : mapping of str to float, optional
        Horizontal lines, label -> value (e.g. the original write-up's number).
    title : str, optional

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    runs = _runs(run_dirs)
    values = []
    for r in runs:
        v = r.metric(metric)
        values.append(float(v[-1]) if len(v) else math.nan)
    arr = np.array(values)
    finite = arr[np.isfinite(arr)]
    mean, std, _ = mean_std(arr)
    std = std if math.isfinite(std) else 0.0
    fig, axes = new_figure(width=7.0, height=4.2)
    ax = axes[0][0]
    labels = [f"seed {r.config.get('seed')}" for r in runs] + ["mean ± std"]
    xs = np.arange(len(runs) + 1)
    ax.plot(xs[:-1], arr, "o", color="C0", markersize=8, label="one run (last epoch)")
    ax.errorbar([xs[-1]], [mean], yerr=[std], fmt="D", color="C1", markersize=8, capsize=8,
                lw=1.5, label=f"mean ± std over {len(runs)} run(s)")
    for x, h in zip(xs, list(arr) + [mean]):
        if math.isfinite(h):
            last = x == xs[-1]
            text = f"{h:.4f} ± {std:.4f}" if last and len(runs) > 1 else f"{h:.4f}"
            ax.annotate(text, (x, h), ha="left", va="center", fontsize=8, xytext=(9, 0),
                        textcoords="offset points")
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{i + 2}", ls="--", lw=1.2, label=f"{label}: {value:.4f}")
    ax.set_xticks(xs, labels, rotation=20)
    ax.set_xlim(-0.5, len(xs) - 0.2)
    ax.set_ylabel(metric_label(metric, eval_split(runs)))
    lo = min([v for v in list(finite) + list((references or {}).values())] or [0.0])
    hi = max([v for v in list(finite) + list((references or {}).values())] or [1.0])
    if "accuracy" in metric:
        span = max(hi - lo, 0.01)
        ax.set_ylim(max(0.0, lo - span), min(1.0, hi + span * 0.8))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or f"Final result: {describe_config(runs[0].config)}")
    return save_figure(fig, path, dpi=fig.dpi)


def lr_summary(groups: Sequence[tuple[float, Sequence]], path, *,
               references: Mapping[float, float] | None = None,
               reference_label: str = "reference", title: str | None = None) -> Path:
    """Last-epoch evaluation accuracy (left) and loss (right) against the learning rate.

    Per rate the mean over its finished seeds with its 95% interval as error bars,
    drawn by the sweeps' own panel (:func:`backproplab.plots.sweeps.final_panel`)
    from the statistics of :func:`backproplab.sweeps.aggregate.summarize_runs`
    (non-finite values left out); rates spanning a factor of 10 on a log axis.

    Parameters
    ----------
    groups : sequence of (float, sequence of path-like)
        ``(learning rate, run folders)`` pairs.
    path : path-like
        The PNG to write.
    references : mapping of float to float, optional
        Learning rate -> accuracy, drawn as crosses.
    reference_label : str, default "reference"
        Their legend entry.
    title : str, optional

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When a group has no run folder.
    """
    loaded = sorted(((float(lr), _runs(dirs)) for lr, dirs in groups), key=lambda t: t[0])
    stats = [_group(f"lr {lr:g}", runs, {"lr": lr}) for lr, runs in loaded]
    split = eval_split(loaded[0][1]) if loaded else "validation"
    fig, axes = new_figure(ncols=2, width=5.0, height=4.0)
    for ax, metric in zip(axes[0], ("eval_accuracy", "eval_loss")):
        final_panel(ax, stats, metric, setting="lr", split=split)
        if references and metric == "eval_accuracy":
            rx = sorted(references)
            ax.plot(rx, [references[k] for k in rx], "x--", color="C3", label=reference_label)
            ax.legend(fontsize=8)
        ax.set_xlabel("learning rate")
    first = loaded[0][1][0] if loaded else None
    default = "Learning rate vs last-epoch result" + (
        f": {first.config.get('dataset')}" if first else "")
    fig.suptitle(f"{title or default}\n{BAND_NOTE}", fontsize=10)
    return save_figure(fig, path, dpi=fig.dpi)


__all__ = ["X_AXES", "batch_loss", "compare", "final_summary", "lr_summary", "train_val"]
