"""The run option ``gemm``: resolved at the start, recorded in config.json, reused by a
replay and a resume (bit-identical), refused in one sentence where missing."""

import os

import pytest
from tests.conftest import FASHION_MNIST_DIR, needs_mkl, run_subprocess
from tests.library_options import check_recorded_before, check_resume_keeps, recorded
from tests.same_results import fingerprint

from backproplab.errors import BackproplabError
from backproplab.sweeps.aggregate import group_key
from backproplab.tensor import blas
from backproplab.training import TrainConfig
from backproplab.training.options import MACHINE_OPTIONS, RESUMABLE_CHANGES

SYNTH = ["--dataset", "synth", "--limit", "3000", "--hidden", "32", "--epochs", "2",
         "--seed", "4", "--quiet"]
FASHION = ["--dataset", "fashion-mnist", "--limit", "2000", "--hidden", "300", "--epochs",
           "1", "--batch-size", "256", "--seed", "5", "--quiet"]
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                   reason="needs Debian's dataset-fashion-mnist")


def _gemm(run) -> str:
    return recorded(run, "gemm")


def test_config_records_the_gemm_and_a_replay_uses_it(cli, tmp_path):
    r = cli("train", *SYNTH, "--gemm", "numpy", "--out", tmp_path / "a")
    assert r.status == 0, r.err
    assert _gemm(tmp_path / "a") == "numpy"
    r = cli("train", *SYNTH, "--out", tmp_path / "auto")
    assert r.status == 0, r.err
    assert _gemm(tmp_path / "auto") == blas.default_gemm()  # resolved, never null
    r = cli("train", "--config", tmp_path / "a" / "config.json", "--quiet",
            "--out", tmp_path / "replay")
    assert r.status == 0, r.err
    assert _gemm(tmp_path / "replay") == "numpy"
    assert fingerprint(tmp_path / "replay") == fingerprint(tmp_path / "a")


@needs_mkl
def test_resume_with_mkl_is_bit_identical_to_an_uninterrupted_run(cli, tmp_path):
    check_resume_keeps(cli, tmp_path, SYNTH, "gemm", "mkl", "openblas")


@pytest.mark.parametrize("how", ["resume", "replay"])
def test_a_run_recorded_before_the_option_continues_with_openblas(cli, tmp_path, how):
    check_recorded_before(cli, tmp_path, SYNTH, "gemm", "openblas", how)


@needs_mkl
@needs_fashion
def test_with_mkl_the_same_seed_gives_the_same_weights_at_any_thread_count(cli, tmp_path):
    # MKL runs with conditional numerical reproducibility AUTO | STRICT: its products do
    # not depend on the threads (OpenBLAS's do: tests/training/test_threads.py)
    prints = []
    for name, n in (("a", 1), ("b", 2), ("c", 2)):
        r = cli("train", *FASHION, "--gemm", "mkl", "--threads", str(n),
                "--out", tmp_path / name)
        assert r.status == 0, r.err
        prints.append(fingerprint(tmp_path / name))
    assert prints[0] == prints[1] == prints[2]


@needs_mkl
def test_a_missing_mkl_is_one_sentence_for_a_new_run_a_replay_and_a_resume(cli, tmp_path):
    r = cli("train", *SYNTH, "--gemm", "mkl", "--epochs", "1", "--out", tmp_path / "m")
    assert r.status == 0, r.err
    hidden = {"BACKPROPLAB_BLAS": "openblas"}  # blas_libs: only OpenBLAS may be found
    for args, out in ((["train", *SYNTH, "--gemm", "mkl"], tmp_path / "new"),
                      (["train", "--config", tmp_path / "m" / "config.json", "--quiet"],
                       tmp_path / "replay"),
                      (["train", "--resume", "--epochs", "2", "--quiet"], tmp_path / "m")):
        r = run_subprocess(*args, "--out", out, env=hidden, timeout=120)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [(
            "backproplab: error: --gemm mkl is not available in this Python environment (or "
            "hidden by BACKPROPLAB_BLAS); install Intel's MKL with pip install "
            "\"backproplab[mkl]\" (a run that used it replays and resumes only with it), or "
            "choose another --gemm for a new run")]
        assert out == tmp_path / "m" or not out.exists()  # nothing written
    assert _gemm(tmp_path / "m") == "mkl"


def test_gemm_applies_to_the_tensor_engine_on_the_cpu_and_changes_results():
    with pytest.raises(BackproplabError, match="scalar engine does not support gemm='numpy'"):
        TrainConfig(engine="scalar", gemm="numpy").validate()
    with pytest.raises(BackproplabError, match="gemm applies only to device='cpu'"):
        TrainConfig(device="gpu", gemm="numpy").validate()
    assert TrainConfig(engine="scalar").resolved().gemm is None
    # not a machine option that changes no result: a resume keeps it, sweeps group by it
    assert "gemm" not in RESUMABLE_CHANGES and "gemm" not in MACHINE_OPTIONS
    assert group_key({"lr": 0.1, "gemm": "mkl"}) != group_key({"lr": 0.1, "gemm": "openblas"})


def test_a_sweep_trial_that_leaves_gemm_to_the_machine_matches_its_recorded_run():
    from backproplab.sweeps.executors import configs_match

    stored = TrainConfig(dataset="synth", gemm="numpy").resolved().to_dict()
    assert configs_match(stored, {"dataset": "synth"})  # auto: whatever the run recorded
    assert configs_match(stored, {"dataset": "synth", "gemm": "numpy"})
    assert not configs_match(stored, {"dataset": "synth", "gemm": "openblas"})
