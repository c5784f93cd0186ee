"""Direct GEMM calls into the BLAS library NumPy itself uses, for the fused SGD update.

NumPy's ``matmul`` computes ``C = A @ B`` but cannot *add* the product into an
existing array (BLAS's ``beta = 1``), so a plain-SGD update of a weight matrix
takes two passes over it: the product into a buffer, then ``W += buffer``. The
BLAS routine ``gemm`` does ``C = alpha * op(A) @ op(B) + beta * C`` in one: with
``alpha = 1`` and ``beta = 1`` and the logits' gradient already scaled by
``-lr``, the update lands in the weights directly.

Which library: the OpenBLAS that NumPy loaded (found through threadpoolctl: the
BLAS library inside NumPy's own folder, or the only BLAS in the process). Using
that one, and not SciPy's or another copy, keeps a single BLAS thread pool in
the training loop, so ``threadpoolctl``'s limits apply to it and no two pools
fight over the cores. Where no such library is found (another BLAS, a
NumPy build without OpenBLAS, an unknown integer width) :func:`gemm` returns
``False`` and the caller takes the plain NumPy path; results are the same up to
float rounding either way.

The setting ``BACKPROPLAB_BLAS=numpy`` in the environment turns the direct
calls off (``use_blas(False)`` does the same inside a ``with`` block).
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: CBLAS enum values (the same in every CBLAS)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

#: symbol name patterns of OpenBLAS builds: (prefix, suffix) of ``cblas_sgemm``
_NAME_FORMS = (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", ""))


class _Gemm:
    """ctypes bindings of ``cblas_sgemm`` / ``cblas_dgemm`` in one loaded library."""

    def __init__(self, path: str, lib: ctypes.CDLL, prefix: str, suffix: str, int64: bool):
        self.path = path
        self.symbols = f"{prefix}cblas_sgemm{suffix}, {prefix}cblas_dgemm{suffix}"
        c_int = ctypes.c_int64 if int64 else ctypes.c_int32
        self.int_bits = 64 if int64 else 32
        vp = ctypes.c_void_p
        self._fns = {}
        for dtype, name, real in ((np.dtype(np.float32), "sgemm", ctypes.c_float),
                                  (np.dtype(np.float64), "dgemm", ctypes.c_double)):
            fn = getattr(lib, f"{prefix}cblas_{name}{suffix}")
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int, c_int, c_int,
                           real, vp, c_int, vp, c_int, real, vp, c_int]
            fn.restype = None
            self._fns[dtype] = fn

    def __call__(self, a, b, c, alpha: float, beta: float, trans_a: bool) -> bool:
        fn = self._fns.get(c.dtype)
        if fn is None or a.dtype != c.dtype or b.dtype != c.dtype:
            return False
        if not (a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous
                and c.flags.writeable and a.ndim == b.ndim == c.ndim == 2):
            return False
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if (a.shape[1] if trans_a else a.shape[0]) != m or b.shape != (k, n):
            return False
        if min(m, n, k) == 0 or _overlaps(c, a) or _overlaps(c, b):
            return False
        lda = a.shape[1]  # row-major: the leading dimension is the row length as stored
        fn(_ROW_MAJOR, _TRANS if trans_a else _NO_TRANS, _NO_TRANS, m, n, k, alpha,
           _address(a), lda, _address(b), n, beta, _address(c), n)
        return True


def _address(x) -> int:
    # c_char.from_buffer is several times cheaper than x.ctypes.data, but needs a
    # writable buffer (inputs may be read-only)
    if x.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(x))
    return x.ctypes.data


def _overlaps(x, y) -> bool:
    return bool(np.may_share_memory(x, y))


def _numpy_dir() -> Path:
    return Path(np.__file__).resolve().parent


def _candidate_libraries() -> list[dict]:
    """OpenBLAS libraries loaded in this process that NumPy uses (usually exactly one)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return []
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    np_dir = _numpy_dir()
    roots = (np_dir, np_dir.parent / "numpy.libs", np_dir / ".dylibs")
    own = [i for i in blas if any(str(Path(i["filepath"]).resolve()).startswith(str(r))
                                  for r in roots)]
    if not own and len(blas) == 1:
        own = blas  # the only BLAS in the process: NumPy's (it is imported)
    return [i for i in own if i.get("internal_api") == "openblas"]


def _bind(info: dict) -> _Gemm | None:
    path = info["filepath"]
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix in _NAME_FORMS:
        if not hasattr(lib, f"{prefix}cblas_sgemm{suffix}"):
            continue
        config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None)
        if config is None:
            continue
        config.restype = ctypes.c_char_p
        config.argtypes = []
        int64 = b"USE64BITINT" in (config() or b"")
        try:
            gemm = _Gemm(path, lib, prefix, suffix, int64)
        except AttributeError:
            continue
        return gemm if _self_test(gemm) else None
    return None


def _self_test(gemm: _Gemm) -> bool:
    """A small product checked against NumPy, so a wrong binding is never used."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        a = rng.normal(size=(5, 3)).astype(dtype)
        b = rng.normal(size=(5, 4)).astype(dtype)
        c = rng.normal(size=(3, 4)).astype(dtype)
        want = c - 0.5 * (a.T @ b)
        got = c.copy()
        if not gemm(a, b, got, -0.5, 1.0, trans_a=True):
            return False
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            return False
        a2 = rng.normal(size=(3, 5)).astype(dtype)
        got2 = np.zeros((3, 4), dtype=dtype)
        if not gemm(a2, b, got2, 1.0, 0.0, trans_a=False) or \
                not np.allclose(got2, a2 @ b, rtol=1e-5, atol=1e-6):
            return False
    return True


_GEMM: _Gemm | None = None
_FOUND = False
_ENABLED = os.environ.get("BACKPROPLAB_BLAS", "").strip().lower() not in ("numpy", "off", "0")


def _library() -> _Gemm | None:
    global _GEMM, _FOUND
    if not _FOUND:
        _FOUND = True
        for info in _candidate_libraries():
            _GEMM = _bind(info)
            if _GEMM is not None:
                break
    return _GEMM


def available() -> bool:
    """Whether direct GEMM calls are found and switched on.

    Returns
    -------
    bool
        ``False`` where no OpenBLAS library that NumPy uses passes the self-test, or
        inside ``use_blas(False)``.
    """
    return _ENABLED and _library() is not None


def info() -> dict:
    """What :func:`gemm` uses, for reports.

    Returns
    -------
    dict
        ``{"enabled", "library", "symbols", "int_bits"}``: whether the direct calls
        run, the library's path, the ``gemm`` symbols bound and the width of its
        integers (``None`` for the last three where no library was bound).
    """
    lib = _library()
    return {"enabled": bool(_ENABLED and lib is not None),
            "library": lib.path if lib else None,
            "symbols": lib.symbols if lib else None,
            "int_bits": lib.int_bits if lib else None}


def gemm(a, b, c, alpha: float = 1.0, beta: float = 1.0, trans_a: bool = False) -> bool:
    """``c = alpha * op(a) @ b + beta * c`` in place, in one BLAS call.

    ``op(a)`` is ``a.T`` with ``trans_a``. When a condition below does not hold or
    the library is unavailable, nothing is written and the caller computes the
    product with NumPy.

    Parameters
    ----------
    a, b : numpy.ndarray
        C-contiguous, 2-D, of the same float dtype (float32 or float64) as ``c``.
    c : numpy.ndarray
        C-contiguous and writable, not overlapping ``a`` or ``b``.
    alpha, beta : float, default 1.0
    trans_a : bool, default False
        Multiply by ``a.T`` instead of ``a``.

    Returns
    -------
    bool
        Whether the call ran (``c`` was written).
    """
    if not _ENABLED or not isinstance(c, np.ndarray):
        return False
    lib = _library()
    if lib is None:
        return False
    return lib(a, b, c, alpha, beta, trans_a)


@contextmanager
def use_blas(enabled: bool):
    """Turn the direct BLAS calls on or off inside a ``with`` block (for tests and timing).

    Parameters
    ----------
    enabled : bool

    Yields
    ------
    None
        The previous setting comes back when the block ends.

    Examples
    --------
    >>> with use_blas(False):
    ...     available()
    False
    """
    global _ENABLED
    old = _ENABLED
    _ENABLED = bool(enabled)
    try:
        yield
    finally:
        _ENABLED = old


__all__ = ["available", "gemm", "info", "use_blas"]
