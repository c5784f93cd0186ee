"""seedstats.column_stats: the one mean +- sample std across seeds, per column."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from backproplab.plots import mean_band
from backproplab.seedstats import column_stats


def test_column_stats_leaves_out_non_finite_values_and_uses_ddof_1():
    grid = np.array([[1.0, np.nan, np.inf, 2.0],
                     [3.0, 5.0, 4.0, np.nan],
                     [8.0, np.nan, 6.0, np.nan]])
    mean, std, n = column_stats(grid)
    assert n.tolist() == [3, 1, 2, 1]
    assert mean.tolist() == [4.0, 5.0, 5.0, 2.0]
    assert std[0] == np.std([1.0, 3.0, 8.0], ddof=1) and std[2] == math.sqrt(2.0)
    assert np.isnan(std[1]) and np.isnan(std[3])
    assert np.isnan(column_stats(np.full((2, 1), np.nan))[0][0])


def test_column_stats_agrees_with_scipy_on_random_seeds():
    rng = np.random.default_rng(7)
    grid = rng.normal(3.0, 2.0, (5, 40))
    grid[rng.random(grid.shape) < 0.2] = np.nan
    mean, std, n = column_stats(grid)
    for j in range(grid.shape[1]):
        col = grid[:, j][np.isfinite(grid[:, j])]
        assert n[j] == len(col)
        if len(col):
            assert math.isclose(mean[j], float(np.mean(col)), rel_tol=1e-12)
        if len(col) > 1:
            assert math.isclose(std[j], float(stats.tstd(col)), rel_tol=1e-12)


def test_mean_band_is_column_stats_of_the_padded_curves():
    curves = [np.array([1.0, 2.0, 9.0]), np.array([3.0]), np.array([5.0, np.inf])]
    mean, std, n = mean_band(curves)
    assert n.tolist() == [3, 1, 1] and mean.tolist() == [3.0, 2.0, 9.0]
    assert std[0] == 2.0 and np.isnan(std[1:]).all()
