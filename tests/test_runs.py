"""The readers of run and sweep folders (backproplab.runs), on folders written
by the sweep code and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backproplab.errors import BackproplabError
from backproplab.runs import DamagedFile, RunFolder, SweepFolder, read_log, rewrite_summary
from backproplab.sweeps.spec import Sweep, prepare_sweep_dir
from backproplab.training import TrainConfig


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


@pytest.mark.parametrize("text, why", [
    (b'{"epoch": 1, "step": 1}\nnot json\n', "line 2 is not JSON"),
    (b'{"epoch": 1, "step": 1}\n\xff\xfe\n{"epoch": 2}\n', "line 2 is not UTF-8 text"),
    (b'[1, 2]\n', "line 1 is not a record with epoch, step"),
    (b'{"epoch": 1.5, "step": 1}\n', "line 1 is not a record with epoch, step"),
    (b'{"epoch": true, "step": 1}\n', "line 1 is not a record with epoch, step"),
    (b'{"epoch": 1}\n', "line 1 is not a record with epoch, step"),
])
def test_read_log_names_the_first_damaged_line(tmp_path, text, why):
    path = tmp_path / "batches.jsonl"
    path.write_bytes(text)
    with pytest.raises(DamagedFile, match=why) as info:
        read_log(path, ("epoch", "step"))
    assert info.value.path == path and str(info.value).startswith(f"{path} is damaged: {why}")
    assert str(info.value.with_fix("do this", "cannot go on: ")) == (
        f"cannot go on: {path} is damaged: {info.value.why}; do this")


def test_read_log_leaves_out_a_torn_last_line_only_when_asked(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n\n{"epoch": 2.0}\n{"epoch": 3, "tr')
    assert read_log(path, torn_tail=True) == [{"epoch": 1}, {"epoch": 2.0}]
    with pytest.raises(DamagedFile, match="line 4 is not JSON"):
        read_log(path)
    assert read_log(tmp_path / "missing.jsonl") == []


def test_rewrite_summary_points_a_moved_run_at_its_folder(tmp_path):
    files = {"summary.json": b'{"eval_accuracy": 0.75, "run_dir": "/scratch/run"}\n',
             "config.json": b"{}"}
    summary = rewrite_summary(files, tmp_path / "home", copied_from="/elsewhere")
    assert summary == {"eval_accuracy": 0.75, "run_dir": str(tmp_path / "home"),
                       "copied_from": "/elsewhere"}
    assert json.loads(files["summary.json"]) == summary and files["config.json"] == b"{}"
    with pytest.raises(BackproplabError, match="no readable summary.json"):
        rewrite_summary({"summary.json": b"{torn"}, tmp_path)


def test_train_config_reads_config_json_strictly(tmp_path):
    run = RunFolder(tmp_path)
    with pytest.raises(BackproplabError, match="holds no run to resume"):
        run.train_config(TrainConfig)
    (tmp_path / "config.json").write_text('{"dataset": "synth", "lr"')
    with pytest.raises(BackproplabError, match="is not readable JSON"):
        run.train_config(TrainConfig)
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(BackproplabError, match="is not a JSON object"):
        run.train_config(TrainConfig)
    (tmp_path / "config.json").write_text(json.dumps(TrainConfig(lr=0.25).to_dict()))
    assert run.train_config(TrainConfig) == TrainConfig(lr=0.25)
