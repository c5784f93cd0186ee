"""The ``check`` command's text, template and errors, and the computation graph
(``worked-example --graph``, ``check FILE --graph``) drawn by Graphviz's real ``dot``."""

from __future__ import annotations

import importlib.util
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import needs_graphviz, run_subprocess

from backproplab.graph import DIFFERS

LEARNERS = Path(__file__).parent / "learners"
SVG = "{http://www.w3.org/2000/svg}"


def svg_nodes(path: Path) -> dict[str, tuple[list[str], str | None]]:
    """node id -> (the texts of its fields, its fill colour if it is filled)."""
    nodes = {}
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        if g.get("class") == "node":
            texts = [t.text for t in g.iter(f"{SVG}text")]
            fills = [p.get("fill") for p in g.iter(f"{SVG}polygon") if p.get("fill") != "none"]
            nodes[g.find(f"{SVG}title").text] = (texts, fills[0] if fills else None)
    return nodes


@needs_graphviz
def test_worked_example_graph_holds_the_q3_values_and_gradients(cli, tmp_path):
    out = tmp_path / "q3.svg"
    r = cli("worked-example", "--graph", out)
    assert r.status == 0 and f"computation graph: {out}" in r.out
    nodes = svg_nodes(out)
    h = 1.0 / (1.0 + math.exp(-2.0))  # k = 2 for every hidden unit
    dv = h * 0.5  # dl/dV[j][k] = h_j (y_k - onehot_k), y = [0.5, 0.5]
    assert nodes["k_0"][0] == ["k[0]", "value 2", "grad 0"]
    assert nodes["h_2"][0] == ["h[2]", f"value {h:.4g}", "grad 0"]
    assert nodes["V_1_0"][0] == ["V[1][0]", "value -1", f"grad {-dv:.4g}"]
    assert nodes["V_2_1"][0] == ["V[2][1]", "value -1", f"grad {dv:.4g}"]
    assert nodes["c_0"][0] == ["c[0]", "value 0", "grad -0.5"]
    assert nodes["o_1"][0] == ["o[1]", f"value {-h:.4g}", "grad 0.5"]
    assert nodes["y_0"][0] == ["y[0]", "value 0.5", "grad -2"]
    assert nodes["loss_"][0] == ["loss", f"value {math.log(2):.4g}", "grad 1"]
    assert nodes["W_1_2"][0] == ["W[1][2]", "value -1", "grad 0"]
    assert nodes["x_1"][0] == ["x[1]", "value -1", "grad 0"]
    # every scalar of the 2-3-2 network: x 2, W 6, b 3, k 3, h 3, V 6, c 2, o 2, y 2, loss
    scalars = [n for n, (texts, _) in nodes.items() if len(texts) == 3]
    assert len(scalars) == 30
    assert {"σ", "softmax", "-log y[0]", "Σ x·W + b", "Σ h·V + c"} <= {
        texts[0] for texts, _ in nodes.values()}


@needs_graphviz
def test_worked_example_graph_as_png_with_weights(cli, tmp_path):
    w = tmp_path / "w.json"
    w.write_text('{"x": [0.5], "W": [[1, -1]], "b": [0, 0.5], "V": [[1, 0, 2], [0, 1, -1]], '
                 '"c": [0, 0, 0]}')
    r = cli("worked-example", "--weights", w, "--graph", tmp_path / "g.png")
    assert r.status == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_graphviz
def test_check_graph_marks_the_nodes_that_differ(cli, tmp_path):
    out = tmp_path / "mine.svg"
    r = cli("check", LEARNERS / "mistakes" / "sigmoid_derivative_at_preactivation.py",
            "--graph", out)
    assert r.status == 1
    assert "graph of the probe 'non-symmetric 2-4-3'" in r.out
    nodes = svg_nodes(out)
    marked = {n for n, (_, fill) in nodes.items() if fill == DIFFERS}
    # the wrong dk reaches db and dW: those nodes (2 inputs, 4 hidden units) and no others
    assert marked == ({f"k_{j}" for j in range(4)} | {f"b_{j}" for j in range(4)}
                      | {f"W_{i}_{j}" for i in range(2) for j in range(4)})
    texts = nodes["h_0"][0]
    assert texts[0] == "h[0]" and texts[2] == texts[1].replace("value", "yours")


@needs_graphviz
def test_check_graph_of_a_batch_only_file_shows_the_reference(cli, tmp_path):
    r = cli("check", LEARNERS / "correct_columns.py", "--graph", tmp_path / "g.svg")
    assert r.status == 0
    assert "graph of the probe 'the study's Q3 network' (the reference only" in r.out
    assert svg_nodes(tmp_path / "g.svg")["loss_"][0] == ["loss", "value 0.6931", "grad 1"]


@pytest.mark.skipif(importlib.util.find_spec("graphviz") is None, reason="no graphviz")
def test_missing_dot_is_one_sentence(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    r = run_subprocess("worked-example", "--graph", tmp_path / "g.svg", env={"PATH": str(empty)})
    assert r.returncode == 2
    assert r.stderr == ("backproplab: error: Graphviz's dot program is not installed; install "
                        "Graphviz (apt install graphviz, brew install graphviz, or "
                        "https://graphviz.org/download/) to draw the graph\n")


@pytest.mark.parametrize("args, message", [
    (("worked-example", "--graph", "g.txt"), ("cannot draw a graph as g.txt; give the file a "
                                             ".svg, .png or .pdf extension")),
    (("check",), "give a learner's file or a folder to check, or --template"),
    (("check", "nowhere.py"), "nowhere.py does not exist; pass a learner's .py file"),
    (("check", LEARNERS / "correct_lists.py", "--timeout", "-1"),
     "--timeout must be a positive number of seconds, got '-1'"),
    (("check", LEARNERS / "correct_lists.py", "--memory", "10"),
     "--memory must be 0 (no limit) or at least 64 MiB, got 10"),
    (("check", LEARNERS, "--graph", "g.svg"), "--graph draws one file's values, but 3 files"),
])
def test_bad_input_is_one_sentence(cli, args, message):
    r = cli(*args)
    assert r.status == 2 and message in r.err and "Traceback" not in r.err


def test_text_report_names_the_mistake(cli):
    r = cli("check", LEARNERS / "mistakes" / "sigmoid_derivative_at_preactivation.py")
    assert r.status == 1
    lines = r.out.splitlines()
    assert lines[0].endswith("sigmoid_derivative_at_preactivation.py: wrong")
    assert any(line.split()[:2] == ["dW", "NO"] for line in lines)
    assert any(line.split()[:2] == ["dV", "yes"] for line in lines)
    assert "diagnosis [sigmoid-derivative-at-preactivation]: dk, db and dW match the " \
           "sigmoid's derivative evaluated at the pre-activation" in r.out


def test_template_is_a_starting_file_the_checker_reads(cli, tmp_path):
    r = cli("check", "--template")
    assert r.status == 0 and "def backward(x, t, W, b, V, c):" in r.out
    template = r.out
    f = tmp_path / "mine.py"
    f.write_text(template)
    r = cli("check", f)
    assert r.status == 2
    assert "backward() on the probe 'the study's Q3 network' raised NotImplementedError: " \
           "write the backward pass" in r.out
    # its forward pass is right: with the backward pass written, the file is correct
    body = """    h, y = f["h"], f["y"]
    do = [yn - (n == t) for n, yn in enumerate(y)]
    dk = [sum(V[j][n] * do[n] for n in range(len(do))) * h[j] * (1 - h[j])
          for j in range(len(h))]
    return {"dW": [[xi * d for d in dk] for xi in x], "db": dk,
            "dV": [[hj * d for d in do] for hj in h], "dc": do}
"""
    f.write_text(template.replace('    raise NotImplementedError("write the backward pass")\n',
                                  body))
    r = cli("check", f)
    assert r.status == 0 and r.out.splitlines()[0].endswith("mine.py: correct")
    assert r.out.splitlines()[2].split()[:2] == ["k", "yes"]


@needs_graphviz
def test_check_graph_says_when_the_learners_function_raised_on_the_probe(tmp_path):
    # it used to say "the file returns nothing for one example" of a file whose
    # backward() returns values on every probe but the one it raised on
    out = tmp_path / "g.svg"
    r = run_subprocess("check", LEARNERS / "mistakes" / "softmax_overflow_lists.py",
                       "--graph", out, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[-1] == (
        f"graph of the probe 'logits of order 1,000' (the reference only: backward() raised "
        f"OverflowError on it): {out}")
    assert svg_nodes(out)["loss_"][0][0] == "loss"
