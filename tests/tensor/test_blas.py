"""The direct BLAS path of the fused SGD step: same results as the plain paths, one BLAS pool."""

import os
import subprocess
import sys

import numpy as np
import pytest

from backproplab.tensor import MLP, blas, make_optimizer, train_step
from backproplab.tensor import train as train_mod

needs_blas = pytest.mark.skipif(not blas.available(),
                                reason="NumPy's BLAS is not an OpenBLAS found by threadpoolctl")


@needs_blas
@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("trans_a", [True, False])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.25, 1.0), (2.0, 0.0), (0.5, -1.5)])
def test_gemm_matches_numpy(dtype, rtol, trans_a, alpha, beta):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5) if trans_a else (5, 7)).astype(dtype)
    b = rng.normal(size=(7, 3)).astype(dtype)
    c = rng.normal(size=(5, 3)).astype(dtype)
    want = alpha * ((a.T if trans_a else a) @ b) + beta * c
    assert blas.gemm(a, b, c, alpha, beta, trans_a=trans_a)
    np.testing.assert_allclose(c, want, rtol=rtol, atol=rtol)


@needs_blas
def test_gemm_declines_what_it_cannot_do_and_leaves_the_output_alone():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 4)).astype(np.float32)
    b = rng.normal(size=(6, 3)).astype(np.float32)
    c = np.ones((4, 3), np.float32)
    cases = [
        (a.astype(np.float64), b, c),             # mixed dtypes
        (a, b, np.ones((3, 4), np.float32).T),    # output not C-contiguous
        (np.asfortranarray(a), b, c),             # input not C-contiguous
        (a, b[:, :2], c),                          # shapes do not fit
        (a.astype(np.int32), b.astype(np.int32), c.astype(np.int32)),  # not floats
    ]
    for x, z, out in cases:
        before = out.copy()
        assert not blas.gemm(x, z, out, 1.0, 1.0, trans_a=True)
        np.testing.assert_array_equal(out, before)
    flat = rng.normal(size=64).astype(np.float32)  # output overlapping an input
    assert not blas.gemm(flat[:24].reshape(6, 4), b, flat[10:22].reshape(4, 3), 1.0, 1.0,
                         trans_a=True)
    readonly = np.ones((4, 3), np.float32)
    readonly.flags.writeable = False
    assert not blas.gemm(a, b, readonly, 1.0, 1.0, trans_a=True)


@needs_blas
def test_the_library_called_is_numpys_own_blas_and_no_other_pool_is_loaded():
    code = (
        "import numpy as np\n"
        "from threadpoolctl import threadpool_info\n"
        "before = sorted(i['filepath'] for i in threadpool_info())\n"
        "from backproplab.tensor import MLP, make_optimizer, train_step, blas\n"
        "m = MLP([5, 4, 3], seed=0)\n"
        "train_step(m, make_optimizer('sgd', m, 0.1), np.ones((2, 5)), np.array([0, 2]))\n"
        "after = sorted(i['filepath'] for i in threadpool_info())\n"
        "assert blas.info()['library'] in before, (blas.info(), before)\n"
        "assert [p for p in after if p not in before] == [], (before, after)\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_environment_setting_turns_the_direct_calls_off():
    code = "from backproplab.tensor import blas; print(blas.available(), blas.info()['enabled'])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       check=False, env={**os.environ, "BACKPROPLAB_BLAS": "numpy"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


@pytest.fixture(autouse=True)
def _direct_calls_for_every_matrix(monkeypatch):
    # the test networks are small: let every weight matrix take the direct call
    monkeypatch.setattr(train_mod, "DIRECT_GEMM_MIN_SIZE", 1)


def _train(dtype, fused, use_direct, batches, chunk=None, monkeypatch=None,
           sizes=(30, 24, 16, 5), activation="sigmoid"):
    model = MLP(list(sizes), activation=activation, dtype=dtype, seed=3, init="glorot-uniform")
    opt = make_optimizer("sgd", model, 0.3)
    if chunk is not None:
        monkeypatch.setattr(train_mod, "FUSED_CHUNK_ROWS", chunk)
    losses = []
    with blas.use_blas(use_direct):
        for X, y in batches:
            losses.append(train_step(model, opt, X, y, fused=fused))
    return model, losses


def _batches(dtype, sizes, n_features=30, classes=5, seed=5):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(k, n_features)).astype(dtype), rng.integers(0, classes, k))
            for k in sizes]


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_direct_blas_path_equals_numpy_fused_path_and_plain_path(activation, dtype, tol):
    batches = _batches(dtype, [16, 16, 13, 16, 1, 16, 9] * 3)
    plain, lp = _train(dtype, False, False, batches, activation=activation)
    numpy_fused, ln = _train(dtype, True, False, batches, activation=activation)
    direct, ld = _train(dtype, True, True, batches, activation=activation)
    np.testing.assert_allclose(ld, lp, rtol=tol, atol=tol)
    np.testing.assert_allclose(ln, lp, rtol=tol, atol=tol)
    for k in plain.params:
        np.testing.assert_allclose(direct.params[k], plain.params[k], rtol=tol, atol=tol,
                                   err_msg=k)
        np.testing.assert_allclose(numpy_fused.params[k], plain.params[k], rtol=tol,
                                   atol=tol, err_msg=k)
        assert direct.params[k].dtype == np.dtype(dtype)


@pytest.mark.parametrize("use_direct", [True, False])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_large_batches_in_chunks_equal_one_pass(monkeypatch, use_direct, dtype, tol):
    # 50 rows in chunks of 16 (16, 16, 16, 2) against the plain, unchunked path
    batches = _batches(dtype, [50, 50, 50, 33, 50])
    plain, lp = _train(dtype, False, use_direct, batches)
    chunked, lc = _train(dtype, True, use_direct, batches, chunk=16, monkeypatch=monkeypatch)
    np.testing.assert_allclose(lc, lp, rtol=tol, atol=tol)
    for k in plain.params:
        np.testing.assert_allclose(chunked.params[k], plain.params[k], rtol=tol, atol=tol,
                                   err_msg=k)


def test_chunked_full_batch_step_uses_buffers_of_one_chunk(monkeypatch):
    monkeypatch.setattr(train_mod, "FUSED_CHUNK_ROWS", 16)
    model = MLP([30, 24, 5], seed=0)
    (X, y), = _batches("float32", [100])
    train_step(model, make_optimizer("sgd", model, 0.1), X, y)
    assert max(model._workspaces) <= 16


@needs_blas
def test_the_direct_call_is_really_taken_for_large_weight_matrices(monkeypatch):
    calls = []
    real = blas.gemm

    def recorded(*a, **k):
        ran = real(*a, **k)
        if ran:
            calls.append(a[2].shape)
        return ran

    monkeypatch.setattr(blas, "gemm", recorded)
    monkeypatch.setattr(train_mod, "DIRECT_GEMM_MIN_SIZE", 20 * 16)
    model = MLP([20, 16, 3], seed=0)
    (X, y), = _batches("float32", [8], n_features=20, classes=3)
    train_step(model, make_optimizer("sgd", model, 0.1), X, y)
    assert calls == [(20, 16)]  # W1 by the direct call; W2 (16 x 3) by NumPy
