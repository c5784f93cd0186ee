"""Where one fused SGD step's time goes, stage by stage, with NumPy's kernels and Numba's.

Runs the real fused plain-SGD step (:func:`backproplab.tensor.train_step`'s
``_fused_sgd_step``) of the benchmark's network (784-300-10 sigmoid, float32) on
random data of Fashion-MNIST's shape, in this process, with the GEMM and thread
count a run would use (``--gemm``, ``--threads`` per row), and times each call the
step makes through timing wrappers: every product (``blas.matmul``), every weight
update (``_add_product``) and every elementwise stage of the selected kernels
(:func:`backproplab.tensor.kernels.step_ops`); ``rest`` is the step's own time
outside them (bias updates, Python). The batch gather is ``np.take`` of random
rows, as the training loop does. Each wrapper adds about 0.3 us to its call::

    python benchmarks/step_parts.py                        # batch 16 (1 thread), 128 and 1024 (2)
    python benchmarks/step_parts.py --rows 16:1 --gemm openblas
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from backproplab.bench.probes import machine_info, machine_line
from backproplab.tensor import MLP, blas, kernels
from backproplab.tensor import train as fused
from backproplab.training.threads import computing

#: The elementwise stages of the kernels' ops, by method.
STAGES = {"hidden_forward": "bias + activation", "logits_forward": "bias of the logits",
          "direction": "softmax, loss, gradient", "hidden_grad": "activation backward + db"}


def _timed(fn, clock, name_of):
    def call(*args, **kw):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        clock[name_of(*args, **kw)] += time.perf_counter() - t0
        return out
    return call


class _TimedOps:
    """The selected ops, each method timed under its stage name."""

    def __init__(self, ops, clock):
        for method, stage in STAGES.items():
            setattr(self, method, _timed(getattr(ops, method), clock, lambda *a, s=stage, **k: s))


@contextmanager
def _timing(clock):
    """Time every product, update and elementwise stage the fused step calls."""
    saved = blas.matmul, fused._add_product, kernels.step_ops
    ops = _TimedOps(kernels.step_ops(np), clock)
    blas.matmul = _timed(saved[0], clock, lambda xp, a, b, out=None, trans_a=False,
                         trans_b=False: f"product {a.shape} @ {b.shape}{'.T' if trans_b else ''}")
    fused._add_product = _timed(saved[1], clock, lambda xp, A, dY, C, buf, first=False:
                                f"update of a {C.shape[0]} x {C.shape[1]} weight")
    kernels.step_ops = lambda xp: ops
    try:
        yield
    finally:
        blas.matmul, fused._add_product, kernels.step_ops = saved


def measure(batch: int, threads: int, gemm: str, name: str, steps: int) -> dict:
    """Microseconds per step of each stage, the gather and the rest, over ``steps`` steps."""
    rng = np.random.default_rng(0)
    X = rng.random((55_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 55_000)
    model = MLP([784, 300, 10], dtype="float32", seed=0)
    clock: dict[str, float] = defaultdict(float)
    with computing(threads, gemm, name):
        kernels.prepare("float32")
        xb, yb = np.empty((batch, 784), np.float32), np.empty(batch, np.int64)
        with _timing(clock):
            for i in range(steps + 20):  # 20 untimed steps first
                if i == 20:
                    clock.clear()
                idx = rng.integers(0, 55_000, batch)
                t0 = time.perf_counter()
                np.take(X, idx, axis=0, out=xb, mode="clip")
                np.take(y, idx, out=yb, mode="clip")
                t1 = time.perf_counter()
                fused._fused_sgd_step(model, 0.01, xb, yb)
                clock["gather the batch"] += t1 - t0
                clock["step"] += time.perf_counter() - t1
    out = {k: v / steps * 1e6 for k, v in clock.items()}
    out["rest"] = out.pop("step") - sum(v for k, v in out.items() if k != "gather the batch")
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse the options, time every stage per kernels, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="16:1,128:2,1024:2", help="batch:threads, comma-separated")
    p.add_argument("--gemm", default=blas.default_gemm(), choices=blas.GEMMS)
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    args = p.parse_args(argv)
    names = [k for k in kernels.KERNELS if kernels.present(k)]
    print(machine_line(machine_info()))
    for row in args.rows.split(","):
        batch, threads = (int(v) for v in row.split(":"))
        steps = max(20, int(args.seconds * 1e6 / (batch * 15)))
        got = {k: measure(batch, threads, args.gemm, k, steps) for k in names}
        print(f"\nbatch {batch}, {threads} thread(s), gemm {args.gemm}: us per step "
              f"({steps} steps)")
        print(f"{'stage':44s}" + "".join(f"{k:>10s}" for k in names))
        for stage in got[names[0]]:
            print(f"{stage:44s}" + "".join(f"{got[k][stage]:10.1f}" for k in names))
        print(f"{'total':44s}" + "".join(f"{sum(got[k].values()):10.1f}" for k in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
