"""The same seeds give the same run folders as the code before the redesign
(tests/same_results.py holds the commands and how the fingerprints are made)."""

import json
import os

import pytest
from tests.conftest import FASHION_MNIST_DIR
from tests.same_results import FIXTURE, RUNS, fingerprint

EXPECTED = json.loads(FIXTURE.read_text())


def _pinned(args: list[str]) -> list[str]:
    """The run's arguments with the machine pinned as the baseline was made: one
    thread and, for the tensor engine, NumPy's OpenBLAS and NumPy's elementwise
    kernels (MKL and the Numba loops agree only to rounding)."""
    pinned = [] if "scalar" in args else ["--gemm", "openblas", "--kernels", "numpy"]
    return [*args, "--threads", "1", *pinned]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_folder_is_bit_identical_to_the_baseline(cli, tmp_path, name):
    args = RUNS[name]
    if "fashion-mnist" in args and not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs Debian's dataset-fashion-mnist")
    out = tmp_path / name
    r = cli("train", *_pinned(args), "--quiet", "--out", out)
    assert r.status == 0, r.err
    assert fingerprint(out) == EXPECTED[name]


@pytest.mark.parametrize("name", ["synth-scalar", "fmnist-mom"])
def test_inspect_snapshots_leave_the_results_unchanged(cli, tmp_path, name):
    """The study's presets train with ``inspect`` on: the snapshots only read the
    model, so the run folder matches the same baseline fingerprints."""
    args = RUNS[name]
    if "fashion-mnist" in args and not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs Debian's dataset-fashion-mnist")
    out = tmp_path / name
    r = cli("train", *_pinned(args), "--inspect", "--quiet", "--out", out)
    assert r.status == 0, r.err
    assert (out / "inspect.npz").is_file()
    assert fingerprint(out) == EXPECTED[name]
