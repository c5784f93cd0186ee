"""Checking a learner's own backpropagation against the scalar engine.

``backproplab check FILE.py`` runs a learner's ``backward(x, t, W, b, V, c)``
(and ``forward``, ``backward_batch`` where defined) on the probes
(:mod:`~backproplab.check.probes`), each file in its own limited process
(:mod:`~backproplab.check.runner`), compares every quantity with the scalar
engine's (:mod:`~backproplab.check.compare`), gives a verdict
(:mod:`~backproplab.check.verdict`) and names known mistakes
(:mod:`~backproplab.check.diagnoses`). The contract is in docs/check.md.

This package uses the scalar engine only; it knows nothing of runs or the study.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backproplab.check.diagnoses import DIAGNOSES, FIRST_DIFFERENCE, Finding
from backproplab.check.probes import Probe, make_probes
from backproplab.check.runner import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, RawRun, run_isolated
from backproplab.check.template import TEMPLATE
from backproplab.check.verdict import EXIT_STATUS, FileReport, judge
from backproplab.errors import BackproplabError


def _python_file(path: Path) -> Path:
    """``path``, or a :class:`BackproplabError` when it is not a ``.py`` file."""
    if path.suffix != ".py":
        raise BackproplabError(f"{path} is not a .py file; put your functions in a .py file "
                               "(from a notebook: jupyter nbconvert --to script) and check that")
    return path


def check_file(path: str | os.PathLike, *, timeout: float = DEFAULT_TIMEOUT,
               memory_mb: int = DEFAULT_MEMORY_MB, probes: list[Probe] | None = None,
               stop: threading.Event | None = None) -> tuple[FileReport, RawRun]:
    """Check one learner's file in its own process.

    Parameters
    ----------
    path : str or os.PathLike
        The learner's Python file.
    timeout : float, optional
        Wall-clock seconds the file's process may run.
    memory_mb : int, optional
        The process's memory (address space) limit in MiB; 0 for none.
    probes : list of Probe, optional
        Default: :func:`~backproplab.check.probes.make_probes`.
    stop : threading.Event, optional
        Set from another thread to kill the file's process at once (its report
        is then of no use).

    Returns
    -------
    (FileReport, RawRun)
        The verdict, and what the process returned (its values, for the graph).

    Raises
    ------
    BackproplabError
        ``path`` is not a ``.py`` file.

    Examples
    --------
    >>> report, _ = check_file("my_backprop.py")  # doctest: +SKIP
    >>> report.status  # doctest: +SKIP
    'correct'
    """
    _python_file(Path(path))
    probes = make_probes() if probes is None else probes
    raw = run_isolated(path, [p.payload() for p in probes], timeout, memory_mb, stop)
    return judge(str(path), raw, probes, timeout, memory_mb), raw


def collect_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files to check: each file given, and the ``*.py`` files directly in each folder
    (but for helpers whose names start with ``_``, such as ``__init__.py``).

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Files and folders.

    Returns
    -------
    list of Path
        In the order given, a folder's files sorted by name.

    Raises
    ------
    BackproplabError
        A path that does not exist, a file that is not a ``.py`` file, or a folder
        without ``.py`` files.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.py") if f.is_file() and not f.name.startswith("_"))
            if not found:
                raise BackproplabError(f"folder {p} holds no .py files; pass a folder of "
                                       "learners' files or the files themselves")
            files += found
        elif p.is_file():
            files.append(_python_file(p))
        else:
            raise BackproplabError(f"{p} does not exist; pass a learner's .py file or a folder "
                                   "of them")
    return files


def check_files(files: list[Path], *, workers: int = 1, timeout: float = DEFAULT_TIMEOUT,
                memory_mb: int = DEFAULT_MEMORY_MB,
                done: Callable[[FileReport, RawRun], None] | None = None) -> list[FileReport]:
    """Check many files, up to ``workers`` at a time, each in its own process.

    Parameters
    ----------
    files : list of Path
        The learners' files (:func:`collect_files`).
    workers : int, optional
        How many files run at once.
    timeout, memory_mb : optional
        Each file's limits (:func:`check_file`).
    done : callable, optional
        Called with each file's report and raw result as it finishes (in the
        order of ``files``).

    Returns
    -------
    list of FileReport
        In the order of ``files``.
    """
    probes, stop = make_probes(), threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(check_file, f, timeout=timeout, memory_mb=memory_mb,
                               probes=probes, stop=stop) for f in files]
        reports = []
        try:
            for fut in futures:
                report, raw = fut.result()
                if done is not None:
                    done(report, raw)
                reports.append(report)
        except BaseException:  # Ctrl-C, or `done` failing: kill what runs, start nothing
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return reports


__all__ = ["DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT", "DIAGNOSES", "EXIT_STATUS",
           "FIRST_DIFFERENCE", "TEMPLATE", "FileReport", "Finding", "Probe", "check_file",
           "check_files", "collect_files", "make_probes"]
