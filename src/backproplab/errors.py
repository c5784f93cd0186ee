"""The project's exception for errors a user can cause.

Every problem that a user can fix (a bad option, a missing or corrupt file, a
diverging run) raises :class:`BackproplabError` with one sentence that names the
problem and the fix. The command line prints that sentence and exits with
status 2, without a traceback.
"""


class BackproplabError(Exception):
    """An error caused by input the user controls; the message says how to fix it."""


class DivergenceError(BackproplabError):
    """Training produced a non-finite loss or weight."""


class BackproplabWarning(UserWarning):
    """Something the user should know that does not stop the work (data that
    differ from the published files, say); the command line prints it as one
    ``backproplab: warning: ...`` line."""
