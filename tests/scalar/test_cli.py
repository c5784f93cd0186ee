"""The ``worked-example`` and ``gradcheck --engine scalar`` commands."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from backproplab.errors import BackproplabError
from backproplab.fileio import JSON_MAX_DEPTH

H = 0.8807970779778823
DV = 0.44039853898894116

CASE2 = {
    "x": [0.5, -1.2],
    "W": [[0.3, -0.7, 1.1], [0.9, 0.2, -0.4]], "b": [0.1, -0.2, 0.05],
    "V": [[0.6, -0.3], [-0.8, 0.5], [0.2, 0.9]], "c": [0.05, -0.1],
}


def test_worked_example_tables(cli):
    r = cli("worked-example")
    assert r.status == 0, r.err
    for text in ("0.880797078", "-0.440398539", "0.6931471806", "dl/dV", "dl/dW", "degenerate",
                 "0.0596"):
        assert text in r.out


def test_worked_example_json_q3(cli):
    r = cli("worked-example", "--json")
    assert r.status == 0, r.err
    d = r.json()
    assert set(d) >= {"k", "h", "o", "y", "loss", "dW", "db", "dV", "dc"}
    assert d["k"] == [2.0, 2.0, 2.0]
    assert d["h"] == pytest.approx([H] * 3, abs=1e-12)
    assert d["y"] == pytest.approx([0.5, 0.5], abs=1e-12)
    assert d["loss"] == pytest.approx(math.log(2), abs=1e-12)
    assert d["dV"] == [pytest.approx([-DV, DV], abs=1e-12)] * 3
    assert d["dc"] == pytest.approx([-0.5, 0.5], abs=1e-12)
    assert d["dW"] == [[0.0] * 3] * 2 and d["db"] == [0.0] * 3
    assert len(r.out.strip().splitlines()) == 1  # --json prints only the object


def test_worked_example_target_1(cli):
    d = cli("worked-example", "--target", "1", "--json").json()
    assert d["target"] == 1
    assert d["dV"] == [pytest.approx([DV, -DV], abs=1e-12)] * 3
    assert d["dc"] == pytest.approx([0.5, -0.5], abs=1e-12)


def test_worked_example_weights_file(cli, tmp_path):
    f = tmp_path / "w.json"
    f.write_text(json.dumps(CASE2), encoding="utf-8")
    r = cli("worked-example", "--weights", f, "--json")
    assert r.status == 0, r.err
    d = r.json()
    # shapes in docs/study.md's layout: W, dW 2x3; V, dV 3x2
    assert len(d["dW"]) == 2 and len(d["dW"][0]) == 3
    assert len(d["dV"]) == 3 and len(d["dV"][0]) == 2
    assert d["k"] == pytest.approx([0.5 * 0.3 - 1.2 * 0.9 + 0.1, 0.5 * -0.7 - 1.2 * 0.2 - 0.2,
                                    0.5 * 1.1 + 1.2 * 0.4 + 0.05], abs=1e-12)
    assert any(abs(v) > 1e-3 for row in d["dW"] for v in row)  # not degenerate
    tables = cli("worked-example", "--weights", f)
    assert tables.status == 0 and "degenerate" not in tables.out


BAD_FILES = {
    "bad JSON": ("{not json", "not valid JSON"),
    "not an object": ("[1, 2]", "object"),
    "missing key": (json.dumps({k: v for k, v in CASE2.items() if k != "V"}), "V missing"),
    "unknown key": (json.dumps({**CASE2, "d": [0]}), "unknown key"),
    "wrong shape W": (json.dumps({**CASE2, "W": [[0.3, -0.7, 1.1]]}), "W must have 2 rows"),
    "ragged W": (json.dumps({**CASE2, "W": [[0.3, -0.7, 1.1], [0.9, 0.2]]}), "W[1] must have 3"),
    "wrong shape b": (json.dumps({**CASE2, "b": [0.1]}), "b must have 3"),
    "wrong shape V": (json.dumps({**CASE2, "V": [[1, 2], [3, 4]]}), "V must have 3 rows"),
    "wrong shape c": (json.dumps({**CASE2, "c": [0.0, 0.0, 0.0]}), "c must have 2"),
    "string": (json.dumps({**CASE2, "x": [0.5, "a"]}), "x[1] must be a finite number"),
    "boolean": (json.dumps({**CASE2, "b": [True, 0, 0]}), "b[0] must be a finite number"),
    "NaN": (json.dumps({**CASE2, "c": [0.0, float("nan")]}), "c[1] must be a finite number"),
    "one class": (json.dumps({**CASE2, "V": [[1], [2], [3]], "c": [0]}), "at least 2"),
    "empty x": (json.dumps({**CASE2, "x": []}), "x must be a non-empty list"),
    # an integer beyond the float range used to end in an OverflowError traceback
    "huge integer": (json.dumps(CASE2).replace("0.05, -0.1", "0.05, 1" + "0" * 400),
                     "c[1] must be a finite number, got 1000"),
    # finite numbers whose products overflow used to print NaN tables with exit status 0
    "overflow": (json.dumps({**CASE2, "x": [1e200, -1e200], "W": [[1e200, 1, 1], [1e200, 1, 1]]}),
                 "overflow double precision (k[0] is nan)"),
    "overflow to inf": (json.dumps({**CASE2, "x": [1e200, 1.0], "W": [[1e200, 1, 1], [1, 1, 1]]}),
                        "overflow double precision (k[0] is inf)"),
    # regression: deeply nested JSON raised RecursionError (a traceback)
    "nested too deeply": ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_worked_example_bad_weights_file(cli, tmp_path, case):
    text, message = BAD_FILES[case]
    f = tmp_path / "w.json"
    f.write_text(text, encoding="utf-8")
    r = cli("worked-example", "--weights", f)
    assert r.status == 2
    assert r.err.startswith("backproplab: error:") and message in r.err, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1


def test_worked_example_weights_nested_near_the_parsers_limit_is_one_sentence(cli, tmp_path):
    """Regression (deep JSON): just shallow enough to parse, the nesting used to raise
    RecursionError again while the message quoted the bad entry. Nesting beyond the
    reader's depth bound is refused as such; below it, the entry is named."""
    f = tmp_path / "w.json"
    seen = set()
    limit = sys.getrecursionlimit()
    for depth in [2, 3, JSON_MAX_DEPTH - 2, JSON_MAX_DEPTH - 1, JSON_MAX_DEPTH,
                  *range(limit - 150, limit + 10, 2)]:
        f.write_text(json.dumps({**CASE2, "x": "X"}).replace('"X"', "[" * depth + "]" * depth))
        r = cli("worked-example", "--weights", f)
        assert r.status == 2 and "Traceback" not in r.err and len(r.err.splitlines()) == 1
        seen.add("finite number" if "x[0] must be a finite number" in r.err else
                 "too deep" if "nested" in r.err and "deep" in r.err else r.err)
    assert seen == {"finite number", "too deep"}


def test_worked_example_extreme_but_representable_case_is_printed(cli, tmp_path):
    # y_c underflows to 0, so dl/dy_c = -1/y_c is -inf: legitimate, and every other value
    # (the loss of 1000 from log-sum-exp, the gradients) is finite and printed
    f = tmp_path / "w.json"
    f.write_text(json.dumps({**CASE2, "x": [1000.0, -1000.0], "W": [[1, 1, 1], [1, 1, 1]],
                             "b": [0, 0, 0], "V": [[1000, -1000], [1, 1], [1, 1]]}))
    r = cli("worked-example", "--weights", f, "--target", "1", "--json")
    assert r.status == 0, r.err
    d = r.json()
    assert d["loss"] == pytest.approx(1000.15, abs=0.01) and d["y"] == [1.0, 0.0]
    assert d["dy"] == [0.0, -math.inf]
    assert d["do"] == pytest.approx([1.0, -1.0]) and d["dV"] == [[0.5, -0.5]] * 3


def test_worked_example_missing_file_and_bad_target(cli, tmp_path):
    r = cli("worked-example", "--weights", tmp_path / "nope.json")
    assert r.status == 2 and "does not exist" in r.err
    r = cli("worked-example", "--weights", tmp_path)
    assert r.status == 2 and "cannot read" in r.err
    for target in ("2", "-1"):
        r = cli("worked-example", "--target", target)
        assert r.status == 2 and "--target" in r.err and "Traceback" not in r.err


def test_worked_example_bad_input_in_a_real_process(tmp_path):
    f = tmp_path / "w.json"
    f.write_text(json.dumps({**CASE2, "W": "oops"}), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "backproplab", "worked-example", "--weights", str(f)],
                       check=False, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "W must be a list of rows" in p.stderr


def test_gradcheck_scalar_passes(cli):
    r = cli("gradcheck", "--engine", "scalar", "--json")
    assert r.status == 0, r.out + r.err
    for shape in ("2-3-2", "2-4-3-2"):
        assert shape in r.err  # --json: the table goes to stderr
    assert len(r.out.splitlines()) == 1
    d = r.json()
    assert d["passed"] and d["engines"][0]["engine"] == "scalar"
    assert d["engines"][0]["max_rel_error"] < 1e-5


def test_gradcheck_fails_with_exit_1_below_the_noise(cli):
    r = cli("gradcheck", "--engine", "scalar", "--tol", "1e-15", "--seed", "3")
    assert r.status == 1 and "FAIL" in r.out


def test_gradcheck_bad_options(cli):
    assert cli("gradcheck", "--eps", "0").status == 2
    assert cli("gradcheck", "--tol", "-1").status == 2
    assert cli("gradcheck", "--engine", "gpu").status == 2


@pytest.mark.parametrize("seed", ["x", "-1", "1.5"])
def test_gradcheck_seed_is_the_shared_integer_option(cli, seed):
    r = cli("gradcheck", "--seed", seed)
    assert r.status == 2 and f"--seed must be an integer >= 0, got '{seed}'" in r.err
    assert r.out == "" and "Traceback" not in r.err  # nothing ran before the error


def test_gradcheck_knows_every_engine_and_no_other():
    from backproplab import gradcheck

    assert set(gradcheck.CHECKS) == {"scalar", "tensor"}
    with pytest.raises(BackproplabError, match="unknown engine 'gpu'; choose one of scalar, "
                                               "tensor or both"):
        gradcheck.run_checks("gpu")


def test_worked_example_piped_into_a_reader_that_leaves_is_status_141(tmp_path):
    # regression: `backproplab worked-example | head -1` exited with status 1 (rich's
    # own broken-pipe handling), where every other command ends with 141, silently
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "worked-example"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the tables are printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err.decode()
