"""The numbers behind a curve: smoothing, stacking and mean +- std across runs.

Where several runs are drawn (one configuration, several seeds) a curve is the
mean across the runs and its band is mean +- one *sample* standard deviation
(ddof=1): :func:`backproplab.seedstats.column_stats`, the statistic of
:mod:`backproplab.sweeps.aggregate` too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from backproplab.seedstats import column_stats

#: The shortest smoothing window, in batches.
_MIN_EMA_WINDOW = 20
#: Most points drawn for a raw per-batch curve (longer curves are thinned).
MAX_RAW_POINTS = 20_000


def ema_beta(n_steps: int) -> float:
    """The EMA weight used for a curve of ``n_steps`` batches.

    Parameters
    ----------
    n_steps : int
        The length of the curve.

    Returns
    -------
    float
        ``beta = 1 - 1 / window`` for a window of ``max(20, n_steps / 100)`` batches.

    Example
    -------
    >>> ema_beta(100)
    0.95
    """
    window = max(_MIN_EMA_WINDOW, n_steps / 100.0)
    return 1.0 - 1.0 / window


def ema(values: Sequence[float], beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average (as in Adam).

    ``m_t = beta m_{t-1} + (1 - beta) x_t``, reported as ``m_t / (1 - beta^t)``,
    so the first points are not pulled towards zero. Non-finite values are
    skipped (the average carries over).

    Parameters
    ----------
    values : sequence of float
        The raw curve.
    beta : float
        The weight of the past, in ``[0, 1)``.

    Returns
    -------
    numpy.ndarray
        The smoothed curve (float64, same length; NaN before the first finite value).

    Raises
    ------
    ValueError
        If ``beta`` is outside ``[0, 1)``.

    Example
    -------
    >>> ema([1.0, 3.0], 0.5).round(4).tolist()
    [1.0, 2.3333]
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    m, w = 0.0, 0.0
    for i, v in enumerate(x):
        if math.isfinite(v):
            m = beta * m + (1.0 - beta) * v
            w = beta * w + (1.0 - beta)
        out[i] = m / w if w > 0 else math.nan
    return out


def stack_curves(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Curves of possibly different lengths as one ``(runs, longest)`` array, NaN-padded.

    Parameters
    ----------
    curves : sequence of array-like
        One curve per run.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(curves), max length)``.
    """
    n = max(len(c) for c in curves)
    out = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        out[i, :len(c)] = c
    return out


def mean_band(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample standard deviation and count across curves at every position.

    Parameters
    ----------
    curves : sequence of array-like
        One curve per run (lengths may differ; a non-finite value is left out).

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean, std, n)`` (:func:`backproplab.seedstats.column_stats`): std uses
        ddof=1 and is NaN where fewer than two curves have a value.

    Example
    -------
    >>> mean, std, n = mean_band([np.array([1.0, 2.0]), np.array([3.0])])
    >>> mean.tolist(), n.tolist()
    ([2.0, 2.0], [2, 1])
    """
    return column_stats(stack_curves(curves))


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_RAW_POINTS):
    """Every k-th point of a long curve, so that at most ``limit`` remain.

    Parameters
    ----------
    x, y : numpy.ndarray
        The curve.
    limit : int
        The most points kept.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, y)``, unchanged when short enough.
    """
    if len(x) <= limit:
        return x, y
    stride = math.ceil(len(x) / limit)
    return x[::stride], y[::stride]


__all__ = ["MAX_RAW_POINTS", "ema", "ema_beta", "mean_band", "stack_curves", "thin"]
