"""Finite-difference gradient checks of the tensor engine (float64)."""

import numpy as np
import pytest

from backproplab import gradcheck
from backproplab.tensor import ACTIVATIONS, MLP, Sigmoid

SHAPES = {1: (3, 5, 4), 2: (4, 6, 5, 3), 3: (3, 4, 5, 3, 2)}


@pytest.mark.parametrize("hidden_layers", sorted(SHAPES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_match_finite_differences(activation, hidden_layers):
    res = gradcheck.check_tensor(seed=hidden_layers, shapes=[SHAPES[hidden_layers]],
                                 activations=[activation], batch_sizes=(1, 7), tol=1e-6)
    (shape,) = res.shapes
    # every weight and bias, for both batch sizes
    n_params = sum(a * b + b for a, b in zip(SHAPES[hidden_layers][:-1], SHAPES[hidden_layers][1:]))
    assert shape.n_checked == 2 * n_params
    assert shape.max_rel_error <= 1e-6, shape.worst
    assert res.passed


def test_batch_gradient_is_the_mean_of_example_gradients():
    rng = np.random.default_rng(5)
    model = MLP([3, 4, 3], activation="tanh", dtype="float64", rng=rng)
    X, y = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    loss = model.loss_and_grads(X, y)
    batch = {k: v.copy() for k, v in model.grads.items()}
    losses, singles = [], {k: 0.0 for k in batch}
    for i in range(5):
        losses.append(model.loss_and_grads(X[i:i + 1], y[i:i + 1]))
        for k, v in model.grads.items():
            singles[k] = singles[k] + v / 5
    assert loss == pytest.approx(np.mean(losses), rel=1e-14)
    for k, g in batch.items():
        np.testing.assert_allclose(g, singles[k], rtol=1e-12, atol=1e-16)


def test_a_wrong_backward_pass_is_caught(monkeypatch):
    """Regression guard: applying sigmoid's derivative to the pre-activation is a classic bug
    (the study's Q3 example cannot see it because dl/dh = 0 there)."""

    def wrong(dH, H, out=None, tmp=None):
        # derivative evaluated at the wrong point: h(1-h) with h replaced by sigmoid(h)
        s = 1.0 / (1.0 + np.exp(-H))
        return np.multiply(dH, s * (1 - s), out=out)

    monkeypatch.setattr(Sigmoid, "backward", staticmethod(wrong))
    res = gradcheck.check_tensor(shapes=[(3, 4, 2)], activations=["sigmoid"])
    assert not res.passed
    assert res.max_rel_error > 1e-2
