"""A sweep refuses settings that none of its trials would use, like `train` does."""

import pytest


@pytest.mark.parametrize("args, flag", [
    (["--momentum", "0.5"], "--momentum"),                        # sgd ignores momentum
    (["--optimizer", "sgd,momentum", "--beta1", "0.8"], "--beta1"),  # no trial uses adam
    (["--lr-step-size", "2"], "--lr-step-size"),                  # constant schedule
    (["--patience", "3"], "--patience"),                          # no early stopping
    (["--data-dir", "."], "--data-dir"),                          # synth is generated
])
def test_ignored_setting_is_refused_before_anything_is_written(cli, tmp_path, args, flag):
    out = tmp_path / "s"
    r = cli("sweep", "--limit", "100", "--epochs", "1", "--lr", "0.1,0.2", *args,
            "--workers", "1", "--out", out, "--quiet")
    assert r.status == 2, r.err
    assert flag in r.err and "Traceback" not in r.err
    assert not out.exists()


def test_setting_used_by_some_trials_is_accepted(cli, tmp_path):
    out = tmp_path / "s"
    r = cli("sweep", "--limit", "100", "--epochs", "1", "--optimizer", "sgd,momentum",
            "--momentum", "0.5", "--workers", "1", "--out", out, "--quiet", "--json")
    assert r.status == 0, r.err
    assert r.json()["ok"] == 2
