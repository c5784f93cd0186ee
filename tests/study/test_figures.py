"""Figures: every function writes a real, non-empty PNG from run folders.

Most tests use hand-written run folders (fast, and the plotted numbers are
known); the figures that load the saved network (decision boundary, confusion
matrix) use tiny real training runs on the synthetic data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tests.figure_checks import capture_figures, texts_off_the_canvas

from backproplab import inspection as I
from backproplab.errors import BackproplabError
from backproplab.plots import ema, ema_beta, mean_band
from backproplab.runs import RunFolder
from backproplab.study import figures as F

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is suspiciously small ({len(data)} bytes)"
    assert not list(Path(path).parent.glob(".*.tmp")), "a temporary file was left behind"


def write_run(root: Path, name: str, *, seed: int = 0, lr: float = 0.01, batch_size=16,
              epochs: int = 4, steps_per_epoch: int = 25, n_train: int = 400,
              dataset: str = "mnist", final: bool = False) -> Path:
    """A run folder as the training code writes it, with made-up but plausible numbers."""
    rng = np.random.default_rng(seed)
    d = root / name
    d.mkdir(parents=True)
    config = {"dataset": dataset, "engine": "tensor", "hidden": [300], "activation": "sigmoid",
              "lr": lr, "batch_size": batch_size, "epochs": epochs, "seed": seed,
              "final": final}
    (d / "config.json").write_text(json.dumps(config))
    rows, batches, step = [], [], 0
    for e in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            batches.append({"epoch": e, "step": step,
                            "loss": float(2.3 * math.exp(-step / 40) + 0.2
                                          + 0.1 * rng.random())})
        rows.append({"epoch": e, "train_loss": 1.0 / e + 0.01 * seed,
                     "train_accuracy": 0.7 + 0.05 * e, "eval_loss": 1.1 / e + 0.02 * seed,
                     "eval_accuracy": 0.68 + 0.05 * e - 0.01 * seed,
                     "train_seconds": 0.5 + 0.1 * seed, "eval_seconds": 0.1, "lr": lr,
                     "steps": step})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "batches.jsonl").write_text("".join(json.dumps(b) + "\n" for b in batches))
    last = rows[-1]
    (d / "summary.json").write_text(json.dumps({
        "train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
        "eval_loss": last["eval_loss"], "eval_accuracy": last["eval_accuracy"],
        "eval_split": "test" if final else "validation", "epochs": epochs, "seconds": 1.0,
        "run_dir": str(d), "n_train": n_train}))
    return d


@pytest.fixture
def seeds(tmp_path):
    return [write_run(tmp_path, f"seed={s}", seed=s) for s in range(3)]


def test_batch_loss_png(tmp_path, seeds):
    out = F.batch_loss(seeds, tmp_path / "fig" / "batch.png")
    assert out == tmp_path / "fig" / "batch.png"
    assert_png(out)
    assert_png(F.batch_loss(seeds[:1], tmp_path / "one.png", beta=0.9))


def test_train_val_png_with_marks(tmp_path, seeds):
    assert_png(F.train_val(seeds, tmp_path / "tv.png", marks={2: "epoch two", 99: "beyond"}))
    assert_png(F.train_val(seeds[:1], tmp_path / "tv1.png", show_seeds=False))


def test_compare_every_x_axis(tmp_path, monkeypatch):
    saved = capture_figures(monkeypatch, F)
    groups = []
    for lr in (0.001, 0.01):
        dirs = [write_run(tmp_path / f"lr{lr}", f"s{s}", seed=s, lr=lr) for s in range(2)]
        groups.append((f"lr {lr}", dirs))
    panels = [("eval_accuracy", axis) for axis in F.X_AXES]
    assert_png(F.compare(groups, tmp_path / "cmp.png", panels=panels, log_x=("steps",)))
    axes = saved[-1].axes
    # a panel's title names its x axis briefly; the axis label says the rest
    assert [ax.get_title() for ax in axes] == [
        "validation accuracy per epoch"] + [f"validation accuracy vs {a}" for a in
                                            ("steps", "examples", "seconds")]
    assert [ax.get_xlabel() for ax in axes] == list(F.X_AXES.values())
    with pytest.raises(BackproplabError, match="x axis"):
        F.compare(groups, tmp_path / "bad.png", panels=[("eval_loss", "fortnights")])


def test_lr_summary_and_final_summary(tmp_path):
    groups = [(lr, [write_run(tmp_path / str(lr), f"s{s}", seed=s, lr=lr) for s in range(2)])
              for lr in (0.003, 0.03)]
    assert_png(F.lr_summary(groups, tmp_path / "lr.png", references={0.003: 0.95, 0.03: 0.91}))
    final = [write_run(tmp_path / "final", f"s{s}", seed=s, final=True) for s in range(3)]
    assert_png(F.final_summary(final, tmp_path / "final.png",
                               references={"original": 0.9428}))


def test_final_summary_draws_points_not_bars_cut_off_by_the_zoomed_axis(tmp_path, monkeypatch):
    # bars on an axis zoomed to 0.81..0.89 once made a 0.004 difference look large
    saved = capture_figures(monkeypatch, F)
    final = [write_run(tmp_path / "final", f"s{s}", seed=s, final=True) for s in range(3)]
    assert_png(F.final_summary(final, tmp_path / "final.png", references={"ref": 0.9}))
    ax = saved[-1].axes[0]
    from matplotlib.patches import Rectangle

    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert bars == [], "final_summary draws bars on a zoomed axis"
    assert ax.get_ylim()[0] > 0  # zoomed: which is why bars would mislead
    assert ax.get_ylabel() == "test accuracy"
    values = sorted(float(t.get_text()) for t in ax.texts if "±" not in t.get_text())
    expected = sorted(0.68 + 0.05 * 4 - 0.01 * s for s in range(3))
    assert values == pytest.approx(expected, abs=5e-5)


def test_comparison_axes_name_the_evaluation_split(tmp_path, monkeypatch):
    saved = capture_figures(monkeypatch, F)
    groups = [(lr, [write_run(tmp_path / str(lr), f"s{s}", seed=s, lr=lr) for s in range(2)])
              for lr in (0.003, 0.03)]
    F.compare([(f"lr {lr}", d) for lr, d in groups], tmp_path / "cmp.png",
              panels=[("eval_accuracy", "epoch"), ("train_loss", "epoch")])
    F.lr_summary(groups, tmp_path / "lr.png")
    labels = [ax.get_ylabel() for fig in saved for ax in fig.axes if ax.get_visible()]
    assert labels == ["validation accuracy", "training loss", "final validation accuracy",
                      "final validation loss"]


def test_comparisons_draw_the_95_percent_interval_of_the_mean(tmp_path, monkeypatch):
    # compare and lr_summary draw through the sweeps' panels: the band (compare) and the
    # error bars (lr_summary) are the Student-t interval of the mean over the seeds
    from scipy import stats

    saved = capture_figures(monkeypatch, F)
    groups = [(lr, [write_run(tmp_path / str(lr), f"s{s}", seed=s, lr=lr) for s in range(3)])
              for lr in (0.003, 0.03)]
    F.compare([(f"lr {lr}", d) for lr, d in groups], tmp_path / "cmp.png",
              panels=[("eval_accuracy", "epoch")])
    F.lr_summary(groups, tmp_path / "lr.png")
    seeds = np.array([0.68 + 0.05 * 4 - 0.01 * s for s in range(3)])  # last epoch
    half = stats.t.ppf(0.975, 2) * seeds.std(ddof=1) / math.sqrt(3)
    band = saved[0].axes[0].collections[0].get_paths()[0].vertices
    at_last = band[np.isclose(band[:, 0], 4.0), 1]
    assert at_last.min() == pytest.approx(seeds.mean() - half)
    assert at_last.max() == pytest.approx(seeds.mean() + half)
    (bar,) = saved[1].axes[0].containers[0].lines[2]
    (_, lo), (_, hi) = bar.get_segments()[0]
    assert (lo, hi) == pytest.approx((seeds.mean() - half, seeds.mean() + half))
    assert "95%" in saved[0].texts[0].get_text() and "95%" in saved[1].texts[0].get_text()


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(BackproplabError, match="no run folders"):
        F.train_val([], tmp_path / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackproplabError, match="not a run folder"):
        F.train_val([tmp_path / "empty"], tmp_path / "x.png")


def test_ema_is_bias_corrected():
    # a constant series stays constant from the first point on (no pull towards 0)
    assert np.allclose(ema([2.0] * 50, 0.98), 2.0)
    # by hand: m1 = 0.5*1, w1 = 0.5 -> 1; m2 = 0.5*0.5 + 0.5*3 = 1.75, w2 = 0.75 -> 7/3
    assert np.allclose(ema([1.0, 3.0], 0.5), [1.0, 7.0 / 3.0])
    # NaN points are skipped, the average carries over
    out = ema([1.0, float("nan"), 1.0], 0.5)
    assert np.allclose(out, [1.0, 1.0, 1.0])
    assert 0.9 < ema_beta(100) < ema_beta(100_000) < 1.0


def test_mean_band_uses_sample_std():
    mean, std, n = mean_band([np.array([1.0, 2.0]), np.array([3.0]), np.array([5.0, 4.0])])
    assert np.allclose(mean, [3.0, 3.0])
    assert np.allclose(std, [2.0, math.sqrt(2.0)])  # ddof=1: sqrt(8/2), sqrt(2/1)
    assert list(n) == [3, 2]


@pytest.fixture(scope="module")
def synth_runs(tmp_path_factory):
    from backproplab.training import TrainConfig, run_training

    root = tmp_path_factory.mktemp("synth")
    tensor = root / "tensor"
    run_training(TrainConfig(dataset="synth", hidden=(8,), lr=0.5, batch_size=32, epochs=2,
                             limit=1500, threads=1), tensor, progress="quiet")
    scalar = root / "scalar"
    run_training(TrainConfig(dataset="synth", engine="scalar", epochs=1, limit=800, threads=1),
                 scalar, progress="quiet")
    return tensor, scalar


def test_decision_boundary_both_engines(tmp_path, synth_runs):
    for run in synth_runs:
        assert_png(I.decision_boundary(run, tmp_path / f"{run.name}.png"), min_bytes=20_000)


def test_load_model_matches_the_run_accuracy(synth_runs):
    """The model the figures load is the trained one: it reproduces the run's own
    validation accuracy (scalar model.npz goes through the float64 tensor MLP)."""
    from backproplab.data import load_dataset

    for run in synth_runs:
        cfg = json.loads((run / "config.json").read_text())
        summary = json.loads((run / "summary.json").read_text())
        data = load_dataset("synth", limit=cfg["limit"])
        model = RunFolder(run).load_model()
        acc = float(np.mean(model.predict(data.X_eval.astype(model.dtype)) == data.y_eval))
        assert acc == pytest.approx(summary["eval_accuracy"], abs=1e-4)


def test_confusion_png_from_a_saved_model(tmp_path, synth_runs):
    assert_png(I.confusion(synth_runs[0], tmp_path / "confusion.png"))


def test_decision_boundary_refuses_image_runs(tmp_path, seeds):
    with pytest.raises(BackproplabError, match="synth"):
        I.decision_boundary(seeds[0], tmp_path / "x.png")


# --- the panels shared by loss.png and the study's figures ---------------------

def test_loss_png_and_the_study_draw_the_same_panels(tmp_path, monkeypatch):
    """One run's loss.png and the study's figures draw their curves with the same
    panel functions: the same lines, point for point."""
    from backproplab.plots import run as plots_run

    run = write_run(tmp_path, "one", lr=0.05)
    own = capture_figures(monkeypatch, plots_run)
    study = capture_figures(monkeypatch, F)
    plots_run.plot_run(run, tmp_path / "loss.png")
    F.batch_loss([run], tmp_path / "batch.png")
    F.train_val([run], tmp_path / "tv.png")

    def same_lines(a, b):
        assert [line.get_label() for line in a.get_lines()] == \
            [line.get_label() for line in b.get_lines()]
        for p, q in zip(a.get_lines(), b.get_lines()):
            np.testing.assert_array_equal(np.asarray(p.get_xydata()), np.asarray(q.get_xydata()))

    loss_png = own[-1].axes
    same_lines(loss_png[0], study[0].axes[0])  # raw + EMA per batch, epoch boundaries
    same_lines(loss_png[1], study[1].axes[0])  # training vs validation loss
    assert [line.get_label() for line in loss_png[1].get_lines()] == ["training loss",
                                                                     "validation loss"]


def test_loss_png_legend_sits_where_the_rate_line_cannot_cross_it(tmp_path, monkeypatch):
    from backproplab.plots import run as plots_run

    run = write_run(tmp_path, "one", lr=0.05)
    saved = capture_figures(monkeypatch, plots_run)
    assert_png(plots_run.plot_run(run, tmp_path / "loss.png"))
    fig = saved[-1]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax_epochs = fig.axes[1]
    legend = ax_epochs.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["training loss", "validation loss", "learning rate (right axis)"]
    # the rate's twin axis covers exactly the panel: a legend outside it is crossed by no line
    box, panel = legend.get_window_extent(renderer), ax_epochs.get_window_extent(renderer)
    assert box.y1 < panel.y0
    assert texts_off_the_canvas(fig) == []
