"""Epoch time of small-MLP trainers, side by side, each in its own process (``backproplab bench``).

The workload is the study's network on image data: 784-300-10, sigmoid hidden
layer, softmax + cross-entropy, plain SGD (no momentum, no weight decay),
float32, on the 55,000 Fashion-MNIST training images (synthetic data of the
same shape where the dataset is not on the machine). Each row runs in a fresh
process of its own and the rows are timed in turns:

- ``train``: ``backproplab train`` itself (:func:`backproplab.training.run_training`
  with its run folder, logs, progress, divergence guard and checkpoint, at its
  default threads); its epoch time is the ``train_seconds`` of ``metrics.jsonl``;
- ``backproplab``: the bare loop (:func:`backproplab.training.loop.fit`);
- ``numpy``: a straightforward NumPy float32 loop (what one would write first);
- ``torch``: PyTorch on the CPU at 1 and at 2 threads (rows ``torch-1t``,
  ``torch-2t``), the usual ``zero_grad / backward / step`` loop;
- ``sklearn-float64`` / ``sklearn-float32``: scikit-learn's ``MLPClassifier``
  (solver ``sgd``, no momentum, ``alpha=0``), one ``partial_fit`` per epoch.

Reported per row and batch size: the median seconds per epoch, the threads,
GFLOP/s of matrix work and its fraction of NumPy's best GEMM rate, the load of
other processes during each timed epoch, the machine's facts and the targets
of issue 19 (met / not met). ``load=N`` runs N busy processes meanwhile. Peak
memory is measured in a fresh child process per implementation and batch size.

The modules:

- :mod:`~backproplab.bench.workload`: the network, names, defaults, targets, the data;
- :mod:`~backproplab.bench.runners`: one trainer class per implementation;
- :mod:`~backproplab.bench.peers`: a process per row, driven epoch by epoch;
- :mod:`~backproplab.bench.probes`: the machine (CPU, thread pools, load, matmul peak);
- :mod:`~backproplab.bench.memory`: peak memory in a fresh process;
- :mod:`~backproplab.bench.run`: :func:`run_benchmark`, the whole run;
- :mod:`~backproplab.bench.report`: ratios, targets and the printed tables.

The command line (options, output, exit status) is :mod:`backproplab.commands.bench`.

Python use::

    from backproplab.bench import run_benchmark
    result = run_benchmark(impls=["backproplab", "torch"], batch_sizes=[128], epochs=3)
    result["results"][0]["median_seconds"]
"""

from backproplab.bench.memory import measure_memory, memory_probe
from backproplab.bench.probes import LOAD_FLAG, LoadProbe, machine_info, matmul_peak, wait_for_quiet
from backproplab.bench.report import print_report
from backproplab.bench.run import run_benchmark
from backproplab.bench.runners import available_impls
from backproplab.bench.workload import (
           DEFAULT_BATCH_SIZES,
           DEFAULT_IMPLS,
           IMPLS,
           QUICK_ROWS,
           flops_per_epoch,
           load_data,
           parse_batch_sizes,
           parse_impls,
)

__all__ = ["DEFAULT_BATCH_SIZES", "DEFAULT_IMPLS", "IMPLS", "LOAD_FLAG", "QUICK_ROWS",
           "LoadProbe", "available_impls", "flops_per_epoch", "load_data", "machine_info",
           "matmul_peak", "measure_memory", "memory_probe", "parse_batch_sizes", "parse_impls",
           "print_report", "run_benchmark", "wait_for_quiet"]
