"""Verification: structure always, MD5 / content SHA-256 where they apply."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from backproplab.data import catalog, load_dataset
from backproplab.data.idx import encode_idx
from backproplab.data.verify import verify_location
from backproplab.errors import BackproplabError


def _verify(tmp_path, name="mnist"):
    return verify_location(name, catalog.locate(name, tmp_path))


@pytest.mark.parametrize("damage, words", [
    (lambda a: a.update(train_labels=a["train_labels"][:-1]), ["holds 40 images but", "39 labels"]),
    (lambda a: a["test_labels"].__setitem__(0, 10), ["label 10", "outside 0-9"]),
    (lambda a: a.update(train_images=a["train_images"].astype(np.int16)), ["not uint8 images"]),
    (lambda a: a.update(test_labels=a["test_labels"].reshape(5, 2)), ["not uint8 labels"]),
    (lambda a: a.update(test_images=a["test_images"][:, :27, :]), ["28x28", "27x28"]),
    (lambda a: a.update(train_images=a["train_images"][:0], train_labels=a["train_labels"][:0]),
     ["holds no images"]),
])
def test_structure_problems_are_errors(tools, tmp_path, damage, words):
    arrays = tools.image_set(n_train=40, n_test=10)
    damage(arrays)
    tools.write_set(tmp_path, arrays)
    with pytest.raises(BackproplabError) as info:
        _verify(tmp_path)
    for w in words:
        assert w in str(info.value)


def test_subset_is_structure_only(tools, tmp_path):
    tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    v = _verify(tmp_path, "fashion-mnist")
    assert not v.verified and not v.mismatches
    assert v.status == "structure only"
    assert "not the canonical size" in v.summary()
    assert v.arrays["train_images"].shape == (40, 28, 28)


def test_canonical_size_content_hash(tools, tmp_path, use_spec):
    arrays = tools.image_set(n_train=40, n_test=10)
    # a re-compressed copy (different gzip level => other compressed bytes)
    paths = tools.write_set(tmp_path / "orig", arrays, level=9)
    use_spec(tools.spec_for("fashion-mnist", arrays, paths, sha256=True))
    tools.write_set(tmp_path / "copy", arrays, level=1)
    v = _verify(tmp_path / "copy", "fashion-mnist")
    assert v.verified and {c.status for c in v.checks.values()} == {"sha256"}
    assert v.summary() == "verified (content SHA-256)"
    # the original bytes verify by MD5
    v = _verify(tmp_path / "orig", "fashion-mnist")
    assert {c.status for c in v.checks.values()} == {"md5"}
    # raw (uncompressed) files verify by content
    tools.write_set(tmp_path / "raw", arrays, gz=False)
    assert _verify(tmp_path / "raw", "fashion-mnist").verified


def test_canonical_size_but_different_content_is_a_mismatch_and_a_warning(
        tools, tmp_path, use_spec):
    arrays = tools.image_set(n_train=40, n_test=10)
    use_spec(tools.spec_for("fashion-mnist", arrays, sha256=True))
    other = dict(arrays, train_images=arrays["train_images"] ^ 1)
    tools.write_set(tmp_path, other)
    v = _verify(tmp_path, "fashion-mnist")
    assert v.status == "mismatch"
    assert [c.role for c in v.mismatches] == ["train_images"]
    assert "train-images-idx3-ubyte.gz" in v.summary()
    # loading still works, with a warning
    with pytest.warns(UserWarning, match="content differs"):
        ds = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10)
    assert ds.meta["verification"] == "mismatch"
    assert ds.X_train.shape == (30, 784)


def test_md5_verified_files_record_content_hashes(tools, tmp_path, use_spec):
    """MNIST has no built-in content hashes: an MD5-verified copy records them, and a
    re-compressed copy is then checked against the recorded ones."""
    arrays = tools.image_set(n_train=40, n_test=10)
    paths = tools.write_set(tmp_path / "orig", arrays)
    use_spec(tools.spec_for("mnist", arrays, paths))  # MD5s known, content hashes not
    tools.write_set(tmp_path / "copy", arrays, gz=False)
    v = _verify(tmp_path / "copy")
    assert v.status == "structure only" and "no content hash known" in v.summary()
    assert not catalog.recorded_hashes_path().exists()

    v = _verify(tmp_path / "orig")
    assert v.verified
    recorded = catalog.recorded_hashes()["mnist"]
    assert recorded["train_labels"] == hashlib.sha256(encode_idx(arrays["train_labels"])).hexdigest()

    v = _verify(tmp_path / "copy")
    assert v.verified and "recorded" in v.checks["train_images"].detail
    # and a different file of that size no longer passes
    bad = dict(arrays, test_labels=(arrays["test_labels"] + 1) % 10)
    tools.write_set(tmp_path / "bad", bad)
    assert [c.role for c in _verify(tmp_path / "bad").mismatches] == ["test_labels"]


def test_gz_file_that_is_not_gzip_is_an_error(tools, tmp_path):
    paths = tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    data = gzip.decompress(paths["test_images"].read_bytes())
    paths["test_images"].write_bytes(data)
    with pytest.raises(BackproplabError, match="t10k-images-idx3-ubyte.gz.*not gzip"):
        _verify(tmp_path)
