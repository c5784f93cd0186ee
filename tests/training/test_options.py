"""Training options as data (training/options.py), and library messages that name
settings as Python does: ``lr``, not the command line's ``--lr``."""

from __future__ import annotations

import dataclasses

import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import OPTIMIZERS
from backproplab.training import TrainConfig, check_settings_apply, settings
from backproplab.training import options as options_module
from backproplab.training.config import option
from backproplab.training.options import setting


@pytest.mark.parametrize("changes, message, named", [
    ({"lr": -1}, "lr must be a positive number, got -1; try lr=0.01", ("lr",)),
    ({"batch_size": 0}, "batch_size must be a positive integer or 'full', got 0",
     ("batch_size",)),
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0", ("epochs",)),
    ({"weight_decay": -1.0}, "weight_decay must be a number >= 0, got -1.0", ("weight_decay",)),
    ({"clip_norm": 0.0}, "clip_norm must be a positive number, got 0.0", ("clip_norm",)),
    ({"init": "he-normal", "init_std": 0.5},
     "init_std applies only to init='normal', not 'he-normal'; drop init_std", ("init_std",)),
    ({"engine": "scalar", "batch_size": 8},
     ("the scalar engine does not support batch_size=8 (it trains one example at a time); "
      "drop it or use engine='tensor'"), ()),
    ({"engine": "scalar", "weight_decay": 0.1},
     ("the scalar engine does not support weight decay (weight_decay=0.1); drop it or use "
      "engine='tensor'"), ()),
    ({"activation": "gelu"}, ("unknown activation 'gelu'; choose activation='sigmoid', 'relu' "
                              "or 'tanh'"), ()),
    ({"restore_best": True}, ("restore_best keeps the best weights of early stopping; add "
                              "early_stopping=True or drop restore_best"), ("restore_best",)),
    ({"early_stopping": True, "final": True},
     ("early stopping monitors the validation split, but final=True evaluates on the test set "
      "(choosing the epoch on it would leak the test set); drop final=True or "
      "early_stopping=True"), ()),
    ({"lr_schedule": "step", "lr_gamma": 2.0}, "lr_gamma must be a number in (0, 1]",
     ("lr_gamma",)),
    ({"early_stopping": True, "patience": 0}, "patience must be an integer >= 1 epoch, got 0",
     ("patience",)),
])
def test_library_messages_name_settings_by_their_python_names(changes, message, named):
    with pytest.raises(BackproplabError) as info:
        TrainConfig(**changes).validate()
    text = str(info.value)
    assert text.startswith(message)
    assert "--" not in text  # no command-line flag a Python user never typed
    assert info.value.settings == named


def test_settings_describe_every_field_in_order():
    fields = dataclasses.fields(TrainConfig)
    assert [s.name for s in settings()] == [f.name for f in fields]
    assert all(s.help for s in settings())
    assert setting("optimizer").choices == tuple(OPTIMIZERS)  # the registry, not a copy
    assert setting("lr").kind is float and setting("epochs").kind is int
    assert setting("final").kind is bool and setting("hidden").kind is None


@pytest.mark.parametrize("name, text", [
    ("momentum", "0.9"),
    ("eps", "1e-08"),
    ("batch_size", "tensor 16, scalar 1"),         # ENGINE_DEFAULTS
    ("hidden", "tensor 300, scalar 8"),            # the scalar engine's own constant
    ("lr", "0.1"),                                 # the same for both engines
    ("init_std", "synth 1, mnist and fashion-mnist 0.1"),  # DATASET_DEFAULTS
    ("lr_gamma", "step 0.1, exponential 0.9"),     # schedules.DEFAULT_GAMMA
    ("clip_norm", "off"),
    ("early_stopping", "off"),
])
def test_defaults_in_words_come_from_the_defaults_tables(name, text):
    assert setting(name).default_text == text


def test_parse_reads_text_as_the_field_type():
    assert setting("lr").parse("0.5") == 0.5
    assert setting("hidden").parse("512,256") == (512, 256)
    assert setting("batch_size").parse("full") == "full"
    with pytest.raises(BackproplabError, match="^epochs must be an integer, got 'two'$") as info:
        setting("epochs").parse("two")
    assert info.value.settings == ("epochs",)


@pytest.mark.parametrize("given, config, message", [
    ({"momentum"}, TrainConfig(),
     ("momentum applies only to optimizer='momentum' or 'nesterov', not 'sgd'; drop momentum "
      "or choose one of those")),
    ({"lr_step_size"}, TrainConfig(lr_schedule="cosine"),
     "lr_step_size applies only to lr_schedule='step', not 'cosine'"),
    ({"patience"}, TrainConfig(),
     "patience applies only with early_stopping=True; add early_stopping=True or drop patience"),
    ({"data_dir"}, TrainConfig(dataset="synth"),
     "data_dir applies only to dataset='mnist' or 'fashion-mnist', not 'synth'"),
])
def test_a_setting_the_run_would_ignore_is_refused(given, config, message):
    with pytest.raises(BackproplabError) as info:
        check_settings_apply(given, config)
    assert str(info.value).startswith(message)
    assert info.value.settings == tuple(given)


def test_a_setting_some_trial_of_a_grid_reads_is_accepted():
    check_settings_apply({"momentum"}, TrainConfig(), {"optimizer": ["sgd", "momentum"]})
    check_settings_apply({"momentum"}, TrainConfig(optimizer="nesterov"))
    check_settings_apply({"lr", "epochs"}, TrainConfig())  # read by every run
    with pytest.raises(BackproplabError, match="not 'sgd' or 'adam'"):
        check_settings_apply({"momentum"}, TrainConfig(), {"optimizer": ["sgd", "adam"]})


def test_a_new_field_is_a_new_flag_with_its_help(monkeypatch, cli):
    # adding an option is one change: a field declared with option()
    @dataclasses.dataclass
    class Extended(TrainConfig):
        divergence_patience: int = option(3, "non-finite epochs tolerated before stopping",
                                          applies=("optimizer", ("adam",)), group="stopping")

    monkeypatch.setattr(options_module, "TrainConfig", Extended)
    options_module.settings.cache_clear()
    try:
        assert setting("divergence_patience").default_text == "3"
        r = cli("train", "--help")
        help_text = " ".join(r.out.split())
        assert ("--divergence-patience N non-finite epochs tolerated before stopping; with "
                "--optimizer adam (default: 3)") in help_text
        r = cli("train", "--divergence-patience", "x", "--out", "never")
        assert r.status == 2 and "--divergence-patience must be an integer, got 'x'" in r.err
    finally:
        options_module.settings.cache_clear()


def test_train_help_shows_every_option_with_its_default_and_choices(cli):
    from backproplab.commands.options import flag

    r = cli("train", "--help")
    text = " ".join(r.out.split())
    for s in settings():
        assert f"{flag(s.name)} " in text
        if s.kind is not bool:
            assert f"(default: {s.default_text})" in text, s.name
        if s.choices:
            assert " | ".join(s.choices) in text, s.name
    assert "--config FILE" in text
