"""What a sweep is: a grid of configs and seeds, its trials, and its folder.

A :class:`Sweep` is a base training config, a grid (option -> list of values,
any :class:`~backproplab.training.TrainConfig` field) and a list of seeds. Its
trials are the cartesian product of the grid's values, each run once per seed.
Every trial is an ordinary run folder under the sweep folder, named after what
makes it differ from the others, e.g. ``lr=0.01_batch_size=16_seed=0``.

Seeds: a trial's ``TrainConfig.seed`` is the sweep seed itself. The training
code derives the initial weights and the order of the examples from that seed
alone, so trials that share a seed start from the same weights and see the
examples in the same order at every learning rate or batch size: they differ
only in what the sweep varies.

:func:`prepare_sweep_dir` writes ``sweep.json`` (base config, grid, seeds,
trial names) before any trial runs; running the trials and recording their
outcomes is the driver's (:mod:`backproplab.sweeps.driver`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json
from backproplab.locks import lock_folder
from backproplab.runs import SWEEP, SWEEP_OUTPUT_FILES, SweepFolder, is_bookkeeping
from backproplab.sweeps.executors import Trial, plain_json
from backproplab.training import TrainConfig
from backproplab.training.options import MACHINE_OPTIONS  # how a run computes, not what

#: The version of the ``sweep.json`` layout.
SWEEP_FORMAT = 1
#: Longest trial folder name; longer names are shortened with a hash.
MAX_NAME = 150


# ---------------------------------------------------------------------------
# the sweep spec


def format_value(value: Any) -> str:
    """A value as it appears in a trial folder name.

    Parameters
    ----------
    value : object
        A grid value.

    Returns
    -------
    str
        Letters, digits and ``.+-`` only (others become ``-``).

    Examples
    --------
    >>> [format_value(v) for v in (0.01, (300, 100), True, None)]
    ['0.01', '300-100', 'true', 'default']
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "-".join(format_value(v) for v in value) if value else "none"
    elif value is None:
        text = "default"
    else:
        text = str(value)
    safe = "".join(c if c.isalnum() or c in ".+-" else "-" for c in text)
    return safe or "-"


def trial_name(values: Mapping[str, Any]) -> str:
    """The folder name of a trial: ``key=value`` parts joined by ``_``, seed last.

    Names longer than :data:`MAX_NAME` characters are cut and end with a hash
    of the values, so that they stay unique.

    Parameters
    ----------
    values : Mapping
        The trial's grid values, in grid order, ``seed`` last.

    Returns
    -------
    str

    Examples
    --------
    >>> trial_name({"lr": 0.1, "hidden": (300,), "seed": 0})
    'lr=0.1_hidden=300_seed=0'
    """
    name = "_".join(f"{key}={format_value(value)}" for key, value in values.items())
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(json.dumps(plain_json(dict(values)), sort_keys=True).encode())
        name = f"{name[:MAX_NAME - 12]}_{digest.hexdigest()[:10]}"
    return name


class Sweep:
    """Seeds x grid of options on top of a base config.

    Parameters
    ----------
    base : TrainConfig or dict, optional
        The options every trial shares (default: ``TrainConfig()``).
    grid : dict of str to list, optional
        Option name -> the values to try; an option given with a single value
        simply becomes part of the base.
    seeds : sequence of int, default=(0,)
        The seeds every grid point runs with.

    Attributes
    ----------
    base : dict
        The validated base config, defaults filled in.
    grid : dict of str to list
        The options that vary, values canonical (as ``TrainConfig.to_dict``).
    seeds : list of int

    Raises
    ------
    BackproplabError
        For an unknown option, an empty or repeated value list, ``seed`` in the
        grid, bad seeds, or any trial config that fails validation: every
        trial's config is validated here, so a bad value fails before anything
        runs.

    Examples
    --------
    >>> from backproplab.sweeps import Sweep
    >>> sweep = Sweep({"dataset": "synth", "epochs": 1}, grid={"lr": [0.03, 0.1]},
    ...               seeds=[0, 1])
    >>> trials = sweep.trials("runs/lr-sweep")
    >>> [t.name for t in trials]
    ['lr=0.03_seed=0', 'lr=0.03_seed=1', 'lr=0.1_seed=0', 'lr=0.1_seed=1']
    >>> trials[0].config["lr"], trials[0].config["seed"]
    (0.03, 0)
    """

    def __init__(self, base: Any = None, grid: Mapping[str, Sequence[Any]] | None = None,
                 seeds: Sequence[int] = (0,)):

        if base is None:
            base = TrainConfig()
        base_dict = base.to_dict() if hasattr(base, "to_dict") else dict(base)
        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        # the base is checked with the grid's first values: a base option may need
        # one (target, with a grid of files); every trial is checked whole below
        firsts = _first_values(grid or {}, fields)
        TrainConfig.from_dict({**base_dict, **firsts})
        base_dict = TrainConfig(**base_dict).to_dict()  # fills defaults

        self.seeds = _check_seeds(seeds)
        clean_grid: dict[str, list[Any]] = {}
        for key, values in (grid or {}).items():
            if key == "seed":
                raise BackproplabError(
                    "the seed is not a grid option; give the seeds with --seeds N or --seed-list")
            if key not in fields:
                raise BackproplabError(
                    f"unknown sweep option {key!r}; choose among {', '.join(fields)}")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise BackproplabError(
                    f"the sweep values of {key} must be a list, got {values!r}")
            if not values:
                raise BackproplabError(f"the sweep option {key} has no values; give at least one",
                                       settings=(key,))
            canon_values = []
            for value in values:
                try:
                    cfg = TrainConfig.from_dict(
                        {**base_dict, **firsts, key: _as_config_value(key, value)})
                except TypeError as exc:  # pragma: no cover - from_dict names bad keys first
                    raise BackproplabError(f"bad value {value!r} for {key}: {exc}") from None
                # a file as its trial's run records it (absolute), not as typed
                canon_values.append(cfg.with_absolute_paths().to_dict()[key])
            dupes = [v for i, v in enumerate(canon_values) if v in canon_values[:i]]
            if dupes:
                raise BackproplabError(
                    f"the sweep option {key} lists {format_value(dupes[0])} twice; "
                    "give each value once", settings=(key,))
            if len(canon_values) == 1:
                base_dict[key] = canon_values[0]
            else:
                clean_grid[key] = canon_values
        base_dict["seed"] = self.seeds[0]
        self.base = TrainConfig(**base_dict).to_dict()
        self.grid = clean_grid
        self._points = self._make_points()

    # -- trials ------------------------------------------------------------

    def _make_points(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """``(name, values, config)`` for every trial, validated, names unique."""

        keys = list(self.grid)
        points = []
        names: dict[str, dict[str, Any]] = {}
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            for seed in self.seeds:
                values = dict(zip(keys, combo))
                values["seed"] = seed
                name = trial_name(values)
                if name in names:
                    raise BackproplabError(
                        f"two trials would share the folder name {name!r} "
                        f"({names[name]} and {values}); give values that differ visibly")
                names[name] = values
                merged = {**self.base, **values}
                try:
                    config = TrainConfig.from_dict(merged).to_dict()
                except BackproplabError as exc:
                    raise BackproplabError(f"trial {name} is invalid: {exc}") from None
                points.append((name, values, config))
        return points

    def __len__(self) -> int:
        return len(self._points)

    def trial_names(self) -> list[str]:
        """The trial folder names, in run order."""
        return [name for name, _, _ in self._points]

    def trials(self, out_dir: str | Path, *, allow_changed_data: bool = False) -> list[Trial]:
        """The trials, with their folders under ``out_dir`` (``allow_changed_data``:
        see :class:`~backproplab.sweeps.trials.Trial`)."""
        root = Path(out_dir).resolve()
        return [Trial(name=name, config=dict(config), values=dict(values),
                      out_dir=str(root / name), index=i, allow_changed_data=allow_changed_data)
                for i, (name, values, config) in enumerate(self._points)]

    # -- (de)serialization ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The ``sweep.json`` description: base config, grid, seeds, trials."""
        base = dict(self.base)
        base.pop("seed", None)  # every trial sets its own
        return {
            "format": SWEEP_FORMAT,
            "kind": "backproplab-sweep",
            "base": base,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": list(self.seeds),
            "trials": [{"name": name, "values": values} for name, values, _ in self._points],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sweep:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or data.get("kind") != "backproplab-sweep":
            raise BackproplabError("this is not a backproplab sweep description (sweep.json)")
        base = dict(data["base"])
        base.setdefault("seed", 0)
        return cls(base, data.get("grid", {}), data.get("seeds", [0]))

    def same_as(self, other: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether a stored ``sweep.json`` describes the same trials; else why not."""
        mine = self.to_dict()
        theirs_base = {k: v for k, v in dict(other.get("base", {})).items()
                       if k not in MACHINE_OPTIONS}
        my_base = {k: v for k, v in mine["base"].items() if k not in MACHINE_OPTIONS}
        try:  # older files may lack newer options: fill in their defaults
            theirs_base = TrainConfig.from_dict({**theirs_base, "seed": 0}).to_dict()
            theirs_base.pop("seed")
            for key in MACHINE_OPTIONS:
                theirs_base.pop(key, None)
        except BackproplabError:
            pass
        if plain_json(theirs_base) != plain_json(my_base):
            diff = sorted(k for k in set(my_base) | set(theirs_base)
                          if plain_json(my_base.get(k)) != plain_json(theirs_base.get(k)))
            return False, f"its base config differs in {', '.join(diff) or 'its layout'}"

        def trial_set(trials: Iterable[Mapping[str, Any]]) -> set[str]:
            return {json.dumps(plain_json([t["name"], t["values"]]), sort_keys=True)
                    for t in trials}

        if trial_set(mine["trials"]) != trial_set(other.get("trials", [])):
            return False, "its grid or seeds differ"
        return True, ""


def _first_values(grid: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """The first value of each grid option that lists any (the others are refused
    while the grid is read)."""
    return {key: _as_config_value(key, values[0]) for key, values in grid.items()
            if key in fields and key != "seed" and isinstance(values, Sequence)
            and not isinstance(values, (str, bytes)) and values}


def _as_config_value(key: str, value: Any) -> Any:
    if key == "hidden" and isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        raise BackproplabError(
            f"seeds must be a list of integers; for {seeds} seeds use range({seeds})")
    seeds = list(seeds)
    if not seeds:
        raise BackproplabError("a sweep needs at least one seed; use --seeds 1 or more")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise BackproplabError(f"seeds must be integers >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise BackproplabError("the seed list repeats a seed; give each seed once")
    return seeds


# ---------------------------------------------------------------------------
# the sweep folder


def check_sweep_dir(sweep: Sweep, out_dir: str | Path, *, overwrite: bool = False) -> None:
    """Refuse ``out_dir`` for ``sweep`` without writing or deleting anything.

    A folder that holds other files (no ``sweep.json``: someone else's files, a
    run or a reproduction) is always refused; one that holds a different sweep
    is refused unless ``overwrite``.

    Parameters
    ----------
    sweep : Sweep
        The sweep to run there.
    out_dir : str or pathlib.Path
        The sweep folder; a missing or empty one is fine.
    overwrite : bool, default False
        Accept a different sweep there (it will be replaced).

    Raises
    ------
    BackproplabError
        Naming the folder and what to do.
    """
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise BackproplabError(f"--out {root} is a file; give a folder for the sweep")
    if not root.is_dir() or all(is_bookkeeping(p.name) for p in root.iterdir()):
        return
    old = SweepFolder(root).description
    if old is None:
        # --overwrite replaces a sweep, never a folder of other files (as reproduce)
        raise BackproplabError(
            f"{root} is not empty and holds no sweep (no {SWEEP}); choose a new "
            "--out folder")
    if not overwrite:
        same, why = sweep.same_as(old)
        if not same:
            raise BackproplabError(
                f"{root} holds a different sweep ({why}); pass --overwrite to replace "
                "it or choose another --out")


def prepare_sweep_dir(sweep: Sweep, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Check ``out_dir`` against ``sweep`` (:func:`check_sweep_dir`) and write ``sweep.json`` (atomically).

    With ``overwrite``, an earlier different sweep's outputs and trial folders
    (those its ``sweep.json`` lists, and those this sweep will use) are removed
    first, each trial folder under its lock.

    Parameters
    ----------
    sweep : Sweep
        The sweep to run there.
    out_dir : str or pathlib.Path
        The sweep folder (created when missing).
    overwrite : bool, default False
        Replace a different sweep found there.

    Returns
    -------
    pathlib.Path
        The sweep folder.

    Raises
    ------
    BackproplabError
        Through :func:`check_sweep_dir`: if ``out_dir`` is a file, holds files
        but no sweep, or holds a different sweep without ``overwrite``.
    """
    root = Path(out_dir)
    check_sweep_dir(sweep, root, overwrite=overwrite)
    folder = SweepFolder(root)
    if overwrite and folder.description is not None:
        names = set(sweep.trial_names()) | set(folder.trial_names() if folder.listed else ())
        for name in sorted(names):
            target = root / name
            if target.parent == root and target.is_dir() and not target.is_symlink():
                with lock_folder(target, "trial"):  # not while another process writes it
                    shutil.rmtree(target)
        for name in SWEEP_OUTPUT_FILES:
            (root / name).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / SWEEP, sweep.to_dict())
    return root


__all__ = ["Sweep", "check_sweep_dir", "format_value", "prepare_sweep_dir", "trial_name"]
