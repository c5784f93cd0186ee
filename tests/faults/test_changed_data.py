"""A dataset that differs from the one a run started on (a data file edited
between runs) is refused on ``--resume`` and on a ``--config RUN/config.json``
replay, and a sweep or a reproduction whose recorded trials were trained on
other data is refused when it is run again, unless ``--allow-changed-data``
(issue 21, group 1)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess

from backproplab.data.idx import write_idx

needs_fashion = pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(),
                                reason="needs Debian's dataset-fashion-mnist")

ARGS = ("--dataset", "fashion-mnist", "--limit", "300", "--hidden", "8", "--threads", "1",
        "--quiet")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}


@needs_fashion
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


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the lock file too): path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_resumed_sweep_on_changed_data_is_refused_unless_allowed(tmp_path):
    from backproplab.data import load_dataset
    from backproplab.sweeps import Sweep
    from backproplab.sweeps.spec import prepare_sweep_dir
    from backproplab.training import TrainConfig, run_training
    from backproplab.training.data_identity import data_fingerprint

    # a table of 3 classes; the sweep's 2 trials: one finished, one interrupted
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).round(3)
    data = tmp_path / "table.csv"
    lines = ["a,b,c,d,label"] + [",".join(map(str, row)) + f",{i % 3}"
                                 for i, row in enumerate(x)]
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "sweep"
    sweep_args = ("sweep", "--dataset", data, "--hidden", "4", "--lr", "0.1,0.3",
                  "--epochs", "2", "--workers", "1", "--threads", "1", "--out", out)
    sweep = Sweep({"dataset": str(data), "hidden": (4,), "epochs": 2, "threads": 1},
                  {"lr": [0.1, 0.3]}, [0])
    prepare_sweep_dir(sweep, out)
    done, cut = sweep.trials(out)
    run_training(TrainConfig.from_dict(done.config), done.out_dir, progress="quiet")
    run_training(TrainConfig.from_dict({**cut.config, "epochs": 1}), cut.out_dir,
                 progress="quiet")
    cut_dir = Path(cut.out_dir)
    config = json.loads((cut_dir / "config.json").read_text())
    (cut_dir / "config.json").write_text(json.dumps({**config, "epochs": 2}))  # as asked
    for name in ("summary.json", "model.npz"):
        (cut_dir / name).unlink()
    old = json.loads((Path(done.out_dir) / "summary.json").read_text())["data_sha256"]

    # one label edited: the finished trial's summary and the other's checkpoint
    # were both trained on the data before
    lines[5] = lines[5][:-1] + str((int(lines[5][-1]) + 1) % 3)
    data.write_text("\n".join(lines) + "\n")
    new = data_fingerprint(load_dataset(str(data)))
    assert new != old
    before = tree(out)
    r = run_subprocess(*sweep_args, "--quiet")
    assert r.returncode == 2 and r.stdout == "", r.stderr
    (line,) = r.stderr.splitlines()  # one sentence, no traceback, no warning
    assert line.startswith("backproplab: error: the data differs from the data the trial "
                           "lr=0.1_seed=0 of this sweep was trained on"), line
    assert old[:12] in line and new[:12] in line and "--allow-changed-data" in line, line
    assert tree(out) == before  # nothing written, nothing removed, no lock taken

    # --aggregate-only trains nothing: the flag does not belong there
    r = run_subprocess("sweep", "--out", out, "--aggregate-only", "--allow-changed-data")
    assert r.returncode == 2 and "drop --allow-changed-data" in r.stderr, r.stderr

    r = run_subprocess(*sweep_args, "--allow-changed-data", "--json")
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout.splitlines()[-1])
    assert (counts["ok"], counts["skipped"], counts["failed"]) == (1, 1, 0)
    assert json.loads((Path(done.out_dir) / "summary.json").read_text())["data_sha256"] == old
    resumed = json.loads((cut_dir / "summary.json").read_text())
    assert resumed["data_sha256"] == new and resumed["epochs"] == 2


def write_images(folder: Path, label_shift: int = 0) -> None:
    """A small Fashion-MNIST-shaped IDX set (5,100 training images: the study's
    5,000 validation images and 100 to train on); ``label_shift`` moves every
    training label to a later class (the data edited)."""
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    for prefix, n in (("train", 5100), ("t10k", 100)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        shift = label_shift if prefix == "train" else 0
        write_idx(folder / f"{prefix}-labels-idx1-ubyte",
                  ((np.arange(n) + shift) % 10).astype(np.uint8))


def test_a_resumed_reproduction_on_changed_data_is_refused_unless_allowed(tmp_path):
    # regression: reproduce had no --allow-changed-data, so each recorded run of a
    # resumed reproduction failed with a message naming a flag reproduce refused
    from backproplab.training import TrainConfig, run_training

    data, out = tmp_path / "data", tmp_path / "repro"
    write_images(data)
    args = ("reproduce", "--dataset", "fashion-mnist", "--data-dir", data, "--quick",
            "--limit", "100", "--only", "seeds", "--workers", "1", "--out", out)
    r = run_subprocess(*args, "--quiet")
    assert r.returncode == 0, r.stderr
    # seed=1 interrupted after epoch 1 of its 3; seed=0 finished
    done, cut = out / "presets" / "seeds" / "seed=0", out / "presets" / "seeds" / "seed=1"
    config = json.loads((cut / "config.json").read_text())
    shutil.rmtree(cut)
    run_training(TrainConfig.from_dict({**config, "epochs": 1}), cut, progress="quiet")
    (cut / "config.json").write_text(json.dumps(config))  # as the preset asks
    for name in ("summary.json", "model.npz"):
        (cut / name).unlink()
    old = json.loads((done / "summary.json").read_text())["data_sha256"]
    model = (done / "model.npz").read_bytes()

    write_images(data, label_shift=1)
    before = tree(out)
    r = run_subprocess(*args, "--quiet")
    assert r.returncode == 2 and r.stdout == "", r.stderr
    (line,) = r.stderr.splitlines()  # one sentence, no traceback
    assert line.startswith("backproplab: error: the data differs from the data the trial "
                           "seeds/seed=0 of this reproduction was trained on"), line
    assert old[:12] in line and "--allow-changed-data" in line, line
    assert tree(out) == before  # nothing written, nothing removed, no lock taken

    r = run_subprocess(*args, "--allow-changed-data", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["failed_trials"] == []
    kept = json.loads((done / "summary.json").read_text())
    assert kept["data_sha256"] == old and (done / "model.npz").read_bytes() == model
    resumed = json.loads((cut / "summary.json").read_text())
    new = resumed["data_sha256"]
    assert new != old and new[:12] in line and resumed["epochs"] == config["epochs"] == 3
