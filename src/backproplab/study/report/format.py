"""Number formatting for the report, reading the aggregated statistics, and the
tests behind every comparative sentence.

An aggregate statistic is ``{"mean", "std", "n", "ci95"}`` (see
:mod:`backproplab.sweeps.aggregate`); a group is one configuration of a preset's
``results.json`` with its per-epoch rows and its last-epoch ``final`` row (with
each seed's value). A comparison is an entry of ``results.json``'s
``comparisons`` or of :func:`backproplab.sweeps.stats.compare_groups`, written
out by :func:`backproplab.sweeps.stats.describe`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from backproplab.sweeps.stats import (
    compare_groups,
    describe,
    one_sample_test,
    seeds_needed_against,
)


def fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}f}"
    return str(x)


def pm(stat: Mapping | None, digits: int = 4, n: bool = True) -> str:
    """``mean ± std (n=k)`` from an aggregate statistic ``{"mean", "std", "n"}``."""
    if not stat or stat.get("mean") is None:
        return "-"
    text = fmt(stat["mean"], digits)
    if stat.get("std") is not None:
        text += f" ± {fmt(stat['std'], digits)}"
    if n and stat.get("n"):
        text += f" (n={stat['n']})"
    return text


def sci(x: Any) -> str:
    return "-" if x is None else f"{x:.1e}"


def vec(v: Sequence[float], digits: int = 6) -> str:
    return "[" + ", ".join(f"{x + 0.0:.{digits}g}" for x in v) + "]"  # + 0.0: no "-0"


def final_stat(group: Mapping, metric: str) -> dict | None:
    return (group.get("final") or {}).get(metric)


def epoch_stat(group: Mapping, epoch: int, metric: str) -> dict | None:
    for row in group.get("epochs", []):
        if row.get("epoch") == epoch:
            return row.get(metric)
    return None


def last_epoch(group: Mapping) -> int | None:
    epochs = [row.get("epoch") for row in group.get("epochs", [])]
    return max(epochs) if epochs else None


def first_epoch_reaching(group: Mapping, metric: str, value: float) -> int | None:
    for row in group.get("epochs", []):
        stat = row.get(metric) or {}
        if stat.get("mean") is not None and stat["mean"] >= value:
            return row["epoch"]
    return None


def final_values(group: Mapping | None, metric: str) -> list[float]:
    """Each seed's last-epoch ``metric`` in ``group`` (an empty list without it)."""
    return [v for v in ((final_stat(group or {}, metric) or {}).get("values") or [])
            if v is not None]


def oriented(c: Mapping[str, Any], a: str) -> dict[str, Any]:
    """Comparison ``c`` written as ``a`` minus the other group (its sign and
    interval flipped when ``a`` is its ``b``)."""
    if c["a"] == a:
        return dict(c)
    ci = c.get("ci95")
    return {**c, "a": c["b"], "b": c["a"], "mean_a": c.get("mean_b"), "mean_b": c.get("mean_a"),
            "n_a": c.get("n_b"), "n_b": c.get("n_a"),
            "difference": None if c.get("difference") is None else -c["difference"],
            "ci95": None if ci is None else [-ci[1], -ci[0]]}


def find_comparison(results: Mapping | None, metric: str, a: str, b: str) -> dict | None:
    """The comparison of groups ``a`` and ``b`` (labels) on ``metric`` in a
    preset's ``results.json``, as ``a`` minus ``b``; ``None`` if there is none."""
    for c in (results or {}).get("comparisons") or []:
        if c["metric"] == metric and {c["a"], c["b"]} == {a, b}:
            return oriented(c, a)
    return None


def single_test(a: Sequence[float], b: Sequence[float], label_a: str, label_b: str,
                metric: str = "eval_accuracy") -> dict[str, Any]:
    """One Welch test of ``a`` against ``b`` (per-seed values), a comparison
    entry without ``p_adjusted`` (nothing to adjust for)."""
    (c,) = compare_groups({label_a: a, label_b: b}, metric)
    return {k: v for k, v in c.items() if k != "p_adjusted"}


def versus(a: Sequence[float], b: Sequence[float], label_a: str, label_b: str,
           metric: str = "eval_accuracy") -> str:
    """:func:`single_test` as a sentence fragment:
    ``label_a - label_b = d (95% CI ...; Welch t-test p = ...)``."""
    return describe(single_test(a, b, label_a, label_b, metric))


def against(values: Sequence[float], reference: float, label: str, ref_label: str) -> str:
    """A one-sample t-test of per-seed ``values`` against a fixed ``reference``
    (a single published number) as a sentence fragment."""
    r = one_sample_test(values, reference)
    needed, why = seeds_needed_against(values, reference)
    note = r.note and f"p-value and interval: {r.note}"
    return describe({"a": label, "b": ref_label, "difference": r.difference,
                     "ci95": r.ci95, "p_value": r.p_value, "test": r.test,
                     "seeds_needed": needed, "n_a": r.n[0], "n_b": r.n[0],
                     "note": note or (why and f"seeds needed: {why}")})


__all__ = ["against", "epoch_stat", "final_stat", "final_values", "find_comparison",
           "first_epoch_reaching", "fmt", "last_epoch", "oriented", "pm", "sci", "single_test",
           "vec", "versus"]
