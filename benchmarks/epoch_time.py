"""Seconds per training epoch: backproplab vs NumPy, PyTorch and scikit-learn on the CPU.

A thin wrapper around :mod:`backproplab.commands.bench` (the same as ``backproplab bench``)::

    python benchmarks/epoch_time.py                      # the full run (a few minutes)
    python benchmarks/epoch_time.py --json-out bench.json --threads 2
    python benchmarks/epoch_time.py --quick --impl backproplab,torch

See ``python benchmarks/epoch_time.py --help`` and docs/performance.md.
"""

import sys

from backproplab.commands.bench import main

if __name__ == "__main__":
    sys.exit(main())
