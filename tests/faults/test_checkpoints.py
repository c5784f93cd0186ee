"""Checkpoints are complete or refused (issue 21, group 1): a checkpoint whose
optimizer buffers, step counts or divergence guard state do not fit its run
resumes into a different model, so ``--resume`` refuses it with one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import run_subprocess
from tests.faults.damage import edit_checkpoint
from tests.killing import CONFIG

from backproplab.training import run_training


def drop_buffers(arrays, extra, optim):
    for key in [k for k in arrays if k.startswith("optim/")]:
        del arrays[key]


def drop_one_buffer(arrays, extra, optim):
    del arrays[max(k for k in arrays if k.startswith("optim/"))]


DAMAGE = {
    "optim buffers removed": (drop_buffers, "lacks the buffers"),
    "one optim buffer removed": (drop_one_buffer, "lacks the buffers"),
    "optimizer state removed": (lambda a, e, o: o.update(_drop=True), "holds no state"),
    "divergence garbage": (lambda a, e, o: e.update(divergence="garbage"), "divergence guard"),
    "divergence strikes -1": (lambda a, e, o: e.update(divergence={"initial": 2.3,
                                                                    "strikes": -1}),
                              "strike count"),
    "divergence initial NaN": (lambda a, e, o: e.update(divergence={"initial": float("nan"),
                                                                     "strikes": 0}),
                               "initial loss"),
    "steps -5": (lambda a, e, o: e.update(steps=-5), "step count -5"),
    "optimizer steps -5": (lambda a, e, o: o.update(steps=-5), "step count -5"),
    "steps a string": (lambda a, e, o: e.update(steps="80"), "step count '80'"),
    "steps one short": (lambda a, e, o: (e.update(steps=e["steps"] - 1),
                                         o.update(steps=o["steps"] - 1)), "not the 80 steps"),
    "optimizer steps differ": (lambda a, e, o: o.update(steps=o["steps"] + 3),
                               "optimizer took 83 steps"),
}


@pytest.fixture(scope="module", params=["adam", "momentum"])
def stopped(request, tmp_path_factory) -> Path:
    """A run of 4 epochs stopped after 2 (its checkpoint), adam or momentum."""
    out = tmp_path_factory.mktemp(request.param) / "run"
    lr = 0.01 if request.param == "adam" else 0.05
    run_training(CONFIG.replace(epochs=2, optimizer=request.param, lr=lr), out,
                 progress="quiet")
    return out


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_checkpoint_that_does_not_fit_its_run_is_refused(stopped, tmp_path, damage):
    out = tmp_path / "run"
    out.mkdir()
    for path in stopped.iterdir():
        if path.is_file():
            (out / path.name).write_bytes(path.read_bytes())
    edit, why = DAMAGE[damage]
    edit_checkpoint(out / "checkpoint.npz", edit)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = run_subprocess("train", "--out", out, "--resume", "--epochs", "4", "--quiet",
                       timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr and why in r.stderr and "checkpoint" in r.stderr, r.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {k: v for k, v in after.items() if k != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}


def test_an_intact_checkpoint_still_resumes(stopped, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for path in stopped.iterdir():
        if path.is_file():
            (out / path.name).write_bytes(path.read_bytes())
    r = run_subprocess("train", "--out", out, "--resume", "--epochs", "3", "--json",
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["epochs"] == 3
