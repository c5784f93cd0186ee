"""The training options on the command line, and where setting names become flags.

The flags of ``train`` and ``sweep`` are made from
:func:`backproplab.training.options.settings` (one per field of ``TrainConfig``:
``batch_size`` -> ``--batch-size``, its help with the default and the choices).

The library's messages name settings as Python does (``lr``, ``batch_size``,
``engine='tensor'``, ``early_stopping=True``); :func:`cli_message` is the one
place that rewrites them into the flags a command-line user typed (``--lr``,
``--batch-size``, ``--engine tensor``, ``--early-stopping``).
"""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Callable
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.training.options import Setting, settings

#: Settings whose flag is not ``--`` followed by the name with dashes.
FLAG_NAMES = {"out_dir": "--out"}
#: ``run_training``'s own arguments, which ``train`` offers as flags too.
RUN_ARGUMENTS = ("out_dir", "resume", "overwrite", "allow_changed_data")


def flag(name: str) -> str:
    """The flag of a setting: ``"batch_size"`` -> ``"--batch-size"``, ``"out_dir"`` -> ``"--out"``.

    Parameters
    ----------
    name : str
        A setting's Python name.

    Returns
    -------
    str
        Its flag (:data:`FLAG_NAMES` for those named otherwise).

    Examples
    --------
    >>> flag("batch_size"), flag("out_dir")
    ('--batch-size', '--out')
    """
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, without breaking lines inside hyphenated words, so
    that flags (``--lr-schedule``) and names (``fashion-mnist``) stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:  # description, epilog
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent,
                             subsequent_indent=indent, break_on_hyphens=False)


def help_text(s: Setting) -> str:
    """The ``--help`` text of a setting: its help, choices, when it applies, and its default.

    Parameters
    ----------
    s : Setting
        The setting.

    Returns
    -------
    str
        The text, with ``%`` doubled for argparse.
    """
    text = s.help
    if s.choices:
        text += ": " + " | ".join(s.choices)
    if s.applies:
        decider, users = s.applies
        text += f"; with {flag(decider)}" if users == (True,) else (
            f"; with {flag(decider)} {' or '.join(map(str, users))}")
    if s.kind is not bool:
        text += f" (default: {s.default_text})"
    return text.replace("%", "%%")  # argparse formats help with %


def add_training_options(parser, *, skip: tuple[str, ...] = (), repeatable: bool = False,
                         single: tuple[str, ...] = ()) -> None:
    """Add a flag for every training option to ``parser`` (a parser or argument group).

    Values stay text (:func:`given_options` parses them, so that a bad number is a
    one-sentence error). On/off options (``bool`` fields) are flags without a
    value.

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
        Where the flags go.
    skip : tuple of str, default ()
        Options left out.
    repeatable : bool, default False
        Value options collect a list (``action="append"``; ``sweep``'s grid).
    single : tuple of str, default ()
        With ``repeatable``, options that still take one value.
    """
    for s in settings():
        if s.name in skip:
            continue
        if s.kind is bool:
            parser.add_argument(flag(s.name), dest=s.name, action="store_const", const=True,
                                default=None, help=help_text(s))
            continue
        action = "append" if repeatable and s.name not in single else "store"
        parser.add_argument(flag(s.name), dest=s.name, action=action, default=None,
                            metavar=s.metavar, help=help_text(s))


def add_executor_options(parser, unit: str) -> None:
    """Add ``--workers``, ``--executor``, ``--ray-address`` and ``--trial-timeout``
    (``sweep`` and ``reproduce``; :func:`backproplab.sweeps.ray_connect.executor_options`
    reads them).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    unit : str
        What runs in parallel, in the help texts (``"trials"``, ``"runs"``).
    """
    parser.add_argument("--workers", default=None, metavar="N",
                        help=f"{unit} at the same time (default: the number of cores)")
    parser.add_argument("--executor", default="local", metavar="NAME",
                        help=f"where {unit} execute: local worker processes (default) | ray")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="with --executor ray: the Ray cluster, e.g. 10.0.0.5:6379 "
                             "(default: $RAY_ADDRESS, else a local Ray instance; docs/ray.md)")
    parser.add_argument("--trial-timeout", metavar="SECONDS", default=None,
                        help=f"a time limit for each of the {unit}: one that runs longer is "
                             "stopped and reported failed (a hung or stopped worker cannot "
                             "stall the command; running the same command again resumes it, "
                             "or with --executor ray trains it again; default: no limit)")


def add_changed_data_option(parser, unit: str) -> None:
    """Add ``--allow-changed-data`` (``sweep`` and ``reproduce``: go on when the
    data changed since the ``unit`` in ``--out`` were recorded; both pass it to the
    one sweep driver, :func:`backproplab.sweeps.driver.check_recorded_data` refuses
    without it).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    unit : str
        What the folder records, in the help text (``"trials"``, ``"runs"``).
    """
    parser.add_argument("--allow-changed-data", action="store_true",
                        help=f"go on when the data changed since the {unit} in --out were "
                             f"recorded: finished {unit} are kept, interrupted ones resume "
                             "on the data as it is now (refused otherwise)")


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training options given on the command line, parsed into config values.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser with :func:`add_training_options`.

    Returns
    -------
    dict
        Option name -> value (:meth:`Setting.parse`), for the options given
        only; on/off flags give ``True``.
    """
    out = {}
    for s in settings():
        value = getattr(args, s.name, None)
        if value is not None:
            out[s.name] = True if s.kind is bool else s.parse(value)
    return out


# ---------------------------------------------------------------------------
# setting names -> flags in messages

_QUOTED = r"'[^']*'|\"[^\"]*\""
# a number or a constant, not followed by more of a word (``lr=0.2_seed=0`` is a folder name)
_PLAIN = r"-?\d[\w.+-]*(?![\w.+=-])|True\b|False\b|None\b"
_EDGE = r"(?<![\w.\-/'\"=])"


def _pattern(assigned: set[str], bare: set[str]) -> re.Pattern:
    def names(group):
        return "|".join(sorted(map(re.escape, group), key=len, reverse=True)) or r"(?!x)x"

    return re.compile(
        rf"{_EDGE}(?P<name>{names(assigned)})=(?P<value>{_QUOTED}|{_PLAIN})"
        rf"(?P<more>(?:(?:, not |, | or | not )(?:{_QUOTED}))*)"
        rf"|{_EDGE}(?P<bare>{names(bare)})(?![\w\-'\"/=]|\.\w)")


def _unquote(text: str) -> str:
    return re.sub(_QUOTED, lambda m: m.group(0)[1:-1], text)


def _as_flags(match: re.Match) -> str:
    if match.group("bare"):
        return flag(match.group("bare"))
    value = match.group("value")
    if value in ("False", "None"):
        return match.group(0)  # no flag says "off"; leave the Python words
    head = flag(match.group("name"))
    if value != "True":
        head += " " + _unquote(value)
    return head + _unquote(match.group("more") or "")


def add_json_option(parser, what: str) -> None:
    """Add the ``--json`` flag to a command's ``parser``: the one declaration of it.

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
    what : str
        What the command then prints, after the word "print" (e.g. ``"the
        summary as one JSON object, the only line on stdout"``).
    """
    parser.add_argument("--json", action="store_true", help=f"print {what}")


def int_option(flag: str, text: Any, default: int | None = None, minimum: int = 1) -> int | None:
    """A command-line integer: ``text`` as an int >= ``minimum``.

    Parameters
    ----------
    flag : str
        The flag, named in the error.
    text : object
        The value as given (text), or ``None``.
    default : int or None, default None
        What ``None`` gives.
    minimum : int, default 1
        The smallest value allowed.

    Returns
    -------
    int or None
        The value, or ``default``.

    Raises
    ------
    BackproplabError
        One sentence naming the flag (exit status 2), for text that is not an
        integer >= ``minimum``.

    Examples
    --------
    >>> int_option("--top", "5"), int_option("--top", None, default=3)
    (5, 3)
    """
    if text is None:
        return default
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise BackproplabError(f"{flag} must be {what}, got {text!r}")
    return value


def float_option(flag: str, text: Any, what: str, ok: Callable[[float], bool]) -> float:
    """A command-line number: ``text`` as a float for which ``ok`` holds.

    Parameters
    ----------
    flag : str
        The flag, named in the error.
    text : object
        The value as given (text, or ``None``).
    what : str
        What it must be, for the error (``"a positive number of seconds"``).
    ok : callable
        ``ok(value)`` is true for an acceptable value.

    Returns
    -------
    float

    Raises
    ------
    BackproplabError
        One sentence naming the flag and ``what`` it must be (exit status 2),
        for text that is no number or a number ``ok`` refuses.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not ok(value):
        raise BackproplabError(f"{flag} must be {what}, got {text!r}")
    return value


def cli_message(exc: BaseException) -> str:
    """The message of ``exc`` with its settings named by their flags.

    ``name=value`` becomes ``--name value`` for every training option and
    ``run_training`` argument (``engine='tensor'`` -> ``--engine tensor``,
    ``optimizer='momentum' or 'nesterov'`` -> ``--optimizer momentum or nesterov``,
    ``early_stopping=True`` -> ``--early-stopping``); a bare name becomes its flag
    where the error lists it in ``settings`` (``lr must be ...`` -> ``--lr must be ...``),
    so that the same word used as prose elsewhere is left alone.

    Parameters
    ----------
    exc : BaseException
        The error; anything but a :class:`BackproplabError` keeps its text.

    Returns
    -------
    str
        The sentence the CLI prints after ``backproplab: error:``.
    """
    if not isinstance(exc, BackproplabError):
        return str(exc)
    return cli_text(str(exc), getattr(exc, "settings", ()) or ())


def cli_text(text: str, settings_named: tuple[str, ...] | list[str] = ()) -> str:
    """The text of a :class:`~backproplab.errors.BackproplabError` with its settings
    named by their flags, as :func:`cli_message` does, for an error that arrives as
    text (a failed sweep trial's error, with the ``settings`` the error listed).

    Parameters
    ----------
    text : str
        The library's message.
    settings_named : sequence of str
        The error's ``settings``: bare names of these become flags too.

    Returns
    -------
    str
        The message a command-line user reads.
    """
    bare = set(settings_named)
    assigned = {s.name for s in settings()} | set(RUN_ARGUMENTS) | bare
    return _pattern(assigned, bare).sub(_as_flags, text)


__all__ = ["FLAG_NAMES", "RUN_ARGUMENTS", "HelpFormatter", "add_changed_data_option",
           "add_executor_options",
           "add_training_options", "cli_message",
           "cli_text", "flag", "float_option", "given_options", "help_text", "int_option"]
