"""Number formatting for the report, and reading the aggregated statistics.

An aggregate statistic is ``{"mean", "std", "n"}`` (see
:mod:`backproplab.sweeps.aggregate`); a group is one configuration of a preset's
``results.json`` with its per-epoch rows and its last-epoch ``final`` row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


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


__all__ = ["epoch_stat", "final_stat", "first_epoch_reaching", "fmt", "last_epoch", "pm", "sci",
           "vec"]
