"""Optimizers and train_step: a hand-worked step, the fused path, state and resume."""

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import (
    MLP,
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    load_checkpoint,
    make_optimizer,
    optimizer_from_state,
    train_step,
)


def _tiny():
    """A 2-1-2 sigmoid network with round weights (worked by hand below)."""
    model = MLP([2, 1, 2], dtype="float64", seed=0)
    model.set_params({"W1": [[0.5], [0.25]], "b1": [0.0],
                      "W2": [[1.0, -1.0]], "b2": [0.0, 0.0]})
    return model


@pytest.mark.parametrize("fused", [False, True])
def test_one_sgd_step_worked_by_hand(fused):
    model = _tiny()
    opt = make_optimizer("sgd", model, lr=0.5)
    X, y = np.array([[1.0, -1.0]]), np.array([0])
    loss = train_step(model, opt, X, y, fused=fused)
    # forward:
    #   k  = 0.5 * 1 + 0.25 * (-1)                       = 0.25
    #   h  = sigmoid(0.25)                                = 0.5621765008857981
    #   o  = [h * 1, h * -1]                              = [0.56218, -0.56218]
    #   y0 = e^h / (e^h + e^-h) = sigmoid(2h)             = 0.7547952605810734
    #   loss = -ln(y0)                                    = 0.2813087445468386
    assert loss == pytest.approx(0.2813087445468386, abs=1e-15)
    # backward:
    #   do  = y - onehot(0) = [y0 - 1, 1 - y0]            = [-0.245205, 0.245205]
    #   dW2 = h * do                                      = [-0.137848, 0.137848]
    #   dh  = W2 . do = 1 * (y0 - 1) + (-1) * (1 - y0)   = -0.4904094788378532
    #   dk  = dh * h * (1 - h) = -0.490409 * 0.246134     = -0.12070648723957865
    #   dW1 = x^T dk = [dk, -dk];  db1 = dk
    # update with lr = 0.5:
    #   W1 = [0.5 - 0.5 * dk, 0.25 - 0.5 * (-dk)]         = [0.5603532436, 0.1896467564]
    #   b1 = -0.5 * dk                                    = 0.0603532436
    #   W2 = [1 - 0.5 * (-0.137848), -1 - 0.5 * 0.137848] = [1.0689241712, -1.0689241712]
    #   b2 = -0.5 * do                                    = [0.1226023697, -0.1226023697]
    p = model.params
    np.testing.assert_allclose(p["W1"], [[0.5603532436197893], [0.18964675638021067]], rtol=1e-14)
    np.testing.assert_allclose(p["b1"], [0.060353243619789325], rtol=1e-14)
    np.testing.assert_allclose(p["W2"], [[1.068924171203573, -1.068924171203573]], rtol=1e-14)
    np.testing.assert_allclose(p["b2"], [0.12260236970946331, -0.12260236970946331], rtol=1e-14)
    assert opt.steps == 1


def test_momentum_and_adam_first_steps_by_hand():
    X, y = np.array([[1.0, -1.0]]), np.array([0])
    model = _tiny()
    model.loss_and_grads(X, y)
    g = {k: v.copy() for k, v in model.grads.items()}
    w0 = model.params["W2"].copy()
    # momentum (PyTorch): buf_1 = g; p_1 = p_0 - lr g; buf_2 = 0.9 g + g; p_2 = p_1 - lr buf_2
    opt = make_optimizer("momentum", model, lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_allclose(model.params["W2"], w0 - 0.1 * g["W2"], rtol=1e-15)
    opt.step()  # same gradients (grads were not recomputed)
    np.testing.assert_allclose(model.params["W2"], w0 - 0.1 * g["W2"] - 0.1 * 1.9 * g["W2"],
                               rtol=1e-14)
    # nesterov: p_1 = p_0 - lr (g + 0.9 g)
    model = _tiny()
    model.loss_and_grads(X, y)
    make_optimizer("nesterov", model, lr=0.1).step()
    np.testing.assert_allclose(model.params["W2"], w0 - 0.1 * 1.9 * g["W2"], rtol=1e-14)
    # adam: m_hat = g, v_hat = g^2 after one step, so p_1 = p_0 - lr g / (|g| + eps)
    model = _tiny()
    model.loss_and_grads(X, y)
    make_optimizer("adam", model, lr=0.01).step()
    np.testing.assert_allclose(model.params["W2"],
                               w0 - 0.01 * g["W2"] / (np.abs(g["W2"]) + 1e-8), rtol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_fused_sgd_path_equals_the_plain_path(activation, dtype, tol):
    rng = np.random.default_rng(11)
    a = MLP([20, 16, 12, 5], activation=activation, dtype=dtype, seed=3, init="glorot-uniform")
    b = MLP([20, 16, 12, 5], activation=activation, dtype=dtype, seed=3, init="glorot-uniform")
    oa, ob = make_optimizer("sgd", a, 0.2), make_optimizer("sgd", b, 0.2)
    X = rng.normal(size=(64, 20)).astype(dtype)
    y = rng.integers(0, 5, 64)
    for s in range(40):
        batch = slice((s % 4) * 16, (s % 4) * 16 + 16 - (s % 3))  # sizes 16, 15, 14
        la = train_step(a, oa, X[batch], y[batch], fused=False)
        lb = train_step(b, ob, X[batch], y[batch], fused=True)
        assert la == pytest.approx(lb, rel=tol, abs=tol)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=tol, atol=tol)
    assert a.params["W1"].dtype == np.dtype(dtype)


def test_fused_path_only_for_plain_sgd():
    model = MLP([2, 3, 2], seed=0)
    X, y = np.zeros((2, 2)), np.array([0, 1])
    with pytest.raises(BackproplabError, match="fused path needs plain SGD"):
        train_step(model, make_optimizer("adam", model, 0.1), X, y, fused=True)
    with pytest.raises(BackproplabError, match="another model"):
        train_step(MLP([2, 3, 2], seed=0), make_optimizer("sgd", model, 0.1), X, y)


def test_registry_and_classes():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adam"]
    model = MLP([2, 3, 2], seed=0)
    assert isinstance(make_optimizer("sgd", model, 0.1), SGD)
    assert isinstance(make_optimizer("adam", model, 0.1), Adam)
    nest = make_optimizer("nesterov", model, 0.1, momentum=0.8)
    assert isinstance(nest, Momentum) and nest.nesterov and nest.momentum == 0.8
    assert nest.state_dict()["name"] == "nesterov"


@pytest.mark.parametrize("setting,bad,words", [
    ("momentum", 1.5, "momentum must be a finite number > 0 and <= 1, got 1.5"),
    ("momentum", 0.0, "momentum must be a finite number > 0 and <= 1, got 0.0"),
    ("dampening", 1.5, "dampening must be a finite number >= 0 and <= 1, got 1.5"),
])
def test_a_range_message_says_what_the_check_accepts(setting, bad, words):
    # momentum and dampening 1 are accepted (as torch does): the message said "< 1"
    model = MLP([2, 3, 2], seed=0)
    assert getattr(make_optimizer("momentum", model, 0.1, **{setting: 1.0}), setting) == 1.0
    with pytest.raises(BackproplabError) as err:
        make_optimizer("momentum", model, 0.1, **{setting: bad})
    assert str(err.value) == words
    with pytest.raises(BackproplabError, match="< 1, got 1.0"):
        make_optimizer("adam", model, 0.1, beta1=1.0)


def _run(name, steps, model=None, opt=None, start=0, **options):
    rng = np.random.default_rng(21)
    X, y = rng.normal(size=(96, 6)).astype(np.float32), rng.integers(0, 3, 96)
    if model is None:
        model = MLP([6, 8, 3], activation="tanh", seed=5)
        opt = make_optimizer(name, model, 0.05, **options)
    order = np.random.default_rng(99).permutation(96 * 4).reshape(-1, 16) % 96
    for s in range(start, steps):
        train_step(model, opt, X[order[s]], y[order[s]])
    return model, opt


@pytest.mark.parametrize("name,options", [
    ("sgd", {}), ("sgd", {"weight_decay": 0.01}), ("momentum", {"momentum": 0.9}),
    ("nesterov", {}), ("momentum", {"dampening": 0.1}), ("adam", {"weight_decay": 0.001}),
])
def test_resume_after_save_is_bit_identical(tmp_path, name, options):
    full, _ = _run(name, 20, **options)
    half, opt = _run(name, 8, **options)
    half.save(tmp_path / "ck.npz", optimizer=opt, extra={"step": 8})
    model, state, extra = load_checkpoint(tmp_path / "ck.npz")
    opt2 = optimizer_from_state(model, state)
    assert repr(opt2) == repr(opt) and opt2.steps == 8
    resumed, _ = _run(name, 20, model=model, opt=opt2, start=extra["step"])
    for k in full.params:
        assert resumed.params[k].tobytes() == full.params[k].tobytes(), k


def test_state_dict_is_a_copy_and_checks_its_model():
    model, opt = _run("adam", 3)
    state = opt.state_dict()
    state["buffers"]["exp_avg"]["W1"][...] = 123.0
    assert not (opt.buffers["exp_avg"]["W1"] == 123.0).any()
    other = MLP([6, 9, 3], seed=0)
    with pytest.raises(BackproplabError, match="does not fit the model"):
        make_optimizer("adam", other, 0.1).load_state_dict(state)
    with pytest.raises(BackproplabError, match="is for 'adam', not 'sgd'"):
        make_optimizer("sgd", model, 0.1).load_state_dict(state)


def test_optimizers_read_params_by_name_after_arrays_change():
    model = MLP([2, 3, 2], dtype="float64", seed=0)
    opt = make_optimizer("sgd", model, 1.0)
    X, y = np.array([[1.0, 2.0]]), np.array([1])
    model.set_params({k: np.zeros_like(v) for k, v in model.params.items()})
    model.loss_and_grads(X, y)
    opt.step()
    np.testing.assert_array_equal(model.params["b2"], [-0.5, 0.5])
