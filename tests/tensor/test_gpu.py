"""The same engine on CuPy (``device="gpu"``); runs only where CuPy and a GPU are present."""

import numpy as np
import pytest

from backproplab.tensor import MLP, make_optimizer, train_step
from backproplab.tensor.backend import to_numpy

cupy = pytest.importorskip("cupy")
try:
    HAVE_GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # noqa: BLE001 - no driver, no device
    HAVE_GPU = False
pytestmark = pytest.mark.skipif(not HAVE_GPU, reason="no CUDA device")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_gpu_training_matches_cpu(optimizer, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, 64)
    cpu = MLP([6, 9, 3], activation="tanh", dtype="float64", seed=1)
    gpu = MLP([6, 9, 3], activation="tanh", dtype="float64", seed=1, device="gpu")
    assert gpu.xp is cupy
    oc, og = make_optimizer(optimizer, cpu, 0.05), make_optimizer(optimizer, gpu, 0.05)
    for s in range(0, 64, 8):
        lc = train_step(cpu, oc, X[s:s + 8], y[s:s + 8])
        lg = train_step(gpu, og, X[s:s + 8], y[s:s + 8])
        assert lc == pytest.approx(lg, rel=1e-10)
    for k, v in cpu.params.items():
        np.testing.assert_allclose(to_numpy(gpu.params[k]), v, rtol=1e-9, atol=1e-12)
    assert cpu.evaluate(X, y) == pytest.approx(gpu.evaluate(X, y), rel=1e-10)
    np.testing.assert_array_equal(to_numpy(gpu.predict(X)), cpu.predict(X))
    gpu.save(tmp_path / "m.npz", optimizer=og)
    back = MLP.load(tmp_path / "m.npz")  # a GPU-trained model loads on the CPU
    np.testing.assert_array_equal(back.params["W1"], to_numpy(gpu.params["W1"]))
