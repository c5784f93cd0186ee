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


__all__ = ["epoch_stat", "final_stat", "first_epoch_reaching", "fmt", "last_epoch", "pm", "sci",
           "vec"]
