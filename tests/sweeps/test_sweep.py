"""Sweeps through the Python API: spec, real runs on synth, resume, failures."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from backproplab import tensor
from backproplab.errors import BackproplabError
from backproplab.fileio import read_jsonl
from backproplab.runs import is_bookkeeping, read_run_files
from backproplab.sweeps.driver import make_executor, run_sweep
from backproplab.sweeps.executors import LocalExecutor, execute_trial
from backproplab.sweeps.spec import Sweep, format_value, trial_name
from backproplab.sweeps.trials import Executor, TrialResult
from backproplab.training import TrainConfig

#: A small, fast run: 2000 synthetic points, 8 hidden units.
BASE = TrainConfig(dataset="synth", limit=2000, hidden=(8,), batch_size=16, epochs=2)


def load(path: Path):
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------
# the spec


def test_trial_names_and_order():
    s = Sweep(BASE, {"lr": [0.01, 0.1], "batch_size": [16, 32]}, seeds=[0, 1])
    names = s.trial_names()
    assert len(names) == 8 == len(s)
    assert names[:3] == ["lr=0.01_batch_size=16_seed=0", "lr=0.01_batch_size=16_seed=1",
                         "lr=0.01_batch_size=32_seed=0"]
    assert names[-1] == "lr=0.1_batch_size=32_seed=1"
    trials = s.trials("/tmp/x")
    assert trials[2].config["lr"] == 0.01 and trials[2].config["batch_size"] == 32
    assert trials[2].config["seed"] == 0 and trials[2].values == {
        "lr": 0.01, "batch_size": 32, "seed": 0}


def test_single_values_fold_into_the_base_and_names_stay_short():
    s = Sweep(BASE, {"lr": [0.05], "hidden": [[4, 3]]}, seeds=[3, 7])
    assert s.grid == {} and s.base["lr"] == 0.05 and s.base["hidden"] == [4, 3]
    assert s.trial_names() == ["seed=3", "seed=7"]


def test_value_formatting():
    assert format_value(0.001) == "0.001" and format_value(1e-05) == "1e-05"
    assert format_value([300, 100]) == "300-100" and format_value(True) == "true"
    assert format_value("glorot-uniform") == "glorot-uniform"
    assert trial_name({"hidden": [3, 2], "seed": 0}) == "hidden=3-2_seed=0"
    long = trial_name({"hidden": list(range(1, 80)), "seed": 0})
    assert len(long) <= 150


@pytest.mark.parametrize("grid, seeds, match", [
    ({"lrr": [0.1]}, [0], "unknown sweep option 'lrr'"),
    ({"lr": []}, [0], "has no values"),
    ({"lr": [0.1, 0.1]}, [0], "twice"),
    ({"seed": [1, 2]}, [0], "not a grid option"),
    ({"lr": [0.1, -1.0]}, [0], "lr must be a positive number"),
    ({"activation": ["sigmoid", "swish"]}, [0], "unknown activation 'swish'"),
    ({}, [], "at least one seed"),
    ({}, [0, 0], "repeats a seed"),
    ({}, [-1], "seeds must be integers >= 0"),
])
def test_bad_specs_are_clear_errors(grid, seeds, match):
    with pytest.raises(BackproplabError, match=match):
        Sweep(BASE, grid, seeds)


def test_make_executor():
    assert isinstance(make_executor("local", 3), LocalExecutor)
    assert make_executor("local", 3).workers == 3
    with pytest.raises(BackproplabError, match="unknown executor"):
        make_executor("slurm", 2)
    with pytest.raises(BackproplabError, match="--workers"):
        make_executor("local", 0)


# ---------------------------------------------------------------------------
# real sweeps


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory):
    """2 learning rates x 2 seeds on 2 worker processes, 2 epochs each."""
    out = tmp_path_factory.mktemp("sweep") / "lr"
    sweep = Sweep(BASE, {"lr": [0.1, 0.3]}, seeds=[0, 1])
    outcome = run_sweep(sweep, out, workers=2, progress="quiet")
    return sweep, out, outcome


def test_sweep_writes_run_folders_and_results(lr_sweep):
    sweep, out, outcome = lr_sweep
    assert outcome.ok and outcome.count("ok") == 4 and outcome.count("skipped") == 0
    assert load(out / "sweep.json")["trials"][0] == {"name": "lr=0.1_seed=0",
                                                     "values": {"lr": 0.1, "seed": 0}}
    for name in sweep.trial_names():
        folder = out / name
        for f in ("config.json", "metrics.jsonl", "batches.jsonl", "checkpoint.npz",
                  "model.npz", "summary.json", "status.json"):
            assert (folder / f).is_file(), f"{name}/{f}"
        assert not (folder / "error.txt").exists()
        config = load(folder / "config.json")
        values = dict(p.split("=") for p in name.split("_"))
        assert config["seed"] == int(values["seed"]) and config["lr"] == float(values["lr"])
        assert config["threads"] == 1  # one BLAS thread per worker
        assert load(folder / "status.json")["status"] == "ok"

    results = load(out / "results.json")
    assert results["varying"] == ["lr"]
    assert [(g["label"], g["n"], g["seeds"]) for g in results["groups"]] == [
        ("lr=0.1", 2, [0, 1]), ("lr=0.3", 2, [0, 1])]
    g = results["groups"][1]
    accs = [load(out / f"lr=0.3_seed={s}" / "summary.json")["eval_accuracy"] for s in (0, 1)]
    assert g["final"]["eval_accuracy"]["mean"] == pytest.approx(np.mean(accs), rel=1e-12)
    assert g["final"]["eval_accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1), rel=1e-9)
    assert [e["epoch"] for e in g["epochs"]] == [1, 2]
    assert len(g["batches"]["step"]) == 2 * 125  # 2000 / 16 steps per epoch
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 and lines[1].startswith("lr=0.1,0.1,1,2,")
    assert outcome.to_dict()["results"] == str(out / "results.json")


def test_trials_sharing_a_seed_share_initial_weights_and_batches(lr_sweep):
    """The first batch loss is computed before any update: it depends only on
    the initial weights and the first batch. Equal at every lr for one seed,
    different between seeds."""
    _, out, _ = lr_sweep

    def first_loss(name):
        return read_jsonl(out / name / "batches.jsonl")[0]["loss"]

    assert first_loss("lr=0.1_seed=0") == first_loss("lr=0.3_seed=0")
    assert first_loss("lr=0.1_seed=1") == first_loss("lr=0.3_seed=1")
    assert first_loss("lr=0.1_seed=0") != first_loss("lr=0.1_seed=1")
    # and the later losses differ: the learning rate does change the run
    b1 = read_jsonl(out / "lr=0.1_seed=0" / "batches.jsonl")
    b3 = read_jsonl(out / "lr=0.3_seed=0" / "batches.jsonl")
    assert b1[1]["loss"] != b3[1]["loss"]


def test_trials_get_the_blas_threads_their_executor_gives_each_worker(tmp_path):
    sweep = Sweep(BASE.replace(limit=200, epochs=1), {"lr": [0.1, 0.2]}, seeds=[0])
    run_sweep(sweep, tmp_path / "two", executor=LocalExecutor(2, threads_per_worker=2),
              progress="quiet")
    assert {load(tmp_path / "two" / n / "config.json")["threads"]
            for n in sweep.trial_names()} == {2}
    # a config that sets threads keeps them
    pinned = Sweep(BASE.replace(limit=200, epochs=1, threads=3), {"lr": [0.1, 0.2]}, [0])
    run_sweep(pinned, tmp_path / "pinned", workers=2, progress="quiet")
    assert {load(tmp_path / "pinned" / n / "config.json")["threads"]
            for n in pinned.trial_names()} == {3}


def test_shared_seed_gives_identical_initial_model(tmp_path):
    """Directly: a trial's model after zero updates. With a tiny learning rate
    the trials differ; the weights the run starts from must not."""
    sweep = Sweep(BASE.replace(epochs=1, limit=16), {"lr": [1e-3, 1.0]}, seeds=[0])
    # one step per epoch: after it, W = W0 - lr * g(W0); two lrs give W0 back exactly
    # when solved for W0: (lr2 * W_a - lr1 * W_b) / (lr2 - lr1), up to rounding
    run_sweep(sweep, tmp_path, workers=1, progress="quiet")
    a = tensor.MLP.load(tmp_path / "lr=0.001_seed=0" / "model.npz").params
    b = tensor.MLP.load(tmp_path / "lr=1.0_seed=0" / "model.npz").params
    cfg = load(tmp_path / "lr=1.0_seed=0" / "config.json")
    # the run's documented derivation: SeedSequence(seed).spawn(2)[0] draws the weights
    w0 = tensor.MLP([2, 8, 2], init=cfg["init"], init_std=cfg["init_std"], dtype=cfg["dtype"],
                    rng=np.random.default_rng(np.random.SeedSequence(0).spawn(2)[0])).params
    for name in a:
        recovered = (1.0 * a[name].astype(np.float64) - 1e-3 * b[name]) / (1.0 - 1e-3)
        np.testing.assert_allclose(recovered, w0[name], atol=1e-5)


def test_rerun_skips_finished_trials(lr_sweep):
    sweep, out, _ = lr_sweep
    stamps = {n: (out / n / "model.npz").stat().st_mtime_ns for n in sweep.trial_names()}
    again = run_sweep(sweep, out, workers=2, progress="quiet")
    assert again.count("skipped") == 4 and again.count("ok") == 0 and again.ok
    assert {n: (out / n / "model.npz").stat().st_mtime_ns for n in sweep.trial_names()} == stamps
    assert again.to_dict()["skipped"] == 4


def test_a_different_sweep_in_the_same_folder_is_refused(lr_sweep, tmp_path):
    sweep, out, _ = lr_sweep
    with pytest.raises(BackproplabError, match="different sweep.*--overwrite"):
        run_sweep(Sweep(BASE, {"lr": [0.1, 0.2]}, seeds=[0, 1]), out, workers=1,
                  progress="quiet")
    with pytest.raises(BackproplabError, match="base config differs in epochs"):
        run_sweep(Sweep(BASE.replace(epochs=3), {"lr": [0.1, 0.3]}, seeds=[0, 1]), out,
                  workers=1, progress="quiet")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BackproplabError, match="not empty and holds no sweep"):
        run_sweep(sweep, tmp_path, workers=1, progress="quiet")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overwrite_never_empties_a_folder_that_holds_no_sweep(tmp_path):
    # regression: --overwrite used to delete results.* and trial-named folders in any folder
    sweep = Sweep(BASE.replace(limit=200, epochs=1), {"lr": [0.1, 0.2]}, seeds=[0])
    (tmp_path / "results.json").write_text("mine")
    (tmp_path / sweep.trial_names()[0]).mkdir()
    with pytest.raises(BackproplabError, match="holds no sweep"):
        run_sweep(sweep, tmp_path, workers=1, progress="quiet", overwrite=True)
    assert (tmp_path / "results.json").read_text() == "mine"
    assert (tmp_path / sweep.trial_names()[0]).is_dir()


def test_overwrite_replaces_a_different_sweep(tmp_path):
    base = BASE.replace(limit=200, epochs=1)
    run_sweep(Sweep(base, {"lr": [0.1, 0.2]}, seeds=[0]), tmp_path, workers=1,
              progress="quiet")
    out = run_sweep(Sweep(base, {"lr": [0.3, 0.2]}, seeds=[0]), tmp_path, workers=1,
                    overwrite=True, progress="quiet")
    assert out.count("ok") == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "lr=0.2_seed=0", "lr=0.3_seed=0"]
    # the same trials in another order are the same sweep
    again = run_sweep(Sweep(base, {"lr": [0.2, 0.3]}, seeds=[0]), tmp_path, workers=1,
                      progress="quiet")
    assert again.count("skipped") == 2


def test_failing_trial_is_recorded_and_the_others_finish(tmp_path):
    base = BASE.replace(limit=500, epochs=1)
    sweep = Sweep(base, {"lr": [0.1, 1e30]}, seeds=[0, 1])
    outcome = run_sweep(sweep, tmp_path, workers=2, progress="quiet")
    assert not outcome.ok
    assert sorted(r.name for r in outcome.failed) == ["lr=1e+30_seed=0", "lr=1e+30_seed=1"]
    assert outcome.count("ok") == 2
    bad = tmp_path / "lr=1e+30_seed=0"
    status = load(bad / "status.json")
    assert status["status"] == "failed" and status["error"].startswith("DivergenceError")
    assert "Traceback" in (bad / "error.txt").read_text()
    assert not (bad / "summary.json").exists()
    results = load(tmp_path / "results.json")
    assert [g["label"] for g in results["groups"]] == ["lr=0.1"]
    trials = {t["name"]: t for t in results["trials"]}
    assert trials["lr=1e+30_seed=1"]["status"] == "failed"
    assert "diverged" in trials["lr=1e+30_seed=1"]["error"]
    assert outcome.to_dict()["failed_trials"] == ["lr=1e+30_seed=0", "lr=1e+30_seed=1"]
    # a rerun tries the failed trials again and skips the finished ones
    again = run_sweep(sweep, tmp_path, workers=1, progress="quiet")
    assert again.count("skipped") == 2 and again.count("failed") == 2


def test_interrupted_trial_is_resumed_from_its_checkpoint(tmp_path, interrupted_trial):
    base = BASE.replace(limit=400, epochs=3)
    sweep = Sweep(base, {"lr": [0.1, 0.2]}, seeds=[0])
    ref = run_sweep(sweep, tmp_path / "ref", workers=1, progress="quiet")
    assert ref.ok
    out = tmp_path / "resumed"
    trial = interrupted_trial(sweep, out)

    outcome = run_sweep(sweep, out, workers=1, progress="quiet")
    assert outcome.ok and outcome.count("ok") == 2
    status = load(Path(trial.out_dir) / "status.json")
    assert status["resumed"] is True
    assert load(Path(trial.out_dir) / "summary.json")["resumed_from_epoch"] == 1
    got = tensor.MLP.load(Path(trial.out_dir) / "model.npz").params
    want = tensor.MLP.load(tmp_path / "ref" / trial.name / "model.npz").params
    for key in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(got[key], want[key])


class ShippingExecutor(Executor):
    """Like a remote executor: trains in a scratch folder and ships the files back."""

    name = "shipping"

    def run(self, trials, on_event=None):
        for trial in trials:
            with tempfile.TemporaryDirectory() as scratch:
                result = execute_trial(trial, Path(scratch) / "run")
                if result.status == "ok":
                    result.files = read_run_files(Path(scratch) / "run")
                yield result


def test_executor_results_with_files_are_written_by_the_sweep(tmp_path):
    sweep = Sweep(BASE.replace(limit=200, epochs=1), {"lr": [0.1, 0.2]}, seeds=[0])
    outcome = run_sweep(sweep, tmp_path / "a", executor=ShippingExecutor(), progress="quiet")
    local = run_sweep(sweep, tmp_path / "b", workers=1, progress="quiet")
    assert outcome.ok and local.ok
    for name in sweep.trial_names():
        a, b = tmp_path / "a" / name, tmp_path / "b" / name
        # the lock file is the local trainer's, not part of the run (never shipped)
        assert (sorted(p.name for p in a.iterdir() if not is_bookkeeping(p.name))
                == sorted(p.name for p in b.iterdir() if not is_bookkeeping(p.name)))
        assert (a / "metrics.jsonl").is_file()
        x, y = tensor.MLP.load(a / "model.npz"), tensor.MLP.load(b / "model.npz")
        np.testing.assert_array_equal(x.params["W1"], y.params["W1"])
        assert outcome.results[0].summary["run_dir"] == str((tmp_path / "a").resolve() /
                                                            sweep.trial_names()[0])
    assert load(tmp_path / "a" / "results.json")["groups"][0]["n"] == 1


class LyingExecutor(Executor):
    def run(self, trials, on_event=None):
        yield TrialResult(trials[0].name, "ok")


def test_an_executor_that_loses_a_trial_is_caught(tmp_path):
    sweep = Sweep(BASE.replace(limit=200, epochs=1), {"lr": [0.1, 0.2]}, seeds=[0])
    with pytest.raises(RuntimeError, match="no result"):
        run_sweep(sweep, tmp_path, executor=LyingExecutor(), progress="quiet")


def test_plan_trials_reads_trial_folders_like_run_folder(tmp_path):
    """A trial folder holding only bookkeeping (a lock, an interrupted write) is
    run; one holding a foreign file, or an unreadable config, is refused; a
    finished one is skipped with the seconds of its status record."""
    from backproplab.runs import CONFIG, LOCK, STATUS, SUMMARY
    from backproplab.sweeps.driver import plan_trials

    sweep = Sweep(BASE, {}, seeds=[0])
    (trial,) = sweep.trials(tmp_path)
    folder = Path(trial.out_dir)
    folder.mkdir()
    (folder / LOCK).write_text("1\n")
    (folder / ".summary.json.abc.tmp").write_text("{")
    assert plan_trials([trial]) == ([trial], [])
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(BackproplabError, match="not this sweep's"):
        plan_trials([trial])
    (folder / "notes.txt").unlink()
    (folder / CONFIG).write_text("{not json")
    with pytest.raises(BackproplabError, match="unreadable"):
        plan_trials([trial])
    (folder / CONFIG).write_text(json.dumps(trial.config))
    (folder / SUMMARY).write_text(json.dumps({"eval_accuracy": 0.5}))
    (folder / STATUS).write_text(json.dumps({"status": "ok", "seconds": 2.5}))
    to_run, finished = plan_trials([trial])
    assert to_run == [] and [(r.name, r.status, r.seconds) for r in finished] == [
        (trial.name, "skipped", 2.5)]
