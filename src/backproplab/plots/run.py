"""One run's ``loss.png``, drawn from its folder only (it never trains)."""

from __future__ import annotations

import os
from pathlib import Path

from backproplab.errors import BackproplabError
from backproplab.plots.figure import describe_config, new_figure, save_figure
from backproplab.plots.panels import (
    batch_loss_panel,
    eval_split,
    legend_below,
    rate_axis,
    train_eval_panel,
)
from backproplab.runs import METRICS, PLOT, RunFolder


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``loss.png`` for one run folder.

    Left: the per-batch training loss, raw and smoothed
    (:func:`~backproplab.plots.panels.batch_loss_panel`). Right: training and
    evaluation loss per epoch (:func:`~backproplab.plots.panels.train_eval_panel`)
    with the learning rate each epoch used on a second axis; that panel's legend
    sits under it, so the rate's line cannot run through it.

    Parameters
    ----------
    run_dir : path-like
        The run folder (reads ``metrics.jsonl``, ``batches.jsonl``,
        ``config.json`` and ``summary.json``).
    out : path-like, optional
        Where to write; default ``run_dir/loss.png``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    BackproplabError
        If the folder holds no ``metrics.jsonl``.
    """
    run = RunFolder(run_dir)
    if not run.file(METRICS).is_file():
        raise BackproplabError(f"{run.path} has no {METRICS} to plot; train a run into it first")
    fig, axes = new_figure(ncols=2, width=5.5, height=4.2, dpi=110)
    ax_b, ax_e = axes[0]
    batch_loss_panel(ax_b, [run])
    ax_b.set_title("per-batch training loss")
    metrics = run.epochs
    lines = train_eval_panel(ax_e, [run], "loss", split=eval_split([run]))
    ax_e.set_ylabel("mean cross-entropy")
    ax_e.set_title("loss per epoch")
    epochs = [r["epoch"] for r in metrics]
    lr_line = rate_axis(ax_e, epochs, [r.get("lr") for r in metrics])
    if epochs:
        handles = lines + ([lr_line] if lr_line is not None else [])
        legend_below(ax_e, handles, [h.get_label() for h in handles], ncols=len(handles))
    title = describe_config(run.config, seed=True) if run.is_run() else run.name
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out if out is not None else run.file(PLOT))


__all__ = ["plot_run"]
