"""The options of a training run as data, for every tool that offers them.

:func:`settings` describes each field of :class:`~backproplab.training.TrainConfig`
as a :class:`Setting` (type, default, help, choices, group, and the runs that read
it), all derived from the field's declaration in ``training/config.py``; the command
line builds its flags from it. :func:`check_settings_apply` refuses a setting
that the run (or every run of a sweep's grid) would silently ignore, such as
``momentum`` with ``optimizer='sgd'``.

The lists of options by job are derived from the declarations' ``group`` and
``resumable`` too, never written out: :data:`DATA_OPTIONS` (what decides a run's
dataset: Ray trials that agree on all of them share one), :data:`RESUMABLE_CHANGES`
(what a resume may change), :data:`MACHINE_OPTIONS` (machine options that change
no result: sweeps ignore them when they compare and group trials) and
:func:`optimizer_options` (the optimizer's keyword arguments of a config).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backproplab.errors import BackproplabError, choose_from
from backproplab.training.config import (
    DATASET_DEFAULTS,
    ENGINE_NAMES,
    TrainConfig,
    engine_defaults,
)


def options_in(group: str) -> tuple[str, ...]:
    """The names of the options declared in ``group``, in the order of the fields.

    Parameters
    ----------
    group : str
        One of :data:`~backproplab.training.config.GROUPS`.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> options_in("machine")
    ('threads', 'device', 'gemm', 'kernels')
    """
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["group"] == group)


#: Options that decide which data a run trains on (the ``data`` group).
DATA_OPTIONS = options_in("data")


def data_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The data options of a run's config: what :func:`backproplab.data.load_configured` takes.

    Parameters
    ----------
    config : mapping of str to object
        A config as a dict (``TrainConfig.to_dict()``, or a run's ``config.json``
        as read: the options an older run lacks are left out).

    Returns
    -------
    dict
        Its options of the ``data`` group (:data:`DATA_OPTIONS`).

    Examples
    --------
    >>> data_options({"dataset": "synth", "limit": 100, "lr": 0.5})
    {'dataset': 'synth', 'limit': 100}
    """
    return {name: config[name] for name in DATA_OPTIONS if name in config}


#: Options a resumed run may change (declared ``resumable``): none changes the
#: result of a run that finishes.
RESUMABLE_CHANGES = tuple(f.name for f in dataclasses.fields(TrainConfig)
                          if f.metadata["resumable"])
#: Machine and output options that change no result (group ``machine`` or ``output``,
#: and ``resumable``): they may differ between machines and reruns, so sweeps ignore
#: them when comparing and grouping trials.
MACHINE_OPTIONS = tuple(name for name in options_in("machine") + options_in("output")
                        if name in RESUMABLE_CHANGES)


@dataclass(frozen=True)
class Setting:
    """One option of a training run, as its field in :class:`TrainConfig` declares it.

    Attributes
    ----------
    name : str
        The field's name, e.g. ``"batch_size"``.
    kind : type or None
        ``int``, ``float``, ``str`` or ``bool`` (the value's type without
        ``None``); ``None`` where ``parser`` reads the value.
    default : object
        The field's default.
    help : str
        One phrase saying what it does.
    choices : tuple of str or None
        The names it accepts, or ``None``.
    applies : tuple or None
        ``(setting, values)``: only runs whose ``setting`` is one of ``values``
        read it; ``None`` for every run.
    metavar : str
        How the value is written (``"N"``, ``"X"``, ``"NAME"``, ``"SIZES"`` ...).
    default_text : str
        The default in words: ``"0.9"``, ``"tensor 16, scalar 1"``, ``"off"``.
    parser : callable or None, default None
        Text -> value for values that are not a number or a word.
    group : str, default "model"
        Its group (:data:`~backproplab.training.config.GROUPS`).
    resumable : bool, default False
        Whether a resumed run may change it.
    """

    #: the field's name, e.g. ``"batch_size"``
    name: str
    #: ``int``, ``float``, ``str`` or ``bool`` (the value's type without ``None``);
    #: ``None`` where ``parser`` reads the value
    kind: type | None
    #: the field's default
    default: Any
    #: one phrase saying what it does
    help: str
    #: the names it accepts, or ``None``
    choices: tuple[str, ...] | None
    #: ``(setting, values)``: only runs whose ``setting`` is one of ``values`` read it
    applies: tuple[str, tuple] | None
    #: how the value is written (``"N"``, ``"X"``, ``"NAME"``, ``"SIZES"`` ...)
    metavar: str
    #: the default in words: ``"0.9"``, ``"tensor 16, scalar 1"``, ``"off"``
    default_text: str
    #: text -> value for values that are not a number or a word, or ``None``
    parser: Callable[[str], Any] | None = None
    #: its group (:data:`~backproplab.training.config.GROUPS`)
    group: str = "model"
    #: whether a resumed run may change it
    resumable: bool = False

    def applies_to(self, config: TrainConfig, grid: dict | None = None) -> bool:
        """Whether a run with ``config`` (or some trial of a sweep's ``grid``) reads it."""
        if self.applies is None:
            return True
        decider, users = self.applies
        values = (grid or {}).get(decider) or [getattr(config, decider)]
        return any(v in users for v in values)

    def parse(self, text: str) -> Any:
        """The value written as ``text`` (a command-line word), checked for its type.

        Raises
        ------
        BackproplabError
            When ``text`` is not a value of this setting's type.
        """
        if self.parser is not None:
            return self.parser(text)
        if self.kind in (int, float):
            try:
                return self.kind(text)
            except ValueError:
                what = "an integer" if self.kind is int else "a number"
                raise BackproplabError(f"{self.name} must be {what}, got {text!r}",
                                       settings=(self.name,)) from None
        return text


def _kind(annotation: Any) -> type | None:
    """``float | None`` -> ``float``; ``None`` for unions of several types."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if len(args) == 1 else None
    return annotation if annotation in (int, float, str, bool) else None


def _word(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grouped(values: dict[str, Any]) -> str:
    """``{"synth": 1.0, "mnist": 0.1, "fashion-mnist": 0.1}`` -> ``"synth 1, mnist and
    fashion-mnist 0.1"``; one value for all -> that value."""
    groups: dict[str, list[str]] = {}
    for key, value in values.items():
        groups.setdefault(_word(value), []).append(key)
    if len(groups) == 1:
        return next(iter(groups))
    return ", ".join(f"{' and '.join(keys)} {word}" for word, keys in groups.items())


def _describe_default(field: dataclasses.Field) -> str:
    """The default of ``field`` in words, from its value or, for ``None``, from the
    field's ``none`` text, the engines' defaults or the datasets' defaults."""
    if field.default is not None:
        return "off" if field.default is False else _word(field.default)
    if field.metadata.get("none"):
        return field.metadata["none"]
    by_engine = {e: engine_defaults(e).get(field.name) for e in ENGINE_NAMES}
    if any(v is not None for v in by_engine.values()):
        return _grouped(by_engine)
    by_dataset = {d: v[field.name] for d, v in DATASET_DEFAULTS.items() if field.name in v}
    return _grouped(by_dataset) if by_dataset else "none"


def _metavar(kind: type | None, field: dataclasses.Field) -> str:
    if field.metadata.get("metavar"):
        return field.metadata["metavar"]
    if field.metadata.get("choices"):
        return "NAME"
    return {int: "N", float: "X"}.get(kind, "TEXT")


@functools.lru_cache(maxsize=1)
def settings() -> tuple[Setting, ...]:
    """Every option of :class:`TrainConfig`, in the order of its fields."""
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in dataclasses.fields(TrainConfig):
        kind = _kind(hints[f.name])
        meta = f.metadata
        out.append(Setting(
            name=f.name, kind=None if meta.get("parse") else kind, default=f.default,
            help=meta["help"], choices=meta.get("choices"), applies=meta.get("applies"),
            metavar=_metavar(kind, f), default_text=_describe_default(f),
            parser=meta.get("parse"), group=meta["group"], resumable=meta["resumable"]))
    return tuple(out)


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name``.

    Parameters
    ----------
    name : str
        A :class:`TrainConfig` field's name, e.g. ``"batch_size"``.

    Returns
    -------
    Setting

    Raises
    ------
    BackproplabError
        If no training option has that name.

    Examples
    --------
    >>> setting("lr_schedule").choices
    ('constant', 'step', 'exponential', 'cosine', 'invscaling', 'plateau')
    """
    for s in settings():
        if s.name == name:
            return s
    raise BackproplabError(f"unknown training option {name!r}")


def check_settings_apply(given, config: TrainConfig, grid: dict | None = None) -> None:
    """Refuse a setting that the run would silently ignore.

    Parameters
    ----------
    given : iterable of str
        The settings the user chose explicitly (flags, keys of a sweep's base or grid).
    config : TrainConfig
        The run's options (for a sweep: its base options).
    grid : dict, optional
        A sweep's grid, ``name -> list of values``: a setting is fine when some
        trial reads it (``momentum`` with ``optimizer`` ``['sgd', 'momentum']``).

    Raises
    ------
    BackproplabError
        Naming the first given setting that no run reads (``momentum`` with only
        ``optimizer='sgd'``, ``patience`` without ``early_stopping=True``), and the fix.
    """
    given = set(given)
    grid = grid or {}
    for s in settings():
        if s.name not in given or s.applies_to(config, grid):
            continue
        decider, users = s.applies
        values = grid.get(decider) or [getattr(config, decider)]
        if users == (True,):
            raise BackproplabError(
                f"{s.name} applies only with {decider}=True; add {decider}=True or drop "
                f"{s.name}", settings=(s.name,))
        raise BackproplabError(
            f"{s.name} applies only to {choose_from(decider, users)}, not "
            f"{' or '.join(repr(v) for v in values)}; drop {s.name} or choose one of those",
            settings=(s.name,))


def optimizer_options(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`~backproplab.tensor.make_optimizer` for ``config``.

    Every ``optimizer`` option other than ``optimizer`` and ``lr`` (the function's
    own arguments) that applies to ``config.optimizer`` and is set (not ``None``).

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    dict

    Examples
    --------
    >>> optimizer_options(TrainConfig(optimizer="momentum", momentum=0.5))
    {'momentum': 0.5, 'weight_decay': 0.0}
    """
    return {s.name: getattr(config, s.name) for s in settings()
            if s.group == "optimizer" and s.name not in ("optimizer", "lr")
            and s.applies_to(config) and getattr(config, s.name) is not None}


__all__ = ["DATA_OPTIONS", "MACHINE_OPTIONS", "RESUMABLE_CHANGES", "Setting",
           "check_settings_apply", "data_options", "optimizer_options", "options_in",
           "setting", "settings"]
