"""Figures made from run folders (they only read files; they never train).

Each function takes a run folder (or several) and writes a PNG with matplotlib's
object API (no global pyplot state), atomically, next to the data it shows.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes
from backproplab.runs import METRICS, PLOT, RunFolder

#: The shortest smoothing window, in batches.
MIN_EMA_WINDOW = 20


def ema_beta(n_steps: int) -> float:
    """The EMA weight used for a curve of ``n_steps`` batches: a window of about
    ``max(20, n_steps / 100)`` batches, ``beta = 1 - 1 / window``."""
    window = max(MIN_EMA_WINDOW, n_steps / 100.0)
    return 1.0 - 1.0 / window


def ema(values: Sequence[float], beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average (as in Adam):
    ``m_t = beta m_{t-1} + (1 - beta) x_t``, reported as ``m_t / (1 - beta^t)``,
    so the first points are not pulled towards zero. Non-finite values are
    skipped (the average carries over)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    m, w = 0.0, 0.0
    for i, v in enumerate(x):
        if math.isfinite(v):
            m = beta * m + (1.0 - beta) * v
            w = beta * w + (1.0 - beta)
        out[i] = m / w if w > 0 else math.nan
    return out


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0,
               dpi: float = 100):
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot, no global state) and its
    ``nrows x ncols`` axes, each panel ``width x height`` inches; returns ``(fig, axes)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render ``fig`` as PNG and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def _plot_rates(ax, epochs: list, rates: list):
    """The learning rate each epoch used, as steps on a right-hand axis of ``ax``
    (log scale when it spans more than a factor of 10); returns the line, or
    ``None`` when the records carry no rates."""
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


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``loss.png`` for one run folder: the per-batch training loss (raw and
    smoothed) on the left, training and evaluation loss per epoch on the right,
    with the learning rate each epoch used on a second axis.

    Reads ``batches.jsonl`` and ``metrics.jsonl`` (and ``config.json`` for the
    title); returns the path written (default ``run_dir/loss.png``).
    """
    run = RunFolder(run_dir)
    if not run.file(METRICS).is_file():
        raise BackproplabError(f"{run.path} has no {METRICS} to plot; train a run into it first")
    metrics, batches = run.epochs, run.batches
    title = run.name
    if run.is_run():
        cfg = run.config
        hidden = "-".join(str(h) for h in cfg.get("hidden") or [])
        title = (f"{cfg.get('dataset')} {cfg.get('engine')}  hidden {hidden}  "
                 f"{cfg.get('optimizer')} lr {cfg.get('lr')}  batch {cfg.get('batch_size')}  "
                 f"seed {cfg.get('seed')}")
    split = (run.summary or {}).get("eval_split", "validation")

    fig, axes = new_figure(ncols=2, width=5.5, height=4.2, dpi=110)
    ax_b, ax_e = axes[0]
    if batches:
        steps = np.array([r["step"] for r in batches])
        losses = np.array([r["loss"] for r in batches], dtype=np.float64)
        ax_b.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.6,
                  label="per batch")
        beta = ema_beta(len(losses))
        ax_b.plot(steps, ema(losses, beta), color="tab:blue", linewidth=1.6,
                  label=f"smoothed (EMA, window {1 / (1 - beta):.0f})")
        ax_b.set_xlabel("step")
        ax_b.legend(loc="upper right")
    else:
        ax_b.text(0.5, 0.5, "no per-batch losses", ha="center", va="center",
                  transform=ax_b.transAxes)
    ax_b.set_ylabel("training loss")
    ax_b.set_title("per-batch training loss")
    ax_b.grid(alpha=0.3)

    epochs = [r["epoch"] for r in metrics]
    for key, label, style in (("train_loss", "training", "o-"),
                              ("eval_loss", split, "s-")):
        values = [r.get(key) for r in metrics]
        if any(v is not None for v in values):
            ax_e.plot(epochs, [np.nan if v is None else v for v in values], style, label=label)
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("mean cross-entropy")
    ax_e.set_title("loss per epoch")
    lr_line = _plot_rates(ax_e, epochs, [r.get("lr") for r in metrics])
    if epochs:
        ax_e.set_xticks(epochs if len(epochs) <= 20 else np.linspace(
            epochs[0], epochs[-1], 11).round().astype(int))
        handles, labels = ax_e.get_legend_handles_labels()
        if lr_line is not None:
            handles, labels = [*handles, lr_line], [*labels, lr_line.get_label()]
        ax_e.legend(handles, labels)
    ax_e.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out if out is not None else run.file(PLOT))


__all__ = ["ema", "ema_beta", "new_figure", "plot_run", "save_figure"]
