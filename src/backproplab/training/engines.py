"""The two training engines behind a run: build the model, train it, checkpoint it.

:class:`TensorEngine` wraps :class:`backproplab.tensor.MLP` and an optimizer,
:class:`ScalarEngine` the pure-Python :class:`backproplab.scalar.MLP` and
:class:`~backproplab.training.scalar_loop.ScalarSGD`; both train through
:func:`backproplab.training.fit` (the one epoch loop). Both offer the same small
interface, which :func:`backproplab.training.run_training` drives; :data:`ENGINES`
maps the config's ``engine`` name to its class.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from backproplab import scalar, tensor
from backproplab.fileio import atomic_write_with
from backproplab.tensor.backend import to_numpy
from backproplab.tensor.files import read_npz, scalar_engine_arrays
from backproplab.tensor.memory import PYTHON_FLOAT_BYTES, check_training_memory
from backproplab.training.config import ENGINE_NAMES, FULL_BATCH, TrainConfig
from backproplab.training.divergence import DivergenceGuard
from backproplab.training.early_stopping import EarlyStopping
from backproplab.training.loop import EVAL_BATCH_SIZE, fit
from backproplab.training.options import optimizer_options
from backproplab.training.scalar_loop import ScalarSGD, scalar_params, set_scalar_params
from backproplab.training.schedules import make_schedule


def run_seeds(seed: int):
    """The two random streams of a run, spawned from its seed.

    Parameters
    ----------
    seed : int
        The run's ``seed``.

    Returns
    -------
    tuple
        ``(init, shuffle)``: a :class:`numpy.random.SeedSequence` for the
        weights' initialization and a :class:`numpy.random.Generator` for the
        batches' shuffling.
    """
    init_ss, shuffle_ss = np.random.SeedSequence(seed).spawn(2)
    return init_ss, np.random.default_rng(shuffle_ss)


def run_controls(cfg: TrainConfig, n_train: int):
    """The schedule and the early stopping of a run, each ``None`` when the config leaves it off.

    Parameters
    ----------
    cfg : TrainConfig
        The run's resolved config (``lr_schedule`` and its options,
        ``early_stopping`` and its options).
    n_train : int
        The training set's size (the ``invscaling`` schedule counts examples).

    Returns
    -------
    tuple
        ``(schedule, early_stopping)``: a :class:`Schedule` or ``None`` (the
        constant schedule is ``None``: the optimizer's rate is then never
        touched), and an :class:`EarlyStopping` or ``None``.
    """

    schedule = None
    if cfg.lr_schedule != "constant":
        schedule = make_schedule(cfg.lr_schedule, cfg.lr, epochs=cfg.epochs,
                                 samples_per_epoch=n_train, lr_step_size=cfg.lr_step_size,
                                 lr_gamma=cfg.lr_gamma, lr_min=cfg.lr_min, lr_power=cfg.lr_power,
                                 lr_patience=cfg.lr_patience, lr_tol=cfg.lr_tol)
    stopper = None
    if cfg.early_stopping:
        stopper = EarlyStopping(patience=cfg.patience, min_delta=cfg.min_delta,
                                monitor=cfg.monitor, restore_best=cfg.restore_best)
    return schedule, stopper


class Engine:
    """What both engines share: the config, the data and the layer sizes they imply.

    Parameters
    ----------
    cfg : TrainConfig
        The run's resolved config.
    dataset : backproplab.data.Dataset
        The data the run trains and evaluates on.
    """

    def __init__(self, cfg: TrainConfig, dataset):
        self.cfg, self.dataset = cfg, dataset
        self.guard = DivergenceGuard(cfg.divergence_factor, cfg.divergence_patience,
                                     n_classes=dataset.n_classes)

    def sizes(self) -> list[int]:
        return [self.dataset.n_features, *self.cfg.hidden, self.dataset.n_classes]

    def train(self, *, start_epoch, rng, on_batch, on_epoch, schedule=None, early_stopping=None):
        """Train the built (or restored) model through :func:`fit`; returns its history."""
        d = self.dataset
        return fit(self.model, self.optimizer, d.X_train, d.y_train, epochs=self.cfg.epochs,
                   batch_size=self.cfg.batch_size, rng=rng, X_eval=d.X_eval, y_eval=d.y_eval,
                   on_batch=on_batch, on_epoch=on_epoch, start_epoch=start_epoch,
                   schedule=schedule, early_stopping=early_stopping, divergence=self.guard)


class TensorEngine(Engine):
    """The vectorized engine: :class:`backproplab.tensor.MLP` + an optimizer + :func:`fit`."""

    def batch_rows(self) -> int:
        """Examples per training step (``batch_size``, or the whole set for ``"full"``)."""
        n = len(self.dataset.X_train)
        return n if self.cfg.batch_size == FULL_BATCH else min(self.cfg.batch_size, n)

    def check_memory(self) -> None:
        """Refuse a model too large for the memory at hand, before anything is allocated."""
        cfg, n = self.cfg, len(self.dataset.X_train)
        check_training_memory(self.sizes(), self.batch_rows(), cfg.device, dtype=cfg.dtype,
                              optimizer=cfg.optimizer,
                              eval_batch_size=min(EVAL_BATCH_SIZE,
                                                  max(n, len(self.dataset.X_eval))))

    def build(self, init_ss) -> None:
        cfg = self.cfg
        options = {}
        if cfg.init_std is not None:
            options["init_std"] = cfg.init_std
        if cfg.device != "cpu":
            options["device"] = cfg.device
        self.model = tensor.MLP(self.sizes(), activation=cfg.activation, init=cfg.init,
                                dtype=cfg.dtype, rng=np.random.default_rng(init_ss), **options)
        self.optimizer = tensor.make_optimizer(cfg.optimizer, self.model, cfg.lr,
                                               **optimizer_options(cfg))

    def restore(self, path: Path) -> dict:
        model, opt_state, extra = tensor.load_checkpoint(path, device=self.cfg.device)
        want = {"sizes": self.sizes(), "activation": self.cfg.activation,
                "dtype": self.cfg.dtype}
        have = {"sizes": list(model.sizes), "activation": model.activation,
                "dtype": model.dtype.name}
        if have != want:
            raise ValueError(f"its model {have} differs from the config's {want}")
        self.model = model
        self.optimizer = tensor.make_optimizer(self.cfg.optimizer, model, self.cfg.lr,
                                               **optimizer_options(self.cfg))
        if not opt_state:
            raise ValueError(f"it holds no state of the {self.cfg.optimizer} optimizer")
        self.optimizer.load_state_dict(opt_state)
        return extra

    def batches_per_epoch(self) -> int:
        return -(-len(self.dataset.X_train) // self.batch_rows())

    def n_params(self) -> int:
        return int(sum(p.size for p in self.model.params.values()))

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies of the parameters as NumPy arrays ``W1, b1, ...`` (for snapshots)."""
        return {name: np.array(to_numpy(value)) for name, value in self.model.params.items()}

    def set_params(self, params: dict) -> None:
        """Copy the arrays ``params`` into the model by name (early stopping's best weights)."""
        self.model.set_params(params)

    def read_weights(self, path: Path) -> tuple[dict, dict]:
        """``(parameters, extra)`` of a weights file this engine saved (``best.npz``)."""
        model, _, extra = tensor.load_checkpoint(path)
        return model.params, extra or {}

    def save(self, path: Path, extra: dict | None = None, with_optimizer: bool = True) -> None:
        self.model.save(path, optimizer=self.optimizer if with_optimizer else None, extra=extra)


class ScalarEngine(Engine):
    """The pure-Python engine (study Q4): per-example SGD through
    :class:`backproplab.scalar.MLP`; weights are saved as ``.npz`` arrays
    ``W1, b1, ...`` (the tensor engine's names) plus a JSON ``extra``."""

    def build(self, init_ss) -> None:
        # the scalar engine draws from random.Random; seed it from the run's init stream
        seed = int(init_ss.generate_state(1, dtype=np.uint64)[0])
        self.model = scalar.MLP(self.sizes(), rng=random.Random(seed), init_std=self.cfg.init_std)
        self.optimizer = ScalarSGD(self.cfg.lr)

    def check_memory(self) -> None:
        """Refuse a model too large for the memory at hand: one example at a time, every
        number a Python float."""
        check_training_memory(self.sizes(), 1, eval_batch_size=1,
                              bytes_per_number=PYTHON_FLOAT_BYTES)

    def read_weights(self, path: Path) -> tuple[dict, dict]:
        """``(parameters, extra)`` of a file :meth:`save` wrote: float64 arrays
        ``W1, b1, ...`` and the JSON ``extra``."""
        # sizes checked against the bytes stored, then the layout
        return scalar_engine_arrays(read_npz(path, "checkpoint"))

    def restore(self, path: Path) -> dict:
        params, extra = self.read_weights(path)
        self.model = scalar.MLP.from_dict({k: v.tolist() for k, v in params.items()})
        if self.model.sizes != self.sizes():
            raise ValueError(f"layer sizes {self.model.sizes} differ from the config's "
                             f"{self.sizes()}")
        self.optimizer = ScalarSGD(self.cfg.lr)
        return extra

    def batches_per_epoch(self) -> int:
        return len(self.dataset.X_train)

    def n_params(self) -> int:
        return sum(len(W) * len(W[0]) + len(b) for W, b in
                   zip(self.model.weights, self.model.biases))

    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters as float64 NumPy arrays ``W1, b1, ...`` (the tensor engine's layout)."""
        return scalar_params(self.model)

    def set_params(self, params: dict) -> None:
        """Put the arrays ``params`` into the model as Python floats (early stopping)."""
        set_scalar_params(self.model, params)

    def save(self, path: Path, extra: dict | None = None, with_optimizer: bool = True) -> None:
        arrays = self.arrays()
        arrays["extra"] = np.array(json.dumps(extra or {}))
        atomic_write_with(path, lambda fh: np.savez(fh, **arrays))


#: The training engines by name: the one registry of engines (its names are
#: :data:`~backproplab.training.config.ENGINE_NAMES`, the ``engine`` option's choices).
ENGINES = {"tensor": TensorEngine, "scalar": ScalarEngine}
if tuple(ENGINES) != ENGINE_NAMES:  # pragma: no cover - a programming error, at import
    raise ImportError(f"the engines {tuple(ENGINES)} differ from ENGINE_NAMES {ENGINE_NAMES}")


__all__ = ["ENGINES", "Engine", "ScalarEngine", "TensorEngine", "run_controls", "run_seeds"]
