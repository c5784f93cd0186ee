"""The multilayer perceptron of the tensor engine.

``MLP([784, 300, 10])`` stacks :class:`~backproplab.tensor.layers.Linear`
layers with a hidden activation between them; the output layer's logits go
into the fused softmax + cross-entropy. Parameters are named ``W1, b1, W2,
b2, ...`` (layer index from 1, ``W`` of shape fan_in x fan_out): with one
hidden layer these are the study's ``W, b, V, c``.

Activations and gradients live in buffers allocated once per batch size and
reused for every batch of that size, so a training step allocates (almost)
nothing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_with
from backproplab.tensor import blas
from backproplab.tensor.backend import get_array_module, to_numpy
from backproplab.tensor.files import (
    check_layer_arrays,
    is_scalar_engine_file,
    json_array,
    json_load,
    read_npz,
    scalar_engine_arrays,
)
from backproplab.tensor.init import INITIALIZERS, init_weights
from backproplab.tensor.kernels import NumpyOps
from backproplab.tensor.layers import Linear, SoftmaxCrossEntropy, get_activation, softmax

#: dtypes a model can use
DTYPES = ("float32", "float64")
#: format tag written into every saved file
FILE_FORMAT = "backproplab.tensor.MLP"
FILE_VERSION = 1
#: how many batch sizes keep their buffers at once
_MAX_WORKSPACES = 4


def _dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise BackproplabError(f"unsupported dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return dt


def _as_array(xp, value, what: str):
    """``xp.asarray(value)``; a ragged or otherwise unconvertible value is a BackproplabError."""
    try:
        return xp.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BackproplabError(
            f"{what} must be a rectangular array of numbers ({exc}); fix the data"
        ) from None


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise BackproplabError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _all_finite(xp, X, rows: int = 8192) -> bool:
    """Whether ``X`` holds no NaN or infinity, checked in blocks of rows (a whole
    data set at once would need a temporary boolean array of its size)."""
    return all(bool(xp.isfinite(X[s:s + rows]).all()) for s in range(0, X.shape[0], rows))


class _Workspace:
    """Buffers for one batch size: each layer's output and the gradients flowing back.

    The backward buffers are allocated on first use, so evaluating in large
    batches costs only the forward buffers.
    """

    def __init__(self, xp, n: int, sizes: list[int], dtype):
        self.n, self._xp, self._sizes, self._dtype = n, xp, sizes, dtype
        # outputs of every layer after its activation (hidden) or the logits (last)
        self.out = [xp.empty((n, s), dtype=dtype) for s in sizes[1:]]
        self._grad = self._tmp = None

    def _hidden_buffers(self) -> list:
        return [self._xp.empty((self.n, s), dtype=self._dtype) for s in self._sizes[1:-1]]

    @property
    def grad(self) -> list:
        """Gradient with respect to every hidden layer's output."""
        if self._grad is None:
            self._grad = self._hidden_buffers()
        return self._grad

    @property
    def tmp(self) -> list:
        """Scratch for the activations' derivatives."""
        if self._tmp is None:
            self._tmp = self._hidden_buffers()
        return self._tmp


class MLP:
    """A multilayer perceptron trained with the fused softmax + cross-entropy loss.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[784, 300, 10]`` or
        ``[784, 512, 256, 10]``; the last entry is the number of classes.
    activation : {"sigmoid", "relu", "tanh"}, default="sigmoid"
        The hidden layers' activation.
    init : {"normal", "glorot-uniform", "glorot-normal", "he-normal"}, default="normal"
        Weight initializer (``normal`` is the study's, N(0, init_std^2));
        biases start at zero.
    dtype : {"float32", "float64"}, default="float32"
        Parameters, activations and gradients all stay in it.
    rng : numpy.random.Generator, optional
        Draws the initial weights.
    seed : int, optional
        Seed to build ``rng`` from (give ``rng`` or ``seed``, not both). With
        neither, fresh OS entropy is used; there is never any global random state.
    init_std : float, optional
        Standard deviation of the ``normal`` initializer (default 0.1).
    device : {"cpu", "gpu"}, default="cpu"
        NumPy, or CuPy (from ``backproplab[gpu]``) through ``model.xp``.

    Attributes
    ----------
    params : dict of str to array
        ``W1, b1, W2, b2, ...`` in layer order (``W`` is fan_in x fan_out);
        with one hidden layer these are the study's ``W, b, V, c``.
    grads : dict of str to array
        Same names as ``params``, overwritten by :meth:`loss_and_grads`.
    sizes : list of int
        The layer widths, input to output.

    Raises
    ------
    BackproplabError
        For bad sizes, an unknown activation, initializer, dtype or device, or
        both ``rng`` and ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from backproplab.tensor import MLP
    >>> model = MLP([2, 8, 3], activation="relu", seed=0)
    >>> list(model.params)
    ['W1', 'b1', 'W2', 'b2']
    >>> model.params["W1"].shape, model.params["W1"].dtype
    ((2, 8), dtype('float32'))
    >>> X = np.zeros((4, 2), dtype=np.float32)
    >>> model.predict_proba(X).shape
    (4, 3)
    >>> loss = model.loss_and_grads(X, np.array([0, 1, 2, 0]))
    >>> model.grads["W2"].shape
    (8, 3)
    """

    def __init__(self, sizes, activation: str = "sigmoid", init: str = "normal",
                 dtype="float32", rng: np.random.Generator | None = None,
                 seed: int | None = None, init_std: float | None = None, device: str = "cpu"):
        sizes = self._check_sizes(sizes)
        self.act = get_activation(activation)
        if init not in INITIALIZERS:
            raise BackproplabError(
                f"unknown initializer {init!r}; choose one of {', '.join(INITIALIZERS)}"
            )
        self.xp = get_array_module(device)
        self.device = device
        self.sizes = sizes
        self.activation = activation
        self.init = init
        self.init_std = None if init_std is None else float(init_std)
        self.dtype = _dtype(dtype)
        if rng is not None and seed is not None:
            raise BackproplabError("give either rng or seed, not both")
        if rng is None:
            rng = np.random.default_rng(seed)
        elif not isinstance(rng, np.random.Generator):
            raise BackproplabError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
                f"use numpy.random.default_rng(seed) or pass seed="
            )
        xp = self.xp
        self.layers: list[Linear] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            W = init_weights(init, rng, fan_in, fan_out, std=self.init_std)
            W = xp.asarray(np.ascontiguousarray(W, dtype=self.dtype))
            b = xp.zeros(fan_out, dtype=self.dtype)
            self.layers.append(Linear(W, b))
        self.loss_fn = SoftmaxCrossEntropy()
        self._workspaces: dict[int, _Workspace] = {}

    # ------------------------------------------------------------------ basics
    @staticmethod
    def _check_sizes(sizes) -> list[int]:
        try:
            sizes = [int(s) for s in sizes]
        except (TypeError, ValueError):
            raise BackproplabError(f"layer sizes must be integers, got {sizes!r}") from None
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise BackproplabError(
                f"layer sizes must list at least an input and an output width, all >= 1; got {sizes}"
            )
        if sizes[-1] < 2:
            raise BackproplabError(f"the output layer needs at least 2 classes, got {sizes[-1]}")
        return sizes

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def _by_name(self, weight: str, bias: str) -> dict:
        out = {}
        for i, layer in enumerate(self.layers, start=1):
            out[f"W{i}"] = getattr(layer, weight)
            out[f"b{i}"] = getattr(layer, bias)
        return out

    @property
    def params(self) -> dict:
        """Parameters by name (``W1, b1, W2, b2, ...``), in order; update them in place."""
        return self._by_name("W", "b")

    @property
    def grads(self) -> dict:
        """Gradients of the mean loss by parameter name, as filled by :meth:`loss_and_grads`."""
        return self._by_name("dW", "db")

    def set_params(self, params) -> None:
        """Copy arrays into the parameters by name (shapes must match; dtype is converted)."""
        own = self.params
        missing = [k for k in own if k not in params]
        unknown = [k for k in params if k not in own]
        if missing or unknown:
            raise BackproplabError(
                f"parameters do not fit the model {self.sizes}: "
                f"missing {missing or 'none'}, unknown {unknown or 'none'}"
            )
        for k, target in own.items():
            value = self.xp.asarray(params[k])
            if tuple(value.shape) != tuple(target.shape):
                raise BackproplabError(
                    f"parameter {k} has shape {tuple(value.shape)}, the model needs "
                    f"{tuple(target.shape)}"
                )
            target[...] = value.astype(self.dtype, copy=False)

    def n_parameters(self) -> int:
        """Number of trainable numbers."""
        return sum(int(p.size) for p in self.params.values())

    def __repr__(self) -> str:
        return (f"MLP(sizes={self.sizes}, activation={self.activation!r}, init={self.init!r}, "
                f"dtype={self.dtype.name!r}, device={self.device!r})")

    # --------------------------------------------------------------- checking
    def check_inputs(self, X, y=None, values: bool = True):
        """Validate a batch or a whole dataset; returns ``(X, y)`` as the model's arrays.

        Checks that ``X`` is 2-D with the model's input width, that ``y`` is a
        vector of integer labels in ``[0, n_classes)`` with one label per row,
        and (``values=True``) that ``X`` holds no NaN or infinity. Each problem
        raises BackproplabError naming it. Call it once per dataset and pass
        ``check=False`` to the per-batch functions to skip repeated scans.
        """
        xp = self.xp
        X = _as_array(xp, X, "inputs")
        if X.ndim != 2:
            raise BackproplabError(
                f"inputs must be a 2-D array (examples x features), got shape {tuple(X.shape)}"
            )
        if X.shape[1] != self.n_inputs:
            raise BackproplabError(
                f"inputs have {X.shape[1]} features per example but the model expects "
                f"{self.n_inputs}; build the model with sizes[0] = {X.shape[1]} or fix the data"
            )
        if X.shape[0] == 0:
            raise BackproplabError("inputs are empty (0 examples); pass at least one example")
        if X.dtype.kind not in "fiub":
            raise BackproplabError(f"inputs must be numbers, got dtype {X.dtype}")
        X = X.astype(self.dtype, copy=False)
        if values and not _all_finite(xp, X):
            raise BackproplabError(
                "inputs contain NaN or infinite values; clean or impute the data first"
            )
        if y is None:
            return X, None
        y = _as_array(xp, y, "labels")
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise BackproplabError(
                f"labels must be a vector with one label per example: inputs have "
                f"{X.shape[0]} rows, labels have shape {tuple(y.shape)}"
            )
        if y.dtype.kind not in "iu":
            if not (y.dtype.kind == "f" and bool(xp.isfinite(y).all())
                    and bool(xp.all(y == xp.floor(y)))):
                raise BackproplabError(
                    f"labels must be integer class indices, got dtype {y.dtype}"
                    + (" with NaN, infinite or fractional values" if y.dtype.kind == "f" else "")
                )
            self._check_label_range(float(y.min()), float(y.max()))  # before the cast
            return X, y.astype(np.int64)
        if values:
            self._check_label_range(int(y.min()), int(y.max()))
        return X, y

    def _check_label_range(self, lo, hi) -> None:
        if lo < 0 or hi >= self.n_classes:
            raise BackproplabError(
                f"labels must lie in [0, {self.n_classes}) for a model with "
                f"{self.n_classes} outputs, found values from {lo:g} to {hi:g}"
            )

    # ---------------------------------------------------------------- passes
    def _workspace(self, n: int) -> _Workspace:
        ws = self._workspaces.pop(n, None)
        if ws is None:
            ws = _Workspace(self.xp, n, self.sizes, self.dtype)
            while len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
        self._workspaces[n] = ws  # most recently used last
        return ws

    def _forward(self, X, ws: _Workspace, ops=NumpyOps):
        """Fill the workspace's layer outputs; returns the logits buffer. ``ops``: the
        elementwise stages (:func:`backproplab.tensor.kernels.step_ops`)."""
        H = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            out = blas.matmul(self.xp, H, layer.W, out=ws.out[i])
            if i < last:
                ops.hidden_forward(out, layer.b, self.act)
            else:
                ops.logits_forward(out, layer.b)
            H = out
        return H

    def _backward(self, X, ws: _Workspace, dlogits) -> None:
        """Fill every layer's ``dW, db`` from the gradient of the logits."""
        dY = dlogits
        for i in range(len(self.layers) - 1, -1, -1):
            H_in = X if i == 0 else ws.out[i - 1]
            dH = self.layers[i].backward(H_in, dY, dX_out=ws.grad[i - 1] if i else None,
                                         need_dX=i > 0)
            if i:
                dY = self.act.backward(dH, ws.out[i - 1], out=dH, tmp=ws.tmp[i - 1])

    def forward(self, X, check: bool = True):
        """Return the logits (n, n_classes) for inputs ``X`` (a new array)."""
        if check:
            X, _ = self.check_inputs(X)
        return self._forward(X, self._workspace(X.shape[0])).copy()

    def _per_batch(self, X, batch_size: int, check: bool, fn):
        """``fn(logits)`` for every batch of ``batch_size`` rows of ``X``, concatenated.

        ``fn`` must return a new array: the logits live in a reused buffer."""
        if check:
            X, _ = self.check_inputs(X)
        _check_batch_size(batch_size)
        parts = []
        for s in range(0, X.shape[0], batch_size):
            Xb = X[s:s + batch_size]
            parts.append(fn(self._forward(Xb, self._workspace(Xb.shape[0]))))
        return parts[0] if len(parts) == 1 else self.xp.concatenate(parts)

    def predict_proba(self, X, batch_size: int = 8192, check: bool = True):
        """Class probabilities (n, n_classes) for inputs ``X`` (softmax of the logits)."""
        return self._per_batch(X, batch_size, check, softmax)

    def predict(self, X, batch_size: int = 8192, check: bool = True):
        """Predicted class (int64) of every row of ``X``."""
        return self._per_batch(X, batch_size, check,
                               lambda logits: logits.argmax(axis=1)).astype(np.int64)

    def loss(self, X, y, check: bool = True) -> float:
        """Mean cross-entropy of the batch ``(X, y)`` (no gradients)."""
        if check:
            X, y = self.check_inputs(X, y)
        ws = self._workspace(X.shape[0])
        logits = self._forward(X, ws)
        loss, _ = self.loss_fn.forward(logits, y, probs_out=logits)
        return loss

    def loss_and_grads(self, X, y, check: bool = True) -> float:
        """Mean cross-entropy of the batch; fills :attr:`grads` (overwriting them)."""
        if check:
            X, y = self.check_inputs(X, y)
        ws = self._workspace(X.shape[0])
        logits = self._forward(X, ws)
        loss, probs = self.loss_fn.forward(logits, y, probs_out=logits)
        dlogits = self.loss_fn.backward(probs, y, out=probs)
        self._backward(X, ws, dlogits)
        return loss

    def evaluate(self, X, y, batch_size: int = 8192, check: bool = True) -> tuple[float, float]:
        """``(mean_loss, accuracy)`` over a whole dataset, in batches of ``batch_size``."""
        if check:
            X, y = self.check_inputs(X, y)
        _check_batch_size(batch_size)
        n = X.shape[0]
        total_loss = 0.0
        correct = 0
        for s in range(0, n, batch_size):
            Xb, yb = X[s:s + batch_size], y[s:s + batch_size]
            logits = self._forward(Xb, self._workspace(Xb.shape[0]))
            correct += int((logits.argmax(axis=1) == yb).sum())
            loss, _ = self.loss_fn.forward(logits, yb, probs_out=logits)
            total_loss += loss * Xb.shape[0]
        return total_loss / n, correct / n

    # ------------------------------------------------------------ save / load
    def config(self) -> dict:
        """The constructor's settings (without the random generator)."""
        return {"sizes": list(self.sizes), "activation": self.activation, "init": self.init,
                "init_std": self.init_std, "dtype": self.dtype.name}

    def save(self, path, optimizer=None, extra: dict | None = None) -> Path:
        """Write the model (and optionally an optimizer's state and an ``extra`` dict) to ``.npz``.

        ``extra`` must be JSON-serialisable (NumPy scalars and arrays become
        numbers and lists); floats round-trip exactly. The file is written
        atomically and read back with ``allow_pickle=False``.
        """
        arrays = {"meta": json_array({"format": FILE_FORMAT, "version": FILE_VERSION,
                                      **self.config()})}
        for k, v in self.params.items():
            arrays[f"param/{k}"] = to_numpy(v)
        if optimizer is not None:
            if optimizer.model is not self:
                raise BackproplabError("the optimizer given to save() belongs to another model")
            state = optimizer.state_dict()
            arrays["optim"] = json_array({"name": state["name"], "hyper": state["hyper"],
                                          "steps": state["steps"],
                                          "buffers": sorted(state["buffers"])})
            for b, bufs in state["buffers"].items():
                for k, v in bufs.items():
                    arrays[f"optim/{b}/{k}"] = to_numpy(v)
        if extra is not None:
            if not isinstance(extra, dict):
                raise BackproplabError(f"extra must be a dict, got {type(extra).__name__}")
            try:
                arrays["extra"] = json_array(extra)
            except TypeError as exc:
                raise BackproplabError(f"extra cannot be saved as JSON: {exc}") from None
        return atomic_write_with(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load_checkpoint(cls, path, device: str = "cpu"):
        """Read a file written by :meth:`save`: ``(model, optimizer_state or None, extra or {})``.

        Rebuild the optimizer with
        :func:`backproplab.tensor.optim.optimizer_from_state` (or
        ``make_optimizer(...).load_state_dict(state)``). The ``model.npz`` or
        ``checkpoint.npz`` of a scalar-engine run (arrays ``W1, b1, ...`` and a
        JSON ``extra``) is read too, as the float64 sigmoid network it computes.
        """
        path = Path(path)
        files = read_npz(path)
        try:
            if "meta" not in files and is_scalar_engine_file(files):
                params, extra = scalar_engine_arrays(files)
                return cls._from_scalar_engine_params(params, device), None, extra
            meta = json_load(files["meta"])
            if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
                raise ValueError("no backproplab model metadata in it")
            if int(meta.get("version", 0)) > FILE_VERSION:
                raise ValueError(f"file version {meta.get('version')} is newer than this program")
            params = {k[len("param/"):]: v for k, v in files.items() if k.startswith("param/")}
            check_layer_arrays(meta["sizes"], params)  # before anything is allocated
            model = cls(meta["sizes"], activation=meta["activation"], init=meta["init"],
                        dtype=meta["dtype"], seed=0, init_std=meta.get("init_std"), device=device)
            for k, v in params.items():
                if v.dtype != model.dtype:
                    raise ValueError(f"parameter {k} is {v.dtype}, expected {model.dtype}")
            model.set_params(params)
            opt_state = None
            if "optim" in files:
                om = json_load(files["optim"])
                buffers = {b: {} for b in om["buffers"]}
                for k, v in files.items():
                    if k.startswith("optim/"):
                        _, b, name = k.split("/", 2)
                        buffers.setdefault(b, {})[name] = v
                opt_state = {"name": om["name"], "hyper": om["hyper"], "steps": om["steps"],
                             "buffers": buffers}
            extra = json_load(files["extra"]) if "extra" in files else {}
        except BackproplabError as exc:
            raise BackproplabError(f"{path}: {exc}") from None
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise BackproplabError(
                f"{path} is not a valid backproplab model file ({exc}); re-save or re-train it"
            ) from None
        return model, opt_state, extra

    @classmethod
    def _from_scalar_engine_params(cls, params: dict, device: str) -> MLP:
        Ws = [params[f"W{i}"] for i in range(1, len(params) // 2 + 1)]
        model = cls([Ws[0].shape[0], *(W.shape[1] for W in Ws)], activation="sigmoid",
                    dtype="float64", seed=0, device=device)
        model.set_params(params)
        return model

    @classmethod
    def load(cls, path, device: str = "cpu") -> MLP:
        """Read the model saved at ``path`` (any optimizer state and extras are ignored)."""
        return cls.load_checkpoint(path, device=device)[0]


def load_checkpoint(path, device: str = "cpu"):
    """Read a file written by :meth:`MLP.save`.

    Parameters
    ----------
    path : str or pathlib.Path
    device : {"cpu", "gpu"}, default "cpu"
        Where the model's arrays live.

    Returns
    -------
    tuple
        ``(model, optimizer state or None, extra dict)``; rebuild the optimizer
        with :func:`~backproplab.tensor.optim.optimizer_from_state`.

    Raises
    ------
    BackproplabError
        When the file is missing, damaged or not a model file (see :meth:`MLP.load_checkpoint`).
    """
    return MLP.load_checkpoint(path, device=device)
