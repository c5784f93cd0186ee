"""Seconds per training epoch on a GPU: `backproplab train` and the bare loop on CuPy
against PyTorch CUDA, with the GPU targets of issue 19 (met / not met), in one command.

The 784-300-10 sigmoid network, plain SGD, float32, Fashion-MNIST's 55,000
training images moved to the device once, at batch 16 / 128 / 1024 / full, each
row in its own process, the matmul peak an 8192 x 8192 float32 product on the
device; then the targets: at most 0.5x PyTorch CUDA's epoch at batch 16 and at
most 0.9x at batch 1024. About two minutes on a GPU::

    pip install -e ".[gpu,reference]"        # CuPy for CUDA 12, PyTorch with CUDA
    python benchmarks/gpu_epoch_time.py --json-out gpu-bench.json

Without CuPy, PyTorch CUDA or a CUDA device it stops at once with one sentence
(exit status 2). Options as ``benchmarks/epoch_time.py`` (``--quick`` for a
smoke test); the device is fixed.
"""

from __future__ import annotations

import importlib.util
import sys

from epoch_time import parser, run


def cuda_problem(find_spec=importlib.util.find_spec) -> str | None:
    """Why this machine cannot run the GPU table (one sentence), or ``None``."""
    for module, pip in (("cupy", "cupy-cuda12x"), ("torch", "torch with CUDA")):
        if find_spec(module) is None:
            return (f"{module} is not installed; install it (pip install {pip!r}, or "
                    "pip install -e '.[gpu,reference]') on a machine with a CUDA GPU")
    import cupy
    import torch

    try:
        devices = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no driver, no runtime: both mean no GPU here
        devices = 0
    if devices < 1 or not torch.cuda.is_available():
        return ("no CUDA device is visible to CuPy and PyTorch here; run this on a machine "
                "with an NVIDIA GPU and its driver")
    return None


def main(argv: list[str] | None = None) -> int:
    """Check for CUDA, then run the table on the GPU and print it with its targets."""
    args = parser("gpu_epoch_time.py", __doc__.split("\n\n")[0]).parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(f"gpu_epoch_time.py: {problem}", file=sys.stderr)
        return 2
    return run(args, "python benchmarks/gpu_epoch_time.py " + " ".join(argv or sys.argv[1:]),
               device="gpu", impls=args.impl or "train,backproplab,torch")


if __name__ == "__main__":
    sys.exit(main())
