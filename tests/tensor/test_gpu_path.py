"""The device (``xp is not numpy``) code paths, run everywhere with NumPy standing in for CuPy.

tests/tensor/test_gpu.py runs the real thing where CuPy and a GPU exist; this file
makes sure the branches taken on a GPU (batches gathered with ``xp.take`` on the
device, no direct BLAS, no full-batch chunking, device synchronisation in the
benchmark, the missing-device error) run on every machine and give the CPU's
results.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, make_optimizer
from backproplab.tensor.backend import get_array_module
from backproplab.training import fit


def _stand_in(device_count=1):
    """A module named ``cupy`` that is NumPy underneath (but not the NumPy module)."""
    fake = types.ModuleType("cupy")
    for name in dir(np):
        if not name.startswith("__"):
            setattr(fake, name, getattr(np, name))
    synced = []

    class Device:
        def synchronize(self):
            synced.append(True)

    def count():
        if isinstance(device_count, Exception):
            raise device_count
        return device_count

    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count),
                                      Device=Device)
    fake.get_default_memory_pool = lambda: types.SimpleNamespace(total_bytes=lambda: 0)
    fake.synced = synced
    return fake


@pytest.fixture
def fake_cupy(monkeypatch):
    fake = _stand_in()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


@pytest.mark.parametrize("count,words", [
    (0, "no CUDA device"),
    (RuntimeError("cudaErrorNoDevice"), "RuntimeError: cudaErrorNoDevice"),
])
def test_cupy_without_a_device_is_a_clear_error(monkeypatch, cli, tmp_path, count, words):
    monkeypatch.setitem(sys.modules, "cupy", _stand_in(count))
    with pytest.raises(BackproplabError, match="needs a CUDA GPU") as info:
        get_array_module("gpu")
    assert words in str(info.value) and "device='cpu'" in str(info.value)
    r = cli("train", "--limit", "200", "--epochs", "1", "--device", "gpu", "--out",
            tmp_path / "run")
    assert r.status == 2 and "needs a CUDA GPU" in r.err and "Traceback" not in r.err
    assert "use --device cpu" in r.err  # the command line names its flag


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [32, "full"])
def test_device_path_trains_exactly_like_the_cpu_path(fake_cupy, optimizer, batch_size):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    histories, models = [], []
    for device in ("cpu", "gpu"):
        model = MLP([5, 8, 3], dtype="float32", seed=0, device=device)
        assert (model.xp is fake_cupy) == (device == "gpu")
        opt = make_optimizer(optimizer, model, 0.05)
        histories.append(fit(model, opt, X, y, epochs=2, batch_size=batch_size, rng=1,
                             X_eval=X[:50], y_eval=y[:50]))
        models.append(model)
    cpu, gpu = models
    for k, v in cpu.params.items():
        np.testing.assert_array_equal(gpu.params[k], v, err_msg=k)
    assert histories[0].metric("eval_loss") == histories[1].metric("eval_loss")


#: A ``cupy`` package for the benchmark's peer processes (each a fresh interpreter, which
#: the in-process stand-in cannot reach): NumPy underneath, every synchronisation
#: appended to the file named by BACKPROPLAB_TEST_SYNC_LOG.
_CUPY_PACKAGE = """
import os, types
import numpy as _np
for _name in dir(_np):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_np, _name)

class _Device:
    def synchronize(self):
        with open(os.environ["BACKPROPLAB_TEST_SYNC_LOG"], "a") as log:
            log.write("synced\\n")

cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
                             Device=_Device)
get_default_memory_pool = lambda: types.SimpleNamespace(total_bytes=lambda: 0)
"""


def test_benchmark_on_the_device_path_synchronises_and_times(fake_cupy, monkeypatch, tmp_path):
    from backproplab import bench

    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(_CUPY_PACKAGE)
    log = tmp_path / "synced.log"
    monkeypatch.syspath_prepend(str(tmp_path))  # a spawned child starts with this sys.path
    monkeypatch.setenv("BACKPROPLAB_TEST_SYNC_LOG", str(log))
    res = bench.run_benchmark(["backproplab", "numpy"], ["64", "full"], epochs=1, warmup=0,
                              quick=True, synthetic=True, limit=512, device="gpu", memory=False,
                              peak_size=64)
    assert res["skipped"] == {"numpy": "runs on the CPU only"}
    assert res["matmul_peak"]["cupy"]["library"] == "cupy"
    assert [(r["impl"], r["batch_size"]) for r in res["results"]] == \
        [("backproplab", "64"), ("backproplab", "full")]
    assert all(r["median_seconds"] > 0 for r in res["results"])
    # device work is waited for before a time is taken, in the peers' own processes
    assert log.exists() and log.read_text().count("synced") > 0
