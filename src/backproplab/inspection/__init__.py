"""Inspection figures: what the network learned, drawn from a run folder only.

Every function reads a run folder (through :class:`backproplab.runs.RunFolder`:
its ``config.json``, ``model.npz`` and, for a run trained with ``--inspect``,
``inspect.npz``; see :mod:`backproplab.training.snapshots`), reloads the run's
data where it needs examples, and writes one figure atomically, by default into
the run folder under its name from :mod:`backproplab.runs`. None trains.

The figures of image runs are in :mod:`.images`, those of ``synth`` runs in
:mod:`.boundary`; :mod:`.folder` reads what they share.

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

import os
from collections.abc import Callable
from pathlib import Path

from backproplab.errors import BackproplabError
from backproplab.inspection.boundary import boundary_animation, decision_boundary
from backproplab.inspection.folder import run_folder
from backproplab.inspection.images import (
    activations,
    confusion,
    examples,
    first_layer_change,
    image_shape,
    misclassified,
    tile_limits,
    weights,
)
from backproplab.plots import plot_run
from backproplab.predict import run_dataset
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
)


def available(run_dir) -> list[tuple[str, Callable[..., Path]]]:
    """Every inspection figure the run's files and data allow.

    Synth runs get the boundary and confusion figures (with a saved model) and the
    animation (with ``inspect.npz``); image runs (:func:`image_shape`) get the
    examples, and with a saved model the misclassified images and the confusion
    matrix, and the weight tiles with a model or ``inspect.npz``; other tables get
    the confusion matrix (with a saved model); the activation histograms need
    ``inspect.npz``.

    Parameters
    ----------
    run_dir : path-like or RunFolder

    Returns
    -------
    list of (str, callable)
        ``(file name, figure function)`` pairs, each function called as
        ``draw(run_dir, path)``.
    """
    run = run_folder(run_dir)
    cfg = run.config
    has_model = run.file(MODEL).is_file()
    has_snaps = run.file(INSPECT).is_file()
    out = []
    if cfg.get("dataset") == "synth":
        if has_model:
            out += [(BOUNDARY_FIGURE, decision_boundary), (CONFUSION_FIGURE, confusion)]
        if has_snaps:
            out += [(BOUNDARY_ANIMATION, boundary_animation)]
    elif image_shape(run_dataset(run)) is not None:
        out.append((EXAMPLES_FIGURE, examples))
        if has_model:
            out += [(ERRORS_FIGURE, misclassified), (CONFUSION_FIGURE, confusion)]
        if has_model or has_snaps:
            out.append((WEIGHTS_FIGURE, weights))
    elif has_model:
        out.append((CONFUSION_FIGURE, confusion))
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
    run = run_folder(run_dir)
    if not run.is_run():
        raise BackproplabError(f"{run.path} is not a run folder (no readable {CONFIG}); "
                               "give the folder of a training run")
    folder = Path(out) if out is not None else run.path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackproplabError(f"cannot create the folder {folder} ({exc.strerror or exc}); "
                               "choose another out", settings=("out",)) from None
    paths = [plot_run(run.path, folder / PLOT)]  # needs no data: drawn even if it is gone
    for name, draw in available(run):
        options = {"raw": raw_weights} if draw is weights else {}
        paths.append(draw(run, folder / name, **options))
    return paths



__all__ = [
    "activations",
    "available",
    "boundary_animation",
    "confusion",
    "decision_boundary",
    "examples",
    "first_layer_change",
    "misclassified",
    "plot_all",
    "tile_limits",
    "weights",
]
