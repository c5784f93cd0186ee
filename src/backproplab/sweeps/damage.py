"""Damaged trial folders and incomplete results, said out loud.

Aggregation (:mod:`backproplab.sweeps.aggregate`) must not average what it
cannot read: :func:`run_damage` says why a trial folder cannot be aggregated
(a damaged ``summary.json``, a log that is not JSON records, a finished run
whose logs lost lines), and :func:`incomplete_message` turns the trials of a
``results.json`` that did not make it into the results into one line for the
command's stderr.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import read_jsonl
from backproplab.runs import BATCHES, CONFIG, METRICS, SUMMARY, RunFolder

#: What to do about a damaged trial folder.
DAMAGE_FIX = "delete the trial folder and run the sweep again"


def _lines(path: Path) -> int:
    """Non-blank lines of a log file (0 when it is missing)."""
    if not path.is_file():
        return 0
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def config_damage(run: RunFolder) -> str | None:
    """Why a trial folder that is not a readable run cannot be one: its
    ``config.json`` is there but not a JSON object; ``None`` when it has none (the
    trial has not started)."""
    if run.file(CONFIG).exists():
        return f"{run.file(CONFIG)} is damaged (not a JSON object); {DAMAGE_FIX}"
    return None


def run_damage(run: RunFolder) -> str | None:
    """Why the files of ``run`` cannot be aggregated, or ``None`` when they can.

    Damage is: a ``summary.json`` that is there but not a JSON object; a log
    line that is not a record with a whole-number epoch (what
    :class:`RunFolder` refuses); and, for a finished run, a log line that is not
    JSON at all (the reader skips those, as a crash may tear a last line, but
    a finished run's logs are written whole) or no epoch record at all.
    """
    if run.summary is None and run.file(SUMMARY).exists():
        return f"{run.file(SUMMARY)} is damaged (not a JSON object); {DAMAGE_FIX}"
    try:
        epochs, batches = run.epochs, run.batches
    except BackproplabError as exc:
        return str(exc)
    if not run.finished:
        return None
    metrics = run.file(METRICS)
    if metrics.is_file() and len(read_jsonl(metrics)) < _lines(metrics):
        return f"{metrics} is damaged (a line is not JSON); {DAMAGE_FIX}"
    if len(epochs) + len(batches) < _lines(metrics) + _lines(run.file(BATCHES)):
        return f"{run.file(BATCHES)} is damaged (a line is not JSON); {DAMAGE_FIX}"
    if not epochs:
        return f"{metrics} holds no epoch record although the run finished; {DAMAGE_FIX}"
    return None


def incomplete_trials(results: Mapping[str, Any],
                      skip: Collection[str] = ()) -> list[dict[str, Any]]:
    """The trials of ``results`` (a ``results.json``) that were not aggregated,
    except those named in ``skip``."""
    return [t for t in results.get("trials", [])
            if t.get("status") != "ok" and t.get("name") not in skip]


def incomplete_message(results: Mapping[str, Any], skip: Collection[str] = ()) -> str | None:
    """One line naming the trials missing from ``results`` and why (those in
    ``skip`` left out: already reported); ``None`` when there are none."""
    missing = incomplete_trials(results, skip)
    if not missing:
        return None
    parts = [f"{t['name']} ({t['status']}" + (f": {t['error']})" if t.get("error") else ")")
             for t in missing]
    return (f"results are incomplete: {len(missing)} of {len(results['trials'])} trial(s) "
            f"not aggregated: " + "; ".join(parts))


__all__ = ["DAMAGE_FIX", "config_damage", "incomplete_message", "incomplete_trials",
           "run_damage"]
