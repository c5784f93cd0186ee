"""Epoch time of small-MLP trainers, side by side in one process (``backproplab bench``).

The workload is the study's network on image data: 784-300-10, sigmoid hidden
layer, softmax + cross-entropy, plain SGD (no momentum, no weight decay),
float32, on the 55,000 Fashion-MNIST training images (synthetic data of the
same shape where the dataset is not on the machine). The same configuration is
trained by

- ``backproplab``: this project's tensor engine and training loop
  (:func:`backproplab.training.loop.fit`, which reports each epoch's
  ``train_seconds``: shuffling, batch gathering and the steps);
- ``numpy``: a straightforward NumPy float32 loop (what one would write first;
  it shows what the engine's work buys);
- ``torch``: PyTorch on the CPU, the usual ``zero_grad / backward / step`` loop;
- ``sklearn-float64`` / ``sklearn-float32``: scikit-learn's ``MLPClassifier``
  (solver ``sgd``, no momentum, ``alpha=0``) given float64 data (its default)
  or float32 data, one ``partial_fit`` call per epoch.

For every batch size all implementations are warmed up, then timed *in turns*
(epoch 1 of each, epoch 2 of each, ...), so that a change in the machine's load
hits all of them alike. Reported per implementation and batch size: the median
seconds per epoch, GFLOP/s of matrix work, and the fraction of the machine's
matmul peak (a 2048 x 2048 float32 product measured in the same run). Also
recorded: threads used, library versions, and the load of other processes
during each timed epoch (from ``/proc/stat``), because a shared machine can make
any number here meaningless. Peak memory is measured per implementation in a
fresh child process (``VmHWM``), one process per implementation and batch size.

Python use::

    from backproplab.bench import run_benchmark
    result = run_benchmark(impls=["backproplab", "torch"], batch_sizes=[128], epochs=3)
    result["results"][0]["median_seconds"]
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError

#: The benchmarked network and optimizer.
SIZES = (784, 300, 10)
ACTIVATION = "sigmoid"
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZES = ("16", "128", "1024", "full")
DEFAULT_EPOCHS = 3
DEFAULT_WARMUP = 1
#: Examples used by ``--quick`` (small data, for tests).
QUICK_ROWS = 2048
#: Implementations by name, in the order tables list them.
IMPLS = ("backproplab", "numpy", "torch", "sklearn-float64", "sklearn-float32")
#: Names that stand for several implementations.
IMPL_GROUPS = {"sklearn": ("sklearn-float64", "sklearn-float32")}
DEFAULT_IMPLS = ("backproplab", "numpy", "torch", "sklearn")
#: Implementations that can run with ``device="gpu"``.
GPU_IMPLS = ("backproplab", "torch")
#: Targets (issue 7): ours / theirs at most these ratios, per batch size.
TORCH_RATIO_TARGETS = {"16": 0.5, "128": 0.7, "1024": 0.95}
SKLEARN_RATIO_TARGET = 0.33
PEAK_FRACTION_TARGET = 0.70
PEAK_FRACTION_BATCH = "1024"
#: Peak memory target: data size times this, plus MEMORY_EXTRA_MB.
MEMORY_DATA_FACTOR = 1.5
MEMORY_EXTRA_MB = 100.0
#: Others' share of the machine's CPU time above which a timing is flagged as loaded.
LOAD_FLAG = 0.10
RESULT_FORMAT = "backproplab.bench.epoch_time"
RESULT_VERSION = 1

MB = 1e6  # memory is reported in MB of 10^6 bytes


# ---------------------------------------------------------------- parsing
def parse_batch_sizes(text, option: str = "--batch-sizes") -> list[str]:
    """``"16,128,full"`` -> ``["16", "128", "full"]`` (each a positive integer or ``full``).

    ``option`` is the command-line option named in the error message.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    example = f"{option} 16,128,1024,full"
    out = []
    for item in items:
        item = str(item).strip().lower()
        if not item:
            continue
        if item != "full" and (not item.isdigit() or int(item) < 1):
            raise BackproplabError(
                f"batch size {item!r} in {option} is neither a positive integer nor 'full'; "
                f"use e.g. {example}")
        out.append(item if item == "full" else str(int(item)))
    if not out:
        raise BackproplabError(f"no batch size given in {option}; use e.g. {example}")
    return list(dict.fromkeys(out))


def parse_impls(text) -> list[str]:
    """``"backproplab,sklearn"`` -> the implementation names (groups expanded, order kept)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        item = str(item).strip().lower()
        if not item:
            continue
        names = IMPL_GROUPS.get(item, (item,))
        for name in names:
            if name not in IMPLS:
                raise BackproplabError(
                    f"unknown implementation {item!r}; choose from "
                    f"{', '.join(IMPLS + tuple(IMPL_GROUPS))}")
            out.append(name)
    if not out:
        raise BackproplabError("no implementation given; use e.g. --impl backproplab,torch")
    return list(dict.fromkeys(out))


def flops_per_epoch(n: int, sizes=SIZES) -> float:
    """Floating-point operations of the matrix products in one epoch over ``n`` examples.

    Per layer of fan-in ``a`` and fan-out ``b``: ``2nab`` for the forward
    product, ``2nab`` for the weight gradient and, above the first layer,
    ``2nab`` for the gradient of the layer's input.
    """
    total = 0
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        total += 2 * n * a * b * (3 if i else 2)
    return float(total)


def _batch(batch_size: str, n: int) -> int:
    return n if batch_size == "full" else min(int(batch_size), n)


# ------------------------------------------------------------------- data
def load_data(quick: bool = False, synthetic: bool = False, data_dir=None,
              limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The training images ``(X float32, y int64, description)``.

    Fashion-MNIST's 55,000 training images (unit-scaled, via
    :func:`backproplab.data.load_dataset`, never downloading) where they are on
    this machine; otherwise, or with ``synthetic``, uniform random pixels and
    random labels of the same shape. ``quick`` keeps :data:`QUICK_ROWS` rows.
    """
    if quick and limit is None:
        limit = QUICK_ROWS
    if not synthetic:
        from backproplab.data import load_dataset

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
    else:
        reason = "synthetic data requested"
    n = limit or 55_000
    rng = np.random.default_rng(0)
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n, dtype=np.int64)
    return X, y, {"source": "synthetic", "rows": n, "features": SIZES[0], "why": reason,
                  "bytes": int(X.nbytes + y.nbytes)}


# ---------------------------------------------------------- implementations
class _Runner:
    """One implementation set up for one batch size; ``epoch()`` trains one epoch.

    ``epoch()`` returns the seconds it took, or ``None`` to let the caller
    time the whole call.
    """

    library = ""

    def epoch(self) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def sync(self) -> None:
        """Wait for queued device work (GPU runners)."""


class BackproplabRunner(_Runner):
    """This project: :class:`backproplab.tensor.MLP`, plain SGD, :func:`training.loop.fit`."""

    library = "backproplab"

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu"):
        from backproplab.tensor import MLP, make_optimizer

        self.model = MLP(list(SIZES), activation=ACTIVATION, dtype="float32", seed=seed,
                         device=device)
        self.opt = make_optimizer("sgd", self.model, lr)
        self.X, self.y = self.model.check_inputs(X, y)  # on the device once
        self.batch_size = "full" if batch_size == "full" else int(batch_size)
        self.rng = np.random.default_rng(seed)

    def epoch(self) -> float:
        from backproplab.training.loop import fit

        history = fit(self.model, self.opt, self.X, self.y, epochs=1,
                      batch_size=self.batch_size, rng=self.rng, eval_train=False)
        self.sync()
        return float(history[0]["train_seconds"])

    def sync(self) -> None:
        if self.model.xp is not np:
            self.model.xp.cuda.Device().synchronize()


class NumpyRunner(_Runner):
    """A straightforward NumPy float32 loop: new arrays every step, ``W -= lr * dW``."""

    library = "numpy"

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu"):
        rng = np.random.default_rng(seed)
        self.X, self.y, self.lr = X, y, np.float32(lr)
        self.bs = _batch(batch_size, len(X))
        self.full = batch_size == "full"
        self.rng = rng
        self.params = []
        for a, b in itertools.pairwise(SIZES):
            self.params.append([rng.normal(0, 0.1, (a, b)).astype(np.float32),
                                np.zeros(b, np.float32)])

    def epoch(self) -> None:
        (W1, b1), (W2, b2) = self.params
        X, y, lr, bs = self.X, self.y, self.lr, self.bs
        n = len(X)
        order = np.arange(n) if self.full else self.rng.permutation(n)
        with np.errstate(over="ignore"):
            for s in range(0, n, bs):
                idx = order[s:s + bs]
                xb, yb = (X, y) if self.full else (X[idx], y[idx])
                k = len(yb)
                h = 1.0 / (1.0 + np.exp(-(xb @ W1 + b1)))
                o = h @ W2 + b2
                o -= o.max(axis=1, keepdims=True)
                p = np.exp(o)
                p /= p.sum(axis=1, keepdims=True)
                rows = np.arange(k)
                _ = -np.log(p[rows, yb]).mean()  # the batch loss, as every loop computes
                p[rows, yb] -= 1.0
                p /= k
                dW2, db2 = h.T @ p, p.sum(axis=0)
                dz = (p @ W2.T) * h * (1.0 - h)
                dW1, db1 = xb.T @ dz, dz.sum(axis=0)
                W1 -= lr * dW1
                b1 -= lr * db1
                W2 -= lr * dW2
                b2 -= lr * db2


class TorchRunner(_Runner):
    """PyTorch: ``nn.Sequential(Linear, Sigmoid, Linear)``, ``CrossEntropyLoss``, ``optim.SGD``."""

    library = "torch"

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu"):
        import torch

        self.torch = torch
        torch.manual_seed(seed)
        self.device = torch.device("cuda" if device == "gpu" else "cpu")
        self.model = torch.nn.Sequential(
            torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(),
            torch.nn.Linear(SIZES[1], SIZES[2])).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.X = torch.from_numpy(X).to(self.device)  # on the CPU: shares X's memory
        self.y = torch.from_numpy(y).to(self.device)
        self.bs = _batch(batch_size, len(X))
        self.full = batch_size == "full"
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    def epoch(self) -> None:
        torch, model, opt, loss_fn = self.torch, self.model, self.opt, self.loss_fn
        X, y, bs = self.X, self.y, self.bs
        n = X.shape[0]
        order = None if self.full else torch.randperm(n, generator=self.gen, device=self.device)
        total = 0.0
        for s in range(0, n, bs):
            if order is None:
                xb, yb = X, y
            else:
                idx = order[s:s + bs]
                xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * yb.shape[0]  # the running loss, as fit records it
        self.sync()

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()


class SklearnRunner(_Runner):
    """scikit-learn's ``MLPClassifier``: solver ``sgd``, no momentum, ``alpha=0``; one
    ``partial_fit`` per epoch, on float64 (its default) or float32 data."""

    library = "scikit-learn"

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu",
                 dtype=np.float64):
        from sklearn.neural_network import MLPClassifier

        self.X = X if X.dtype == dtype else X.astype(dtype)
        self.y = y
        full = batch_size == "full"
        self.clf = MLPClassifier(
            hidden_layer_sizes=(SIZES[1],), activation="logistic", solver="sgd", alpha=0.0,
            batch_size=_batch(batch_size, len(X)), learning_rate="constant",
            learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
            shuffle=not full, random_state=seed, max_iter=1, early_stopping=False)
        self.classes = np.arange(SIZES[-1])

    def epoch(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=self.classes)


def _make_runner(impl: str, X, y, batch_size: str, lr: float, seed: int,
                 device: str = "cpu") -> _Runner:
    if impl == "backproplab":
        return BackproplabRunner(X, y, batch_size, lr, seed, device)
    if impl == "numpy":
        return NumpyRunner(X, y, batch_size, lr, seed, device)
    if impl == "torch":
        return TorchRunner(X, y, batch_size, lr, seed, device)
    if impl == "sklearn-float64":
        return SklearnRunner(X, y, batch_size, lr, seed, device, dtype=np.float64)
    if impl == "sklearn-float32":
        return SklearnRunner(X, y, batch_size, lr, seed, device, dtype=np.float32)
    raise BackproplabError(f"unknown implementation {impl!r}")  # pragma: no cover


def _module_for(impl: str) -> str:
    return {"torch": "torch", "sklearn-float64": "sklearn",
            "sklearn-float32": "sklearn"}.get(impl, "numpy")


def available_impls(impls, device: str = "cpu") -> tuple[list[str], dict]:
    """Split ``impls`` into those that can run here and ``{name: why not}`` for the rest."""
    import importlib.util

    ok, missing = [], {}
    for impl in impls:
        mod = _module_for(impl)
        if importlib.util.find_spec(mod) is None:
            missing[impl] = f"{mod} is not installed"
        elif device == "gpu" and impl not in GPU_IMPLS:
            missing[impl] = "runs on the CPU only"
        else:
            ok.append(impl)
    return ok, missing


# ------------------------------------------------------- machine and load
def _proc_stat() -> tuple[int, int, int] | None:
    """(busy, total, steal) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return total - idle - iowait, total, steal


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class LoadProbe:
    """The CPU share taken by *other* processes between ``start()`` and ``stop()``.

    ``others`` is a fraction of the whole machine (0.5 on two cores: one core
    busy elsewhere), from ``/proc/stat`` minus this process's own CPU time;
    ``None`` where ``/proc/stat`` is missing.
    """

    def __init__(self):
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def start(self) -> LoadProbe:
        self._stat, self._cpu = _proc_stat(), _self_cpu()
        return self

    def stop(self) -> dict:
        stat, cpu = _proc_stat(), _self_cpu()
        if stat is None or self._stat is None or stat[1] <= self._stat[1]:
            return {"others": None, "steal": None}
        busy, total, steal = (a - b for a, b in zip(stat, self._stat))
        own = (cpu - self._cpu) * self._hz
        return {"others": round(min(1.0, max(0.0, (busy - own) / total)), 4),
                "steal": round(steal / total, 4)}


def wait_for_quiet(max_seconds: float, window: float = 0.5) -> float:
    """Sleep until other processes use at most :data:`LOAD_FLAG` of the CPUs over a
    ``window``, or ``max_seconds`` have passed; returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_seconds:
        probe = LoadProbe().start()
        time.sleep(window)
        others = probe.stop()["others"]
        if others is None or others <= LOAD_FLAG:
            break
    return time.perf_counter() - start


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    """CPUs this process may run on."""
    from backproplab.training.config import usable_cpus

    return usable_cpus()


def machine_info() -> dict:
    """CPU, core count, Python, OS and the BLAS-related environment."""
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "BACKPROPLAB_BLAS")
           if k in os.environ}
    return {"cpu": _cpu_model(), "cores": cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "environment": env}


def library_versions(impls) -> dict:
    """Versions of the libraries the implementations use."""
    from backproplab import __version__

    out = {"backproplab": __version__, "numpy": np.__version__}
    mods = {_module_for(i) for i in impls}
    if "torch" in mods:
        import torch

        out["torch"] = torch.__version__
    if "sklearn" in mods:
        import sklearn

        out["scikit-learn"] = sklearn.__version__
    try:
        import threadpoolctl

        out["threadpoolctl"] = threadpoolctl.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    return out


def thread_info(impls) -> dict:
    """Thread pools as threadpoolctl sees them, and torch's thread count."""
    from threadpoolctl import threadpool_info

    from backproplab.tensor import blas

    pools = [{k: i.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                    "num_threads", "architecture", "filepath")}
             for i in threadpool_info()]
    out = {"pools": pools, "direct_blas": blas.info()}
    if "torch" in impls:
        import torch

        out["torch"] = torch.get_num_threads()
    return out


def matmul_peak(n: int = 2048, repeats: int = 5, device: str = "cpu") -> dict:
    """Best GFLOP/s of an ``n x n`` float32 matrix product (NumPy, or CuPy on the GPU)."""
    from backproplab.tensor.backend import get_array_module

    xp = get_array_module(device)
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.random((n, n), dtype=np.float32))
    b = xp.asarray(rng.random((n, n), dtype=np.float32))
    c = xp.empty((n, n), dtype=np.float32)

    def sync():
        if xp is not np:
            xp.cuda.Device().synchronize()

    return _best_product(lambda: xp.matmul(a, b, out=c), sync, n, repeats,
                         "cupy" if xp is not np else "numpy")


def torch_matmul_peak(n: int = 2048, repeats: int = 5, device: str = "cpu") -> dict:
    """The same product with PyTorch (its own BLAS), for comparison."""
    import torch

    dev = torch.device("cuda" if device == "gpu" else "cpu")
    a = torch.rand(n, n, device=dev)
    b = torch.rand(n, n, device=dev)
    c = torch.empty(n, n, device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return _best_product(lambda: torch.matmul(a, b, out=c), sync, n, repeats, "torch")


def _best_product(product: Callable[[], object], sync: Callable[[], None], n: int,
                  repeats: int, library: str) -> dict:
    """Time ``product()`` (an ``n x n`` matrix product) ``repeats`` times after one
    untimed call; the best time and its GFLOP/s."""
    product()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        sync()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"n": n, "library": library, "seconds": best,
            "gflops": round(2.0 * n ** 3 / best / 1e9, 2)}


# ------------------------------------------------------------------ memory
def _status_mb() -> dict:
    """VmRSS and VmHWM (peak) of this process in MB, from /proc/self/status."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            text = fh.read()
    except OSError:
        text = ""
    for key in ("VmRSS", "VmHWM"):
        m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
        out[key] = int(m.group(1)) * 1024 / MB if m else None
    if out["VmHWM"] is None:  # no /proc: getrusage's peak (kB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["VmHWM"] = peak / MB if sys.platform == "darwin" else peak * 1024 / MB
    return out


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_probe(spec: dict) -> dict:
    """Run in a fresh process: load the data, train one epoch of one implementation,
    and report memory in MB.

    ``load_peak``: the peak while importing and loading; ``after_load``: resident
    size once the data is in memory; ``training_peak``: the peak from then on,
    through building the model and one epoch (``None`` where the peak cannot be
    reset); ``peak``: the whole process's peak.
    """
    impl, threads = spec["impl"], spec["threads"]
    mods = _module_for(impl)
    if mods != "numpy":
        __import__(mods)
    X, y, _ = load_data(quick=spec["quick"], synthetic=spec["synthetic"],
                        data_dir=spec.get("data_dir"), limit=spec.get("limit"))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        if impl == "torch":
            import torch

            torch.set_num_threads(threads)
        before = _status_mb()
        reset = _reset_peak()
        runner = _make_runner(impl, X, y, spec["batch_size"], spec["lr"], spec["seed"],
                              spec.get("device", "cpu"))
        runner.epoch()
        after = _status_mb()
    device_peak = None
    if spec.get("device") == "gpu":
        device_peak = _device_peak_mb(impl)
    return {
        "impl": impl,
        "batch_size": spec["batch_size"],
        "load_peak_mb": before["VmHWM"],
        "after_load_mb": before["VmRSS"],
        "training_peak_mb": after["VmHWM"] if reset else None,
        "peak_mb": max(before["VmHWM"] or 0.0, after["VmHWM"] or 0.0),
        "device_peak_mb": device_peak,
    }


def _device_peak_mb(impl: str) -> float | None:
    if impl == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / MB
    import cupy

    return cupy.get_default_memory_pool().total_bytes() / MB


def _probe_main() -> None:  # the child process of measure_memory
    spec = json.loads(sys.argv[1])
    print(json.dumps(memory_probe(spec)))


def measure_memory(impl: str, batch_size: str, *, threads: int, quick: bool, synthetic: bool,
                   data_dir, limit, lr: float, seed: int, device: str = "cpu",
                   timeout: float = 900) -> dict:
    """Peak memory of one implementation training one epoch, in a fresh Python process."""
    spec = {"impl": impl, "batch_size": batch_size, "threads": threads, "quick": quick,
            "synthetic": synthetic, "data_dir": str(data_dir) if data_dir else None,
            "limit": limit, "lr": lr, "seed": seed, "device": device}
    code = "from backproplab.bench import _probe_main; _probe_main()"
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "batch_size": batch_size, "error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"impl": impl, "batch_size": batch_size,
                "error": f"exit status {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------- the run
def run_benchmark(impls=DEFAULT_IMPLS, batch_sizes=DEFAULT_BATCH_SIZES, *,
                  epochs: int = DEFAULT_EPOCHS, warmup: int = DEFAULT_WARMUP,
                  threads: int | None = None, quick: bool = False, synthetic: bool = False,
                  data_dir=None, limit: int | None = None, lr: float = DEFAULT_LR,
                  seed: int = 0, device: str = "cpu", memory: bool = True, retries: int = 2,
                  wait_quiet: float = 0.0,
                  memory_batch_sizes=("1024", "full"), peak_size: int | None = None,
                  command: str | None = None,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Time every implementation at every batch size; returns the result dict (see module doc).

    ``impls`` and ``batch_sizes`` take lists or comma-separated strings.
    Implementations whose library is missing are listed under ``"skipped"``.
    ``threads`` defaults to every core this process may use. A timed epoch
    during which other processes used more than :data:`LOAD_FLAG` of the CPUs
    is run again, up to ``retries`` times (the last try counts either way).
    With ``wait_quiet`` > 0, every timed epoch first waits up to that many
    seconds for the other processes to go quiet (see :func:`wait_for_quiet`).
    """
    say = progress or (lambda _msg: None)
    impls = parse_impls(impls)
    batch_sizes = parse_batch_sizes(batch_sizes)
    if threads is None:
        threads = cpu_count()
    for name, value, minimum in (("--epochs", epochs, 1), ("--warmup", warmup, 0),
                                 ("--retries", retries, 0), ("--threads", threads, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if device not in ("cpu", "gpu"):
        raise BackproplabError(f"unknown device {device!r}; choose cpu or gpu")
    if device == "gpu":
        from backproplab.tensor.backend import get_array_module

        get_array_module("gpu")  # a clear error where CuPy is missing
    run_impls, skipped = available_impls(impls, device)
    if not run_impls:
        raise BackproplabError(
            "none of the implementations can run here ("
            + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    mem_sizes = parse_batch_sizes(memory_batch_sizes, "--memory-batch-sizes")
    if not memory:
        mem_sizes = []

    # import every library before limiting threads: threadpoolctl only sees loaded ones
    for impl in run_impls:
        if _module_for(impl) != "numpy":
            __import__(_module_for(impl))
    say("loading data")
    X, y, data = load_data(quick=quick, synthetic=synthetic, data_dir=data_dir, limit=limit)
    n = int(X.shape[0])
    flops = flops_per_epoch(n)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    whole = LoadProbe().start()

    from threadpoolctl import threadpool_limits

    results: list[dict] = []
    with threadpool_limits(limits=threads):
        if "torch" in run_impls:
            import torch

            torch.set_num_threads(threads)
        threads_used = thread_info(run_impls)
        size = peak_size or (256 if quick else 2048)
        if device == "gpu":
            size = peak_size or (1024 if quick else 8192)
        peak: dict[str, dict] = {}

        def measure_peak():
            # best of several measurements: a busy moment can only make a product slower
            got = {"numpy" if device == "cpu" else "cupy": matmul_peak(size, device=device)}
            if "torch" in run_impls:
                got["torch"] = torch_matmul_peak(size, device=device)
            for lib, m in got.items():
                if lib not in peak or m["gflops"] > peak[lib]["gflops"]:
                    peak[lib] = m

        say(f"matmul peak ({size} x {size} float32)")
        measure_peak()
        rows: list[dict] = []
        waited = [0.0]
        for bs in batch_sizes:
            runners = {}
            for impl in run_impls:
                runners[impl] = _make_runner(impl, X, y, bs, lr, seed, device)
            times: dict[str, list[float]] = {impl: [] for impl in run_impls}
            loads: dict[str, list[dict]] = {impl: [] for impl in run_impls}
            tries: dict[str, int] = dict.fromkeys(run_impls, 0)
            for impl, runner in runners.items():
                for w in range(warmup):
                    say(f"batch {bs}: warm-up {w + 1}/{warmup} {impl}")
                    runner.epoch()
            for e in range(epochs):
                for impl, runner in runners.items():
                    for attempt in range(retries + 1):
                        if wait_quiet:
                            waited[0] += wait_for_quiet(wait_quiet)
                        say(f"batch {bs}: epoch {e + 1}/{epochs} {impl}"
                            + (f" (again: other load, try {attempt + 1})" if attempt else ""))
                        probe = LoadProbe().start()
                        t0 = time.perf_counter()
                        own = runner.epoch()
                        wall = time.perf_counter() - t0
                        load = probe.stop()
                        tries[impl] += 1
                        if load["others"] is None or load["others"] <= LOAD_FLAG:
                            break
                    loads[impl].append(load)
                    times[impl].append(float(own) if own is not None else wall)
            for impl in run_impls:
                others = [r["others"] for r in loads[impl] if r["others"] is not None]
                rows.append({
                    "impl": impl, "batch_size": bs, "steps_per_epoch": -(-n // _batch(bs, n)),
                    "epoch_seconds": [round(t, 5) for t in times[impl]],
                    "median_seconds": round(statistics.median(times[impl]), 5),
                    "epochs_run": tries[impl],
                    "others_load": round(max(others), 4) if others else None,
                    "loaded": bool(others and max(others) > LOAD_FLAG),
                })
            del runners
            measure_peak()
        peak_gflops = max(p["gflops"] for p in peak.values())
        for row in rows:
            gflops = flops / row["median_seconds"] / 1e9
            row["gflops"] = round(gflops, 2)
            row["fraction_of_peak"] = round(gflops / peak_gflops, 4)
            results.append(row)
    load_after = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    overall = whole.stop()

    mem_rows = []
    for bs in mem_sizes:
        for impl in run_impls:
            say(f"memory: {impl} at batch {bs} (fresh process)")
            row = measure_memory(impl, bs, threads=threads, quick=quick, synthetic=synthetic,
                                 data_dir=data_dir, limit=limit, lr=lr, seed=seed, device=device)
            data_mb = data["bytes"] / MB
            row["data_mb"] = round(data_mb, 2)
            row["target_mb"] = round(MEMORY_DATA_FACTOR * data_mb + MEMORY_EXTRA_MB, 2)
            if "peak_mb" in row:
                row["peak_over_data"] = round(row["peak_mb"] / data_mb, 3)
                row["meets_target"] = row["peak_mb"] <= row["target_mb"]
            for k in ("load_peak_mb", "after_load_mb", "training_peak_mb", "peak_mb",
                      "device_peak_mb"):
                if row.get(k) is not None:
                    row[k] = round(row[k], 2)
            mem_rows.append(row)

    result = {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "started": started,
        "command": command,
        "config": {"sizes": list(SIZES), "activation": ACTIVATION, "optimizer": "sgd",
                   "momentum": 0.0, "weight_decay": 0.0, "lr": lr, "dtype": "float32",
                   "epochs": epochs, "warmup": warmup, "retries": retries,
                   "wait_quiet": wait_quiet, "batch_sizes": batch_sizes,
                   "threads": threads, "device": device, "quick": quick, "seed": seed,
                   "impls": run_impls},
        "skipped": skipped,
        "data": data,
        "machine": machine_info(),
        "libraries": library_versions(run_impls),
        "threads": threads_used,
        "load": {"loadavg_before": load_before, "loadavg_after": load_after,
                 "others_during_run": overall["others"], "steal_during_run": overall["steal"],
                 "loaded_timings": sum(r["loaded"] for r in results),
                 "seconds_waited_for_quiet": round(waited[0], 1),
                 "flag_above": LOAD_FLAG},
        "matmul_peak": {**peak, "gflops": peak_gflops},
        "flops_per_epoch": flops,
        "results": results,
        "ratios": _ratios(results),
        "memory": mem_rows,
    }
    # the targets are about the full data set; a quick run's numbers mean little
    result["targets"] = [] if quick else _targets(result)
    return result


def _find(results, impl, bs):
    for r in results:
        if r["impl"] == impl and r["batch_size"] == bs:
            return r
    return None


def _ratios(results) -> list[dict]:
    """backproplab's median epoch time over every other implementation's, per batch size
    (``ratio``), and the median of the epoch-by-epoch ratios (``paired_ratio``)."""
    out = []
    for ours in (r for r in results if r["impl"] == "backproplab"):
        for other in results:
            if other["batch_size"] != ours["batch_size"] or other["impl"] == "backproplab":
                continue
            # also the median of the per-round ratios: epochs of a round run back to back,
            # so a slow spell of the machine that hits both cancels out
            paired = [a / b for a, b in zip(ours["epoch_seconds"], other["epoch_seconds"])
                      if b > 0]
            out.append({"batch_size": ours["batch_size"], "vs": other["impl"],
                        "ratio": round(ours["median_seconds"] / other["median_seconds"], 4),
                        "paired_ratio": round(statistics.median(paired), 4) if paired
                        else None})
    return out


def _targets(result) -> list[dict]:
    """Issue 7's targets, each with the measured value and whether it is met."""
    results, out = result["results"], []
    for bs, limit in TORCH_RATIO_TARGETS.items():
        r = next((x for x in result["ratios"] if x["vs"] == "torch" and x["batch_size"] == bs),
                 None)
        if r:
            out.append({"target": f"epoch time vs torch at batch {bs}", "value": r["ratio"],
                        "limit": limit, "op": "<=", "met": r["ratio"] <= limit})
    for r in result["ratios"]:
        if r["vs"] == "sklearn-float64":
            out.append({"target": f"epoch time vs sklearn (float64) at batch {r['batch_size']}",
                        "value": r["ratio"], "limit": SKLEARN_RATIO_TARGET, "op": "<=",
                        "met": r["ratio"] <= SKLEARN_RATIO_TARGET})
    ours = _find(results, "backproplab", PEAK_FRACTION_BATCH)
    if ours:
        out.append({"target": f"fraction of matmul peak at batch {PEAK_FRACTION_BATCH}",
                    "value": ours["fraction_of_peak"], "limit": PEAK_FRACTION_TARGET,
                    "op": ">=", "met": ours["fraction_of_peak"] >= PEAK_FRACTION_TARGET})
    for m in result["memory"]:
        if m["impl"] == "backproplab" and "peak_mb" in m:
            out.append({"target": f"peak memory at batch {m['batch_size']} (MB)",
                        "value": m["peak_mb"], "limit": m["target_mb"], "op": "<=",
                        "met": m["meets_target"]})
    return out


# ---------------------------------------------------------------- display
def print_report(result: dict, console=None) -> None:
    """Print the result as rich tables: epoch times, ratios, GFLOP/s, memory, targets."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    cfg, data = result["config"], result["data"]
    sizes = cfg["batch_sizes"]
    impls = cfg["impls"]
    peak = result["matmul_peak"]
    title = (f"seconds per epoch (median of {cfg['epochs']}), {'-'.join(map(str, cfg['sizes']))} "
             f"{cfg['activation']}, SGD, float32, {data['rows']} {data['source']} examples, "
             f"{cfg['threads']} thread{'s' if cfg['threads'] != 1 else ''}, {cfg['device']}")
    t = Table(title=title)
    t.add_column("implementation")
    for bs in sizes:
        t.add_column(f"batch {bs}", justify="right")
    for impl in impls:
        cells = []
        for bs in sizes:
            r = _find(result["results"], impl, bs)
            cells.append("-" if r is None else f"{r['median_seconds']:.3f}"
                         + (" *" if r["loaded"] else ""))
        t.add_row(impl, *cells)
    for other in impls:
        if other == "backproplab" or "backproplab" not in impls:
            continue
        cells = []
        for bs in sizes:
            r = next((x for x in result["ratios"]
                      if x["vs"] == other and x["batch_size"] == bs), None)
            cells.append("-" if r is None else f"{r['ratio']:.2f}x")
        t.add_row(f"[dim]backproplab / {other}[/dim]", *cells)
    console.print(t)
    if any(r["loaded"] for r in result["results"]):
        console.print(f"* other processes used more than {LOAD_FLAG:.0%} of the CPUs during "
                      "that timing; rerun when the machine is quiet")

    g = Table(title=f"matrix work: GFLOP/s and fraction of the matmul peak "
                    f"({peak['gflops']:.0f} GFLOP/s, {result['flops_per_epoch'] / 1e9:.1f} "
                    f"GFLOP per epoch)")
    g.add_column("implementation")
    for bs in sizes:
        g.add_column(f"batch {bs}", justify="right")
    for impl in impls:
        cells = []
        for bs in sizes:
            r = _find(result["results"], impl, bs)
            cells.append("-" if r is None else
                         f"{r['gflops']:.0f} ({r['fraction_of_peak']:.0%})")
        g.add_row(impl, *cells)
    console.print(g)

    if result["memory"]:
        m = Table(title=f"peak memory (MB, fresh process each; data {data['bytes'] / MB:.0f} MB)")
        for col in ("implementation", "batch", "after load", "training peak", "process peak",
                    "target"):
            m.add_column(col, justify="left" if col == "implementation" else "right")
        for row in result["memory"]:
            if "error" in row:
                m.add_row(row["impl"], row["batch_size"], row["error"], "", "", "")
                continue

            def fmt(v):
                return "-" if v is None else f"{v:.0f}"

            target = (f"{row['target_mb']:.0f}" if row["impl"] == "backproplab"
                      and not cfg["quick"] else "")  # quick: data too small to judge
            m.add_row(row["impl"], row["batch_size"], fmt(row["after_load_mb"]),
                      fmt(row["training_peak_mb"]), fmt(row["peak_mb"]), target)
        console.print(m)

    if result["targets"]:
        tt = Table(title="targets (issue 7)")
        for col in ("target", "measured", "limit", "met"):
            tt.add_column(col, justify="left" if col == "target" else "right")
        for tg in result["targets"]:
            tt.add_row(tg["target"], f"{tg['value']:.3g}", f"{tg['op']} {tg['limit']:.3g}",
                       "yes" if tg["met"] else "[bold red]no[/bold red]")
        console.print(tt)

    load = result["load"]
    before = load["loadavg_before"]
    after = load["loadavg_after"]
    lines = [f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; "
             f"libraries: " + ", ".join(f"{k} {v}" for k, v in result["libraries"].items())]
    if before and after:
        others = load["others_during_run"]
        lines.append(f"load average {before[0]:.2f} before, {after[0]:.2f} after; other "
                     f"processes used {others:.0%} of the CPUs during the timings"
                     if others is not None else
                     f"load average {before[0]:.2f} before, {after[0]:.2f} after")
    blas_pools = [p for p in result["threads"]["pools"] if p["user_api"] == "blas"]
    lines.append("thread pools: " + ", ".join(
        f"{p['internal_api']} {p['num_threads']} ({p.get('architecture') or '?'})"
        for p in result["threads"]["pools"]) + (
        f"; torch {result['threads']['torch']}" if "torch" in result["threads"] else ""))
    if not result["threads"]["direct_blas"]["enabled"] and blas_pools:
        lines.append("direct BLAS calls are off: the plain NumPy update path is used")
    for k, v in result["skipped"].items():
        lines.append(f"skipped {k}: {v}")
    for line in lines:
        console.print(line)


# -------------------------------------------------------------- CLI glue
def add_arguments(p) -> None:
    """The benchmark's options (shared by ``backproplab bench`` and benchmarks/epoch_time.py)."""
    p.add_argument("--batch-sizes", default=",".join(DEFAULT_BATCH_SIZES), metavar="LIST",
                   help="comma-separated batch sizes, each a number or 'full' "
                        "(default 16,128,1024,full)")
    p.add_argument("--epochs", default=None, metavar="N",
                   help=f"timed epochs per implementation and batch size (default "
                        f"{DEFAULT_EPOCHS}, 1 with --quick; the median is reported)")
    p.add_argument("--warmup", default=None, metavar="N",
                   help=f"untimed epochs first (default {DEFAULT_WARMUP}, 0 with --quick)")
    p.add_argument("--retries", default=None, metavar="N",
                   help="run an epoch again up to N times when other processes used more than "
                        f"{LOAD_FLAG * 100:.0f}%% of the CPUs meanwhile (default 2, 0 with --quick)")
    p.add_argument("--wait-quiet", default=None, metavar="SECONDS",
                   help="before each timed epoch, wait up to SECONDS for other processes to "
                        "go quiet (default 0: do not wait; useful on shared machines)")
    p.add_argument("--threads", default=None, metavar="N",
                   help="threads for every library (default: all cores)")
    p.add_argument("--impl", default=",".join(DEFAULT_IMPLS), metavar="LIST",
                   help="implementations: backproplab, numpy, torch, sklearn (= "
                        "sklearn-float64,sklearn-float32) (default: all of them)")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"),
                   help="cpu (default) or gpu (backproplab on CuPy vs torch CUDA)")
    p.add_argument("--quick", action="store_true",
                   help=f"small data ({QUICK_ROWS} examples), 1 epoch, no warm-up: "
                        "checks that everything runs, numbers mean little")
    p.add_argument("--synthetic", action="store_true",
                   help="use random data of MNIST's shape even where Fashion-MNIST is present")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding Fashion-MNIST's IDX files")
    p.add_argument("--lr", default=str(DEFAULT_LR), metavar="LR",
                   help=f"learning rate (default {DEFAULT_LR}; does not change the speed)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement (fresh processes)")
    p.add_argument("--memory-batch-sizes", default=None, metavar="LIST",
                   help="batch sizes at which peak memory is measured (default 1024,full; "
                        "full with --quick)")
    p.add_argument("--json-out", default=None, metavar="FILE",
                   help="write the full result as JSON to FILE")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object on the last line of stdout")


def _int_option(name: str, value, minimum: int) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise BackproplabError(f"{name} must be an integer, got {value!r}") from None
    if v < minimum:
        raise BackproplabError(f"{name} must be at least {minimum}, got {v}")
    return v


def command_line(args, prog: str = "backproplab bench") -> str:
    """The command that reproduces a run with these parsed options (recorded in the result)."""
    parts = [prog]
    for opt in ("batch_sizes", "epochs", "warmup", "retries", "wait_quiet", "threads", "impl",
                "device", "data_dir", "lr", "memory_batch_sizes", "json_out"):
        value = getattr(args, opt, None)
        if value is not None:
            parts.append(f"--{opt.replace('_', '-')} {value}")
    for flag in ("quick", "synthetic", "no_memory", "json"):
        if getattr(args, flag, False):
            parts.append(f"--{flag.replace('_', '-')}")
    return " ".join(parts)


def run_from_args(args, command: str | None = None) -> int:
    """Run the benchmark from parsed options; print the tables (and JSON); exit status 0."""
    from rich.console import Console

    from backproplab.fileio import atomic_write_json

    quick = bool(args.quick)
    epochs = _int_option("--epochs", args.epochs if args.epochs is not None
                         else (1 if quick else DEFAULT_EPOCHS), 1)
    warmup = _int_option("--warmup", args.warmup if args.warmup is not None
                         else (0 if quick else DEFAULT_WARMUP), 0)
    retries = _int_option("--retries", args.retries if args.retries is not None
                          else (0 if quick else 2), 0)
    threads = None if args.threads is None else _int_option("--threads", args.threads, 1)
    try:
        wait_quiet = float(args.wait_quiet or 0)
    except ValueError:
        raise BackproplabError(f"--wait-quiet must be a number of seconds, "
                               f"got {args.wait_quiet!r}") from None
    if not wait_quiet >= 0:
        raise BackproplabError(f"--wait-quiet must be >= 0, got {args.wait_quiet}")
    try:
        lr = float(args.lr)
    except ValueError:
        raise BackproplabError(f"--lr must be a number, got {args.lr!r}") from None
    if not (lr > 0 and math.isfinite(lr)):
        raise BackproplabError(f"--lr must be a positive finite number, got {args.lr}")
    if args.json_out and Path(args.json_out).is_dir():  # found now, not after the timings
        raise BackproplabError(f"--json-out {args.json_out} is a folder; give a file name, "
                               f"e.g. --json-out {Path(args.json_out) / 'bench.json'}")
    # progress and tables go to stderr when stdout carries the JSON line
    console = Console(stderr=bool(args.json))
    status = Console(stderr=True)
    memory_sizes = args.memory_batch_sizes or ("full" if quick else "1024,full")
    result = run_benchmark(
        args.impl, args.batch_sizes, epochs=epochs, warmup=warmup, threads=threads,
        quick=quick, synthetic=args.synthetic, data_dir=args.data_dir, lr=lr, retries=retries,
        wait_quiet=wait_quiet,
        device=args.device, memory=not args.no_memory, memory_batch_sizes=memory_sizes,
        command=command or command_line(args),
        progress=lambda msg: status.log(msg) if status.is_terminal else None)
    print_report(result, console)
    if args.json_out:
        try:
            atomic_write_json(args.json_out, result)
        except OSError as exc:
            raise BackproplabError(f"cannot write --json-out {args.json_out} "
                                   f"({exc.strerror or exc}); choose another file") from None
        console.print(f"wrote {args.json_out}")
    if args.json:
        print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None, prog: str = "epoch_time.py") -> int:
    """Entry point of the scripts in ``benchmarks/`` (same options as ``backproplab bench``)."""
    import argparse

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_from_args(args, command=command_line(args, f"python benchmarks/{prog}"))
    except BackproplabError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["DEFAULT_BATCH_SIZES", "DEFAULT_IMPLS", "IMPLS", "LoadProbe", "add_arguments",
           "flops_per_epoch", "load_data", "machine_info", "main", "matmul_peak",
           "measure_memory", "memory_probe", "parse_batch_sizes", "parse_impls",
           "print_report", "run_benchmark", "run_from_args"]
