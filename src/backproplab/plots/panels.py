"""Panels shared by every figure of runs: each draws into an axes it is given.

One run's ``loss.png`` (:mod:`backproplab.plots.run`), the study's figures
(:mod:`backproplab.study.figures`) and figures of sweeps draw the same curves
with these, so a curve looks and means the same wherever it appears:

- :func:`batch_loss_panel`: the per-batch training loss, raw and smoothed
  (bias-corrected EMA), mean +- std across runs;
- :func:`train_eval_panel`: training vs evaluation loss or accuracy per epoch;
- :func:`band`: a mean curve with its +- std band (:func:`interval_band`: with any band);
- :func:`rate_axis`: the learning rate of every epoch on a right-hand axis;
- :func:`legend_below`: a legend under the axes, where no curve can cross it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backproplab.plots.curves import ema, ema_beta, mean_band, stack_curves, thin
from backproplab.runs import RunFolder

#: Axis labels of the metrics found in ``metrics.jsonl``.
_METRIC_LABELS = {
    "train_loss": "training loss",
    "train_accuracy": "training accuracy",
    "eval_loss": "evaluation loss",
    "eval_accuracy": "evaluation accuracy",
}


def eval_split(runs: Sequence[RunFolder]) -> str:
    """The evaluation split of runs, from their summaries.

    Parameters
    ----------
    runs : sequence of RunFolder
        Runs of one kind.

    Returns
    -------
    str
        ``"validation"`` or ``"test"`` (a ``final`` run without a summary: ``"test"``).
    """
    for run in runs:
        split = (run.summary or {}).get("eval_split")
        if split:
            return split
    return "test" if runs and runs[0].config.get("final") else "validation"


def metric_label(metric: str, split: str) -> str:
    """The axis label of a metric of ``metrics.jsonl``, naming the evaluation split.

    Parameters
    ----------
    metric : str
        A key of :data:`_METRIC_LABELS` (others pass through).
    split : str
        ``"validation"`` or ``"test"``.

    Returns
    -------
    str
        For example ``"test accuracy"`` for ``eval_accuracy`` on the test split.
    """
    return _METRIC_LABELS.get(metric, metric).replace("evaluation", split)


def band(ax, x, mean, std, n, label: str, color=None, marker=None, lw: float = 1.8):
    """A mean curve and, where two or more runs have a value, its +- std band.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    x, mean, std, n : array-like
        From :func:`~backproplab.plots.curves.mean_band` (``n``: runs per point).
    label : str
        The legend's entry.
    color, marker : optional
        matplotlib's line color and marker.
    lw : float
        The line's width.

    Returns
    -------
    matplotlib.lines.Line2D
        The mean's line.
    """
    spread = np.where(np.asarray(n) > 1, std, np.nan)
    return interval_band(ax, x, mean, mean - spread, mean + spread, label, color=color,
                         marker=marker, lw=lw)


def interval_band(ax, x, mean, lo, hi, label: str, color=None, marker=None, lw: float = 1.8):
    """A mean curve and a band from ``lo`` to ``hi`` where they are finite (e.g. a
    confidence interval, or mean +- std as :func:`band` draws it).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    x, mean, lo, hi : array-like
        The curve and its band's edges (NaN: no band at that point).
    label : str
        The legend's entry.
    color, marker : optional
        matplotlib's line color and marker.
    lw : float
        The line's width.

    Returns
    -------
    matplotlib.lines.Line2D
        The mean's line.
    """
    (line,) = ax.plot(x, mean, label=label, color=color, marker=marker, lw=lw, markersize=4)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if np.isfinite(lo).any():
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def _batch_curve(run: RunFolder):
    rows = run.batches
    loss = [r.get("loss") for r in rows]
    return (np.array([r["step"] for r in rows], dtype=np.float64),
            np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                      for v in loss], dtype=np.float64),
            np.array([r.get("epoch", 0) for r in rows]))


def batch_loss_panel(ax, runs: Sequence[RunFolder], *, beta: float | None = None):
    """The per-batch training loss of one configuration, raw and smoothed.

    Raw: the loss of every batch of the first run (before its update), thin and
    light (thinned to :data:`~backproplab.plots.curves.MAX_RAW_POINTS`).
    Smoothed: a bias-corrected EMA of each run's curve, then mean +- std across
    the runs. Dotted vertical lines mark the epoch boundaries; the y axis stops
    above the 99.5th percentile of the raw losses, so one spike does not flatten
    the curve. Runs without per-batch losses are left out.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    runs : sequence of RunFolder
        The seeds of one configuration.
    beta : float, optional
        The EMA weight; default :func:`~backproplab.plots.curves.ema_beta` of
        the longest curve.

    Returns
    -------
    float or None
        The EMA weight used, or ``None`` when no run has per-batch losses (the
        panel then says so).
    """
    curves = [_batch_curve(r) for r in runs if r.batches]
    ax.set_ylabel("training loss (cross-entropy)")
    ax.grid(alpha=0.3)
    if not curves:
        ax.text(0.5, 0.5, "no per-batch losses", ha="center", va="center",
                transform=ax.transAxes)
        return None
    beta = ema_beta(max(len(c[0]) for c in curves)) if beta is None else float(beta)
    x0, y0, e0 = curves[0]
    xt, yt = thin(x0, y0)
    several = len(curves) > 1
    ax.plot(xt, yt, lw=0.4, alpha=0.35, color="0.45", label="raw per-batch loss" + (
        f" (seed {runs[0].config.get('seed')})" if several else ""))
    mean, std, n = mean_band([ema(y, beta) for _, y, _ in curves])
    x = np.nanmax(stack_curves([c[0] for c in curves]), axis=0)
    label = f"EMA, bias-corrected, β={beta:.4g} (≈{1.0 / (1.0 - beta):.0f}-batch window)"
    if several:
        label += f"; mean ± std over {len(curves)} seeds"
    xs, ms = thin(x, mean)
    band(ax, xs, ms, thin(x, std)[1], thin(x, n)[1], label, color="C0")
    boundaries = np.flatnonzero(np.diff(e0)) + 1
    for i in boundaries:
        ax.axvline(x0[i] - 0.5, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("batch (optimizer step)" + ("; dotted lines: epoch boundaries"
                                               if len(boundaries) else ""))
    finite = y0[np.isfinite(y0)]
    if finite.size:
        top = float(np.percentile(finite, 99.5))
        if np.isfinite(mean).any():
            top = max(top, float(np.nanmax(mean)))
        if top > 0:  # every loss 0 (one example, learned): matplotlib's own limits
            ax.set_ylim(0, top * 1.05)
    ax.legend(loc="upper right")
    return beta


def train_eval_panel(ax, runs: Sequence[RunFolder], kind: str = "loss", *,
                     split: str | None = None, show_seeds: bool = True) -> list:
    """Training vs evaluation ``kind`` (loss or accuracy) per epoch.

    With several runs: mean +- std bands and, with ``show_seeds``, each seed as
    a thin line. Markers where there are at most 30 epochs.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    runs : sequence of RunFolder
        The seeds of one configuration.
    kind : str
        ``"loss"`` or ``"accuracy"``.
    split : str, optional
        The evaluation split's name for the legend; default from the runs
        (:func:`eval_split`).
    show_seeds : bool
        Draw every run's own curve too.

    Returns
    -------
    list of matplotlib.lines.Line2D
        The mean lines drawn (training, then evaluation; a metric no run
        recorded is left out).
    """
    split = eval_split(runs) if split is None else split
    lines = []
    for metric, color, name in ((f"train_{kind}", "C0", "training"),
                                (f"eval_{kind}", "C1", split)):
        curves = [r.metric(metric) for r in runs]
        if all(np.isnan(c).all() for c in curves):
            continue
        x = np.nanmax(stack_curves([r.epoch_numbers() for r in runs]), axis=0)
        mean, std, n = mean_band(curves)
        lines.append(band(ax, x, mean, std, n, f"{name} {kind}", color=color,
                          marker="o" if len(x) <= 30 else None))
        if show_seeds and len(runs) > 1:
            for c, r in zip(curves, runs):
                ax.plot(r.epoch_numbers(), c, color=color, lw=0.5, alpha=0.4)
    ax.set_xlabel("epoch")
    ax.set_ylabel(kind)
    if len(runs[0].epochs) <= 20:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    return lines


def rate_axis(ax, epochs: list, rates: list):
    """The learning rate each epoch used, as steps on a right-hand axis of ``ax``.

    The axis is logarithmic when the rates span more than a factor of 10.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel whose x axis (epochs) the rates share.
    epochs : list of int
        The epochs.
    rates : list of float or None
        The rate of each epoch (``None`` where not recorded).

    Returns
    -------
    matplotlib.lines.Line2D or None
        The rates' line, or ``None`` when no rate was recorded.
    """
    if not epochs or not any(isinstance(r, (int, float)) for r in rates):
        return None
    values = np.array([np.nan if r is None else float(r) for r in rates])
    ax_lr = ax.twinx()
    (line,) = ax_lr.step(epochs, values, where="mid", color="tab:gray", linestyle="--",
                         linewidth=1.2, alpha=0.8, label="learning rate (right axis)")
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() > 10 * finite.min():
        ax_lr.set_yscale("log")
    elif finite.size:
        ax_lr.set_ylim(0, finite.max() * 1.15)
    ax_lr.set_ylabel("learning rate", color="tab:gray")
    ax_lr.tick_params(axis="y", colors="tab:gray")
    return line


def legend_below(ax, handles: list | None = None, labels: list | None = None, ncols: int = 2):
    """A legend under the axes (below the x label), where no curve can run through it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    handles, labels : list, optional
        The entries (default: the axes' own).
    ncols : int
        Entries per row.

    Returns
    -------
    matplotlib.legend.Legend
        The legend (constrained layout makes room for it).
    """
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                     ncols=ncols, fontsize=8, frameon=False)


__all__ = ["band", "batch_loss_panel", "eval_split", "interval_band", "legend_below",
           "metric_label", "rate_axis", "train_eval_panel"]
