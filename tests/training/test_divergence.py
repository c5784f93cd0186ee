"""The divergence guard: finite blow-ups stop a run (both engines), healthy runs do not."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR

from backproplab import scalar, tensor
from backproplab.data import load_dataset
from backproplab.errors import BackproplabError, DivergenceError
from backproplab.fileio import read_jsonl
from backproplab.runs import RunFolder
from backproplab.training import ScalarSGD, TrainConfig, fit, run_training
from backproplab.training.divergence import CHECK_EXAMPLES, DivergenceGuard
from backproplab.training.run import load_run_dataset

needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                   reason="needs Debian's dataset-fashion-mnist")


@pytest.fixture(scope="module")
def synth():
    return load_dataset("synth", limit=6000)


# ---------------------------------------------------------------------------
# the rule, with exact numbers


def test_the_first_batch_gives_the_reference_and_chance_is_its_floor():
    guard = DivergenceGuard(10.0, 3, n_classes=2)
    assert guard.next_check(0, 100, 16) == 1  # the first batch alone
    guard.check(1, 1, 100, total=0.25 * 16, seen=16, lr=0.1)
    assert guard.initial == 0.25
    assert guard.limit == pytest.approx(10 * math.log(2))  # chance beats 0.25
    assert guard.next_check(1, 100, 16) == 1 + math.ceil(CHECK_EXAMPLES / 16)
    assert guard.next_check(90, 100, 16) == 100  # the epoch's end is always a check
    assert guard.next_check(0, 5000, 1) == CHECK_EXAMPLES  # the scalar engine: examples

    above = DivergenceGuard(10.0, 3, n_classes=10)
    above.check(1, 1, 1, total=3.0 * 8, seen=8, lr=0.1)
    assert above.limit == 30.0  # the initial loss beats ln 10


def test_each_check_sees_only_the_loss_since_the_previous_one():
    guard = DivergenceGuard(10.0, 2, n_classes=2)
    guard.check(1, 1, 10, total=1.0, seen=1, lr=0.1)  # initial 1.0, limit 10
    guard.check(1, 5, 10, total=1.0 + 4 * 11.0, seen=5, lr=0.1)  # mean 11 > 10
    assert guard.strikes == 1
    guard.check(1, 10, 10, total=45.0 + 5 * 2.0, seen=10, lr=0.1)  # mean 2: not above
    assert guard.strikes == 0
    # a new epoch's sums start from zero again
    guard.check(2, 5, 10, total=5 * 20.0, seen=5, lr=0.1)
    assert guard.strikes == 1
    with pytest.raises(DivergenceError) as info:
        guard.check(2, 10, 10, total=100.0 + 5 * 30.0, seen=10, lr=0.5)
    msg = str(info.value)
    assert msg == (
        "training diverged in epoch 2 at batch 10 of 10: the mean training loss of the last "
        "5 examples is 30, above the limit 10 (divergence_factor 10 x max(initial loss 1, "
        "chance ln 2 = 0.6931)) at 2 checks in a row; lower the learning rate lr "
        "(now 0.5; try 0.05)")
    assert (info.value.epoch, info.value.batch) == (2, 10)


def test_a_guard_that_is_off_never_checks():
    for factor in (None, 0, 0.0):
        guard = DivergenceGuard(factor, 1, n_classes=2)
        assert guard.next_check(0, 100, 16) == 100
        guard.check(1, 100, 100, total=1e30, seen=1600, lr=1.0)
        assert guard.initial is None and guard.limit is None


def test_the_state_a_checkpoint_keeps():
    guard = DivergenceGuard(10.0, 3, n_classes=2)
    guard.check(1, 1, 2, total=2.0, seen=1, lr=0.1)
    guard.check(1, 2, 2, total=2.0 + 50.0, seen=2, lr=0.1)
    assert guard.state_dict() == {"initial": 2.0, "strikes": 1}
    again = DivergenceGuard(10.0, 3, n_classes=2)
    again.load_state_dict(guard.state_dict())
    assert again.state_dict() == guard.state_dict() and again.limit == 20.0
    again.load_state_dict({})  # a checkpoint written before the guard existed
    assert again.state_dict() == guard.state_dict()


@pytest.mark.parametrize("factor", [1, 0.5, -1, math.inf, math.nan, "10", True])
def test_config_refuses_a_meaningless_factor(factor):
    with pytest.raises(BackproplabError, match="divergence_factor .* above 1, or 0"):
        TrainConfig(divergence_factor=factor).validate()


@pytest.mark.parametrize("patience", [0, -2, 1.5, None, True])
def test_config_refuses_a_bad_patience(patience):
    with pytest.raises(BackproplabError, match="divergence_patience .* integer >= 1"):
        TrainConfig(divergence_patience=patience).validate()


def test_config_defaults_and_off_values():
    cfg = TrainConfig()
    assert (cfg.divergence_factor, cfg.divergence_patience) == (10.0, 3)
    for factor in (None, 0, 0.0, 1.5, 100):
        TrainConfig(divergence_factor=factor).validate()


# ---------------------------------------------------------------------------
# both loops


def test_fit_stops_a_finite_blow_up(synth):
    # lr 100: the mean loss stays between the limit and ten times it (lr 1000 goes past
    # ten times at the first check, and stops there without patience)
    model = tensor.MLP([2, 8, 2], seed=0, init_std=1.0)
    guard = DivergenceGuard(10.0, 3, n_classes=2)
    with pytest.raises(DivergenceError, match=r"epoch 1 at batch \d+ of 375: .*above the "
                                              r"limit .*lower the learning rate lr \(now 100;"):
        fit(model, tensor.make_optimizer("sgd", model, lr=100), synth.X_train, synth.y_train,
            epochs=3, batch_size=16, rng=0, divergence=guard)
    assert guard.strikes == 3
    # the losses stay finite: without the guard only non-finite values would stop it
    model = tensor.MLP([2, 8, 2], seed=0, init_std=1.0)
    h = fit(model, tensor.make_optimizer("sgd", model, lr=1e3), synth.X_train, synth.y_train,
            epochs=1, batch_size=16, rng=0)
    assert math.isfinite(h.last["train_loss"]) and h.last["train_loss"] > 100


def test_under_a_schedule_the_hint_names_the_configured_lr_and_the_rate_in_use(synth):
    # regression: with lr 0.1 halved every epoch, a run that diverged in epoch 3 was told
    # "lower the learning rate lr (now 0.025; try 0.0025)", a rate 40 times below lr
    from backproplab.training.schedules import make_schedule

    model = tensor.MLP([2, 8, 2], seed=0)

    def poison(record):  # the weights turn non-finite after epoch 2
        if record["epoch"] == 2:
            model.layers[0].W[0, 0] = np.nan

    with pytest.raises(DivergenceError, match=r"epoch 3 at batch 1 of 375: the loss is nan; "
                                              r"lower the learning rate lr \(now 0\.1, and "
                                              r"0\.025 in this epoch by its schedule; try "
                                              r"0\.01\)$"):
        fit(model, tensor.make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
            epochs=4, batch_size=16, rng=0, on_epoch=poison,
            schedule=make_schedule("step", 0.1, lr_step_size=1, lr_gamma=0.5))

def test_fit_full_batch_checks_once_per_epoch(synth):
    model = tensor.MLP([2, 8, 2], seed=0, init_std=1.0)
    guard = DivergenceGuard(10.0, 2, n_classes=2)
    with pytest.raises(DivergenceError, match=r"at batch 1 of 1: .*at 2 checks in a row"):
        fit(model, tensor.make_optimizer("sgd", model, lr=100), synth.X_train, synth.y_train,
            epochs=10, batch_size="full", rng=0, divergence=guard)


def test_fit_stops_a_scalar_model_s_finite_blow_up(synth):
    model = scalar.MLP([2, 8, 2], seed=0, init_std=1.0)
    guard = DivergenceGuard(10.0, 3, n_classes=2)
    with pytest.raises(DivergenceError, match=r"epoch 1 at example \d+ of 3000: .*above the "
                                              r"limit .*lr \(now 50;"):
        fit(model, ScalarSGD(50.0), synth.X_train[:3000], synth.y_train[:3000], epochs=2,
            rng=0, divergence=guard)


def test_the_guard_changes_no_result_of_a_healthy_run(synth):
    def train(guard):
        model = tensor.MLP([2, 8, 2], seed=0, init_std=1.0)
        h = fit(model, tensor.make_optimizer("sgd", model, lr=0.1), synth.X_train,
                synth.y_train, epochs=2, batch_size=16, rng=0, divergence=guard)
        return model, h

    guarded, h1 = train(DivergenceGuard(10.0, 3, n_classes=2))
    plain, h2 = train(None)
    assert all(np.array_equal(guarded.params[k], plain.params[k]) for k in plain.params)
    assert h1.metric("train_loss_running") == h2.metric("train_loss_running")


# ---------------------------------------------------------------------------
# runs and the command line

# lr=100 is chaotic: float rounding decides the later epochs, so the kernels are pinned
SYNTH_BLOW_UP = {"dataset": "synth", "hidden": (8,), "lr": 100, "limit": 600, "epochs": 5,
                 "threads": 1, "kernels": "numpy"}


def test_a_run_that_blows_up_keeps_a_valid_folder(tmp_path):
    # 38 batches per epoch, one check at each epoch's end: the third strike is in epoch 3
    out = tmp_path / "run"
    with pytest.raises(DivergenceError) as info:
        run_training(TrainConfig(**SYNTH_BLOW_UP), out, progress="quiet")
    msg = str(info.value)
    assert "epoch 3 at batch 38 of 38" in msg and "checkpoint of epoch 2" in msg
    assert RunFolder(out).train_config(TrainConfig).lr == 100
    assert [m["epoch"] for m in read_jsonl(out / "metrics.jsonl")] == [1, 2]
    assert {b["epoch"] for b in read_jsonl(out / "batches.jsonl")} == {1, 2}
    _, _, extra = tensor.load_checkpoint(out / "checkpoint.npz")
    assert extra["epoch"] == 2 and extra["divergence"]["strikes"] == 2
    assert not (out / "summary.json").exists()

    # resuming restores the strikes: the next check (end of epoch 3) trips
    with pytest.raises(DivergenceError, match="epoch 3 at batch 38 of 38"):
        run_training(None, out, resume=True, progress="quiet")
    # the guard's settings may change on resume: turned off, the run finishes
    summary = run_training(TrainConfig(**SYNTH_BLOW_UP, divergence_factor=0), out,
                           resume=True, progress="quiet")
    assert summary["epochs"] == 5 and summary["train_loss"] > 10 * math.log(2)


def test_the_issues_synth_run_exits_2_from_the_command_line(cli, tmp_path):
    r = cli("train", "--dataset", "synth", "--hidden", "8", "--lr", "1e3", "--threads", "1",
            "--out", tmp_path / "d")
    assert r.status == 2 and "Traceback" not in r.err
    errors = [line for line in r.err.splitlines() if line.startswith("backproplab: error:")]
    assert len(errors) == 1 and errors[0] == r.err.strip().splitlines()[-1]  # progress above
    assert errors[0].startswith("backproplab: error: training diverged in epoch 1 at batch")
    assert "lower the learning rate --lr (now 1000; try 100)" in errors[0]
    assert (tmp_path / "d" / "config.json").exists()
    off = cli("train", "--dataset", "synth", "--hidden", "8", "--lr", "1e3", "--threads", "1",
              "--epochs", "1", "--divergence-factor", "0", "--quiet", "--out", tmp_path / "off")
    assert off.status == 0, off.err


def test_the_scalar_engine_exits_2_from_the_command_line(cli, tmp_path):
    r = cli("train", "--engine", "scalar", "--limit", "3000", "--lr", "100", "--quiet",
            "--out", tmp_path / "s")
    assert r.status == 2 and "Traceback" not in r.err
    assert "diverged in epoch 1 at example" in r.err and "times the limit" in r.err


def test_bad_guard_flags_are_one_sentence(cli, tmp_path):
    r = cli("train", "--divergence-factor", "1", "--out", tmp_path / "x")
    assert r.status == 2 and "--divergence-factor must be" in r.err
    r = cli("train", "--divergence-patience", "two", "--out", tmp_path / "y")
    assert r.status == 2 and "--divergence-patience must be an integer" in r.err


@needs_fashion
def test_the_issues_fashion_mnist_run_exits_2(cli, tmp_path):
    r = cli("train", "--dataset", "fashion-mnist", "--limit", "2000", "--lr", "1e5",
            "--threads", "1", "--quiet", "--out", tmp_path / "f")
    assert r.status == 2 and "Traceback" not in r.err
    assert "diverged in epoch" in r.err and "lr (now 100000; try 10000)" in r.err
    assert (tmp_path / "f" / "config.json").exists()


# the study's settings (experiments/presets.py) on a slice of Fashion-MNIST must not trip it
HEALTHY = [
    *({"lr": lr, "batch_size": 16} for lr in (0.001, 0.003, 0.01, 0.03)),
    *({"lr": 0.01, "batch_size": bs} for bs in (8, 32, 64)),
    {"lr": 0.1, "batch_size": "full", "epochs": 10},
    {"lr": 0.01, "batch_size": 16, "normalize": "none"},
]


@needs_fashion
@pytest.mark.parametrize("options", HEALTHY, ids=lambda o: "-".join(map(str, o.values())))
def test_the_studys_settings_do_not_trip_it(tmp_path, options):
    cfg = TrainConfig(**{"dataset": "fashion-mnist", "limit": 2000, "epochs": 2,
                         "threads": 1, **options})
    out = tmp_path / "run"
    summary = run_training(cfg, out, progress="quiet", dataset=load_run_dataset(cfg))
    assert summary["stopped_reason"] == "epochs"
    _, _, extra = tensor.load_checkpoint(out / "checkpoint.npz")
    state = extra["divergence"]
    assert state["strikes"] == 0 and state["initial"] > 0  # it did check
    # and with room to spare: no window of batches came near the limit
    limit = 10 * max(state["initial"], math.log(10))
    losses = [b["loss"] for b in read_jsonl(out / "batches.jsonl")]
    assert max(losses) < limit / 2
