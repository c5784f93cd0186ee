"""Finding and binding the BLAS libraries whose ``gemm`` the tensor engine may call.

Two libraries, each bound through ``ctypes`` to its ``cblas_sgemm`` /
``cblas_dgemm`` and checked by a small self-test against NumPy before it is
ever used (a wrong binding is never called twice):

- ``openblas``: the OpenBLAS that NumPy itself loaded (found through
  threadpoolctl: the BLAS library inside NumPy's own folder, or the only BLAS in
  the process), so that its thread pool is the one NumPy already has;
- ``mkl``: Intel's oneMKL from the optional ``mkl`` wheel
  (``pip install "backproplab[mkl]"``): ``libmkl_rt`` found through the files of
  the installed ``mkl`` distribution, else in ``sys.prefix/lib``. It is loaded
  with the Intel OpenMP threading layer and MKL's conditional numerical
  reproducibility set to ``AUTO | STRICT`` before its first product
  (:data:`MKL_CNR`): its results then do not depend on memory alignment or on
  the number of threads (docs/performance.md, "Faster GEMM libraries").

The environment variable ``BACKPROPLAB_BLAS`` limits what is found: unset, every
library; ``numpy`` (or ``off``, ``0``) none; a comma-separated list of names
(``openblas``) only those, so ``BACKPROPLAB_BLAS=openblas`` hides MKL from a
process that has it installed; any other word is an error, not a library hidden.
:mod:`backproplab.tensor.blas` chooses among the libraries found here and
dispatches the products.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import os
import sys
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError

#: CBLAS enum values (the same in every CBLAS)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: symbol name patterns of OpenBLAS builds: (prefix, suffix) of ``cblas_sgemm``
_NAME_FORMS = (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", ""))
#: The environment variable that limits the libraries found (module docstring).
BLAS_ENV = "BACKPROPLAB_BLAS"
#: The libraries this module can bind, by name.
LIBRARIES = ("openblas", "mkl")
#: MKL's conditional numerical reproducibility: ``MKL_CBWR_AUTO | MKL_CBWR_STRICT``.
MKL_CNR = 2 | 0x10000
#: MKL's threading layer (``MKL_Set_Threading_Layer``): 0, Intel OpenMP (the ``mkl``
#: wheel brings ``intel-openmp``); 1 would be sequential, 3 GNU OpenMP.
MKL_THREADING_LAYER = 0


def allowed(name: str) -> bool:
    """Whether ``BACKPROPLAB_BLAS`` lets this process use the library ``name``.

    Parameters
    ----------
    name : str
        One of :data:`LIBRARIES`.

    Returns
    -------
    bool

    Raises
    ------
    BackproplabError
        When the variable names something that is no library (a typo would
        otherwise hide every library without a word).
    """
    text = os.environ.get(BLAS_ENV, "").strip().lower()
    if not text:
        return True
    words = {w.strip() for w in text.split(",")}
    unknown = sorted(words - set(LIBRARIES) - {"numpy", "off", "0"})
    if unknown:
        raise BackproplabError(
            f"{BLAS_ENV}={text} names no library ({', '.join(map(repr, unknown))}); set it to "
            f"numpy (none), to a comma-separated list of {' and '.join(LIBRARIES)}, or unset it")
    return name in words


class Gemm:
    """ctypes bindings of ``cblas_sgemm`` / ``cblas_dgemm`` in one loaded library.

    Calling it computes ``c = alpha * op(a) @ op(b) + beta * c`` in place and
    returns whether it ran (``False``, nothing written, for arrays it cannot take:
    not C-contiguous 2-D arrays of one float dtype, ``c`` read-only or overlapping).

    Parameters
    ----------
    name : str
        The library's name (:data:`LIBRARIES`).
    path : str
        The file it was loaded from.
    lib : ctypes.CDLL
        The loaded library.
    prefix, suffix : str, default ""
        Around the CBLAS names in this build (``scipy_cblas_sgemm64_``).
    int64 : bool, default False
        Whether its integers are 64-bit (an ILP64 build).
    """

    def __init__(self, name: str, path: str, lib: ctypes.CDLL, prefix: str = "",
                 suffix: str = "", int64: bool = False):
        self.name, self.path, self.lib = name, path, lib
        self.symbols = f"{prefix}cblas_sgemm{suffix}, {prefix}cblas_dgemm{suffix}"
        c_int = ctypes.c_int64 if int64 else ctypes.c_int32
        self.int_bits = 64 if int64 else 32
        vp = ctypes.c_void_p
        self._fns = {}
        for dtype, name_, real in ((np.dtype(np.float32), "sgemm", ctypes.c_float),
                                   (np.dtype(np.float64), "dgemm", ctypes.c_double)):
            fn = getattr(lib, f"{prefix}cblas_{name_}{suffix}")
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int, c_int, c_int,
                           real, vp, c_int, vp, c_int, real, vp, c_int]
            fn.restype = None
            self._fns[dtype] = fn

    def __call__(self, a, b, c, alpha: float, beta: float, trans_a: bool = False,
                 trans_b: bool = False) -> bool:
        fn = self._fns.get(c.dtype)
        if fn is None or a.dtype != c.dtype or b.dtype != c.dtype:
            return False
        if not (a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous
                and c.flags.writeable and a.ndim == b.ndim == c.ndim == 2):
            return False
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if (a.shape[1] if trans_a else a.shape[0]) != m or \
                (b.shape[::-1] if trans_b else b.shape) != (k, n):
            return False
        if min(m, n, k) == 0:
            return False
        pa, pb, pc = _address(a), _address(b), _address(c)
        if _overlap(pc, c.nbytes, pa, a.nbytes) or _overlap(pc, c.nbytes, pb, b.nbytes):
            return False
        # row-major: the leading dimension is the row length as stored
        self._product(fn, (c.dtype, _TRANS if trans_a else _NO_TRANS,
                           _TRANS if trans_b else _NO_TRANS, m, n, k, alpha, a.shape[1],
                           b.shape[1], beta), pa, pb, pc)
        return True

    def _product(self, fn, shape: tuple, pa: int, pb: int, pc: int) -> None:
        """One ``cblas_?gemm`` call; ``shape`` is ``(dtype, trans_a, trans_b, m, n, k, alpha,
        lda, ldb, beta)`` (row-major, ``ldc = n``)."""
        _, ta, tb, m, n, k, alpha, lda, ldb, beta = shape
        fn(_ROW_MAJOR, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, n)

    def set_threads(self, threads: int) -> int | None:
        """Set the library's own thread count where it has an API for it; the old one.

        OpenBLAS's pool is limited by threadpoolctl (the run does that); MKL's
        is set here, for the calling thread (``MKL_Set_Num_Threads_Local``).
        """
        return None


class MklGemm(Gemm):
    """:class:`Gemm` of oneMKL, with its thread count set through MKL's own API.

    A product of at most :data:`MKL_JIT_MAX_WORK` multiply-adds (and a result of at most
    :data:`MKL_JIT_MAX_OUTPUT` entries) runs a kernel that
    MKL generates for its exact shape (``mkl_cblas_jit_create_?gemm``, made on
    first use and kept): single-threaded, so its result never depends on the
    thread count, and without the fixed cost of a ``cblas_?gemm`` call with
    ``STRICT`` reproducibility (1.2 against 6-8 us for a 16 x 300 by 300 x 10
    product, 45 against 75 us for 16 x 784 by 784 x 300: docs/performance.md).
    Larger products call ``cblas_?gemm`` with MKL's threads. Which of the two
    computes a product depends on its shape alone.

    Parameters
    ----------
    name, path, lib
        As for :class:`Gemm` (MKL's ``libmkl_rt`` has plain 32-bit CBLAS names).
    """

    def __init__(self, name: str, path: str, lib: ctypes.CDLL, **kw):
        super().__init__(name, path, lib, **kw)
        self._jits: dict[tuple, tuple | None] = {}
        self._jit_fns = {}
        vp, c_int = ctypes.c_void_p, ctypes.c_int
        for dtype, letter, real in ((np.dtype(np.float32), "s", ctypes.c_float),
                                    (np.dtype(np.float64), "d", ctypes.c_double)):
            create = getattr(lib, f"mkl_cblas_jit_create_{letter}gemm", None)
            get = getattr(lib, f"mkl_jit_get_{letter}gemm_ptr", None)
            if create is None or get is None:  # an MKL without JIT: every product by gemm
                continue
            create.argtypes = [ctypes.POINTER(vp), c_int, c_int, c_int, c_int, c_int, c_int,
                               real, c_int, c_int, real, c_int]
            create.restype = c_int
            get.argtypes, get.restype = [vp], vp
            self._jit_fns[dtype] = (create, get)

    def _product(self, fn, shape: tuple, pa: int, pb: int, pc: int) -> None:
        _, _, _, m, n, k = shape[:6]
        small = m * n * k <= MKL_JIT_MAX_WORK and m * n <= MKL_JIT_MAX_OUTPUT
        kernel = self._jit(shape) if small else None
        if kernel is None:
            super()._product(fn, shape, pa, pb, pc)
        else:
            kernel[1](kernel[0], pa, pb, pc)

    def _jit(self, shape: tuple):
        """``(jitter, kernel)`` for ``shape``, made on first use; ``None`` where MKL makes
        none (then ``cblas_?gemm`` computes it)."""
        if shape in self._jits:
            return self._jits[shape]
        fns = self._jit_fns.get(shape[0])
        if fns is None:
            return None
        if len(self._jits) >= MKL_JIT_MAX_KERNELS:  # many shapes: start again
            for made in self._jits.values():
                if made is not None:
                    self.lib.mkl_jit_destroy(made[0])
            self._jits.clear()
        jitter = ctypes.c_void_p()
        _, ta, tb, m, n, k, alpha, lda, ldb, beta = shape
        status = fns[0](ctypes.byref(jitter), _ROW_MAJOR, ta, tb, m, n, k, alpha, lda, ldb,
                        beta, n)
        ptr = fns[1](jitter) if status in (0, 1) else None  # success, or MKL's own gemm
        made = (jitter, _JIT_KERNEL(ptr)) if ptr else None
        self._jits[shape] = made
        return made

    def set_threads(self, threads: int) -> int | None:
        # the calling thread's own setting (as threadpoolctl sets it): it overrides the
        # global one; the old value (0: none, the global one applies) restores it exactly
        return int(self.lib.MKL_Set_Num_Threads_Local(ctypes.c_int(int(threads))))

    def threads(self) -> int:
        """MKL's thread count for the calling thread.

        Returns
        -------
        int
        """
        return int(self.lib.MKL_Get_Max_Threads())


#: Products of at most this many multiply-adds (m * n * k), with at most
#: :data:`MKL_JIT_MAX_OUTPUT` entries in their result, run MKL's JIT kernels (a larger
#: result gains more from MKL's threads than from the kernel).
MKL_JIT_MAX_WORK = 1 << 22
MKL_JIT_MAX_OUTPUT = 1 << 18
#: JIT kernels kept at most (one per shape; all are freed when more are needed).
MKL_JIT_MAX_KERNELS = 64
#: ``void kernel(void *jitter, T *a, T *b, T *c)``: an MKL JIT gemm kernel.
_JIT_KERNEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_void_p)


def _address(x) -> int:
    # c_char.from_buffer is several times cheaper than x.ctypes.data, but needs a
    # writable buffer (inputs may be read-only)
    if x.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(x))
    return x.ctypes.data


def _overlap(start1: int, size1: int, start2: int, size2: int) -> bool:
    # exact for the contiguous arrays taken here (and cheaper than np.may_share_memory)
    return start1 < start2 + size2 and start2 < start1 + size1


def self_test(gemm: Gemm) -> bool:
    """A few small products checked against NumPy, so a wrong binding is never used.

    Parameters
    ----------
    gemm : Gemm

    Returns
    -------
    bool
        Whether every product (both dtypes, every transpose, ``beta`` 0 and 1) agrees.
    """
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for trans_a, trans_b in ((True, False), (False, False), (False, True)):
            a = rng.normal(size=(5, 3) if trans_a else (3, 5)).astype(dtype)
            b = rng.normal(size=(4, 5) if trans_b else (5, 4)).astype(dtype)
            c = rng.normal(size=(3, 4)).astype(dtype)
            for alpha, beta in ((-0.5, 1.0), (1.0, 0.0)):
                want = alpha * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + beta * c
                got = c.copy()
                if not gemm(a, b, got, alpha, beta, trans_a, trans_b) or \
                        not np.allclose(got, want, rtol=1e-5, atol=1e-6):
                    return False
    return True


# ------------------------------------------------------------------ OpenBLAS
def _numpy_dir() -> Path:
    return Path(np.__file__).resolve().parent


def _openblas_candidates() -> list[dict]:
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


def _bind_openblas(path: str) -> Gemm | None:
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
            gemm = Gemm("openblas", path, lib, prefix, suffix, int64)
        except AttributeError:
            continue
        return gemm if self_test(gemm) else None
    return None


def _find_openblas() -> Gemm | None:
    for info in _openblas_candidates():
        gemm = _bind_openblas(info["filepath"])
        if gemm is not None:
            return gemm
    return None


# ----------------------------------------------------------------------- MKL
def mkl_paths() -> list[Path]:
    """Where ``libmkl_rt`` of the ``mkl`` wheel may be, most likely first.

    Returns
    -------
    list of Path
        The files named ``libmkl_rt.so*`` / ``libmkl_rt*.dylib`` / ``mkl_rt*.dll``
        that the installed ``mkl`` distribution lists, then those in
        ``sys.prefix/lib`` (and ``Library/bin`` on Windows); only existing files.
    """
    found: list[Path] = []
    try:
        dist = importlib.metadata.distribution("mkl")
        for f in dist.files or ():
            if Path(str(f)).name.startswith(("libmkl_rt", "mkl_rt")):
                found.append(Path(dist.locate_file(f)).resolve())
    except importlib.metadata.PackageNotFoundError:
        pass
    for folder in (Path(sys.prefix) / "lib", Path(sys.prefix) / "Library" / "bin"):
        found.extend(sorted(folder.glob("libmkl_rt.so*")) + sorted(folder.glob("libmkl_rt*.dylib"))
                     + sorted(folder.glob("mkl_rt*.dll")))
    out: list[Path] = []
    for p in found:
        if p.is_file() and p not in out:
            out.append(p)
    return out


def _bind_mkl(path: Path) -> MklGemm | None:
    try:
        lib = ctypes.CDLL(str(path))
        lib.MKL_Set_Threading_Layer.restype = ctypes.c_int
        lib.MKL_CBWR_Set.restype = ctypes.c_int
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
        # both must come before MKL's first computation
        lib.MKL_Set_Threading_Layer(ctypes.c_int(MKL_THREADING_LAYER))
        if lib.MKL_CBWR_Set(ctypes.c_int(MKL_CNR)) != 0:
            return None
        gemm = MklGemm("mkl", str(path), lib)
    except (OSError, AttributeError):
        return None
    return gemm if self_test(gemm) else None


def _find_mkl() -> MklGemm | None:
    for path in mkl_paths():
        gemm = _bind_mkl(path)
        if gemm is not None:
            return gemm
    return None


@functools.cache
def library(name: str) -> Gemm | None:
    """The bound library ``name``, or ``None`` where it is absent, hidden or fails its
    self-test (looked up once per process).

    Parameters
    ----------
    name : str
        One of :data:`LIBRARIES`.

    Returns
    -------
    Gemm or None
    """
    if name not in LIBRARIES or not allowed(name):
        return None
    return _find_mkl() if name == "mkl" else _find_openblas()


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (``vendor_id``, ``model name``).

    Parameters
    ----------
    field : str

    Returns
    -------
    str or None
        ``None`` where it cannot be read (off Linux) or is not there.
    """
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                name, sep, value = line.partition(":")
                if sep and name.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_vendor() -> str | None:
    """The CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``), from /proc/cpuinfo.

    Returns
    -------
    str or None
        ``None`` where it cannot be read (off Linux).
    """
    return cpuinfo("vendor_id")


__all__ = ["BLAS_ENV", "LIBRARIES", "MKL_CNR", "MKL_THREADING_LAYER", "Gemm", "MklGemm", "allowed", "cpu_vendor", "cpuinfo",
           "library", "mkl_paths", "self_test"]
