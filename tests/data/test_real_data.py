"""Real Fashion-MNIST, as installed by Debian's ``dataset-fashion-mnist`` (``.ci/run`` installs it).

The files are found without ``--data-dir`` (the system location is searched) and
verified by their content SHA-256 (Debian re-compresses them, so their MD5s
differ from the published ones).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backproplab.data import load_dataset
from backproplab.data.catalog import locate

DEBIAN = Path("/usr/share/datasets/fashion-mnist")

pytestmark = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)


def test_fashion_mnist_is_found_in_the_system_location_and_verified():
    loc = locate("fashion-mnist")
    assert loc.source == "system" and loc.directory == DEBIAN
    ds = load_dataset("fashion-mnist")
    assert ds.meta["source"] == "system"
    assert ds.meta["verification"] == "verified"
    assert ds.meta["verification_detail"] == "verified (content SHA-256)"
    assert ds.X_train.shape == (55_000, 784) and ds.X_eval.shape == (5_000, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 == ds.X_train.min() and ds.X_train.max() == 1.0
    # ten balanced classes: 6,000 of each in the full training set
    y_all = np.concatenate([ds.y_train, ds.y_eval])
    assert np.array_equal(np.bincount(y_all), np.full(10, 6000))


def test_final_gives_the_canonical_test_set():
    ds = load_dataset("fashion-mnist", final=True)
    assert ds.eval_split == "test"
    assert ds.X_train.shape == (60_000, 784) and ds.X_eval.shape == (10_000, 784)
    assert np.array_equal(np.bincount(ds.y_eval), np.full(10, 1000))


def test_cli_verify_and_list_find_it(cli):
    r = cli("data", "verify", "fashion-mnist")
    assert r.status == 0 and "verified (content SHA-256)" in r.out
    assert str(DEBIAN) in r.out
    r = cli("data", "list", "--json")
    row = {x["dataset"]: x for x in r.json()["datasets"]}["fashion-mnist"]
    assert row["source"] == "system" and row["verified"] is True
