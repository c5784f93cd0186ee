"""fit, the one epoch loop of both engines: history, determinism, guard, callbacks, stops."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from backproplab import scalar
from backproplab.data import load_dataset
from backproplab.errors import BackproplabError, DivergenceError
from backproplab.tensor import MLP, make_optimizer
from backproplab.training import EarlyStopping, History, ScalarSGD, fit, make_schedule

RECORD_KEYS = {"epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy",
               "train_seconds", "eval_seconds", "lr", "train_loss_running", "steps"}


@pytest.fixture(scope="module")
def synth():
    return load_dataset("synth", limit=3000)


def _model(seed=0, **kw):
    kw.setdefault("init_std", 1.0)
    return MLP([2, 16, 2], seed=seed, **kw)


def test_fit_returns_a_history_of_epoch_records(synth):
    model = _model()
    opt = make_optimizer("sgd", model, lr=0.1)
    h = fit(model, opt, synth.X_train, synth.y_train, epochs=3, batch_size=16, rng=0,
            X_eval=synth.X_eval, y_eval=synth.y_eval)
    assert isinstance(h, History) and len(h) == 3
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for r in h:
        assert set(r) == RECORD_KEYS
    n_batches = -(-3000 // 16)
    assert h.metric("steps") == [n_batches, 2 * n_batches, 3 * n_batches]
    assert h.last is h[-1] and h.metric("lr") == [0.1] * 3
    # the reported training numbers are a real pass over the training set
    loss, acc = model.evaluate(synth.X_train, synth.y_train)
    assert h.last["train_loss"] == pytest.approx(loss) and h.last["train_accuracy"] == acc
    assert h.last["eval_accuracy"] > 0.8
    assert h.last["train_loss"] < h[0]["train_loss_running"]


def test_fit_with_running_train_loss_only(synth):
    model = _model()
    h = fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
            epochs=1, batch_size=32, rng=0, eval_train=False)
    assert h[0]["train_accuracy"] is None
    assert h[0]["train_loss"] == h[0]["train_loss_running"]
    assert h[0]["eval_loss"] is None


def test_same_seeds_give_identical_weights_and_other_seeds_do_not(synth):
    def train(init_seed, shuffle_seed):
        model = _model(init_seed)
        fit(model, make_optimizer("momentum", model, lr=0.05), synth.X_train, synth.y_train,
            epochs=2, batch_size=16, rng=np.random.default_rng(shuffle_seed))
        return {k: v.copy() for k, v in model.params.items()}

    a, b = train(0, 1), train(0, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = train(0, 2)  # same start, another batch order
    assert not np.array_equal(a["W1"], c["W1"])


def test_fit_never_modifies_the_data(synth):
    X, y = synth.X_train.copy(), synth.y_train.copy()
    model = _model()
    fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
        epochs=1, batch_size=7, rng=0)
    assert np.array_equal(X, synth.X_train) and np.array_equal(y, synth.y_train)


def test_a_partial_last_batch_and_full_batch(synth):
    model = _model()
    seen = []
    fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train[:10], synth.y_train[:10],
        epochs=1, batch_size=4, rng=0, on_batch=lambda e, b, s, loss: seen.append((e, b, s)))
    assert seen == [(1, 1, 1), (1, 2, 2), (1, 3, 3)]

    model = _model()
    h = fit(model, make_optimizer("sgd", model, lr=0.5), synth.X_train, synth.y_train,
            epochs=4, batch_size="full", rng=0)
    assert h.metric("steps") == [1, 2, 3, 4]
    # full batch gradient descent with a fixed lr lowers the loss
    assert h.last["train_loss"] < h[0]["train_loss_running"]


def test_start_epoch_continues_numbering(synth):
    model = _model()
    h = fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
            epochs=5, start_epoch=3, batch_size=100, rng=0)
    assert h.metric("epoch") == [4, 5]
    assert h.metric("steps") == [4 * 30, 5 * 30]


def test_on_epoch_returning_true_stops_training(synth):
    model = _model()
    h = fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
            epochs=10, batch_size=100, rng=0, on_epoch=lambda r: r["epoch"] == 2)
    assert len(h) == 2


def test_divergence_guard_names_epoch_and_batch(synth):
    model = MLP([2, 16, 2], activation="relu", init="he-normal", seed=0)
    with pytest.raises(DivergenceError) as info:
        fit(model, make_optimizer("sgd", model, lr=1e6), synth.X_train, synth.y_train,
            epochs=3, batch_size=16, rng=0)
    msg = str(info.value)
    assert "epoch 1" in msg and "batch" in msg and "learning rate" in msg
    assert info.value.epoch == 1 and info.value.batch >= 1


def _weights(model):
    return [v.copy() for v in model.params.values()]


def test_shuffle_false_trains_on_consecutive_slices(synth):
    """shuffle=False: the batches are X[0:4], X[4:8], X[8:10] every epoch, so the weights
    are those of manual steps on those slices, bit for bit, and the generator is untouched."""
    from backproplab.tensor import train_step

    X, y = synth.X_train[:10], synth.y_train[:10]
    model, manual = _model(), _model()
    rng = np.random.default_rng(5)
    fit(model, make_optimizer("sgd", model, lr=0.1), X, y, epochs=2, batch_size=4, rng=rng,
        shuffle=False)
    opt = make_optimizer("sgd", manual, lr=0.1)
    for _ in range(2):
        for s in (slice(0, 4), slice(4, 8), slice(8, 10)):
            train_step(manual, opt, X[s], y[s])
    assert all(a.tobytes() == b.tobytes() for a, b in zip(_weights(model), _weights(manual)))
    assert rng.bit_generator.state == np.random.default_rng(5).bit_generator.state


def test_shuffle_true_permutes_a_single_full_batch_every_epoch(synth):
    """scikit-learn's rule: one batch holding the whole set is still drawn in a fresh
    order each epoch (the default trains it in the data's order and draws nothing)."""
    from backproplab.tensor import train_step

    X, y = synth.X_train[:50], synth.y_train[:50]
    model, manual = _model(dtype="float64"), _model(dtype="float64")
    rng = np.random.default_rng(3)
    fit(model, make_optimizer("sgd", model, lr=0.1), X, y, epochs=2, batch_size=64, rng=rng,
        shuffle=True)
    ref_rng, opt = np.random.default_rng(3), make_optimizer("sgd", manual, lr=0.1)
    for _ in range(2):
        order = ref_rng.permutation(50)
        train_step(manual, opt, X[order].astype("float64"), y[order])
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    assert all(a.tobytes() == b.tobytes() for a, b in zip(_weights(model), _weights(manual)))
    untouched, other = np.random.default_rng(3), _model()
    fit(other, make_optimizer("sgd", other, lr=0.1), X, y, epochs=2, batch_size=64,
        rng=untouched)
    assert untouched.bit_generator.state == np.random.default_rng(3).bit_generator.state


def test_loss_term_is_added_to_every_batch_loss_before_its_step(synth):
    X, y = synth.X_train[:10], synth.y_train[:10]
    plain, model = _model(), _model()
    base, seen, lens = [], [], []
    fit(plain, make_optimizer("sgd", plain, lr=0.1), X, y, epochs=2, batch_size=4, rng=0,
        on_batch=lambda e, b, s, loss: base.append(loss), eval_train=False)

    def term(batch_len):
        lens.append(batch_len)
        return 0.25 * batch_len

    h = fit(model, make_optimizer("sgd", model, lr=0.1), X, y, epochs=2, batch_size=4, rng=0,
            on_batch=lambda e, b, s, loss: seen.append(loss), eval_train=False,
            loss_term=term)
    assert lens == [4, 4, 2, 4, 4, 2]
    assert seen == [b + 0.25 * k for b, k in zip(base, lens)]
    # the running mean is the mean of those losses, weighted by batch length
    first = sum(loss * k for loss, k in zip(seen[:3], lens[:3])) / 10
    assert h[0]["train_loss_running"] == pytest.approx(first, rel=1e-15)
    # a term without a gradient leaves the training itself alone
    assert all(a.tobytes() == b.tobytes() for a, b in zip(_weights(model), _weights(plain)))


def test_a_non_finite_loss_term_trips_the_divergence_guard(synth):
    model = _model()
    with pytest.raises(DivergenceError) as info:
        fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train[:10],
            synth.y_train[:10], epochs=1, batch_size=4, rng=0,
            loss_term=lambda k: float("inf") if k == 2 else 0.0)
    assert (info.value.epoch, info.value.batch, info.value.what) == (1, 3, "the loss is inf")


@pytest.mark.parametrize("kwargs, word", [
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch size"),
    ({"batch_size": "half"}, "batch size"),
    ({"epochs": 2, "start_epoch": 3}, "start_epoch"),
])
def test_fit_rejects_bad_arguments(synth, kwargs, word):
    model = _model()
    kwargs = {"epochs": 1, "batch_size": 16, **kwargs}
    with pytest.raises(BackproplabError, match=word):
        fit(model, make_optimizer("sgd", model, lr=0.1), synth.X_train, synth.y_train,
            rng=0, **kwargs)


def test_fit_rejects_bad_data(synth):
    model = _model()
    opt = make_optimizer("sgd", model, lr=0.1)
    with pytest.raises(BackproplabError, match="features"):
        fit(model, opt, np.zeros((4, 3), np.float32), np.zeros(4, np.int64), epochs=1, rng=0)
    with pytest.raises(BackproplabError, match="labels"):
        fit(model, opt, np.zeros((4, 2), np.float32), np.array([0, 1, 2, 0]), epochs=1, rng=0)
    bad = synth.X_eval[:4].copy()
    bad[0, 0] = np.nan
    with pytest.raises(BackproplabError, match="NaN"):
        fit(model, opt, synth.X_train, synth.y_train, epochs=1, rng=0,
            X_eval=bad, y_eval=synth.y_eval[:4])



@pytest.mark.parametrize("engine", ["tensor", "scalar"])
@pytest.mark.parametrize("given", ["X_eval", "y_eval"])
def test_half_an_evaluation_set_is_refused_by_both_engines(synth, engine, given):
    # X_eval alone crashed with a TypeError after the first epoch's training (tensor
    # engine); y_eval alone was silently ignored: the run had no evaluation at all
    if engine == "tensor":
        model = _model()
        opt = make_optimizer("sgd", model, lr=0.1)
    else:
        model, opt = _scalar_model(), ScalarSGD(0.1)
    half = {given: getattr(synth, given)[:50]}
    with pytest.raises(BackproplabError, match="pass both X_eval and y_eval, or neither"):
        fit(model, opt, synth.X_train[:50], synth.y_train[:50], epochs=1, rng=0, **half)

def _scalar_model():
    return scalar.MLP([2, 8, 2], seed=0, init_std=1.0)


def test_fit_trains_a_scalar_model_one_example_at_a_time(synth):
    n = 500
    model = _scalar_model()
    h = fit(model, ScalarSGD(0.1), synth.X_train[:n], synth.y_train[:n], epochs=2, rng=0,
            X_eval=synth.X_eval[:1000], y_eval=synth.y_eval[:1000])
    assert len(h) == 2 and set(h[0]) == RECORD_KEYS and h.stopped_reason == "epochs"
    assert h.metric("steps") == [n, 2 * n] and h.metric("lr") == [0.1, 0.1]
    Xl = synth.X_train[:n].astype(np.float64).tolist()
    loss, acc = scalar.evaluate(model, Xl, synth.y_train[:n].tolist())
    assert h.last["train_loss"] == loss and h.last["train_accuracy"] == acc

    # the same order of examples by hand: the model's own step, at the same rate
    by_hand = _scalar_model()
    rng = np.random.default_rng(0)
    yl = synth.y_train[:n].tolist()
    for _ in range(2):
        for i in rng.permutation(n).tolist():
            by_hand.train_step(Xl[i], yl[i], 0.1)
    assert by_hand.to_dict() == model.to_dict()


def _stop_after_first(record):
    return True


@pytest.mark.parametrize("engine", ["tensor", "scalar"])
def test_a_callback_stop_is_reported_as_callback_by_both_engines(synth, engine):
    # regression: the scalar engine's own loop (fit_scalar) stopped on a callback
    # without saying so (stopped_reason stayed "epochs")
    if engine == "scalar":
        model, opt = _scalar_model(), ScalarSGD(0.1)
    else:
        model = _model()
        opt = make_optimizer("sgd", model, lr=0.1)
    h = fit(model, opt, synth.X_train[:300], synth.y_train[:300], epochs=3, rng=0,
            on_epoch=_stop_after_first)
    assert [r["epoch"] for r in h] == [1] and h.stopped_reason == "callback"


def test_the_scalar_engine_follows_a_schedule_and_early_stopping(synth):
    n = 300
    X, y, Xv, yv = synth.X_train[:n], synth.y_train[:n], synth.X_eval[:300], synth.y_eval[:300]
    step = make_schedule("step", 0.5, epochs=6, samples_per_epoch=n, lr_step_size=2,
                         lr_gamma=0.1)
    h = fit(_scalar_model(), ScalarSGD(0.5), X, y, epochs=6, rng=0, schedule=step)
    assert h.metric("lr") == pytest.approx([0.5, 0.5, 0.05, 0.05, 0.005, 0.005])

    # a huge min_delta: no epoch after the first improves, so epoch 3 stops and the
    # first epoch's weights come back
    model = _scalar_model()
    seen = []
    es = EarlyStopping(patience=2, min_delta=10.0, restore_best=True)
    h = fit(model, ScalarSGD(0.1), X, y, epochs=6, rng=0, X_eval=Xv, y_eval=yv,
            early_stopping=es, on_epoch=lambda r: seen.append(copy.deepcopy(model.to_dict())))
    assert h.stopped_reason == "early_stopping" and len(h) == 3 and h.restored_epoch == 1
    assert model.to_dict() == seen[0] != seen[-1]


def test_fit_refuses_what_the_scalar_engine_cannot_do(synth):
    with pytest.raises(BackproplabError, match="one example at a time"):
        fit(_scalar_model(), ScalarSGD(0.1), synth.X_train, synth.y_train, epochs=1, rng=0,
            batch_size=16)
    with pytest.raises(BackproplabError, match="ScalarSGD"):
        fit(_scalar_model(), None, synth.X_train, synth.y_train, epochs=1, rng=0)
    with pytest.raises(BackproplabError, match="lr must be a positive number"):
        ScalarSGD(0.0)


def test_the_guard_catches_a_scalar_model_s_runaway_weights():
    # a learning rate near the largest float makes the weights overflow within 2 epochs
    model = scalar.MLP([2, 3, 2], seed=0, init_std=1.0)
    X = np.array([[1.0, -1.0], [0.5, 1.0]])
    y = np.array([0, 1])
    with pytest.raises(DivergenceError, match=r"epoch \d+ at example \d+ of 2.*learning rate"):
        fit(model, ScalarSGD(1e308), X, y, epochs=20, rng=0)
