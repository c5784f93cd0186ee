"""The readers of run and sweep folders (backproplab.runs), on folders written
by the sweep code and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backproplab.errors import BackproplabError
from backproplab.runs import SweepFolder
from backproplab.sweeps.spec import Sweep, prepare_sweep_dir


def _run(folder: Path, config: dict, *, finished: bool) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if finished:
        (folder / "summary.json").write_text(json.dumps({"eval_accuracy": 0.5}))


def test_a_sweep_folder_gives_its_trials_grid_points_and_settings(tmp_path):
    sweep = Sweep({"dataset": "synth", "epochs": 1, "threads": 2},
                  grid={"lr": [0.1, 0.03], "hidden": [[4], [8]]}, seeds=[3, 5])
    out = prepare_sweep_dir(sweep, tmp_path / "s")
    trials = sweep.trials(out)
    for i, trial in enumerate(trials[:5]):  # the last three never started
        _run(Path(trial.out_dir), trial.config, finished=i != 1)

    folder = SweepFolder(out)
    assert [t.name for t in folder.trials] == [t.name for t in trials]
    assert folder.settings() == {"lr": [0.1, 0.03], "hidden": [[4], [8]]}
    assert folder.settings(ignore=("hidden",)) == {"lr": [0.1, 0.03]}
    points = folder.groups()
    assert [p.values for p in points] == [
        {"lr": 0.1, "hidden": [4]}, {"lr": 0.1, "hidden": [8]},
        {"lr": 0.03, "hidden": [4]}, {"lr": 0.03, "hidden": [8]}]
    assert all(p.seeds == (3, 5) for p in points)
    assert {s: t.name for s, t in points[0].by_seed().items()} == {
        3: "lr=0.1_hidden=4_seed=3", 5: "lr=0.1_hidden=4_seed=5"}
    assert [t.finished for t in folder.trials] == [True, False, True, True, True,
                                                   False, False, False]
    assert [p.finished for p in points] == [False, True, False, False]
    assert not folder.finished
    assert folder.values("lr=0.03_hidden=8_seed=5", ["lr"]) == {"lr": 0.03, "seed": 5}


def test_without_sweep_json_the_trials_are_the_run_folders(tmp_path):
    base = {"dataset": "synth", "lr": 0.1, "epochs": 1, "threads": 1}
    for lr in (0.1, 0.3):
        for seed in (0, 1):
            _run(tmp_path / f"b{lr}-{seed}", {**base, "lr": lr, "seed": seed, "threads": seed},
                 finished=True)
    (tmp_path / "not-a-run").mkdir()
    folder = SweepFolder(tmp_path)
    assert not folder.listed and folder.description is None
    assert folder.trial_names() == ["b0.1-0", "b0.1-1", "b0.3-0", "b0.3-1"]
    assert folder.settings(ignore=("threads",)) == {"lr": [0.1, 0.3]}
    points = folder.groups(ignore=("threads",))
    assert [(p.values, p.seeds) for p in points] == [({"lr": 0.1}, (0, 1)),
                                                     ({"lr": 0.3}, (0, 1))]
    assert folder.finished


def test_a_missing_sweep_folder_is_named(tmp_path):
    with pytest.raises(BackproplabError, match="does not exist"):
        SweepFolder(tmp_path / "nope").check()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackproplabError, match="is a file"):
        SweepFolder(tmp_path / "file").check()
