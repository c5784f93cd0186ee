"""The study's split and normalization on image data (a small IDX set in a data folder)."""

from __future__ import annotations

import numpy as np
import pytest

from backproplab.data import load_dataset
from backproplab.data.mnist import SPLIT_SEED, load_mnist, split_indices
from backproplab.errors import BackproplabError

N_TRAIN, N_TEST = 200, 50


@pytest.fixture
def folder(tools, tmp_path):
    arrays = tools.image_set(n_train=N_TRAIN, n_test=N_TEST)
    tools.write_set(tmp_path / "d", arrays)
    return tmp_path / "d", arrays


def _ids(X_flat_unit):
    """Recover each image's index from its first two pixels (see conftest.image_set)."""
    px = np.rint(np.asarray(X_flat_unit, dtype=np.float64)[:, :2] * 255).astype(int)
    return px[:, 0] * 256 + px[:, 1]


def test_validation_split_is_a_fixed_shuffle_of_the_training_set(folder):
    d, arrays = folder
    ds = load_dataset("mnist", data_dir=d, val_size=40)
    assert ds.eval_split == "validation" and ds.n_classes == 10
    assert ds.X_train.shape == (160, 784) and ds.X_eval.shape == (40, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    tr, va = _ids(ds.X_train), _ids(ds.X_eval)
    # the two parts are a partition of the training images, none from the test set
    assert sorted(np.concatenate([tr, va])) == list(range(N_TRAIN))
    # shuffled, and the validation images are the *last* val_size of the shuffle
    perm = np.random.Generator(np.random.PCG64(SPLIT_SEED)).permutation(N_TRAIN)
    assert list(tr) == list(perm[:160]) and list(va) == list(perm[160:])
    assert list(tr) != sorted(tr)
    # labels follow their images
    assert np.array_equal(ds.y_train, arrays["train_labels"][tr])
    assert np.array_equal(ds.y_eval, arrays["train_labels"][va])
    assert ds.meta["source"] == "data-dir" and ds.meta["split_seed"] == SPLIT_SEED


def test_split_ignores_the_run_seed_and_repeats(folder):
    d, _ = folder
    a = load_dataset("mnist", data_dir=d, val_size=40, seed=0)
    b = load_dataset("mnist", data_dir=d, val_size=40, seed=123)
    assert np.array_equal(a.X_eval, b.X_eval) and np.array_equal(a.y_train, b.y_train)
    # a larger validation set is the tail of the same shuffle
    c = load_dataset("mnist", data_dir=d, val_size=60)
    assert set(_ids(a.X_eval)) <= set(_ids(c.X_eval))


def test_final_uses_all_training_images_and_the_test_set(folder):
    d, arrays = folder
    ds = load_dataset("mnist", data_dir=d, final=True)
    assert ds.eval_split == "test"
    assert ds.X_train.shape == (N_TRAIN, 784) and ds.X_eval.shape == (N_TEST, 784)
    assert list(_ids(ds.X_train)) == list(range(N_TRAIN))  # canonical order
    assert np.array_equal(ds.y_eval, arrays["test_labels"])
    assert ds.meta["val_size"] is None


def test_limit_takes_the_first_training_examples_after_the_split(folder):
    d, _ = folder
    full = load_dataset("mnist", data_dir=d, val_size=40)
    lim = load_dataset("mnist", data_dir=d, val_size=40, limit=25)
    assert lim.X_train.shape == (25, 784)
    assert np.array_equal(lim.X_train, full.X_train[:25])
    assert np.array_equal(lim.X_eval, full.X_eval)  # validation untouched
    with pytest.raises(BackproplabError, match="^limit must be at least 1"):
        load_dataset("mnist", data_dir=d, val_size=40, limit=0)


@pytest.mark.parametrize("val_size", [N_TRAIN, N_TRAIN + 1, 0, -3])
def test_bad_val_size_is_a_clear_error(folder, val_size):
    d, _ = folder
    with pytest.raises(BackproplabError, match=r"^val_size must be between 1 and 199.*final=True"):
        load_dataset("mnist", data_dir=d, val_size=val_size)


def test_unit_scaling_is_divide_by_255(folder):
    d, arrays = folder
    ds = load_dataset("mnist", data_dir=d, final=True)
    assert ds.normalizer.mode == "unit"
    np.testing.assert_allclose(ds.X_eval, arrays["test_images"].reshape(N_TEST, -1) / 255.0,
                               rtol=1e-6)
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0


def test_standardize_uses_training_statistics_only(folder):
    d, arrays = folder
    ds = load_dataset("mnist", data_dir=d, val_size=40, normalize="standardize",
                      dtype=np.float64)
    assert ds.X_train.dtype == np.float64
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-9)
    # the shift is the mean of the 160 training images, not of all 200
    perm = np.random.Generator(np.random.PCG64(SPLIT_SEED)).permutation(N_TRAIN)
    raw = arrays["train_images"].reshape(N_TRAIN, -1).astype(np.float64)
    np.testing.assert_allclose(ds.normalizer.shift, raw[perm[:160]].mean(axis=0))
    assert not np.allclose(ds.normalizer.shift, raw.mean(axis=0))
    np.testing.assert_allclose(ds.X_eval, (raw[perm[160:]] - ds.normalizer.shift)
                               / ds.normalizer.scale)


def test_none_keeps_raw_pixel_values_and_flatten_false_keeps_images(folder):
    d, arrays = folder
    ds = load_mnist("mnist", data_dir=d, final=True, normalize="none", flatten=False)
    assert ds.X_train.shape == (N_TRAIN, 28, 28)
    assert np.array_equal(ds.X_eval, arrays["test_images"].astype(np.float32))


def test_split_indices_partition():
    tr, va = split_indices(10, 3)
    assert sorted(np.concatenate([tr, va])) == list(range(10)) and len(va) == 3
    _tr2, va2 = split_indices(10, 3)
    assert np.array_equal(va, va2)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, "nonsense"])
def test_a_non_float_dtype_is_a_clear_error(folder, dtype):
    d, _ = folder
    with pytest.raises(BackproplabError, match="must be a floating type"):
        load_mnist("mnist", data_dir=d, dtype=dtype)
    with pytest.raises(BackproplabError, match="must be a floating type"):
        load_dataset("synth", limit=10, dtype=dtype)
