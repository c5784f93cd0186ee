"""Where the tool looks for dataset files, and in which order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backproplab.data import catalog
from backproplab.errors import BackproplabError


@pytest.fixture
def small(tools):
    return tools.image_set(n_train=20, n_test=10)


def test_catalog_has_both_datasets_with_published_md5s():
    assert set(catalog.CATALOG) == {"mnist", "fashion-mnist"}
    m = catalog.get_spec("mnist")
    assert [f.filename for f in m.files] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert m.file("train_images").md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert catalog.get_spec("fashion-mnist").file("test_labels").md5 == \
        "bb300cfdad3c16e7a12a480ee83cd310"
    assert all(f.sha256 for f in catalog.get_spec("fashion-mnist").files)
    for spec in catalog.CATALOG.values():
        assert spec.mirrors and all(u.startswith("https://") for u in spec.mirrors)
        assert spec.file("train_images").shape == (60_000, 28, 28)
        assert spec.file("test_labels").shape == (10_000,)
    assert "/usr/share/datasets/fashion-mnist" in catalog.FASHION_MNIST.system_dirs
    with pytest.raises(BackproplabError, match="unknown image dataset"):
        catalog.get_spec("cifar")


def test_cache_root_follows_xdg_and_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert catalog.cache_dir("mnist") == tmp_path / "c" / "backproplab" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert catalog.cache_root() == tmp_path / "home" / ".cache" / "backproplab"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says: ignore
    assert catalog.cache_root() == tmp_path / "home" / ".cache" / "backproplab"


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv(catalog.ENV_DATA_DIR, str(tmp_path / "env"))
    order = [(s, p) for s, p in catalog.search_path("fashion-mnist")]
    sources = [s for s, _ in order]
    assert sources[0] == "env"
    assert sources.index("cache") > max(i for i, s in enumerate(sources) if s == "env")
    assert sources[-2:] == ["system", "system"]
    assert order[-2][1] == Path("/usr/share/datasets/fashion-mnist")
    # an explicit --data-dir is the only place searched
    only = catalog.search_path("fashion-mnist", tmp_path / "mine")
    assert {s for s, _ in only} == {"data-dir"}
    assert only[0][1] == tmp_path / "mine"


def test_data_dir_wins_and_accepts_raw_names(tools, small, tmp_path, no_system_dirs):
    tools.write_set(catalog.cache_dir("mnist"), small)
    tools.write_set(tmp_path / "mine", small, gz=False)
    loc = catalog.locate("mnist", tmp_path / "mine")
    assert loc.source == "data-dir" and loc.directory == tmp_path / "mine"
    assert loc.files["train_images"].name == "train-images-idx3-ubyte"
    # without it, the cache
    loc = catalog.locate("mnist")
    assert loc.source == "cache" and loc.files["train_images"].suffix == ".gz"


def test_env_dir_then_cache_then_system(tools, small, tmp_path, monkeypatch, use_spec):
    spec = catalog.get_spec("fashion-mnist")
    sysdir = tmp_path / "usr-share"
    use_spec(dataclasses.replace(spec, system_dirs=(str(sysdir),)))
    assert catalog.locate("fashion-mnist") is None
    tools.write_set(sysdir, small)
    assert catalog.locate("fashion-mnist").source == "system"
    tools.write_set(catalog.cache_dir("fashion-mnist"), small)
    assert catalog.locate("fashion-mnist").source == "cache"
    # the environment variable, with the dataset in a sub-folder named after it
    tools.write_set(tmp_path / "env" / "fashion-mnist", small)
    monkeypatch.setenv(catalog.ENV_DATA_DIR, str(tmp_path / "env"))
    loc = catalog.locate("fashion-mnist")
    assert loc.source == "env" and loc.directory == tmp_path / "env" / "fashion-mnist"


def test_other_layouts_in_a_data_dir(tools, small, tmp_path):
    # torchvision keeps ROOT/FashionMNIST/raw; some archives use dotted names
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for role, name in tools.NAMES.items():
        tools.write_set(tmp_path / "tmp", {role: small[role]}, gz=False)
        (tmp_path / "tmp" / name).rename(raw / name.replace("-idx", ".idx"))
    loc = catalog.locate("fashion-mnist", tmp_path / "root")
    assert loc.directory == raw
    assert loc.files["train_labels"].name == "train-labels.idx1-ubyte"


def test_partial_data_dir_names_missing_files(tools, small, tmp_path):
    paths = tools.write_set(tmp_path / "d", small)
    paths["test_labels"].unlink()
    with pytest.raises(BackproplabError, match="missing: t10k-labels-idx1-ubyte.gz"):
        catalog.locate("mnist", tmp_path / "d")


def test_bad_data_dir(tmp_path):
    with pytest.raises(BackproplabError, match="is not a folder"):
        catalog.locate("mnist", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackproplabError, match="no mnist files in data_dir"):
        catalog.locate("mnist", tmp_path / "empty")


def test_partial_set_elsewhere_is_skipped(tools, small, tmp_path, no_system_dirs):
    paths = tools.write_set(catalog.cache_dir("mnist"), small)
    paths["train_labels"].unlink()
    assert catalog.locate("mnist") is None


def test_mirrors_can_be_replaced_from_the_environment(monkeypatch):
    spec = catalog.get_spec("fashion-mnist")
    monkeypatch.delenv("BACKPROPLAB_MIRRORS_FASHION_MNIST")
    assert catalog.mirrors(spec) == spec.mirrors
    monkeypatch.setenv("BACKPROPLAB_MIRRORS_FASHION_MNIST", "file:///a/, http://127.0.0.1:1/b")
    assert catalog.mirrors(spec) == ("file:///a/", "http://127.0.0.1:1/b")


def test_recorded_hashes_round_trip_and_never_override_built_in():
    assert catalog.known_sha256("mnist", "train_images") == (None, "unknown")
    catalog.record_hashes("mnist", {"train_images": "ab" * 32})
    assert catalog.known_sha256("mnist", "train_images") == ("ab" * 32, "recorded")
    catalog.record_hashes("fashion-mnist", {"train_images": "cd" * 32})
    sha, origin = catalog.known_sha256("fashion-mnist", "train_images")
    assert origin == "built-in" and sha.startswith("c59f468a")
    # a damaged hash file is ignored, not fatal
    catalog.recorded_hashes_path().write_text("{not json")
    assert catalog.known_sha256("mnist", "train_images") == (None, "unknown")


def test_offline_flag(monkeypatch):
    assert not catalog.offline()
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(catalog.ENV_OFFLINE, value)
        assert catalog.offline() is expected


def test_looked_in_names_each_place_once(monkeypatch, tmp_path):
    monkeypatch.setenv(catalog.ENV_DATA_DIR, str(tmp_path / "env"))
    places = catalog.looked_in("mnist").split(", ")
    assert places[0] == str(tmp_path / "env")
    assert places[1] == str(catalog.cache_dir("mnist"))
    assert "/usr/share/datasets/mnist" in places
    assert catalog.looked_in("mnist", tmp_path / "d") == str(tmp_path / "d")
