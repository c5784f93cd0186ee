"""The tensor engine against the scalar engine (float64): same weights, same numbers."""

import math
import random

import numpy as np
import pytest

from backproplab.scalar import MLP as ScalarMLP
from backproplab.tensor import MLP, make_optimizer, train_step


def tensor_from_scalar(scalar) -> MLP:
    model = MLP(scalar.sizes, activation="sigmoid", dtype="float64", seed=0)
    model.set_params({k: np.array(v, dtype=np.float64) for k, v in scalar.to_dict().items()})
    return model


def scalar_mean_grads(scalar, X, y):
    """Mean loss and mean parameter gradients over the examples, by the scalar engine."""
    total, grads = 0.0, None
    for x, c in zip(X.tolist(), y.tolist()):
        trace = scalar.forward(x, c)
        g = scalar.backward(trace).to_dict()
        total += trace.loss
        g = {k: np.array(v) for k, v in g.items()}
        grads = g if grads is None else {k: grads[k] + g[k] for k in g}
    return total / len(y), {k: v / len(y) for k, v in grads.items()}


def test_q3_network():
    scalar = ScalarMLP.from_dict({
        "W1": [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]], "b1": [0.0, 0.0, 0.0],
        "W2": [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]], "b2": [0.0, 0.0],
    })
    model = tensor_from_scalar(scalar)
    X, y = np.array([[1.0, -1.0]]), np.array([0])
    loss = model.loss_and_grads(X, y)
    ref_loss, ref = scalar_mean_grads(scalar, X, y)
    assert loss == pytest.approx(math.log(2), abs=1e-15)
    assert loss == pytest.approx(ref_loss, abs=1e-12)
    g = model.grads
    # docs/study.md: dl/dV = [-0.44039853898894116, 0.44039853898894116] in each of the 3 rows
    np.testing.assert_allclose(g["W2"], [[-0.44039853898894116, 0.44039853898894116]] * 3,
                               rtol=1e-15)
    np.testing.assert_allclose(g["b2"], [-0.5, 0.5], rtol=1e-15)
    assert not g["W1"].any() and not g["b1"].any()  # dl/dh = 0: equal columns of V
    for k in g:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("sizes", [(2, 3, 2), (3, 5, 4), (4, 6, 5, 3), (2, 4, 3, 5, 2)])
@pytest.mark.parametrize("batch", [1, 7])
def test_random_networks_match(sizes, batch):
    rng = random.Random(f"cross-{sizes}-{batch}")
    scalar = ScalarMLP(sizes, rng=rng, init_std=1.0)
    for b in scalar.biases:
        b[:] = [rng.gauss(0, 0.5) for _ in b]
    model = tensor_from_scalar(scalar)
    nrng = np.random.default_rng(batch)
    X = nrng.normal(size=(batch, sizes[0]))
    y = nrng.integers(0, sizes[-1], batch)
    loss = model.loss_and_grads(X, y)
    ref_loss, ref = scalar_mean_grads(scalar, X, y)
    assert abs(loss - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss))
    for k, g in model.grads.items():
        scale = max(1.0, float(np.abs(ref[k]).max()))
        assert float(np.abs(g - ref[k]).max()) <= 1e-12 * scale, k
    np.testing.assert_allclose(model.predict_proba(X), [scalar.predict_proba(x) for x in X.tolist()],
                               rtol=1e-12, atol=1e-15)


def test_per_example_sgd_matches_over_many_steps():
    rng = random.Random(3)
    scalar = ScalarMLP([2, 5, 2], rng=rng, init_std=1.0)
    model = tensor_from_scalar(scalar)
    opt = make_optimizer("sgd", model, 0.1)
    nrng = np.random.default_rng(3)
    X, y = nrng.normal(size=(200, 2)), nrng.integers(0, 2, 200)
    for x, c in zip(X, y):
        scalar.train_step(x.tolist(), int(c), 0.1)
        train_step(model, opt, x[None, :], np.array([c]))
    for k, v in scalar.to_dict().items():
        np.testing.assert_allclose(model.params[k], np.array(v), rtol=1e-12, atol=1e-12, err_msg=k)
