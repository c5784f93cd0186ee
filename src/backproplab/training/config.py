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

    divergence_patience: int = option(3, "checks in a row above the limit", group="stopping")

with ``group=`` its job (:data:`GROUPS`; a ``"data"`` option joins the key under
which Ray trials share a dataset by itself), ``resumable=True`` when a resumed run
may change it, ``choices=`` a registry tuple (validated and listed in ``--help``),
``applies=("optimizer", ("adam",))`` when only some runs read it, ``none=``
what a ``None`` default means, and ``metavar=`` / ``parse=`` for values
written other than as a number or a word. Then add the checks of its value to
:func:`~backproplab.training.validation.validate_config` (in the section it
belongs to) and use it where it acts. ``to_dict``/``from_dict``, ``config.json``, ``train --config`` and the
flags pick it up by themselves; older ``config.json`` files without the field
load with its default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backproplab import scalar
from backproplab.data import DATASETS as _DATASETS
from backproplab.data import DEFAULT_NORMALIZE as _DEFAULT_NORMALIZE
from backproplab.data.catalog import CATALOG as _CATALOG
from backproplab.data.files import DEFAULT_VAL_FRACTION as _VAL_FRACTION
from backproplab.data.files import is_file_dataset
from backproplab.data.normalize import MODES as _NORMALIZE_MODES
from backproplab.errors import BackproplabError, choose_from
from backproplab.fileio import load_json
from backproplab.tensor import ACTIVATIONS as _ACTIVATIONS
from backproplab.tensor import DEVICES as _DEVICES
from backproplab.tensor import DTYPES as _DTYPES
from backproplab.tensor import INITIALIZERS as _INITIALIZERS
from backproplab.tensor import OPTIMIZERS as _OPTIMIZERS
from backproplab.tensor import kernels as _kernels
from backproplab.tensor.blas import GEMMS, default_gemm
from backproplab.tensor.train import fusable
from backproplab.training.divergence import DEFAULT_FACTOR as _DIVERGENCE_FACTOR
from backproplab.training.divergence import DEFAULT_PATIENCE as _DIVERGENCE_PATIENCE
from backproplab.training.early_stopping import MONITORS as _MONITORS
from backproplab.training.schedules import DEFAULT_GAMMA as _DEFAULT_GAMMA
from backproplab.training.schedules import PLATEAU_DIVISOR as _PLATEAU_DIVISOR
from backproplab.training.schedules import SCHEDULES as _SCHEDULES
from backproplab.training.threads import (
    choose_threads,
    machine_facts,
    network_step_work,
    usable_cpus,
)
from backproplab.training.validation import (
    FULL_BATCH,
    parse_batch_size,
    parse_hidden,
    validate_config,
)

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

#: Defaults that depend on the engine, used where the config says ``None``; its keys
#: are the engines' names (:data:`ENGINE_NAMES`; the engines themselves are
#: :data:`backproplab.training.engines.ENGINES`).
ENGINE_DEFAULTS: dict[str, dict[str, Any]] = {
    # the study's MNIST network (Q5): one hidden layer of 300 sigmoid units
    "tensor": {"hidden": (300,), "lr": 0.1, "batch_size": 16, "dtype": "float32"},
    # the study's synthetic run (Q4): hidden and lr from backproplab.scalar's constants
    "scalar": {"hidden": None, "lr": None, "batch_size": 1, "dtype": "float64"},
}
#: The names of the training engines (the ``engine`` option's choices).
ENGINE_NAMES = tuple(ENGINE_DEFAULTS)

#: Defaults that depend on the dataset, used where the config says ``None`` and
#: the engine has no default of its own. ``normalize``: the data layer's own
#: default (:data:`backproplab.data.DEFAULT_NORMALIZE`). ``init_std`` (the "normal" initializer): the
#: study's synthetic run draws standard normal weights (as the scalar engine
#: does; with 2 inputs, N(0, 0.1^2) weights leave a sigmoid net on a plateau for
#: epochs), while for 784-pixel images N(0, 0.1^2) keeps the hidden units out of
#: saturation. A dataset PATH (``FILE_DEFAULTS``) takes the images' N(0, 0.1^2); its
#: normalization is left to the data layer, which picks it by the file's kind.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {"normalize": _DEFAULT_NORMALIZE[name], "init_std": 1.0 if name == "synth" else 0.1}
    for name in _DEFAULT_NORMALIZE
}
FILE_DEFAULTS: dict[str, Any] = {"init_std": 0.1}


def _scalar_defaults() -> dict[str, Any]:
    return {"hidden": (int(scalar.DEFAULT_HIDDEN),), "lr": float(scalar.DEFAULT_LR)}


def engine_defaults(engine: str) -> dict[str, Any]:
    """The defaults of ``engine`` for the options left at ``None``.

    Parameters
    ----------
    engine : str
        ``"tensor"`` or ``"scalar"`` (:data:`ENGINE_NAMES`).

    Returns
    -------
    dict
        ``hidden``, ``lr``, ``batch_size`` and ``dtype`` for that engine (a new
        dict; the scalar engine's ``hidden`` and ``lr`` come from
        :mod:`backproplab.scalar`'s constants).

    Raises
    ------
    BackproplabError
        If ``engine`` is not an engine's name.

    Examples
    --------
    >>> engine_defaults("tensor")
    {'hidden': (300,), 'lr': 0.1, 'batch_size': 16, 'dtype': 'float32'}
    """
    if engine not in ENGINE_NAMES:
        raise BackproplabError(
            f"unknown engine {engine!r}; choose {choose_from('engine', ENGINE_NAMES)}")
    out = dict(ENGINE_DEFAULTS[engine])
    if engine == "scalar":
        out.update(_scalar_defaults())
    return out


#: The groups of options (:func:`option`'s ``group``), in the order of the fields:
#: ``data`` decides the dataset (trials that agree on every data option share one
#: loaded dataset), ``model`` the network, ``optimizer`` the update rule and its
#: arguments (``optimizer`` and ``lr`` are :func:`~backproplab.tensor.make_optimizer`'s
#: own, every other one a keyword of it), ``schedule`` the learning rate between
#: epochs, ``loop`` the batches, epochs and seed, ``stopping`` when training ends,
#: ``output`` what a run writes besides its results, ``machine`` where and how it
#: computes.
GROUPS = ("data", "model", "optimizer", "schedule", "loop", "stopping", "output", "machine")


def option(default: Any, help: str, *, group: str, resumable: bool = False,
           choices: tuple[str, ...] | None = None,
           applies: tuple[str, tuple] | None = None, none: str | None = None,
           metavar: str | None = None, parse=None) -> Any:
    """Declare a :class:`TrainConfig` field: its default, its group and its documentation.

    Parameters
    ----------
    default : object
        The default value (immutable).
    help : str
        One phrase saying what the option does.
    group : str
        One of :data:`GROUPS`; the lists of options by job (the data that
        decide a dataset, the optimizer's arguments, the machine options) are
        derived from it (:mod:`backproplab.training.options`).
    resumable : bool, default=False
        Whether a resumed run may change it (it changes no result of a run
        that finishes: ``epochs``, ``threads``, ...).
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

    Raises
    ------
    ValueError
        For a group not in :data:`GROUPS` (a programming error, at import).
    """
    if group not in GROUPS:
        raise ValueError(f"unknown option group {group!r}; choose one of {', '.join(GROUPS)}")
    meta = {"help": help, "group": group, "resumable": resumable, "choices": choices,
            "applies": applies, "none": none, "metavar": metavar, "parse": parse}
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
        ``final``, ``val_size``, ``limit``, ``normalize``, ``data_seed``,
        ``target``, ``val_fraction``, ``test_data``); model
        (``engine``, ``hidden``, ``activation``, ``init``, ``init_std``,
        ``dtype``); optimizer (``optimizer``, ``lr``, ``momentum``, ``beta1``,
        ``beta2``, ``eps``, ``weight_decay``, ``clip_norm``); learning-rate
        schedule (``lr_schedule``, ``lr_*``); loop (``batch_size``, ``epochs``,
        ``seed``); early stopping (``early_stopping``, ``patience``,
        ``min_delta``, ``monitor``, ``restore_best``); divergence guard
        (``divergence_factor``, ``divergence_patience``); machine (``threads``,
        ``device``, ``gemm``, ``kernels``). A ``None`` default means "the engine's default" (see the
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
    dataset: str = option("synth", "the data to train on: a built-in name, or the PATH of a "
                                   ".csv/.tsv file, an .npz file or a folder of class "
                                   "subfolders of images (docs/datasets.md)", choices=_DATASETS,
                          metavar="NAME|PATH", group="data")
    data_dir: str | None = option(None, "folder holding the dataset's IDX files",
                                  applies=("dataset", _IMAGES), metavar="DIR",
                                  none="search the usual folders", group="data", resumable=True)
    final: bool = option(False, "train on all training data and evaluate on the test set",
                         group="data")
    val_size: int = option(5000, "training images held out for validation",
                           applies=("dataset", _IMAGES), group="data")
    limit: int | None = option(None, "keep only the first N training examples", none="all",
                               group="data")
    normalize: str | None = option(None, "input scaling (statistics of the training split)",
                                   choices=_NORMALIZE_MODES, group="data")
    data_seed: int = option(0, "seed of the synthetic points (0: the study's)",
                            applies=("dataset", ("synth",)), group="data")
    target: str | None = option(None, "a CSV/TSV dataset's label column", metavar="NAME",
                                none="the last column", group="data")
    val_fraction: float = option(_VAL_FRACTION, "share of every class of a dataset PATH held "
                                                "out for validation (stratified, fixed seed)",
                                 group="data")
    test_data: str | None = option(None, "the held-out test set of a dataset PATH (a file or "
                                         "folder of the same form)",
                                   applies=("final", (True,)), metavar="PATH",
                                   none="an .npz dataset's own X_test and y_test", group="data")
    # -- model --------------------------------------------------------------
    engine: str = option("tensor", "which engine trains (scalar: pure Python, per-example SGD)",
                         choices=ENGINE_NAMES, group="model")
    hidden: tuple[int, ...] | None = option(None, "hidden layer widths, e.g. 300 or 512,256",
                                            metavar="SIZES", parse=parse_hidden, group="model")
    activation: str = option("sigmoid", "hidden-layer activation", choices=ACTIVATIONS,
                             group="model")
    init: str = option("normal", "weight initializer (biases start at zero)", choices=INITS,
                       group="model")
    init_std: float | None = option(None, "standard deviation of the normal initializer",
                                    applies=("init", ("normal",)), metavar="STD", group="model")
    # the data's arrays come in this type too: a data option (two dtypes, two datasets)
    dtype: str | None = option(None, "floating-point type", choices=DTYPES, group="data")
    # -- optimizer ------------------------------------------------------------
    optimizer: str = option("sgd", "the update rule", choices=OPTIMIZERS, group="optimizer")
    lr: float | None = option(None, "learning rate", group="optimizer")
    momentum: float = option(0.9, "momentum factor",
                             applies=("optimizer", ("momentum", "nesterov")),
                             group="optimizer")
    beta1: float = option(0.9, "Adam's decay of the mean gradient",
                          applies=("optimizer", ("adam",)),
                          group="optimizer")
    beta2: float = option(0.999, "Adam's decay of the squared gradient",
                          applies=("optimizer", ("adam",)), group="optimizer")
    eps: float = option(1e-8, "Adam's term added to the denominator",
                        applies=("optimizer", ("adam",)), group="optimizer")
    weight_decay: float = option(0.0, "L2 decay X of the weights, not the biases: adds "
                                      "(X/2)*||W||^2 to the loss", group="optimizer")
    clip_norm: float | None = option(None, "clip the gradients to this global L2 norm before "
                                           "each update", none="off", group="optimizer")
    # -- learning-rate schedule (training/schedules.py) ----------------------
    lr_schedule: str = option("constant", "how the rate changes between epochs "
                                          "(docs/training.md)", choices=SCHEDULES, group="schedule")
    lr_step_size: int = option(10, "epochs between two drops", applies=("lr_schedule", ("step",)),
                               group="schedule")
    lr_gamma: float | None = option(
        None, "factor in (0, 1] the rate is multiplied by",
        applies=("lr_schedule", tuple(_DEFAULT_GAMMA)),
        none=", ".join(f"{k} {v:g}" for k, v in _DEFAULT_GAMMA.items()), group="schedule")
    lr_min: float = option(0.0, "the rate cosine anneals towards",
                           applies=("lr_schedule", ("cosine",)),
                           group="schedule")
    lr_power: float = option(0.5, "exponent X of lr / (t + 1)^X, t = examples seen "
                                  "(scikit-learn's power_t)",
                             applies=("lr_schedule", ("invscaling",)), group="schedule")
    lr_patience: int = option(10, f"epochs without a lower training loss; more divide the rate "
                                  f"by {_PLATEAU_DIVISOR:g} (scikit-learn's n_iter_no_change)",
                              applies=("lr_schedule", ("plateau",)), group="schedule")
    lr_tol: float = option(1e-4, "decrease of the training loss that counts as lower "
                                 "(scikit-learn's tol)", applies=("lr_schedule", ("plateau",)),
        group="schedule")
    # -- loop ---------------------------------------------------------------
    batch_size: int | str | None = option(None, "examples per step, or 'full'",
                                          metavar="N|full", parse=parse_batch_size, group="loop")
    epochs: int = option(5, "passes over the training set", group="loop", resumable=True)
    seed: int = option(0, "seed of the initial weights and batch order", group="loop")
    # -- early stopping (training/early_stopping.py; off by default) ---------
    early_stopping: bool = option(False, "stop when the validation metric stops improving",
                                  group="stopping")
    patience: int = option(5, "epochs without improvement before stopping", applies=_EARLY,
                           group="stopping")
    min_delta: float = option(0.0, "smallest change that counts as improvement", applies=_EARLY,
                              group="stopping")
    monitor: str = option("eval_loss", "the validation metric watched", choices=MONITORS,
                          applies=_EARLY, group="stopping")
    restore_best: bool = option(False, "end with the weights of the best epoch", applies=_EARLY,
                                group="stopping")
    # -- divergence guard (training/divergence.py; on by default) ------------
    divergence_factor: float | None = option(
        _DIVERGENCE_FACTOR, "stop when the training loss stays above this x max(initial loss, "
        "ln classes); 0 turns the guard off", none="off", group="stopping", resumable=True)
    divergence_patience: int = option(
        _DIVERGENCE_PATIENCE, "checks in a row above that limit before the run stops",
        group="stopping", resumable=True)
    # -- inspection (training/snapshots.py; off by default) -----------------
    inspect: bool = option(False, "store snapshots for the inspection figures (first-layer "
                                  "weights, hidden activations, synth's boundary) in "
                                  "inspect.npz at init and after every epoch", group="output")
    # -- output (training/board.py; off by default; changes no result) --------
    tensorboard: bool = option(False, "write TensorBoard event files (per-step loss, every "
                                      "epoch's metrics, the config; first-layer weight "
                                      "histograms with inspect) into the run's tensorboard/ "
                                      "folder as it trains; needs the tensorboard extra",
                               group="output", resumable=True)
    # -- machine --------------------------------------------------------------
    threads: int | None = option(None, "BLAS threads",
                                 none="the free cores at the start; 1 for small steps",
                                 group="machine", resumable=True)
    device: str = option("cpu", "where the tensor engine computes (gpu needs CuPy)",
                         choices=DEVICES, group="machine")
    # not resumable: the libraries agree to float rounding, not bit for bit
    gemm: str | None = option(None, "the library of the matrix products on the CPU: mkl "
                                    "(Intel's oneMKL, the mkl extra), openblas (NumPy's) or "
                                    "numpy (NumPy's matmul only); results differ at float "
                                    "rounding", choices=GEMMS, applies=("engine", ("tensor",)),
                              none="mkl on an Intel CPU where the mkl extra is installed, "
                                   "else openblas", group="machine")
    # not resumable either: the softmax's exp and log differ at float rounding
    kernels: str | None = option(None, "the elementwise work of the plain-SGD step on the CPU: "
                                       "numba (compiled loops, the numba extra) or numpy; "
                                       "results differ at float rounding",
                                 choices=_kernels.KERNELS, applies=("engine", ("tensor",)),
                                 none="numba where the numba extra is installed and the "
                                      "step is plain SGD, else numpy", group="machine")

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
        defaults = dict(DATASET_DEFAULTS.get(self.dataset, FILE_DEFAULTS))
        defaults.update({k: v for k, v in engine_defaults(self.engine).items() if v is not None})
        if self.init != "normal":
            defaults.pop("init_std", None)
        for key, value in defaults.items():
            if getattr(self, key) is None and value is not None:
                changes[key] = value
        if self.lr_gamma is None and self.lr_schedule in _DEFAULT_GAMMA:
            changes["lr_gamma"] = _DEFAULT_GAMMA[self.lr_schedule]
        out = self.replace(**changes).with_absolute_paths()
        if out.threads is None:  # last: the rule needs the filled-in network and batch
            out = out.replace(threads=_default_threads(out))
        if out.engine == "tensor" and out.device == "cpu":
            # what is installed here (run_training refuses a recorded or forced one
            # that is missing, naming the fix)
            out = out.replace(gemm=out.gemm or default_gemm(),
                              kernels=out.kernels or _default_kernels(out))
        out.validate()
        return out

    def with_absolute_paths(self) -> TrainConfig:
        """A copy whose user's data files (``dataset``, ``test_data``) and image
        folder (``data_dir``) are absolute paths.

        What a run folder records, so that any folder can replay it and
        ``evaluate`` finds the files the run read; a sweep lists its trials'
        files the same way.

        Returns
        -------
        TrainConfig
            ``self`` when ``dataset`` is a built-in name and no ``data_dir`` is set.

        Example
        -------
        >>> TrainConfig(dataset="~/iris.csv").with_absolute_paths().dataset.startswith("~")
        False
        """
        if not is_file_dataset(self.dataset):
            return self if self.data_dir is None else \
                self.replace(data_dir=_absolute(self.data_dir))
        test_data = None if self.test_data is None else _absolute(self.test_data)
        return self.replace(dataset=_absolute(self.dataset), test_data=test_data)

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
        """Check every option; raise :class:`BackproplabError` naming the bad one
        (:func:`backproplab.training.validation.validate_config`).

        Returns ``self`` so that ``TrainConfig(...).validate()`` chains.
        """
        validate_config(self)
        return self


def config_step_work(cfg: TrainConfig) -> int | None:
    """Multiply-adds of one training step of ``cfg``.

    Parameters
    ----------
    cfg : TrainConfig
        Unset network and batch size take the engine's defaults.

    Returns
    -------
    int or None
        :func:`~backproplab.training.threads.network_step_work`; ``None`` for the
        scalar engine (it uses no BLAS).
    """
    if cfg.engine == "scalar":
        return None
    defaults = engine_defaults(cfg.engine)
    return network_step_work(cfg.dataset, cfg.hidden or defaults["hidden"],
                             cfg.batch_size or defaults["batch_size"], cfg.limit)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _default_kernels(cfg: TrainConfig) -> str:
    """The ``kernels`` of a tensor run on the CPU that sets none."""
    plain = fusable(cfg.optimizer, cfg.weight_decay, cfg.clip_norm)  # the fused step
    return _kernels.default_kernels() if plain else "numpy"


def _default_threads(cfg: TrainConfig) -> int:
    """The ``threads`` of a run that sets none.

    Parameters
    ----------
    cfg : TrainConfig

    Returns
    -------
    int
        What the machine can give now, and one thread for steps too small to
        share (:func:`backproplab.training.threads.choose_threads`); 1 for the
        scalar engine (no BLAS).
    """
    work = config_step_work(cfg)
    return 1 if work is None else choose_threads(machine_facts(), work)[0]


__all__ = [
    "ACTIVATIONS",
    "DATASET_DEFAULTS",
    "DEVICES",
    "DTYPES",
    "ENGINE_DEFAULTS",
    "ENGINE_NAMES",
    "FILE_DEFAULTS",
    "FULL_BATCH",
    "GEMMS",
    "GROUPS",
    "INITS",
    "MONITORS",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    
    "config_step_work",
    "engine_defaults",
    "option",
    "parse_batch_size",
    "parse_hidden",
    
    "usable_cpus",
]
