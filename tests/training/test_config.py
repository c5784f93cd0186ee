"""TrainConfig: defaults, validation, resolution and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from backproplab import scalar
from backproplab.errors import BackproplabError
from backproplab.training import TrainConfig
from backproplab.training.config import ENGINE_DEFAULTS


def test_defaults_resolve_to_concrete_values():
    cfg = TrainConfig().resolved()
    assert cfg.engine == "tensor" and cfg.dataset == "synth"
    assert cfg.hidden == ENGINE_DEFAULTS["tensor"]["hidden"]
    assert cfg.lr == 0.1 and cfg.batch_size == 16 and cfg.dtype == "float32"
    assert cfg.normalize == "standardize" and cfg.init_std == 1.0
    assert isinstance(cfg.threads, int) and cfg.threads >= 1
    # nothing left at None except the options that mean "not given" (clip_norm: no
    # clipping; lr_gamma: only the step and exponential schedules have one; target and
    # test_data: only a dataset PATH has them)
    left = {k for k, v in cfg.to_dict().items() if v is None}
    assert left <= {"data_dir", "limit", "clip_norm", "lr_gamma", "target", "test_data"}
    assert TrainConfig(lr_schedule="step").resolved().lr_gamma == 0.1


def test_scalar_defaults_come_from_the_scalar_engine():
    cfg = TrainConfig(engine="scalar").resolved()
    assert cfg.hidden == (scalar.DEFAULT_HIDDEN,)
    assert cfg.lr == scalar.DEFAULT_LR
    assert cfg.batch_size == 1 and cfg.dtype == "float64"
    assert cfg.init_std == scalar.DEFAULT_INIT_STD


def test_image_datasets_default_to_unit_scaling_and_small_init():
    cfg = TrainConfig(dataset="fashion-mnist").resolved()
    assert cfg.normalize == "unit" and cfg.init_std == 0.1
    # init_std belongs to the normal initializer only
    assert TrainConfig(dataset="mnist", init="he-normal").resolved().init_std is None


def test_explicit_values_win_over_defaults():
    cfg = TrainConfig(hidden=(5, 4), lr=0.3, batch_size="full", dtype="float64",
                      threads=1, init_std=0.5).resolved()
    assert (cfg.hidden, cfg.lr, cfg.batch_size, cfg.dtype, cfg.threads, cfg.init_std) == \
        ((5, 4), 0.3, "full", "float64", 1, 0.5)


def test_round_trip_through_json():
    cfg = TrainConfig(hidden=(512, 256), optimizer="adam", lr=1e-3, batch_size="full",
                      limit=100, final=True, seed=7).resolved()
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["hidden"] == [512, 256]
    back = TrainConfig.from_dict(data)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()


def test_from_dict_missing_keys_take_defaults():
    assert TrainConfig.from_dict({"lr": 0.5}) == TrainConfig(lr=0.5)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(BackproplabError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(BackproplabError):
        TrainConfig.from_dict(["not", "a", "dict"])


@pytest.mark.parametrize("changes, word", [
    ({"lr": 0}, "lr"),
    ({"lr": -0.1}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"lr": float("inf")}, "lr"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"dataset": "cifar"}, "dataset"),
    ({"engine": "torch"}, "engine"),
    ({"activation": "gelu"}, "activation"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"init": "uniform"}, "init"),
    ({"dtype": "float16"}, "dtype"),
    ({"device": "tpu"}, "device"),
    ({"normalize": "minmax"}, "normalize"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": "half"}, "batch_size"),
    ({"batch_size": 2.0}, "batch_size"),
    ({"hidden": ()}, "hidden"),
    ({"hidden": (16, 0)}, "hidden"),
    ({"hidden": (16.5,)}, "hidden"),
    ({"limit": 0}, "limit"),
    ({"val_size": 0}, "val_size"),
    ({"seed": -1}, "seed"),
    ({"threads": 0}, "threads"),
    ({"momentum": 1.0}, "momentum"),
    ({"beta2": -0.1}, "beta2"),
    ({"eps": 0.0}, "eps"),
    ({"init_std": -1.0}, "init_std"),
    ({"init": "he-normal", "init_std": 0.5}, "init_std"),
    ({"final": "yes"}, "final"),
])
def test_validate_rejects_bad_values(changes, word):
    with pytest.raises(BackproplabError, match=word):
        TrainConfig(**changes).validate()


@pytest.mark.parametrize("changes, word", [
    ({"batch_size": 16}, "batch_size=16"),
    ({"optimizer": "adam"}, "adam"),
    ({"activation": "relu"}, "relu"),
    ({"init": "glorot-uniform"}, "glorot-uniform"),
    ({"dtype": "float32"}, "float32"),
])
def test_scalar_engine_refuses_what_it_cannot_do(changes, word):
    with pytest.raises(BackproplabError, match=f"scalar engine.*{word}"):
        TrainConfig(engine="scalar", **changes).validate()


def test_momentum_0_is_refused_only_where_an_optimizer_uses_it():
    # momentum 0 is no momentum: refused for the momentum optimizers (which cannot run
    # it), accepted where the option is not used (regression: sgd with momentum=0 was
    # told "for plain SGD use optimizer='sgd'")
    for optimizer in ("sgd", "adam"):
        TrainConfig(optimizer=optimizer, momentum=0.0).validate()
    for optimizer in ("momentum", "nesterov"):
        with pytest.raises(BackproplabError, match=r"momentum must be a number in \(0, 1\), "
                                                   r"got 0.0; for plain SGD use optimizer='sgd'"):
            TrainConfig(optimizer=optimizer, momentum=0.0).validate()
    with pytest.raises(BackproplabError, match=r"momentum must be a number in \[0, 1\), got "
                                               r"-0.1$"):
        TrainConfig(optimizer="sgd", momentum=-0.1).validate()

def test_validate_returns_self_for_chaining():
    cfg = TrainConfig()
    assert cfg.validate() is cfg


def test_hidden_accepts_a_list_or_a_single_width():
    assert TrainConfig(hidden=[512, 256]).hidden == (512, 256)
    assert TrainConfig(hidden=300).hidden == (300,)


def test_default_threads_are_the_cpus_this_process_may_use(monkeypatch):
    # all cores for a single run means the cores in the affinity mask (taskset, containers),
    # not every core of the host (the quota and others' load: tests/training/test_threads.py)
    import os

    from backproplab.training import threads

    monkeypatch.setattr(threads, "FACTS_MAX_AGE", 0)  # sample every time
    monkeypatch.setattr(threads, "others_busy_cores", lambda seconds: 0.0)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    big_steps = TrainConfig(dataset="fashion-mnist", batch_size=1024)
    assert big_steps.resolved().threads == 1
    assert TrainConfig(threads=4).resolved().threads == 4
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # no affinity API (macOS)
    assert big_steps.resolved().threads == 64
