"""Fixtures shared by the sweep tests (local and Ray executors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def interrupted_trial():
    """``make(sweep, out, index=1)``: a sweep folder as a sweep killed in the
    second epoch of trial ``index`` leaves it (``sweep.json``, that trial's
    ``config.json`` and its checkpoint of epoch 1, no summary, no model);
    returns that trial."""
    from backproplab.sweeps.spec import prepare_sweep_dir
    from backproplab.training import TrainConfig, run_training

    def make(sweep, out: Path, index: int = 1):
        prepare_sweep_dir(sweep, out)
        trial = sweep.trials(out)[index]
        folder = Path(trial.out_dir)
        run_training(TrainConfig.from_dict({**trial.config, "epochs": 1}), folder,
                     progress="quiet")
        config = json.loads((folder / "config.json").read_text())
        config["epochs"] = trial.config["epochs"]
        (folder / "config.json").write_text(json.dumps(config))
        for name in ("summary.json", "model.npz"):
            (folder / name).unlink()
        return trial

    return make
