"""What ``backproplab bench`` measures: the network, the implementations' names, the
batch sizes, the targets, the FLOP count and the training images."""

from __future__ import annotations

import itertools

import numpy as np

from backproplab.data import load_dataset
from backproplab.errors import BackproplabError

#: The benchmarked network and optimizer.
SIZES = (784, 300, 10)
ACTIVATION = "sigmoid"
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZES = ("16", "128", "1024", "full")
DEFAULT_EPOCHS = 3
DEFAULT_WARMUP = 1
DEFAULT_RETRIES = 2
#: Batch sizes at which peak memory is measured.
DEFAULT_MEMORY_BATCH_SIZES = ("1024", "full")
#: Examples used by ``--quick`` (small data, for tests).
QUICK_ROWS = 2048
#: Implementations by name, in the order tables list them: ``train`` is
#: ``backproplab train`` itself (run folder, logs, progress, divergence guard,
#: checkpoint), ``backproplab`` the bare loop (:func:`backproplab.training.loop.fit`).
IMPLS = ("train", "backproplab", "numpy", "torch", "sklearn-float64", "sklearn-float32")
#: Names that stand for several implementations.
IMPL_GROUPS = {"sklearn": ("sklearn-float64", "sklearn-float32")}
DEFAULT_IMPLS = ("train", "backproplab", "numpy", "torch", "sklearn")
#: Implementations that can run with ``device="gpu"``.
GPU_IMPLS = ("train", "backproplab", "torch")
#: Targets (issue 19), on the train path with its default threads: ours / PyTorch's
#: (the faster of 1 and 2 threads) at most these ratios, per batch size.
TORCH_RATIO_TARGETS = {"16": 0.40, "128": 0.60, "1024": 0.90}
#: ... on a GPU, against PyTorch CUDA.
GPU_TORCH_RATIO_TARGETS = {"16": 0.5, "1024": 0.9}
#: ... at least this fraction of NumPy's best GEMM rate at PEAK_FRACTION_BATCH.
PEAK_FRACTION_TARGET = 0.80
PEAK_FRACTION_BATCH = "1024"
#: ... at most this times the bare loop's epoch.
LOOP_RATIO_TARGET = 1.05
#: ... under a competing load, the default threads at most this times the best of 1 and 2.
BUSY_RATIO_TARGET = 1.25
#: Peak memory target: data size times this, plus MEMORY_EXTRA_MB.
MEMORY_DATA_FACTOR = 1.5
MEMORY_EXTRA_MB = 100.0
RESULT_FORMAT = "backproplab.bench.epoch_time"
RESULT_VERSION = 2

MB = 1e6  # memory is reported in MB of 10^6 bytes


def _items(text) -> list[str]:
    """The lower-cased, non-empty items of a comma-separated string or a list."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [s for s in (str(item).strip().lower() for item in items) if s]


def parse_batch_sizes(text, option: str = "--batch-sizes") -> list[str]:
    """``"16,128,full"`` -> ``["16", "128", "full"]`` (each a positive integer or ``full``).

    Parameters
    ----------
    text : str or list
        Comma-separated batch sizes, or a list of them.
    option : str, default "--batch-sizes"
        The command-line option named in the error message.

    Returns
    -------
    list of str
        The batch sizes, duplicates dropped, order kept.

    Raises
    ------
    BackproplabError
        For an item that is neither a positive integer nor ``full``, or none.

    Examples
    --------
    >>> parse_batch_sizes("16,0128,full,16")
    ['16', '128', 'full']
    """
    example = f"{option} 16,128,1024,full"
    out = []
    for item in _items(text):
        if item != "full" and (not item.isdigit() or int(item) < 1):
            raise BackproplabError(
                f"batch size {item!r} in {option} is neither a positive integer nor 'full'; "
                f"use e.g. {example}")
        out.append(item if item == "full" else str(int(item)))
    if not out:
        raise BackproplabError(f"no batch size given in {option}; use e.g. {example}")
    return list(dict.fromkeys(out))


def parse_impls(text) -> list[str]:
    """``"backproplab,sklearn"`` -> the implementation names (groups expanded, order kept).

    Parameters
    ----------
    text : str or list
        Comma-separated names from :data:`IMPLS` or :data:`IMPL_GROUPS`.

    Returns
    -------
    list of str
        Duplicates dropped.

    Raises
    ------
    BackproplabError
        For an unknown name, or none.
    """
    out: list[str] = []
    for item in _items(text):
        for name in IMPL_GROUPS.get(item, (item,)):
            if name not in IMPLS:
                raise BackproplabError(
                    f"unknown implementation {item!r}; choose from "
                    f"{', '.join(IMPLS + tuple(IMPL_GROUPS))}")
            out.append(name)
    if not out:
        raise BackproplabError("no implementation given; use e.g. --impl backproplab,torch")
    return list(dict.fromkeys(out))


def module_for(impl: str) -> str:
    """The module an implementation needs besides NumPy (``"numpy"`` for none)."""
    return {"torch": "torch", "sklearn-float64": "sklearn",
            "sklearn-float32": "sklearn"}.get(impl, "numpy")


def flops_per_epoch(n: int, sizes=SIZES) -> float:
    """Floating-point operations of the matrix products in one epoch over ``n`` examples.

    Per layer of fan-in ``a`` and fan-out ``b``: ``2nab`` for the forward
    product, ``2nab`` for the weight gradient and, above the first layer,
    ``2nab`` for the gradient of the layer's input.

    Parameters
    ----------
    n : int
        The examples trained on.
    sizes : sequence of int, default SIZES
        The layer sizes, inputs first.

    Returns
    -------
    float

    Examples
    --------
    >>> flops_per_epoch(10, (4, 3, 2))
    840.0
    """
    total = 0
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        total += 2 * n * a * b * (3 if i else 2)
    return float(total)


def batch_rows(batch_size: str, n: int) -> int:
    """Rows in one batch of ``batch_size`` (a number or ``"full"``) out of ``n``."""
    return n if batch_size == "full" else min(int(batch_size), n)


def load_data(quick: bool = False, synthetic: bool = False, data_dir=None,
              limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The benchmark's training images: ``(X float32, y int64, description)``.

    Fashion-MNIST's 55,000 training images (unit-scaled, via
    :func:`backproplab.data.load_dataset`, never downloading) where they are on
    this machine; otherwise, or with ``synthetic``, uniform random pixels and
    random labels of the same shape (seed 0).

    Parameters
    ----------
    quick : bool, default False
        Keep :data:`QUICK_ROWS` rows (unless ``limit`` is given).
    synthetic : bool, default False
        Use random data even where the images are on this machine.
    data_dir : str, os.PathLike or None, default None
        Where the images are; a folder that does not hold them raises
        instead of falling back to random data.
    limit : int or None, default None
        Keep the first ``limit`` rows.

    Returns
    -------
    tuple
        ``(X, y, description)``: ``description`` says the source, the rows, the
        features, the bytes and where the data came from (or why it is random).
    """
    if quick and limit is None:
        limit = QUICK_ROWS
    reason = "synthetic data requested"
    if not synthetic:

        try:
            ds = load_dataset("fashion-mnist", limit=limit, data_dir=data_dir, download=False)
        except BackproplabError as exc:
            if data_dir is not None:
                raise
            reason = str(exc)
        else:
            X = np.ascontiguousarray(ds.X_train, dtype=np.float32)
            y = np.ascontiguousarray(ds.y_train, dtype=np.int64)
            where = ds.meta.get("directory") or ds.meta.get("location")
            return X, y, {"source": "fashion-mnist", "rows": int(X.shape[0]),
                          "features": int(X.shape[1]), "where": str(where) if where else None,
                          "bytes": int(X.nbytes + y.nbytes)}
    n = limit or 55_000
    rng = np.random.default_rng(0)
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n, dtype=np.int64)
    return X, y, {"source": "synthetic", "rows": n, "features": SIZES[0], "why": reason,
                  "bytes": int(X.nbytes + y.nbytes)}
