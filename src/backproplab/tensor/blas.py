"""Which GEMM library computes the tensor engine's products on the CPU, and the calls.

NumPy's ``matmul`` computes ``C = A @ B`` but cannot *add* the product into an
existing array (BLAS's ``beta = 1``), so a plain-SGD update of a weight matrix
takes two passes over it: the product into a buffer, then ``W += buffer``. The
BLAS routine ``gemm`` does ``C = alpha * op(A) @ op(B) + beta * C`` in one: with
``alpha = 1`` and ``beta = 1`` and the logits' gradient already scaled by
``-lr``, the update lands in the weights directly (:func:`gemm`).

The libraries, by name (:data:`GEMMS`; found and bound in
:mod:`backproplab.tensor.blas_libs`):

- ``openblas``: NumPy's own OpenBLAS. NumPy's ``matmul`` computes the forward
  and backward products, and only the weight update of large matrices is a
  direct ``gemm`` call into that same library (one thread pool in the loop).
- ``mkl``: Intel's oneMKL from the optional ``mkl`` wheel. *Every* product of
  the forward pass, the backward pass and the update goes through it
  (:func:`matmul`), so that OpenBLAS's pool stays idle and only MKL's threads
  run (two pools spinning against each other make steps many times slower).
- ``numpy``: NumPy's ``matmul`` for everything, no direct call.

The three agree to float rounding, not bit for bit; a run records which one it
used (``TrainConfig.gemm``) and enters it for its duration with
:func:`use_gemm`. Outside such a block the selection is ``openblas`` (or
``numpy`` where NumPy's BLAS is no OpenBLAS found here), as before this choice
existed. :func:`default_gemm` is what a run picks when none is asked for.

The setting ``BACKPROPLAB_BLAS=numpy`` in the environment turns the direct
calls off (``use_blas(False)`` does the same inside a ``with`` block);
``BACKPROPLAB_BLAS=openblas`` hides MKL (:mod:`backproplab.tensor.blas_libs`).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.tensor.blas_libs import cpu_vendor, library

#: The GEMM choices, by name.
GEMMS = ("openblas", "mkl", "numpy")
#: How to get each library that may be missing.
_INSTALL = {"mkl": 'install Intel\'s MKL with pip install "backproplab[mkl]"',
            "openblas": "use a NumPy built with OpenBLAS (the wheels from PyPI are)"}

_ENABLED = True
_SELECTED = "openblas"
#: The bound library of the selection (``None``: numpy, not found, or switched off)
#: and whether it takes every product; set by :func:`_bind` on first use and whenever
#: the selection changes, so that the per-step calls look nothing up.
_BOUND = False
_LIB = None
_EVERY = False


def present(name: str) -> bool:
    """Whether the GEMM ``name`` can be used here (found, allowed, self-tested).

    Parameters
    ----------
    name : str
        One of :data:`GEMMS` (``numpy`` is always present).

    Returns
    -------
    bool
    """
    return name == "numpy" or (name in GEMMS and library(name) is not None)


def default_gemm() -> str:
    """The GEMM a run uses when none is asked for.

    ``mkl`` where the ``mkl`` wheel is installed, binds, passes its self-test and
    the CPU is Intel's (MKL's speed on other vendors' CPUs is not promised);
    else ``openblas`` where NumPy's OpenBLAS is found; else ``numpy``.

    Returns
    -------
    str
    """
    if cpu_vendor() == "GenuineIntel" and present("mkl"):
        return "mkl"
    return "openblas" if present("openblas") else "numpy"


def require(name: str) -> None:
    """Refuse a GEMM that cannot be used here.

    Parameters
    ----------
    name : str

    Raises
    ------
    BackproplabError
        One sentence naming what is missing and the fix.
    """
    if name not in GEMMS:
        raise BackproplabError(f"unknown gemm {name!r}; choose one of {', '.join(GEMMS)}",
                               settings=("gemm",))
    if not present(name):
        raise BackproplabError(
            f"gemm={name!r} is not available in this Python environment (or hidden by "
            f"BACKPROPLAB_BLAS); {_INSTALL[name]} (a run that used it replays and resumes "
            "only with it), or choose another gemm for a new run",
            settings=("gemm",))


def selected() -> str:
    """The GEMM in use now.

    Returns
    -------
    str
        One of :data:`GEMMS` (``numpy`` inside ``use_blas(False)``).
    """
    return _SELECTED if _ENABLED else "numpy"


def _bind():
    """Bind the selection's library (once per change of selection, not per product)."""
    global _BOUND, _LIB, _EVERY
    _LIB = library(_SELECTED) if _ENABLED and _SELECTED != "numpy" else None
    _EVERY = _LIB is not None and _SELECTED == "mkl"
    _BOUND = True
    return _LIB


def _lib():
    """The bound library of the selection, or ``None``."""
    return _LIB if _BOUND else _bind()


def _state() -> tuple:
    return _ENABLED, _SELECTED, _BOUND, _LIB, _EVERY


def _restore(state: tuple) -> None:
    """Put back a :func:`_state` exactly (a ``with`` block's end)."""
    global _ENABLED, _SELECTED, _BOUND, _LIB, _EVERY
    _ENABLED, _SELECTED, _BOUND, _LIB, _EVERY = state


def available() -> bool:
    """Whether direct GEMM calls run now (a library is selected, found and switched on).

    Returns
    -------
    bool
        ``False`` with ``numpy`` selected, where the selected library is not
        found, or inside ``use_blas(False)``.
    """
    return _lib() is not None


def info() -> dict:
    """What :func:`gemm` uses, for reports.

    Returns
    -------
    dict
        ``{"enabled", "gemm", "library", "symbols", "int_bits"}``: whether the
        direct calls run, the selection's name, the library's path, the ``gemm``
        symbols bound and the width of its integers (``None`` for the last three
        where no library is bound).
    """
    lib = _lib()
    return {"enabled": lib is not None, "gemm": selected(),
            "library": lib.path if lib else None,
            "symbols": lib.symbols if lib else None,
            "int_bits": lib.int_bits if lib else None}


def gemm(a, b, c, alpha: float = 1.0, beta: float = 1.0, trans_a: bool = False,
         trans_b: bool = False, min_size: int = 0) -> bool:
    """``c = alpha * op(a) @ op(b) + beta * c`` in place, in one call of the selected library.

    ``op(x)`` is ``x.T`` with ``trans_x``. When a condition below does not hold or
    no library is selected, nothing is written and the caller computes the
    product with NumPy.

    Parameters
    ----------
    a, b : numpy.ndarray
        C-contiguous, 2-D, of the same float dtype (float32 or float64) as ``c``.
    c : numpy.ndarray
        C-contiguous and writable, not overlapping ``a`` or ``b``.
    alpha, beta : float, default 1.0
    trans_a, trans_b : bool, default False
        Multiply by ``a.T`` (``b.T``) instead of ``a`` (``b``).
    min_size : int, default 0
        Leave a ``c`` with fewer entries to the caller (NumPy's ``matmul`` and an
        add cost less than the call), unless the selected library takes every
        product (``mkl``: no product may reach NumPy's OpenBLAS, see the module
        docstring).

    Returns
    -------
    bool
        Whether the call ran (``c`` was written).
    """
    lib = _LIB if _BOUND else _bind()
    if lib is None or not isinstance(c, np.ndarray) or (c.size < min_size and not _EVERY):
        return False
    return lib(a, b, c, alpha, beta, trans_a, trans_b)


def matmul(xp, a, b, out=None, trans_a: bool = False, trans_b: bool = False):
    """``op(a) @ op(b)`` (into ``out`` when given) with the selected GEMM.

    With ``mkl`` selected and NumPy arrays, one MKL call (inputs that are not
    C-contiguous are copied first); otherwise exactly ``xp.matmul`` (NumPy's
    OpenBLAS, or CuPy).

    Parameters
    ----------
    xp : module
        ``numpy`` or ``cupy``: the arrays' module.
    a, b : array
    out : array, optional
    trans_a, trans_b : bool, default False

    Returns
    -------
    array
        ``out``, or a new array.
    """
    lib = _LIB if _EVERY and xp is np else None
    if lib is not None and a.dtype == b.dtype and a.ndim == b.ndim == 2:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        if out is None:
            out = np.empty((a.shape[1] if trans_a else a.shape[0],
                            b.shape[0] if trans_b else b.shape[1]), dtype=a.dtype)
        if lib(a, b, out, 1.0, 0.0, trans_a, trans_b):
            return out
    return xp.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)


@contextmanager
def use_gemm(name: str | None, threads: int | None = None):
    """Compute with the GEMM ``name`` inside a ``with`` block (a run does, for its duration).

    Parameters
    ----------
    name : str or None
        One of :data:`GEMMS`; ``None`` keeps the current selection.
    threads : int, optional
        Threads of the library's own pool where it has an API for them (MKL);
        OpenBLAS's pool is limited with threadpoolctl by the caller.

    Yields
    ------
    str
        The selection inside the block; the previous one (and MKL's previous
        thread count) comes back when it ends.

    Raises
    ------
    BackproplabError
        When ``name`` is unknown or not available here (:func:`require`).

    Examples
    --------
    >>> with use_gemm("numpy"):
    ...     available()
    False
    """
    global _SELECTED
    if name is not None:
        require(name)
    old, old_threads = _state(), None
    _SELECTED = name or _SELECTED
    lib = _bind()
    if lib is not None and threads is not None:
        old_threads = lib.set_threads(threads)
    try:
        yield _SELECTED
    finally:
        if old_threads is not None:
            lib.set_threads(old_threads)
        _restore(old)


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
    old = _state()
    _ENABLED = bool(enabled)
    _bind()
    try:
        yield
    finally:
        _restore(old)


__all__ = ["GEMMS", "available", "default_gemm", "gemm", "info", "matmul", "present",
           "require", "selected", "use_blas", "use_gemm"]

