"""Damaged IDX files (truncated, bit-flipped, garbage) give BackproplabError and nothing else:
from the reader, from a dataset's verification and from a download's checks."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tests.faults.damage import FAULTS, damaged

from backproplab.data import catalog
from backproplab.data.download import MirrorFailed, fetch_file
from backproplab.data.idx import encode_idx, read_idx_file
from backproplab.data.verify import verify_location
from backproplab.errors import BackproplabError

_RNG = np.random.default_rng(0)
ARRAYS = {
    "images": _RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8),
    "labels": _RNG.integers(0, 10, 6, dtype=np.uint8),
    "int32": _RNG.integers(-1000, 1000, (3, 4), dtype=np.int32),
    "float64": _RNG.standard_normal((2, 3, 2)),
}
#: name -> good file bytes (gzip and raw of each array)
GOOD = {}
for _name, _arr in ARRAYS.items():
    GOOD[f"{_name}-idx-ubyte"] = encode_idx(_arr)
    GOOD[f"{_name}-idx-ubyte.gz"] = gzip.compress(encode_idx(_arr), mtime=0)


def _damaged_file():
    return st.sampled_from(sorted(GOOD)).flatmap(
        lambda name: st.tuples(st.just(name), damaged(GOOD[name])))


@FAULTS
@given(case=_damaged_file(), bounded=st.booleans())
def test_the_idx_reader_raises_only_backproplab_error(tmp_path_factory, case, bounded):
    name, data = case
    path = tmp_path_factory.mktemp("idx") / name
    path.write_bytes(data)
    try:
        f = read_idx_file(path, max_bytes=5000 if bounded else None)
    except BackproplabError:
        return
    # what is accepted is a consistent IDX file: its content re-encodes to itself
    assert encode_idx(f.array) == bytes(f.content)
    assert f.content_sha256 and f.file_md5


def _set_files():
    arrays = {"train_images": ARRAYS["images"], "train_labels": ARRAYS["labels"],
              "test_images": ARRAYS["images"][:3], "test_labels": ARRAYS["labels"][:3]}
    stems = {fs.role: fs.filename for fs in catalog.MNIST.files}
    return {role: (stems[role], gzip.compress(encode_idx(a), mtime=0))
            for role, a in arrays.items()}


SET = _set_files()


@FAULTS
@given(role=st.sampled_from(sorted(SET)), data=st.data())
def test_verifying_a_dataset_with_a_damaged_file_raises_only_backproplab_error(
        tmp_path_factory, role, data):
    folder = tmp_path_factory.mktemp("set")
    for r, (name, good) in SET.items():
        (folder / name).write_bytes(data.draw(damaged(good)) if r == role else good)
    location = catalog.Location("mnist", "data-dir", folder, catalog.find_in(catalog.MNIST, folder))
    try:
        verify_location("mnist", location, record=False)
    except BackproplabError:
        pass


@FAULTS
@given(data=damaged(SET["train_labels"][1]))
def test_a_mirror_serving_damaged_data_fails_only_as_a_mirror(tmp_path_factory, data):
    name, good = SET["train_labels"]
    fs = dataclasses.replace(catalog.MNIST.file("train_labels"), shape=(6,), size=None,
                             md5=hashlib.md5(good).hexdigest())
    folder = tmp_path_factory.mktemp("mirror")
    (folder / name).write_bytes(data)
    dest = folder / "cache" / name
    dest.parent.mkdir()
    try:
        fetch_file((folder / name).as_uri(), dest, fs)
    except MirrorFailed:
        assert not dest.exists() and list(dest.parent.iterdir()) == []
        return
    assert dest.read_bytes() == good  # only the published bytes get through
