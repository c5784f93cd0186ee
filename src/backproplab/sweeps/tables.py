"""A sweep's results as the tables the commands print (rich tables on the terminal).

:func:`results_table`: one row per group, the final epoch's mean ± std;
:func:`comparisons_table`: one row per pair of groups, with the test's verdict.
Both read the aggregate :func:`backproplab.sweeps.aggregate.aggregate_runs`
returns (``results.json``'s content); ``rich`` is imported when a table is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backproplab.sweeps.aggregate import format_cell
from backproplab.sweeps.stats import TEST_NAMES


def _pm(stat: Mapping[str, Any] | None, digits: int = 4) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("std") is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def results_table(results: Mapping[str, Any], title: str = "sweep results"):
    """A rich table of a sweep's results: one row per group, the final epoch's mean ± std.

    Parameters
    ----------
    results : Mapping
        A sweep's aggregate (``results.json``'s content, as
        :func:`~backproplab.sweeps.aggregate.aggregate_runs` returns it).
    title : str, default "sweep results"
        What the rows are; the table's title adds "(final epoch)".

    Returns
    -------
    rich.table.Table
        Columns: the varying options (or the group's label), seeds, epochs,
        train and evaluation loss and accuracy, and seconds per run.
    """
    from rich.table import Table

    split = results.get("eval_split") or "eval"
    table = Table(title=f"{title} (final epoch)",
                  caption="mean ± sample std (ddof=1) across seeds")
    varying = list(results["varying"]) or ["group"]
    for key in varying:
        table.add_column(key)
    for name in ("seeds", "epochs", "train loss", f"{split} loss", "train acc",
                 f"{split} acc", "s/run"):
        table.add_column(name, justify="right")
    for group in results["groups"]:
        final = group["final"]
        keys = ([format_cell(group["values"].get(k)) for k in results["varying"]]
                if results["varying"] else [group["label"]])
        epochs = ",".join(map(str, final.get("epochs", []))) or "-"
        table.add_row(*keys, str(group["n"]), epochs, _pm(final.get("train_loss")),
                      _pm(final.get("eval_loss")), _pm(final.get("train_accuracy")),
                      _pm(final.get("eval_accuracy")), _pm(final.get("seconds"), 1))
    return table


def _p_cell(p: float | None) -> str:
    return "-" if p is None else (f"{p:.3g}" if p >= 0.001 else f"{p:.1e}")


def comparisons_table(results: Mapping[str, Any], metric: str = "eval_accuracy"):
    """A rich table of ``results["comparisons"]`` on ``metric``.

    One row per pair of groups: the difference with its 95% interval, the raw
    and Holm-adjusted p-values, the verdict and the seeds per group a decision
    would need; a cell without a number shows ``-``, and the caption says why
    (each entry's ``note``, each reason once).

    Parameters
    ----------
    results : Mapping
        A sweep's aggregate (``results.json``'s content).
    metric : str, default "eval_accuracy"
        The compared metric whose rows are shown.

    Returns
    -------
    rich.table.Table
    """
    from rich.table import Table

    split = results.get("eval_split") or "eval"
    rows = [c for c in results.get("comparisons") or [] if c["metric"] == metric]
    name = metric.replace("eval_", f"{split} ").replace("accuracy", "acc")
    test = rows[0]["test"] if rows else results.get("test", "welch")
    # why a cell holds no number (too few seeds, no spread ...), each reason once
    why = "".join(f"\n'-': {note}" for note in dict.fromkeys(c["note"] for c in rows
                                                            if c.get("note")))
    table = Table(title=f"{name}: every pair of groups ({TEST_NAMES.get(test, test)}, "
                        f"Holm-adjusted)",
                  caption="a - b with its 95% interval; significant: adjusted p < 0.05; "
                          "seeds needed: per group for 80% power at the observed spread" + why)
    for col in ("a", "b", "a - b", "95% CI", "p", "p (Holm)", "significant", "seeds needed"):
        table.add_column(col, justify="left" if col in ("a", "b") else "right")
    for c in rows:
        ci = "-" if c["ci95"] is None else f"[{c['ci95'][0]:.4f}, {c['ci95'][1]:.4f}]"
        verdict = {True: "yes", False: "no", None: "-"}[c["significant"]]
        needed = "-" if c["seeds_needed"] is None else str(c["seeds_needed"])
        table.add_row(c["a"], c["b"], "-" if c["difference"] is None
                      else f"{c['difference']:+.4f}", ci, _p_cell(c["p_value"]),
                      _p_cell(c["p_adjusted"]), verdict, needed)
    return table


__all__ = ["comparisons_table", "results_table"]
