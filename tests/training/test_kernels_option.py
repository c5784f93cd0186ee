"""The run option ``kernels``: resolved at the start, recorded in config.json, reused by a
replay and a resume (bit-identical), refused in one sentence where it cannot act or is
missing."""

import os

import pytest
from tests.conftest import needs_numba, run_subprocess
from tests.library_options import check_recorded_before, check_resume_keeps, recorded
from tests.same_results import fingerprint

from backproplab.errors import BackproplabError
from backproplab.sweeps.aggregate import group_key
from backproplab.sweeps.executors import configs_match
from backproplab.tensor import kernels
from backproplab.training import TrainConfig
from backproplab.training.options import MACHINE_OPTIONS, RESUMABLE_CHANGES

SYNTH = ["--dataset", "synth", "--limit", "3000", "--hidden", "32", "--epochs", "2",
         "--seed", "4", "--gemm", "openblas", "--threads", "1", "--quiet"]


def _kernels(run) -> str:
    return recorded(run, "kernels")


def test_config_records_the_kernels_and_a_replay_uses_them(cli, tmp_path):
    r = cli("train", *SYNTH, "--out", tmp_path / "auto")
    assert r.status == 0, r.err
    assert _kernels(tmp_path / "auto") == kernels.default_kernels()  # resolved, never null
    for name in kernels.KERNELS if kernels.present("numba") else ("numpy",):
        run = tmp_path / name
        r = cli("train", *SYNTH, "--kernels", name, "--out", run)
        assert r.status == 0, r.err
        assert _kernels(run) == name
        replay = tmp_path / f"replay-{name}"
        r = cli("train", "--config", run / "config.json", "--quiet", "--out", replay)
        assert r.status == 0, r.err
        assert _kernels(replay) == name
        assert fingerprint(replay) == fingerprint(run)


@needs_numba
def test_resume_with_numba_is_bit_identical_and_keeps_the_kernels(cli, tmp_path):
    check_resume_keeps(cli, tmp_path, SYNTH, "kernels", "numba", "numpy")


@pytest.mark.parametrize("how", ["resume", "replay"])
def test_a_run_recorded_before_the_option_continues_with_numpy(cli, tmp_path, how):
    check_recorded_before(cli, tmp_path, SYNTH, "kernels", "numpy", how)


def test_numba_is_refused_where_it_cannot_act(cli, tmp_path):
    for args, setting in ((["--optimizer", "adam"], {"optimizer": "adam"}),
                          (["--weight-decay", "0.01"], {"weight_decay": 0.01}),
                          (["--clip-norm", "1"], {"clip_norm": 1.0})):
        with pytest.raises(BackproplabError, match="computes only the plain-SGD step"):
            TrainConfig(kernels="numba", **setting).validate()
        out = tmp_path / args[0][2:]
        r = cli("train", *SYNTH, *args, "--kernels", "numba", "--out", out)
        assert r.status == 2 and not out.exists()
        assert r.err.strip().splitlines()[-1].startswith(
            "backproplab: error: --kernels numba computes only the plain-SGD step")
        assert "Traceback" not in r.err
    # where nothing is asked for, such runs record the NumPy kernels they compute with
    assert TrainConfig(dataset="synth", optimizer="adam").resolved().kernels == "numpy"
    assert TrainConfig(dataset="synth", engine="scalar").resolved().kernels is None
    with pytest.raises(BackproplabError, match="scalar engine does not support kernels"):
        TrainConfig(engine="scalar", kernels="numpy").validate()
    with pytest.raises(BackproplabError, match="applies only to device='cpu'"):
        TrainConfig(device="gpu", kernels="numba").validate()


def test_kernels_change_results_so_a_resume_keeps_them_and_sweeps_group_by_them():
    assert "kernels" not in RESUMABLE_CHANGES and "kernels" not in MACHINE_OPTIONS
    assert group_key({"lr": 0.1, "kernels": "numba"}) != group_key({"lr": 0.1,
                                                                    "kernels": "numpy"})
    stored = TrainConfig(dataset="synth", kernels="numpy").resolved().to_dict()
    # a trial that leaves the kernels to the machine matches the run it recorded
    assert configs_match(stored, {**stored, "kernels": None})
    assert not configs_match(stored, {**stored, "kernels": "numba"})


@needs_numba
def test_a_missing_numba_is_one_sentence_for_a_new_run_a_replay_and_a_resume(cli, tmp_path):
    r = cli("train", *SYNTH, "--kernels", "numba", "--epochs", "1", "--out", tmp_path / "m")
    assert r.status == 0, r.err
    fake = tmp_path / "no-numba"  # a numba that cannot be imported, first on the path
    (fake / "numba").mkdir(parents=True)
    (fake / "numba" / "__init__.py").write_text("raise ImportError('no numba here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    for args, out in ((["train", *SYNTH, "--kernels", "numba"], tmp_path / "new"),
                      (["train", "--config", tmp_path / "m" / "config.json", "--quiet"],
                       tmp_path / "replay"),
                      (["train", "--resume", "--epochs", "2", "--quiet"], tmp_path / "m")):
        r = run_subprocess(*args, "--out", out, env=env, timeout=120)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [(
            "backproplab: error: --kernels numba needs Numba, which is not installed; install "
            "it with pip install \"backproplab[numba]\" or --kernels numpy for a new run (a "
            "run that used numba replays and resumes only with it)")]
        assert out == tmp_path / "m" or not out.exists()  # nothing written
    assert _kernels(tmp_path / "m") == "numba"
