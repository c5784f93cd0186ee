"""Learning-rate schedules: rates against hand-computed values, scikit-learn's rules, the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import run_subprocess

from backproplab.errors import BackproplabError
from backproplab.fileio import read_jsonl
from backproplab.tensor import MLP, make_optimizer, train_step
from backproplab.training import TrainConfig, fit, run_training
from backproplab.training.schedules import ReduceOnPlateau, make_schedule


def test_constant_step_and_exponential_rates_by_hand():
    assert make_schedule("constant", 0.3).rates(4) == [0.3, 0.3, 0.3, 0.3]
    # step: 0.1 for epochs 1-2, times 0.5 for 3-4, times 0.25 for 5
    s = make_schedule("step", 0.1, lr_step_size=2, lr_gamma=0.5)
    assert s.rates(5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025], rel=1e-15)
    assert make_schedule("step", 1.0).rates(21)[9:12] == [1.0, 0.1, 0.1]  # defaults: 10, 0.1
    # exponential: 0.2 * 0.5^(epoch - 1)
    s = make_schedule("exponential", 0.2, lr_gamma=0.5)
    assert s.rates(4) == pytest.approx([0.2, 0.1, 0.05, 0.025], rel=1e-15)
    assert make_schedule("exponential", 1.0).rate(3) == pytest.approx(0.81)  # default 0.9


def test_cosine_rates_by_hand():
    # lr_min + (lr0 - lr_min) (1 + cos(pi (e-1) / 4)) / 2 for e = 1..4, lr0 = 0.1, lr_min = 0.02
    s = make_schedule("cosine", 0.1, epochs=4, lr_min=0.02)
    half_root2 = math.sqrt(2) / 2
    expect = [0.1, 0.02 + 0.08 * (1 + half_root2) / 2, 0.06, 0.02 + 0.08 * (1 - half_root2) / 2]
    assert s.rates(4) == pytest.approx(expect, rel=1e-14)
    # e.g. epoch 2 by hand: 0.02 + 0.08 * 0.8535533905932737 = 0.0882842712474619
    assert s.rate(2) == pytest.approx(0.0882842712474619, rel=1e-14)


def test_cosine_matches_torch_cosine_annealing():
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
    ours = make_schedule("cosine", 0.5, epochs=7, lr_min=0.01)
    for epoch in range(1, 8):
        assert ours.rate(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()


def test_invscaling_counts_training_examples_like_scikit_learn():
    # t = examples seen before the epoch: 0, 100, 200 for a 100-example training set
    s = make_schedule("invscaling", 0.1, samples_per_epoch=100, lr_power=0.5)
    assert s.rates(3) == pytest.approx([0.1, 0.1 / math.sqrt(101), 0.1 / math.sqrt(201)],
                                       rel=1e-15)
    sgd_mod = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    ref = sgd_mod.SGDOptimizer([np.zeros(1)], learning_rate_init=0.1, lr_schedule="invscaling",
                               power_t=0.25)
    ours = make_schedule("invscaling", 0.1, samples_per_epoch=37, lr_power=0.25)
    for epoch in range(1, 6):
        assert ours.rate(epoch) == ref.learning_rate  # bit for bit
        ref.iteration_ends(epoch * 37)  # scikit-learn: t_ += n_samples after every epoch


def test_plateau_divides_by_five_after_more_than_patience_stalled_epochs():
    s = make_schedule("plateau", 0.1, lr_patience=2, lr_tol=0.01)
    losses = [1.0, 0.5, 0.499, 0.498, 0.497, 0.3, 0.299, 0.2985, 0.298]
    rates = []
    for epoch, loss in enumerate(losses, start=1):
        rates.append(s.rate(epoch))
        assert s.observe({"epoch": epoch, "train_loss_running": loss}) is False
    # epochs 3, 4, 5 fail to beat 0.5 - 0.01: the third (> patience 2) divides by 5,
    # so epoch 6 trains with 0.02; epochs 7, 8, 9 stall again: epoch 10 gets 0.004
    assert rates == pytest.approx([0.1] * 5 + [0.02] * 4, rel=1e-15)
    assert s.rate(10) == pytest.approx(0.004, rel=1e-15)


def test_plateau_stops_once_the_rate_is_at_scikit_learns_minimum():
    sgd_mod = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    s = ReduceOnPlateau(2e-6, patience=1, tol=0.1)
    ref = sgd_mod.SGDOptimizer([np.zeros(1)], learning_rate_init=2e-6, lr_schedule="adaptive")
    # an unchanged loss is a stalled epoch (it is not below best - tol)
    stops = [s.observe({"epoch": e, "train_loss_running": 1.0}) for e in range(1, 4)]
    # epoch 1 sets the best; epochs 2-3 stall (count 2 > 1): 2e-6 / 5 = 4e-7, as scikit-learn
    assert not ref.trigger_stopping("", False) and s.lr == ref.learning_rate == 2e-6 / 5
    stops += [s.observe({"epoch": e, "train_loss_running": 1.0}) for e in range(4, 6)]
    # epochs 4-5 stall again at a rate <= 1e-6: stop (scikit-learn's trigger_stopping is True)
    assert ref.trigger_stopping("", False)
    assert stops == [False, False, False, False, True] and s.stopped
    # with tol 0 an equal loss counts as no stall (scikit-learn: loss > best - tol)
    t = ReduceOnPlateau(0.1, patience=1, tol=0.0)
    assert not any(t.observe({"epoch": e, "train_loss_running": 1.0}) for e in range(1, 6))
    assert t.lr == 0.1


def test_plateau_on_a_score_and_with_an_infinite_minimum_rate():
    """mode="max": a score below best + tol stalls; min_lr=inf: a plateau stops training
    at once (scikit-learn's tol rule on the validation score, without adaptive)."""
    s = ReduceOnPlateau(0.1, patience=1, tol=0.01, monitor="eval_accuracy", mode="max",
                        min_lr=math.inf)
    scores = [0.5, 0.8, 0.805, 0.9, 0.9, 0.95, 0.951, 0.9]
    stops = [s.observe({"epoch": e, "eval_accuracy": v}) for e, v in enumerate(scores, 1)]
    # epochs 3 (0.805 < 0.81), 5 (0.9 < 0.91) stall once each; 7 and 8 stall twice: stop
    assert stops == [False] * 7 + [True] and s.stopped
    assert (s.best, s.lr, s.bad_epochs) == (0.951, 0.1, 2)
    t = ReduceOnPlateau(0.1, mode="max")
    t.load_state_dict({"lr": 0.1, "best": None, "bad_epochs": 0})
    assert t.best == -math.inf
    with pytest.raises(BackproplabError, match="mode"):
        ReduceOnPlateau(0.1, mode="up")


def test_plateau_state_survives_a_round_trip():
    s = make_schedule("plateau", 0.1, lr_patience=1, lr_tol=0.5)
    for e, loss in enumerate([1.0, 1.0, 1.0], start=1):
        s.observe({"epoch": e, "train_loss_running": loss})
    t = make_schedule("plateau", 0.1, lr_patience=1, lr_tol=0.5)
    t.load_state_dict(s.state_dict())
    assert (t.lr, t.best, t.bad_epochs) == (s.lr, s.best, s.bad_epochs) == (0.02, 1.0, 0)


def test_fit_trains_each_epoch_with_the_scheduled_rate():
    """Full batches (one step per epoch, no shuffling): the weights after three epochs are
    those of three manual steps with the schedule's rates."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    model = MLP([3, 5, 2], dtype="float64", seed=1)
    manual = MLP([3, 5, 2], dtype="float64", seed=1)
    schedule = make_schedule("exponential", 0.8, lr_gamma=0.5)
    history = fit(model, make_optimizer("sgd", model, 0.8), X, y, epochs=3, batch_size="full",
                  rng=0, schedule=schedule)
    assert history.metric("lr") == [0.8, 0.4, 0.2]
    opt = make_optimizer("sgd", manual, 0.8)
    for lr in (0.8, 0.4, 0.2):
        opt.lr = lr
        train_step(manual, opt, X, y)
    for k, v in model.params.items():
        assert v.tobytes() == manual.params[k].tobytes(), k


SMALL = {"hidden": (8,), "limit": 600, "batch_size": 32, "threads": 1}


def test_run_folder_logs_the_rate_of_every_epoch(tmp_path):
    cfg = TrainConfig(**SMALL, epochs=4, lr=0.4, lr_schedule="cosine", lr_min=0.1)
    run_training(cfg, tmp_path / "run", progress="quiet")
    rates = [r["lr"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")]
    assert rates == pytest.approx(make_schedule("cosine", 0.4, epochs=4, lr_min=0.1).rates(4))


def test_plateau_run_resumes_bit_identically(tmp_path):
    # tol 10: no epoch after the first counts as an improvement, so the second stalled
    # epoch in a row divides the rate (after epochs 3 and 5; the cut after epoch 3 lies
    # in the checkpoint the resumed run starts from)
    base = {**SMALL, "lr": 0.5, "lr_schedule": "plateau", "lr_patience": 1, "lr_tol": 10.0}
    run_training(TrainConfig(**base, epochs=6), tmp_path / "full", progress="quiet")
    run_training(TrainConfig(**base, epochs=3), tmp_path / "half", progress="quiet")
    run_training(TrainConfig(**base, epochs=6), tmp_path / "half", resume=True, progress="quiet")
    full = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    half = read_jsonl(tmp_path / "half" / "metrics.jsonl")
    assert [r["lr"] for r in full] == pytest.approx([0.5, 0.5, 0.5, 0.1, 0.1, 0.02])
    assert [r["lr"] for r in half] == [r["lr"] for r in full]
    assert [r["eval_loss"] for r in half] == [r["eval_loss"] for r in full]


@pytest.mark.parametrize("options,words", [
    ({"lr_schedule": "warmup"}, "unknown lr_schedule 'warmup'"),
    ({"lr_schedule": "step", "lr_gamma": -0.5}, "lr_gamma must be a number in (0, 1]"),
    ({"lr_schedule": "exponential", "lr_gamma": 0.0}, "lr_gamma must be"),
    ({"lr_schedule": "cosine", "lr_min": -0.01}, "lr_min must be a number >= 0"),
    ({"lr_schedule": "cosine", "lr": 0.1, "lr_min": 0.2}, "must be below the learning rate"),
    ({"lr_schedule": "step", "lr_step_size": 0}, "lr_step_size must be an integer"),
    ({"lr_schedule": "plateau", "lr_patience": 0}, "lr_patience must be an integer"),
    ({"lr_schedule": "invscaling", "lr_power": -1.0}, "lr_power must be a number"),
    ({"lr": -0.1}, "lr must be a positive number"),
])
def test_bad_schedule_options_name_the_option(options, words):
    with pytest.raises(BackproplabError) as err:
        TrainConfig(**options).validate()
    assert words in str(err.value)


def test_bad_schedule_options_on_the_command_line(cli, tmp_path):
    r = cli("train", "--lr-schedule", "step", "--lr-gamma", "-1", "--out", str(tmp_path / "x"))
    assert r.status == 2 and "--lr-gamma" in r.err and "Traceback" not in r.err
    r = cli("train", "--lr-schedule", "cosine", "--lr-min", "abc", "--out", str(tmp_path / "x"))
    assert r.status == 2 and "--lr-min must be a number" in r.err


@pytest.mark.parametrize("args,words", [
    (("--lr-step-size", "5"), "--lr-step-size applies only to --lr-schedule step, not constant"),
    (("--lr-schedule", "cosine", "--lr-gamma", "0.5"), "--lr-schedule step or exponential"),
    (("--lr-schedule", "step", "--lr-min", "0.01"), "--lr-min applies only to --lr-schedule"),
    (("--lr-power", "0.3"), "--lr-power applies only to --lr-schedule invscaling"),
    (("--lr-schedule", "exponential", "--lr-patience", "3"), "--lr-patience applies only"),
    (("--lr-tol", "0.01"), "--lr-tol applies only to --lr-schedule plateau"),
])
def test_a_schedule_option_the_schedule_would_ignore_is_refused(cli, tmp_path, args, words):
    r = cli("train", "--limit", "100", "--epochs", "1", *args, "--out", str(tmp_path / "x"))
    assert r.status == 2 and words in r.err and "Traceback" not in r.err
    assert not (tmp_path / "x").exists()


def test_loss_figure_draws_the_rate_of_every_epoch(tmp_path):
    from matplotlib.figure import Figure

    from backproplab.plots import plot_run, rate_axis

    fig = Figure()
    ax = fig.subplots()
    rates = make_schedule("exponential", 1.0, lr_gamma=0.1).rates(4)
    line = rate_axis(ax, [1, 2, 3, 4], rates)
    assert list(line.get_ydata()) == pytest.approx(rates)
    assert line.axes.get_yscale() == "log"  # 1 .. 0.001 spans more than a factor of 10
    assert rate_axis(ax, [1, 2], [None, None]) is None
    flat = rate_axis(fig.subplots(), [1, 2], [0.1, 0.1])
    assert flat.axes.get_yscale() == "linear"
    cfg = TrainConfig(**SMALL, epochs=3, lr=0.4, lr_schedule="step", lr_step_size=1)
    run_training(cfg, tmp_path / "run", progress="quiet")
    assert plot_run(tmp_path / "run").stat().st_size > 10_000


@pytest.mark.parametrize("args,words", [
    # (t + 1) ** lr_power beyond a float: was an OverflowError traceback after epoch 1
    (("--lr-schedule", "invscaling", "--lr-power", "200"),
     ("the invscaling schedule's rate falls to 0.0 by epoch 3 (it must stay positive); "
      "choose a smaller --lr-power or fewer epochs")),
    # lr * lr_gamma ** 2 underflows: trained two epochs, then stopped with a folder that
    # could not be resumed
    (("--lr-schedule", "exponential", "--lr-gamma", "1e-200"),
     "the exponential schedule's rate falls to 0.0 by epoch 3"),
    (("--lr-schedule", "step", "--lr-step-size", "1", "--lr-gamma", "1e-200"),
     "choose --lr-gamma closer to 1 or fewer epochs"),
])
def test_a_schedule_whose_rate_falls_to_zero_is_refused_before_training(tmp_path, args, words):
    out = tmp_path / "x"
    r = run_subprocess("train", "--limit", "100", "--hidden", "4", "--epochs", "3", *args,
                       "--out", out, "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("backproplab: error: the ") and words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
