"""Early stopping: the right epoch on scripted validation curves, exact restoring, run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.fileio import read_jsonl
from backproplab.tensor import MLP, make_optimizer
from backproplab.training import TrainConfig, fit, run_training
from backproplab.training.early_stopping import EarlyStopping


def _feed(stopper, values, monitor="eval_loss"):
    """Give the stopper one record per value; returns the epoch at which it said stop."""
    for epoch, value in enumerate(values, start=1):
        if stopper.update({"epoch": epoch, monitor: value}):
            return epoch
    return None


def test_loss_curve_stops_after_patience_epochs_without_improvement():
    es = EarlyStopping(patience=2, min_delta=0.005, monitor="eval_loss")
    # 1: best 0.9; 2: 0.8 < 0.895 improves; 3: 0.85 no (wait 1); 4: 0.79 < 0.795 improves;
    # 5: 0.7951 is not below 0.785 (wait 1); 6: 0.80 no (wait 2 = patience): stop
    assert _feed(es, [0.9, 0.8, 0.85, 0.79, 0.7951, 0.80, 0.1]) == 6
    assert (es.best, es.best_epoch, es.wait, es.stopped_epoch) == (0.79, 4, 2, 6)


def test_accuracy_curve_and_min_delta():
    es = EarlyStopping(patience=3, min_delta=0.01, monitor="eval_accuracy")
    # 0.5; 0.505 is not above 0.51 (wait 1); 0.52 improves; then three epochs within 0.01
    assert _feed(es, [0.5, 0.505, 0.52, 0.525, 0.529, 0.53, 0.9],
                 monitor="eval_accuracy") == 6
    assert es.best_epoch == 3 and es.best == 0.52
    # min_delta 0: any increase counts, an equal value does not
    es = EarlyStopping(patience=1, monitor="eval_accuracy")
    assert _feed(es, [0.5, 0.50001, 0.50001], monitor="eval_accuracy") == 3


def test_records_get_the_progress_fields():
    es = EarlyStopping(patience=5)
    rec = {"epoch": 1, "eval_loss": 0.4}
    es.update(rec)
    assert (rec["best_so_far"], rec["best_epoch_so_far"], rec["epochs_without_improvement"]) == (
        0.4, 1, 0)
    rec = {"epoch": 2, "eval_loss": 0.5}
    es.update(rec)
    assert (rec["best_so_far"], rec["best_epoch_so_far"], rec["epochs_without_improvement"]) == (
        0.4, 1, 1)


def _scripted_fit(curve, *, patience, restore_best, monitor="eval_loss", epochs=20):
    """fit() on a small problem whose *validation* numbers are replaced by ``curve``;
    returns (history, model, the weights at the end of every epoch)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), rng.integers(0, 2, 64)
    Xv, yv = rng.normal(size=(16, 3)), rng.integers(0, 2, 16)
    model = MLP([3, 6, 2], dtype="float64", seed=2)
    real_evaluate = model.evaluate
    scripted = iter(curve)

    def evaluate(A, b, **kw):
        loss, acc = real_evaluate(A, b, **kw)
        if len(A) == len(Xv):  # the validation pass: its value comes from the script
            value = next(scripted)
            return (value, acc) if monitor == "eval_loss" else (loss, value)
        return loss, acc

    model.evaluate = evaluate
    snapshots = {}

    def on_epoch(record):
        snapshots[record["epoch"]] = {k: v.copy() for k, v in model.params.items()}

    es = EarlyStopping(patience=patience, monitor=monitor, restore_best=restore_best)
    history = fit(model, make_optimizer("sgd", model, 0.1), X, y, epochs=epochs, batch_size=8,
                  rng=1, X_eval=Xv, y_eval=yv, on_epoch=on_epoch, early_stopping=es)
    return history, model, snapshots


def test_fit_stops_at_the_scripted_epoch_and_restores_those_weights_exactly():
    curve = [1.0, 0.7, 0.6, 0.65, 0.62, 0.61, 0.3, 0.2]  # best 0.6 at epoch 3
    history, model, snaps = _scripted_fit(curve, patience=3, restore_best=True)
    assert len(history) == 6 and history.stopped_reason == "early_stopping"
    assert history.restored_epoch == 3
    assert [r["epochs_without_improvement"] for r in history] == [0, 0, 0, 1, 2, 3]
    for k, v in model.params.items():
        assert v.tobytes() == snaps[3][k].tobytes(), k
        assert v.tobytes() != snaps[6][k].tobytes(), k


def test_without_restore_best_the_last_weights_stay():
    # accuracy: higher is better; 0.6 and 0.5 are two epochs without improvement
    history, model, snaps = _scripted_fit([0.7, 0.6, 0.5, 0.9], patience=2, restore_best=False,
                                          monitor="eval_accuracy")
    assert len(history) == 3 and history.stopped_reason == "early_stopping"
    assert history.restored_epoch is None
    for k, v in model.params.items():
        assert v.tobytes() == snaps[3][k].tobytes(), k


def test_restore_best_also_applies_when_all_epochs_ran():
    history, model, snaps = _scripted_fit([0.9, 0.5, 0.8, 0.7], patience=5, restore_best=True,
                                          epochs=4)
    assert history.stopped_reason == "epochs" and history.restored_epoch == 2
    for k, v in model.params.items():
        assert v.tobytes() == snaps[2][k].tobytes(), k


def test_fit_refuses_early_stopping_without_an_evaluation_set():
    model = MLP([2, 3, 2], seed=0)
    with pytest.raises(BackproplabError, match="needs an evaluation set"):
        fit(model, make_optimizer("sgd", model, 0.1), np.zeros((4, 2)), np.array([0, 1, 0, 1]),
            epochs=2, rng=0, early_stopping=EarlyStopping())


# --------------------------------------------------------------------------- run folders

SMALL = {"hidden": (8,), "limit": 600, "batch_size": 32, "threads": 1, "lr": 0.5}


def _weights(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith("param/")}


def test_run_folder_records_stopping_and_model_holds_the_best_epoch(tmp_path):
    cfg = TrainConfig(**SMALL, epochs=40, early_stopping=True, patience=2, min_delta=0.002,
                      monitor="eval_accuracy", restore_best=True)
    summary = run_training(cfg, tmp_path / "es", progress="quiet")
    metrics = read_jsonl(tmp_path / "es" / "metrics.jsonl")
    best = summary["best_epoch"]
    assert summary["stopped_reason"] == "early_stopping"
    assert summary["stopped_epoch"] == len(metrics) == best + 2 < 40
    assert summary["restored_epoch"] == best
    assert metrics[-1]["epochs_without_improvement"] == 2
    assert metrics[best - 1]["best_epoch_so_far"] == best
    # the summary reports the restored epoch's numbers
    assert summary["eval_accuracy"] == metrics[best - 1]["eval_accuracy"]
    # the same run trained for exactly `best` epochs ends with the same weights, bit for bit
    plain = TrainConfig(**SMALL, epochs=best)
    run_training(plain, tmp_path / "plain", progress="quiet")
    ours, ref = _weights(tmp_path / "es" / "model.npz"), _weights(tmp_path / "plain" / "model.npz")
    assert ours.keys() == ref.keys()
    assert all(ours[k].tobytes() == ref[k].tobytes() for k in ours)
    best_file = _weights(tmp_path / "es" / "best.npz")
    assert all(best_file[k].tobytes() == ref[k].tobytes() for k in ours)


def test_an_early_stopping_run_resumes_to_the_same_end(tmp_path):
    base = {**SMALL, "early_stopping": True, "patience": 2, "monitor": "eval_loss",
            "restore_best": True, "min_delta": 0.001}
    full = run_training(TrainConfig(**base, epochs=40), tmp_path / "full", progress="quiet")
    stop = full["stopped_epoch"]
    assert full["stopped_reason"] == "early_stopping"
    # stop partway (one epoch before the end), then resume with the full epoch budget
    run_training(TrainConfig(**base, epochs=stop - 1), tmp_path / "half", progress="quiet")
    half = run_training(TrainConfig(**base, epochs=40), tmp_path / "half", resume=True,
                        progress="quiet")
    keep = ("stopped_reason", "stopped_epoch", "best_epoch", "restored_epoch", "eval_loss")
    assert {k: half[k] for k in keep} == {k: full[k] for k in keep}
    a, b = _weights(tmp_path / "full" / "model.npz"), _weights(tmp_path / "half" / "model.npz")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    # resuming the finished run again trains nothing and keeps the result
    again = run_training(None, tmp_path / "half", resume=True, progress="quiet")
    assert again["stopped_epoch"] == stop and again["restored_epoch"] == full["restored_epoch"]


@pytest.mark.parametrize("options,words", [
    ({"early_stopping": True, "final": True}, "drop final=True or early_stopping=True"),
    ({"early_stopping": True, "patience": 0}, "patience must be an integer >= 1"),
    ({"patience": -3}, "patience must be"),
    ({"early_stopping": True, "min_delta": -0.1}, "min_delta must be a number >= 0"),
    ({"early_stopping": True, "monitor": "train_loss"}, "unknown monitor 'train_loss'"),
    ({"restore_best": True}, "add early_stopping=True"),
])
def test_bad_early_stopping_options_name_the_option(options, words):
    with pytest.raises(BackproplabError) as err:
        TrainConfig(**options).validate()
    assert words in str(err.value)


@pytest.mark.parametrize("args,words", [
    (("--early-stopping", "--final"), "--final"),
    (("--early-stopping", "--patience", "0"), "--patience"),
    (("--early-stopping", "--patience", "two"), "--patience must be an integer"),
    (("--restore-best",), "--early-stopping"),
    (("--early-stopping", "--monitor", "accuracy"), "--monitor"),
    # settings that only early stopping reads, given without it, would be ignored
    (("--patience", "3"), "--patience applies only with --early-stopping"),
    (("--min-delta", "0.01"), "--min-delta applies only with --early-stopping"),
    (("--monitor", "eval_accuracy"), "--monitor applies only with --early-stopping"),
])
def test_bad_early_stopping_flags_exit_2(cli, tmp_path, args, words):
    r = cli("train", *args, "--out", str(tmp_path / "x"))
    assert r.status == 2 and words in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_early_stopping_from_the_command_line(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--hidden", "8", "--limit", "600", "--batch-size", "32", "--lr", "0.5",
            "--epochs", "40", "--early-stopping", "--patience", "2", "--min-delta", "0.002",
            "--monitor", "eval_accuracy", "--restore-best", "--weight-decay", "1e-4",
            "--clip-norm", "10", "--lr-schedule", "step", "--lr-step-size", "5",
            "--out", str(out))
    assert r.status == 0, r.err
    assert "stopped after epoch" in r.out and "restored the weights of epoch" in r.out
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["early_stopping"], cfg["patience"], cfg["monitor"], cfg["restore_best"]) == (
        True, 2, "eval_accuracy", True)
    assert (cfg["weight_decay"], cfg["clip_norm"], cfg["lr_schedule"], cfg["lr_gamma"]) == (
        1e-4, 10.0, "step", 0.1)
    assert (out / "loss.png").stat().st_size > 0


def test_sweep_passes_the_on_off_flags_to_every_trial(cli, tmp_path):
    out = tmp_path / "sweep"
    r = cli("sweep", "--hidden", "8", "--limit", "300", "--batch-size", "32", "--epochs", "6",
            "--early-stopping", "--patience", "1", "--restore-best", "--lr", "0.3,0.6",
            "--workers", "1", "--out", str(out), "--quiet", "--json")
    assert r.status == 0, r.err
    configs = [json.loads(p.read_text()) for p in sorted(out.glob("*/config.json"))]
    assert len(configs) == 2
    assert all(c["early_stopping"] and c["restore_best"] and c["patience"] == 1 for c in configs)
    assert {c["lr"] for c in configs} == {0.3, 0.6}


def test_the_scalar_engine_stops_early_and_resumes_to_the_same_end(tmp_path):
    # the scalar engine runs the same epoch loop: schedules and early stopping included
    base = {"engine": "scalar", "limit": 300, "threads": 1, "lr": 0.5, "early_stopping": True,
            "patience": 2, "min_delta": 0.01, "restore_best": True, "lr_schedule": "step",
            "lr_step_size": 2}
    full = run_training(TrainConfig(**base, epochs=30), tmp_path / "full", progress="quiet")
    stop, best = full["stopped_epoch"], full["best_epoch"]
    assert full["stopped_reason"] == "early_stopping" and stop == best + 2 < 30
    metrics = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    assert [r["lr"] for r in metrics[:4]] == pytest.approx([0.5, 0.5, 0.05, 0.05])
    run_training(TrainConfig(**base, epochs=stop - 1), tmp_path / "half", progress="quiet")
    half = run_training(TrainConfig(**base, epochs=30), tmp_path / "half", resume=True,
                        progress="quiet")
    keep = ("stopped_reason", "stopped_epoch", "best_epoch", "restored_epoch", "eval_loss")
    assert {k: half[k] for k in keep} == {k: full[k] for k in keep}

    def weights(name):
        with np.load(tmp_path / name / "model.npz", allow_pickle=False) as z:
            return {k: z[k].tobytes() for k in z.files if k != "extra"}

    assert weights("full") == weights("half") and len(weights("full")) == 4
    # resuming the finished run trains nothing and puts the best weights back again
    again = run_training(None, tmp_path / "half", resume=True, progress="quiet")
    assert again["stopped_epoch"] == stop and again["restored_epoch"] == best
    assert weights("half") == weights("full")
    # the weights of the best epoch: the same run trained for exactly that many epochs
    plain = {k: v for k, v in base.items() if k not in ("early_stopping", "patience",
                                                         "min_delta", "restore_best")}
    run_training(TrainConfig(**plain, epochs=best), tmp_path / "plain", progress="quiet")
    assert weights("plain") == weights("full")
