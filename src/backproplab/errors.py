"""The project's exception for errors a user can cause.

Every problem that a user can fix (a bad option, a missing or corrupt file, a
diverging run) raises :class:`BackproplabError` with one sentence that names the
problem and the fix. The command line prints that sentence and exits with
status 2, without a traceback.

Messages name settings as Python code does: ``lr``, ``batch_size``,
``engine='tensor'``, ``early_stopping=True`` (the names of
:class:`backproplab.training.TrainConfig` and of ``run_training``'s arguments).
An error that is about particular settings lists them in :attr:`settings`; the
command line turns those names into its flags (``--lr``, ``--batch-size``,
``--engine tensor``), so that each audience reads the names it typed.
"""

from __future__ import annotations

import importlib


class BackproplabError(Exception):
    """An error caused by input the user controls; the message says how to fix it.

    Parameters
    ----------
    message : str
        One sentence naming the problem and the fix.
    settings : tuple of str, optional
        The settings the message is about, by their Python names (``"lr"``,
        ``"batch_size"``). Each one appearing in the message as a word is a
        setting, not prose, so the command line may replace it by its flag.
    """

    def __init__(self, *args, settings: tuple[str, ...] | list[str] = ()):
        super().__init__(*args)
        self.settings: tuple[str, ...] = tuple(settings)


class DivergenceError(BackproplabError):
    """Training produced a non-finite loss or weight.

    Raised by the training loop's divergence guard; constructed as
    :class:`BackproplabError`.
    """


class BackproplabWarning(UserWarning):
    """Something the user should know that does not stop the work (data that
    differ from the published files, say); the command line prints it as one
    ``backproplab: warning: ...`` line."""


def choose_from(name: str, choices) -> str:
    """The fix of a bad name, as Python writes it: ``"optimizer='sgd', 'adam' or 'momentum'"``.

    Parameters
    ----------
    name : str
        The setting, e.g. ``"optimizer"``.
    choices : iterable of str
        The names it accepts.

    Returns
    -------
    str
        ``name=`` followed by the quoted choices (the command line turns it into
        ``--name sgd, adam or momentum``).
    """
    quoted = [repr(c) for c in choices]
    listed = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
    return f"{name}={listed}"


def import_optional(module: str, *, package: str, extra: str, needed_by: str,
                    otherwise: str | None = None):
    """Import an optional dependency, or raise the one sentence that names its extra.

    Parameters
    ----------
    module : str
        The module to import (``"pandas"``, ``"PIL.Image"``).
    package : str
        What the user installs, as the sentence names it (``"pandas"``, ``"Pillow"``).
    extra : str
        The ``backproplab`` extra that brings it.
    needed_by : str
        What needs it (``"reading images"``, ``"tensorboard=True"``).
    otherwise : str, optional
        The way to do without it, appended as ``or ...``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    BackproplabError
        When ``module`` cannot be imported.

    Examples
    --------
    >>> import_optional("json", package="json", extra="none", needed_by="this").__name__
    'json'
    """
    try:  # the top package first: a submodule imported before is cached on its own
        importlib.import_module(module.partition(".")[0])
        return importlib.import_module(module)
    except ImportError:
        raise BackproplabError(
            f"{needed_by} needs {package}, which is not installed; install it with "
            f'pip install "backproplab[{extra}]"'
            + (f" or {otherwise}" if otherwise else "")) from None


__all__ = ["BackproplabError", "BackproplabWarning", "DivergenceError", "choose_from",
           "import_optional"]
