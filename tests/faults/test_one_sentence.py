"""Inputs that used to end in a traceback: each is one sentence and exit 2 now (or, where
the input is legitimate, the command simply works). Every case is a real process."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from tests.conftest import run_subprocess

from backproplab.tensor import load_checkpoint


def assert_one_sentence(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("backproplab: error: "), r.stderr
    for word in words:
        assert word in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["train", "sweep", "reproduce"])
def test_out_at_a_symlink_loop(tmp_path, command):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for out in (tmp_path / "a", tmp_path / "a" / "run"):
        r = run_subprocess(command, "--out", out, timeout=60)
        assert_one_sentence(r, "loop of symbolic links", str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_normalization_shift_of_the_wrong_length(tiny_synth_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_synth_run, run)
    model, _, extra = load_checkpoint(run / "model.npz")
    extra["preprocessing"]["normalize"]["shift"] = [0.0] * 5  # synth has 2 features
    model.save(run / "model.npz", extra=extra)
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((3, 2)))
    for args in (("predict", run, inputs), ("evaluate", run)):
        r = run_subprocess(*args, timeout=120)
        assert_one_sentence(r, "normalization shift has 5 values for 2 features")


@pytest.mark.parametrize("value", ["http://[::1", "notaurl", "http://h:99999999/",
                                   "http://[::1]:x/", "ftp://example.org/"])
def test_a_malformed_mirror_url(tmp_path, value):
    # downloads on, but the URL is refused before any connection is tried
    env = {"BACKPROPLAB_OFFLINE": "0", "BACKPROPLAB_MIRRORS_MNIST": f"file:///x {value}",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run_subprocess("data", "download", "mnist", env=env, timeout=60)
    assert_one_sentence(r, "BACKPROPLAB_MIRRORS_MNIST", repr(value))
    assert not (tmp_path / "cache").exists()


def test_a_non_utf8_out_name_with_utf8_output(tmp_path):
    out = os.fsencode(tmp_path) + b"/run\xff"
    r = run_subprocess("train", "--hidden", "4", "--limit", "100", "--epochs", "1",
                       "--threads", "1", "--out", os.fsdecode(out),
                       env={"PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "run\\udcff" in r.stdout
    assert os.path.isfile(out + b"/model.npz")


def test_an_export_name_near_the_255_byte_limit(tiny_synth_run, tmp_path):
    pytest.importorskip("onnx")
    out = tmp_path / ("m" * 250 + ".onnx")  # 255 bytes: its temporary name would be 269
    r = run_subprocess("export", tiny_synth_run, "--format", "onnx", "--out", out,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_threads_beyond_any_machine(tmp_path, command):
    # was a ctypes OverflowError from the BLAS thread limit; the bound is h-perf's
    # (training.threads.MAX_THREADS), checked once, with the other options
    r = run_subprocess(command, "--threads", "100000000000000000000", "--out", tmp_path / "o",
                       timeout=60)
    assert_one_sentence(r, "--threads must be at most")
    assert not (tmp_path / "o").exists()
