"""Resuming a run from its folder: the config it goes on with and its checkpoint.

:func:`backproplab.training.run_training` with ``resume=True`` merges the asked
config with the folder's (:func:`merge_resume_config`), restores the engine,
the batch order and the divergence guard from ``checkpoint.npz``
(:func:`read_checkpoint`, which refuses a checkpoint that does not fit the
run), then the schedule's and early stopping's state (:func:`restore_controls`).
"""

from __future__ import annotations

from pathlib import Path

from backproplab.errors import BackproplabError
from backproplab.runs import BEST, CONFIG
from backproplab.training.config import TrainConfig
from backproplab.training.libraries import LIBRARY_OPTIONS, as_recorded
from backproplab.training.options import RESUMABLE_CHANGES


def _fixed_options_changed(before: dict, after: dict) -> list[str]:
    """The options (present in both) that differ, other than those a resume may change."""
    return sorted(k for k in after if k in before and before[k] != after[k]
                  and k not in RESUMABLE_CHANGES)


def merge_resume_config(saved: TrainConfig, config: TrainConfig | None) -> TrainConfig:
    """The config a resumed run goes on with: the saved one, or ``config`` where it
    changes only what a resume may change.

    Parameters
    ----------
    saved : TrainConfig
        The run folder's ``config.json``.
    config : TrainConfig or None
        What the resume asks for (``None``: the saved config).

    Returns
    -------
    TrainConfig
        Resolved; its ``gemm`` and ``kernels`` are the run's own where ``config`` sets none.

    Raises
    ------
    BackproplabError
        When ``config`` changes an option a resume may not change.
    """
    saved = as_recorded(saved)  # a resume computes with the libraries the run used
    if config is None:
        return saved
    wanted = config.replace(**{k: getattr(config, k) or getattr(saved, k)
                               for k in LIBRARY_OPTIONS}).resolved()
    a, b = saved.to_dict(), wanted.to_dict()
    differ = _fixed_options_changed(a, b)
    if differ:
        changes = ", ".join(f"{k} {a[k]!r} -> {b[k]!r}" for k in differ)
        raise BackproplabError(
            f"cannot resume with different options ({changes}); resume with the run's own "
            "options or start a new run with another out_dir", settings=("out_dir", *differ))
    return wanted


def restore_controls(out: Path, extra: dict, schedule, stopper, engine) -> None:
    """Put the schedule's and early stopping's state from a checkpoint back (resume).

    The best weights are the checkpoint's own when the best epoch is the
    checkpoint's epoch (``best.npz`` is written after the checkpoint, so a run
    stopped between the two has an older one); otherwise ``best.npz``, which
    must be of the best epoch.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    extra : dict
        The checkpoint's ``extra`` (:func:`read_checkpoint`).
    schedule, stopper : optional
        The run's schedule and early stopping (``None`` where it has none).
    engine
        The run's engine, already restored from the checkpoint.

    Raises
    ------
    BackproplabError
        When early stopping's best weights are missing.
    """
    if schedule is not None:
        schedule.load_state_dict(extra.get("schedule") or {})
    if stopper is not None:
        state = extra.get("early_stopping") or {}
        best, best_epoch = None, state.get("best_epoch")
        if stopper.restore_best and best_epoch == extra.get("epoch"):
            best = engine.arrays()
        elif stopper.restore_best and best_epoch is not None:
            saved = None
            if (out / BEST).is_file():
                best, best_extra = engine.read_weights(out / BEST)
                saved = best_extra.get("epoch")
            if saved != best_epoch:
                raise BackproplabError(
                    f"{out} has no {BEST} with the weights of the best epoch {best_epoch} to "
                    "resume early stopping from; start the run again with overwrite=True")
        stopper.load_state_dict(state, best)


def _check_steps(engine, extra: dict, epoch: int) -> None:
    """The checkpoint's step count (and its optimizer's) must be the steps that
    ``epoch`` epochs of this config take; a checkpoint without one (older) passes."""
    steps = extra.get("steps")
    if steps is None:
        return
    want = epoch * engine.batches_per_epoch()
    if isinstance(steps, bool) or not isinstance(steps, int) or steps != want:
        raise ValueError(f"its step count {steps!r} is not the {want} steps of {epoch} "
                         "epoch(s) of this config")
    optimizer = getattr(engine, "optimizer", None)  # the scalar engine's counts no steps
    if getattr(optimizer, "steps", want) != want:
        raise ValueError(f"its optimizer took {optimizer.steps} steps, not {want}")


def read_checkpoint(engine, path: Path, cfg: TrainConfig, shuffle_rng) -> dict:
    """Restore the engine from ``path`` and the shuffling generator's state.

    Parameters
    ----------
    engine
        The run's engine (:data:`~backproplab.training.engines.ENGINES`).
    path : pathlib.Path
        The checkpoint.
    cfg : TrainConfig
        The resumed run's config.
    shuffle_rng : numpy.random.Generator
        Gets the checkpoint's batch-order state.

    Returns
    -------
    dict
        The checkpoint's ``extra`` (epoch, steps, rng_state, config, controls).

    Raises
    ------
    BackproplabError
        When the checkpoint is corrupt, does not fit the run's config or lies
        beyond its ``epochs``.
    """
    try:
        extra = engine.restore(path)
        if not isinstance(extra, dict):
            raise TypeError("no run information in it")
        epoch = int(extra["epoch"])
        if epoch < 1:
            raise ValueError(f"epoch {epoch}")
        shuffle_rng.bit_generator.state = extra["rng_state"]
        _check_steps(engine, extra, epoch)
        engine.guard.load_state_dict(extra.get("divergence", {}))
    except BackproplabError as exc:
        raise BackproplabError(f"cannot resume: the checkpoint is corrupt or does not fit the "
                               f"run ({exc}); start the run again with overwrite=True") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails in many ways (zip, JSON, keys)
        raise BackproplabError(
            f"the checkpoint {path} is corrupt or incomplete ({type(exc).__name__}: {exc}); "
            "start again with overwrite=True") from None
    saved = extra.get("config")
    if isinstance(saved, dict):
        differ = _fixed_options_changed(saved, cfg.to_dict())
        if differ:
            raise BackproplabError(
                f"the checkpoint {path} was written with other options than {CONFIG} "
                f"({', '.join(differ)}); restore the run's {CONFIG} or start again with "
                "overwrite=True")
    if epoch > cfg.epochs:
        raise BackproplabError(
            f"the checkpoint is at epoch {epoch}, beyond the {cfg.epochs} epochs asked for; "
            f"resume with epochs={epoch} or more")
    return extra


__all__ = ["merge_resume_config", "read_checkpoint", "restore_controls"]
