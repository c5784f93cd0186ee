"""Statistics over seeds: intervals, tests between groups, Holm's correction, seeds needed.

Pure functions on arrays of per-seed values (one number per seed, e.g. each
run's final validation accuracy); they read no files. SciPy supplies the
distributions (Student's t, noncentral t, the permutation test).

* :func:`mean_ci` -- the 95% Student-t interval of a mean over seeds.
* :func:`welch_test`, :func:`paired_test`, :func:`permutation_test`,
  :func:`one_sample_test` -- is a difference between two groups (or between a
  group and a fixed number) more than seed-to-seed noise?
* :func:`spread_test` -- the F-test of two spreads (standard deviations).
* :func:`holm` -- Holm's step-down correction of the p-values of many comparisons.
* :func:`seeds_needed` -- how many seeds per group a two-sample t-test needs to
  detect the observed difference with 80% power at the observed spread (from
  :mod:`backproplab.sweeps.power`).
* :func:`compare_groups` -- every pair of groups compared, Holm-adjusted: the
  ``"comparisons"`` of a sweep's ``results.json``.
* :func:`describe` -- one comparison as a sentence fragment for reports.

A number that cannot be computed (fewer than 2 seeds, no spread at all) is
``None``, with the reason in the result's ``note``; it is never a guess.

Example
-------
Five seeds of two learning rates, final validation accuracy:

>>> from backproplab.sweeps.stats import compare_groups, describe, mean_ci
>>> fast = [0.912, 0.905, 0.918, 0.909, 0.915]
>>> slow = [0.861, 0.874, 0.858, 0.869, 0.866]
>>> lo, hi = mean_ci(fast)
>>> print(f"{sum(fast) / 5:.4f} [{lo:.4f}, {hi:.4f}]")
0.9118 [0.9055, 0.9181]
>>> (c,) = compare_groups({"lr=0.1": fast, "lr=0.01": slow}, "eval_accuracy")
>>> c["test"], round(c["difference"], 4), c["significant"], c["seeds_needed"]
('welch', 0.0462, True, 2)
>>> print(describe(c))
lr=0.1 - lr=0.01 = +0.0462 (95% CI [0.0377, 0.0547]; Welch t-test p = 2.1e-06, Holm-adjusted p = 2.1e-06): significant at the 5% level
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backproplab.errors import BackproplabError, choose_from
from backproplab.sweeps.power import (
    ALPHA,
    FEW_SEEDS,
    MAX_SEEDS,
    NO_SPREAD,
    POWER,
    finite_values,
    mean_std,
    power,
    scipy_stats,
    seeds_needed,
    seeds_needed_against,
)

#: The tests :func:`compare_groups` offers (``results.json`` records the choice).
TESTS = ("welch", "paired", "permutation")
#: Their names in sentences.
TEST_NAMES = {"welch": "Welch t-test", "paired": "paired t-test",
              "permutation": "permutation test", "one-sample": "one-sample t-test"}
#: Confidence of every interval.
CONFIDENCE = 0.95
#: Resamples of the permutation test when the exact one would need more.
PERMUTATIONS = 9999


@dataclass(frozen=True)
class TestResult:
    """The outcome of a test between two samples (or a sample and a number).

    Attributes
    ----------
    test : str
        ``"welch"``, ``"paired"``, ``"permutation"`` or ``"one-sample"``.
    difference : float
        ``mean(a) - mean(b)`` (the mean of ``a - reference`` for one sample;
        the mean of the per-seed differences for the paired test).
    ci95 : tuple of float or None
        The 95% interval of ``difference`` (Student t; the permutation test
        reports Welch's interval).
    p_value : float or None
        Two-sided p-value.
    n : tuple of int
        Values used in each sample (pairs used, twice, for the paired test).
    note : str or None
        Why ``ci95`` or ``p_value`` is ``None``.
    """

    test: str
    difference: float
    ci95: tuple[float, float] | None
    p_value: float | None
    n: tuple[int, int]
    note: str | None = None


def t_interval(mean: float, std: float, n: int,
               confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Student-t interval of a mean from its summary ``(mean, std, n)``.

    Parameters
    ----------
    mean, std : float
        Sample mean and sample standard deviation (``ddof=1``).
    n : int
        Number of values.
    confidence : float
        Coverage of the interval (0.95: a 95% interval).

    Returns
    -------
    tuple of float or None
        ``(lo, hi) = mean -+ t_{(1+confidence)/2, n-1} * std / sqrt(n)``;
        ``None`` when ``n < 2`` or a number is not finite.

    Examples
    --------
    >>> lo, hi = t_interval(0.5, 0.1, 4)
    >>> print(f"[{lo:.4f}, {hi:.4f}]")
    [0.3409, 0.6591]
    """
    if n < 2 or not (math.isfinite(mean) and math.isfinite(std)):
        return None
    half = float(scipy_stats().t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def mean_ci(values: Sequence[float],
            confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Student-t interval of the mean of per-seed values.

    Parameters
    ----------
    values : sequence of float
        One value per seed; non-finite values are left out.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    tuple of float or None
        ``(lo, hi)``, or ``None`` with fewer than 2 values (no spread to
        estimate).

    Examples
    --------
    >>> lo, hi = mean_ci([1.0, 2.0, 3.0])
    >>> print(f"[{lo:.4f}, {hi:.4f}]")
    [-0.4841, 4.4841]
    >>> mean_ci([1.0]) is None
    True
    """
    return t_interval(*mean_std(values), confidence)


def _t_result(test: str, diff: float, se: float, df: float, n: tuple[int, int],
              confidence: float) -> TestResult:
    """p-value and interval of ``diff`` with standard error ``se`` on ``df`` degrees
    of freedom (Student t)."""
    if not se > 0:
        return TestResult(test, diff, None, None, n, NO_SPREAD)
    p = float(2 * scipy_stats().t.sf(abs(diff) / se, df))
    half = float(scipy_stats().t.ppf(0.5 + confidence / 2, df)) * se
    return TestResult(test, diff, (diff - half, diff + half), p, n)


def welch_test(a: Sequence[float], b: Sequence[float],
               confidence: float = CONFIDENCE) -> TestResult:
    """Welch's two-sided t-test of ``mean(a) == mean(b)`` (unequal variances).

    Parameters
    ----------
    a, b : sequence of float
        Per-seed values of the two groups (non-finite ones left out).
    confidence : float
        Coverage of the interval of the difference.

    Returns
    -------
    TestResult
        ``difference = mean(a) - mean(b)``, its Welch interval (Welch-Satterthwaite
        degrees of freedom) and p-value; ``None`` for those with fewer than 2
        values in a group or no spread in either.

    Examples
    --------
    >>> r = welch_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    >>> print(f"{r.difference:.2f} p={r.p_value:.4f}")
    -3.50 p=0.0101
    """
    x, y = finite_values(a), finite_values(b)
    n = (int(x.size), int(y.size))
    if min(n) < 2:
        diff = float(x.mean() - y.mean()) if min(n) else math.nan
        return TestResult("welch", diff, None, None, n, FEW_SEEDS)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1)) if se else 1.0
    return _t_result("welch", float(x.mean() - y.mean()), se, float(df), n, confidence)


def paired_test(a: Sequence[float], b: Sequence[float],
                confidence: float = CONFIDENCE) -> TestResult:
    """The paired two-sided t-test: ``a[i]`` and ``b[i]`` share seed ``i``.

    Parameters
    ----------
    a, b : sequence of float
        Per-seed values in the same seed order; a pair with a non-finite value
        is left out.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    TestResult
        ``difference`` = the mean of ``a[i] - b[i]``, its t interval and p-value
        (``n - 1`` degrees of freedom).

    Raises
    ------
    BackproplabError
        If ``a`` and ``b`` differ in length.

    Examples
    --------
    >>> r = paired_test([1.0, 2.0, 3.5], [0.5, 1.0, 2.0])
    >>> print(f"{r.difference:.2f} p={r.p_value:.4f}")
    1.00 p=0.0742
    """
    if len(a) != len(b):
        raise BackproplabError(f"a paired test needs one value per seed in both groups, got "
                               f"{len(a)} and {len(b)}; pair the values by seed")
    d = finite_values(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    n = (int(d.size), int(d.size))
    if d.size < 2:
        return TestResult("paired", float(d.mean()) if d.size else math.nan, None, None, n,
                          "needs at least 2 seeds shared by both groups")
    se = float(d.std(ddof=1)) / math.sqrt(d.size)
    return _t_result("paired", float(d.mean()), se, float(d.size - 1), n, confidence)


def permutation_test(a: Sequence[float], b: Sequence[float],
                     confidence: float = CONFIDENCE, *,
                     resamples: int = PERMUTATIONS, seed: int = 0) -> TestResult:
    """A two-sided permutation test of the difference of the means.

    Exact (every split of the pooled values) when there are at most
    ``resamples`` splits (5 and 5 seeds: 252), otherwise ``resamples`` random
    splits drawn with ``seed``. It assumes no distribution, but with few seeds
    its smallest possible p-value is large (2/252 with 5 and 5 seeds).

    Parameters
    ----------
    a, b : sequence of float
        Per-seed values of the two groups.
    confidence : float
        Coverage of the interval (Welch's: a permutation test gives no interval).
    resamples : int
        Most splits evaluated.
    seed : int
        Seed of the random splits (results are reproducible).

    Returns
    -------
    TestResult
        ``test="permutation"``, Welch's interval and the permutation p-value.

    Examples
    --------
    >>> r = permutation_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    >>> print(f"p={r.p_value:.3f}")   # 2 of the 20 splits are as extreme
    p=0.100
    """
    welch = welch_test(a, b, confidence)
    x, y = finite_values(a), finite_values(b)
    if min(x.size, y.size) < 1 or x.size + y.size < 3:
        return TestResult("permutation", welch.difference, None, None, welch.n, FEW_SEEDS)
    res = scipy_stats().permutation_test(
        (x, y), lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
        permutation_type="independent", alternative="two-sided", n_resamples=resamples,
        vectorized=True, rng=np.random.default_rng(seed))
    return TestResult("permutation", welch.difference, welch.ci95, float(res.pvalue), welch.n,
                      welch.note if welch.ci95 is None else None)


def one_sample_test(values: Sequence[float], reference: float,
                    confidence: float = CONFIDENCE) -> TestResult:
    """The two-sided one-sample t-test of ``mean(values) == reference``.

    Parameters
    ----------
    values : sequence of float
        Per-seed values.
    reference : float
        A fixed number (a published result, the original's single run).
    confidence : float
        Coverage of the interval of ``mean(values) - reference``.

    Returns
    -------
    TestResult
        ``difference = mean(values) - reference``, its interval and p-value.

    Examples
    --------
    >>> r = one_sample_test([0.91, 0.92, 0.93], 0.90)
    >>> print(f"{r.difference:+.2f} p={r.p_value:.3f}")
    +0.02 p=0.074
    """
    x = finite_values(values)
    n = (int(x.size), 0)
    if x.size < 2:
        return TestResult("one-sample", float(x.mean()) - reference if x.size else math.nan,
                          None, None, n, "needs at least 2 seeds")
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    return _t_result("one-sample", float(x.mean()) - reference, se, float(x.size - 1), n,
                     confidence)


def spread_test(std: float, n: int, std_ref: float, n_ref: int,
                confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The two-sided F-test of equal variances, from two sample standard deviations.

    Parameters
    ----------
    std, n : float, int
        Sample standard deviation (``ddof=1``) and count of the values here.
    std_ref, n_ref : float, int
        The same for the values compared with (e.g. a published ``mean ± std``
        over ``n_ref`` runs).
    confidence : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``ratio`` (``std / std_ref``), ``ci95`` (its interval, from the F
        distribution with ``n - 1`` and ``n_ref - 1`` degrees of freedom),
        ``p_value`` and ``note`` (why they are ``None``). The test assumes
        normally distributed values and is sensitive to outliers.

    Examples
    --------
    >>> r = spread_test(0.004, 5, 0.002, 3)
    >>> print(f"{r['ratio']:.1f} p={r['p_value']:.2f}")
    2.0 p=0.42
    """
    out: dict[str, Any] = {"ratio": None, "ci95": None, "p_value": None, "note": None}
    if min(n, n_ref) < 2:
        return {**out, "note": FEW_SEEDS}
    if not (std > 0 and std_ref > 0):
        return {**out, "note": NO_SPREAD}
    f, d1, d2 = (std / std_ref) ** 2, n - 1, n_ref - 1
    p = min(1.0, 2 * min(float(scipy_stats().f.cdf(f, d1, d2)), float(scipy_stats().f.sf(f, d1, d2))))
    tail = (1 - confidence) / 2
    ci = (math.sqrt(f / scipy_stats().f.ppf(1 - tail, d1, d2)), math.sqrt(f / scipy_stats().f.ppf(tail, d1, d2)))
    return {**out, "ratio": std / std_ref, "ci95": list(ci), "p_value": p}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of p-values for multiple comparisons.

    With ``m`` p-values sorted ``p_(1) <= ... <= p_(m)``, the adjusted
    ``p_(i)`` is ``max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting where
    the adjusted value is below 0.05 keeps the chance of *any* false positive
    among the ``m`` at most 5%. ``None`` entries are not counted in ``m`` and
    stay ``None``.

    Parameters
    ----------
    p_values : sequence of float or None
        The raw p-values, in any order.

    Returns
    -------
    list of float or None
        The adjusted p-values in the input's order.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, None])
    [0.03, 0.06, 0.06, None]
    """
    known = [(p, i) for i, p in enumerate(p_values) if p is not None]
    known.sort()
    m = len(known)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def check_test(test: str) -> str:
    """``test`` if it names one of :data:`TESTS`.

    Parameters
    ----------
    test : str
        The test's name.

    Returns
    -------
    str
        ``test``.

    Raises
    ------
    BackproplabError
        For another name (the message lists the choices).
    """
    if test not in TESTS:
        raise BackproplabError(f"unknown test {test!r}; {choose_from('test', TESTS)}")
    return test


def _run_test(test: str, a, b, seeds_a, seeds_b) -> TestResult:
    if test == "welch":
        return welch_test(a, b)
    if test == "permutation":
        return permutation_test(a, b)
    if seeds_a is None or seeds_b is None:
        raise BackproplabError("test='paired' pairs runs by seed; give each group's seeds "
                               "(seeds=...) or use test='welch'")
    by_seed = dict(zip(seeds_b, b))
    shared = [(x, by_seed[s]) for s, x in zip(seeds_a, a) if s in by_seed]
    return paired_test([x for x, _ in shared], [y for _, y in shared])


def compare_groups(groups: Mapping[str, Sequence[float]], metric: str, *,
                   test: str = "welch", seeds: Mapping[str, Sequence[Any]] | None = None,
                   alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Compare every pair of groups on one metric, Holm-adjusted over the pairs.

    Parameters
    ----------
    groups : mapping of str to sequence of float
        Group label -> per-seed values (e.g. final validation accuracies), in the
        order pairs are formed: ``(g0, g1), (g0, g2), ..., (g1, g2), ...``.
    metric : str
        The metric's name, recorded in every entry.
    test : {"welch", "paired", "permutation"}
        Welch's t-test (default), the paired t-test on the seeds both groups
        share (needs ``seeds``), or the permutation test.
    seeds : mapping of str to sequence, optional
        Group label -> the seed of each value (for ``test="paired"``).
    alpha : float
        Significance level for ``significant`` (on the Holm-adjusted p-value).

    Returns
    -------
    list of dict
        One entry per pair: ``a``, ``b`` (labels), ``metric``, ``n_a``, ``n_b``,
        ``mean_a``, ``mean_b``, ``difference`` (``mean_a - mean_b``; the mean
        per-seed difference when paired), ``ci95`` (``[lo, hi]``), ``p_value``,
        ``p_adjusted`` (Holm over all the pairs), ``test``, ``significant``
        (``p_adjusted < alpha``), ``seeds_needed`` (per group, 80% power) and
        ``note`` (why a number is ``None``; ``None`` when none is).

    Raises
    ------
    BackproplabError
        For an unknown ``test``, or ``"paired"`` without ``seeds``.

    Examples
    --------
    >>> out = compare_groups({"x": [1.0, 1.1, 0.9], "y": [2.0, 2.2, 1.9],
    ...                       "z": [1.0, 1.2, 0.8]}, "loss")
    >>> [(c["a"], c["b"], c["significant"]) for c in out]
    [('x', 'y', True), ('x', 'z', False), ('y', 'z', True)]
    """
    check_test(test)
    seeds = seeds or {}
    out = []
    for a, b in itertools.combinations(groups, 2):
        r = _run_test(test, groups[a], groups[b], seeds.get(a), seeds.get(b))
        needed, why = seeds_needed(groups[a], groups[b])
        notes = [f"p-value and interval: {r.note}"] if r.note else []
        if why and (r.note is None or why != r.note):
            notes.append(f"seeds needed: {why}")
        xa, xb = finite_values(groups[a]), finite_values(groups[b])
        out.append({
            "a": a, "b": b, "metric": metric, "n_a": int(xa.size), "n_b": int(xb.size),
            "mean_a": float(xa.mean()) if xa.size else None,
            "mean_b": float(xb.mean()) if xb.size else None,
            "difference": r.difference if math.isfinite(r.difference) else None,
            "ci95": list(r.ci95) if r.ci95 else None, "p_value": r.p_value,
            "p_adjusted": None, "test": r.test, "significant": None,
            "seeds_needed": needed, "note": "; ".join(notes) or None,
        })
    for entry, adj in zip(out, holm([c["p_value"] for c in out])):
        entry["p_adjusted"] = adj
        entry["significant"] = None if adj is None else bool(adj < alpha)
    return out


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def describe(c: Mapping[str, Any], digits: int = 4) -> str:
    """A comparison (an entry of :func:`compare_groups`) as a sentence fragment:
    the difference, its interval, the test, the p-values and the verdict; where
    the seeds cannot decide, how many would be needed.

    Parameters
    ----------
    c : mapping
        An entry of :func:`compare_groups` (or of ``results.json``'s
        ``"comparisons"``); ``p_adjusted`` may be absent for a single test.
    digits : int
        Decimals of the difference and its interval.

    Returns
    -------
    str
        E.g. ``"a - b = +0.0462 (95% CI [0.0377, 0.0547]; Welch t-test p =
        2.1e-06, Holm-adjusted p = 2.1e-06): significant at the 5% level"``.

    Examples
    --------
    >>> print(describe({"a": "x", "b": "y", "difference": 0.01, "ci95": None,
    ...                 "p_value": None, "test": "welch", "seeds_needed": None,
    ...                 "note": "p-value and interval: needs at least 2 seeds in each group"}))
    x - y = +0.0100 (Welch t-test: no p-value, needs at least 2 seeds in each group): too few seeds to decide
    """
    name = TEST_NAMES.get(c.get("test"), str(c.get("test")))
    head = f"{c['a']} - {c['b']} = " if "a" in c else ""
    diff = "-" if c.get("difference") is None else f"{c['difference']:+.{digits}f}"
    if c.get("p_value") is None:
        why = (c.get("note") or "").removeprefix("p-value and interval: ").split(";")[0]
        return f"{head}{diff} ({name}: no p-value, {why}): too few seeds to decide"
    lo, hi = c["ci95"]
    text = f"{head}{diff} (95% CI [{lo:.{digits}f}, {hi:.{digits}f}]; {name} p = {_p(c['p_value'])}"
    p = c["p_value"]
    if c.get("p_adjusted") is not None:
        text += f", Holm-adjusted p = {_p(c['p_adjusted'])}"
        p = c["p_adjusted"]
    if p < ALPHA:
        return text + "): significant at the 5% level"
    text += "): not significant at the 5% level"
    if c["p_value"] < ALPHA:
        text += "; below 0.05 alone, but not after Holm's correction for the other comparisons"
    needed, have = c.get("seeds_needed"), min(c.get("n_a") or 0, c.get("n_b") or 0)
    if needed is not None and needed > have:
        text += (f"; too few seeds to decide: about {needed} seeds per group would detect a "
                 "difference this large 80% of the time")
    elif needed is not None:
        text += (f"; too few seeds to decide: run more than {have} per group (a power "
                 f"calculation at the spread seen here asks for {needed}, but so few seeds "
                 "measure a spread poorly)")
    elif f"more than {MAX_SEEDS}" in (c.get("note") or ""):
        text += (f"; a difference this small would take more than {MAX_SEEDS} seeds per group "
                 "to detect")
    return text


__all__ = ["ALPHA", "CONFIDENCE", "FEW_SEEDS", "MAX_SEEDS", "NO_SPREAD", "POWER", "TESTS",
           "TEST_NAMES", "TestResult", "check_test", "compare_groups", "describe", "holm",
           "mean_ci", "mean_std", "one_sample_test", "paired_test", "permutation_test", "power",
           "seeds_needed", "seeds_needed_against", "spread_test", "t_interval", "welch_test"]
