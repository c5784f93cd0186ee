"""Inspection figures: what the network learned, drawn from a run folder only.

Every function reads a run folder (through :class:`backproplab.runs.RunFolder`:
its ``config.json``, ``model.npz`` and, for a run trained with ``--inspect``,
``inspect.npz``; see :mod:`backproplab.training.snapshots`), reloads the run's
data where it needs examples, and writes one figure atomically, by default into
the run folder under its name from :mod:`backproplab.runs`. None trains.

- :func:`examples`: training images, a row per class, named (image datasets).
- :func:`misclassified`: the evaluation images the network gets wrong with the
  highest loss, with the true class, the predicted one and its probability.
- :func:`weights`: what the first layer learned, ``W - W_init`` of each unit's
  incoming weights as a 28x28 tile on its own symmetric scale (needs
  ``inspect.npz``); the raw weights with ``raw=True`` or without it.
- :func:`activations`: histograms of the hidden activations at initialization
  and after each epoch (needs ``inspect.npz``).
- :func:`confusion`: the confusion matrix with counts and rates in every cell.
- :func:`decision_boundary` (synth): the learned P(class 1) and the true ellipse;
  :func:`boundary_animation` (synth, ``inspect.npz``): the same after each epoch, a GIF.
- :func:`available` and :func:`plot_all`: every figure a run's files allow
  (what ``backproplab plot`` writes).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backproplab.data import load_configured, synth
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_bytes
from backproplab.plots import describe_config, new_figure, plot_run, save_figure
from backproplab.predict import confusion_matrix
from backproplab.runs import (
    ACTIVATIONS_FIGURE,
    BOUNDARY_ANIMATION,
    BOUNDARY_FIGURE,
    CONFIG,
    CONFUSION_FIGURE,
    ERRORS_FIGURE,
    EXAMPLES_FIGURE,
    INSPECT,
    MODEL,
    PLOT,
    WEIGHTS_FIGURE,
    RunFolder,
)

#: Frames per second of the boundary animation.
GIF_FPS = 2


def dataset_for(run: RunFolder):
    """The dataset a run trained on (its config's data options; never downloads)."""
    return load_configured(run.config, download=False)


def image_side(n_features: int) -> int | None:
    """The side of square images with ``n_features`` pixels (28 for 784), else ``None``."""
    side = math.isqrt(n_features)
    return side if side > 1 and side * side == n_features else None


def _run(run_dir) -> RunFolder:
    return run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)


def _target(run: RunFolder, path, name: str) -> Path:
    return Path(path) if path is not None else run.file(name)


def _image_data(run: RunFolder, what: str):
    data = dataset_for(run)
    side = image_side(data.n_features)
    if side is None:
        raise BackproplabError(f"{run.path} was trained on {data.name}, whose examples are not "
                               f"images; {what} is drawn for image datasets only")
    return data, side


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def examples(run_dir, path=None, *, per_class: int = 8) -> Path:
    """A grid of training images, one row per class (the first ``per_class`` of
    each), with the class names; for image datasets. Returns the PNG's path."""
    run = _run(run_dir)
    data, side = _image_data(run, "a grid of examples")
    fig, axes = new_figure(ncols=per_class, nrows=data.n_classes, width=0.9, height=0.9)
    for c, name in enumerate(data.classes):
        idx = np.flatnonzero(data.y_train == c)[:per_class]
        for j, ax in enumerate(axes[c]):
            _off(ax)
            if j < len(idx):
                ax.imshow(data.X_train[idx[j]].reshape(side, side), cmap="gray_r")
        axes[c][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{data.name}: training examples by class", fontsize=11)
    return save_figure(fig, _target(run, path, EXAMPLES_FIGURE))


def misclassified(run_dir, path=None, *, n: int = 24, ncols: int = 6) -> Path:
    """The ``n`` misclassified evaluation images with the highest loss
    (``-ln p(true class)``), each titled with its true class and the predicted
    class with its probability; for image datasets with a saved model."""
    run = _run(run_dir)
    data, side = _image_data(run, "the misclassified examples")
    proba = np.asarray(run.load_model().predict_proba(data.X_eval), dtype=np.float64)
    pred = proba.argmax(axis=1)
    loss = -np.log(np.maximum(proba[np.arange(len(pred)), data.y_eval], 1e-300))
    wrong = np.flatnonzero(pred != data.y_eval)
    worst = wrong[np.argsort(-loss[wrong], kind="stable")][:n]
    nrows = max(1, -(-len(worst) // ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=1.7, height=2.0)
    names = data.classes
    for k, ax in enumerate(axes.ravel()):
        _off(ax)
        if k < len(worst):
            i = worst[k]
            ax.imshow(data.X_eval[i].reshape(side, side), cmap="gray_r")
            ax.set_title(f"true {names[data.y_eval[i]]}\npred {names[pred[i]]} "
                         f"({proba[i, pred[i]]:.2f})", fontsize=8)
    if not len(worst):
        axes[0][0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    fig.suptitle(f"The {len(worst)} misclassified {data.eval_split} images with the highest "
                 f"loss ({len(wrong)} of {len(pred)} wrong)", fontsize=10)
    return save_figure(fig, _target(run, path, ERRORS_FIGURE))


def _mosaic(W: np.ndarray, side: int, ncols: int) -> np.ndarray:
    """The columns of ``W`` (side*side, k) as tiles of a (rows, ncols) mosaic, NaN between."""
    k = W.shape[1]
    nrows = -(-k // ncols)
    out = np.full((nrows * (side + 1) - 1, ncols * (side + 1) - 1), np.nan)
    for u in range(k):
        r, c = divmod(u, ncols)
        out[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = \
            W[:, u].reshape(side, side)
    return out


def first_layer_change(run_dir, units: int | None = None) -> tuple[np.ndarray, int]:
    """What the first layer learned: ``W - W_init`` of the units kept in ``inspect.npz``.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        A run trained with ``--inspect`` (its ``inspect.npz`` holds the first
        units' incoming weights at initialization and after the last epoch, in
        the model's own precision).
    units : int, optional
        Keep only the first ``units`` units (default: every unit kept).

    Returns
    -------
    tuple
        ``(delta, epoch)``: ``delta`` float64 of shape ``(inputs, units)``,
        ``weights_last - weights_init`` computed exactly in float64, and the
        epoch after which ``weights_last`` was taken.

    Raises
    ------
    BackproplabError
        If the run has no ``inspect.npz``.
    """
    run = _run(run_dir)
    snaps = _need_snapshots(run, "the learned change of the first-layer weights")
    delta = (snaps["weights_last"].astype(np.float64)
             - snaps["weights_init"].astype(np.float64))
    return delta[:, :units], int(snaps["epochs"][-1])


def tile_limits(W: np.ndarray) -> np.ndarray:
    """Each tile's symmetric colour limit: the largest ``|value|`` of its column.

    Parameters
    ----------
    W : numpy.ndarray
        ``(inputs, units)``, one tile per column.

    Returns
    -------
    numpy.ndarray
        ``(units,)``: ``max |W[:, u]|``, or 1 for a column of zeros (drawn white).
    """
    m = np.max(np.abs(W), axis=0)
    return np.where(m > 0, m, 1.0)


def _first_layer(run: RunFolder, snaps: dict | None, units: int, raw: bool):
    """``[(panel title, W, per_tile)]``: what the weight figure draws."""
    if snaps is not None and not raw:
        delta, last = first_layer_change(run, units)
        lim = tile_limits(delta)
        title = (f"learned change W − W_init after epoch {last}\neach tile on its own "
                 f"symmetric scale ±max|ΔW| of that unit\n(from {lim.min():.2g} to "
                 f"{lim.max():.2g}; white: no change)")
        return [(title, delta, True)]
    if snaps is not None:
        last = int(snaps["epochs"][-1])
        return [(f"raw weights at initialization\n(units 1-{units})",
                 snaps["weights_init"][:, :units].astype(np.float64), False),
                (f"raw weights after epoch {last}\n(units 1-{units})",
                 snaps["weights_last"][:, :units].astype(np.float64), False)]
    W1 = np.asarray(run.load_model().params["W1"], dtype=np.float64)
    title = ("raw weights after training\n(no inspect.npz, so no initial weights: "
             "train with --inspect\nto see the learned change W − W_init)")
    return [(title, W1[:, :units], False)]


def weights(run_dir, path=None, *, units: int = 64, label: str | None = None,
            raw: bool = False) -> Path:
    """The first layer's incoming weights of the first ``units`` hidden units as image tiles.

    By default (a run with ``inspect.npz``) it shows what training changed,
    ``W - W_init`` (:func:`first_layer_change`), each tile on its own
    symmetric colour scale ``±max|ΔW|`` of that unit (:func:`tile_limits`):
    the change is small beside the random initial weights, so raw tiles look
    like noise before and after training, while the change shows the shapes
    the units learned. ``raw=True`` (or a run without ``inspect.npz``) draws
    the raw weights instead, one symmetric scale per panel. A diverging
    colormap centred on 0; the titles say which scale is used.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder (image datasets only).
    path : path-like, optional
        Where to write; default the run folder's ``inspect_weights.png``.
    units : int
        How many hidden units to show (at most the 64 ``inspect.npz`` keeps).
    label : str, optional
        What the run is; replaces the run's description in the title.
    raw : bool
        Draw the raw weights (at initialization and after training) instead
        of their change.

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        If the run's inputs are not square images, or it has no weights to draw.
    """
    run = _run(run_dir)
    panels = _first_layer(run, run.arrays(INSPECT), units, raw)
    side = image_side(panels[0][1].shape[0])
    if side is None:
        raise BackproplabError(f"{run.path}'s inputs are not images ({panels[0][1].shape[0]} "
                               "features); weight tiles are drawn for image datasets only")
    import matplotlib

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.75")
    ncols = min(8, panels[0][1].shape[1])
    fig, axes = new_figure(ncols=len(panels), width=5.0, height=5.4)
    for ax, (when, W, per_tile) in zip(axes[0], panels):
        if per_tile:
            im = ax.imshow(_mosaic(W / tile_limits(W), side, ncols), cmap=cmap, vmin=-1, vmax=1)
            fig.colorbar(im, ax=ax, shrink=0.8, label="ΔW ÷ max|ΔW| of its tile")
        else:
            m = float(np.max(np.abs(W))) or 1.0
            im = ax.imshow(_mosaic(W, side, ncols), cmap=cmap, vmin=-m, vmax=m)
            fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
            when += f", one scale: ±{m:.3g}"
        _off(ax)
        ax.set_title(when, fontsize=9)
    fig.suptitle(f"First-layer weights\n{label or describe_config(run.config)}", fontsize=10)
    return save_figure(fig, _target(run, path, WEIGHTS_FIGURE))


def _need_snapshots(run: RunFolder, what: str) -> dict:
    snaps = run.arrays(INSPECT)
    if snaps is None:
        raise BackproplabError(f"{run.path} has no {INSPECT}; train the run with --inspect "
                               f"to draw {what}", settings=("inspect",))
    return snaps


def activations(run_dir, path=None, *, label: str | None = None) -> Path:
    """Histograms of every hidden layer's activations on the probe examples
    (the first evaluation examples), at initialization and after each epoch,
    one curve per snapshot (from ``inspect.npz``); ``label`` (what the run is)
    goes into the title."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    run = _run(run_dir)
    snaps = _need_snapshots(run, "the activation histograms")
    edges, counts, epochs = snaps["hist_edges"], snaps["hist_counts"], snaps["epochs"]
    centers = (edges[:-1] + edges[1:]) / 2
    norm = Normalize(vmin=int(epochs.min()), vmax=max(int(epochs.max()), 1))
    cmap = matplotlib.colormaps["viridis"]
    fig, axes = new_figure(ncols=counts.shape[1], width=5.5, height=4.0)
    for layer, ax in enumerate(axes[0]):
        for s, epoch in enumerate(epochs):
            c = counts[s, layer].astype(np.float64)
            ax.step(centers, c / max(c.sum(), 1), where="mid", color=cmap(norm(epoch)),
                    lw=2.0 if s in (0, len(epochs) - 1) else 1.0,
                    ls="--" if epoch == 0 else "-")
        ax.set_xlabel(f"activation of hidden layer {layer + 1} ({run.config.get('activation')})")
        ax.set_ylabel("fraction of unit outputs")
        ax.grid(alpha=0.3)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                     label="epoch (0 = initialization, dashed)")
    probe = int(counts[0, 0].sum()) // _width(run, 0)
    fig.suptitle(f"Hidden activations{': ' + label if label else ''}\non the first {probe} "
                 f"{run.config.get('dataset')} evaluation examples", fontsize=10)
    return save_figure(fig, _target(run, path, ACTIVATIONS_FIGURE))


def _width(run: RunFolder, layer: int) -> int:
    hidden = run.config.get("hidden") or [1]
    return max(1, int(hidden[layer])) if layer < len(hidden) else 1


def confusion(run_dir, path=None, *, title: str | None = None) -> Path:
    """The confusion matrix of the run's saved model on its evaluation split (the
    test set for a ``final`` run): cells coloured by the fraction of the true
    class, each with its count and that rate written in it."""
    run = _run(run_dir)
    data = dataset_for(run)
    C = confusion_matrix(data.y_eval, run.load_model().predict(data.X_eval), data.n_classes)
    rates = C / np.maximum(C.sum(axis=1, keepdims=True), 1)
    n = data.n_classes
    size = max(4.5, 0.8 * n + 2.5)
    fig, axes = new_figure(width=size + 1.2, height=size)
    ax = axes[0][0]
    im = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, label="fraction of the true class", shrink=0.8)
    names = data.classes
    long = max(len(s) for s in names) > 2
    ax.set_xticks(range(n), names, rotation=40 if long else 0, ha="right" if long else "center")
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{C[i, j]}\n{100 * rates[i, j]:.1f}%", ha="center", va="center",
                    fontsize=8 if n > 4 else 11, linespacing=1.1,
                    color="white" if rates[i, j] > 0.55 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = float(np.trace(C) / max(C.sum(), 1))
    ax.set_title(title or f"Confusion matrix on the {data.eval_split} set ({len(data.y_eval)} "
                          f"examples, accuracy {acc:.4f}), seed {run.config.get('seed')}",
                 fontsize=10)
    return save_figure(fig, _target(run, path, CONFUSION_FIGURE), dpi=fig.dpi)


def _check_synth(run: RunFolder) -> None:
    if run.config.get("dataset") != "synth":
        raise BackproplabError(
            f"{run.path} was trained on {run.config.get('dataset')}, not synth; decision "
            "boundaries are drawn for the 2-D synthetic set only")


def _boundary_axes(fig, ax, run: RunFolder, n_points: int, limit: float):
    """The static part of a boundary figure: validation points, the true
    ellipse, the legend and the axes' limits and labels."""
    from matplotlib.lines import Line2D

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
    """For a ``synth`` run: the learned P(class 1) over the plane (from
    ``model.npz``), its 0.5 contour, validation points and the true ellipse
    ``x^T Q x = 0.6``, in the *raw* coordinates of the data (the grid passes
    through the run's own normalizer, refitted from ``config.json``)."""
    run = _run(run_dir)
    _check_synth(run)
    model = run.load_model()
    norm = dataset_for(run).normalizer
    gx, gy, grid = synth.grid(resolution)
    Z = norm.transform(grid, np.float64) if norm is not None else grid
    proba = np.asarray(model.predict_proba(Z.astype(model.dtype)))[:, 1].reshape(gx.shape)
    fig, axes = new_figure(width=6.5, height=6.0)
    ax = axes[0][0]
    cf, _ = _draw_proba(ax, gx, gy, proba)
    fig.colorbar(cf, ax=ax, label="learned P(class 1)")
    _boundary_axes(fig, ax, run, n_points, synth.GRID_LIMIT)
    acc = (run.summary or {}).get("eval_accuracy")
    ax.set_title(title or f"Decision boundary: {describe_config(run.config)}" +
                 (f"\n{(run.summary or {}).get('eval_split', 'validation')} accuracy {acc:.4f}"
                  if isinstance(acc, float) else ""), fontsize=10)
    return save_figure(fig, _target(run, path, BOUNDARY_FIGURE), dpi=fig.dpi)


def boundary_animation(run_dir, path=None, *, n_points: int = 2000, fps: int = GIF_FPS) -> Path:
    """For a ``synth`` run trained with ``--inspect``: an animated GIF, one frame
    per snapshot (initialization, then each epoch), of the learned P(class 1),
    its 0.5 contour and the true ellipse (written with matplotlib's PillowWriter)."""
    from matplotlib.animation import PillowWriter

    run = _run(run_dir)
    _check_synth(run)
    snaps = _need_snapshots(run, "the boundary after each epoch")
    if "boundary" not in snaps:
        raise BackproplabError(f"{run.file(INSPECT)} holds no boundary grids; rerun the run "
                               "with --inspect")
    grids, epochs = snaps["boundary"].astype(np.float64), snaps["epochs"]
    gx, gy, _ = synth.grid(grids.shape[1], float(snaps["grid_limit"]))
    fig, axes = new_figure(width=6.0, height=5.6, dpi=80)
    ax = axes[0][0]
    artists = _draw_proba(ax, gx, gy, grids[0])
    fig.colorbar(artists[0], ax=ax, label="learned P(class 1)")
    _boundary_axes(fig, ax, run, n_points, float(snaps["grid_limit"]))
    target = _target(run, path, BOUNDARY_ANIMATION)
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


def available(run_dir) -> list[tuple[str, Callable[..., Path]]]:
    """``[(file name, figure function)]``: every inspection figure the run's files
    and data allow (images or synth, a saved model, ``inspect.npz``)."""
    run = _run(run_dir)
    cfg = run.config
    has_model = run.file(MODEL).is_file()
    has_snaps = run.file(INSPECT).is_file()
    out = []
    if cfg.get("dataset") == "synth":
        if has_model:
            out += [(BOUNDARY_FIGURE, decision_boundary), (CONFUSION_FIGURE, confusion)]
        if has_snaps:
            out += [(BOUNDARY_ANIMATION, boundary_animation)]
    else:
        out.append((EXAMPLES_FIGURE, examples))
        if has_model:
            out += [(ERRORS_FIGURE, misclassified), (CONFUSION_FIGURE, confusion)]
        if has_model or has_snaps:
            out.append((WEIGHTS_FIGURE, weights))
    if has_snaps:
        out.append((ACTIVATIONS_FIGURE, activations))
    return out


def plot_all(run_dir, out: str | os.PathLike | None = None, *,
             raw_weights: bool = False) -> list[Path]:
    """Write ``loss.png`` and every inspection figure of :func:`available`.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder.
    out : path-like, optional
        The folder to write into (created if needed); default the run folder.
    raw_weights : bool
        Draw the raw first-layer weights instead of their learned change
        (:func:`weights`' ``raw``).

    Returns
    -------
    list of pathlib.Path
        The paths written, ``loss.png`` first.

    Raises
    ------
    BackproplabError
        If ``run_dir`` holds no run or ``out`` cannot be created.
    """
    run = _run(run_dir)
    if not run.is_run():
        raise BackproplabError(f"{run.path} is not a run folder (no readable {CONFIG}); "
                               "give the folder of a training run")
    folder = Path(out) if out is not None else run.path
    figures = available(run)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackproplabError(f"cannot create the folder {folder} ({exc.strerror or exc}); "
                               "choose another --out") from None
    paths = [plot_run(run.path, folder / PLOT)]
    for name, draw in figures:
        options = {"raw": raw_weights} if draw is weights else {}
        paths.append(draw(run, folder / name, **options))
    return paths


__all__ = ["GIF_FPS", "activations", "available", "boundary_animation", "confusion",
           "dataset_for", "decision_boundary", "examples", "first_layer_change", "image_side",
           "misclassified", "plot_all", "tile_limits", "weights"]
