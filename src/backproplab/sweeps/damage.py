"""Damaged trial folders and incomplete results, said out loud.

Aggregation (:mod:`backproplab.sweeps.aggregate`) must not average what it
cannot read: :func:`run_damage` says why a trial folder cannot be aggregated
(a damaged ``summary.json``, a log that is not JSON records, a finished run
without epoch records), and :func:`incomplete_message` turns the trials of a
``results.json`` that did not make it into the results into one line for the
command's stderr.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from backproplab.runs import CONFIG, METRICS, SUMMARY, DamagedFile, RunFolder

#: What to do about a damaged trial folder.
DAMAGE_FIX = "delete the trial folder and run the sweep again"


def config_damage(run: RunFolder) -> str | None:
    """Why a trial folder that is not a readable run cannot be one.

    Parameters
    ----------
    run : RunFolder
        The trial folder.

    Returns
    -------
    str or None
        A sentence when its ``config.json`` is there but not a JSON object;
        ``None`` when it has none (the trial has not started).
    """
    if run.file(CONFIG).exists():
        return f"{run.file(CONFIG)} is damaged (not a JSON object); {DAMAGE_FIX}"
    return None


def run_damage(run: RunFolder) -> str | None:
    """Why the files of ``run`` cannot be aggregated, or ``None`` when they can.

    Damage is: a ``summary.json`` that is there but not a JSON object; a log
    line that is not UTF-8 text, not JSON or not a record with a whole-number
    epoch (:func:`backproplab.runs.logs.read_log`, through :class:`RunFolder`);
    and a finished run without any epoch record.

    Parameters
    ----------
    run : RunFolder
        A trial's run folder.

    Returns
    -------
    str or None
        One sentence naming the damaged file and the fix
        (:data:`DAMAGE_FIX`), or ``None``.
    """
    if run.summary is None and run.file(SUMMARY).exists():
        return f"{run.file(SUMMARY)} is damaged (not a JSON object); {DAMAGE_FIX}"
    try:
        epochs, _ = run.epochs, run.batches
    except DamagedFile as exc:
        return str(exc.with_fix(DAMAGE_FIX))
    if run.finished and not epochs:
        return f"{run.file(METRICS)} holds no epoch record although the run finished; {DAMAGE_FIX}"
    return None


def _incomplete_trials(results: Mapping[str, Any],
                      skip: Collection[str] = ()) -> list[dict[str, Any]]:
    """The trials of ``results`` (a ``results.json``) that were not aggregated,
    except those named in ``skip``."""
    return [t for t in results.get("trials", [])
            if t.get("status") != "ok" and t.get("name") not in skip]


def incomplete_message(results: Mapping[str, Any], skip: Collection[str] = ()) -> str | None:
    """One line naming the trials missing from ``results`` and why.

    Parameters
    ----------
    results : Mapping
        A sweep's aggregate (``results.json``'s content), with its ``trials``.
    skip : collection of str, default ()
        Names of trials to leave out (already reported).

    Returns
    -------
    str or None
        ``"results are incomplete: ..."`` with each missing trial's status and
        error, or ``None`` when every other trial was aggregated.
    """
    missing = _incomplete_trials(results, skip)
    if not missing:
        return None
    parts = [f"{t['name']} ({t['status']}" + (f": {t['error']})" if t.get("error") else ")")
             for t in missing]
    return (f"results are incomplete: {len(missing)} of {len(results['trials'])} trial(s) "
            f"not aggregated: " + "; ".join(parts))


__all__ = ["DAMAGE_FIX", "config_damage", "incomplete_message", "run_damage"]
