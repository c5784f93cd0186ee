"""Layers on their own: values, stability for extreme inputs, backward passes, dtypes."""

import warnings

import numpy as np
import pytest

from backproplab.tensor import (
    ACTIVATIONS,
    MLP,
    Linear,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    sigmoid,
    softmax,
)

DTYPES = (np.float32, np.float64)


def test_sigmoid_matches_the_textbook_formula():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=0, atol=4e-16)
    assert sigmoid(np.array([0.0]))[0] == 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_softmax_and_loss_never_overflow_or_warn(dtype):
    big = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0], [3e4, 2.9e4]], dtype=dtype)
    y = np.array([1, 1, 0, 1])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = sigmoid(big)
        p = softmax(big)
        loss, probs = SoftmaxCrossEntropy.forward(big.copy(), y)
        model = MLP([2, 3, 2], dtype=dtype, seed=0)
        model.params["W2"][...] = np.array([[1e4, -1e4]] * 3, dtype=dtype)
        proba = model.predict_proba(np.array([[1.0, 2.0]], dtype=dtype))
        model_loss = model.loss(np.array([[1.0, 2.0]], dtype=dtype), np.array([1]))
    assert s.dtype == dtype and p.dtype == dtype and probs.dtype == dtype
    np.testing.assert_array_equal(s, [[1, 0], [0, 1], [0.5, 0.5], [1, 1]])
    assert np.isfinite(p).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[:2], [[1, 0], [0, 1]], atol=1e-30)
    # losses per row: 2e4 (target logit 2e4 below the max), 0, ln 2, and
    # 3e4 - 2.9e4 + log(1 + e^-1e3) = 1e3 (the exp underflows; log-sum-exp does not care)
    expected = (2e4 + 0.0 + np.log(2.0) + 1e3) / 4
    assert loss == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(proba).all() and np.isfinite(model_loss)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_spread_over_the_whole_finite_range_do_not_warn(dtype):
    # "any finite input": logits +-max(dtype) make even the max-shift overflow; that must
    # stay silent, give the right probabilities and an infinite (not NaN) loss
    f = np.finfo(dtype).max
    z = np.array([[f, -f], [-f, f], [f, f], [-f, -f], [f / 4, -f / 4]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = sigmoid(z)
        p = softmax(z)
        loss, probs = SoftmaxCrossEntropy.forward(z.copy(), np.array([0, 1, 0, 1, 0]))
        worst, _ = SoftmaxCrossEntropy.forward(z.copy(), np.array([1, 0, 0, 1, 1]))
        big, _ = SoftmaxCrossEntropy.forward(z[4:].repeat(4, axis=0), np.ones(4, int))
    np.testing.assert_array_equal(s, [[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]])
    for out in (p, probs):
        assert out.dtype == dtype
        np.testing.assert_allclose(out, [[1, 0], [0, 1], [0.5, 0.5], [0.5, 0.5], [1, 0]],
                                   atol=1e-30)
    # rows 0, 1, 4 predict their target with probability 1; rows 2, 3 are ties: ln 2 each
    assert loss == pytest.approx(2 * np.log(2.0) / 5, rel=1e-6)
    assert worst == np.inf  # the target logit 2 * max(dtype) below the best one
    assert big == np.inf  # each row's loss is max/2; their sum overflows, silently


def _numeric_vjp(f, x, g, eps=1e-6):
    """d/dx of sum(g * f(x)) by central differences."""
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = np.sum(g * f(x))
        x[idx] = old - eps
        down = np.sum(g * f(x))
        x[idx] = old
        out[idx] = (up - down) / (2 * eps)
    return out


@pytest.mark.parametrize("act", [Sigmoid, Tanh, ReLU])
def test_activation_backward_is_the_derivative(act):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(4, 5)) * 2
    g = rng.normal(size=Z.shape)
    H = act.forward(Z.copy())
    analytic = act.backward(g, H)
    numeric = _numeric_vjp(lambda z: act.forward(z.copy()), Z.copy(), g)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_activations_work_in_place_and_registry_names():
    assert set(ACTIVATIONS) == {"sigmoid", "relu", "tanh"}
    Z = np.array([[-2.0, 0.0, 3.0]])
    for act in ACTIVATIONS.values():
        expected = act.forward(Z.copy())
        buf = Z.copy()
        assert act.forward(buf, out=buf) is buf
        np.testing.assert_array_equal(buf, expected)
    np.testing.assert_array_equal(ReLU.forward(Z), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(Tanh.forward(Z), np.tanh(Z))


def test_linear_forward_and_backward():
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    X = rng.normal(size=(5, 3))
    layer = Linear(W, b)
    np.testing.assert_allclose(layer.forward(X), X @ W + b, rtol=1e-15)
    g = rng.normal(size=(5, 4))
    dX = layer.backward(X, g)
    np.testing.assert_allclose(dX, _numeric_vjp(lambda x: x @ W + b, X.copy(), g), rtol=1e-8)
    np.testing.assert_allclose(layer.dW, _numeric_vjp(lambda w: X @ w + b, W.copy(), g), rtol=1e-8)
    np.testing.assert_allclose(layer.db, g.sum(axis=0), rtol=1e-15)
    assert layer.backward(X, g, need_dX=False) is None


def test_softmax_cross_entropy_values_and_gradient():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4)) * 3
    y = np.array([0, 1, 2, 3, 3, 0])
    loss, probs = SoftmaxCrossEntropy.forward(logits.copy(), y)
    ref = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, ref, rtol=1e-14)
    assert loss == pytest.approx(-np.mean(np.log(ref[np.arange(6), y])), rel=1e-14)
    grad = SoftmaxCrossEntropy.backward(probs.copy(), y)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(grad, (ref - onehot) / 6, rtol=1e-13, atol=1e-17)

    def mean_loss(z):
        return SoftmaxCrossEntropy.forward(z.copy(), y)[0]

    numeric = _numeric_vjp(lambda z: np.array(mean_loss(z)), logits.copy(), np.array(1.0))
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_float32_stays_float32(act):
    model = MLP([4, 5, 3, 2], activation=act, seed=0)
    X = np.random.default_rng(0).normal(size=(8, 4))  # float64 input is converted
    y = np.arange(8) % 2
    model.loss_and_grads(X, y)
    for name in model.params:
        assert model.params[name].dtype == np.float32, name
        assert model.grads[name].dtype == np.float32, name
    ws = model._workspace(8)
    assert all(a.dtype == np.float32 for a in ws.out + ws.grad)
    assert model.forward(X).dtype == np.float32
    assert model.predict_proba(X).dtype == np.float32
    m64 = MLP([4, 5, 3, 2], activation=act, dtype="float64", seed=0)
    m64.loss_and_grads(X, y)
    assert all(g.dtype == np.float64 for g in m64.grads.values())
    # same seed, same weights up to float32 rounding
    for name, p in m64.params.items():
        np.testing.assert_array_equal(p.astype(np.float32), model.params[name])
