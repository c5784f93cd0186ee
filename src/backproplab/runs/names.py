"""The names of every file in a run folder and a sweep folder, and which are bookkeeping.

No other module writes one of these names as a literal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError

# --- a run folder -----------------------------------------------------------
CONFIG = "config.json"
METRICS = "metrics.jsonl"
BATCHES = "batches.jsonl"
CHECKPOINT = "checkpoint.npz"
MODEL = "model.npz"
SUMMARY = "summary.json"
PLOT = "loss.png"
BEST = "best.npz"
INSPECT = "inspect.npz"
# --- the inspection figures (backproplab.inspect; backproplab plot) ------------
EXAMPLES_FIGURE = "inspect_examples.png"
ERRORS_FIGURE = "inspect_errors.png"
WEIGHTS_FIGURE = "inspect_weights.png"
ACTIVATIONS_FIGURE = "inspect_activations.png"
CONFUSION_FIGURE = "inspect_confusion.png"
BOUNDARY_FIGURE = "inspect_boundary.png"
BOUNDARY_ANIMATION = "inspect_boundary.gif"
#: The inspection figures ``backproplab plot`` may write into a run folder.
INSPECT_FIGURES = (EXAMPLES_FIGURE, ERRORS_FIGURE, WEIGHTS_FIGURE, ACTIVATIONS_FIGURE,
                   CONFUSION_FIGURE, BOUNDARY_FIGURE, BOUNDARY_ANIMATION)
#: The files of a run (its training and its plots); ``overwrite=True`` removes exactly these.
RUN_FILES = (CONFIG, METRICS, BATCHES, CHECKPOINT, MODEL, SUMMARY, PLOT, BEST, INSPECT,
             *INSPECT_FIGURES)
#: The folder of a run's TensorBoard event files (``tensorboard=True``).
TENSORBOARD = "tensorboard"
#: The folders of a run; ``overwrite=True`` removes them with the files.
RUN_FOLDERS = (TENSORBOARD,)
# --- what a sweep adds to a trial's run folder --------------------------------
STATUS = "status.json"
ERROR = "error.txt"
#: Files the sweep itself writes into a trial folder.
TRIAL_RECORD_FILES = (STATUS, ERROR)
# --- a sweep folder -----------------------------------------------------------
SWEEP = "sweep.json"
RESULTS = "results.json"
RESULTS_CSV = "results.csv"
RESULTS_BATCHES_CSV = "results_batches.csv"
#: The sweep's figure (``backproplab plot SWEEP_DIR``).
SWEEP_FIGURE = "sweep.png"
#: Where ``backproplab compare`` writes its figure unless told (in the current folder).
COMPARE_FIGURE = "compare.png"
#: Files a sweep writes into the sweep folder besides the trial folders.
SWEEP_OUTPUT_FILES = (SWEEP, RESULTS, RESULTS_CSV, RESULTS_BATCHES_CSV, SWEEP_FIGURE)


#: The lock file of a folder being written (see :func:`backproplab.locks.lock_folder`); readers skip it.
LOCK = ".lock"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of an atomic write (see fileio).

    Parameters
    ----------
    name : str
        A file name, without its folder.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_temporary(".config.json.1a2b.tmp"), is_temporary("config.json")
    (True, False)
    """
    return name.startswith(".") and name.endswith(".tmp")


def is_bookkeeping(name: str) -> bool:
    """Whether ``name`` is the lock file or a temporary file: nothing a reader reads,
    nothing that makes a folder "hold" something.

    Parameters
    ----------
    name : str
        A file name, without its folder.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_bookkeeping(".lock"), is_bookkeeping("metrics.jsonl")
    (True, False)
    """
    return name == LOCK or is_temporary(name)


def inside(folder: str | os.PathLike, name: Any, source: str | os.PathLike) -> Path:
    """``folder / name`` for a ``name`` read from a file, refused unless it stays inside ``folder``.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder the name must stay in (a sweep folder, a reproduction's).
    name : object
        The name as read (a trial name in ``sweep.json``...): a relative path.
    source : str or os.PathLike
        The file it was read from, for the message.

    Returns
    -------
    pathlib.Path
        ``folder / name``.

    Raises
    ------
    BackproplabError
        When ``name`` is not a non-empty string, is absolute, has a ``..`` part,
        or resolves (through links) outside ``folder``.

    Examples
    --------
    >>> inside("runs/sweep", "lr=0.1_seed=0", "runs/sweep/sweep.json").as_posix()
    'runs/sweep/lr=0.1_seed=0'
    """
    root = Path(folder)
    rel = Path(name) if isinstance(name, str) and name.strip() and "\0" not in name else None
    path = root / rel if rel is not None else root
    bad = rel is None or rel.is_absolute() or ".." in rel.parts or path == root
    if not bad:
        target, base = path.resolve(), root.resolve()
        bad = target == base or base not in target.parents
    if bad:
        raise BackproplabError(
            f"{source} names {name!r}, which is not a path inside {root}; the file was edited "
            "or damaged: restore it, or run again into a new folder")
    return path


def check_out_folder(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path`, refused when it is empty, the root
    folder or the home folder (a run or sweep there would mix with everything else),
    or a loop of symbolic links.

    Parameters
    ----------
    path : str or os.PathLike
        The output folder a user gave (``~`` is expanded).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    BackproplabError
        Naming the folder and asking for a folder of its own (``out_dir``).
    """
    if not str(path).strip():
        raise BackproplabError("out_dir is empty; give a folder of its own for the results",
                               settings=("out_dir",))
    folder = Path(path).expanduser()
    try:
        resolved = folder.resolve()
    except (RuntimeError, OSError):  # a loop of symbolic links (RuntimeError before 3.13)
        raise BackproplabError(f"out_dir {str(path)!r} is a loop of symbolic links; remove the "
                               "links or give another folder", settings=("out_dir",)) from None
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise BackproplabError(
            f"out_dir {str(path)!r} is the {'root' if resolved == Path(resolved.anchor) else 'home'}"
            " folder; give a folder of its own for the results, e.g. runs/NAME",
            settings=("out_dir",))
    return folder


__all__ = ["ACTIVATIONS_FIGURE", "BATCHES", "BEST", "BOUNDARY_ANIMATION", "BOUNDARY_FIGURE",
           "CHECKPOINT", "COMPARE_FIGURE", "CONFIG", "CONFUSION_FIGURE", "ERROR",
           "ERRORS_FIGURE", "EXAMPLES_FIGURE", "INSPECT", "INSPECT_FIGURES", "LOCK", "METRICS",
           "MODEL", "PLOT", "RESULTS", "RESULTS_BATCHES_CSV", "RESULTS_CSV", "RUN_FILES",
           "RUN_FOLDERS", "STATUS", "SUMMARY", "SWEEP", "SWEEP_FIGURE", "SWEEP_OUTPUT_FILES",
           "TENSORBOARD", "TRIAL_RECORD_FILES", "WEIGHTS_FIGURE",
           "check_out_folder", "inside", "is_bookkeeping", "is_temporary"]
