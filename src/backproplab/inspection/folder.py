"""What every inspection figure reads: the run folder, where its figure goes and its
``inspect.npz`` snapshots (the run's dataset: :func:`backproplab.predict.run_dataset`)."""

from __future__ import annotations

from pathlib import Path

from backproplab.errors import BackproplabError
from backproplab.runs import INSPECT, RunFolder


def run_folder(run_dir) -> RunFolder:
    """``run_dir`` as a :class:`RunFolder` (itself if it is one).

    Parameters
    ----------
    run_dir : path-like or RunFolder

    Returns
    -------
    RunFolder
    """
    return run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)


def figure_path(run: RunFolder, path, name: str) -> Path:
    """Where a figure goes: ``path`` when given, else the run folder's file ``name``.

    Parameters
    ----------
    run : RunFolder
    path : path-like or None
    name : str
        The figure's file name in a run folder (from :mod:`backproplab.runs`).

    Returns
    -------
    pathlib.Path
    """
    return Path(path) if path is not None else run.file(name)


def need_snapshots(run: RunFolder, what: str) -> dict:
    """The run's ``inspect.npz`` snapshots, which drawing ``what`` needs.

    Parameters
    ----------
    run : RunFolder
    what : str
        The figure, for the error message (``"the activation histograms"``).

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    BackproplabError
        When the run was trained without ``inspect=True``.
    """
    snaps = run.arrays(INSPECT)
    if snaps is None:
        raise BackproplabError(f"{run.path} has no {INSPECT}; train the run with inspect=True "
                               f"to draw {what}", settings=("inspect",))
    return snaps


__all__ = ["figure_path", "need_snapshots", "run_folder"]
