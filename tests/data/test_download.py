"""Downloads into the cache against local mirrors (file:// and an HTTP server on 127.0.0.1).

The mirrors serve small IDX files made here; their MD5s become the expected ones
through a replaced catalog entry. Nothing reaches the internet.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import socket
import threading
import time
import tracemalloc
import types
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from backproplab.data import catalog, idx, load_dataset, verify
from backproplab.data import download as dl
from backproplab.data.download import download, fetch_file
from backproplab.errors import BackproplabError


@pytest.fixture
def mirror(tools, tmp_path, use_spec, no_system_dirs):
    """Files for three mirrors: ``good`` (the expected files), ``bad`` (valid IDX files
    with other content, so wrong MD5s) and ``missing`` (nothing: HTTP 404)."""
    root = tmp_path / "mirror"
    arrays = tools.image_set(n_train=60, n_test=20, seed=1)
    good = tools.write_set(root / "good", arrays)
    tools.write_set(root / "bad", tools.image_set(n_train=60, n_test=20, seed=2))
    (root / "missing").mkdir()
    spec = use_spec(tools.spec_for("mnist", arrays, good))
    return root, spec, {r: p.read_bytes() for r, p in good.items()}


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus ``/broken/NAME``: announces the whole file, sends half, hangs up;
    ``/endless/NAME``: the file's first bytes, then zeros without end and no Content-Length;
    ``/huge/NAME``: announces a terabyte."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _endless(self, name: str) -> None:
        self.send_response(200)
        self.end_headers()
        head = (self._root / "good" / name).read_bytes()[:100]
        block = bytes(1 << 16)
        try:
            self.wfile.write(head)
            while True:  # until the client hangs up
                self.wfile.write(block)
        except OSError:
            self.close_connection = True

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/endless/"):
            return self._endless(name)
        if self.path.startswith("/huge/"):
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.close_connection = True
            return None
        if self.path.startswith("/broken/"):
            data = (self._root / "good" / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@pytest.fixture
def server(mirror):
    root = mirror[0]
    handler = type("H", (_Handler,), {"_root": root})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _cache_listing():
    folder = catalog.cache_dir("mnist")
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _cache_bytes():
    folder = catalog.cache_dir("mnist")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_download_from_a_file_mirror(mirror):
    root, _spec, good = mirror
    lines = []
    loc = download("mnist", mirrors=[(root / "good").as_uri() + "/"], progress=False,
                   log=lines.append)
    assert loc.source == "cache" and loc.directory == catalog.cache_dir("mnist")
    assert _cache_listing() == FILES  # no temporary files left
    for role, data in good.items():
        assert loc.files[role].read_bytes() == data
    assert len(lines) == 4 and all(", verified" in line for line in lines)
    # MNIST has no built-in content hashes: the MD5-verified download recorded them
    assert set(catalog.recorded_hashes()["mnist"]) == set(catalog.ROLES)
    # a second call fetches nothing (the mirror list is now useless on purpose)
    lines.clear()
    download("mnist", mirrors=[(root / "missing").as_uri()], progress=False, log=lines.append)
    assert all("already in the cache" in line for line in lines)


def test_each_file_is_read_and_hashed_once(mirror, monkeypatch):
    """A download verifies each file once: what it fetched (or found good in the cache)
    is what the final consistency check uses, not a second read of the folder."""
    root, _, _ = mirror
    calls = []

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(idx, "hashlib", types.SimpleNamespace(
        md5=counting("md5", hashlib.md5), sha256=hashlib.sha256))
    monkeypatch.setattr(verify, "read_idx_file", counting("read", verify.read_idx_file))
    monkeypatch.setattr(dl, "read_idx_file", counting("read", dl.read_idx_file))
    download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    assert calls == ["md5"] * 4  # fetched and verified, never read back
    calls.clear()
    download("mnist", mirrors=[(root / "missing").as_uri()], progress=False)
    assert calls == ["read", "md5"] * 4  # found in the cache: read and verified once each


def test_http_mirrors_are_tried_in_order(mirror, server):
    _, _, good = mirror
    mirrors = [f"{server}/missing/", f"{server}/broken/", f"{server}/bad/", f"{server}/good/"]
    loc = download("mnist", mirrors=mirrors, progress=True, timeout=10)
    assert _cache_listing() == FILES
    assert loc.files["train_images"].read_bytes() == good["train_images"]


def test_every_mirror_failing_is_reported_and_leaves_nothing(mirror, server):
    mirrors = [f"{server}/missing/", f"{server}/broken/", f"{server}/bad/"]
    with pytest.raises(BackproplabError) as info:
        download("mnist", mirrors=mirrors, progress=False, timeout=10)
    msg = str(info.value)
    assert f"{server}/missing/train-images-idx3-ubyte.gz: HTTP 404" in msg
    assert f"{server}/broken/train-images-idx3-ubyte.gz: connection closed after" in msg
    assert f"{server}/bad/train-images-idx3-ubyte.gz: MD5 " in msg
    assert "by hand" in msg and str(catalog.cache_dir("mnist")) in msg
    assert _cache_listing() == []


@pytest.mark.parametrize("where", ["broken", "bad", "missing"])
def test_failed_forced_download_keeps_the_good_cached_file(mirror, server, where):
    """An interrupted download, a checksum mismatch or a 404 never touch the cache."""
    download("mnist", mirrors=[f"{server}/good/"], progress=False)
    before = _cache_bytes()
    with pytest.raises(BackproplabError, match="could not download"):
        download("mnist", mirrors=[f"{server}/{where}/"], force=True, progress=False)
    assert _cache_bytes() == before


def test_interrupt_mid_stream_removes_the_temporary_file(mirror, server):
    _, spec, _good = mirror
    download("mnist", mirrors=[f"{server}/good/"], progress=False)
    before = _cache_bytes()

    class Interrupting:
        def add_task(self, *a, **k):
            return 0

        def update(self, *a, **k):
            raise KeyboardInterrupt

        def remove_task(self, *a):
            pass

    fs = spec.file("train_images")
    with pytest.raises(KeyboardInterrupt):
        fetch_file(f"{server}/good/{fs.filename}", catalog.cache_dir("mnist") / fs.filename, fs,
                   progress=Interrupting())
    assert _cache_bytes() == before


def test_a_damaged_cached_file_is_replaced(mirror):
    root, _, good = mirror
    download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    cached = catalog.cache_dir("mnist") / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-10])
    download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    assert cached.read_bytes() == good["train_labels"]


def test_load_dataset_downloads_what_it_cannot_find(mirror, monkeypatch):
    root, _, _good = mirror
    monkeypatch.setenv("BACKPROPLAB_MIRRORS_MNIST", (root / "good").as_uri())
    ds = load_dataset("mnist", val_size=10)
    assert ds.meta["source"] == "cache" and ds.meta["verification"] == "verified"
    assert ds.X_train.shape == (50, 784) and ds.y_eval.shape == (10,)
    assert _cache_listing() == FILES


def test_not_found_and_not_downloadable_is_one_clear_sentence(mirror, monkeypatch):
    root, _, _ = mirror
    cache = str(catalog.cache_dir("mnist"))
    with pytest.raises(BackproplabError) as info:
        load_dataset("mnist", download=False)
    msg = str(info.value)
    assert "mnist is not on this machine (looked in" in msg and cache in msg
    assert "backproplab data download mnist" in msg and "pass as data_dir" in msg
    assert "--" not in msg and info.value.settings == ("data_dir",)
    assert msg.count(". ") == 0 and "\n" not in msg

    monkeypatch.setenv(catalog.ENV_OFFLINE, "1")
    with pytest.raises(BackproplabError, match="BACKPROPLAB_OFFLINE is set"):
        load_dataset("mnist")
    monkeypatch.delenv(catalog.ENV_OFFLINE)

    monkeypatch.setenv("BACKPROPLAB_MIRRORS_MNIST", (root / "missing").as_uri())
    with pytest.raises(BackproplabError) as info:
        load_dataset("mnist")
    msg = str(info.value)
    assert "looked in" in msg and "could not download" in msg and "by hand" in msg
    assert _cache_listing() == []


def test_downloaded_arrays_match_the_served_ones(mirror, tools):
    root, _, _ = mirror
    download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    ds = load_dataset("mnist", final=True, normalize="none")
    expected = tools.image_set(n_train=60, n_test=20, seed=1)
    assert np.array_equal(ds.X_eval.reshape(20, 28, 28), expected["test_images"])
    assert np.array_equal(ds.y_train, expected["train_labels"])


def test_a_recompressed_copy_is_accepted_by_its_content_hash(tools, tmp_path, use_spec,
                                                              no_system_dirs):
    """Where the content SHA-256 is known (Fashion-MNIST), a mirror serving a
    re-compressed copy (other MD5) is accepted; other content is not."""
    arrays = tools.image_set(n_train=60, n_test=20, seed=3)
    orig = tools.write_set(tmp_path / "orig", arrays, level=9)
    use_spec(tools.spec_for("fashion-mnist", arrays, orig, sha256=True))
    # a re-compressed copy: same content, other gzip header, so other MD5s
    for path in tools.write_set(tmp_path / "recompressed", arrays, gz=False).values():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes(), mtime=1))
    tools.write_set(tmp_path / "other", dict(arrays, train_labels=(arrays["train_labels"] + 1) % 10))

    with pytest.raises(BackproplabError) as info:
        download("fashion-mnist", mirrors=[(tmp_path / "other").as_uri()], progress=False)
    assert "train-labels-idx1-ubyte.gz: MD5" in str(info.value)
    assert "; content SHA-256 " in str(info.value)
    assert "differs from the built-in" in str(info.value)

    lines = []
    loc = download("fashion-mnist", mirrors=[(tmp_path / "recompressed").as_uri()],
                   progress=False, log=lines.append)
    # train-images came from "other" (same content, verified by MD5); the failed
    # train-labels and the files after it come from the re-compressed mirror
    assert loc.files["train_images"].read_bytes() == orig["train_images"].read_bytes()
    for role in ("train_labels", "test_images", "test_labels"):
        assert loc.files[role].read_bytes() != orig[role].read_bytes()
    ds = load_dataset("fashion-mnist", val_size=10)
    assert ds.meta["verification_detail"] == "verified (published MD5 and content SHA-256)"
    # already good by content: nothing fetched the second time
    lines.clear()
    download("fashion-mnist", mirrors=[(tmp_path / "nothing").as_uri()], progress=False,
             log=lines.append)
    assert len(lines) == 4 and all("already in the cache" in line for line in lines)


def test_a_mirror_serving_raw_data_under_a_gz_name_is_refused(tools, tmp_path, use_spec,
                                                              no_system_dirs):
    arrays = tools.image_set(n_train=60, n_test=20, seed=3)
    use_spec(tools.spec_for("fashion-mnist", arrays, sha256=True))
    for path in tools.write_set(tmp_path / "raw", arrays, gz=False).values():
        path.rename(path.with_name(path.name + ".gz"))
    with pytest.raises(BackproplabError, match="not gzip data"):
        download("fashion-mnist", mirrors=[(tmp_path / "raw").as_uri()], progress=False)
    assert not any(catalog.cache_dir("fashion-mnist").iterdir())


def test_leftovers_of_a_killed_download_are_removed_later(mirror):
    root, _, _ = mirror
    folder = catalog.cache_dir("mnist")
    folder.mkdir(parents=True)
    old = folder / ".train-images-idx3-ubyte.gz.abc123.tmp"
    fresh = folder / ".t10k-labels-idx1-ubyte.gz.def456.tmp"  # maybe another process's
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(old, (time.time() - 2 * 24 * 3600,) * 2)
    download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_a_bad_timeout_is_refused_before_anything_is_fetched(mirror, timeout):
    root, _, _ = mirror
    with pytest.raises(BackproplabError, match="timeout must be a positive number"):
        download("mnist", mirrors=[(root / "good").as_uri()], progress=False, timeout=timeout)
    assert _cache_listing() == []


def test_an_unwritable_cache_is_one_clear_error(mirror, monkeypatch, tmp_path):
    root, _, _ = mirror
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the cache root would have to be created inside a file
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(BackproplabError) as info:
        download("mnist", mirrors=[(root / "good").as_uri()], progress=False)
    msg = str(info.value)
    assert "cannot write mnist's files into the cache folder" in msg
    assert "XDG_CACHE_HOME" in msg and "pass as data_dir" in msg


def test_a_cache_folder_refusing_new_files_is_one_clear_error(mirror, monkeypatch):
    """A folder that exists but cannot take a temporary file (permissions, say;
    simulated, since the tests may run as root)."""
    import tempfile

    root, _, _ = mirror

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(BackproplabError, match=r"cache folder .*\(Permission denied\)"):
        download("mnist", mirrors=[(root / "good").as_uri()], progress=False)


def _with_published_sizes(use_spec, spec, good):
    """``spec`` with the served files' lengths as the published sizes."""
    files = tuple(dataclasses.replace(f, size=len(good[f.role])) for f in spec.files)
    return use_spec(dataclasses.replace(spec, files=files))


def test_a_mirror_streaming_without_end_is_abandoned_at_the_files_size(mirror, server, use_spec):
    """Regression: a mirror streaming without end (no Content-Length) used 2 GB of memory
    and a 1 GiB temporary file. The download stops one chunk past the published size,
    says so, and leaves no temporary file."""
    _, spec, good = mirror
    _with_published_sizes(use_spec, spec, good)
    tracemalloc.start()
    try:
        with pytest.raises(BackproplabError) as info:
            download("mnist", mirrors=[f"{server}/endless/"], progress=False, timeout=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = len(good["train_images"])
    assert (f"{server}/endless/train-images-idx3-ubyte.gz: sent more than the {size} bytes "
            "train-images-idx3-ubyte.gz can take") in str(info.value)
    assert _cache_listing() == []
    assert peak < size + (1 << 20)


def test_a_mirror_announcing_too_much_is_refused_before_reading(mirror, server):
    _, spec, _ = mirror
    limit = spec.file("train_images").max_download_bytes()
    assert limit == 9_912_422  # MNIST's published size (no content hash is built in)
    with pytest.raises(BackproplabError, match=f"announces {10**12} bytes, more than the {limit}"):
        download("mnist", mirrors=[f"{server}/huge/"], progress=False, timeout=10)
    assert _cache_listing() == []


def test_download_bounds_follow_the_catalog():
    fm = catalog.FASHION_MNIST.file("train_images")
    assert fm.size == 26_421_880 and fm.max_data_bytes == 60_000 * 28 * 28
    # a re-compressed copy is accepted by content hash: room for the content stored raw
    assert fm.max_download_bytes() > 60_000 * 28 * 28 + 16
    mn = catalog.MNIST.file("test_labels")
    assert mn.max_download_bytes() == mn.size == 4_542
