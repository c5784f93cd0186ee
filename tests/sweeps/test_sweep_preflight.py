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
