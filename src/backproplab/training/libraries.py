"""The libraries a training run computes with: which are recorded, and which must be here.

Two options of :class:`~backproplab.training.config.TrainConfig` pick a library
for the same maths, with results that differ at float rounding
(:data:`LIBRARY_OPTIONS`): ``gemm`` (the matrix products,
:mod:`backproplab.tensor.blas`) and ``kernels`` (the plain-SGD step's
elementwise work, :mod:`backproplab.tensor.kernels`). A run that sets none gets
the machine's (``TrainConfig.resolved``); the run records it, and a resume, a
replay and a sweep's finished trial keep what was recorded.
"""

from __future__ import annotations

from backproplab.tensor import kernels
from backproplab.tensor.blas import present, require
from backproplab.tensor.train import fusable
from backproplab.training.config import TrainConfig

#: The options that pick a library for the computing (the same maths, results that
#: differ at float rounding): each is recorded, kept by a resume and a replay, and
#: filled in from the machine where a run sets none.
LIBRARY_OPTIONS = ("gemm", "kernels")


def require_libraries(cfg: TrainConfig) -> None:
    """Raise the one sentence naming the fix when a library ``cfg`` names is missing here.

    Parameters
    ----------
    cfg : TrainConfig
        Its ``gemm`` and ``kernels`` (``None``: the machine's, always present).

    Raises
    ------
    BackproplabError
        For a ``gemm`` or ``kernels`` that cannot be used on this machine.
    """
    if cfg.gemm is not None:
        require(cfg.gemm)
    if cfg.kernels is not None:
        kernels.require(cfg.kernels)


def as_recorded(saved: TrainConfig) -> TrainConfig:
    """A recorded run's config with the libraries it computed with (:data:`LIBRARY_OPTIONS`).

    Parameters
    ----------
    saved : TrainConfig
        A run folder's config.

    Returns
    -------
    TrainConfig
        ``saved``, where a tensor run on the CPU was recorded before an option
        existed, with what such runs used: ``gemm`` ``openblas`` where it is
        found, else ``numpy``; ``kernels`` ``numpy``.
    """
    if saved.engine != "tensor" or saved.device != "cpu":
        return saved
    return saved.replace(
        gemm=saved.gemm or ("openblas" if present("openblas") else "numpy"),
        kernels=saved.kernels or "numpy")


def with_overrides(base: TrainConfig, overrides: dict) -> TrainConfig:
    """``base`` (a config file's options) with ``overrides`` (the flags beside it) on top.

    The file's ``kernels`` are kept, as a replay keeps them, unless they are the
    compiled plain-SGD loops and the overrides change the step to one they do not
    compute (another optimizer, weight decay, clipping): the run then takes the
    machine's, as a run that sets none does, instead of being refused over an
    option that the user never gave.

    Parameters
    ----------
    base : TrainConfig
        The options of ``--config FILE``.
    overrides : dict
        The options given beside it, by name.

    Returns
    -------
    TrainConfig
        Not yet resolved.

    Example
    -------
    >>> sgd = TrainConfig(dataset="synth", kernels="numba")
    >>> with_overrides(sgd, {"optimizer": "adam"}).kernels is None
    True
    """
    config = base.replace(**overrides)
    if ("kernels" not in overrides and config.kernels == "numba"
            and fusable(base.optimizer, base.weight_decay, base.clip_norm)
            and not fusable(config.optimizer, config.weight_decay, config.clip_norm)):
        return config.replace(kernels=None)
    return config


__all__ = ["LIBRARY_OPTIONS", "as_recorded", "require_libraries", "with_overrides"]
