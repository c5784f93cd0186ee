"""The inspection figures of image runs: examples, misclassified images, the first
layer's weights as tiles, activation histograms (also for synth runs) and the
confusion matrix (also for synth runs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from backproplab.data.preprocess import Preprocessing
from backproplab.errors import BackproplabError
from backproplab.inspection.folder import figure_path, need_snapshots, run_folder
from backproplab.plots import describe_config, new_figure, save_figure
from backproplab.predict import confusion_matrix, run_dataset
from backproplab.runs import (
    ACTIVATIONS_FIGURE,
    CONFUSION_FIGURE,
    ERRORS_FIGURE,
    EXAMPLES_FIGURE,
    INSPECT,
    WEIGHTS_FIGURE,
    RunFolder,
)

#: The smallest side of square images a table's columns are taken for (8: the 64
#: columns of scikit-learn's digits; a 4-column table such as iris is no 2x2 image).
MIN_TABLE_IMAGE_SIDE = 8


def image_shape(data) -> tuple[int, int] | None:
    """The ``(rows, cols)`` of a dataset's examples drawn as images, or ``None``.

    Image files keep their own shape (:attr:`Preprocessing.input_shape
    <backproplab.data.preprocess.Preprocessing>`, rectangular ones included); a
    table whose columns are a square number of pixels, at least
    :data:`MIN_TABLE_IMAGE_SIDE` squared (784 of a CSV of MNIST), is drawn as
    square images; any other table, and synth's points, are not images.

    Parameters
    ----------
    data : backproplab.data.Dataset
        A run's data (:func:`backproplab.predict.run_dataset`).

    Returns
    -------
    tuple of int or None
    """
    shape = Preprocessing.from_dataset(data).input_shape
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    side = math.isqrt(data.n_features)
    square = side >= MIN_TABLE_IMAGE_SIDE and side * side == data.n_features
    return (side, side) if square else None


def _image_data(run: RunFolder, what: str):
    data = run_dataset(run)
    shape = image_shape(data)
    if shape is None:
        raise BackproplabError(f"{run.path} was trained on {data.name}, whose examples are not "
                               f"images; {what} is drawn for image datasets only")
    return data, shape


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def examples(run_dir, path=None, *, per_class: int = 8) -> Path:
    """A grid of training images, one row per class (the first ``per_class`` of each),
    labelled with the class names.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder (image datasets only).
    path : path-like, optional
        Where to write; default the run folder's ``inspect_examples.png``.
    per_class : int, default 8
        Images per row.

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When the run's dataset is not made of square images.
    """
    run = run_folder(run_dir)
    data, shape = _image_data(run, "a grid of examples")
    fig, axes = new_figure(ncols=per_class, nrows=data.n_classes, width=0.9, height=0.9)
    for c, name in enumerate(data.classes):
        idx = np.flatnonzero(data.y_train == c)[:per_class]
        for j, ax in enumerate(axes[c]):
            _off(ax)
            if j < len(idx):
                ax.imshow(data.X_train[idx[j]].reshape(shape), cmap="gray_r")
        axes[c][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{data.name}: training examples by class", fontsize=11)
    return save_figure(fig, figure_path(run, path, EXAMPLES_FIGURE))


def misclassified(run_dir, path=None, *, n: int = 24, ncols: int = 6) -> Path:
    """The ``n`` misclassified evaluation images with the highest loss
    (``-ln p(true class)``), each titled with its true class and the predicted
    class with its probability.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder (image datasets only, with a saved model).
    path : path-like, optional
        Where to write; default the run folder's ``inspect_errors.png``.
    n : int, default 24
        At most this many images.
    ncols : int, default 6
        Images per row.

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When the dataset is not made of images or the model cannot be read.
    """
    run = run_folder(run_dir)
    data, shape = _image_data(run, "the misclassified examples")
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
            ax.imshow(data.X_eval[i].reshape(shape), cmap="gray_r")
            ax.set_title(f"true {names[data.y_eval[i]]}\npred {names[pred[i]]} "
                         f"({proba[i, pred[i]]:.2f})", fontsize=8)
    if not len(worst):
        axes[0][0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    fig.suptitle(f"The {len(worst)} misclassified {data.eval_split} images with the highest "
                 f"loss ({len(wrong)} of {len(pred)} wrong)", fontsize=10)
    return save_figure(fig, figure_path(run, path, ERRORS_FIGURE))


def _mosaic(W: np.ndarray, shape: tuple[int, int], ncols: int) -> np.ndarray:
    """The columns of ``W`` (h*w, k) as h x w tiles of a (rows, ncols) mosaic, NaN between."""
    (h, w), k = shape, W.shape[1]
    nrows = -(-k // ncols)
    out = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for u in range(k):
        r, c = divmod(u, ncols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = W[:, u].reshape(h, w)
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
    run = run_folder(run_dir)
    snaps = need_snapshots(run, "the learned change of the first-layer weights")
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
    # a run resumed without its inspect.npz starts its snapshots at that epoch
    first = None if snaps is None else int(snaps["epochs"][0])
    if snaps is not None and not raw:
        delta, last = first_layer_change(run, units)
        lim = tile_limits(delta)
        change = "learned change W − W_init" if first == 0 else f"change since epoch {first}"
        title = (f"{change} after epoch {last}\neach tile on its own "
                 f"symmetric scale ±max|ΔW| of that unit\n(from {lim.min():.2g} to "
                 f"{lim.max():.2g}; white: no change)")
        return [(title, delta, True)]
    if snaps is not None:
        last = int(snaps["epochs"][-1])
        W0, W = (snaps[k][:, :units].astype(np.float64) for k in ("weights_init", "weights_last"))
        start = "at initialization" if first == 0 else f"after epoch {first}"
        return [(f"raw weights {start}\n(units 1-{W0.shape[1]})", W0, False),
                (f"raw weights after epoch {last}\n(units 1-{W.shape[1]})", W, False)]
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
        If the run's inputs are not images, or it has no weights to draw.
    """
    run = run_folder(run_dir)
    _, shape = _image_data(run, "a grid of weight tiles")
    panels = _first_layer(run, run.arrays(INSPECT), units, raw)
    import matplotlib

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.75")
    ncols = min(8, panels[0][1].shape[1])
    fig, axes = new_figure(ncols=len(panels), width=5.0, height=5.4)
    for ax, (when, W, per_tile) in zip(axes[0], panels):
        if per_tile:
            W, m, unit = W / tile_limits(W), 1.0, "ΔW ÷ max|ΔW| of its tile"
        else:
            m, unit = float(np.max(np.abs(W))) or 1.0, "weight"
            when += f", one scale: ±{m:.3g}"
        im = ax.imshow(_mosaic(W, shape, ncols), cmap=cmap, vmin=-m, vmax=m)
        fig.colorbar(im, ax=ax, shrink=0.8, label=unit)
        _off(ax)
        ax.set_title(when, fontsize=9)
    fig.suptitle(f"First-layer weights\n{label or describe_config(run.config)}", fontsize=10)
    return save_figure(fig, figure_path(run, path, WEIGHTS_FIGURE))


def activations(run_dir, path=None, *, label: str | None = None) -> Path:
    """Histograms of every hidden layer's activations on the probe examples (the
    first evaluation examples), at initialization and after each epoch, one curve
    per snapshot of ``inspect.npz``.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder, trained with ``inspect=True``.
    path : path-like, optional
        Where to write; default the run folder's ``inspect_activations.png``.
    label : str, optional
        What the run is, added to the title.

    Returns
    -------
    pathlib.Path
        The PNG written.

    Raises
    ------
    BackproplabError
        When the run has no ``inspect.npz``.
    """
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    run = run_folder(run_dir)
    snaps = need_snapshots(run, "the activation histograms")
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
    return save_figure(fig, figure_path(run, path, ACTIVATIONS_FIGURE))


def _width(run: RunFolder, layer: int) -> int:
    hidden = run.config.get("hidden") or [1]
    return max(1, int(hidden[layer])) if layer < len(hidden) else 1


def confusion(run_dir, path=None, *, title: str | None = None) -> Path:
    """The confusion matrix of the run's saved model on its evaluation split (the
    test set for a ``final`` run): cells coloured by the fraction of the true
    class, each with its count and that rate written in it.

    Parameters
    ----------
    run_dir : path-like or RunFolder
        The run folder, with a saved model.
    path : path-like, optional
        Where to write; default the run folder's ``inspect_confusion.png``.
    title : str, optional
        Replaces the title (which names the split, its size, the accuracy and the seed).

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    run = run_folder(run_dir)
    data = run_dataset(run)
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
    return save_figure(fig, figure_path(run, path, CONFUSION_FIGURE), dpi=fig.dpi)



__all__ = ["MIN_TABLE_IMAGE_SIDE", "activations", "confusion", "examples", "first_layer_change",
           "image_shape", "misclassified", "tile_limits", "weights"]
