"""``backproplab plot SWEEP_DIR`` and ``backproplab compare``: many runs at once.

On a real small sweep, complete, caught mid-run (a trial with fewer epochs and
no summary, a trial not started) and damaged (as tests/sweeps/test_aggregate_damage.py
damages one), through the command line in a subprocess; what is drawn checked
against the runs' own files with SciPy's t interval and Welch test computed here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from tests.conftest import run_subprocess

from backproplab.plots import new_figure
from backproplab.plots.sweeps import curve_panel, final_panel
from backproplab.sweeps import Sweep, run_sweep
from backproplab.sweeps.aggregate import aggregate_sweep, read_sweep
from backproplab.training import TrainConfig, run_training

SWEEP = Sweep(TrainConfig(limit=300, epochs=3, hidden=(4,)), {"lr": [2.0, 4.0]}, [0, 1, 2])
RUNNING = "lr=2.0_seed=2"    # caught after its first epoch
NOT_STARTED = "lr=4.0_seed=2"  # listed in sweep.json, no folder yet


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "lr"
    assert run_sweep(SWEEP, out, workers=1, progress="quiet").ok
    return out


@pytest.fixture
def copy(sweep_dir: Path, tmp_path: Path):
    """A fresh copy of the finished sweep, to change."""
    target = tmp_path / "lr"
    shutil.copytree(sweep_dir, target)
    return target


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def per_seed(sweep: Path, lr: float, key: str, trials=None) -> dict[int, list[float]]:
    """epoch -> the values of ``key`` of that epoch over the group's trials, from metrics.jsonl."""
    out: dict[int, list[float]] = {}
    for seed in (0, 1, 2):
        folder = sweep / f"lr={lr}_seed={seed}"
        if (folder / "metrics.jsonl").is_file() and (trials is None or folder.name in trials):
            for row in lines(folder / "metrics.jsonl"):
                out.setdefault(row["epoch"], []).append(row[key])
    return out


def t_interval(values) -> tuple[float, float]:
    x = np.asarray(values, dtype=np.float64)
    return stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))


def catch_mid_run(sweep: Path) -> None:
    """RUNNING as a sweep killed in its second epoch leaves it; NOT_STARTED removed."""
    trial = sweep / RUNNING
    (trial / "metrics.jsonl").write_text((trial / "metrics.jsonl").read_text().splitlines()[0]
                                         + "\n")
    first = [line for line in (trial / "batches.jsonl").read_text().splitlines()
             if json.loads(line)["epoch"] == 1]
    (trial / "batches.jsonl").write_text("\n".join(first) + "\n")
    for name in ("summary.json", "model.npz", "status.json", "loss.png"):
        (trial / name).unlink(missing_ok=True)
    shutil.rmtree(sweep / NOT_STARTED)


def test_plot_draws_a_complete_sweep(sweep_dir: Path, tmp_path: Path):
    r = run_subprocess("plot", sweep_dir, "--out", tmp_path, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"sweep_dir": str(sweep_dir),
                                    "figures": [str(tmp_path / "sweep.png")]}
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "backproplab:" not in r.stderr  # nothing left out


def test_the_bands_are_the_t_intervals_over_seeds(sweep_dir: Path):
    results = aggregate_sweep(sweep_dir, write=False, running=True)
    _, axes = new_figure(ncols=2)
    curve_panel(axes[0][0], results["groups"], "eval_loss")
    final_panel(axes[0][1], results["groups"], "eval_loss", setting="lr")
    ax = axes[0][0]
    for line, band, lr in zip(ax.lines, ax.collections, (2.0, 4.0)):
        values = per_seed(sweep_dir, lr, "eval_loss")
        assert list(line.get_xdata()) == [1, 2, 3]
        np.testing.assert_allclose(line.get_ydata(), [np.mean(values[e]) for e in (1, 2, 3)],
                                   rtol=1e-12)
        ys = band.get_paths()[0].vertices[:, 1]
        lo, hi = zip(*(t_interval(values[e]) for e in (1, 2, 3)))
        np.testing.assert_allclose(min(ys), min(lo), rtol=1e-9)
        np.testing.assert_allclose(max(ys), max(hi), rtol=1e-9)
    # the final panel: one error bar per group, the t interval of the last epoch's loss
    bars = [c for c in axes[0][1].containers]
    assert len(bars) == 2
    for bar, lr in zip(bars, (2.0, 4.0)):
        final = per_seed(sweep_dir, lr, "eval_loss")[3]
        (x,), (y,) = bar.lines[0].get_data()
        assert x == lr and y == pytest.approx(np.mean(final), rel=1e-12)
        segment = bar.lines[2][0].get_segments()[0]
        np.testing.assert_allclose(sorted(segment[:, 1]), t_interval(final), rtol=1e-9)


def test_an_interval_wider_than_the_metric_is_cut_at_its_range():
    # two seeds: t(0.975, 1) = 12.7 stretches an accuracy's interval far beyond [0, 1]
    a, b = 0.2, 0.8
    lo, hi = t_interval([a, b])
    assert lo < 0 and hi > 1
    group = {"label": "g", "values": {"lr": 0.1},
             "epochs": [{"epoch": 1, "eval_accuracy": {"mean": 0.5, "ci95": [lo, hi]},
                         "eval_loss": {"mean": 0.1, "ci95": [-0.2, 0.4]}}],
             "final": {"eval_accuracy": {"mean": 0.5, "ci95": [lo, hi]}}}
    _, axes = new_figure(ncols=3)
    curve_panel(axes[0][0], [group], "eval_accuracy")
    curve_panel(axes[0][1], [group], "eval_loss")
    final_panel(axes[0][2], [group], "eval_accuracy", setting="lr")
    for ax, want in zip(axes[0][:2], ((0.0, 1.0), (0.0, 0.4))):
        ys = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert (min(ys), max(ys)) == want
    segment = axes[0][2].containers[0].lines[2][0].get_segments()[0]
    assert sorted(segment[:, 1]) == [0.0, 1.0]


def test_plot_and_compare_read_a_sweep_mid_run(copy: Path, tmp_path: Path):
    catch_mid_run(copy)
    r = run_subprocess("plot", copy, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["figures"] == [str(copy / "sweep.png")]
    note = [line for line in r.stderr.splitlines() if line.startswith("backproplab:")]
    assert len(note) == 1 and "2 of 6 trial(s) not aggregated" in note[0]
    assert f"{RUNNING} (incomplete)" in note[0] and f"{NOT_STARTED} (not started)" in note[0]

    # the library's reading (both commands call it) gives that line to its log
    notes = []
    results = read_sweep(copy, log=notes.append)
    assert [f"backproplab: {copy}: {n}" for n in notes] == note
    # its finished epoch draws; only finished runs count in the final metrics
    low, high = results["groups"]
    assert [row["n"] for row in low["epochs"]] == [3, 2, 2]
    assert low["running"] == [RUNNING] and low["n"] == 2 and low["final"]["n"] == 2
    assert [row["n"] for row in high["epochs"]] == [2, 2, 2] and high["running"] == []
    first = per_seed(copy, 2.0, "eval_loss")[1]
    assert low["epochs"][0]["eval_loss"]["mean"] == pytest.approx(np.mean(first), rel=1e-12)

    out = tmp_path / "mid.png"
    r = run_subprocess("compare", copy, "--out", out, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["figure"] == str(out) and out.read_bytes()[:4] == b"\x89PNG"
    assert [(g["label"], g["n"], g["running"]) for g in shown["groups"]] == [
        (f"{copy}: lr=2.0", 2, [RUNNING]), (f"{copy}: lr=4.0", 2, [])]


def test_plot_and_compare_leave_damaged_trials_out_and_name_them(copy: Path, tmp_path: Path):
    garbage, broken = "lr=2.0_seed=1", "lr=4.0_seed=0"
    (copy / garbage / "metrics.jsonl").write_text("garbage \x00 not json\nmore garbage\n")
    text = (copy / broken / "summary.json").read_text()
    (copy / broken / "summary.json").write_text(text[: len(text) // 2])
    (copy / "lr=4.0_seed=1" / "batches.jsonl").write_bytes(b"\xff\xfe{\"epoch\": 1.5}\n")
    for command in (("plot", copy), ("compare", copy, "--out", tmp_path / "c.png")):
        r = run_subprocess(*command, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        note = [line for line in r.stderr.splitlines() if line.startswith("backproplab:")]
        assert len(note) == 1 and "3 of 6 trial(s) not aggregated" in note[0]
        assert f"{garbage} (failed: " in note[0] and "metrics.jsonl is damaged" in note[0]
        assert f"{broken} (failed: " in note[0] and "summary.json is damaged" in note[0]
    results = aggregate_sweep(copy, write=False, running=True)
    assert [(g["n"], [row["n"] for row in g["epochs"]]) for g in results["groups"]] == [
        (2, [2, 2, 2]), (1, [1, 1, 1])]


def test_compare_overlays_runs_and_sweeps_and_tests_them_as_scipy_does(sweep_dir: Path,
                                                                        tmp_path: Path):
    run = tmp_path / "one"
    run_training(TrainConfig(limit=300, epochs=2, hidden=(4,), lr=2.0), run, progress="quiet")
    r = run_subprocess("compare", sweep_dir, run, "--json", timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["figure"] == "compare.png" and (tmp_path / "compare.png").is_file()
    labels = [g["label"] for g in shown["groups"]]
    # labelled by the paths less the folders both share; the source is the path as given
    shared = os.path.commonpath([sweep_dir, run])
    short, one = (os.path.relpath(p, shared) for p in (sweep_dir, run))
    assert labels == [f"{short}: lr=2.0", f"{short}: lr=4.0", one] and len(one) < len(str(run))
    assert [g["source"] for g in shown["groups"]] == [str(sweep_dir)] * 2 + [str(run)]
    assert shown["groups"][2]["n"] == 1
    pairs = [(c["a"], c["b"], c["metric"]) for c in shown["comparisons"]]
    assert len(pairs) == 6 and len(set(pairs)) == 6  # 3 pairs x 2 metrics
    (between,) = [c for c in shown["comparisons"] if c["metric"] == "eval_accuracy"
                  and c["b"] == labels[1] and c["a"] == labels[0]]
    a = per_seed(sweep_dir, 2.0, "eval_accuracy")[3]
    b = per_seed(sweep_dir, 4.0, "eval_accuracy")[3]
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert between["test"] == "welch"
    assert between["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    assert between["difference"] == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12)
    # a run alone has one seed: no p-value, and the reason is said
    (single,) = [c for c in shown["comparisons"] if c["metric"] == "eval_accuracy"
                 and c["a"] == labels[0] and c["b"] == labels[2]]
    assert single["p_value"] is None and "2 seeds" in single["note"]

    r = run_subprocess("compare", sweep_dir, run, "--out", tmp_path / "x.png", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "p (Holm)" in r.stdout and f"figure: {tmp_path / 'x.png'}" in r.stdout
    assert "compared groups (final epoch)" in r.stdout and "sweep results" not in r.stdout
    assert math.isfinite(welch.pvalue)


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_what_is_not_a_run_or_a_sweep_is_one_sentence_and_status_2(command, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for target, says in ((tmp_path / "nope", "does not exist"),
                         (tmp_path / "file.txt", "is a file, not a folder"),
                         (tmp_path / "empty", "holds no run (config.json) and no sweep")):
        r = run_subprocess(command, target, timeout=60, cwd=tmp_path)
        assert r.returncode == 2, (target, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"backproplab: error: {target} {says}")
        assert line.endswith("; give the folder of a training run or of a sweep")
    assert not (tmp_path / "compare.png").exists()


def test_compare_refuses_a_folder_given_twice(sweep_dir: Path, tmp_path: Path):
    r = run_subprocess("compare", sweep_dir, f"{sweep_dir}/", timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"backproplab: error: {sweep_dir}/ is given twice; give each folder once"]


def test_compare_refuses_a_damaged_run_folder_in_one_sentence(sweep_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(sweep_dir / "lr=2.0_seed=0", run)
    (run / "metrics.jsonl").write_text("garbage \x00 not json\n")
    r = run_subprocess("compare", run, "--out", tmp_path / "c.png", timeout=60)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"backproplab: error: {run / 'metrics.jsonl'} is damaged")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("damage", ["metrics.jsonl", "summary.json"])
def test_a_damaged_run_folder_is_told_a_fix_for_a_run_not_a_sweep(damage, sweep_dir: Path,
                                                                   tmp_path: Path):
    # was "delete the trial folder and run the sweep again" for a folder of `train --out`
    run = tmp_path / "run"
    run_training(TrainConfig(limit=300, epochs=1, hidden=(4,)), run, progress="quiet")
    if damage == "metrics.jsonl":
        with (run / damage).open("a") as fh:
            fh.write("x\n")
    else:
        (run / damage).write_text("[1]")
    r = run_subprocess("compare", run, sweep_dir, "--out", tmp_path / "c.png", timeout=60)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"backproplab: error: {run / damage} is damaged")
    assert line.endswith("; restore the file or rerun the run")
    assert "sweep" not in line and not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_help_prints_a_single_percent_sign(command):
    # argparse formats an argument's help with %, not a parser's description: "95%%"
    # there reached the user as written
    r = run_subprocess(command, "--help", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "%%" not in r.stdout
    assert "95% interval" in " ".join(r.stdout.split())


def test_compare_refuses_a_figure_name_that_is_not_png(sweep_dir: Path, tmp_path: Path):
    # --out x.pdf wrote PNG bytes into x.pdf
    for name in ("x.pdf", "x.svg", "x"):
        r = run_subprocess("compare", sweep_dir, "--out", tmp_path / name, timeout=60)
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.strip().splitlines() == [
            (f"backproplab: error: --out {tmp_path / name} does not end in .png, but compare "
             "draws a PNG; give a file name ending in .png, such as compare.png")]
        assert not (tmp_path / name).exists()
    r = run_subprocess("compare", sweep_dir, "--out", tmp_path / "X.PNG", timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "X.PNG").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_a_figure_path_under_a_file_before_reading(sweep_dir: Path,
                                                                   tmp_path: Path):
    # regression: a --out whose folder is a file failed only when the figure was saved
    (tmp_path / "notes").write_text("a file, not a folder")
    r = run_subprocess("compare", sweep_dir, "--out", tmp_path / "notes" / "c.png", timeout=60)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr == (f"backproplab: error: --out {tmp_path / 'notes' / 'c.png'} cannot be "
                        f"written: {tmp_path / 'notes'} is a file; give a path in a folder\n")

def test_the_table_says_why_a_comparison_has_no_number(sweep_dir: Path, tmp_path: Path):
    # a run alone is one seed: its rows showed '-' and nowhere said why
    run = tmp_path / "one"
    run_training(TrainConfig(limit=300, epochs=1, hidden=(4,)), run, progress="quiet")
    r = run_subprocess("compare", sweep_dir, run, "--out", tmp_path / "c.png", timeout=60)
    assert r.returncode == 0, r.stderr
    tables = " ".join(r.stdout.split()).split("every pair of groups")[1:]
    assert len(tables) == 2  # validation accuracy, then loss: each says it under itself
    for table in tables:
        assert "'-': p-value and interval: needs at least 2 seeds in each group" in table
    r = run_subprocess("compare", sweep_dir, "--out", tmp_path / "d.png", timeout=60)
    assert "'-'" not in r.stdout  # every pair has its numbers: no reason to give


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_a_table_reader_that_leaves_early_is_status_141(command, copy: Path, tmp_path: Path):
    # `backproplab compare ... | head -1`: rich's console ended the process with status 1,
    # which for sweep means "a trial failed"; as every command: 141, as for SIGPIPE, silent
    import subprocess
    import sys

    args = (["compare", copy.name, "--out", "c.png"] if command == "compare"
            else ["sweep", "--aggregate-only", "--out", copy.name])
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", *args], cwd=copy.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the tables are printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err.decode()


def test_compare_of_folders_deep_in_long_paths_draws_a_readable_figure(sweep_dir: Path,
                                                                     tmp_path: Path):
    # regression: every label was the whole path, so the legend and the final panel's
    # ticks took the figure's width (matplotlib: "constrained_layout not applied")
    deep = tmp_path / "a_rather_long_folder_name_for_experiments" / "another_long_subfolder"
    a, b = deep / "first_sweep_with_a_long_name", deep / "second_sweep_with_a_long_name"
    shutil.copytree(sweep_dir, a)
    shutil.copytree(sweep_dir, b)
    r = run_subprocess("compare", a, b, "--out", tmp_path / "c.png", "--json", timeout=120)
    assert r.returncode == 0 and "Warning" not in r.stderr, r.stderr
    assert [g["label"] for g in json.loads(r.stdout)["groups"]] == [
        "first_sweep_with_a_long_name: lr=2.0", "first_sweep_with_a_long_name: lr=4.0",
        "second_sweep_with_a_long_name: lr=2.0", "second_sweep_with_a_long_name: lr=4.0"]


def test_the_final_panels_legend_tells_its_series_apart_by_marker():
    # regression: each series' legend entry was the same grey line without its marker
    groups = [{"label": f"h={h} {act}", "values": {"hidden": h, "activation": act},
               "final": {"eval_accuracy": {"mean": 0.9, "ci95": [0.85, 0.95], "n": 2}}}
              for h in (4, 8) for act in ("relu", "tanh")]
    _, axes = new_figure(ncols=1)
    final_panel(axes[0][0], groups, setting="hidden")
    legend = axes[0][0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["activation=relu",
                                                         "activation=tanh"]
    handles = legend.legend_handles
    assert len({h.get_marker() for h in handles}) == 2
    assert all(h.get_markersize() > 0 for h in handles)  # drawn, so it can be told apart
