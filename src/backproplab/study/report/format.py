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
    """A number with ``digits`` decimals, ``"-"`` for a missing or non-finite one.

    Parameters
    ----------
    x : float, int, None or any
        The value; anything that is not a number is written with ``str``.
    digits : int, default 4
        Decimals after the point.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt(0.91234), fmt(2, 1), fmt(None), fmt(float("nan")), fmt("n/a")
    ('0.9123', '2.0', '-', '-', 'n/a')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}f}"
    return str(x)


def pm(stat: Mapping | None, digits: int = 4, n: bool = True) -> str:
    """``mean ± std (n=k)`` from an aggregate statistic ``{"mean", "std", "n"}``.

    Parameters
    ----------
    stat : mapping or None
        The statistic; ``std`` and ``n`` may be missing or ``None``.
    digits : int, default 4
        Decimals of the mean and the standard deviation.
    n : bool, default True
        Whether to add ``(n=k)``.

    Returns
    -------
    str
        ``"-"`` when there is no mean.

    Examples
    --------
    >>> pm({"mean": 0.9, "std": 0.01, "n": 3})
    '0.9000 ± 0.0100 (n=3)'
    >>> pm({"mean": 0.9, "std": None}, digits=2), pm(None)
    ('0.90', '-')
    """
    if not stat or stat.get("mean") is None:
        return "-"
    text = fmt(stat["mean"], digits)
    if stat.get("std") is not None:
        text += f" ± {fmt(stat['std'], digits)}"
    if n and stat.get("n"):
        text += f" (n={stat['n']})"
    return text


def sci(x: Any) -> str:
    """A number in scientific notation with one decimal, ``"-"`` for ``None``.

    Parameters
    ----------
    x : float or None

    Returns
    -------
    str

    Examples
    --------
    >>> sci(0.000123), sci(None)
    ('1.2e-04', '-')
    """
    return "-" if x is None else f"{x:.1e}"


def vec(v: Sequence[float], digits: int = 6) -> str:
    """A vector as ``[a, b, ...]`` with ``digits`` significant digits (no ``-0``).

    Parameters
    ----------
    v : sequence of float
    digits : int, default 6
        Significant digits of each entry.

    Returns
    -------
    str

    Examples
    --------
    >>> vec([0.5, -0.0, 1 / 3], digits=3)
    '[0.5, 0, 0.333]'
    """
    return "[" + ", ".join(f"{x + 0.0:.{digits}g}" for x in v) + "]"  # + 0.0: no "-0"


def final_stat(group: Mapping, metric: str) -> dict | None:
    """The last-epoch statistic ``metric`` of a result group.

    Parameters
    ----------
    group : mapping
        One configuration of a preset's ``results.json``.
    metric : str
        A metric name, e.g. ``"eval_accuracy"``.

    Returns
    -------
    dict or None
        ``{"mean", "std", "n"}``, or ``None`` when the group has no such value.
    """
    return (group.get("final") or {}).get(metric)


def epoch_stat(group: Mapping, epoch: int, metric: str) -> dict | None:
    """The statistic ``metric`` of a result group at ``epoch``.

    Parameters
    ----------
    group : mapping
        One configuration of a preset's ``results.json``.
    epoch : int
        The epoch, from 1.
    metric : str
        A metric name, e.g. ``"train_loss"``.

    Returns
    -------
    dict or None
        ``{"mean", "std", "n"}``, or ``None`` when that epoch or metric is missing.
    """
    for row in group.get("epochs", []):
        if row.get("epoch") == epoch:
            return row.get(metric)
    return None


def last_epoch(group: Mapping) -> int | None:
    """The last epoch a result group has a row for.

    Parameters
    ----------
    group : mapping
        One configuration of a preset's ``results.json``.

    Returns
    -------
    int or None
        ``None`` when it has no epoch rows.
    """
    epochs = [row.get("epoch") for row in group.get("epochs", [])]
    return max(epochs) if epochs else None


def first_epoch_reaching(group: Mapping, metric: str, value: float) -> int | None:
    """The first epoch at which the mean of ``metric`` is at least ``value``.

    Parameters
    ----------
    group : mapping
        One configuration of a preset's ``results.json``.
    metric : str
        A metric name, e.g. ``"eval_accuracy"``.
    value : float
        The threshold.

    Returns
    -------
    int or None
        ``None`` when no epoch reaches it.
    """
    for row in group.get("epochs", []):
        stat = row.get(metric) or {}
        if stat.get("mean") is not None and stat["mean"] >= value:
            return row["epoch"]
    return None


def final_values(group: Mapping | None, metric: str) -> list[float]:
    """Each seed's last-epoch ``metric`` in ``group``.

    Parameters
    ----------
    group : mapping or None
        One configuration of a preset's ``results.json``.
    metric : str

    Returns
    -------
    list of float
        Empty without the metric; missing seeds left out.

    Examples
    --------
    >>> group = {"final": {"eval_accuracy": {"values": [0.9, None, 0.8]}}}
    >>> final_values(group, "eval_accuracy")
    [0.9, 0.8]
    """
    return [v for v in ((final_stat(group or {}, metric) or {}).get("values") or [])
            if v is not None]


def _oriented(c: Mapping[str, Any], a: str) -> dict[str, Any]:
    """Comparison ``c`` written as ``a`` minus the other group.

    Parameters
    ----------
    c : mapping
        A comparison entry of ``results.json`` (``a``, ``b``, ``difference``, ``ci95``, ...).
    a : str
        The label that should come first.

    Returns
    -------
    dict
        A copy, with the groups, their means and sizes swapped and the difference
        and interval negated when ``a`` was its ``b``.

    Examples
    --------
    >>> c = _oriented({"a": "x", "b": "y", "difference": 0.5, "ci95": [0.1, 0.9]}, "y")
    >>> c["a"], c["b"], c["difference"], c["ci95"]
    ('y', 'x', -0.5, [-0.9, -0.1])
    """
    if c["a"] == a:
        return dict(c)
    ci = c.get("ci95")
    return {**c, "a": c["b"], "b": c["a"], "mean_a": c.get("mean_b"), "mean_b": c.get("mean_a"),
            "n_a": c.get("n_b"), "n_b": c.get("n_a"),
            "difference": None if c.get("difference") is None else -c["difference"],
            "ci95": None if ci is None else [-ci[1], -ci[0]]}


def find_comparison(results: Mapping | None, metric: str, a: str, b: str) -> dict | None:
    """The comparison of groups ``a`` and ``b`` on ``metric`` in a preset's ``results.json``.

    Parameters
    ----------
    results : mapping or None
        The preset's ``results.json``.
    metric : str
    a, b : str
        Group labels.

    Returns
    -------
    dict or None
        As ``a`` minus ``b`` (:func:`_oriented`); ``None`` if there is none.
    """
    for c in (results or {}).get("comparisons") or []:
        if c["metric"] == metric and {c["a"], c["b"]} == {a, b}:
            return _oriented(c, a)
    return None


def single_test(a: Sequence[float], b: Sequence[float], label_a: str, label_b: str,
                metric: str = "eval_accuracy") -> dict[str, Any]:
    """One Welch test of ``a`` against ``b`` (per-seed values).

    Parameters
    ----------
    a, b : sequence of float
        Per-seed values of the two groups.
    label_a, label_b : str
    metric : str, default "eval_accuracy"

    Returns
    -------
    dict
        A comparison entry as ``results.json`` holds them, without ``p_adjusted``
        (one test: nothing to adjust for).
    """
    (c,) = compare_groups({label_a: a, label_b: b}, metric)
    return {k: v for k, v in c.items() if k != "p_adjusted"}


def versus(a: Sequence[float], b: Sequence[float], label_a: str, label_b: str,
           metric: str = "eval_accuracy") -> str:
    """:func:`single_test` as a sentence fragment.

    Parameters
    ----------
    a, b : sequence of float
    label_a, label_b : str
    metric : str, default "eval_accuracy"

    Returns
    -------
    str
        ``label_a - label_b = d (95% CI ...; Welch t-test p = ...)``.
    """
    return describe(single_test(a, b, label_a, label_b, metric))


def against(values: Sequence[float], reference: float, label: str, ref_label: str) -> str:
    """A one-sample t-test of per-seed ``values`` against a fixed ``reference`` as a
    sentence fragment.

    Parameters
    ----------
    values : sequence of float
        Per-seed values.
    reference : float
        A single published number.
    label, ref_label : str
        What the values and the reference are.

    Returns
    -------
    str
        The difference, its interval, the p-value and the seeds a decision would
        need (or why they cannot be computed).
    """
    r = one_sample_test(values, reference)
    needed, why = seeds_needed_against(values, reference)
    note = r.note and f"p-value and interval: {r.note}"
    return describe({"a": label, "b": ref_label, "difference": r.difference,
                     "ci95": r.ci95, "p_value": r.p_value, "test": r.test,
                     "seeds_needed": needed, "n_a": r.n[0], "n_b": r.n[0],
                     "note": note or (why and f"seeds needed: {why}")})


__all__ = ["against", "epoch_stat", "final_stat", "final_values", "find_comparison",
           "first_epoch_reaching", "fmt", "last_epoch", "pm", "sci", "single_test",
           "vec", "versus"]
