"""The scalar engine: the Q3 values, a non-symmetric case against finite differences,
a deliberately buggy backward pass that the same check catches, deeper networks,
numerical safety, parameter round trips and input validation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from backproplab import gradcheck
from backproplab.scalar import (
    MLP,
    Gradients,
    cross_entropy_from_logits,
    matvec,
    outer,
    sigmoid,
    softmax,
)

Q3 = {
    "W1": [[1, 1, 1], [-1, -1, -1]], "b1": [0, 0, 0],
    "W2": [[1, 1], [-1, -1], [-1, -1]], "b2": [0, 0],
}
H_Q3 = 0.8807970779778823
DV_Q3 = 0.44039853898894116

# A second case with no symmetry: every weight different, nonzero biases, 2-3-2.
CASE2 = {
    "x": [0.5, -1.2],
    "W1": [[0.3, -0.7, 1.1], [0.9, 0.2, -0.4]], "b1": [0.1, -0.2, 0.05],
    "W2": [[0.6, -0.3], [-0.8, 0.5], [0.2, 0.9]], "b2": [0.05, -0.1],
}


def test_q3_exact_values():
    m = MLP.from_dict(Q3)
    t = m.forward([1, -1], 0)
    g = m.backward(t)
    tol = 1e-12
    assert t.k[0] == pytest.approx([2, 2, 2], abs=tol)
    assert t.h[0] == pytest.approx([H_Q3] * 3, abs=tol)
    assert t.y == pytest.approx([0.5, 0.5], abs=tol)
    assert t.loss == pytest.approx(math.log(2), abs=tol)
    assert g.dW[1] == [pytest.approx([-DV_Q3, DV_Q3], abs=tol)] * 3  # dV
    assert g.db[1] == pytest.approx([-0.5, 0.5], abs=tol)  # dc
    assert g.dW[0] == [pytest.approx([0, 0, 0], abs=tol)] * 2  # dW
    assert g.db[0] == pytest.approx([0, 0, 0], abs=tol)  # db
    assert g.dh[0] == pytest.approx([0, 0, 0], abs=tol)  # the degenerate part
    assert g.do == pytest.approx([-0.5, 0.5], abs=tol)


def test_q3_target_1_mirrors_target_0():
    m = MLP.from_dict(Q3)
    g = m.backward(m.forward([1, -1], 1))
    assert g.dW[1] == [pytest.approx([DV_Q3, -DV_Q3], abs=1e-12)] * 3
    assert g.db[1] == pytest.approx([0.5, -0.5], abs=1e-12)


# -- an independent reference for the non-symmetric case ----------------------


def _reference_loss(p: dict, target: int) -> float:
    """The study's network written again with NumPy (not the engine's code)."""
    x = np.array(p["x"], dtype=np.float64)
    k = x @ np.array(p["W1"]) + np.array(p["b1"])
    h = 1.0 / (1.0 + np.exp(-k))
    o = h @ np.array(p["W2"]) + np.array(p["b2"])
    m = o.max()
    return float(m + np.log(np.exp(o - m).sum()) - o[target])


def _fd_parameter_gradients(p: dict, target: int, eps: float = 1e-6) -> dict:
    """Central finite differences of :func:`_reference_loss` for x, W1, b1, W2, b2."""
    out = {}
    for name in ("x", "W1", "b1", "W2", "b2"):
        arr = np.array(p[name], dtype=np.float64)
        grad = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            for sign in (1, -1):
                q = {key: np.array(v, dtype=np.float64) for key, v in p.items()}
                q[name][idx] += sign * eps
                grad[idx] += sign * _reference_loss(q, target) / (2 * eps)
        out[name] = grad
    return out


def _max_error_vs_fd(grads: Gradients, p: dict, target: int) -> float:
    """The check: largest |analytic - finite difference| over all parameters and the input."""
    fd = _fd_parameter_gradients(p, target)
    analytic = {"x": grads.dx, "W1": grads.dW[0], "b1": grads.db[0],
                "W2": grads.dW[1], "b2": grads.db[1]}
    return max(float(np.max(np.abs(np.array(analytic[n]) - fd[n]))) for n in fd)


def _params(p: dict) -> dict:
    return {k: v for k, v in p.items() if k != "x"}


@pytest.mark.parametrize("target", [0, 1])
def test_non_symmetric_case_matches_finite_differences(target):
    m = MLP.from_dict(_params(CASE2))
    t = m.forward(CASE2["x"], target)
    assert t.loss == pytest.approx(_reference_loss(CASE2, target), abs=1e-12)
    g = m.backward(t)
    # dl/dh is not zero here, so the hidden layer's backward pass is exercised
    assert min(abs(v) for v in g.dh[0]) > 0.1
    assert _max_error_vs_fd(g, CASE2, target) < 1e-8


def _buggy_backward(model: MLP, trace) -> Gradients:
    """The classic bug: the sigmoid derivative computed from the pre-activation,
    ``k * (1 - k)``, instead of ``h * (1 - h)``. Everything else is correct."""
    do = list(trace.y)
    do[trace.target] -= 1.0
    acts = [trace.x, *trace.h]
    L = len(model.weights)
    dW, db, dk, dh = [None] * L, [None] * L, [None] * (L - 1), [None] * (L - 1)
    delta, dx = do, None
    for l in range(L - 1, -1, -1):
        dW[l], db[l] = outer(acts[l], delta), list(delta)
        da = matvec(model.weights[l], delta)
        if l == 0:
            dx = da
        else:
            k = trace.k[l - 1]
            dh[l - 1] = da
            delta = dk[l - 1] = [g * kj * (1.0 - kj) for g, kj in zip(da, k)]
    return Gradients(dW, db, dk, dh, do, [0.0] * len(do), dx)


def test_buggy_backward_is_caught_by_the_finite_difference_check():
    m = MLP.from_dict(_params(CASE2))
    t = m.forward(CASE2["x"], 0)
    assert _max_error_vs_fd(m.backward(t), CASE2, 0) < 1e-8
    assert _max_error_vs_fd(_buggy_backward(m, t), CASE2, 0) > 1e-2


def test_buggy_backward_is_invisible_in_q3_but_not_in_gradcheck():
    """Why Q3 alone is not enough: the bug gives the right Q3 gradients."""
    m = MLP.from_dict(Q3)
    t = m.forward([1, -1], 0)
    assert _buggy_backward(m, t).to_dict() == m.backward(t).to_dict()
    assert gradcheck.check_scalar().passed
    bad = gradcheck.check_scalar(backward=_buggy_backward)
    assert not bad.passed and bad.max_rel_error > 0.1


def test_check_scalar_reports_every_shape():
    res = gradcheck.check_scalar(seed=3, shapes=[(2, 3, 2), (2, 4, 3, 2)])
    assert [s.sizes for s in res.shapes] == [(2, 3, 2), (2, 4, 3, 2)]
    assert all(s.passed and s.n_checked > 20 for s in res.shapes)
    assert res.passed and res.max_rel_error < res.tol
    # a tolerance below the finite-difference noise makes it fail: the check can fail
    assert not gradcheck.check_scalar(tol=1e-14).passed


# -- deeper networks, fused step ----------------------------------------------


def test_deeper_network_shapes_and_gradients():
    m = MLP([2, 4, 3, 2], seed=5)
    assert [(len(W), len(W[0])) for W in m.weights] == [(2, 4), (4, 3), (3, 2)]
    assert m.biases == [[0.0] * 4, [0.0] * 3, [0.0] * 2]
    t = m.forward([0.3, -0.8], 1)
    assert [len(k) for k in t.k] == [4, 3] and len(t.h) == 2
    g = m.backward(t)
    num = gradcheck.scalar_numeric_gradients(m, [0.3, -0.8], 1, 1e-6)
    for name in ("dW", "db", "dk", "dh"):
        a = np.concatenate([np.ravel(v) for v in getattr(g, name)])
        n = np.concatenate([np.ravel(v) for v in num[name]])
        np.testing.assert_allclose(a, n, atol=1e-8)
    np.testing.assert_allclose(g.do, num["do"], atol=1e-8)
    np.testing.assert_allclose(g.dx, num["dx"], atol=1e-8)


@pytest.mark.parametrize("sizes", [[2, 3, 2], [2, 4, 3, 2], [3, 6, 4]])
def test_fused_train_step_equals_forward_backward_sgd_step(sizes):
    a = MLP(sizes, seed=1)
    b = a.copy()
    rng = random.Random(2)
    for _ in range(200):
        x = [rng.gauss(0, 1) for _ in range(sizes[0])]
        c = rng.randrange(sizes[-1])
        loss_a = a.train_step(x, c, 0.3)
        t = b.forward(x, c)
        b.sgd_step(b.backward(t), 0.3)
        assert loss_a == t.loss
    assert a.to_dict() == b.to_dict()  # bit for bit


def test_sgd_step_lowers_the_loss_of_that_example():
    m = MLP.from_dict(_params(CASE2))
    before = m.loss(CASE2["x"], 1)
    m.sgd_step(m.backward(m.forward(CASE2["x"], 1)), 0.1)
    assert m.loss(CASE2["x"], 1) < before


# -- numerical safety ----------------------------------------------------------


def test_sigmoid_and_softmax_do_not_overflow():
    assert sigmoid(1000.0) == 1.0 and sigmoid(-1000.0) == 0.0
    assert sigmoid(-745.0) >= 0.0 and sigmoid(0.0) == 0.5
    assert softmax([1000.0, 0.0]) == [1.0, 0.0]
    assert softmax([-1e300, 1e300]) == [0.0, 1.0]
    assert cross_entropy_from_logits([1000.0, -1000.0], 1) == pytest.approx(2000.0)
    m = MLP.from_dict({"W1": [[500.0, -500.0]], "b1": [0, 0], "W2": [[800, -800], [-800, 800]],
                       "b2": [0, 0]})
    t = m.forward([10.0], 1)
    assert math.isfinite(t.loss) and t.loss > 1000
    g = m.backward(t)
    assert all(math.isfinite(v) for row in g.dW[1] for v in row)


# -- parameters ----------------------------------------------------------------


def test_to_dict_from_dict_round_trip_and_copy_semantics():
    m = MLP([2, 4, 3, 2], seed=7)
    d = m.to_dict()
    assert list(d) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert isinstance(d["W1"][0][0], float)
    m2 = MLP.from_dict(d)
    assert m2.sizes == [2, 4, 3, 2] and m2.to_dict() == d
    assert MLP.from_dict({"W1": [[1, 2]], "b1": [0, 0]}).sizes == [1, 2]  # no hidden layer
    d["W1"][0][0] += 1.0  # a copy: the model is untouched
    assert m.to_dict()["W1"][0][0] != d["W1"][0][0]


def test_same_seed_same_weights_different_seed_different_weights():
    assert MLP([2, 8, 2], seed=0).to_dict() == MLP([2, 8, 2], seed=0).to_dict()
    assert MLP([2, 8, 2], seed=0).to_dict() != MLP([2, 8, 2], seed=1).to_dict()
    # init_std scales the draws
    a = MLP([2, 8, 2], seed=0, init_std=1.0).weights[0][0]
    b = MLP([2, 8, 2], seed=0, init_std=0.1).weights[0][0]
    assert b == pytest.approx([0.1 * v for v in a])


@pytest.mark.parametrize("params, match", [
    ({"W1": [[1, 2]], "b1": [0]}, "b1 must have 2"),
    ({"W1": [[1, 2]], "b1": [0, 0], "W2": [[1, 2, 3]], "b2": [0, 0, 0]}, "W2 must be a 2 x 3"),
    ({"W1": [[1, "a"]], "b1": [0, 0]}, r"W1\[0\]\[1\] must be a number"),
    ({"W1": [[1, float("nan")]], "b1": [0, 0]}, "finite"),
    ({"W1": [[1, True]], "b1": [0, 0]}, "number"),
    ({"W1": [[1, 10**400]], "b1": [0, 0]}, "beyond the float range"),  # was an OverflowError
    ({"W": [[1, 2]], "b": [0, 0]}, "names must be W1, b1"),
    ({"W1": [[1], [2]], "b1": [0]}, "at least 2 units"),
])
def test_from_dict_rejects_bad_parameters(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        MLP.from_dict(params)


def test_forward_rejects_bad_target_and_input():
    m = MLP([2, 3, 2])
    with pytest.raises(ValueError, match="target"):
        m.forward([0.0, 0.0], 2)
    with pytest.raises(ValueError, match="target"):
        m.forward([0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="2 entries"):
        m.forward([0.0], 0)
    with pytest.raises(ValueError, match="at least two"):
        MLP([2])
