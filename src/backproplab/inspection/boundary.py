"""The inspection figures of ``synth`` runs: the learned decision boundary over the
plane, and its animation over the epochs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from backproplab.data import synth
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes
from backproplab.inspection.folder import figure_path, need_snapshots, run_folder
from backproplab.plots import describe_config, new_figure, save_figure
from backproplab.predict import run_dataset
from backproplab.runs import (
    BOUNDARY_ANIMATION,
    BOUNDARY_FIGURE,
    INSPECT,
    RunFolder,
)

#: Frames per second of the boundary animation.
_GIF_FPS = 2


def _check_synth(run: RunFolder) -> None:
    if run.config.get("dataset") != "synth":
        raise BackproplabError(
            f"{run.path} was trained on {run.config.get('dataset')}, not synth; decision "
            "boundaries are drawn for the 2-D synthetic set only")


def _boundary_axes(fig, ax, filled, run: RunFolder, n_points: int, limit: float) -> None:
    """The static part of a boundary figure: the colour bar of ``filled`` (the
    filled P(class 1)), validation points, the true ellipse, the legend and the
    axes' limits and labels."""
    from matplotlib.lines import Line2D

    fig.colorbar(filled, ax=ax, label="learned P(class 1)")
    _, _, X_val, y_val = synth.generate(seed=run.config.get("data_seed", 0))
    k = min(n_points, len(X_val))
    ax.scatter(X_val[:k, 0], X_val[:k, 1], c=np.where(y_val[:k] == 1, "C3", "C0"), s=4,
               alpha=0.6, lw=0)
    ell = synth.boundary()
    ax.plot(ell[:, 0], ell[:, 1], color="gold", lw=2.2, ls="--")
    handles = [Line2D([], [], color="k", lw=1.5, label="learned boundary (P = 0.5)"),
               Line2D([], [], color="gold", lw=2.2, ls="--", label="true ellipse xᵀQx = 0.6"),
               Line2D([], [], marker="o", ls="", color="C3", label="class 1 (validation)"),
               Line2D([], [], marker="o", ls="", color="C0", label="class 0 (validation)")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁ (raw coordinates; the network sees them normalized)")
    ax.set_ylabel("x₂")


def _draw_proba(ax, gx, gy, proba) -> list:
    """The filled P(class 1) and its 0.5 contour; returns the two artists."""
    cf = ax.contourf(gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
    line = ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1.5)
    return [cf, line]


def decision_boundary(run_dir, path=None, *, n_points: int = 3000, resolution: int = 200,
                      title: str | None = None) -> Path:
    """For a ``synth`` run: the learned P(class 1) over the plane, its 0.5 contour,
    validation points and the true ellipse ``x^T Q x = 0.6``.

    Drawn in the *raw* coordinates of the data: the grid passes through the run's
    own normalizer, refitted from ``config.json``, before the saved model sees it.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder of a ``synth`` run, with a saved model.
    path : path-like, optional
        Where to write; default the run folder's ``inspect_boundary.png``.
    n_points : int, default 3000
        Validation points drawn.
    resolution : int, default 200
        Grid points per axis.
    title : str, optional
        Replaces the title (the run's description and its accuracy).

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When the run did not train on ``synth``.
    """
    run = run_folder(run_dir)
    _check_synth(run)
    model = run.load_model()
    norm = run_dataset(run).normalizer
    gx, gy, grid = synth.grid(resolution)
    Z = norm.transform(grid, np.float64) if norm is not None else grid
    proba = np.asarray(model.predict_proba(Z.astype(model.dtype)))[:, 1].reshape(gx.shape)
    fig, axes = new_figure(width=6.5, height=6.0)
    ax = axes[0][0]
    cf, _ = _draw_proba(ax, gx, gy, proba)
    _boundary_axes(fig, ax, cf, run, n_points, synth.GRID_LIMIT)
    acc = (run.summary or {}).get("eval_accuracy")
    ax.set_title(title or f"Decision boundary: {describe_config(run.config)}" +
                 (f"\n{(run.summary or {}).get('eval_split', 'validation')} accuracy {acc:.4f}"
                  if isinstance(acc, float) else ""), fontsize=10)
    return save_figure(fig, figure_path(run, path, BOUNDARY_FIGURE), dpi=fig.dpi)


def boundary_animation(run_dir, path=None, *, n_points: int = 2000, fps: int = _GIF_FPS) -> Path:
    """For a ``synth`` run trained with ``inspect=True``: an animated GIF of the
    learned P(class 1), its 0.5 contour and the true ellipse, one frame per
    snapshot (initialization, then each epoch).

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder.
    path : path-like, optional
        Where to write; default the run folder's ``inspect_boundary.gif``.
    n_points : int, default 2000
        Validation points drawn.
    fps : int, default 2
        Frames per second.

    Returns
    -------
    pathlib.Path
        The GIF written (atomically).

    Raises
    ------
    BackproplabError
        When the run did not train on ``synth``, or its ``inspect.npz`` is missing
        or holds no boundary grids.
    """
    from matplotlib.animation import PillowWriter

    run = run_folder(run_dir)
    _check_synth(run)
    snaps = need_snapshots(run, "the boundary after each epoch")
    if "boundary" not in snaps:
        raise BackproplabError(f"{run.file(INSPECT)} holds no boundary grids; rerun the run "
                               "with inspect=True")
    grids, epochs = snaps["boundary"].astype(np.float64), snaps["epochs"]
    gx, gy, _ = synth.grid(grids.shape[1], float(snaps["grid_limit"]))
    fig, axes = new_figure(width=6.0, height=5.6, dpi=80)
    ax = axes[0][0]
    artists = _draw_proba(ax, gx, gy, grids[0])
    _boundary_axes(fig, ax, artists[0], run, n_points, float(snaps["grid_limit"]))
    target = figure_path(run, path, BOUNDARY_ANIMATION)
    writer = PillowWriter(fps=fps)
    writer.setup(fig, str(target), dpi=fig.dpi)
    for s, epoch in enumerate(epochs):
        if s:
            for artist in artists:
                artist.remove()
            artists = _draw_proba(ax, gx, gy, grids[s])
        ax.set_title(f"{describe_config(run.config)}\n"
                     + ("at initialization" if epoch == 0 else f"after epoch {epoch}"),
                     fontsize=10)
        writer.grab_frame()
    buf = io.BytesIO()
    buf.name = target.name  # Pillow picks the GIF format from the name
    writer.outfile = buf  # written in memory, then to disk atomically
    writer.finish()
    return atomic_write_bytes(target, buf.getvalue())



__all__ = ["boundary_animation", "decision_boundary"]
