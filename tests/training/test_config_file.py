"""``train --config FILE``: replay a run from its config.json, flags on top; bad files."""

from __future__ import annotations

import json

import pytest
from tests.conftest import needs_numba
from tests.library_options import recorded
from tests.same_results import fingerprint

from backproplab.errors import BackproplabError
from backproplab.training import TrainConfig

RUN = ("--dataset", "synth", "--limit", "600", "--epochs", "2", "--hidden", "8,4",
       "--optimizer", "adam", "--lr", "0.01", "--activation", "relu", "--lr-schedule", "cosine",
       "--seed", "3", "--threads", "1", "--quiet")


@pytest.fixture
def first_run(cli, tmp_path):
    out = tmp_path / "first"
    r = cli("train", *RUN, "--out", out)
    assert r.status == 0, r.err
    return out


def test_a_run_replayed_from_its_config_is_bit_identical(cli, tmp_path, first_run):
    other = tmp_path / "other"
    r = cli("train", "--config", first_run / "config.json", "--out", other, "--quiet")
    assert r.status == 0, r.err
    assert fingerprint(other) == fingerprint(first_run)  # parameters and metrics
    saved = json.loads((first_run / "config.json").read_text())
    assert json.loads((other / "config.json").read_text()) == saved


def test_flags_beside_the_config_override_its_values(cli, tmp_path, first_run):
    other = tmp_path / "longer"
    r = cli("train", "--config", first_run / "config.json", "--epochs", "3", "--out", other,
            "--quiet")
    assert r.status == 0, r.err
    saved = json.loads((first_run / "config.json").read_text())
    replayed = json.loads((other / "config.json").read_text())
    assert replayed == {**saved, "epochs": 3}
    # a flag the replayed run would ignore is refused, as without --config
    r = cli("train", "--config", first_run / "config.json", "--momentum", "0.5", "--out",
            tmp_path / "never", "--quiet")
    assert r.status == 2 and "--momentum applies only to --optimizer momentum or nesterov" in r.err
    assert not (tmp_path / "never").exists()


def test_a_partial_config_takes_the_defaults(cli, tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"hidden": [4], "limit": 200, "epochs": 1}))
    r = cli("train", "--config", path, "--out", tmp_path / "r", "--quiet")
    assert r.status == 0, r.err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["hidden"] == [4] and saved["lr"] == 0.1 and saved["batch_size"] == 16


@pytest.mark.parametrize("content, words", [
    ("{not json", "is not JSON"),
    ("[1, 2]", "a training config must be a JSON object of options"),
    ('{"learning_rate": 0.1}', "unknown training option(s) learning_rate"),
    ('{"lr": "fast"}', "lr must be a positive number, got 'fast'"),
    ('{"epochs": 2.5}', "epochs must be an integer >= 1, got 2.5"),
    ('{"hidden": "300"}', "hidden must list at least one layer width"),
    ('{"final": "yes"}', "final must be true or false"),
])
def test_a_bad_config_file_is_one_sentence_and_status_2(cli, tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    r = cli("train", "--config", path, "--out", tmp_path / "never")
    assert r.status == 2, r.err
    assert words in r.err and str(path) in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert not (tmp_path / "never").exists()


def test_a_missing_config_file_and_resume_with_a_config(cli, tmp_path):
    r = cli("train", "--config", tmp_path / "missing.json", "--out", tmp_path / "never")
    assert r.status == 2 and "cannot read the config file" in r.err
    path = tmp_path / "c.json"
    path.write_text("{}")
    r = cli("train", "--config", path, "--resume", "--out", tmp_path / "never")
    assert r.status == 2 and "drop --config" in r.err


def test_from_json_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"lr": -1}')
    with pytest.raises(BackproplabError) as info:
        TrainConfig.from_json(path)
    assert str(info.value).startswith(f"the config file {path} is not a valid training config: "
                                      "lr must be a positive number")
    path.write_text('{"lr": 0.5, "hidden": [16]}')
    assert TrainConfig.from_json(path) == TrainConfig(lr=0.5, hidden=(16,))


@needs_numba
@pytest.mark.parametrize("change", [("--optimizer", "adam", "--lr", "0.01"),
                                    ("--weight-decay", "1e-4"), ("--clip-norm", "1")])
def test_a_plain_sgd_run_replayed_with_another_step_takes_the_numpy_kernels(cli, tmp_path,
                                                                             change):
    # the replayed run recorded the compiled plain-SGD loops, which cannot compute the
    # changed step: the replay used to be refused over a --kernels the user never gave
    first = tmp_path / "sgd"
    r = cli("train", "--dataset", "synth", "--limit", "200", "--epochs", "1", "--hidden", "4",
            "--threads", "1", "--out", first, "--quiet")
    assert r.status == 0, r.err
    assert recorded(first, "kernels") == "numba"
    other = tmp_path / "other"
    r = cli("train", "--config", first / "config.json", *change, "--out", other, "--quiet")
    assert r.status == 0, r.err
    assert recorded(other, "kernels") == "numpy"
    # the loops asked for by name are still refused
    r = cli("train", "--config", first / "config.json", *change, "--kernels", "numba", "--out",
            tmp_path / "never", "--quiet")
    assert r.status == 2 and "--kernels numba computes only the plain-SGD step" in r.err
