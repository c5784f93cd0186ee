"""Where one fused SGD step's time goes, stage by stage, with NumPy's kernels and Numba's.

Times each stage of :func:`backproplab.tensor.train_step`'s fused plain-SGD step
for the benchmark's network (784-300-10 sigmoid, float32) on random data of
Fashion-MNIST's shape, in this process, with the GEMM and thread count a run
would use (``--gemm``, ``--threads``)::

    python benchmarks/step_parts.py                        # batch 16 (1 thread), 128 and 1024 (2)
    python benchmarks/step_parts.py --rows 16:1 --gemm openblas

Prints microseconds per step for each stage and their sum, per kernels
(:data:`backproplab.tensor.kernels.KERNELS` present here). The stages call the
same functions as the step (the selected ``ops`` of
:func:`backproplab.tensor.kernels.step_ops`, :func:`backproplab.tensor.blas.matmul`
and the step's update), in the step's order; the batch gather is ``np.take`` of
random rows, as the training loop does.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from backproplab.bench.probes import machine_info, machine_line
from backproplab.tensor import MLP, blas, kernels
from backproplab.tensor.train import _add_product, _update_buffers
from backproplab.training.threads import computing


def _timed_step(model, X, y, ops, clock) -> None:
    """One fused step of a one-hidden-layer model, each stage's seconds added to ``clock``."""
    t = time.perf_counter
    n = X.shape[0]
    (l0, l1), ws, ups = model.layers, model._workspace(n), _update_buffers(model)
    stages = (
        ("forward X @ W1", lambda: blas.matmul(np, X, l0.W, out=ws.out[0])),
        ("bias + sigmoid", lambda: ops.hidden_forward(ws.out[0], l0.b, model.act)),
        ("forward H @ W2", lambda: blas.matmul(np, ws.out[0], l1.W, out=ws.out[1])),
        ("bias of the logits", lambda: ops.logits_forward(ws.out[1], l1.b)),
        ("softmax, loss, gradient", lambda: ops.direction(model.loss_fn, ws.out[1], y,
                                                          -0.01 / n, l1.db)),
        ("dH = dY @ W2.T", lambda: blas.matmul(np, ws.out[1], l1.W, out=ws.grad[0],
                                               trans_b=True)),
        ("update W2", lambda: _add_product(np, ws.out[0], ws.out[1], l1.W, ups[1])),
        ("sigmoid backward + db1", lambda: ops.hidden_grad(ws.grad[0], ws.out[0], model.act,
                                                          ws.tmp[0], l0.db)),
        ("update W1", lambda: _add_product(np, X, ws.grad[0], l0.W, ups[0])),
        ("update b1, b2", lambda: [layer.b.__iadd__(layer.db) for layer in model.layers]),
    )
    for name, stage in stages:
        t0 = t()
        stage()
        clock[name] += t() - t0


def measure(batch: int, threads: int, gemm: str, name: str, steps: int) -> dict:
    """Microseconds per step of each stage (and the batch gather) for ``steps`` steps."""
    rng = np.random.default_rng(0)
    X = rng.random((55_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 55_000)
    model = MLP([784, 300, 10], dtype="float32", seed=0)
    clock: dict[str, float] = defaultdict(float)
    with computing(threads, gemm, name):
        kernels.prepare("float32")
        ops = kernels.step_ops(np)
        xb, yb = np.empty((batch, 784), np.float32), np.empty(batch, np.int64)
        for i in range(steps + 20):  # 20 untimed steps first
            if i == 20:
                clock.clear()
            idx = rng.integers(0, 55_000, batch)
            t0 = time.perf_counter()
            np.take(X, idx, axis=0, out=xb, mode="clip")
            np.take(y, idx, out=yb, mode="clip")
            clock["gather the batch"] += time.perf_counter() - t0
            _timed_step(model, xb, yb, ops, clock)
    return {k: v / steps * 1e6 for k, v in clock.items()}


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
        print(f"{'stage':26s}" + "".join(f"{k:>10s}" for k in names))
        for stage in got[names[0]]:
            print(f"{stage:26s}" + "".join(f"{got[k][stage]:10.1f}" for k in names))
        print(f"{'total':26s}" + "".join(f"{sum(got[k].values()):10.1f}" for k in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
