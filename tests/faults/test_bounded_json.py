"""Every JSON file is read with a bound: a FIFO or a device given where a JSON file is
expected is refused at once, a file over the size bound is refused before it is read, and
nesting beyond the depth bound is one sentence, never a RecursionError. Each CLI run is a
real process with its address space limited to 1 GiB, so a regression fails fast instead
of eating the machine."""

from __future__ import annotations

import os
import resource
import shutil

import pytest
from tests.conftest import run_subprocess

from backproplab.fileio import JSON_MAX_BYTES, JSON_MAX_DEPTH, load_json, read_json

LIMIT = 1 << 30  # the child's address space: far below what reading /dev/zero would take


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def backproplab(*args, timeout: float = 60):
    """``python -m backproplab ARGS`` with its memory limited; FIFOs must not hang it."""
    return run_subprocess(*args, timeout=timeout, preexec_fn=limited)


def assert_one_sentence(r, *words):
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for word in words:
        assert word in r.stderr, r.stderr


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("json") / "run"
    r = run_subprocess("train", "--hidden", "4", "--limit", "200", "--epochs", "1",
                       "--threads", "1", "--out", out, "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def test_a_device_as_config_or_weights_is_refused(tmp_path):
    r = backproplab("train", "--config", "/dev/zero", "--out", tmp_path / "run")
    assert_one_sentence(r, "/dev/zero", "a device, not a regular file")
    assert not (tmp_path / "run").exists()
    r = backproplab("worked-example", "--weights", "/dev/zero")
    assert_one_sentence(r, "/dev/zero", "a device, not a regular file")


def test_a_fifo_as_config_or_weights_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    r = backproplab("train", "--config", fifo, "--out", tmp_path / "run", timeout=30)
    assert_one_sentence(r, str(fifo), "a FIFO, not a regular file")
    r = backproplab("worked-example", "--weights", fifo, timeout=30)
    assert_one_sentence(r, str(fifo), "a FIFO, not a regular file")


@pytest.mark.parametrize("opener", ['{"x":', "["])
@pytest.mark.parametrize("depth", [100, 900, 1000, 100_000])
def test_config_nested_deep_is_one_sentence_via_config_and_resume(tmp_path, run_folder,
                                                                    opener, depth):
    closer = "}" if opener.startswith("{") else "]"
    deep = tmp_path / "deep.json"
    deep.write_text(opener * depth + "1" + closer * depth)
    r = backproplab("train", "--config", deep, "--out", tmp_path / "run")
    assert_one_sentence(r, str(deep), "nested")
    resumed = tmp_path / "resumed"
    shutil.copytree(run_folder, resumed)
    (resumed / "summary.json").unlink()
    shutil.copy(deep, resumed / "config.json")
    r = backproplab("train", "--resume", "--out", resumed)
    assert_one_sentence(r, str(resumed / "config.json"), "nested")


def test_summary_linked_to_a_device_reads_as_no_summary(tmp_path, run_folder):
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    (run / "summary.json").unlink()
    (run / "summary.json").symlink_to("/dev/zero")
    for args in (("plot", run), ("evaluate", run), ("train", "--resume", "--out", run)):
        r = backproplab(*args)
        assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, (args, r.stderr)
        assert r.returncode in (0, 2), (args, r.stderr)


def test_the_json_reader_bounds_size_and_depth(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * (JSON_MAX_BYTES // 2) + "0]")
    with pytest.raises(OSError, match="more than"):
        load_json(big)
    assert read_json(big) is None
    ok = tmp_path / "ok.json"
    ok.write_text("[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH)
    expected: list = []
    for _ in range(JSON_MAX_DEPTH - 1):
        expected = [expected]
    assert load_json(ok) == expected
    ok.write_text("[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1))
    with pytest.raises(ValueError, match=f"more than {JSON_MAX_DEPTH} deep"):
        load_json(ok)
    with pytest.raises(OSError, match="a folder, not a regular file"):
        load_json(tmp_path)
