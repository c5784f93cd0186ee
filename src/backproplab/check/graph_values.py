"""What the computation graph of ``check FILE --graph OUT`` shows: the reference on one
probe, the learner's values on it, and which of them differ.

The drawing itself is :mod:`backproplab.graph`'s; this module only picks the
probe (the first single-example probe on which something is wrong, else the
study's Q3 network) and reads the learner's values on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backproplab.check.compare import ShapeError, close, fit_shape
from backproplab.check.probes import Probe
from backproplab.check.runner import RawRun
from backproplab.check.verdict import FileReport


def _pick_probe(report: FileReport, probes: list[Probe]) -> int:
    """The probe the graph shows: the first single-example one on which something is wrong.

    Parameters
    ----------
    report : FileReport
    probes : list of Probe
        The probes the file ran on, in order.

    Returns
    -------
    int
        Its index in ``probes`` (0, the study's Q3 network, when nothing is wrong).
    """
    index = {p.name: i for i, p in enumerate(probes)}
    wrong = [index[o.probe.name] for r in report.quantities.values() for o in r.observations
             if not o.ok and not o.probe.batch]
    return min(wrong, default=0)


def learner_graph(report: FileReport, raw: RawRun, probes: list[Probe]
                  ) -> tuple[dict, dict | None, Callable[[str, tuple], bool]]:
    """The reference values, the learner's values and a ``differs`` test for the graph.

    Parameters
    ----------
    report : FileReport
        The file's verdict (not unusable).
    raw : RawRun
        What the file's process returned.
    probes : list of Probe
        The probes the file ran on, in order.

    Returns
    -------
    (values, theirs, differs)
        ``values``: the probe's reference (its network, ``k, h, ...``, the
        gradients, and ``probe``, its name); ``theirs``: the learner's values by
        name, or ``None`` when it returned none on that probe;
        ``differs(name, index)``: whether that entry of the learner's differs.
    """
    i = _pick_probe(report, probes)
    values = {**probes[i].examples[0], "probe": probes[i].name}
    theirs: dict[str, Any] = {}
    for call in (raw.data or {}).get("calls", ()):
        if call["probe"] == i and call.get("value"):
            for q, v in call["value"].items():
                try:
                    theirs[q] = fit_shape(v, values[q], q)[0]
                except ShapeError:
                    continue

    def differs(name: str, index: tuple) -> bool:
        if name not in theirs:
            return False
        mine, ref = theirs[name], values[name]
        for j in index:
            mine, ref = mine[j], ref[j]
        return not close(mine, ref)

    return values, (theirs or None), differs


__all__ = ["learner_graph"]
