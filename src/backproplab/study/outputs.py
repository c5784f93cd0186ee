"""The study's computed outputs: the live checks (``checks.json``) and the figures.

Both read only the reproduction folder (:mod:`backproplab.study.layout`): the
checks recompute what the report quotes from the engines and the saved
models; the figures are drawn from the presets' run folders into ``figures/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backproplab import graph, scalar
from backproplab import inspection as I
from backproplab.fileio import atomic_write_json
from backproplab.study import checks as C
from backproplab.study import figures as F
from backproplab.study.layout import CHECKS, FIGURES, FIGURES_DIR, StudyFolder, seeds_phrase
from backproplab.study.presets import ORIGINAL, REFERENCES


def make_checks(out: str | os.PathLike, dataset: str | None = None) -> dict[str, Any]:
    """Run the live checks and save them as ``checks.json`` in ``out``.

    The derivative, worked-example, engine and vectorization checks always run;
    the normalization demonstration and the saturation check run when the runs
    they read exist. A check that fails with an exception is recorded as
    ``{"error": ...}`` (the report shows it) so that one broken part does not hide
    the others.

    Parameters
    ----------
    out : str or os.PathLike
        The reproduction folder.
    dataset : str, optional
        The reproduction's dataset.

    Returns
    -------
    dict
        Check name -> ``"ok"`` or its error message.
    """

    folder = StudyFolder(out)
    todo: dict[str, Callable[[], Any]] = {
        "derivatives": C.derivative_checks,
        "worked_example": C.worked_example,
        "engines": C.engine_checks,
        "vectorization": C.vectorization_timing,
    }
    q4 = folder.run_dirs("q4-synth")
    if q4:
        todo["normalization"] = lambda: C.normalization_demo(q4[0])
    unscaled = folder.run_dirs("unscaled-pixels")
    scaled = folder.run_dirs("seeds") or folder.run_dirs("train-vs-val")
    if unscaled and scaled:
        todo["saturation"] = lambda: {"unscaled": C.saturation(unscaled[0]),
                                      "scaled": C.saturation(scaled[0])}
    data: dict[str, Any] = {"computed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    status: dict[str, Any] = {}
    for name, fn in todo.items():
        t0 = time.perf_counter()
        try:
            data[name] = fn()
            status[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - recorded and shown in the report
            data[name] = {"error": f"{type(exc).__name__}: {exc}"}
            status[name] = data[name]["error"]
        if isinstance(data[name], dict):
            data[name]["seconds"] = round(time.perf_counter() - t0, 4)
    atomic_write_json(Path(out) / CHECKS, data)
    return status


#: ``draw(key, fn)``: draw the figure ``key`` with ``fn(path)``, recording the
#: path or the error.
Draw = Callable[[str, Callable[[Path], Any]], None]


def make_figures(out: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """Draw every figure whose runs exist, and the Q3 computation graph, into ``out/figures``.

    Parameters
    ----------
    out : str or os.PathLike
        The reproduction folder.

    Returns
    -------
    tuple of (dict, dict)
        ``(figures, errors)``: figure key -> path relative to ``out``, and figure
        key -> error message for figures that could not be drawn.
    """

    folder = StudyFolder(out)
    fig_dir = folder.root / FIGURES_DIR
    made: dict[str, str] = {}
    errors: dict[str, str] = {}

    def draw(key: str, fn: Callable[[Path], Any]) -> None:
        path = fig_dir / FIGURES[key]
        try:
            fn(path)
            made[key] = f"{FIGURES_DIR}/{FIGURES[key]}"
        except Exception as exc:  # noqa: BLE001 - recorded and shown in the report
            errors[key] = f"{type(exc).__name__}: {exc}"

    for group in (_q3_figures, _q4_figures, _q7_figures, _learning_rate_figures, _batch_size_figures,
                  _extra_figures, _pixel_inspection_figures, _final_figures):
        group(folder, draw)
    return made, errors


def _q3_figures(folder: StudyFolder, draw: Draw) -> None:
    """The Q3 network's computation graph (needs Graphviz; the reason is recorded if not)."""
    values = {**scalar.worked_pass(target=scalar.Q3_TARGET, **scalar.Q3), **scalar.Q3}
    draw("q3_graph", lambda p: graph.render(graph.build(values), p))


def _q4_figures(folder: StudyFolder, draw: Draw) -> None:
    q4 = folder.run_dirs("q4-synth")
    if q4:
        draw("q4_train_val", lambda p: F.train_val(
            q4, p, title=f"Q4: scalar engine on synth ({seeds_phrase(len(q4))})"))
        draw("q4_batch_loss", lambda p: F.batch_loss(
            q4, p, title="Q4: per-example loss of the scalar engine (one step per example)"))
        draw("q4_boundary", lambda p: I.decision_boundary(q4[0], p))
        draw("q4_boundary_animation", lambda p: I.boundary_animation(q4[0], p))


def _q7_figures(folder: StudyFolder, draw: Draw) -> None:
    lc = folder.run_dirs("learning-curve")
    if lc:
        draw("learning_curve", lambda p: F.batch_loss(
            lc, p, title=f"Q7: per-batch training loss, batch 16, lr 0.01 ({folder.dataset})"))
    tvv = folder.run_dirs("train-vs-val")
    if tvv:
        draw("train_vs_val", lambda p: F.train_val(
            tvv, p, title=f"Q7 (1): training vs validation ({folder.dataset}, "
                          f"{seeds_phrase(len(tvv))})"))
    seeds = folder.run_dirs("seeds")
    if seeds:
        draw("seeds", lambda p: F.train_val(
            seeds, p, title=f"Q7 (2): {len(seeds)} seeds, mean ± std per epoch "
                            f"({folder.dataset})"))


def _learning_rate_figures(folder: StudyFolder, draw: Draw) -> None:
    lr_groups = sorted(folder.groups("learning-rates"), key=lambda g: g["config"]["lr"])
    if not lr_groups:
        return
    pairs = [(f"lr {g['config']['lr']:g}", folder.group_dirs("learning-rates", g))
             for g in lr_groups]
    draw("learning_rates", lambda p: F.compare(
        pairs, p, panels=(("eval_loss", "epoch"), ("eval_accuracy", "epoch"),
                          ("train_loss", "epoch"), ("train_accuracy", "epoch")),
        title=f"Q7 (3): learning rates, batch 16 ({folder.dataset})"))
    draw("learning_rates_final", lambda p: F.lr_summary(
        [(g["config"]["lr"], folder.group_dirs("learning-rates", g)) for g in lr_groups], p,
        references=ORIGINAL["learning_rates"] if folder.dataset == "mnist" else None,
        reference_label="original write-up (1 run each, unscaled pixels)",
        title=f"Q7 (3): last-epoch validation result vs learning rate ({folder.dataset})"))


def _batch_size_figures(folder: StudyFolder, draw: Draw) -> None:
    bs_groups = sorted(folder.groups("batch-sizes"), key=lambda g: g["config"]["batch_size"])
    if bs_groups:
        pairs = [(f"batch {g['config']['batch_size']}", folder.group_dirs("batch-sizes", g))
                 for g in bs_groups]
        draw("batch_sizes", lambda p: F.compare(
            pairs, p, panels=(("eval_accuracy", "epoch"), ("eval_accuracy", "steps"),
                              ("eval_accuracy", "seconds"), ("eval_loss", "epoch")),
            log_x=("steps",),
            title=f"Batch sizes at lr 0.01 ({folder.dataset})"))


def _extra_figures(folder: StudyFolder, draw: Draw) -> None:
    """Full-batch gradient descent, and scaled vs unscaled pixels."""
    fb = folder.run_dirs("full-batch")
    if fb:
        draw("full_batch", lambda p: F.train_val(
            fb, p, show_seeds=False, marks={ORIGINAL["full_batch"]["epochs_run"]:
                                            "10 epochs (what the original ran)"},
            title=f"Full-batch gradient descent, lr 0.1 ({folder.dataset}, "
                  f"{seeds_phrase(len(fb))})"))
    un = folder.run_dirs("unscaled-pixels")
    scaled = folder.run_dirs("seeds") or folder.run_dirs("train-vs-val")
    if un and scaled:
        draw("unscaled", lambda p: F.compare(
            [("pixels scaled to [0, 1]", scaled), ("raw 0-255 pixels (the original)", un)],
            p, panels=(("eval_accuracy", "epoch"), ("eval_loss", "epoch"),
                       ("train_loss", "epoch"), ("train_accuracy", "epoch")),
            title=f"Scaled vs unscaled pixels, batch 16, lr 0.01 ({folder.dataset})"))


def _final_figures(folder: StudyFolder, draw: Draw) -> None:
    final = folder.run_dirs("final")
    if not final:
        return
    refs = {}
    if folder.dataset == "mnist":
        refs["original write-up (MNIST, unscaled)"] = ORIGINAL["final"]["test_accuracy"]
    for label, value in REFERENCES.get(folder.dataset, [])[:1]:
        refs[label.split(":")[0].split(",")[0]] = value
    draw("final", lambda p: F.final_summary(
        final, p, references=refs,
        title=f"Q7 (4): test accuracy of the final runs ({folder.dataset})"))
    draw("final_confusion", lambda p: I.confusion(final[0], p))
    draw("examples", lambda p: I.examples(final[0], p))
    draw("misclassified", lambda p: I.misclassified(final[0], p))


def _pixel_inspection_figures(folder: StudyFolder, draw: Draw) -> None:
    """First-layer weights and hidden-activation histograms (``inspect.npz``) of
    the first scaled-pixel run and the first unscaled-pixel run."""
    runs = {"scaled": ((folder.run_dirs("seeds") or folder.run_dirs("train-vs-val"))[:1],
                       "pixels scaled to [0, 1]"),
            "unscaled": (folder.run_dirs("unscaled-pixels")[:1], "raw 0-255 pixels")}
    for which, (run, pixels) in runs.items():
        if run:
            draw(f"weights_{which}", lambda p, r=run[0], px=pixels: I.weights(
                r, p, label=f"{px} ({folder.dataset})"))
            draw(f"activations_{which}", lambda p, r=run[0], px=pixels: I.activations(
                r, p, label=px))


__all__ = ["make_checks", "make_figures"]
