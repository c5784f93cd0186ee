"""The memory estimate of a training run and the check that refuses a model too large."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, make_optimizer, memory, train_step
from backproplab.tensor.memory import available_memory, check_training_memory, training_memory


def test_the_estimate_counts_every_buffer_exactly():
    # [784, 300, 10]: 784*300 + 300 + 300*10 + 10 = 238,510 numbers of 4 bytes
    e = training_memory([784, 300, 10], 16, dtype="float32", optimizer="sgd",
                        eval_batch_size=8192)
    assert e.parameters == e.gradients == e.optimizer == 238_510 * 4
    assert e.initialization == 784 * 300 * 8  # the float64 draw of W1
    # training batch: outputs of both layers + gradient and scratch of the hidden one;
    # evaluation batch: outputs only
    assert e.activations == (16 * (310 + 2 * 300) + 8192 * 310) * 4
    assert e.total == 3 * 238_510 * 4 + 784 * 300 * 8 + (16 * 910 + 8192 * 310) * 4
    adam = training_memory([784, 300, 10], 16, optimizer="adam", dtype="float64")
    assert adam.optimizer == 2 * 238_510 * 8
    # Python integers: no overflow whatever the widths
    assert training_memory([784, 10**12, 10], 1).parameters == (784 + 1 + 10) * 10**12 * 4 + 40


def test_the_estimate_covers_what_a_training_step_and_evaluation_allocate():
    """tracemalloc sees NumPy's allocations: the estimate must not be below them."""
    sizes, batch, n_eval = [784, 1500, 10], 64, 2000
    rng = np.random.default_rng(0)
    X = rng.random((n_eval, 784), dtype=np.float32)
    y = rng.integers(0, 10, n_eval)
    tracemalloc.start()
    try:
        model = MLP(sizes, seed=0)
        opt = make_optimizer("adam", model, 0.01)
        train_step(model, opt, X[:batch], y[:batch])
        model.evaluate(X, y, batch_size=n_eval)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = training_memory(sizes, batch, optimizer="adam", eval_batch_size=n_eval).total
    assert peak <= estimate <= 2 * peak


def test_meminfo_and_address_space_are_parsed(tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24683584 kB\nMemAvailable:    1000 kB\n")
    assert memory._meminfo_available(str(info)) == 1000 * 1024
    info.write_text("garbage\n")
    assert memory._meminfo_available(str(info)) is None
    assert memory._meminfo_available(str(tmp_path / "none")) is None
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmSize:\t  2048 kB\n")
    assert memory._address_space_used(str(status)) == 2 << 20


def test_the_check_passes_small_models_and_when_nothing_is_known(monkeypatch):
    assert check_training_memory([784, 300, 10], 16).total < 1 << 30
    monkeypatch.setattr(memory, "_meminfo_available", lambda: None)
    if available_memory() is None:  # no RLIMIT_AS either: nothing to compare with
        assert check_training_memory([784, 300, 10], 10**9).total > 1 << 40


def test_a_huge_hidden_layer_is_one_sentence_and_writes_no_run_folder(cli, tmp_path):
    """Regression: --hidden 1000000000 made the kernel kill the process at 24 GB."""
    out = tmp_path / "run"
    r = cli("train", "--dataset", "synth", "--hidden", "1000000000", "--epochs", "1",
            "--out", out)
    assert r.status == 2 and "Traceback" not in r.err and len(r.err.splitlines()) == 1
    assert "hidden 1000000000 needs about" in r.err and "GiB are available" in r.err
    assert "smaller widths in --hidden or a smaller --batch-size" in r.err  # flags on the CLI
    assert not out.exists()
    # the scalar engine (lists of Python floats) is checked too
    r = cli("train", "--engine", "scalar", "--dataset", "synth", "--hidden", "1000000000",
            "--out", out)
    assert r.status == 2 and "hidden 1000000000 needs about" in r.err and not out.exists()


_UNDER_RLIMIT = textwrap.dedent("""
    import resource, sys
    from backproplab import cli
    from backproplab.tensor.memory import _address_space_used
    room = int(sys.argv[1])
    limit = _address_space_used() + room
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(cli.main(sys.argv[2:]))
""")


def _under_rlimit(room: int, *args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _UNDER_RLIMIT, str(room), *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
                          check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_model_beyond_rlimit_as_is_refused_before_the_run_folder(tmp_path):
    """Regression: under a memory limit, --hidden too large ended in a MemoryError
    traceback and a run folder holding only config.json. 200,000 hidden units need
    about 6.2 GiB (an evaluation batch of 8192 rows), the limit leaves 1 GiB."""
    out = tmp_path / "run"
    p = _under_rlimit(1 << 30, "train", "--dataset", "synth", "--hidden", "200000",
                      "--epochs", "1", "--out", out, tmp_path=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "hidden 200000 needs about 6.2 GiB" in p.stderr
    assert "RLIMIT_AS" in p.stderr or "MemAvailable" in p.stderr
    assert not out.exists()
    # a model that fits trains under the same limit
    p = _under_rlimit(1 << 30, "train", "--dataset", "synth", "--hidden", "16", "--limit",
                      "2000", "--epochs", "1", "--quiet", "--out", out, tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (out / "model.npz").is_file()


def test_check_names_the_widths_and_both_figures(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": (1 << 30, "a test"))
    with pytest.raises(BackproplabError) as info:
        check_training_memory([784, 512, 100_000, 10], 64)
    msg = str(info.value)
    assert msg.startswith("hidden 512,100000 needs about ") and "but only 1 GiB" in msg
    assert "(a test)" in msg and msg.endswith("smaller widths in hidden or a smaller batch_size")
    assert "--" not in msg and info.value.settings == ("hidden", "batch_size")


def test_on_the_gpu_the_check_uses_cudas_free_memory(monkeypatch):
    class Runtime:
        @staticmethod
        def memGetInfo():  # CUDA's name
            return 1 << 30, 8 << 30

    fake = type("FakeCupy", (), {"cuda": type("Cuda", (), {"runtime": Runtime})})
    monkeypatch.setattr(memory, "get_array_module", lambda device: fake)
    assert available_memory("gpu") == (1 << 30, "free memory on the GPU")
    with pytest.raises(BackproplabError, match=r"but only 1 GiB .*\(free memory on the GPU\)"):
        check_training_memory([784, 100_000, 10], 64, "gpu")
    assert check_training_memory([784, 300, 10], 64, "gpu").total < 1 << 30
