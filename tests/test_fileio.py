"""Atomic writes: content, permissions, and no leftovers on failure."""

import os
import stat

import numpy as np
import pytest

from backproplab.fileio import (
    atomic_write_json,
    atomic_write_text,
    atomic_write_with,
    parse_json,
    read_json,
    read_jsonl,
    remove_entry,
)


def test_write_replaces_and_follows_umask(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask  # regression: was 0600 (mkstemp)


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "m.npz"
    atomic_write_json(p, {"a": 1})

    def boom(fh):
        fh.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_with(p, boom)
    assert p.read_text().strip().startswith("{")
    assert [f.name for f in tmp_path.iterdir()] == ["m.npz"]


def test_savez_through_atomic_writer(tmp_path):
    p = tmp_path / "w.npz"
    atomic_write_with(p, lambda fh: np.savez(fh, w=np.arange(3.0)))
    with np.load(p, allow_pickle=False) as z:
        assert z["w"].tolist() == [0.0, 1.0, 2.0]


def test_read_jsonl_ignores_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]


def test_read_json_gives_none_for_missing_or_damaged_files(tmp_path):
    from backproplab.fileio import read_json

    good, bad = tmp_path / "a.json", tmp_path / "b.json"
    atomic_write_json(good, {"a": [1, 2]})
    bad.write_text('{"a": ')
    assert read_json(good) == {"a": [1, 2]}
    assert read_json(bad) is None
    assert read_json(tmp_path / "missing.json") is None


def test_deeply_nested_json_is_a_value_error_not_a_recursion_error(tmp_path):
    """Regression: ``json.loads`` raises RecursionError on ``[[[[...`` thousands deep;
    the readers report it like any other invalid JSON."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json(deep)
    assert parse_json("[[1]]") == [[1]]
    (tmp_path / "a.json").write_text(deep)
    assert read_json(tmp_path / "a.json") is None
    (tmp_path / "m.jsonl").write_text('{"a": 1}\n' + deep + "\n")
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1}]


def test_remove_entry_deletes_trees_files_and_links_without_following_them(tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "f.txt").write_text("x")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "g.txt").write_text("y")
    (tmp_path / "file.txt").write_text("z")
    (tmp_path / "link").symlink_to(kept, target_is_directory=True)
    for name in ("tree", "file.txt", "link", "missing"):
        remove_entry(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert (kept / "f.txt").read_text() == "x"  # the link went, not what it points to


def test_a_folder_where_the_file_goes_is_named_without_the_temporary_file(tmp_path):
    """Regression: the error named the hidden temporary file (``.x.csv.abc.tmp -> x.csv``),
    which the user never asked for; it names the file being written, and no
    temporary file is left behind."""
    target = tmp_path / "x.csv"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as err:
        atomic_write_text(target, "a,b\n")
    assert err.value.filename == str(target) and err.value.filename2 is None
    assert os.listdir(tmp_path) == ["x.csv"] and target.is_dir()
