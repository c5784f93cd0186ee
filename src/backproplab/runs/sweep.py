"""One sweep folder as read from disk: ``sweep.json`` and the trial folders."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import read_json
from backproplab.runs.folder import RunFolder
from backproplab.runs.logs import RERUN_FIX
from backproplab.runs.names import CONFIG, SWEEP, inside


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep's grid and its trial folders, one per seed.

    Parameters
    ----------
    values : dict of str to object
        The swept settings' values at this point (the seed excluded), as stored.
    seeds : tuple
        The seed of every trial of the point (``None`` where unknown).
    trials : tuple of RunFolder
        The trial folders, in the order of ``seeds``.
    """

    values: dict[str, Any]
    seeds: tuple[Any, ...]
    trials: tuple[RunFolder, ...]

    def by_seed(self) -> dict[Any, RunFolder]:
        """Seed -> trial folder."""
        return dict(zip(self.seeds, self.trials))

    @property
    def finished(self) -> bool:
        """Whether every trial of the point has finished (has its ``summary.json``)."""
        return all(t.finished for t in self.trials)


class SweepFolder:
    """One sweep folder as read from disk: its ``sweep.json`` and trial folders.

    The trials are those ``sweep.json`` lists, in run order; a folder without a
    readable ``sweep.json`` counts every sub-folder with a ``config.json``, in
    name order, and takes the settings and values from the trials' configs.

    Parameters
    ----------
    path : str or os.PathLike
        The sweep folder (``backproplab sweep --out``).

    Examples
    --------
    >>> sweep = SweepFolder("runs/lr-sweep")                    # doctest: +SKIP
    >>> sweep.settings()                                         # doctest: +SKIP
    {'lr': [0.03, 0.1]}
    >>> [(p.values, p.seeds) for p in sweep.groups()]            # doctest: +SKIP
    [({'lr': 0.03}, (0, 1)), ({'lr': 0.1}, (0, 1))]
    >>> [t.name for t in sweep.trials if not t.finished]         # doctest: +SKIP
    []
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SweepFolder({str(self.path)!r})"

    def check(self) -> SweepFolder:
        """The folder itself, refused when it is missing or a file.

        Raises
        ------
        BackproplabError
            Naming the path and asking for a sweep's ``out_dir``.
        """
        if self.path.exists() and not self.path.is_dir():
            raise BackproplabError(f"{self.path} is a file, not a sweep folder; check --out")
        if not self.path.is_dir():
            raise BackproplabError(f"sweep folder {self.path} does not exist; check --out")
        return self

    @cached_property
    def description(self) -> dict[str, Any] | None:
        """``sweep.json`` as stored (base config, grid, seeds, trials), or ``None``
        when it is missing or not a JSON object."""
        data = read_json(self.path / SWEEP)
        return data if isinstance(data, dict) else None

    @property
    def listed(self) -> bool:
        """Whether ``sweep.json`` lists the trials (else they are found by folder)."""
        return isinstance((self.description or {}).get("trials"), list)

    @cached_property
    def _listed_values(self) -> dict[str, dict[str, Any]]:
        """Trial name -> its values (settings and seed) as ``sweep.json`` lists them;
        a name that leads outside the sweep folder is refused (:func:`inside`)."""
        if not self.listed:
            return {}
        listed = {t["name"]: dict(t.get("values") or {}) for t in self.description["trials"]
                  if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]}
        for name in listed:
            inside(self.path, name, self.path / SWEEP)
        return listed

    def trial_names(self) -> list[str]:
        """The trial folder names, in run order."""
        if self.listed:
            return list(self._listed_values)
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir()
                      if p.is_dir() and (p / CONFIG).is_file())

    @cached_property
    def trials(self) -> list[RunFolder]:
        """Every trial's folder, in run order (started or not, readable or not)."""
        return [RunFolder(self.path / name) for name in self.trial_names()]

    def settings(self, ignore: Collection[str] = ()) -> dict[str, list[Any]]:
        """The swept settings and their values, in grid order.

        Parameters
        ----------
        ignore : collection of str
            Settings left out (the seed always is), e.g. the options that say how
            a run is computed, not what.

        Returns
        -------
        dict of str to list
            ``sweep.json``'s grid; without one, every config key whose value
            differs between the readable trials, values in trial order.
        """
        skip = {"seed", *ignore}
        grid = (self.description or {}).get("grid")
        if self.listed and isinstance(grid, dict):
            return {k: list(v) for k, v in grid.items() if k not in skip}
        configs = [t.config for t in self.trials if t.is_run()]
        found: dict[str, list[Any]] = {}
        for config in configs:
            for key, value in config.items():
                if key not in skip and value not in found.setdefault(key, []):
                    found[key].append(value)
        return {k: v for k, v in found.items() if len(v) > 1}

    def values(self, trial: RunFolder | str, settings: Collection[str]) -> dict[str, Any]:
        """The values of ``settings`` and the seed of one trial: as ``sweep.json``
        lists them, else from its config (``{}`` when it has no readable one)."""
        name = trial if isinstance(trial, str) else trial.name
        if self.listed:
            stored = self._listed_values.get(name, {})
        else:
            run = RunFolder(self.path / name)
            stored = run.config if run.is_run() else {}
        if not stored:
            return {}
        return {**{k: stored.get(k) for k in settings}, "seed": stored.get("seed")}

    def groups(self, ignore: Collection[str] = ()) -> list[GridPoint]:
        """The grid points (trials that differ only in their seed), in run order.

        Parameters
        ----------
        ignore : collection of str
            As for :meth:`settings`.
        """
        keys = list(self.settings(ignore))
        points: dict[str, tuple[dict, list, list]] = {}
        for run in self.trials:
            values = self.values(run, keys)
            seed = values.pop("seed", None)
            values = {k: values.get(k) for k in keys}
            entry = points.setdefault(json.dumps(values, sort_keys=True), (values, [], []))
            entry[1].append(seed)
            entry[2].append(run)
        return [GridPoint(v, tuple(s), tuple(t)) for v, s, t in points.values()]

    @property
    def finished(self) -> bool:
        """Whether every trial has finished (has its ``summary.json``)."""
        return all(t.finished for t in self.trials)


def open_folder(path: str | os.PathLike) -> RunFolder | SweepFolder:
    """The run or the sweep that ``path`` holds, for commands that take either.

    Parameters
    ----------
    path : str or os.PathLike
        A run folder (it has a readable ``config.json``) or a sweep folder (a
        ``sweep.json`` listing trials, or trial folders).

    Returns
    -------
    RunFolder or SweepFolder

    Raises
    ------
    BackproplabError
        When ``path`` is missing, a file, or a folder that holds neither (or a run
        whose ``config.json`` is damaged).
    """
    folder = Path(path)
    fix = "give the folder of a training run or of a sweep"
    if not folder.exists():
        raise BackproplabError(f"{folder} does not exist; {fix}")
    if not folder.is_dir():
        raise BackproplabError(f"{folder} is a file, not a folder; {fix}")
    run = RunFolder(folder)
    if run.is_run():
        return run
    sweep = SweepFolder(folder)
    if sweep.trials:
        return sweep
    if run.file(CONFIG).exists():
        raise BackproplabError(f"{run.file(CONFIG)} is damaged (not a JSON object), so {folder} "
                               f"is not a readable run; {RERUN_FIX}")
    raise BackproplabError(f"{folder} holds no run ({CONFIG}) and no sweep ({SWEEP} or trial "
                           f"folders); {fix}")


__all__ = ["GridPoint", "SweepFolder", "open_folder"]
