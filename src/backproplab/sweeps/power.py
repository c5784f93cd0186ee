"""How many seeds a decision needs: the power of t-tests, from the noncentral t.

Pure functions on per-seed values, used by :mod:`backproplab.sweeps.stats`
(which re-exports them). The observed difference and the observed spread are
taken as the truth, and the answer is the smallest number of seeds whose
t-test would find that difference (``p < 0.05``) 80% of the time.

Example
-------
>>> from backproplab.sweeps.power import seeds_needed
>>> seeds_needed([0.90, 0.91, 0.92], [0.89, 0.90, 0.91])   # 1 std apart
(17, None)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.fileio import is_finite_number
from backproplab.seedstats import column_stats

#: Significance level of every test.
ALPHA = 0.05
#: The power :func:`seeds_needed` plans for.
POWER = 0.8
#: :func:`seeds_needed` stops looking beyond this many seeds per group.
MAX_SEEDS = 100_000

FEW_SEEDS = "needs at least 2 seeds in each group"
NO_SPREAD = "every seed gave the same value, so the spread is 0 and a t-test is undefined"
NO_DIFFERENCE = "the means are equal: there is no difference to detect"


def scipy_stats():
    """``scipy.stats``, imported on first use.

    It takes seconds to import, which ``backproplab --help`` and commands
    without statistics should not pay.

    Returns
    -------
    module
        :mod:`scipy.stats`.
    """
    from scipy import stats

    return stats


def finite_values(values: Iterable[Any]) -> np.ndarray:
    """The finite numbers of ``values`` as float64.

    Parameters
    ----------
    values : iterable
        A list, or a NumPy array; NaN, inf, ``None`` and booleans are left out.

    Returns
    -------
    numpy.ndarray
        A 1-D float64 array.

    Examples
    --------
    >>> finite_values([1, None, float("inf"), True, np.float32(2.5)])
    array([1. , 2.5])
    """
    items = (v.item() if isinstance(v, np.generic) else v for v in values)
    return np.asarray([float(v) for v in items if is_finite_number(v)], dtype=np.float64)


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """The mean, sample standard deviation and count of the finite values.

    :func:`backproplab.seedstats.column_stats` of the values as one column: the
    same statistic as a curve's band and a sweep's per-step aggregate.

    Parameters
    ----------
    values : iterable of float
        NaN, inf, ``None`` and booleans are left out.

    Returns
    -------
    tuple
        ``(mean, std, n)``: ``std`` with ddof=1; ``mean`` and ``std`` are NaN
        where undefined (no values; the std of one value).

    Examples
    --------
    >>> mean_std([1.0, 2.0, 3.0, float("nan")])
    (2.0, 1.0, 3)
    >>> mean_std([2.0])
    (2.0, nan, 1)
    """
    mean, std, n = column_stats(finite_values(values)[:, None])  # the one column: the values
    return float(mean[0]), float(std[0]), int(n[0])


def power(n: int, effect: float, alpha: float = ALPHA, *, samples: int = 2) -> float:
    """Power of the two-sided t-test with ``n`` values per group.

    Parameters
    ----------
    n : int
        Values per group (``n >= 2``).
    effect : float
        The standardized difference (Cohen's d): difference / std.
    alpha : float
        Significance level.
    samples : {2, 1}
        2: two-sample test (``2n - 2`` degrees of freedom, noncentrality
        ``effect * sqrt(n / 2)``); 1: one-sample test against a fixed number
        (``n - 1``, ``effect * sqrt(n)``).

    Returns
    -------
    float
        The chance of ``p < alpha`` when the true difference is ``effect``
        standard deviations (noncentral t).

    Examples
    --------
    >>> print(f"{power(17, 1.0):.3f} {power(10, 1.0, samples=1):.3f}")
    0.807 0.803
    """
    df = 2 * n - 2 if samples == 2 else n - 1
    crit = float(scipy_stats().t.ppf(1 - alpha / 2, df))
    ncp = abs(effect) * math.sqrt(n / 2 if samples == 2 else n)
    # the far tail P(T < -crit) as P(T' > crit) with T' of noncentrality -ncp: SciPy's
    # cdf returns NaN for some tiny values there
    return float(scipy_stats().nct.sf(crit, df, ncp) + scipy_stats().nct.sf(crit, df, -ncp))


def _fewest(effect: float, power_wanted: float, alpha: float,
            samples: int) -> tuple[int | None, str | None]:
    """The smallest ``n >= 2`` reaching ``power_wanted`` (power grows with ``n``)."""
    if not power(MAX_SEEDS, effect, alpha, samples=samples) >= power_wanted:
        return None, f"more than {MAX_SEEDS} seeds per group"
    lo, hi = 2, 2
    while not power(hi, effect, alpha, samples=samples) >= power_wanted:  # NaN: not yet
        lo, hi = hi + 1, min(2 * hi, MAX_SEEDS)
    while lo < hi:
        mid = (lo + hi) // 2
        if power(mid, effect, alpha, samples=samples) >= power_wanted:
            hi = mid
        else:
            lo = mid + 1
    return hi, None


def seeds_needed(a: Iterable[float], b: Iterable[float], *, power_wanted: float = POWER,
                 alpha: float = ALPHA) -> tuple[int | None, str | None]:
    """Seeds per group a two-sample t-test needs to detect the observed difference.

    The difference ``mean(a) - mean(b)`` and the pooled sample standard
    deviation of the two groups are taken as the truth; the answer is the
    smallest ``n`` (same in both groups) whose :func:`power` reaches
    ``power_wanted`` at level ``alpha`` (before any correction for multiple
    comparisons).

    Parameters
    ----------
    a, b : iterable of float
        Per-seed values of the two groups.
    power_wanted : float
        The chance of detecting the difference (0.8 is customary).
    alpha : float
        Significance level.

    Returns
    -------
    tuple
        ``(n, None)``, or ``(None, reason)`` when there is no number: fewer than
        2 seeds in a group, no spread, no difference, or more than
        :data:`MAX_SEEDS`.

    Examples
    --------
    >>> seeds_needed([0.9], [0.8])
    (None, 'needs at least 2 seeds in each group')
    """
    x, y = finite_values(a), finite_values(b)
    if min(x.size, y.size) < 2:
        return None, FEW_SEEDS
    diff = float(x.mean() - y.mean())
    pooled = math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1))
                       / (x.size + y.size - 2))
    if diff == 0:
        return None, NO_DIFFERENCE
    if pooled == 0:
        return None, NO_SPREAD
    return _fewest(diff / pooled, power_wanted, alpha, 2)


def seeds_needed_against(values: Iterable[float], reference: float, *,
                         power_wanted: float = POWER,
                         alpha: float = ALPHA) -> tuple[int | None, str | None]:
    """Seeds a one-sample t-test needs to tell ``mean(values)`` from ``reference``.

    Parameters
    ----------
    values : iterable of float
        Per-seed values.
    reference : float
        The fixed number compared with (a published result).
    power_wanted, alpha : float
        As in :func:`seeds_needed`.

    Returns
    -------
    tuple
        ``(n, None)`` or ``(None, reason)``, as :func:`seeds_needed`.

    Examples
    --------
    >>> seeds_needed_against([0.90, 0.91, 0.92], 0.90)   # 1 std away: 10 seeds
    (10, None)
    """
    x = finite_values(values)
    if x.size < 2:
        return None, "needs at least 2 seeds"
    diff, std = float(x.mean()) - reference, float(x.std(ddof=1))
    if diff == 0:
        return None, NO_DIFFERENCE
    if std == 0:
        return None, NO_SPREAD
    return _fewest(diff / std, power_wanted, alpha, 1)


__all__ = ["ALPHA", "FEW_SEEDS", "MAX_SEEDS", "NO_DIFFERENCE", "NO_SPREAD", "POWER",
           "finite_values", "mean_std", "power", "scipy_stats", "seeds_needed", "seeds_needed_against"]
