"""Every option of a training run, with its default, in one visible place.

:class:`TrainConfig` is what ``backproplab train`` builds from its flags, what the
sweeps vary, and what a run folder's ``config.json`` holds. A few options default
to ``None``, meaning "the engine's default" (:data:`ENGINE_DEFAULTS`): the
scalar engine trains a small 2-8-2 network one example at a time, the tensor
engine the study's 300-unit network in mini-batches. :meth:`TrainConfig.resolved`
(and, for the tensor engine, :data:`DATASET_DEFAULTS`) fills those in; a run
folder always stores the resolved, validated config.

Adding an option: add a field with its default below, a check in
:meth:`TrainConfig.validate` (in the section it belongs to), and use it where it
acts. ``to_dict``/``from_dict`` and the run folder pick it up automatically, and
older ``config.json`` files without the field load with its default.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from backproplab.data import DEFAULT_NORMALIZE as _DEFAULT_NORMALIZE
from backproplab.errors import BackproplabError
from backproplab.tensor import ACTIVATIONS as _ACTIVATIONS
from backproplab.tensor import DEVICES as _DEVICES
from backproplab.tensor import DTYPES as _DTYPES
from backproplab.tensor import INITIALIZERS as _INITIALIZERS
from backproplab.tensor import OPTIMIZERS as _OPTIMIZERS
from backproplab.training.divergence import DEFAULT_FACTOR as _DIVERGENCE_FACTOR
from backproplab.training.divergence import DEFAULT_PATIENCE as _DIVERGENCE_PATIENCE
from backproplab.training.divergence import check_divergence_options
from backproplab.training.early_stopping import MONITORS as _MONITORS
from backproplab.training.early_stopping import check_early_stopping_options
from backproplab.training.schedules import DEFAULT_GAMMA as _DEFAULT_GAMMA
from backproplab.training.schedules import SCHEDULES as _SCHEDULES
from backproplab.training.schedules import check_schedule_options

#: Training engines by name.
ENGINES = ("tensor", "scalar")
# The names below are the tensor engine's registries (one vocabulary for the
# CLI, configs and code); the scalar engine supports a subset (sigmoid, normal, sgd).
#: Hidden-layer activations.
ACTIVATIONS = tuple(_ACTIVATIONS)
#: Weight initializers.
INITS = tuple(_INITIALIZERS)
#: Optimizers.
OPTIMIZERS = tuple(_OPTIMIZERS)
#: Floating-point types of the tensor engine.
DTYPES = tuple(_DTYPES)
#: Where the tensor engine computes.
DEVICES = tuple(_DEVICES)
#: Learning-rate schedules.
SCHEDULES = tuple(_SCHEDULES)
#: Metrics early stopping can monitor.
MONITORS = tuple(_MONITORS)
#: ``batch_size`` may be this word instead of a number: the whole training set.
FULL_BATCH = "full"

#: Defaults that depend on the engine, used where the config says ``None``.
ENGINE_DEFAULTS: dict[str, dict[str, Any]] = {
    # the study's MNIST network (Q5): one hidden layer of 300 sigmoid units
    "tensor": {"hidden": (300,), "lr": 0.1, "batch_size": 16, "dtype": "float32"},
    # the study's synthetic run (Q4): hidden and lr from backproplab.scalar's constants
    "scalar": {"hidden": None, "lr": None, "batch_size": 1, "dtype": "float64"},
}

#: Defaults that depend on the dataset, used where the config says ``None`` and
#: the engine has no default of its own. ``normalize``: the data layer's own
#: default (:data:`backproplab.data.DEFAULT_NORMALIZE`). ``init_std`` (the "normal" initializer): the
#: study's synthetic run draws standard normal weights (as the scalar engine
#: does; with 2 inputs, N(0, 0.1^2) weights leave a sigmoid net on a plateau for
#: epochs), while for 784-pixel images N(0, 0.1^2) keeps the hidden units out of
#: saturation.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {"normalize": _DEFAULT_NORMALIZE[name], "init_std": 1.0 if name == "synth" else 0.1}
    for name in _DEFAULT_NORMALIZE
}


def _scalar_defaults() -> dict[str, Any]:
    from backproplab import scalar

    return {"hidden": (int(scalar.DEFAULT_HIDDEN),), "lr": float(scalar.DEFAULT_LR)}


def engine_defaults(engine: str) -> dict[str, Any]:
    """The defaults of ``engine`` for the options left at ``None``."""
    if engine not in ENGINES:
        raise BackproplabError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    out = dict(ENGINE_DEFAULTS[engine])
    if engine == "scalar":
        out.update(_scalar_defaults())
    return out


@dataclass
class TrainConfig:
    """All options of one training run (see the module docstring for ``None`` defaults)."""

    # -- data ---------------------------------------------------------------
    dataset: str = "synth"                 #: synth | mnist | fashion-mnist
    data_dir: str | None = None            #: where the image files are (None: search)
    final: bool = False                    #: train on all training data, evaluate on test
    val_size: int = 5000                   #: images held out for validation (final=False)
    limit: int | None = None               #: keep only the first N training examples
    normalize: str | None = None           #: unit | standardize | none (None: dataset's)
    data_seed: int = 0                     #: the synthetic set's generator seed (study: 0)
    # -- model --------------------------------------------------------------
    engine: str = "tensor"                 #: tensor | scalar
    hidden: tuple[int, ...] | None = None  #: hidden widths, e.g. (512, 256)
    activation: str = "sigmoid"            #: hidden activation
    init: str = "normal"                   #: weight initializer (biases start at zero)
    init_std: float | None = None          #: std of the "normal" initializer (None: engine's)
    dtype: str | None = None               #: float32 | float64
    # -- optimizer ------------------------------------------------------------
    optimizer: str = "sgd"                 #: sgd | momentum | nesterov | adam
    lr: float | None = None                #: learning rate
    momentum: float = 0.9                  #: for momentum / nesterov
    beta1: float = 0.9                     #: Adam
    beta2: float = 0.999                   #: Adam
    eps: float = 1e-8                      #: Adam
    weight_decay: float = 0.0              #: L2 decay of the weights (not the biases)
    clip_norm: float | None = None         #: clip gradients to this global L2 norm (None: off)
    # -- learning-rate schedule (training/schedules.py) ----------------------
    lr_schedule: str = "constant"          #: constant|step|exponential|cosine|invscaling|plateau
    lr_step_size: int = 10                 #: step: epochs between two drops
    lr_gamma: float | None = None          #: step/exponential factor (None: 0.1 / 0.9)
    lr_min: float = 0.0                    #: cosine: the rate it anneals towards
    lr_power: float = 0.5                  #: invscaling: exponent (scikit-learn's power_t)
    lr_patience: int = 10                  #: plateau: scikit-learn's n_iter_no_change
    lr_tol: float = 1e-4                   #: plateau: scikit-learn's tol
    # -- loop ---------------------------------------------------------------
    batch_size: int | str | None = None    #: examples per step, or "full"
    epochs: int = 5                        #: passes over the training set
    seed: int = 0                          #: initial weights and batch order
    # -- early stopping (training/early_stopping.py; off by default) ---------
    early_stopping: bool = False           #: stop when the validation metric stalls
    patience: int = 5                      #: epochs without improvement before stopping
    min_delta: float = 0.0                 #: smallest change that counts as improvement
    monitor: str = "eval_loss"             #: eval_loss | eval_accuracy
    restore_best: bool = False             #: end with the best epoch's weights
    # -- divergence guard (training/divergence.py; on by default) ------------
    #: stop when the loss stays above this x max(initial loss, ln classes); None or 0: off
    divergence_factor: float | None = _DIVERGENCE_FACTOR
    divergence_patience: int = _DIVERGENCE_PATIENCE  #: checks in a row above that limit
    # -- machine --------------------------------------------------------------
    threads: int | None = None             #: BLAS threads (None: all cores)
    device: str = "cpu"                    #: cpu | gpu (tensor engine)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # accept [512, 256] as well as (512, 256)
            self.hidden = tuple(self.hidden)
        elif isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            self.hidden = (self.hidden,)

    # ------------------------------------------------------------------ helpers

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)

    def resolved(self) -> TrainConfig:
        """A validated copy with every ``None`` default filled in (engine defaults,
        thread count); this is what a run folder records."""
        self.validate()
        changes: dict[str, Any] = {}
        defaults = dict(DATASET_DEFAULTS.get(self.dataset, {}))
        defaults.update({k: v for k, v in engine_defaults(self.engine).items() if v is not None})
        if self.init != "normal":
            defaults.pop("init_std", None)
        for key, value in defaults.items():
            if getattr(self, key) is None and value is not None:
                changes[key] = value
        if self.threads is None:
            changes["threads"] = usable_cpus()
        if self.lr_gamma is None and self.lr_schedule in _DEFAULT_GAMMA:
            changes["lr_gamma"] = _DEFAULT_GAMMA[self.lr_schedule]
        out = self.replace(**changes)
        out.validate()
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every option (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`. Missing keys take their defaults; an
        unknown key is an error (a typo must not be silently ignored)."""
        if not isinstance(data, dict):
            raise BackproplabError("a training config must be a JSON object of options")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise BackproplabError(
                f"unknown training option(s) {', '.join(unknown)}; "
                f"known options are {', '.join(sorted(names))}"
            )
        cfg = cls(**data)
        cfg.validate()
        return cfg

    # -------------------------------------------------------------- validation

    def validate(self) -> TrainConfig:
        """Check every option; raise :class:`BackproplabError` naming the bad one.

        Returns ``self`` so that ``TrainConfig(...).validate()`` chains.
        """
        from backproplab.data import DATASETS
        from backproplab.data.normalize import MODES

        # data
        _choice("dataset", self.dataset, DATASETS)
        _optional_str("data_dir", self.data_dir)
        _bool("final", self.final)
        _int("val_size", self.val_size, minimum=1)
        if self.limit is not None:
            _int("limit", self.limit, minimum=1)
        if self.normalize is not None:
            _choice("normalize", self.normalize, MODES)
        _int("data_seed", self.data_seed, minimum=0)
        # model
        _choice("engine", self.engine, ENGINES)
        if self.hidden is not None:
            if not isinstance(self.hidden, tuple) or not self.hidden:
                raise BackproplabError(
                    f"hidden must list at least one layer width, like 300 or 512,256; "
                    f"got {self.hidden!r}")
            for width in self.hidden:
                if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                    raise BackproplabError(
                        f"hidden layer widths must be positive integers, like 512,256; "
                        f"got {','.join(map(str, self.hidden))}")
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("init", self.init, INITS)
        if self.init_std is not None:
            _positive("init_std", self.init_std)
            if self.init != "normal":
                raise BackproplabError(
                    f"init_std applies only to the normal initializer, not {self.init!r}; "
                    "drop --init-std")
        if self.dtype is not None:
            _choice("dtype", self.dtype, DTYPES)
        # optimizer
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is not None:
            _positive("lr", self.lr, hint="try --lr 0.01")
        _fraction("momentum", self.momentum)
        _fraction("beta1", self.beta1)
        _fraction("beta2", self.beta2)
        _positive("eps", self.eps)
        if not _number(self.weight_decay) or self.weight_decay < 0:
            raise BackproplabError(
                f"weight_decay (--weight-decay) must be a number >= 0, got {self.weight_decay!r}")
        if self.clip_norm is not None:
            _positive("clip_norm (--clip-norm)", self.clip_norm)
        check_schedule_options(self.lr_schedule, lr_step_size=self.lr_step_size,
                               lr_gamma=self.lr_gamma, lr_min=self.lr_min,
                               lr_power=self.lr_power, lr_patience=self.lr_patience,
                               lr_tol=self.lr_tol, lr=self.lr)
        # loop
        bs = self.batch_size
        if bs is not None and bs != FULL_BATCH and (
                isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
            raise BackproplabError(
                    f"batch size must be a positive integer or 'full', got {self.batch_size!r}")
        _int("epochs", self.epochs, minimum=1)
        _int("seed", self.seed, minimum=0)
        _bool("early_stopping", self.early_stopping)
        _bool("restore_best", self.restore_best)
        check_early_stopping_options(patience=self.patience, min_delta=self.min_delta,
                                     monitor=self.monitor)
        if self.early_stopping and self.final:
            raise BackproplabError(
                "early stopping monitors the validation split, but --final evaluates on the "
                "test set (choosing the epoch on it would leak the test set); drop --final or "
                "--early-stopping")
        if self.restore_best and not self.early_stopping:
            raise BackproplabError(
                "--restore-best keeps the best weights of early stopping; add --early-stopping "
                "or drop --restore-best")
        check_divergence_options(divergence_factor=self.divergence_factor,
                                 divergence_patience=self.divergence_patience)
        # machine
        if self.threads is not None:
            _int("threads", self.threads, minimum=1)
        _choice("device", self.device, DEVICES)
        # what the scalar engine can do: the study's per-example SGD, sigmoid, normal init
        if self.engine == "scalar":
            self._validate_scalar()
        return self

    def _validate_scalar(self) -> None:
        def unsupported(what: str) -> BackproplabError:
            return BackproplabError(
                f"the scalar engine does not support {what}; drop that option or use "
                "--engine tensor")

        if self.batch_size not in (None, 1):
            raise unsupported(f"batch size {self.batch_size} (it trains one example at a time)")
        if self.optimizer != "sgd":
            raise unsupported(f"the {self.optimizer} optimizer (plain SGD only)")
        if self.activation != "sigmoid":
            raise unsupported(f"the {self.activation} activation (sigmoid only)")
        if self.init != "normal":
            raise unsupported(f"the {self.init} initializer (normal only)")
        if self.dtype not in (None, "float64"):
            raise unsupported(f"dtype {self.dtype} (Python floats are float64)")
        if self.device != "cpu":
            raise unsupported(f"device {self.device}")
        if self.weight_decay:
            raise unsupported("weight decay (--weight-decay)")
        if self.clip_norm is not None:
            raise unsupported("gradient clipping (--clip-norm)")
        if self.lr_schedule != "constant":
            raise unsupported(f"the {self.lr_schedule} learning-rate schedule")
        if self.early_stopping:
            raise unsupported("early stopping (--early-stopping)")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which ``taskset`` and
    container limits narrow; ``os.cpu_count()`` where there is none): the
    default ``threads`` of a run, so that BLAS does not start more threads than
    there are cores to run them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# small checks with uniform messages


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise BackproplabError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise BackproplabError(f"{name} must be true or false, got {value!r}")


def _optional_str(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise BackproplabError(f"{name} must be a path string, got {value!r}")


def _int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _positive(name: str, value: Any, hint: str = "") -> None:
    if not _number(value) or value <= 0:
        raise BackproplabError(
            f"{name} must be a positive number, got {value!r}" + (f"; {hint}" if hint else ""))


def _fraction(name: str, value: Any) -> None:
    if not _number(value) or not 0 <= value < 1:
        raise BackproplabError(f"{name} must be a number in [0, 1), got {value!r}")


__all__ = ["ACTIVATIONS", "DATASET_DEFAULTS", "DEVICES", "DTYPES", "ENGINES", "ENGINE_DEFAULTS",
           "FULL_BATCH",
           "INITS", "MONITORS", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "engine_defaults"]
