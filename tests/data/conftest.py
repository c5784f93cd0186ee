"""Fixtures for the data tests: an isolated cache, no network, small IDX sets."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from backproplab.data import catalog, mnist
from backproplab.data.idx import encode_idx


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """Every data test gets its own cache and no way to reach the internet.

    The mirrors point at a folder that does not exist, so an unexpected download
    fails at once instead of going out to the network.
    """
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(catalog.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(catalog.ENV_OFFLINE, raising=False)
    for spec in catalog.CATALOG.values():
        monkeypatch.setenv(catalog.mirror_env_var(spec), (tmp_path / "no-mirror").as_uri())
    mnist._MEMO.clear()
    yield
    mnist._MEMO.clear()


def image_set(n_train=120, n_test=30, rows=28, cols=28, seed=0):
    """Four small arrays forming a valid image dataset.

    Every image is distinct: its first two pixels encode its index in the
    training/test set (so tests can tell which images ended where).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        im = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
        idx = np.arange(n)
        im[:, 0, 0] = idx // 256
        im[:, 0, 1] = idx % 256
        out[f"{split}_images"] = im
        out[f"{split}_labels"] = (rng.permutation(n) % 10).astype(np.uint8)
    return out


NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_set(folder: Path, arrays: dict, gz: bool = True, level: int = 9) -> dict[str, Path]:
    """Write the four arrays as IDX files into ``folder``; returns role -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, arr in arrays.items():
        data = encode_idx(arr)
        name = NAMES[role] + (".gz" if gz else "")
        if gz:
            data = gzip.compress(data, compresslevel=level, mtime=0)
        (folder / name).write_bytes(data)
        paths[role] = folder / name
    return paths


def gzip_bomb(shape, zeros: int) -> bytes:
    """A gzip stream: an IDX header for uint8 ``shape``, then ``zeros`` zero bytes
    (compressed about 1000:1), made in chunks so that the test itself stays small."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    parts = [packer.compress(struct.pack(f">HBB{len(shape)}I", 0, 8, len(shape), *shape))]
    block = bytes(1 << 20)
    for _ in range(zeros // len(block)):
        parts.append(packer.compress(block))
    parts.append(packer.compress(bytes(zeros % len(block))))
    return b"".join(parts) + packer.flush()


def spec_for(name: str, arrays: dict, paths: dict | None = None, sha256: bool = False,
             **changes) -> catalog.DatasetSpec:
    """The catalog spec of ``name`` with canonical shapes (and MD5s of ``paths``) of a test set.

    With ``sha256`` the content hashes of the arrays become the known ones;
    otherwise there are none.
    """
    base = catalog.get_spec(name)
    files = []
    for fs in base.files:
        arr = arrays[fs.role]
        md5 = hashlib.md5(paths[fs.role].read_bytes()).hexdigest() if paths else None
        sha = hashlib.sha256(encode_idx(arr)).hexdigest() if sha256 else None
        files.append(dataclasses.replace(fs, md5=md5, sha256=sha, shape=tuple(arr.shape)))
    return dataclasses.replace(base, files=tuple(files), **changes)


@pytest.fixture
def use_spec(monkeypatch):
    """Replace a catalog entry for the duration of a test."""

    def install(spec: catalog.DatasetSpec) -> catalog.DatasetSpec:
        monkeypatch.setitem(catalog.CATALOG, spec.name, spec)
        return spec

    return install


@pytest.fixture
def no_system_dirs(monkeypatch, tmp_path):
    """Catalog entries whose system locations are empty folders (nothing found there)."""
    for name, spec in list(catalog.CATALOG.items()):
        monkeypatch.setitem(catalog.CATALOG, name, dataclasses.replace(
            spec, system_dirs=(str(tmp_path / "system" / name),)))


@pytest.fixture
def tools():
    """The helpers above (test modules cannot import a conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(image_set=image_set, write_set=write_set, spec_for=spec_for,
                           gzip_bomb=gzip_bomb, NAMES=NAMES)
