"""Option groups declared once (training/config.py's ``option(group=..., resumable=...)``):
the lists of options by job are derived from them, so a new option lands in each."""

from __future__ import annotations

import dataclasses

import pytest

from backproplab import tensor
from backproplab.data import load_configured, load_dataset
from backproplab.runs import CONFIG
from backproplab.sweeps import ray_executor, spec
from backproplab.training import TrainConfig, run_training, settings
from backproplab.training.config import GROUPS, option
from backproplab.training.options import (
    DATA_OPTIONS,
    MACHINE_OPTIONS,
    RESUMABLE_CHANGES,
    data_options,
    optimizer_options,
    options_in,
)


def test_every_option_declares_one_known_group():
    assert {s.group for s in settings()} <= set(GROUPS)
    assert sum(len(options_in(g)) for g in GROUPS) == len(settings())
    with pytest.raises(ValueError, match="unknown option group"):
        option(1, "help", group="misc")


def test_exactly_the_data_options_decide_the_ray_data_key():
    # a data option missing from the key would let Ray trials share the wrong dataset
    data = {s.name for s in settings() if s.group == "data"}
    assert set(ray_executor.DATA_OPTIONS) == set(DATA_OPTIONS) == data
    assert {"dataset", "limit", "data_seed", "dtype"} <= data and "lr" not in data
    base = ray_executor.data_key(TrainConfig(limit=100).to_dict())
    changes = {"limit": 50, "data_seed": 1, "final": True, "normalize": "unit",
               "dtype": "float64", "val_size": 10, "data_dir": "elsewhere", "dataset": "mnist"}
    assert set(changes) <= data
    for name, value in changes.items():
        key = ray_executor.data_key(TrainConfig(**{"limit": 100, name: value}).to_dict())
        assert key != base, name
    for other in ({"lr": 0.5}, {"seed": 3}, {"hidden": (4,)}, {"threads": 1}):
        assert ray_executor.data_key(TrainConfig(limit=100, **other).to_dict()) == base


def test_a_new_data_field_joins_the_data_options():
    @dataclasses.dataclass
    class Extended(TrainConfig):
        sheet: str = option("Sheet1", "which sheet of a workbook to read", group="data")

    fields = [f.name for f in dataclasses.fields(Extended) if f.metadata["group"] == "data"]
    assert fields == [*DATA_OPTIONS, "sheet"]


def test_the_data_loader_takes_exactly_the_data_options():
    # data/ keeps no list of its own: it is given the data group of a config, picked by
    # the declarations, and every one reaches load_dataset (a new data option the loader
    # does not take fails here, and in every run, instead of being dropped)
    config = TrainConfig(limit=50, data_seed=2, normalize="unit", dtype="float64").to_dict()
    assert list(data_options(config)) == list(DATA_OPTIONS)
    got = load_configured(data_options(config))
    want = load_dataset("synth", limit=50, seed=2, normalize="unit", dtype="float64")
    assert got.X_train.dtype == want.X_train.dtype
    assert (got.X_train == want.X_train).all() and (got.X_eval == want.X_eval).all()
    with pytest.raises(TypeError, match="unexpected keyword"):  # a whole config is not its data options
        load_configured(config)


def test_resumable_and_machine_options_come_from_the_declarations():
    assert set(RESUMABLE_CHANGES) == {"epochs", "threads", "data_dir", "divergence_factor",
                                      "divergence_patience", "tensorboard"}
    # device changes results; tensorboard (output) only writes more files
    assert MACHINE_OPTIONS == spec.MACHINE_OPTIONS == ("threads", "tensorboard")


@pytest.mark.parametrize("name, expected", [
    ("sgd", {"weight_decay": 0.0}),
    ("momentum", {"momentum": 0.9, "weight_decay": 0.0}),
    ("nesterov", {"momentum": 0.9, "weight_decay": 0.0}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}),
])
def test_optimizer_options_are_the_optimizer_group_that_applies(name, expected):
    assert set(tensor.OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam"}
    assert optimizer_options(TrainConfig(optimizer=name)) == expected
    clipped = optimizer_options(TrainConfig(optimizer=name, clip_norm=2.0, weight_decay=0.1))
    assert clipped == {**expected, "weight_decay": 0.1, "clip_norm": 2.0}
    model = tensor.MLP([2, 3, 2], seed=0)
    tensor.make_optimizer(name, model, 0.1, **clipped)  # every one is a keyword it takes


def test_a_resume_may_change_only_the_resumable_options(tmp_path):
    cfg = TrainConfig(hidden=(4,), limit=200, epochs=1, threads=1)
    run_training(cfg, tmp_path / "r", progress="quiet")
    run_training(cfg.replace(epochs=2, threads=2, divergence_patience=4), tmp_path / "r",
                 resume=True, progress="quiet")
    assert TrainConfig.from_json(tmp_path / "r" / CONFIG).epochs == 2
    with pytest.raises(Exception, match="cannot resume with different options .*lr"):
        run_training(cfg.replace(epochs=3, lr=0.5), tmp_path / "r", resume=True,
                     progress="quiet")


def test_one_registry_of_engines():
    # training.engines.ENGINES is the registry; the option's choices and gradcheck's
    # checks (gradcheck sits below training: it keeps its own table) name the same engines
    from backproplab import gradcheck
    from backproplab.training.config import ENGINE_NAMES
    from backproplab.training.engines import ENGINES

    assert tuple(ENGINES) == ENGINE_NAMES == settings()[[s.name for s in settings()].index(
        "engine")].choices
    assert set(gradcheck.CHECKS) == set(ENGINES)
