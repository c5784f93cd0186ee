"""Seconds per training epoch on a GPU: backproplab on CuPy vs PyTorch CUDA.

The same benchmark as ``benchmarks/epoch_time.py`` (:mod:`backproplab.bench`)
with ``--device gpu --impl backproplab,torch``: the 784-300-10 sigmoid network,
plain SGD, float32, Fashion-MNIST's 55,000 training images (random data of the
same shape where the dataset is missing) moved to the device once, batches
gathered on the device, at batch sizes 16 / 128 / 1024 / full; the matmul peak
is an 8192 x 8192 float32 product on the device. Peak host memory (and device
memory: PyTorch's ``max_memory_allocated``, CuPy's memory-pool size) is
measured per implementation in a fresh process.

Run it on a machine with a CUDA GPU, then copy the table into
docs/performance.md ("GPU")::

    pip install -e ".[gpu,reference]"       # CuPy for CUDA 12 and PyTorch with CUDA
    python benchmarks/gpu_epoch_time.py --json-out gpu-bench.json

Any option of ``epoch_time.py`` can be added (``--epochs 5``,
``--batch-sizes 16,1024``, ``--quick`` for a smoke test).
"""

import sys

from backproplab.commands.bench import main


def gpu_main(argv: list[str]) -> int:
    """Run the benchmark on the GPU with ``argv``'s extra options."""
    if any(a == "--device" or a.startswith("--device=") for a in argv):
        print("gpu_epoch_time.py: --device is fixed to gpu here", file=sys.stderr)
        return 2
    has_impl = any(a == "--impl" or a.startswith("--impl=") for a in argv)
    extra = [] if has_impl else ["--impl", "backproplab,torch"]
    return main(["--device", "gpu", *extra, *argv], prog="gpu_epoch_time.py")


if __name__ == "__main__":
    sys.exit(gpu_main(sys.argv[1:]))
