"""What every figure starts and ends with: a figure, a title, a PNG on disk.

matplotlib is used through its object API on the Agg canvas only (no
``pyplot``, no global state), so figures can be drawn in worker processes and
on machines without a display; every PNG is written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backproplab.fileio import atomic_write_bytes


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0,
               dpi: float = 100):
    """A matplotlib figure on the Agg canvas and its grid of axes.

    Parameters
    ----------
    ncols, nrows : int
        The grid of panels.
    width, height : float
        The size of one panel, in inches.
    dpi : float
        The figure's resolution.

    Returns
    -------
    tuple
        ``(fig, axes)``: a ``matplotlib.figure.Figure`` with constrained layout
        and a ``nrows x ncols`` array of axes (always 2-D).

    Example
    -------
    >>> fig, axes = new_figure(ncols=2)
    >>> axes.shape
    (1, 2)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render ``fig`` as PNG and write it to ``path`` atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.
    path : path-like
        Where the PNG goes (its folder must exist).
    dpi : int
        The resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def describe_config(cfg: Mapping[str, Any], *, seed: bool = False) -> str:
    """A short description of a run's configuration, for figure titles.

    Parameters
    ----------
    cfg : mapping
        A run's ``config.json`` (missing keys are left out).
    seed : bool
        Also name the optimizer and the seed (for a figure of one run).

    Returns
    -------
    str
        For example ``"mnist, hidden 300 sigmoid, lr 0.1, batch 16"``.

    Example
    -------
    >>> describe_config({"dataset": "mnist", "hidden": [300], "activation": "sigmoid",
    ...                  "lr": 0.1, "batch_size": 16})
    'mnist, hidden 300 sigmoid, lr 0.1, batch 16'
    """
    parts = [str(cfg.get("dataset", "?"))]
    if cfg.get("engine") == "scalar":
        parts.append("scalar engine")
    hidden = cfg.get("hidden")
    if hidden:
        parts.append("hidden " + "-".join(map(str, hidden)) + f" {cfg.get('activation', '')}")
    if seed and cfg.get("optimizer"):
        parts.append(str(cfg["optimizer"]))
    if cfg.get("lr") is not None:
        parts.append(f"lr {cfg['lr']:g}")
    if cfg.get("batch_size") is not None:
        parts.append(f"batch {cfg['batch_size']}")
    if seed and cfg.get("seed") is not None:
        parts.append(f"seed {cfg['seed']}")
    return ", ".join(parts)


__all__ = ["describe_config", "new_figure", "save_figure"]
