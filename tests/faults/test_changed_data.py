"""A dataset that differs from the one a run started on (a data file edited
between runs) is refused on ``--resume`` and on a ``--config RUN/config.json``
replay, unless ``--allow-changed-data`` (issue 21, group 1)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess

pytestmark = pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(),
                                reason="needs Debian's dataset-fashion-mnist")

ARGS = ("--dataset", "fashion-mnist", "--limit", "300", "--hidden", "8", "--threads", "1",
        "--quiet")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}


def test_changed_data_is_refused_on_resume_and_replay_unless_allowed(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    shutil.copytree(FASHION_MNIST_DIR, data)
    r = run_subprocess("train", *ARGS, "--data-dir", data, "--epochs", "1", "--out", run)
    assert r.returncode == 0, r.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["data_sha256"]) == 64
    # the same data replays and resumes without a word about it
    r = run_subprocess("train", "--config", run / "config.json", "--out", tmp_path / "same",
                       "--quiet")
    assert r.returncode == 0 and "data" not in r.stderr, r.stderr

    # edit one file: every training label moves to the next class
    path = data / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8:] = ((np.frombuffer(bytes(raw[8:]), np.uint8) + 1) % 10).astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(bytes(raw), mtime=0))

    before = snapshot(run)
    for args in (("--out", run, "--resume", "--epochs", "2"),
                 ("--config", run / "config.json", "--out", tmp_path / "replay")):
        r = run_subprocess("train", *args, "--quiet")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        err = r.stderr.strip().splitlines()[-1]  # a warning about the data may come first
        assert "the data differs from the data the run" in err and "--allow-changed-data" in err
        assert summary["data_sha256"][:12] in err, err
    assert snapshot(run) == before and not (tmp_path / "replay").exists()

    for args in (("--out", run, "--resume", "--epochs", "2"),
                 ("--config", run / "config.json", "--out", tmp_path / "replay")):
        r = run_subprocess("train", *args, "--allow-changed-data", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.splitlines()[-1])["data_sha256"] != summary["data_sha256"]
    # a replay that asks for other data on purpose is not a replay of the data
    r = run_subprocess("train", "--config", run / "config.json", "--limit", "200",
                       "--out", tmp_path / "other", "--quiet")
    assert r.returncode == 0, r.stderr
