"""The ``backproplab`` command: parses arguments and delegates.

Each subcommand lives in its own module under :mod:`backproplab.commands` and
exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable taking the parsed arguments and returning an exit status. Heavy imports
happen inside those callables so that ``backproplab --help`` stays fast.
"""

from __future__ import annotations

from backproplab import __version__
from backproplab.commands.interrupt import (
    catch_interrupts,
    exit_if_interrupted,
    final_status,
    interrupted,
    report_interrupt,
)

try:  # Ctrl-C while the libraries load: one line and status 130, no traceback
    import argparse
    import importlib
    import os
    import sys
    import warnings

    from backproplab.commands.failures import decode_error_message, os_error_message
    from backproplab.commands.options import HelpFormatter, cli_message
    from backproplab.commands.output import json_stdout
    from backproplab.errors import BackproplabError, BackproplabWarning
except BaseException as exc:  # pragma: no cover - timing dependent (tests/faults)
    exit_if_interrupted(exc)  # (an extension's import may make it an ImportError)
    raise

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "worked_example",
    "train",
    "plot",
    "compare",
    "gradcheck",
    "check",
    "data",
    "sweep",
    "presets",
    "reproduce",
    "bench",
    "predict",
    "evaluate",
    "export",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors print one line and exit with status 2, and help
    keeps flags whole (:class:`~backproplab.commands.options.HelpFormatter`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``backproplab`` argument parser, with every subcommand of :data:`COMMANDS`.

    Returns
    -------
    argparse.ArgumentParser
        Its ``parse_args`` gives a namespace whose ``func(args)`` runs the chosen
        subcommand and returns its exit status.
    """
    parser = _Parser(
        prog="backproplab",
        description="Backpropagation as real software: engines, verification, experiments.",
    )
    parser.add_argument("--version", action="version", version=f"backproplab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"backproplab.commands.{name}").register(sub)
    return parser


_python_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a :class:`BackproplabWarning` as one line (others as Python does)."""
    if issubclass(category, BackproplabWarning):
        print(f"backproplab: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status.

    The one error handler: a :class:`BackproplabError`, an operating-system error
    a user can cause (full or read-only disk, no permission, a path that is a
    file) and a file that is not UTF-8 text print one ``backproplab: error:``
    sentence naming the problem and the fix and return 2; Ctrl-C prints one line
    and returns 130. None prints a traceback.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        0 done, 1 a check failed, 2 bad input (or no command given), 130
        interrupted, 141 stdout closed by its reader.
    """
    _escape_unencodable()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # to run it again
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        # with --json, stdout carries only the command's JSON lines (commands/output.py)
        with warnings.catch_warnings(), json_stdout(bool(getattr(args, "json", False))):
            warnings.showwarning = _show_warning
            status = args.func(args)
    except KeyboardInterrupt:
        return report_interrupt()
    except Exception as exc:  # noqa: BLE001 - after a Ctrl-C any exception is that Ctrl-C
        return _failure(exc)
    return int(status or 0)


def _failure(exc: Exception) -> int:
    """The exit status for an exception :func:`main` caught, after saying what
    went wrong; re-raises one that is not the user's to fix (a bug)."""
    if interrupted():  # e.g. the ImportError of an interrupted NumPy import
        return report_interrupt()
    if isinstance(exc, BackproplabError):
        return _error(cli_message(exc))
    if isinstance(exc, BrokenPipeError):  # the reader of stdout left (`| head`)
        _silence_stdout()
        return 141  # as a shell reports a process ended by SIGPIPE
    if isinstance(exc, OSError):
        return _error(os_error_message(exc))
    if isinstance(exc, UnicodeDecodeError):
        return _error(decode_error_message(exc))
    raise exc


def _escape_unencodable() -> None:
    """Print what stdout's encoding cannot hold (a file name that is not UTF-8, read as
    surrogates; a character outside ``PYTHONIOENCODING``) as ``\\udcff`` escapes, as
    Python's stderr does, instead of failing after the work is done."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _error(sentence: str) -> int:
    print(f"backproplab: error: {sentence}", file=sys.stderr)
    return 2


def entry() -> None:  # pragma: no cover - exercised in subprocesses (tests/faults)
    """The ``backproplab`` console script: :func:`main`, then ``sys.exit`` with its status.

    Ctrl-C is this process's from here on
    (:func:`~backproplab.commands.interrupt.catch_interrupts`; ``python -m
    backproplab`` arranges that before it imports this module): whenever it
    comes, before, in or after :func:`main`, the command prints one line and
    exits with status 130.
    """
    catch_interrupts()
    try:
        status = main()
    except KeyboardInterrupt:
        status = report_interrupt()
    sys.exit(final_status(status))


__all__ = ["COMMANDS", "build_parser", "entry", "main"]


if __name__ == "__main__":  # pragma: no cover
    entry()
