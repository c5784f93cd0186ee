"""Each formula of docs/derivations.md against central finite differences."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from backproplab.scalar import MLP, cross_entropy_from_logits, sigmoid, softmax

DOC = Path(__file__).resolve().parents[2] / "docs" / "derivations.md"
EPS = 1e-6


def fd(f, v: list[float], j: int, eps: float = EPS) -> float:
    """Central difference of ``f(v)`` in coordinate ``j``."""
    up, down = list(v), list(v)
    up[j] += eps
    down[j] -= eps
    return (f(up) - f(down)) / (2 * eps)


def random_logits(seed: int, k: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, 2.0) for _ in range(k)]


CASES = [(seed, k) for seed in range(4) for k in (2, 3, 5)]


@pytest.mark.parametrize("seed, k", CASES)
def test_softmax_jacobian_matches_finite_differences(seed, k):
    o = random_logits(seed, k)
    y = softmax(o)
    for i in range(k):
        for j in range(k):
            formula = y[i] * ((i == j) - y[j])  # y_i (delta_ij - y_j)
            assert formula == pytest.approx(fd(lambda v, i=i: softmax(v)[i], o, j), abs=1e-9)
    # each column of the Jacobian sums to zero
    for j in range(k):
        assert sum(y[i] * ((i == j) - y[j]) for i in range(k)) == pytest.approx(0.0, abs=1e-15)


def test_softmax_jacobian_q3():
    y = softmax([-0.8807970779778823, -0.8807970779778823])
    assert [[y[i] * ((i == j) - y[j]) for j in range(2)] for i in range(2)] == [
        [0.25, -0.25], [-0.25, 0.25]]


@pytest.mark.parametrize("seed, k", CASES)
def test_cross_entropy_derivative_matches_finite_differences(seed, k):
    y = softmax(random_logits(seed, k))  # a valid probability vector, used as free variables
    for c in range(k):
        loss = lambda v, c=c: -math.log(v[c])
        for i in range(k):
            formula = -(i == c) / y[c]  # -delta_ic / y_c
            assert formula == pytest.approx(fd(loss, y, i), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("seed, k", CASES)
def test_dl_do_matches_finite_differences_and_the_chain_rule(seed, k):
    o = random_logits(seed, k)
    y = softmax(o)
    for c in range(k):
        formula = [y[j] - (j == c) for j in range(k)]  # y - onehot(c)
        numeric = [fd(lambda v, c=c: cross_entropy_from_logits(v, c), o, j) for j in range(k)]
        assert formula == pytest.approx(numeric, abs=1e-9)
        # the chain rule through the two local derivatives gives the same vector
        dl_dy = [-(i == c) / y[c] for i in range(k)]
        chain = [sum(dl_dy[i] * y[i] * ((i == j) - y[j]) for i in range(k)) for j in range(k)]
        assert chain == pytest.approx(formula, abs=1e-12)
        assert sum(formula) == pytest.approx(0.0, abs=1e-12)


def test_fused_form_is_stable_where_the_separate_form_is_not():
    o, c = [1000.0, -1000.0], 1
    y = softmax(o)
    assert y == [1.0, 0.0]  # y_c underflows to 0
    with pytest.raises(ValueError):
        math.log(y[c])  # the separate loss -log y_c cannot even be evaluated
    assert cross_entropy_from_logits(o, c) == 2000.0
    fused_grad = [y[j] - (j == c) for j in range(2)]
    assert fused_grad == [1.0, -1.0]
    numeric = [fd(lambda v: cross_entropy_from_logits(v, c), o, j, eps=1e-3) for j in range(2)]
    assert numeric == pytest.approx(fused_grad, abs=1e-9)


@pytest.mark.parametrize("z", [-30.0, -5.0, -1.3, 0.0, 0.7, 2.0, 8.0, 30.0])
def test_sigmoid_derivative_matches_finite_differences(z):
    s = sigmoid(z)
    numeric = fd(lambda v: sigmoid(v[0]), [z], 0)
    assert s * (1 - s) == pytest.approx(numeric, rel=1e-6, abs=1e-12)
    if abs(z) > 0.5:  # the classic bug, z(1 - z), is a different number
        assert abs(z * (1 - z) - numeric) > 1e-3


def test_sigmoid_stays_finite():
    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0


def _loss_2layer(p: dict, t: int) -> float:
    """The forward pass of section 6, written out with plain loops."""
    x, W, b, V, c = p["x"], p["W"], p["b"], p["V"], p["c"]
    k = [sum(x[i] * W[i][j] for i in range(len(x))) + b[j] for j in range(len(b))]
    h = [1 / (1 + math.exp(-v)) for v in k]
    o = [sum(h[j] * V[j][m] for j in range(len(h))) + c[m] for m in range(len(c))]
    mx = max(o)
    return math.log(sum(math.exp(v - mx) for v in o)) - (o[t] - mx)


def _fd_2layer(p: dict, t: int, name: str) -> list:
    """Finite-difference gradient of :func:`_loss_2layer` for one array of ``p``."""
    def at(idx, delta):
        q = {key: [list(r) if isinstance(r, list) else r for r in val] for key, val in p.items()}
        if len(idx) == 1:
            q[name][idx[0]] += delta
        else:
            q[name][idx[0]][idx[1]] += delta
        return _loss_2layer(q, t)

    val = p[name]
    if isinstance(val[0], list):
        return [[(at((i, j), EPS) - at((i, j), -EPS)) / (2 * EPS) for j in range(len(val[0]))]
                for i in range(len(val))]
    return [(at((i,), EPS) - at((i,), -EPS)) / (2 * EPS) for i in range(len(val))]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("t", [0, 1, 2])
def test_two_layer_backward_formulas_match_finite_differences(seed, t):
    rng = random.Random(seed)
    n_in, n_hid, n_out = 2, 4, 3
    g = lambda: rng.gauss(0.0, 1.0)
    p = {"x": [g() for _ in range(n_in)],
         "W": [[g() for _ in range(n_hid)] for _ in range(n_in)], "b": [g() for _ in range(n_hid)],
         "V": [[g() for _ in range(n_out)] for _ in range(n_hid)], "c": [g() for _ in range(n_out)]}
    x, W, b, V, c = p["x"], p["W"], p["b"], p["V"], p["c"]
    # forward (section 6)
    k = [sum(x[i] * W[i][j] for i in range(n_in)) + b[j] for j in range(n_hid)]
    h = [1 / (1 + math.exp(-v)) for v in k]
    o = [sum(h[j] * V[j][m] for j in range(n_hid)) + c[m] for m in range(n_out)]
    y = softmax(o)
    # backward: the formulas of section 6, one line each
    e = [y[m] - (m == t) for m in range(n_out)]
    dc = e
    dV = [[h[j] * e[m] for m in range(n_out)] for j in range(n_hid)]
    dh = [sum(V[j][m] * e[m] for m in range(n_out)) for j in range(n_hid)]
    d = [dh[j] * h[j] * (1 - h[j]) for j in range(n_hid)]
    db = d
    dW = [[x[i] * d[j] for j in range(n_hid)] for i in range(n_in)]
    for name, formula in (("c", dc), ("V", dV), ("b", db), ("W", dW)):
        assert _flat(formula) == pytest.approx(_flat(_fd_2layer(p, t, name)), abs=1e-8), name
    # and the engine computes the same numbers
    m = MLP.from_weights([W, V], [b, c])
    grads = m.backward(m.forward(x, t))
    assert _flat(grads.dW[0]) == pytest.approx(_flat(dW), abs=1e-14)
    assert _flat(grads.dW[1]) == pytest.approx(_flat(dV), abs=1e-14)
    assert grads.dh[0] == pytest.approx(dh, abs=1e-14)
    assert grads.dk[0] == pytest.approx(d, abs=1e-14)


def _flat(v) -> list[float]:
    return [a for r in v for a in r] if isinstance(v[0], list) else list(v)


def test_q3_numbers_in_this_document():
    text = DOC.read_text(encoding="utf-8")
    m = MLP.from_weights([[[1, 1, 1], [-1, -1, -1]], [[1, 1], [-1, -1], [-1, -1]]],
                         [[0, 0, 0], [0, 0]])
    t = m.forward([1, -1], 0)
    g = m.backward(t)
    for value in (t.h[0][0], -t.h[0][0], t.loss, g.dW[1][0][0], g.dW[1][0][1]):
        assert repr(value) in text, f"{value!r} missing from docs/derivations.md"
    assert t.loss == math.log(2)
    for phrase in ("y_i (delta_ij - y_j)", "-delta_ic / y_c", "dl/do = y - onehot(c)",
                   "h (1 - h)", "degenerate"):
        assert phrase in text


def test_every_test_this_document_names_exists():
    """The document says which test checks each section: those names must stay real."""
    import re

    named = set(re.findall(r"`(test_\w+)`", DOC.read_text(encoding="utf-8")))
    assert len(named) >= 7
    defined = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        defined |= set(re.findall(r"^def (test_\w+)", text, re.MULTILINE))
    assert not named - defined, f"docs/derivations.md names missing tests: {named - defined}"
