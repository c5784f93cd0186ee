"""The wheel-installable GEMM libraries, side by side on this project's products.

Each option runs in a fresh Python process (a BLAS reads its settings when it
loads), at 1 thread and at every usable core:

- ``openblas``: NumPy's own OpenBLAS, with the environment as it is;
- ``openblas:<core>``: the same with ``OPENBLAS_CORETYPE=<core>`` pinned (only the
  kernels this CPU can run: Haswell needs AVX2, SkylakeX AVX-512, Cooperlake
  AVX-512 BF16, SapphireRapids AMX);
- ``blis``: the ``blis`` wheel from PyPI (``blis.py.gemm``), where installed;
- ``mkl``: Intel's ``mkl`` wheel (``pip install "backproplab[mkl]"``) through the
  project's own binding (:mod:`backproplab.tensor.blas_libs`: ``cblas_sgemm`` of
  ``libmkl_rt``, Intel OpenMP, reproducibility ``AUTO | STRICT``), where present;
- ``mkl-nojit``: the same binding with MKL's JIT kernels for small products
  switched off (``blas_libs.MKL_JIT_MAX_WORK = 0``): every product a
  ``cblas_sgemm`` call with ``STRICT``, as in the first round;
- ``torch``: PyTorch's own product (MKL inside), what the PyTorch peer gets.

The products are those of one training step of the study's 784-300-10
network in float32: the forward product ``X @ W1`` (batch x 784 times 784 x 300)
and the weight update's ``X.T @ dZ`` (784 x batch times batch x 300), at batch
16 and 1024, the 300 x 10 layer's forward product at batch 16 and 128 and its
update at 1024, and a 2048 x 2048 product (the matmul peak). Reported: the best
GFLOP/s of each, and the largest error against a float64 product relative to
``|A| @ |B|`` (float32 rounding is about 6e-8 per addition; anything above
about 1e-5 would not be the same product).

One command, about a minute::

    python benchmarks/gemm_options.py
    python benchmarks/gemm_options.py --json

The last lines say, per product, which option is fastest and how it compares
with NumPy's OpenBLAS as configured (the library the training loop uses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from backproplab.bench.probes import child_json, cpu_flags, loadavg, machine_info, machine_line
from backproplab.tensor import blas_libs
from backproplab.tensor.blas import present
from backproplab.tensor.blas_libs import library
from backproplab.training.threads import usable_cpus

#: (name, m, k, n, the first operand transposed)
PRODUCTS = [("forward 16", 16, 784, 300, False), ("update 16", 784, 16, 300, True),
            ("forward 1024", 1024, 784, 300, False), ("update 1024", 784, 1024, 300, True),
            ("layer 2 forward 16", 16, 300, 10, False),
            ("layer 2 forward 128", 128, 300, 10, False),
            ("layer 2 update 1024", 300, 1024, 10, True),
            ("2048^2", 2048, 2048, 2048, False)]
#: OPENBLAS_CORETYPE values worth pinning, with the CPU flag each needs.
CORES = (("Haswell", "avx2"), ("SkylakeX", "avx512f"), ("Cooperlake", "avx512_bf16"),
         ("SapphireRapids", "amx_tile"))
SECONDS_PER_PRODUCT = 0.15


# ------------------------------------------------------------------ child side
def _mkl_gemm(jit: bool = True):
    if not jit:  # every product by cblas_sgemm (before the binding is made)
        blas_libs.MKL_JIT_MAX_WORK = 0
    lib = library("mkl")  # the project's binding: CNR AUTO | STRICT, Intel OpenMP
    return lambda a, b, c, trans: lib(a, b, c, 1.0, 0.0, trans)


def _product(option: str):
    """``f(a, b, c, trans)``: ``c = op(a) @ b`` with the option's library."""
    if option == "blis":
        import blis.py

        return lambda a, b, c, trans: blis.py.gemm(a, b, trans1=trans, out=c, alpha=1.0, beta=0.0)
    if option in ("mkl", "mkl-nojit"):
        return _mkl_gemm(jit=option == "mkl")
    if option == "torch":
        import torch

        def gemm(a, b, c, trans):
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            torch.matmul(ta.T if trans else ta, tb, out=tc)
        return gemm
    return lambda a, b, c, trans: np.matmul(a.T if trans else a, b, out=c)


def _rate(f, a, b, c, trans, flop: float) -> float:
    f(a, b, c, trans)
    calls = max(1, int(SECONDS_PER_PRODUCT / max(1e-6, _once(f, a, b, c, trans))))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            f(a, b, c, trans)
        best = min(best, (time.perf_counter() - t0) / calls)
    return flop / best / 1e9


def _once(f, a, b, c, trans) -> float:
    t0 = time.perf_counter()
    f(a, b, c, trans)
    return time.perf_counter() - t0


def child(option: str) -> dict:
    """Measure every product with one option (in this fresh process)."""
    f = _product(option)
    rng = np.random.default_rng(0)
    out = {}
    for name, m, k, n, trans in PRODUCTS:
        a = rng.random((k, m) if trans else (m, k), dtype=np.float32) - 0.5
        b = rng.random((k, n), dtype=np.float32) - 0.5
        c = np.empty((m, n), dtype=np.float32)
        f(a, b, c, trans)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        exact = (a64.T if trans else a64) @ b64
        scale = (np.abs(a64.T if trans else a64) @ np.abs(b64)).max()
        out[name] = {"gflops": round(_rate(f, a, b, c, trans, 2.0 * m * k * n), 1),
                     "rel_error": float(np.abs(c - exact).max() / scale)}
    if option.startswith("openblas"):
        from threadpoolctl import threadpool_info

        out["kernels"] = [i.get("architecture") for i in threadpool_info()
                          if i.get("internal_api") == "openblas"]
    return out


# ----------------------------------------------------------------- parent side
def options() -> list[str]:
    """The options this machine can run."""
    flags = set(cpu_flags())
    out = ["openblas"] + [f"openblas:{core}" for core, flag in CORES if flag in flags]
    for mod in ("blis", "torch"):
        try:
            __import__(mod)
            out.append(mod)
        except ImportError:
            pass
    if present("mkl"):
        out += ["mkl", "mkl-nojit"]
    return out


def _run_child(option: str, threads: int) -> dict:
    core = option.partition(":")[2]  # OpenBLAS reads it when NumPy loads, in the child
    return child_json([__file__, "--child", option], threads=threads, timeout=600,
                      env={"OPENBLAS_CORETYPE": core} if core else None)


def measure() -> dict:
    """Every option at 1 thread and at every usable core."""
    counts = sorted({1, usable_cpus()})
    rows = [{"option": o, "threads": t, **_run_child(o, t)}
            for t in counts for o in options()]
    return {"machine": machine_info(), "loadavg": loadavg(), "rows": rows}


def print_table(result: dict) -> None:
    """The table and, per product, the fastest option against NumPy's OpenBLAS as is."""
    m = result["machine"]
    print(f"{machine_line(m)}; OPENBLAS_CORETYPE={m['environment'].get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"load average {result['loadavg']}")
    names = [p[0] for p in PRODUCTS]
    print(f"{'option':<24} {'thr':>3} " + " ".join(f"{n:>13}" for n in names) + "  max error")
    for r in result["rows"]:
        if "error" in r:
            print(f"{r['option']:<24} {r['threads']:>3} {r['error']}")
            continue
        err = max(r[n]["rel_error"] for n in names)
        print(f"{r['option']:<24} {r['threads']:>3} "
              + " ".join(f"{r[n]['gflops']:>13.1f}" for n in names) + f"  {err:.1e}")
    print("GFLOP/s (best of 5); error: max |C - C64| / max(|A| @ |B|)")
    for t in sorted({r["threads"] for r in result["rows"]}):
        ok = [r for r in result["rows"] if r["threads"] == t and "error" not in r]
        base = next((r for r in ok if r["option"] == "openblas"), None)
        for n in names:
            best = max(ok, key=lambda r: r[n]["gflops"])
            if base:
                print(f"{t} thread(s), {n}: fastest {best['option']} "
                      f"{best[n]['gflops']:.0f} GFLOP/s = {best[n]['gflops'] / base[n]['gflops']:.2f}x "
                      f"NumPy's OpenBLAS as configured")


def main(argv: list[str] | None = None) -> int:
    """Parse the options; measure (or, with ``--child``, measure one option here)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    result = measure()
    print(json.dumps(result)) if args.json else print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
