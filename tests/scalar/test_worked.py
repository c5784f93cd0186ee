"""The Q3 network and its pass, written once (scalar/worked.py) and used by
``worked-example``, the study's checks and ``backproplab check``."""

from __future__ import annotations

import math

from backproplab.commands import worked_example
from backproplab.scalar import Q3, Q3_TARGET, worked_pass
from backproplab.study import checks


def test_q3_values_are_the_derivation():
    r = worked_pass(target=Q3_TARGET, **Q3)
    h = 1.0 / (1.0 + math.exp(-2.0))
    assert r["k"] == [2.0, 2.0, 2.0] and r["h"] == [h] * 3
    assert r["y"] == [0.5, 0.5] and r["loss"] == math.log(2.0)
    assert r["dV"] == [[-0.5 * h, 0.5 * h]] * 3 and r["dc"] == [-0.5, 0.5]
    assert r["dh"] == [0.0] * 3 and r["dW"] == [[0.0] * 3] * 2 and r["db"] == [0.0] * 3


def test_one_network_one_pass_everywhere():
    r = worked_pass(target=Q3_TARGET, **Q3)
    assert worked_example.Q3 is Q3
    assert worked_example.compute(Q3, Q3_TARGET)["dV"] == r["dV"]
    assert checks.worked_example()["result"]["dV"] == r["dV"]
    assert checks.Q3_W == Q3["W"] and checks.Q3_TARGET == Q3_TARGET


def test_dx_by_finite_differences():
    x, W, b, V, c = [0.3, -1.2], [[0.5, -1.0, 2.0], [1.5, 0.2, -0.7]], [0.1, 0.0, -0.3], \
        [[1.0, -2.0, 0.5], [0.3, 0.8, -1.0], [-1.2, 0.4, 2.0]], [0.0, 0.2, -0.1]
    r = worked_pass(x, W, b, V, c, 2)
    for i in range(2):
        up, down = list(x), list(x)
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric = (worked_pass(up, W, b, V, c, 2)["loss"]
                   - worked_pass(down, W, b, V, c, 2)["loss"]) / 2e-6
        assert abs(numeric - r["dx"][i]) < 1e-8
