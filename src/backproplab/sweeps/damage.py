"""Damaged trial folders and incomplete results, said out loud.

Aggregation (:mod:`backproplab.sweeps.aggregate`) must not average what it
cannot read or cannot prove whole: :func:`run_damage` says why a trial folder
cannot be aggregated (a damaged ``summary.json``, a log that is not JSON
records, a finished run without epoch records), :func:`completeness_damage`
why a finished run is not exactly one whole run of its config (epochs missing,
repeated or appended, numbers that are not finite, a summary or checkpoint that
disagrees, a config that is not the trial's), and :func:`incomplete_message` turns the trials of a
``results.json`` that did not make it into the results into one line for the
command's stderr.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from backproplab.fileio import is_finite_number
from backproplab.runs import (
    BATCHES,
    CHECKPOINT,
    CONFIG,
    METRICS,
    SUMMARY,
    SWEEP,
    DamagedFile,
    RunFolder,
    SweepFolder,
)

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


def run_damage(run: RunFolder, fix: str = DAMAGE_FIX) -> str | None:
    """Why the files of ``run`` cannot be aggregated, or ``None`` when they can.

    Damage is: a ``summary.json`` that is there but not a JSON object; a log
    line that is not UTF-8 text, not JSON or not a record with a whole-number
    epoch (:func:`backproplab.runs.logs.read_log`, through :class:`RunFolder`);
    and a finished run without any epoch record.

    Parameters
    ----------
    run : RunFolder
        A trial's run folder, or a run folder of its own.
    fix : str, default DAMAGE_FIX
        What the user can do: a trial's (:data:`DAMAGE_FIX`), or for a run of its
        own :data:`backproplab.runs.RERUN_FIX`.

    Returns
    -------
    str or None
        One sentence naming the damaged file and ``fix``, or ``None``.
    """
    if run.summary is None and run.file(SUMMARY).exists():
        return f"{run.file(SUMMARY)} is damaged (not a JSON object); {fix}"
    try:
        epochs, _ = run.epochs, run.batches
    except DamagedFile as exc:
        return str(exc.with_fix(fix))
    if run.finished and not epochs:
        return f"{run.file(METRICS)} holds no epoch record although the run finished; {fix}"
    return None


def trial_damage(folder: SweepFolder, runs: Collection[RunFolder]) -> dict[str, str]:
    """Why the files of each damaged trial of a sweep cannot be aggregated.

    A run is damaged when :func:`run_damage` says so or, finished, when it is
    not provably one whole run of its trial (:func:`completeness_damage`).

    Parameters
    ----------
    folder : SweepFolder
        The sweep folder (its ``sweep.json`` says each trial's values).
    runs : collection of RunFolder
        Its trials' run folders.

    Returns
    -------
    dict of str to str
        Trial name -> one sentence, for the damaged trials only.
    """
    settings = list(folder.settings())
    damage = {}
    for run in runs:
        why = run_damage(run)
        if why is None and run.finished:
            why = completeness_damage(run, folder.values(run.name, settings)
                                      if folder.listed else None)
        if why is not None:
            damage[run.name] = why
    return damage


#: The numbers of every epoch record that aggregation averages: each must be finite.
CORE_METRICS = ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy")
#: Other numbers of an epoch record: finite when present (``null`` allowed).
OTHER_NUMBERS = ("train_seconds", "eval_seconds", "lr", "train_loss_running", "steps")


def _whole(value: Any) -> bool:
    return is_finite_number(value) and value == int(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (tuples and lists alike, keys in any order)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _epochs_damage(run: RunFolder, n: int) -> str | None:
    """Why the epoch records of a finished run of ``n`` epochs are not exactly
    epochs 1..n, once each, with finite numbers."""
    found = [r["epoch"] for r in run.epochs]
    if found != list(range(1, n + 1)):
        shown = ",".join(map(str, found[:8])) + (",..." if len(found) > 8 else "")
        return (f"{run.file(METRICS)} holds epochs [{shown}], not exactly epochs 1 to {n} "
                "once each")
    for row in run.epochs:
        bad = [k for k in CORE_METRICS if not is_finite_number(row.get(k))]
        bad += [k for k in OTHER_NUMBERS if row.get(k) is not None
                and not is_finite_number(row.get(k))]
        if bad:
            return (f"{run.file(METRICS)} epoch {row['epoch']} has no finite number for "
                    f"{', '.join(bad)}")
    return None


def _steps_damage(run: RunFolder, steps: Any) -> str | None:
    """Why the step records do not cover steps 1..``steps`` once each with a finite loss."""
    if not _whole(steps):
        return None  # an older summary without the step count
    found = [r["step"] for r in run.batches]
    if found != list(range(1, int(steps) + 1)):
        return f"{run.file(BATCHES)} does not hold exactly steps 1 to {int(steps)} once each"
    bad = next((r["step"] for r in run.batches if not is_finite_number(r.get("loss"))), None)
    if bad is not None:
        return f"{run.file(BATCHES)} step {bad} has no finite loss"
    return None


def _summary_damage(run: RunFolder) -> str | None:
    """Why ``summary.json`` does not agree with the run's config and epoch records."""
    summary, config = run.summary or {}, run.config
    n, planned = summary.get("epochs"), config.get("epochs", summary.get("epochs"))
    if not _whole(n) or not _whole(planned) or not 1 <= n <= planned:
        return f"{run.file(SUMMARY)} says {n!r} epochs for a run of {planned!r} epochs"
    if summary.get("stopped_reason", "epochs") == "epochs" and n != planned:
        return f"{run.file(SUMMARY)} says {n} epochs, but the run was to train {planned}"
    if (why := _epochs_damage(run, int(n))) is not None:
        return why
    shown = summary.get("restored_epoch") or n
    row = next((r for r in run.epochs if r["epoch"] == shown), {})
    differ = [k for k in CORE_METRICS if summary.get(k) != row.get(k)]
    if differ or not _same(summary.get("steps"), run.epochs[-1].get("steps", summary.get("steps"))):
        return (f"{run.file(SUMMARY)} disagrees with epoch {shown} of {run.file(METRICS)} "
                f"({', '.join(differ) or 'steps'})")
    return _steps_damage(run, summary.get("steps"))


def completeness_damage(run: RunFolder, expected: Mapping[str, Any] | None = None) -> str | None:
    """Why a finished run is not provably one whole run of its config, or ``None``.

    A finished trial counts only when its metrics cover exactly epochs 1..N (N
    the summary's epochs: the config's, or fewer when early stopping or the
    schedule stopped it), once each, with finite numbers; its step log covers
    steps 1..S with finite losses; its summary agrees with those records; its
    checkpoint is of epoch N (and step S); and its config has the values
    ``sweep.json`` lists for the trial.

    Parameters
    ----------
    run : RunFolder
        A finished run (a readable config and summary).
    expected : mapping, optional
        The trial's values (settings and seed) as ``sweep.json`` lists them.

    Returns
    -------
    str or None
        The reason, naming the file and the fix (:data:`DAMAGE_FIX`).
    """
    try:
        why = _summary_damage(run)
        extra = run.checkpoint_extra() if why is None else None
    except DamagedFile as exc:
        return str(exc.with_fix(DAMAGE_FIX))
    summary = run.summary or {}
    if why is None and extra is not None and (not _same(extra.get("epoch"), summary.get("epochs")) or (
            _whole(summary.get("steps")) and not _same(extra.get("steps"), summary.get("steps")))):
        why = (f"{run.file(CHECKPOINT)} is of epoch {extra.get('epoch')!r} (step "
               f"{extra.get('steps')!r}), not the summary's epoch {summary.get('epochs')!r}")
    differ = [k for k, v in (expected or {}).items() if not _same(run.config.get(k), v)]
    if why is None and differ:
        why = (f"{run.file(CONFIG)} has other values than {SWEEP} lists for this trial "
               f"({', '.join(differ)}): it is another run")
    return None if why is None else f"{why}; {DAMAGE_FIX}"


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


__all__ = ["CORE_METRICS", "DAMAGE_FIX", "OTHER_NUMBERS", "completeness_damage", "config_damage",
           "incomplete_message", "run_damage", "trial_damage"]
