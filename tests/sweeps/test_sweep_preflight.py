"""A sweep over a dataset that is not on the machine, or naming a library or device
missing here, fails once, up front, writing nothing."""

import sys

from tests.conftest import run_subprocess


def test_missing_dataset_is_one_error_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "sweep"
    r = cli("sweep", "--dataset", "mnist", "--data-dir", empty, "--lr", "0.01,0.1",
            "--seeds", "2", "--workers", "1", "--out", out, "--quiet")
    assert r.status == 2
    assert "mnist" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_momentum_no_trial_can_use_is_refused_before_any_trial_runs(cli, tmp_path):
    # momentum 0 used to pass the sweep's check and fail as a trial, after the others ran
    out = tmp_path / "sweep"
    r = cli("sweep", "--dataset", "synth", "--limit", "100", "--hidden", "4", "--epochs", "1",
            "--optimizer", "momentum", "--momentum", "0.5,0", "--workers", "1", "--out", out,
            "--quiet")
    assert r.status == 2 and "Traceback" not in r.err
    assert "--momentum must be a number in (0, 1), got 0.0" in r.err
    assert not out.exists()


def test_a_library_missing_here_is_one_error_before_anything_is_written(tmp_path):
    # BACKPROPLAB_BLAS=numpy hides OpenBLAS from the process (docs/training.md): a
    # sweep forcing --gemm openblas must refuse once, like train, not fail every trial
    out = tmp_path / "sweep"
    r = run_subprocess("sweep", "--gemm", "openblas", "--lr", "0.1,0.2", "--epochs", "1",
                       "--workers", "1", "--out", out, "--quiet",
                       env={"BACKPROPLAB_BLAS": "numpy"})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("backproplab: error: --gemm openblas is not available")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_device_gpu_without_cupy_is_one_error_naming_the_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # CuPy cannot be imported here
    out = tmp_path / "sweep"
    r = cli("sweep", "--device", "gpu", "--lr", "0.1,0.2", "--epochs", "1", "--workers", "1",
            "--out", out, "--quiet")
    assert r.status == 2
    assert 'needs CuPy' in r.err and 'pip install "backproplab[gpu]"' in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not out.exists()
