"""A run's data is rebuilt one way: ``data.load_configured`` from its config."""

import numpy as np
import pytest

from backproplab.data import load_configured, load_dataset
from backproplab.errors import BackproplabError
from backproplab.training import TrainConfig, load_run_dataset


def test_a_resolved_config_gives_the_data_training_used():
    cfg = TrainConfig(dataset="synth", limit=300, normalize="unit", data_seed=3, dtype="float64")
    a = load_run_dataset(cfg)
    b = load_dataset("synth", limit=300, normalize="unit", seed=3, dtype=np.float64)
    assert a.X_train.dtype == np.float64
    for name in ("X_train", "y_train", "X_eval", "y_eval"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_keys_an_older_config_lacks_take_the_defaults():
    old = load_configured({"dataset": "synth", "limit": 200})
    new = load_dataset("synth", limit=200)
    assert old.X_train.dtype == np.float32 and np.array_equal(old.X_eval, new.X_eval)


def test_without_download_a_missing_dataset_is_one_error(tmp_path):
    with pytest.raises(BackproplabError, match="mnist"):
        load_configured({"dataset": "mnist", "data_dir": str(tmp_path)}, download=False)
