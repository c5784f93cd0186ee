"""How much memory training an MLP needs, and how much this process can have.

:func:`training_memory` adds up what a run allocates: the parameters, their
gradients, the optimizer's state (the fused SGD path keeps one update buffer per
weight matrix, momentum one buffer per parameter, Adam two), the random
initialization's float64 draw of the largest weight matrix, and the activation
buffers of one training batch (forward outputs, backward gradients and scratch)
and of one evaluation batch (forward outputs). :func:`available_memory` is the
smaller of ``MemAvailable`` (``/proc/meminfo``) and what ``RLIMIT_AS`` still
allows this process (on a GPU: the free memory CUDA reports).
:func:`check_training_memory` compares the two before
anything is allocated, so a mistyped ``--hidden 1000000000`` is one sentence
instead of a process the kernel kills.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.tensor.backend import get_array_module
from backproplab.tensor.files import MAX_NPZ_BYTES

_GIB = 1 << 30
#: extra state per parameter, in parameter-sized buffers (SGD: the fused path's update buffers)
OPTIMIZER_BUFFERS = {"sgd": 1, "momentum": 1, "nesterov": 1, "adam": 2}
#: what one number costs where no NumPy dtype applies (a Python float and its list slot)
PYTHON_FLOAT_BYTES = 32


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training run needs, by kind; :attr:`total` is their sum.

    Attributes
    ----------
    parameters : int
        The weights and biases.
    gradients : int
        Their gradients.
    optimizer : int
        The optimizer's buffers.
    initialization : int
        The float64 draw of the largest weight matrix at initialization.
    activations : int
        The buffers of one training batch and one evaluation batch.
    """

    parameters: int
    gradients: int
    optimizer: int
    initialization: int
    activations: int

    @property
    def total(self) -> int:
        return (self.parameters + self.gradients + self.optimizer + self.initialization
                + self.activations)


def training_memory(sizes, batch_size: int, *, dtype="float32", optimizer: str = "sgd",
                    eval_batch_size: int = 8192, bytes_per_number: int | None = None,
                    ) -> MemoryEstimate:
    """Estimate the memory of training an MLP of layer widths ``sizes``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[784, 300, 10]``.
    batch_size : int
        Rows of one training batch (the whole training set for full batches).
    dtype : str or numpy.dtype
        The model's float type; sets the bytes per number.
    optimizer : str
        ``sgd``, ``momentum``, ``nesterov`` or ``adam`` (its state buffers).
    eval_batch_size : int
        Rows of one evaluation batch (0 when nothing is evaluated).
    bytes_per_number : int, optional
        Overrides the dtype's size (:data:`PYTHON_FLOAT_BYTES` for the scalar engine).

    Returns
    -------
    MemoryEstimate
        The bytes of each kind; Python integers, so huge sizes do not overflow.
    """
    sizes = [int(s) for s in sizes]
    item = int(bytes_per_number or np.dtype(dtype).itemsize)
    n_params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    largest = max(a * b for a, b in itertools.pairwise(sizes))
    outputs, hidden = sum(sizes[1:]), sum(sizes[1:-1])
    rows = int(batch_size) * (outputs + 2 * hidden) + int(eval_batch_size) * outputs
    return MemoryEstimate(
        parameters=n_params * item,
        gradients=n_params * item,
        optimizer=OPTIMIZER_BUFFERS.get(optimizer, 2) * n_params * item,
        initialization=largest * 8,
        activations=rows * item,
    )


def _meminfo_available(path: str = "/proc/meminfo") -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _address_space_used(path: str = "/proc/self/status") -> int:
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def available_memory(device: str = "cpu") -> tuple[int, str] | None:
    """What this process can still allocate, and where the figure comes from.

    For ``device="cpu"`` the smaller of ``MemAvailable`` from ``/proc/meminfo``
    and, where a soft ``RLIMIT_AS`` is set, that limit less the address space
    already in use (``VmSize``). For ``"gpu"``, the free memory CUDA reports for
    the current device.

    Parameters
    ----------
    device : {"cpu", "gpu"}, default "cpu"

    Returns
    -------
    tuple of (int, str) or None
        ``(bytes, where the figure comes from)``; ``None`` where neither is known
        (not Linux, no limit).
    """
    if device != "cpu":
        free, _total = get_array_module(device).cuda.runtime.memGetInfo()
        return int(free), "free memory on the GPU"
    found = []
    mem = _meminfo_available()
    if mem is not None:
        found.append((mem, "MemAvailable in /proc/meminfo"))
    try:
        import resource
    except ImportError:  # not POSIX
        return min(found) if found else None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        used = _address_space_used()
        why = f"RLIMIT_AS of {_gib(soft)} GiB less the {_gib(used)} GiB this process already maps"
        found.append((max(soft - used, 0), why))
    return min(found) if found else None


def check_training_memory(sizes, batch_size: int, device: str = "cpu",
                          **options) -> MemoryEstimate:
    """Check, before anything is allocated, that training an MLP of ``sizes`` fits in
    memory and saves checkpoints a model file may hold (:data:`MAX_NPZ_BYTES`).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output.
    batch_size : int
        Rows of one training batch.
    device : {"cpu", "gpu"}, default "cpu"
        Where the arrays will live.
    **options
        :func:`training_memory`'s keyword arguments (``dtype``, ``optimizer``, ...).

    Returns
    -------
    MemoryEstimate
        Also when the available memory is unknown and only the checkpoint's size is
        checked.

    Raises
    ------
    BackproplabError
        When the estimate exceeds what is available (the sentence names the hidden
        widths, the estimate and what is available, in GiB), or the parameters and
        optimizer state exceed :data:`MAX_NPZ_BYTES`.
    """
    estimate = training_memory(sizes, batch_size, **options)
    available = available_memory(device)
    if available is not None and estimate.total > available[0]:
        raise BackproplabError(
            f"hidden {_hidden(sizes)} needs about {_gib(estimate.total)} GiB to train "
            f"(parameters, gradients, optimizer state and a batch's activations) but only "
            f"{_gib(available[0])} GiB are available ({available[1]}); choose smaller widths "
            "in hidden or a smaller batch_size", settings=("hidden", "batch_size"))
    saved = estimate.parameters + estimate.optimizer  # what a checkpoint holds, at most
    if saved > MAX_NPZ_BYTES:
        raise BackproplabError(
            f"hidden {_hidden(sizes)} makes checkpoints of about {_gib(saved)} GiB (parameters "
            f"and optimizer state), more than the {_gib(MAX_NPZ_BYTES)} GiB a model file may "
            "hold; choose smaller widths in hidden", settings=("hidden",))
    return estimate


def _hidden(sizes) -> str:
    return ",".join(str(int(s)) for s in list(sizes)[1:-1])


def _gib(n: int) -> str:
    """``n`` bytes in GiB, readable at any size (``0.3``, ``12``, ``2.9e+04``)."""
    g = n / _GIB
    return f"{g:.2g}" if g < 10 or not math.isfinite(g) or g >= 1e6 else f"{g:.0f}"


__all__ = ["MemoryEstimate", "available_memory", "check_training_memory", "training_memory"]
