"""Damaged JSON (truncated, bit-flipped, garbage, nested thousands deep): the
``--weights`` reader raises BackproplabError and nothing else; the tolerant readers of
fileio never raise at all."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from tests.faults.damage import FAULTS, damaged

from backproplab.commands.worked_example import Q3, load_weights
from backproplab.errors import BackproplabError
from backproplab.fileio import parse_json, read_json, read_jsonl

WEIGHTS = json.dumps(Q3).encode()
METRICS = b"".join(json.dumps({"epoch": i, "loss": 1.0 / i}).encode() + b"\n"
                   for i in range(1, 4))


def _nested():
    """Arrays or objects nested up to far past the parser's recursion limit."""
    return st.tuples(st.integers(1, 20_000), st.sampled_from(["[", '{"a":'])).map(
        lambda t: (t[1] * t[0] + ("]" if t[1] == "[" else "}") * t[0]).encode())


def _damaged_json(good: bytes):
    return st.one_of(damaged(good), _nested())


@FAULTS
@given(data=_damaged_json(WEIGHTS))
def test_the_weights_reader_raises_only_backproplab_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("json") / "w.json"
    path.write_bytes(data)
    try:
        weights = load_weights(str(path))
    except BackproplabError as exc:
        assert "\n" not in str(exc)
        return
    assert set(weights) == set(Q3)


@FAULTS
@given(data=_damaged_json(WEIGHTS), lines=_damaged_json(METRICS))
def test_the_tolerant_readers_never_raise(tmp_path_factory, data, lines):
    """read_json never raises; read_jsonl drops a torn tail, and a line before the
    last that is not UTF-8 (damage, not a crash) is one BackproplabError naming it."""
    folder = tmp_path_factory.mktemp("json")
    (folder / "a.json").write_bytes(data)
    (folder / "m.jsonl").write_bytes(lines)
    read_json(folder / "a.json")
    try:
        rows = read_jsonl(folder / "m.jsonl")
    except BackproplabError as exc:
        assert "m.jsonl is damaged" in str(exc) and "not UTF-8" in str(exc)
    else:
        assert isinstance(rows, list)
    try:
        parse_json(data)
    except ValueError:
        pass
