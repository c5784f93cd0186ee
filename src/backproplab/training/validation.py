"""The checks of a training config's values, and values written as text.

:func:`validate_config` is :meth:`backproplab.training.TrainConfig.validate`: it
checks every option, in the sections of the declarations
(``training/config.py``), and raises :class:`~backproplab.errors.BackproplabError`
with one sentence naming the first bad setting as Python does (``lr``). The
options that name a registry entry are checked against their declared choices;
what the scalar engine cannot do is refused here too. :func:`parse_hidden` and
:func:`parse_batch_size` read the values that are written other than as a
number or a word (the command line, sweeps).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from backproplab.data.files import check_file_options, is_file_dataset
from backproplab.errors import BackproplabError, choose_from
from backproplab.tensor.optim import OPTIMIZERS, Momentum
from backproplab.tensor.train import fusable
from backproplab.training.divergence import check_divergence_options
from backproplab.training.early_stopping import check_early_stopping_options
from backproplab.training.schedules import check_schedule_options
from backproplab.training.threads import MAX_THREADS

#: ``batch_size`` may be this word instead of a number: the whole training set.
FULL_BATCH = "full"


# ---------------------------------------------------------------------------
# values written as text (the command line, sweeps)


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer widths written as text: ``"512,256"`` -> ``(512, 256)``.

    Parameters
    ----------
    text : str
        Positive integers separated by commas.

    Returns
    -------
    tuple of int

    Raises
    ------
    BackproplabError
        If a part is not an integer >= 1, or there is none.

    Examples
    --------
    >>> parse_hidden("512, 256")
    (512, 256)
    """
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
    """A batch size written as text: ``"16"`` -> 16, ``"full"`` -> ``"full"``.

    Parameters
    ----------
    text : str
        An integer >= 1 or ``full`` (any case, surrounding blanks ignored).

    Returns
    -------
    int or str
        The size, or ``"full"`` (:data:`FULL_BATCH`).

    Raises
    ------
    BackproplabError
        For anything else.

    Examples
    --------
    >>> parse_batch_size("16"), parse_batch_size(" Full ")
    (16, 'full')
    """
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


def validate_config(cfg) -> None:
    """Check every option of the config ``cfg``; raise :class:`BackproplabError`
    naming the bad one (:meth:`~backproplab.training.TrainConfig.validate`).

    Parameters
    ----------
    cfg : TrainConfig

    Raises
    ------
    BackproplabError
        For the first bad value, naming the setting by its Python name.
    """
    for f in dataclasses.fields(cfg):  # the options that take a name from a registry
        value = getattr(cfg, f.name)
        if f.metadata["choices"] and not (value is None and f.default is None) and not (
                f.name == "dataset" and isinstance(value, str) and is_file_dataset(value)):
            _choice(f.name, value, f.metadata["choices"])
    # data (a dataset PATH and its options: backproplab.data.files)
    _optional_str("data_dir", cfg.data_dir)
    check_file_options(cfg.dataset, target=cfg.target, val_fraction=cfg.val_fraction,
                       test_data=cfg.test_data)
    _bool("final", cfg.final)
    _bool("inspect", cfg.inspect)
    _bool("tensorboard", cfg.tensorboard)
    _int("val_size", cfg.val_size, minimum=1)
    if cfg.limit is not None:
        _int("limit", cfg.limit, minimum=1)
    _int("data_seed", cfg.data_seed, minimum=0)
    # model
    if cfg.hidden is not None:
        _check_hidden(cfg.hidden)
    if cfg.init_std is not None:
        _positive("init_std", cfg.init_std)
        if cfg.init != "normal":
            raise BackproplabError(
                f"init_std applies only to init='normal', not {cfg.init!r}; "
                "drop init_std", settings=("init_std",))
    # optimizer
    if cfg.lr is not None:
        _positive("lr", cfg.lr, hint="try lr=0.01")
    # 0 is no momentum: the momentum optimizers refuse it (plain SGD is optimizer='sgd')
    _fraction("momentum", cfg.momentum, low_open=OPTIMIZERS.get(cfg.optimizer) is Momentum,
              hint="; for plain SGD use optimizer='sgd'")
    _fraction("beta1", cfg.beta1)
    _fraction("beta2", cfg.beta2)
    _positive("eps", cfg.eps)
    if not _number(cfg.weight_decay) or cfg.weight_decay < 0:
        raise BackproplabError(f"weight_decay must be a number >= 0, got "
                               f"{cfg.weight_decay!r}", settings=("weight_decay",))
    if cfg.clip_norm is not None:
        _positive("clip_norm", cfg.clip_norm)
    check_schedule_options(cfg.lr_schedule, lr_step_size=cfg.lr_step_size,
                           lr_gamma=cfg.lr_gamma, lr_min=cfg.lr_min,
                           lr_power=cfg.lr_power, lr_patience=cfg.lr_patience,
                           lr_tol=cfg.lr_tol, lr=cfg.lr)
    # loop
    bs = cfg.batch_size
    if bs is not None and bs != FULL_BATCH and (
            isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
        raise BackproplabError(f"batch_size must be a positive integer or 'full', got "
                               f"{bs!r}", settings=("batch_size",))
    _int("epochs", cfg.epochs, minimum=1)
    _int("seed", cfg.seed, minimum=0)
    _validate_early_stopping(cfg)
    check_divergence_options(divergence_factor=cfg.divergence_factor,
                             divergence_patience=cfg.divergence_patience)
    # machine
    if cfg.threads is not None:
        _int("threads", cfg.threads, minimum=1, maximum=MAX_THREADS)
    if cfg.gemm is not None and cfg.device != "cpu":
        raise BackproplabError(f"gemm applies only to device='cpu' (CuPy computes the "
                               f"products on the GPU); drop gemm={cfg.gemm!r}",
                               settings=("gemm",))
    _validate_kernels(cfg)
    # what the scalar engine can do: the study's per-example SGD, sigmoid, normal init
    if cfg.engine == "scalar":
        _validate_scalar(cfg)
    return cfg


def _validate_kernels(cfg) -> None:
    """The compiled kernels do only the plain-SGD step on the CPU: refuse them elsewhere."""
    if cfg.kernels is None or cfg.kernels == "numpy":
        return
    if cfg.device != "cpu":
        raise BackproplabError(f"kernels={cfg.kernels!r} applies only to device='cpu' (CuPy "
                               "computes on the GPU); use kernels='numpy'", settings=("kernels",))
    if not fusable(cfg.optimizer, cfg.weight_decay, cfg.clip_norm):
        raise BackproplabError(
            f"kernels={cfg.kernels!r} computes only the plain-SGD step (optimizer='sgd', "
            "weight_decay=0 and no gradient clipping); use kernels='numpy' or train with "
            "plain SGD",
            settings=("kernels",))


def _validate_early_stopping(cfg) -> None:
    _bool("early_stopping", cfg.early_stopping)
    _bool("restore_best", cfg.restore_best)
    check_early_stopping_options(patience=cfg.patience, min_delta=cfg.min_delta,
                                 monitor=cfg.monitor)
    if cfg.early_stopping and cfg.final:
        raise BackproplabError(
            "early stopping monitors the validation split, but final=True evaluates on the "
            "test set (choosing the epoch on it would leak the test set); drop final=True "
            "or early_stopping=True")
    if cfg.restore_best and not cfg.early_stopping:
        raise BackproplabError(
            "restore_best keeps the best weights of early stopping; add "
            "early_stopping=True or drop restore_best", settings=("restore_best",))

def _validate_scalar(cfg) -> None:
    def unsupported(what: str) -> BackproplabError:
        return BackproplabError(
            f"the scalar engine does not support {what}; drop it or use engine='tensor'")

    if cfg.batch_size not in (None, 1):
        raise unsupported(f"batch_size={cfg.batch_size!r} (it trains one example at a "
                          "time)")
    if cfg.optimizer != "sgd":
        raise unsupported(f"optimizer={cfg.optimizer!r} (plain SGD only)")
    if cfg.activation != "sigmoid":
        raise unsupported(f"activation={cfg.activation!r} (sigmoid only)")
    if cfg.init != "normal":
        raise unsupported(f"init={cfg.init!r} (normal only)")
    if cfg.dtype not in (None, "float64"):
        raise unsupported(f"dtype={cfg.dtype!r} (Python floats are float64)")
    if cfg.device != "cpu":
        raise unsupported(f"device={cfg.device!r}")
    if cfg.gemm is not None:
        raise unsupported(f"gemm={cfg.gemm!r} (it computes no matrix product)")
    if cfg.kernels is not None:
        raise unsupported(f"kernels={cfg.kernels!r} (it computes no array)")
    if cfg.weight_decay:
        raise unsupported(f"weight decay (weight_decay={cfg.weight_decay!r})")
    if cfg.clip_norm is not None:
        raise unsupported(f"gradient clipping (clip_norm={cfg.clip_norm!r})")


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


def _int(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BackproplabError(f"{name} must be an integer >= {minimum}, got {value!r}",
                               settings=(name,))
    if maximum is not None and value > maximum:
        raise BackproplabError(f"{name} must be at most {maximum}, got {value}; give the "
                               "cores you have (or leave it out to use what is free)",
                               settings=(name,))


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _positive(name: str, value: Any, hint: str = "") -> None:
    if not _number(value) or value <= 0:
        raise BackproplabError(
            f"{name} must be a positive number, got {value!r}" + (f"; {hint}" if hint else ""),
            settings=(name,))


def _fraction(name: str, value: Any, low_open: bool = False, hint: str = "") -> None:
    """Refuse a ``value`` outside [0, 1) (outside (0, 1) with ``low_open``: then ``hint``
    follows a refused 0)."""
    if not _number(value) or not (0 < value < 1 if low_open else 0 <= value < 1):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise BackproplabError(f"{name} must be a number in {interval}, got {value!r}"
                               f"{hint if low_open and value == 0 else ''}", settings=(name,))


__all__ = ["FULL_BATCH", "parse_batch_size", "parse_hidden", "validate_config"]
