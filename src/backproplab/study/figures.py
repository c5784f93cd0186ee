"""Figures of the study, drawn only from run folders (they never train).

Every function takes run folders (the ``--out`` of ``backproplab train`` or the
trial folders of a sweep), reads ``config.json``, ``metrics.jsonl``,
``batches.jsonl``, ``summary.json`` and, where a figure needs the network,
``model.npz``, and writes one PNG atomically; it returns the PNG's path.

Where several runs are given (one configuration, several seeds) a curve is the
mean across the runs and the shaded band is mean +- one *sample* standard
deviation (ddof=1), the same statistic as :mod:`backproplab.sweeps.aggregate`.

matplotlib is used through its object-oriented API with the Agg canvas only
(no ``pyplot``, no global state), so figures can be drawn in worker processes
and on machines without a display.

Functions:

- :func:`batch_loss`: the per-batch training loss, raw and smoothed with a
  bias-corrected exponential moving average (:func:`ema`).
- :func:`train_val`: training vs evaluation loss and accuracy per epoch.
- :func:`compare`: several configurations (learning rates, batch sizes) in
  panels of (metric, x axis), x being epochs, optimizer steps, examples seen
  or training wall time.
- :func:`final_summary`: value per seed and mean +- std of a run's last epoch
  (e.g. test accuracy of the final runs), with reference lines.
- :func:`lr_summary`: final evaluation accuracy and loss against the learning
  rate (log scale), with optional reference points.
- The figures of what one network learned (the confusion matrix, the decision
  boundary, weights, activations, examples) live in :mod:`backproplab.inspect`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.inspect import describe_config
from backproplab.plots import ema, ema_beta, new_figure, save_figure
from backproplab.runs import BATCHES, RunFolder

#: Default weight of the exponential moving average of per-batch losses is
#: chosen per curve (see :func:`ema_beta`); this is the shortest window used.
#: Most points drawn for a raw per-batch curve (longer curves are thinned).
MAX_RAW_POINTS = 20_000
#: Axis labels of the metrics found in ``metrics.jsonl``.
METRIC_LABELS = {
    "train_loss": "training loss",
    "train_accuracy": "training accuracy",
    "eval_loss": "evaluation loss",
    "eval_accuracy": "evaluation accuracy",
}
#: x axes :func:`compare` can draw against.
X_AXES = {
    "epoch": "epoch",
    "steps": "optimizer steps (weight updates)",
    "examples": "training examples seen",
    "seconds": "training wall time (s, steps only, cumulative)",
}


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v)


def x_values(run: RunFolder, axis: str) -> np.ndarray:
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
    if axis == "seconds":
        return np.nancumsum(run.metric("train_seconds"))
    raise BackproplabError(f"unknown x axis {axis!r}; choose one of {', '.join(X_AXES)}")


def _runs(run_dirs: Iterable[str | os.PathLike | RunFolder]) -> list[RunFolder]:
    runs = [r if isinstance(r, RunFolder) else RunFolder(r) for r in run_dirs]
    if not runs:
        raise BackproplabError("no run folders to plot; run the experiment first")
    return runs


def _stack(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Stack curves of possibly different lengths into (runs, max_len), NaN-padded."""
    n = max(len(c) for c in curves)
    out = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        out[i, :len(c)] = c
    return out


def mean_band(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, sample std (ddof=1), n)`` across curves at every position; std is NaN
    where fewer than two curves have a value."""
    arr = _stack(curves)
    n = np.sum(np.isfinite(arr), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(arr, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(arr), arr - mean, 0.0)
        var = np.where(n > 1, np.sum(dev * dev, axis=0) / np.maximum(n - 1, 1), np.nan)
    return mean, np.sqrt(var), n


# ---------------------------------------------------------------------------
# smoothing


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_RAW_POINTS):
    if len(x) <= limit:
        return x, y
    stride = math.ceil(len(x) / limit)
    return x[::stride], y[::stride]


# ---------------------------------------------------------------------------
# drawing helpers


def _band(ax, x, mean, std, n, label, color=None, marker=None, lw=1.8):
    (line,) = ax.plot(x, mean, label=label, color=color, marker=marker, lw=lw,
                      markersize=4)
    if np.any(n > 1):
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2,
                        lw=0)
    return line


def _seed_note(n_runs: int) -> str:
    if n_runs > 1:
        return f"mean ± std over {n_runs} seeds (band)"
    return "1 run"


def _split_of(runs: Sequence[RunFolder]) -> str:
    """The evaluation split of the runs (``validation`` or ``test``), from their summaries."""
    for run in runs:
        split = (run.summary or {}).get("eval_split")
        if split:
            return split
    return "test" if runs and runs[0].config.get("final") else "validation"


def _metric_label(metric: str, split: str) -> str:
    """The axis label of a metric, naming the evaluation split (validation or test)."""
    return METRIC_LABELS.get(metric, metric).replace("evaluation", split)


# ---------------------------------------------------------------------------
# figures


def batch_loss(run_dirs, path, *, beta: float | None = None, title: str | None = None) -> Path:
    """The per-batch training loss of one configuration: raw and smoothed.

    Raw: the loss of every batch of the first run (before its update), thin
    and light (thinned to at most :data:`MAX_RAW_POINTS` points). Smoothed: a
    bias-corrected EMA (:func:`ema`) of each run's curve, then mean +- std
    across runs. ``beta`` defaults to :func:`ema_beta` of the curve length.
    Dotted vertical lines mark the epoch boundaries.
    """
    runs = _runs(run_dirs)
    curves = []
    for run in runs:
        b = run.batches
        if not b:
            raise BackproplabError(f"{run.path} has no per-batch losses ({BATCHES}); "
                                   "rerun it with this version of backproplab")
        curves.append((np.array([r["step"] for r in b], dtype=np.float64),
                       np.array([_float(r.get("loss")) for r in b], dtype=np.float64),
                       np.array([r.get("epoch", 0) for r in b])))
    n_steps = max(len(c[0]) for c in curves)
    beta = ema_beta(n_steps) if beta is None else float(beta)
    window = 1.0 / (1.0 - beta)
    fig, axes = new_figure(width=8.0, height=4.5)
    ax = axes[0][0]
    x0, y0, e0 = curves[0]
    xt, yt = _thin(x0, y0)
    ax.plot(xt, yt, lw=0.4, alpha=0.35, color="0.45",
            label="raw per-batch loss" + (f" (seed {runs[0].config.get('seed')})"
                                          if len(runs) > 1 else ""))
    smoothed = [ema(y, beta) for _, y, _ in curves]
    mean, std, n = mean_band(smoothed)
    x = np.nanmax(_stack([c[0] for c in curves]), axis=0)
    label = f"EMA, bias-corrected, β={beta:.4g} (≈{window:.0f}-batch window)"
    if len(runs) > 1:
        label += f"; mean ± std over {len(runs)} seeds"
    xs, ms = _thin(x, mean)
    _, ss = _thin(x, std)
    _, ns = _thin(x, n)
    _band(ax, xs, ms, ss, ns, label, color="C0")
    boundaries = np.flatnonzero(np.diff(e0)) + 1
    for i in boundaries:
        ax.axvline(x0[i] - 0.5, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("batch (optimizer step)" + ("; dotted lines: epoch boundaries"
                                               if len(boundaries) else ""))
    ax.set_ylabel("training loss (cross-entropy)")
    finite = y0[np.isfinite(y0)]
    if finite.size:
        top = float(np.percentile(finite, 99.5))
        ax.set_ylim(0, max(top, float(np.nanmax(mean)) if np.isfinite(mean).any() else top) * 1.05)
    ax.set_title(title or f"Per-batch training loss: {describe_config(runs[0].config)}")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return save_figure(fig, path, dpi=fig.dpi)


def train_val(run_dirs, path, *, title: str | None = None, show_seeds: bool = True,
              log_x: bool = False, marks: Mapping[int, str] | None = None) -> Path:
    """Training vs evaluation loss (left) and accuracy (right) per epoch.

    With several runs: mean +- std bands, and each seed as a thin line when
    ``show_seeds``. The evaluation split (validation or test) is named from the
    runs' summaries. ``marks``: epoch -> label, drawn as dotted vertical lines
    (epochs beyond the runs are left out).
    """
    runs = _runs(run_dirs)
    split = _split_of(runs)
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    for ax, kind in zip(axes[0], ("loss", "accuracy")):
        for metric, color, name in ((f"train_{kind}", "C0", "training"),
                                    (f"eval_{kind}", "C1", split)):
            curves = [r.metric(metric) for r in runs]
            if all(np.isnan(c).all() for c in curves):
                continue
            xs = _stack([r.epoch_numbers() for r in runs])
            x = np.nanmax(xs, axis=0)
            mean, std, n = mean_band(curves)
            marker = "o" if len(x) <= 30 else None
            _band(ax, x, mean, std, n, f"{name} {kind}", color=color, marker=marker)
            if show_seeds and len(runs) > 1:
                for c, r in zip(curves, runs):
                    ax.plot(r.epoch_numbers(), c, color=color, lw=0.5, alpha=0.4)
        last_epoch = max((len(r.epochs) and r.epochs[-1]["epoch"]) for r in runs)
        for epoch, label in (marks or {}).items():
            if epoch <= last_epoch:
                ax.axvline(epoch, color="0.4", ls=":", lw=1.2, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(kind)
        if log_x:
            ax.set_xscale("log")
        elif len(runs[0].epochs) <= 20:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"Training vs {split}: {describe_config(runs[0].config)} "
                          f"({_seed_note(len(runs))})")
    return save_figure(fig, path, dpi=fig.dpi)


def compare(groups: Sequence[tuple[str, Sequence]], path, *,
            panels: Sequence[tuple[str, str]] = (("eval_loss", "epoch"),
                                                 ("eval_accuracy", "epoch")),
            title: str | None = None, log_x: Sequence[str] = ()) -> Path:
    """Several configurations side by side: one panel per ``(metric, x axis)``.

    ``groups``: ``(label, run_dirs)`` pairs, one per configuration (its seeds);
    each is drawn as its mean with a +- std band. ``panels``: metrics of
    ``metrics.jsonl`` against an x axis of :data:`X_AXES` (``epoch``,
    ``steps``, ``examples``, ``seconds``); with ``seconds`` the x value of a
    configuration is the mean cumulative training time across its seeds.
    ``log_x``: the x axes drawn on a log scale.
    """
    loaded = [(label, _runs(dirs)) for label, dirs in groups]
    if not loaded:
        raise BackproplabError("nothing to compare; run the sweep first")
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=5.5, height=4.0)
    flat = [ax for row in axes for ax in row]
    for ax, (metric, axis) in zip(flat, panels):
        if axis not in X_AXES:
            raise BackproplabError(f"unknown x axis {axis!r}; choose one of {', '.join(X_AXES)}")
        for i, (label, runs) in enumerate(loaded):
            mean, std, n = mean_band([r.metric(metric) for r in runs])
            xm, _, _ = mean_band([x_values(r, axis) for r in runs])
            marker = "o" if len(xm) <= 30 else None
            _band(ax, xm, mean, std, n, f"{label} (n={len(runs)})", color=f"C{i}",
                  marker=marker)
        ax.set_xlabel(X_AXES[axis])
        ax.set_ylabel(_metric_label(metric, _split_of(loaded[0][1])))
        if axis == "epoch":
            ax.xaxis.get_major_locator().set_params(integer=True)
        if axis in log_x:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    first = loaded[0][1][0]
    fig.suptitle(title or f"Comparison: {first.config.get('dataset')} (mean ± std over seeds)")
    return save_figure(fig, path, dpi=fig.dpi)


def final_summary(run_dirs, path, *, metric: str = "eval_accuracy",
                  references: Mapping[str, float] | None = None,
                  title: str | None = None) -> Path:
    """The last epoch's ``metric`` of every run (one point per seed) and their
    mean +- std (last point, with an error bar), with horizontal reference lines
    (``references``: label -> value, e.g. the original write-up's number).

    Points, not bars: the axis is zoomed to the values (accuracies of a few
    runs differ in the third decimal), and bars cut off at a zoomed axis would
    exaggerate the differences."""
    runs = _runs(run_dirs)
    values = []
    for r in runs:
        v = r.metric(metric)
        values.append(float(v[-1]) if len(v) else math.nan)
    arr = np.array(values)
    finite = arr[np.isfinite(arr)]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
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
    ax.set_ylabel(_metric_label(metric, _split_of(runs)))
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
    """Last-epoch evaluation accuracy (left) and loss (right) against the
    learning rate on a log axis: mean with +- std error bars across seeds;
    ``references`` (lr -> accuracy) are drawn as crosses."""
    loaded = sorted(((float(lr), _runs(dirs)) for lr, dirs in groups), key=lambda t: t[0])
    fig, axes = new_figure(ncols=2, width=5.0, height=4.0)
    for ax, metric in zip(axes[0], ("eval_accuracy", "eval_loss")):
        lrs, means, stds = [], [], []
        for lr, runs in loaded:
            vals = [r.metric(metric)[-1] for r in runs if len(r.epochs)]
            vals = np.array([v for v in vals if math.isfinite(v)])
            if not vals.size:
                continue
            lrs.append(lr)
            means.append(vals.mean())
            stds.append(vals.std(ddof=1) if vals.size > 1 else 0.0)
        n = max((len(r) for _, r in loaded), default=1)
        ax.errorbar(lrs, means, yerr=stds, marker="o", capsize=5,
                    label=f"measured, mean ± std ({n} seeds)")
        if references and metric == "eval_accuracy":
            rx = sorted(references)
            ax.plot(rx, [references[k] for k in rx], "x--", color="C3", label=reference_label)
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter

        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
        ax.set_xlabel("learning rate")
        ax.set_ylabel(_metric_label(metric, _split_of(loaded[0][1]) if loaded else "validation"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    first = loaded[0][1][0] if loaded else None
    fig.suptitle(title or "Learning rate vs last-epoch result" +
                 (f": {first.config.get('dataset')}" if first else ""))
    return save_figure(fig, path, dpi=fig.dpi)


__all__ = [
    "MAX_RAW_POINTS",
    "METRIC_LABELS",
    "X_AXES",
    "batch_loss",
    "compare",
    "ema",
    "ema_beta",
    "final_summary",
    "lr_summary",
    "mean_band",
    "train_val",
    "x_values",
]
