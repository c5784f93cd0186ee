"""Mean and sample standard deviation across seeds, column by column.

The one statistic behind a curve's mean +- std band (:mod:`backproplab.plots`),
a sweep's per-step loss aggregate (:mod:`backproplab.sweeps.aggregate`) and the
per-group final metrics (:func:`backproplab.sweeps.power.mean_std`, one column):
rows are runs (seeds), columns are positions (epochs, batch steps), and a
non-finite value (NaN for a run that has no value there) is left out. Pure
NumPy, below every layer that draws or aggregates runs.
"""

from __future__ import annotations

import numpy as np


def column_stats(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample standard deviation and count of the finite values of every column.

    Parameters
    ----------
    grid : numpy.ndarray
        float, shape ``(runs, positions)``; NaN (or any non-finite value) where a
        run has no value.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean, std, n)`` per column: ``std`` with ddof=1; ``mean`` is NaN where
        no run has a value, ``std`` where fewer than two have; ``n`` is an int array.

    Examples
    --------
    >>> mean, std, n = column_stats(np.array([[1.0, np.nan], [3.0, 5.0]]))
    >>> mean.tolist(), std.round(4).tolist()[0], n.tolist()
    ([2.0, 5.0], 1.4142, [2, 1])
    """
    grid = np.asarray(grid, dtype=np.float64)
    finite = np.isfinite(grid)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(finite, grid, 0.0).sum(axis=0) / n, np.nan)
        dev = np.where(finite, grid - mean, 0.0)
        var = np.where(n > 1, (dev * dev).sum(axis=0) / (n - 1), np.nan)
    return mean, np.sqrt(var), n


__all__ = ["column_stats"]
