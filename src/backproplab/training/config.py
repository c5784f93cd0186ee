"""Every option of a training run, with its default and its documentation, in one place.

:class:`TrainConfig` is what ``backproplab train`` builds from its flags (or
reads with ``--config``), what the sweeps vary, and what a run folder's
``config.json`` holds. A few options default to ``None``, meaning "the engine's
default" (:data:`ENGINE_DEFAULTS`): the scalar engine trains a small 2-8-2
network one example at a time, the tensor engine the study's 300-unit network in
mini-batches. :meth:`TrainConfig.resolved` (and, for the tensor engine,
:data:`DATASET_DEFAULTS`) fills those in; a run folder always stores the
resolved, validated config.

Each field is declared with :func:`option`: its default, one phrase of help,
and where it applies, as data. Everything else is derived from that
declaration: the command line's flags of ``train`` and ``sweep`` (flag
``--name-with-dashes``, ``--help`` text with the default and the choices, the
value's type from the annotation), the choices that :meth:`TrainConfig.validate`
accepts, and the rules of :func:`backproplab.training.options.check_settings_apply`
(a setting given for a run that would ignore it is refused).

Adding an option is one change here: a field in its section, declared with
:func:`option`::

    divergence_patience: int = option(3, "non-finite epochs tolerated before stopping")

with ``choices=`` a registry tuple (validated and listed in ``--help``),
``applies=("optimizer", ("adam",))`` when only some runs read it, ``none=``
what a ``None`` default means, and ``metavar=`` / ``parse=`` for values
written other than as a number or a word. Then add the checks of its value in
:meth:`TrainConfig.validate` (in the section it belongs to) and use it where it
acts. ``to_dict``/``from_dict``, ``config.json``, ``train --config`` and the
flags pick it up by themselves; older ``config.json`` files without the field
load with its default.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from backproplab import scalar
from backproplab.data import DATASETS as _DATASETS
from backproplab.data import DEFAULT_NORMALIZE as _DEFAULT_NORMALIZE
from backproplab.data.catalog import CATALOG as _CATALOG
from backproplab.data.normalize import MODES as _NORMALIZE_MODES
from backproplab.errors import BackproplabError, choose_from
from backproplab.fileio import load_json
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
from backproplab.training.schedules import PLATEAU_DIVISOR as _PLATEAU_DIVISOR
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
    return {"hidden": (int(scalar.DEFAULT_HIDDEN),), "lr": float(scalar.DEFAULT_LR)}


def engine_defaults(engine: str) -> dict[str, Any]:
    """The defaults of ``engine`` for the options left at ``None``."""
    if engine not in ENGINES:
        raise BackproplabError(f"unknown engine {engine!r}; choose {choose_from('engine', ENGINES)}")
    out = dict(ENGINE_DEFAULTS[engine])
    if engine == "scalar":
        out.update(_scalar_defaults())
    return out


# ---------------------------------------------------------------------------
# values written as text (the command line, sweeps)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)``; anything else raises :class:`BackproplabError`."""
    parts = [t.strip() for t in str(text).split(",")]
    try:
        sizes = tuple(int(t) for t in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise BackproplabError(
            f"hidden must list positive layer widths separated by commas, like 300 or "
            f"512,256; got {text!r}", settings=("hidden",))
    return sizes


def parse_batch_size(text: str) -> int | str:
    """``"16"`` -> 16, ``"full"`` -> ``"full"``; anything else raises :class:`BackproplabError`."""
    if str(text).strip().lower() == FULL_BATCH:
        return FULL_BATCH
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BackproplabError(
            f"batch_size must be a positive integer or 'full', got {text!r}",
            settings=("batch_size",))
    return value


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
           applies: tuple[str, tuple] | None = None, none: str | None = None,
           metavar: str | None = None, parse=None) -> Any:
    """Declare a :class:`TrainConfig` field: its default and its documentation.

    Parameters
    ----------
    default : object
        The default value (immutable).
    help : str
        One phrase saying what the option does.
    choices : tuple of str, optional
        The names it accepts (a registry); :meth:`TrainConfig.validate` checks them.
    applies : (str, tuple), optional
        ``(setting, values)``: the option is read only when ``setting`` has one of
        ``values``, e.g. ``("optimizer", ("adam",))``.
    none : str, optional
        What a ``None`` default means, when no defaults table says it.
    metavar : str, optional
        How the value is written on the command line, e.g. ``"SIZES"``.
    parse : callable, optional
        Text -> value, for values that are not a number or a word.

    Returns
    -------
    dataclasses.Field
    """
    meta = {"help": help, "choices": choices, "applies": applies, "none": none,
            "metavar": metavar, "parse": parse}
    return dataclasses.field(default=default, metadata=meta)


_IMAGES = tuple(_CATALOG)  # the image datasets
_EARLY = ("early_stopping", (True,))


@dataclass
class TrainConfig:
    """All options of one training run, with their defaults, validated.

    Every option is a dataclass field declared once with :func:`option` (its
    default, one phrase of help, its choices and where it applies); the flags of
    ``backproplab train`` / ``sweep``, ``--help``, :meth:`validate`'s choices and
    the applicability rules are all derived from those declarations. The help
    of each option is not repeated here: see :func:`backproplab.training.settings`
    (the options as data) or ``backproplab train --help``.

    Parameters
    ----------
    **options
        Any field, by keyword, grouped as: data (``dataset``, ``data_dir``,
        ``final``, ``val_size``, ``limit``, ``normalize``, ``data_seed``); model
        (``engine``, ``hidden``, ``activation``, ``init``, ``init_std``,
        ``dtype``); optimizer (``optimizer``, ``lr``, ``momentum``, ``beta1``,
        ``beta2``, ``eps``, ``weight_decay``, ``clip_norm``); learning-rate
        schedule (``lr_schedule``, ``lr_*``); loop (``batch_size``, ``epochs``,
        ``seed``); early stopping (``early_stopping``, ``patience``,
        ``min_delta``, ``monitor``, ``restore_best``); divergence guard
        (``divergence_factor``, ``divergence_patience``); machine (``threads``,
        ``device``). A ``None`` default means "the engine's default" (see the
        module docstring), filled in by :meth:`resolved`.

    Raises
    ------
    BackproplabError
        From :meth:`validate` (and :meth:`from_dict`) for a bad value or an
        unknown option, naming the setting by its Python name.

    Examples
    --------
    >>> from backproplab.training import TrainConfig, settings
    >>> config = TrainConfig(dataset="synth", lr=0.1, epochs=3)
    >>> config.resolved().hidden
    (300,)
    >>> TrainConfig.from_dict(config.to_dict()) == config
    True
    >>> settings()[0].name, settings()[0].default
    ('dataset', 'synth')
    >>> TrainConfig(lr=-1).validate()
    Traceback (most recent call last):
    ...
    backproplab.errors.BackproplabError: lr must be a positive number, got -1; try lr=0.01
    """

    # -- data ---------------------------------------------------------------
    dataset: str = option("synth", "the data to train on", choices=_DATASETS)
    data_dir: str | None = option(None, "folder holding the dataset's IDX files",
                                  applies=("dataset", _IMAGES), metavar="DIR",
                                  none="search the usual folders")
    final: bool = option(False, "train on all training data and evaluate on the test set")
    val_size: int = option(5000, "training images held out for validation",
                           applies=("dataset", _IMAGES))
    limit: int | None = option(None, "keep only the first N training examples", none="all")
    normalize: str | None = option(None, "input scaling (statistics of the training split)",
                                   choices=_NORMALIZE_MODES)
    data_seed: int = option(0, "seed of the synthetic points (0: the study's)",
                            applies=("dataset", ("synth",)))
    # -- model --------------------------------------------------------------
    engine: str = option("tensor", "which engine trains (scalar: pure Python, per-example SGD)",
                         choices=ENGINES)
    hidden: tuple[int, ...] | None = option(None, "hidden layer widths, e.g. 300 or 512,256",
                                            metavar="SIZES", parse=parse_hidden)
    activation: str = option("sigmoid", "hidden-layer activation", choices=ACTIVATIONS)
    init: str = option("normal", "weight initializer (biases start at zero)", choices=INITS)
    init_std: float | None = option(None, "standard deviation of the normal initializer",
                                    applies=("init", ("normal",)), metavar="STD")
    dtype: str | None = option(None, "floating-point type", choices=DTYPES)
    # -- optimizer ------------------------------------------------------------
    optimizer: str = option("sgd", "the update rule", choices=OPTIMIZERS)
    lr: float | None = option(None, "learning rate")
    momentum: float = option(0.9, "momentum factor", applies=("optimizer", ("momentum", "nesterov")))
    beta1: float = option(0.9, "Adam's decay of the mean gradient", applies=("optimizer", ("adam",)))
    beta2: float = option(0.999, "Adam's decay of the squared gradient",
                          applies=("optimizer", ("adam",)))
    eps: float = option(1e-8, "Adam's term added to the denominator",
                        applies=("optimizer", ("adam",)))
    weight_decay: float = option(0.0, "L2 decay X of the weights, not the biases: adds "
                                      "(X/2)*||W||^2 to the loss")
    clip_norm: float | None = option(None, "clip the gradients to this global L2 norm before "
                                           "each update", none="off")
    # -- learning-rate schedule (training/schedules.py) ----------------------
    lr_schedule: str = option("constant", "how the rate changes between epochs "
                                          "(docs/training.md)", choices=SCHEDULES)
    lr_step_size: int = option(10, "epochs between two drops", applies=("lr_schedule", ("step",)))
    lr_gamma: float | None = option(
        None, "factor in (0, 1] the rate is multiplied by",
        applies=("lr_schedule", tuple(_DEFAULT_GAMMA)),
        none=", ".join(f"{k} {v:g}" for k, v in _DEFAULT_GAMMA.items()))
    lr_min: float = option(0.0, "the rate cosine anneals towards", applies=("lr_schedule", ("cosine",)))
    lr_power: float = option(0.5, "exponent X of lr / (t + 1)^X, t = examples seen "
                                  "(scikit-learn's power_t)",
                             applies=("lr_schedule", ("invscaling",)))
    lr_patience: int = option(10, f"epochs without a lower training loss; more divide the rate "
                                  f"by {_PLATEAU_DIVISOR:g} (scikit-learn's n_iter_no_change)",
                              applies=("lr_schedule", ("plateau",)))
    lr_tol: float = option(1e-4, "decrease of the training loss that counts as lower "
                                 "(scikit-learn's tol)", applies=("lr_schedule", ("plateau",)))
    # -- loop ---------------------------------------------------------------
    batch_size: int | str | None = option(None, "examples per step, or 'full'",
                                          metavar="N|full", parse=parse_batch_size)
    epochs: int = option(5, "passes over the training set")
    seed: int = option(0, "seed of the initial weights and batch order")
    # -- early stopping (training/early_stopping.py; off by default) ---------
    early_stopping: bool = option(False, "stop when the validation metric stops improving")
    patience: int = option(5, "epochs without improvement before stopping", applies=_EARLY)
    min_delta: float = option(0.0, "smallest change that counts as improvement", applies=_EARLY)
    monitor: str = option("eval_loss", "the validation metric watched", choices=MONITORS,
                          applies=_EARLY)
    restore_best: bool = option(False, "end with the weights of the best epoch", applies=_EARLY)
    # -- divergence guard (training/divergence.py; on by default) ------------
    divergence_factor: float | None = option(
        _DIVERGENCE_FACTOR, "stop when the training loss stays above this x max(initial loss, "
        "ln classes); 0 turns the guard off", none="off")
    divergence_patience: int = option(
        _DIVERGENCE_PATIENCE, "checks in a row above that limit before the run stops")
    # -- inspection (training/snapshots.py; off by default) -----------------
    inspect: bool = option(False, "store snapshots for the inspection figures (first-layer "
                                  "weights, hidden activations, synth's boundary) in "
                                  "inspect.npz at init and after every epoch")
    # -- machine --------------------------------------------------------------
    threads: int | None = option(None, "BLAS threads", none="all usable cores")
    device: str = option("cpu", "where the tensor engine computes (gpu needs CuPy)",
                         choices=DEVICES)

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

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        """The config in the JSON file ``path``, e.g. a run folder's ``config.json``.

        Missing keys take their defaults (:meth:`from_dict`). A file that cannot
        be read, is not JSON, or holds an unknown option or a bad value raises
        :class:`BackproplabError` naming the file.
        """
        try:
            data = load_json(path)
        except OSError as exc:
            raise BackproplabError(f"cannot read the config file {path} ({exc.strerror or exc}); "
                                   "give a JSON file of options, such as a run's config.json"
                                   ) from None
        except ValueError as exc:
            raise BackproplabError(f"the config file {path} is not JSON ({exc}); give a JSON "
                                   "object of options, such as a run's config.json") from None
        try:
            return cls.from_dict(data)
        except (BackproplabError, TypeError) as exc:
            raise BackproplabError(f"the config file {path} is not a valid training config: "
                                   f"{exc}") from None

    # -------------------------------------------------------------- validation

    def validate(self) -> TrainConfig:
        """Check every option; raise :class:`BackproplabError` naming the bad one.

        Returns ``self`` so that ``TrainConfig(...).validate()`` chains.
        """
        for f in dataclasses.fields(self):  # the options that take a name from a registry
            value = getattr(self, f.name)
            if f.metadata["choices"] and not (value is None and f.default is None):
                _choice(f.name, value, f.metadata["choices"])
        # data
        _optional_str("data_dir", self.data_dir)
        _bool("final", self.final)
        _bool("inspect", self.inspect)
        _int("val_size", self.val_size, minimum=1)
        if self.limit is not None:
            _int("limit", self.limit, minimum=1)
        _int("data_seed", self.data_seed, minimum=0)
        # model
        if self.hidden is not None:
            _check_hidden(self.hidden)
        if self.init_std is not None:
            _positive("init_std", self.init_std)
            if self.init != "normal":
                raise BackproplabError(
                    f"init_std applies only to init='normal', not {self.init!r}; "
                    "drop init_std", settings=("init_std",))
        # optimizer
        if self.lr is not None:
            _positive("lr", self.lr, hint="try lr=0.01")
        _fraction("momentum", self.momentum)
        _fraction("beta1", self.beta1)
        _fraction("beta2", self.beta2)
        _positive("eps", self.eps)
        if not _number(self.weight_decay) or self.weight_decay < 0:
            raise BackproplabError(f"weight_decay must be a number >= 0, got "
                                   f"{self.weight_decay!r}", settings=("weight_decay",))
        if self.clip_norm is not None:
            _positive("clip_norm", self.clip_norm)
        check_schedule_options(self.lr_schedule, lr_step_size=self.lr_step_size,
                               lr_gamma=self.lr_gamma, lr_min=self.lr_min,
                               lr_power=self.lr_power, lr_patience=self.lr_patience,
                               lr_tol=self.lr_tol, lr=self.lr)
        # loop
        bs = self.batch_size
        if bs is not None and bs != FULL_BATCH and (
                isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
            raise BackproplabError(f"batch_size must be a positive integer or 'full', got "
                                   f"{bs!r}", settings=("batch_size",))
        _int("epochs", self.epochs, minimum=1)
        _int("seed", self.seed, minimum=0)
        self._validate_early_stopping()
        check_divergence_options(divergence_factor=self.divergence_factor,
                                 divergence_patience=self.divergence_patience)
        # machine
        if self.threads is not None:
            _int("threads", self.threads, minimum=1)
        # what the scalar engine can do: the study's per-example SGD, sigmoid, normal init
        if self.engine == "scalar":
            self._validate_scalar()
        return self

    def _validate_early_stopping(self) -> None:
        _bool("early_stopping", self.early_stopping)
        _bool("restore_best", self.restore_best)
        check_early_stopping_options(patience=self.patience, min_delta=self.min_delta,
                                     monitor=self.monitor)
        if self.early_stopping and self.final:
            raise BackproplabError(
                "early stopping monitors the validation split, but final=True evaluates on the "
                "test set (choosing the epoch on it would leak the test set); drop final=True "
                "or early_stopping=True")
        if self.restore_best and not self.early_stopping:
            raise BackproplabError(
                "restore_best keeps the best weights of early stopping; add "
                "early_stopping=True or drop restore_best", settings=("restore_best",))

    def _validate_scalar(self) -> None:
        def unsupported(what: str) -> BackproplabError:
            return BackproplabError(
                f"the scalar engine does not support {what}; drop it or use engine='tensor'")

        if self.batch_size not in (None, 1):
            raise unsupported(f"batch_size={self.batch_size!r} (it trains one example at a "
                              "time)")
        if self.optimizer != "sgd":
            raise unsupported(f"optimizer={self.optimizer!r} (plain SGD only)")
        if self.activation != "sigmoid":
            raise unsupported(f"activation={self.activation!r} (sigmoid only)")
        if self.init != "normal":
            raise unsupported(f"init={self.init!r} (normal only)")
        if self.dtype not in (None, "float64"):
            raise unsupported(f"dtype={self.dtype!r} (Python floats are float64)")
        if self.device != "cpu":
            raise unsupported(f"device={self.device!r}")
        if self.weight_decay:
            raise unsupported(f"weight decay (weight_decay={self.weight_decay!r})")
        if self.clip_norm is not None:
            raise unsupported(f"gradient clipping (clip_norm={self.clip_norm!r})")
        if self.lr_schedule != "constant":
            raise unsupported(f"a learning-rate schedule (lr_schedule={self.lr_schedule!r})")
        if self.early_stopping:
            raise unsupported("early stopping (early_stopping=True)")


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
# small checks with uniform messages (each names the setting as Python does)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise BackproplabError(f"unknown {name} {value!r}; choose {choose_from(name, choices)}")


def _check_hidden(hidden: Any) -> None:
    if not isinstance(hidden, tuple) or not hidden:
        raise BackproplabError(f"hidden must list at least one layer width, like 300 or "
                               f"512,256; got {hidden!r}", settings=("hidden",))
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise BackproplabError(
                f"hidden layer widths must be positive integers, like 512,256; "
                f"got {','.join(map(str, hidden))}", settings=("hidden",))


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise BackproplabError(f"{name} must be true or false, got {value!r}", settings=(name,))


def _optional_str(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise BackproplabError(f"{name} must be a path string, got {value!r}", settings=(name,))


def _int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}",
                               settings=(name,))


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _positive(name: str, value: Any, hint: str = "") -> None:
    if not _number(value) or value <= 0:
        raise BackproplabError(
            f"{name} must be a positive number, got {value!r}" + (f"; {hint}" if hint else ""),
            settings=(name,))


def _fraction(name: str, value: Any) -> None:
    if not _number(value) or not 0 <= value < 1:
        raise BackproplabError(f"{name} must be a number in [0, 1), got {value!r}",
                               settings=(name,))


__all__ = ["ACTIVATIONS", "DATASET_DEFAULTS", "DEVICES", "DTYPES", "ENGINES", "ENGINE_DEFAULTS",
           "FULL_BATCH", "INITS", "MONITORS", "OPTIMIZERS", "SCHEDULES", "TrainConfig",
           "engine_defaults", "option", "parse_batch_size", "parse_hidden", "usable_cpus"]
