"""Figures made from run folders (they only read files; they never train).

Each function takes a run folder (or several) and writes a PNG with matplotlib's
object API (no global pyplot state), atomically, next to the data it shows.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes, read_jsonl


def smooth(values, window: int | None = None) -> np.ndarray:
    """Trailing moving average of ``values`` (the first points average what exists so far).

    ``window`` defaults to about 2% of the points (at least 1, at most 500).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    if window is None:
        window = int(min(500, max(1, v.size // 50)))
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
    run = Path(run_dir)
    metrics_path = run / "metrics.jsonl"
    if not metrics_path.is_file():
        raise BackproplabError(f"{run} has no metrics.jsonl to plot; train a run into it first")
    metrics = read_jsonl(metrics_path)
    batches = read_jsonl(run / "batches.jsonl") if (run / "batches.jsonl").is_file() else []
    title = run.name
    if (run / "config.json").is_file():
        import json

        try:
            cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
            hidden = "-".join(str(h) for h in cfg.get("hidden") or [])
            title = (f"{cfg.get('dataset')} {cfg.get('engine')}  hidden {hidden}  "
                     f"{cfg.get('optimizer')} lr {cfg.get('lr')}  batch {cfg.get('batch_size')}  "
                     f"seed {cfg.get('seed')}")
        except (OSError, ValueError):
            pass
    split = "validation"
    if (run / "summary.json").is_file():
        import json

        try:
            split = json.loads((run / "summary.json").read_text())["eval_split"]
        except (OSError, ValueError, KeyError, TypeError):
            pass

    fig = _figure(11, 4.2)
    ax_b, ax_e = fig.subplots(1, 2)
    if batches:
        steps = np.array([r["step"] for r in batches])
        losses = np.array([r["loss"] for r in batches], dtype=np.float64)
        ax_b.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.6,
                  label="per batch")
        ax_b.plot(steps, smooth(losses), color="tab:blue", linewidth=1.6,
                  label="smoothed (moving average)")
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
    return save_figure(fig, out if out is not None else run / "loss.png")


__all__ = ["plot_run", "save_figure", "smooth"]
