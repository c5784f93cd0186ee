"""The study's synthetic set (issue 2): the exact generator, the labels, the split sizes,
and normalization fitted on the training split only."""

from __future__ import annotations

import numpy as np
import pytest

from backproplab.data import DATASETS, DEFAULT_NORMALIZE, catalog, load_dataset, load_synth, synth
from backproplab.errors import BackproplabError


def _expected_labels(X: np.ndarray) -> np.ndarray:
    """x^T Q x > 0.6 with Q = [[1, -0.05], [1, 0.4]], written out by hand:
    x1^2 + (-0.05 + 1) x1 x2 + 0.4 x2^2."""
    x1, x2 = X[:, 0], X[:, 1]
    return (x1 * x1 + 0.95 * x1 * x2 + 0.4 * x2 * x2 > 0.6).astype(np.int64)


def test_default_points_are_the_legacy_randomstate_stream_of_seed_0():
    X_train, y_train, X_val, y_val = synth.generate()
    assert X_train.shape == (60_000, 2) and X_val.shape == (10_000, 2)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    # the study's draws: RandomState(0).randn, training rows first, then validation rows
    stream = np.random.RandomState(0).randn(70_000, 2)
    assert np.array_equal(X_train, stream[:60_000]) and np.array_equal(X_val, stream[60_000:])
    assert X_train[0].tolist() == [1.764052345967664, 0.4001572083672233]  # randn's first pair
    np.testing.assert_array_equal(y_train, _expected_labels(X_train))
    np.testing.assert_array_equal(y_val, _expected_labels(X_val))
    # "about 56% class 1"
    assert 0.55 < y_train.mean() < 0.57 and 0.55 < y_val.mean() < 0.57


def test_other_seeds_and_sizes():
    X, y, Xv, yv = synth.generate(n_train=100, n_val=30, seed=7)
    stream = np.random.RandomState(7).randn(130, 2)
    assert np.array_equal(X, stream[:100]) and np.array_equal(Xv, stream[100:])
    assert not np.array_equal(X, synth.generate(n_train=100, n_val=30, seed=8)[0])
    np.testing.assert_array_equal(y, _expected_labels(X))
    np.testing.assert_array_equal(yv, _expected_labels(Xv))


def test_threshold_is_strict_and_the_boundary_lies_on_the_ellipse():
    B = synth.boundary(50)
    np.testing.assert_allclose(synth.quadratic_form(B), 0.6, rtol=1e-12)
    assert synth.THRESHOLD == 0.6
    inside, outside = B * 0.99, B * 1.01  # the form is positive definite: scaling moves off it
    assert not synth.label(inside).any() and synth.label(outside).all()


@pytest.mark.parametrize("limit", [None, 500])
def test_normalization_is_fitted_on_the_training_split_only(limit):
    raw_X, _, raw_val, y_val = synth.generate()
    if limit is not None:
        raw_X = raw_X[:limit]
    ds = load_synth(limit=limit, dtype=np.float64)
    assert ds.name == "synth" and ds.eval_split == "validation" and ds.n_classes == 2
    assert ds.X_train.shape == (len(raw_X), 2) and ds.X_eval.shape == (10_000, 2)
    mean, std = raw_X.mean(axis=0), raw_X.std(axis=0)
    np.testing.assert_allclose(ds.normalizer.shift, mean, rtol=1e-12)
    np.testing.assert_allclose(ds.normalizer.scale, std, rtol=1e-12)
    np.testing.assert_allclose(ds.X_train, (raw_X - mean) / std, rtol=1e-12, atol=1e-15)
    # validation points use the training statistics, unchanged (not their own)
    np.testing.assert_allclose(ds.X_eval, (raw_val - mean) / std, rtol=1e-12, atol=1e-15)
    assert not np.allclose(ds.normalizer.shift, raw_val.mean(axis=0))
    np.testing.assert_array_equal(ds.y_eval, y_val)
    assert ds.meta["raw_range"] == (raw_X.min(), raw_X.max())


def test_load_dataset_defaults_and_data_seed():
    ds = load_dataset("synth")
    assert ds.X_train.dtype == np.float32 and ds.normalizer.mode == "standardize"
    other = load_dataset("synth", seed=1, limit=10)
    X1 = np.random.RandomState(1).randn(10, 2)
    np.testing.assert_allclose(other.X_train * other.normalizer.scale + other.normalizer.shift,
                               X1, rtol=1e-6, atol=1e-6)
    assert load_dataset("synth", final=True, limit=10).eval_split == "test"


@pytest.mark.parametrize("limit", [0, -5])
def test_load_synth_refuses_a_limit_below_one(limit):
    """Regression: only load_dataset checked ``limit``; load_synth(limit=-5) silently
    dropped the last 5 points and limit=0 failed with a bare NumPy ValueError."""
    with pytest.raises(BackproplabError, match="^limit must be at least 1"):
        load_synth(limit=limit)


def test_dataset_names_come_from_the_catalog():
    assert DATASETS == ("synth", *catalog.CATALOG)
    assert set(DEFAULT_NORMALIZE) == set(DATASETS)
    assert load_synth(limit=10).classes == synth.CLASSES
