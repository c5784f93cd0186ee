"""The trainers ``backproplab bench`` times: one class per implementation.

Each runner is one implementation set up for one batch size on the benchmark's
data; ``epoch()`` trains one epoch and returns its seconds, or ``None`` to let
the caller time the whole call. All train the same network
(:data:`~backproplab.bench.workload.SIZES`, sigmoid, softmax + cross-entropy,
plain SGD, float32).
"""

from __future__ import annotations

import importlib.util
import itertools
import warnings

import numpy as np

from backproplab.bench.workload import ACTIVATION, GPU_IMPLS, SIZES, batch_rows, module_for
from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, make_optimizer
from backproplab.training.engines import run_seeds
from backproplab.training.loop import fit


class Runner:
    """The interface: ``epoch()`` trains one epoch, ``sync()`` waits for device work."""

    def epoch(self) -> float | None:  # pragma: no cover - abstract
        """Train one epoch; its seconds, or ``None`` for the caller to time the call."""
        raise NotImplementedError

    def sync(self) -> None:
        """Wait for queued device work (GPU runners)."""


class BackproplabRunner(Runner):
    """This project: :class:`backproplab.tensor.MLP`, plain SGD, :func:`training.loop.fit`.

    Its weights and its batches' order come from the random streams a ``train``
    run of the same seed draws (:func:`~backproplab.training.engines.run_seeds`),
    so the bare loop computes exactly the numbers the ``train`` row computes and
    the two rows differ only by ``train``'s own work.
    """

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu"):
        init_ss, self.rng = run_seeds(seed)
        self.model = MLP(list(SIZES), activation=ACTIVATION, dtype="float32",
                         rng=np.random.default_rng(init_ss), device=device)
        self.opt = make_optimizer("sgd", self.model, lr)
        self.X, self.y = self.model.check_inputs(X, y)  # on the device once
        self.batch_size = "full" if batch_size == "full" else int(batch_size)

    def epoch(self) -> float:
        """One epoch of :func:`~backproplab.training.loop.fit`; its ``train_seconds``."""

        history = fit(self.model, self.opt, self.X, self.y, epochs=1,
                      batch_size=self.batch_size, rng=self.rng, eval_train=False)
        self.sync()
        return float(history[0]["train_seconds"])

    def sync(self) -> None:
        """Wait for CuPy's queued work (nothing on the CPU)."""
        if self.model.xp is not np:
            self.model.xp.cuda.Device().synchronize()


class NumpyRunner(Runner):
    """A straightforward NumPy float32 loop: new arrays every step, ``W -= lr * dW``."""

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu"):
        rng = np.random.default_rng(seed)
        self.X, self.y, self.lr = X, y, np.float32(lr)
        self.bs = batch_rows(batch_size, len(X))
        self.full = batch_size == "full"
        self.rng = rng
        self.params = []
        for a, b in itertools.pairwise(SIZES):
            self.params.append([rng.normal(0, 0.1, (a, b)).astype(np.float32),
                                np.zeros(b, np.float32)])

    def epoch(self) -> None:
        """One epoch of forward, backward and update, written out in NumPy."""
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


class TorchRunner(Runner):
    """PyTorch: ``nn.Sequential(Linear, Sigmoid, Linear)``, ``CrossEntropyLoss``, ``optim.SGD``."""

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
        self.bs = batch_rows(batch_size, len(X))
        self.full = batch_size == "full"
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    def epoch(self) -> None:
        """One epoch of the usual ``zero_grad / backward / step`` loop."""
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
        """Wait for CUDA's queued work (nothing on the CPU)."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()


class SklearnRunner(Runner):
    """scikit-learn's ``MLPClassifier``: solver ``sgd``, no momentum, ``alpha=0``; one
    ``partial_fit`` per epoch, on float64 (its default) or float32 data."""

    def __init__(self, X, y, batch_size: str, lr: float, seed: int, device: str = "cpu",
                 dtype=np.float64):
        from sklearn.neural_network import MLPClassifier

        self.X = X if X.dtype == dtype else X.astype(dtype)
        self.y = y
        full = batch_size == "full"
        self.clf = MLPClassifier(
            hidden_layer_sizes=(SIZES[1],), activation="logistic", solver="sgd", alpha=0.0,
            batch_size=batch_rows(batch_size, len(X)), learning_rate="constant",
            learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
            shuffle=not full, random_state=seed, max_iter=1, early_stopping=False)
        self.classes = np.arange(SIZES[-1])

    def epoch(self) -> None:
        """One ``partial_fit`` call (scikit-learn's convergence warnings silenced)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=self.classes)


def make_runner(impl: str, X, y, batch_size: str, lr: float, seed: int,
                device: str = "cpu") -> Runner:
    """The runner of implementation ``impl`` (a name from ``IMPLS``) for one batch size."""
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


def available_impls(impls, device: str = "cpu") -> tuple[list[str], dict]:
    """Split ``impls`` into those that can run here and ``{name: why not}`` for the rest.

    Parameters
    ----------
    impls : list of str
        Implementation names.
    device : {"cpu", "gpu"}

    Returns
    -------
    (list of str, dict)
        The runnable names in order, and the reason for each one left out.
    """
    ok, missing = [], {}
    for impl in impls:
        mod = module_for(impl)
        if importlib.util.find_spec(mod) is None:
            missing[impl] = f"{mod} is not installed"
        elif device == "gpu" and impl not in GPU_IMPLS:
            missing[impl] = "runs on the CPU only"
        else:
            ok.append(impl)
    return ok, missing
