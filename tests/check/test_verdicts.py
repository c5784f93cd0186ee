"""``backproplab check`` on correct and deliberately broken implementations.

Each file in learners/mistakes/ makes one classic backprop mistake; the checker
must name it (by its stable id, on the quantities it affects) and no correct
file may get any diagnosis. The files run for real, each in its own process.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from backproplab.check import DIAGNOSES, FIRST_DIFFERENCE, check_files, collect_files
from backproplab.check.compare import ShapeError, fit_shape
from backproplab.check.probes import RANDOM_SIZES, make_probes

LEARNERS = Path(__file__).parent / "learners"
HIDDEN = ["dk", "db", "dW"]
GRADS = ["do", "dc", "dV", "dh", "dk", "db", "dW"]
#: broken file -> (diagnosis id, the quantities it must name)
MISTAKES = {
    "sigmoid_derivative_at_preactivation": ("sigmoid-derivative-at-preactivation", HIDDEN),
    "missing_sigmoid_derivative": ("missing-sigmoid-derivative", HIDDEN),
    # a mistake in one function only (backward right): named for the function that makes it
    "missing_sigmoid_derivative_batch_only": ("missing-sigmoid-derivative", ["db", "dW"]),
    "sign_flipped": ("sign-flipped", GRADS),
    "target_class_only": ("target-class-only", ["dh", *HIDDEN]),
    "target_not_subtracted": ("target-not-subtracted", GRADS),
    "preactivation_as_layer_input": ("preactivation-as-layer-input", ["dV"]),
    "summed_not_averaged": ("summed-not-averaged", ["dc", "dV", "db", "dW"]),
    "transposed": ("transposed", ["dW"]),
    "softmax_overflow": ("softmax-overflow", ["loss", "dc", "dV", "db", "dW"]),
    "softmax_overflow_lists": ("softmax-overflow", ["dc", "dV", "db", "dW"]),
    "unexplained_hidden_gradient": (FIRST_DIFFERENCE, ["dh"]),
}
CORRECT = ("correct_lists", "correct_numpy", "correct_columns")


@pytest.fixture(scope="module")
def reports():
    files = collect_files([LEARNERS, LEARNERS / "mistakes"])
    return {Path(r.file).stem: r for r in check_files(files, workers=2)}


def test_every_known_mistake_has_a_broken_file():
    assert {d for d, _ in MISTAKES.values()} == set(DIAGNOSES) | {FIRST_DIFFERENCE}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_mistake_is_named_on_its_broken_file(reports, name):
    diagnosis, quantities = MISTAKES[name]
    r = reports[name]
    assert r.status == "wrong" and r.exit_status == 1
    assert [(d.id, d.quantities) for d in r.diagnoses] == [(diagnosis, quantities)]
    wrong = [q for q, res in r.quantities.items() if not res.ok]
    # a mistake no diagnosis knows is named where it starts; what follows is wrong too
    assert wrong == (["dh", *HIDDEN] if diagnosis == FIRST_DIFFERENCE else quantities)
    assert all(quantity in r.diagnoses[0].message for quantity in quantities)


@pytest.mark.parametrize("name", CORRECT)
def test_correct_implementations_pass_with_no_diagnosis(reports, name):
    r = reports[name]
    assert (r.status, r.reason, r.diagnoses) == ("correct", None, [])
    assert all(res.ok and res.max_error < 1e-9 for res in r.quantities.values())
    assert {"dW", "db", "dV", "dc"} <= set(r.quantities)


def test_forward_and_optional_keys_are_checked_where_returned(reports):
    assert list(reports["correct_lists"].quantities) == [
        "k", "h", "o", "y", "loss", "do", "dc", "dV", "dh", "dk", "db", "dW"]
    assert list(reports["correct_columns"].quantities) == ["loss", "dc", "dV", "db", "dW"]
    # a quantity wrong in one function is wrong, and `where` names that function
    r = reports["sigmoid_derivative_at_preactivation"].quantities["dW"]
    assert (r.ok, r.where, r.first_probe) == (False, ["backward"], "non-symmetric 2-4-3")


def test_the_original_write_up_mistake_is_invisible_on_q3_alone(reports):
    """The Q3 network is degenerate (dl/dh = 0): the mistake shows on the other probes."""
    r = reports["sigmoid_derivative_at_preactivation"].quantities["dW"]
    q3 = [o for o in r.observations if o.probe.name == "the study's Q3 network"]
    assert q3 and all(o.ok for o in q3)


def test_json_form_of_a_wrong_file(reports):
    d = reports["softmax_overflow"].to_dict()
    assert d["status"] == "wrong" and d["reason"] is None
    assert d["quantities"]["dW"] == {"ok": False, "max_error": None, "where": ["backward"],
                                     "first_probe": "logits of order 1,000"}
    assert d["diagnoses"][0]["id"] == "softmax-overflow"


def test_probes_cover_the_cases_the_issue_names():
    probes = make_probes()
    names = [p.name for p in probes]
    assert names[:2] == ["the study's Q3 network", "non-symmetric 2-4-3"]
    assert {"logits of order 1,000", "saturated sigmoids"} <= set(names)
    for d, m, C in RANDOM_SIZES:
        assert len({d, m, C}) == 3
    large = probes[names.index("logits of order 1,000")].examples[0]
    assert max(large["o"]) > 1000 and math.isfinite(large["loss"])
    sat = probes[names.index("saturated sigmoids")].examples[0]
    assert min(abs(k) for k in sat["k"]) > 15
    assert sorted(len(p.T) for p in probes if p.batch) == [2, 3, 5]
    # the same seed gives the same probes
    assert [p.payload() for p in make_probes()] == [p.payload() for p in probes]


def test_fit_shape_accepts_rows_columns_and_one_element_losses():
    assert fit_shape([[1.0], [2.0]], [0.0, 0.0], "db") == ([1.0, 2.0], False)
    assert fit_shape([[1.0, 2.0]], [0.0, 0.0], "db") == ([1.0, 2.0], False)
    assert fit_shape([0.5], 0.0, "loss") == (0.5, False)
    assert fit_shape([[1.0, 2.0, 3.0]], [[0.0], [0.0], [0.0]], "dW") == (
        [[1.0], [2.0], [3.0]], True)
    with pytest.raises(ShapeError, match=r"dW has the shape 6, not 2 x 3 \(inputs x hidden\)"):
        fit_shape([0.0] * 6, [[0.0] * 3] * 2, "dW")
    with pytest.raises(ShapeError, match="dV holds a str instead of numbers"):
        fit_shape([[{"type": "str"}]], [[0.0]], "dV")


@pytest.mark.parametrize("dW, dV, message", [
    ("np.outer(x, dk)", "np.outer(do, h)",
     ("dV comes transposed (outputs x hidden instead of hidden x outputs): each gradient must "
      "have its parameter's shape, and once transposed the values are right.")),
    ("np.outer(dk, x)", "np.outer(do, h)",
     ("dV and dW come transposed (dV outputs x hidden instead of hidden x outputs, dW hidden x "
      "inputs instead of inputs x hidden): each gradient must have its parameter's shape, and "
      "once transposed the values are right.")),
])
def test_transposed_message_names_the_axes_of_the_matrix_that_came_transposed(tmp_path, dW, dV,
                                                                               message):
    f = tmp_path / "mine.py"
    f.write_text(
        "import numpy as np\n\n\ndef backward(x, t, W, b, V, c):\n"
        "    x, W, b, V, c = (np.asarray(a, dtype=float) for a in (x, W, b, V, c))\n"
        "    h = 1.0 / (1.0 + np.exp(-(x @ W + b)))\n"
        "    y = np.exp(h @ V + c - (h @ V + c).max())\n"
        "    do = y / y.sum() - np.eye(len(c))[t]\n"
        "    dk = (V @ do) * h * (1.0 - h)\n"
        f"    return {{'dW': {dW}, 'db': dk, 'dV': {dV}, 'dc': do}}\n")
    [r] = check_files([f])
    assert [(d.id, d.message) for d in r.diagnoses] == [("transposed", message)]
