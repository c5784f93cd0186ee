"""What ``--json`` means for every command: stdout carries only JSON.

With ``--json`` a command's stdout holds nothing but JSON objects, one per line
(``backproplab train ... --json | jq .`` works); its progress lines and human
tables go to stderr. :func:`json_stdout` gives that guarantee in one place (the
command line runs every command inside it): while it is active, anything
printed to ``sys.stdout`` goes to stderr instead, and :func:`print_json` is the
one way to reach the real stdout.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from backproplab.errors import BackproplabError

#: The real stdouts of the active :func:`json_stdout` blocks (innermost last).
_JSON_STREAMS: list[IO[str]] = []


@contextlib.contextmanager
def json_stdout(enabled: bool) -> Iterator[None]:
    """Keep stdout for :func:`print_json` alone while the block runs.

    Parameters
    ----------
    enabled : bool
        The command's ``--json`` flag. When false the block runs unchanged
        (results and tables on stdout, progress on stderr).

    Yields
    ------
    None
        Inside the block, ``print`` goes to stderr and :func:`print_json`
        to the real stdout.
    """
    if not enabled:
        yield
        return
    _JSON_STREAMS.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_STREAMS.pop()


def print_json(obj: Any) -> None:
    """Print ``obj`` as one JSON line on stdout (the real one inside :func:`json_stdout`).

    Parameters
    ----------
    obj : Any
        A JSON-serialisable object (a command's result).
    """
    stream = _JSON_STREAMS[-1] if _JSON_STREAMS else sys.stdout
    print(json.dumps(obj), file=stream, flush=True)


def rich_console(width: int | None = None, **options):
    """A ``rich.console.Console`` for a command's tables (on stdout, unless ``stderr=True``).

    Parameters
    ----------
    width : int, optional
        Columns; by default the terminal's width, or 200 off a terminal (rich
        would assume 80 and wrap the tables).
    **options
        More arguments of ``rich.console.Console`` (``stderr``, ``markup`` ...).

    Returns
    -------
    rich.console.Console
        A reader that left (``| head``) raises ``BrokenPipeError``, which the
        command line ends with status 141, where rich would exit with status 1
        (a failed check, for ``sweep``).
    """
    from rich.console import Console

    console = Console(width=width, **options)
    if width is None and not console.is_terminal:
        console.width = 200
    console.on_broken_pipe = _reader_left
    return console


def _reader_left() -> None:
    raise BrokenPipeError(errno.EPIPE, "the reader of stdout left")


def check_out_file(path: str | os.PathLike, flag: str) -> None:
    """Refuse, before any work, an output file that could not be written at the end.

    Parameters
    ----------
    path : str or os.PathLike
        The file a command will write (its folder is created if missing).
    flag : str
        The option that names it (``--csv``), for the sentence.

    Raises
    ------
    BackproplabError
        When ``path`` is a folder, or the nearest existing folder above it is a
        file or cannot be written.
    """
    target = Path(path)
    if target.is_dir():
        raise BackproplabError(f"{flag} {path} is a folder; give a file name, e.g. "
                               f"{flag} {target / ('out' + (target.suffix or '.txt'))}")
    above = target.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise BackproplabError(f"{flag} {path} cannot be written: {above} is a file; give a "
                               "path in a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise BackproplabError(f"{flag} {path} cannot be written: {above} is not writable; "
                               "give a path in a folder you can write")


def stderr_note(where: str) -> Callable[[str], None]:
    """A ``log`` callback for library functions: each line printed on stderr as
    ``backproplab: WHERE: line``.

    Parameters
    ----------
    where : str
        What the lines are about (a path as the user gave it).

    Returns
    -------
    callable
        Takes one line.
    """
    return lambda line: print(f"backproplab: {where}: {line}", file=sys.stderr)


__all__ = ["check_out_file", "json_stdout", "print_json", "rich_console", "stderr_note"]
