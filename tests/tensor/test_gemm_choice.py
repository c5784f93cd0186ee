"""The GEMM libraries by name: MKL agrees with OpenBLAS to float32 rounding, takes
every product of a step and of the forward pass when selected, and is refused in
one sentence where it is missing."""

import os
import subprocess
import sys

import numpy as np
import pytest
from tests.conftest import needs_mkl

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, blas, blas_libs, make_optimizer, train_step


def _batches(n_features=30, classes=5, sizes=(16, 16, 9, 16), seed=5, dtype="float32"):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(k, n_features)).astype(dtype), rng.integers(0, classes, k))
            for k in sizes]


def _train(gemm, optimizer="sgd", dtype="float32", sizes=(30, 24, 16, 5)):
    model = MLP(list(sizes), dtype=dtype, seed=3, init="glorot-uniform")
    opt = make_optimizer(optimizer, model, 0.3 if optimizer == "sgd" else 0.01)
    with blas.use_gemm(gemm, threads=1):
        losses = [train_step(model, opt, X, y) for X, y in _batches(dtype=dtype)]
        logits = model.forward(_batches(dtype=dtype)[0][0])
    return model, losses, logits


@needs_mkl
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_mkl_products_agree_with_openblas_to_float32_rounding(trans_a, trans_b, beta):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(784, 64) if trans_a else (64, 784)).astype(np.float32)
    b = rng.normal(size=(300, 784) if trans_b else (784, 300)).astype(np.float32)
    c0 = rng.normal(size=(64, 300)).astype(np.float32)
    out = {}
    for name in ("openblas", "mkl"):
        c = c0.copy()
        assert blas_libs.library(name)(a, b, c, 1.0, beta, trans_a, trans_b)
        out[name] = c
    A, B = (a.T if trans_a else a).astype(np.float64), (b.T if trans_b else b).astype(np.float64)
    exact = A @ B + beta * c0
    scale = np.abs(A) @ np.abs(B) + beta * np.abs(c0)
    for name, c in out.items():  # float32 rounding: ~6e-8 per addition of 784
        assert (np.abs(c - exact) / scale).max() < 784 * 6e-8, name


@needs_mkl
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_step_and_the_forward_pass_with_mkl_agree_with_openblas(optimizer):
    ref, l_ref, f_ref = _train("openblas", optimizer)
    mkl, l_mkl, f_mkl = _train("mkl", optimizer)
    np.testing.assert_allclose(l_mkl, l_ref, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(f_mkl, f_ref, rtol=2e-5, atol=2e-5)
    for k in ref.params:
        np.testing.assert_allclose(mkl.params[k], ref.params[k], rtol=2e-5, atol=2e-6,
                                   err_msg=k)


@needs_mkl
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_with_mkl_every_product_goes_through_mkl(monkeypatch, dtype, optimizer):
    calls = []
    real = blas_libs.library("mkl")

    def counted(a, b, c, alpha, beta, trans_a=False, trans_b=False):
        calls.append((c.shape, trans_a, trans_b, beta))
        return real(a, b, c, alpha, beta, trans_a, trans_b)

    def no_numpy(*args, **kwargs):
        raise AssertionError("a product reached NumPy's matmul")

    monkeypatch.setattr(blas, "library", lambda name: counted if name == "mkl" else None)
    monkeypatch.setattr(np, "matmul", no_numpy)
    model = MLP([20, 16, 3], dtype=dtype, seed=0)  # W2 is 16 x 3: small, still MKL's
    opt = make_optimizer(optimizer, model, 0.1)
    (X, y), = _batches(n_features=20, classes=3, sizes=(8,), dtype=dtype)
    with blas.use_gemm("mkl"):
        train_step(model, opt, X, y)
        assert len(calls) == 5  # X @ W1, H @ W2, dY @ W2.T, the updates of W2 and W1
        model.evaluate(X, y)
        model.predict(X)
    assert len(calls) == 9
    with pytest.raises(AssertionError, match="NumPy's matmul"):  # the check can fail
        train_step(model, opt, X, y)


def test_outside_a_selection_the_openblas_path_is_unchanged():
    assert blas.selected() == "openblas"
    with blas.use_gemm("numpy"):
        assert blas.selected() == "numpy" and not blas.available()
    assert blas.selected() == "openblas"
    assert blas.available() == (blas_libs.library("openblas") is not None)


def test_a_blocks_end_restores_the_bound_library_exactly(monkeypatch):
    # the library is bound once per selection, not per product: a block that bound
    # another one (here none at all) must leave the one from before it in place
    before = blas.info()
    with monkeypatch.context() as m:
        m.setattr(blas, "library", lambda name: None)
        with blas.use_gemm(None):  # keeps the selection, binds again
            assert not blas.available()
        with blas.use_blas(True):
            assert not blas.available()
    assert blas.info() == before
    # and small updates stay NumPy's with openblas, whatever gemm is given
    a, c = np.ones((4, 3)), np.zeros((3, 3))
    assert not blas.gemm(a, a, c, trans_a=True, min_size=10)
    assert blas.gemm(a, a, c, trans_a=True, min_size=9) == blas.available()


@needs_mkl
def test_use_gemm_sets_mkls_threads_for_the_block_and_restores_them():
    lib = blas_libs.library("mkl")
    before = lib.threads()
    with blas.use_gemm("mkl", threads=1):
        assert lib.threads() == 1 and blas.info()["gemm"] == "mkl"
    assert lib.threads() == before


def test_an_unknown_or_missing_gemm_is_one_sentence(monkeypatch):
    with pytest.raises(BackproplabError, match="unknown gemm 'fast'"), blas.use_gemm("fast"):
        pass
    monkeypatch.setattr(blas, "library", lambda name: None)
    with pytest.raises(BackproplabError) as err, blas.use_gemm("mkl"):
        pass
    assert 'pip install "backproplab[mkl]"' in str(err.value)
    assert str(err.value).count(". ") == 0


@needs_mkl
def test_backproplab_blas_hides_mkl_from_a_process():
    code = ("from backproplab.tensor import blas; "
            "print(blas.present('mkl'), blas.present('openblas'), blas.default_gemm())")
    env = {**os.environ, "BACKPROPLAB_BLAS": "openblas"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True", "openblas"]


def test_a_mistyped_backproplab_blas_is_one_sentence_not_every_library_hidden(monkeypatch,
                                                                             tmp_path):
    # regression: BACKPROPLAB_BLAS=bogus hid both libraries without a word, and runs
    # silently computed with NumPy's matmul alone (gemm numpy)
    monkeypatch.setenv("BACKPROPLAB_BLAS", "openblas,mkll")
    with pytest.raises(BackproplabError, match=r"BACKPROPLAB_BLAS=openblas,mkll names no "
                                               r"library \('mkll'\); set it to numpy"):
        blas_libs.allowed("openblas")
    r = subprocess.run([sys.executable, "-m", "backproplab", "train", "--epochs", "1",
                        "--limit", "100", "--quiet", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, check=False,
                       env={**os.environ, "BACKPROPLAB_BLAS": "bogus"})
    assert r.returncode == 2 and r.stderr.startswith("backproplab: error: BACKPROPLAB_BLAS=")
    assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "r").exists()
    for fine in ("numpy", "off", "0", "openblas", " OpenBLAS , mkl "):
        monkeypatch.setenv("BACKPROPLAB_BLAS", fine)
        blas_libs.allowed("mkl")  # the documented forms are accepted

def test_default_gemm_is_mkl_only_on_intel_cpus(monkeypatch):
    monkeypatch.setattr(blas, "library", lambda name: object())  # every library "found"
    monkeypatch.setattr(blas, "cpu_vendor", lambda: "GenuineIntel")
    assert blas.default_gemm() == "mkl"
    monkeypatch.setattr(blas, "cpu_vendor", lambda: "AuthenticAMD")
    assert blas.default_gemm() == "openblas"
    monkeypatch.setattr(blas, "library", lambda name: None)
    assert blas.default_gemm() == "numpy"


# ------------------------------------------------- MKL's JIT kernels for small products
_SMALL_SHAPES = [(16, 10, 300, False, False), (16, 300, 10, False, True),
                 (300, 10, 16, True, False), (16, 300, 784, False, False), (3, 5, 7, True, True)]


def _product_operands(m, n, k, trans_a, trans_b, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, rng.normal(size=(m, n)).astype(dtype)


@needs_mkl
@pytest.mark.parametrize("dtype,tol", [("float32", 2e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("shape", _SMALL_SHAPES)
def test_small_mkl_products_run_a_jit_kernel_that_agrees_with_numpy(shape, dtype, tol):
    *mnk, trans_a, trans_b = shape
    a, b, c0 = _product_operands(*mnk, trans_a, trans_b, dtype)
    want = 0.5 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + c0
    with blas.use_gemm("mkl", threads=1):
        lib = blas._LIB
        c = c0.copy()
        assert blas.gemm(a, b, c, 0.5, 1.0, trans_a=trans_a, trans_b=trans_b)
        key = (np.dtype(dtype), blas_libs._TRANS if trans_a else blas_libs._NO_TRANS,
               blas_libs._TRANS if trans_b else blas_libs._NO_TRANS, *mnk, 0.5,
               a.shape[1], b.shape[1], 1.0)
        assert lib._jits.get(key) is not None  # made for this shape, kept
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)


@needs_mkl
def test_jit_and_threaded_products_do_not_depend_on_mkls_threads():
    # small shapes run a single-threaded JIT kernel, large ones cblas_sgemm with STRICT
    results = {}
    for threads in (1, 2):
        with blas.use_gemm("mkl", threads=threads):
            for m, n, k, ta, tb in [*_SMALL_SHAPES, (1024, 300, 784, False, False),
                                    (784, 300, 1024, True, False)]:
                a, b, c = _product_operands(m, n, k, ta, tb, "float32", seed=m + n + k)
                blas.gemm(a, b, c, 1.0, 1.0, trans_a=ta, trans_b=tb)
                results.setdefault((m, n, k), []).append(c)
    for shape, (one, two) in results.items():
        assert one.tobytes() == two.tobytes(), shape


@needs_mkl
def test_jit_kernels_are_bounded_and_made_again_after_a_reset(monkeypatch):
    monkeypatch.setattr(blas_libs, "MKL_JIT_MAX_KERNELS", 2)
    with blas.use_gemm("mkl", threads=1):
        lib = blas._LIB
        lib._jits.clear()
        for m in (3, 4, 5, 3):  # the fourth product is made again after the third reset
            a, b, c = _product_operands(m, 6, 7, False, False, "float64", seed=m)
            want = a @ b
            assert blas.gemm(a, b, c, 1.0, 0.0)
            np.testing.assert_allclose(c, want, rtol=1e-12)
            assert len(lib._jits) <= 2
