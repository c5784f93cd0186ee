"""``python -m backproplab`` runs the command line."""

from backproplab.commands.interrupt import catch_interrupts, exit_if_interrupted

catch_interrupts()  # first: a Ctrl-C while the rest loads is the command's (one line, 130)
try:
    from backproplab.cli import entry
except BaseException as exc:  # pragma: no cover - timing dependent (tests/faults)
    exit_if_interrupted(exc)
    raise

entry()
