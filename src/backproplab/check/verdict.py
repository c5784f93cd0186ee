"""From what a learner's process returned to a verdict: correct, wrong or unusable.

:func:`judge` turns a :class:`~backproplab.check.runner.RawRun` into a
:class:`FileReport`: ``unusable`` (with one sentence and the end of the
learner's traceback) when the file cannot be imported, lacks the functions,
returns the wrong type or shape, raises, or runs past its limits; otherwise
every quantity compared on every probe, ``correct`` when all match and
``wrong`` with the diagnoses when not.
"""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from typing import Any

from backproplab.check import worker
from backproplab.check.compare import (
    QUANTITIES,
    REQUIRED,
    Observation,
    QuantityResult,
    ShapeError,
    fit_shape,
    reference,
    summarize,
)
from backproplab.check.diagnoses import Finding, diagnose
from backproplab.check.probes import LARGE_LOGITS, Probe
from backproplab.check.runner import RawRun

#: Exit status of each verdict.
EXIT_STATUS = {"correct": 0, "wrong": 1, "unusable": 2}
#: Exceptions that, raised on the large-logits probe only, count as an overflow.
OVERFLOW_ERRORS = ("OverflowError", "FloatingPointError", "ZeroDivisionError", "ValueError")
#: How many lines of the learner's traceback a report keeps.
TRACEBACK_LINES = 12


class Unusable(Exception):
    """Raised while judging: the file cannot be checked.

    Parameters
    ----------
    reason : str
        One sentence saying why.
    traceback : str, optional
        The learner's traceback or output, when there is one.
    """

    def __init__(self, reason: str, traceback: str = "") -> None:
        super().__init__(reason)
        self.reason, self.traceback = reason, traceback


@dataclass
class FileReport:
    """The verdict on one file.

    Attributes
    ----------
    file : str
        The file as given.
    status : str
        ``correct``, ``wrong`` or ``unusable``.
    quantities : dict
        Quantity name -> :class:`~backproplab.check.compare.QuantityResult`.
    diagnoses : list of Finding
    reason : str or None
        Why the file is unusable (one sentence).
    traceback : str
        The last lines of the learner's traceback or output, when unusable.
    functions : list of str
        The functions the file defines (of ``forward``, ``backward``, ``backward_batch``).
    """

    file: str
    status: str
    quantities: dict[str, QuantityResult] = field(default_factory=dict)
    diagnoses: list[Finding] = field(default_factory=list)
    reason: str | None = None
    traceback: str = ""
    functions: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """0 correct, 1 wrong, 2 unusable."""
        return EXIT_STATUS[self.status]

    def to_dict(self) -> dict:
        """The JSON object ``check --json`` prints for the file."""
        return {"file": self.file, "status": self.status,
                "quantities": {q: r.to_dict() for q, r in self.quantities.items()},
                "diagnoses": [d.to_dict() for d in self.diagnoses],
                "reason": self.reason, "traceback": self.traceback or None,
                "functions": self.functions}


def _tail(text: str, n: int = TRACEBACK_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _died(raw: RawRun, timeout: float, memory_mb: int) -> str:
    """Why a process gave no answer, in one sentence."""
    if raw.timed_out:
        return (f"it ran past the time limit of {timeout:g} s (an endless loop, or too slow; "
                "raise --timeout if it is only slow)")
    code = raw.returncode or 0
    xcpu = getattr(signal, "SIGXCPU", None)  # POSIX only
    if xcpu is not None and code == -xcpu:
        return f"it used more than {math.ceil(timeout) + 1} s of CPU time (raise --timeout)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return (f"its process was killed by {name} (it may have used more than the memory "
                f"limit of {memory_mb} MiB, --memory)")
    return (f"its process ended with exit status {code} before returning any result (does it "
            "call os._exit or exit at import?)")


def _error_reason(err: dict, what: str, memory_mb: int) -> str:
    kind = err["type"]
    if kind == "SystemExit":
        return f"{what} called sys.exit({err['exit_code']!r}), which ends the check"
    if kind == "MemoryError":
        return f"{what} ran out of memory (the limit is {memory_mb} MiB, --memory)"
    message = f": {err['message']}" if err["message"] else ""
    return f"{what} raised {kind}{message}"


def _observe(call: dict, probe: Probe, memory_mb: int) -> list[Observation]:
    """The observations of one call, or :class:`Unusable`."""
    fn = call["function"]
    where = f"{fn}() on the probe '{probe.name}'"
    if "error" in call:
        err = call["error"]
        if probe.name == LARGE_LOGITS and err["type"] in OVERFLOW_ERRORS:
            return [Observation(q, probe, fn, _nan_like(reference(probe, q)), reference(probe, q),
                                failed=err["type"]) for q in worker.KEYS[fn]]
        raise Unusable(_error_reason(err, where, memory_mb), err["traceback"])
    if "returned" in call:
        raise Unusable(f"{fn}() returned {call['returned']} on the probe '{probe.name}'; it "
                       "must return a mapping (a dict) of named values")
    if fn != "forward":
        missing = [k for k in REQUIRED if k not in call["keys"]]
        if missing:
            raise Unusable(f"the mapping {fn}() returned has no {', '.join(missing)}; it must "
                           f"have {', '.join(REQUIRED)} (it has: "
                           f"{', '.join(call['keys']) or 'nothing'})")
    out = []
    for q, value in call["value"].items():
        ref = reference(probe, q)
        try:
            mine, transposed = fit_shape(value, ref, q)
        except ShapeError as exc:
            raise Unusable(f"{fn}() returned the wrong shape or type on the probe '{probe.name}' "
                           f"(d={len(probe.W)} inputs, m={len(probe.b)} hidden units, "
                           f"C={len(probe.c)} classes): {exc}") from None
        out.append(Observation(q, probe, fn, mine, ref, transposed))
    return out


def _nan_like(v: Any) -> Any:
    return [_nan_like(e) for e in v] if isinstance(v, list) else math.nan


def _usable(raw: RawRun, timeout: float, memory_mb: int) -> list[str]:
    """The functions the file defines, or :class:`Unusable`."""
    data = raw.data
    if data is None:
        raise Unusable(f"the file could not be checked: {_died(raw, timeout, memory_mb)}",
                       _tail(raw.output))
    if "import_error" in data:
        err = data["import_error"]
        if err["type"] == "SyntaxError":
            reason = f"the file cannot be imported: SyntaxError: {err['message']}"
        else:
            reason = _error_reason(err, "importing the file", memory_mb)
        raise Unusable(reason, err["traceback"])
    functions = data.get("functions") or []
    if "backward" not in functions and "backward_batch" not in functions:
        raise Unusable("the file defines neither backward(x, t, W, b, V, c) nor "
                       "backward_batch(X, T, W, b, V, c); `backproplab check --template` "
                       "prints a starting file")
    return functions


def judge(file: str, raw: RawRun, probes: list[Probe], timeout: float,
          memory_mb: int) -> FileReport:
    """The verdict on one file from what its process returned.

    Parameters
    ----------
    file : str
        The file's name as the user gave it (for the report).
    raw : RawRun
        What :func:`~backproplab.check.runner.run_isolated` returned.
    probes : list of Probe
        The probes the file ran on (their payloads, in this order).
    timeout : float
        The wall-clock limit it ran under (for messages).
    memory_mb : int
        The memory limit it ran under (for messages).

    Returns
    -------
    FileReport
    """
    functions: list[str] = []
    try:
        functions = _usable(raw, timeout, memory_mb)
        observed: dict[str, list[Observation]] = {}
        for call in raw.data["calls"]:
            for o in _observe(call, probes[call["probe"]], memory_mb):
                observed.setdefault(o.quantity, []).append(o)
    except Unusable as exc:
        return FileReport(file, "unusable", reason=exc.reason,
                          traceback=_tail(exc.traceback), functions=functions)
    # a call that failed on the large logits stands for the quantities the function returns
    results = {q: summarize(observed[q]) for q in QUANTITIES
               if any(o.failed is None for o in observed.get(q, ()))}
    if all(r.ok for r in results.values()):
        return FileReport(file, "correct", results, functions=functions)
    return FileReport(file, "wrong", results, diagnose(results), functions=functions)


__all__ = ["EXIT_STATUS", "FileReport", "Unusable", "judge"]
