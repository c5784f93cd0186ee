"""Every bad input of a user's file: one sentence, exit 2, nothing written (issue 17, part 5)."""

from __future__ import annotations

import resource

import numpy as np
import pytest
from tests.conftest import run_subprocess

pytest.importorskip("pandas")


def _refused(res, out, *words):
    """One ``backproplab: error:`` line naming ``words``, status 2, no run folder."""
    assert res.status == 2, res.err
    assert res.err.startswith("backproplab: error: ") and res.err.count("\n") == 1, res.err
    assert "Traceback" not in res.err and res.out == ""
    for word in words:
        assert word in res.err, (word, res.err)
    assert not out.exists()


def _table(tmp_path, text: str, name="d.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD = "a,b,y\n" + "".join(f"{i},{i % 7},{'pq'[i % 2]}\n" for i in range(40))

CASES = {
    "missing value": ("a,b,y\n1,2,p\n3,,q\n5,6,p\n", ("column 'b'", "row 2", "line 3")),
    "text column": ("a,b,y\n1,2,p\n3,red,q\n", ("column 'b'", "'red'", "row 2", "encode")),
    "missing label": ("a,b,y\n1,2,p\n3,4,\n", ("no label", "row 2")),
    "one class": ("a,y\n1,p\n2,p\n3,p\n", ("only one class", "'p'")),
    "too few rows": ("a,y\n1,p\n2,q\n", ("too few rows", "--val-fraction")),
    "ragged": ("a,b,y\n1,2,p\n3,4,q,9\n", ("ragged", "line 3 has 4 fields", "header has 3")),
    "empty": ("", ("is empty",)),
    "header only": ("a,b,y\n", ("no rows",)),
    "unknown target": (GOOD, ("no column 'label'", "'a', 'b', 'y'")),
    # regression: the columns were listed unquoted, so ' y' (a space after the comma in
    # the header) read as y and the refusal of --target y made no sense
    "spaced header": (GOOD.replace("a,b,y", " a, b, y"), ("no column 'label'",
                                                          "' a', ' b', ' y'")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_tables_are_one_sentence(cli, tmp_path, case):
    text, words = CASES[case]
    path = _table(tmp_path, text)
    extra = ("--target", "label") if case in ("unknown target", "spaced header") else ()
    out = tmp_path / "run"
    _refused(cli("train", "--dataset", path, "--out", out, "--epochs", "1", *extra), out, *words)


@pytest.mark.parametrize("encoding, words", [("latin-1", ("not UTF-8", "WINDOWS-1252", "iconv")),
                                             ("utf-16", ("not UTF-8", "UTF-16", "iconv"))])
def test_text_that_is_not_utf8_names_the_encoding(cli, tmp_path, encoding, words):
    path = _table(tmp_path, "a,name,y\n1,Café,p\n2,Zoë,q\n", encoding=encoding)
    out = tmp_path / "run"
    _refused(cli("train", "--dataset", path, "--out", out), out, *words)


def _address_space(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def test_a_file_too_large_is_refused_from_its_size(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # a sparse file: 1 TB that takes no disk
        fh.write(b"a,b,y\n1,2,p\n3,4,q\n")
        fh.truncate(10**12)
    out = tmp_path / "run"
    # in a child whose address space is capped: were the file read, it would fail there
    cap = _address_space(8 << 30)
    res = run_subprocess("train", "--dataset", path, "--out", out, preexec_fn=cap, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "too large for memory" in res.stderr and "GiB are available" in res.stderr
    assert not out.exists()
    res = run_subprocess("data", "describe", path, preexec_fn=cap, timeout=120)
    assert res.returncode == 2 and "too large for memory" in res.stderr


def test_unknown_label_at_evaluate_and_bad_columns_at_predict(cli, tmp_path):
    train = _table(tmp_path, GOOD, "train.csv")
    run = tmp_path / "run"
    assert cli("train", "--dataset", train, "--out", run, "--epochs", "1", "--quiet").status == 0
    other = _table(tmp_path, "a,b,y\n1,2,p\n3,4,zebra\n", "other.csv")
    res = cli("evaluate", run, "--dataset", other)
    assert res.status == 2 and "'zebra'" in res.err and "never had" in res.err
    assert res.err.count("\n") == 1
    missing = _table(tmp_path, "a,y\n1,p\n", "missing.csv")
    res = cli("predict", run, missing)
    assert res.status == 2 and "lacks the feature column 'b'" in res.err
    extra = _table(tmp_path, "a,b,c\n1,2,3\n", "extra.csv")
    res = cli("predict", run, extra)
    assert res.status == 2 and "has the column 'c'" in res.err and "drop it" in res.err


def _png(path, size, value=0):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)


def test_image_folders_of_mixed_sizes_or_without_images(cli, tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "pics"
    _png(root / "cat" / "a.png", (8, 8))
    _png(root / "dog" / "b.png", (8, 10))
    out = tmp_path / "run"
    _refused(cli("train", "--dataset", root, "--out", out), out, "differ in size",
             "a.png is 8x8", "b.png is 10x8")
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "cat" / "notes.txt").write_text("no images here")
    _refused(cli("train", "--dataset", empty, "--out", out), out, "holds no images",
             "CLASS/IMAGE.png")


def test_an_image_folder_with_a_class_training_never_had_says_to_move_its_folder(cli, tmp_path):
    # regression: the fix said "drop those rows", the wording for a table
    pytest.importorskip("PIL")
    for name, root in (("train", tmp_path / "pics"), ("other", tmp_path / "other")):
        for i, label in enumerate(("cat", "dog", "zebra") if name == "other" else ("cat", "dog")):
            for j in range(6):
                _png(root / label / f"{j}.png", (8, 8), value=(40 * i + 10 * j) % 255)
    run = tmp_path / "run"
    assert cli("train", "--dataset", tmp_path / "pics", "--out", run, "--epochs", "1",
               "--quiet").status == 0
    res = cli("evaluate", run, "--dataset", tmp_path / "other")
    assert res.status == 2 and res.err.count("\n") == 1, res.err
    assert "the label 'zebra', which the training data never had" in res.err
    assert "move its folder 'zebra' out or retrain with them" in res.err

def test_options_of_a_path_only_with_a_path(cli, tmp_path):
    out = tmp_path / "run"
    _refused(cli("train", "--dataset", "synth", "--target", "y", "--out", out), out,
             "--target applies only")
    path = _table(tmp_path, GOOD)
    _refused(cli("train", "--dataset", path, "--final", "--out", out), out, "--test-data")
    _refused(cli("train", "--dataset", path, "--val-fraction", "1.5", "--out", out), out,
             "--val-fraction must be")


def test_an_npz_with_a_nan_names_its_row_and_column(cli, tmp_path):
    X = np.ones((20, 3))
    X[4, 2] = np.inf
    np.savez(tmp_path / "a.npz", X=X, y=np.arange(20) % 2)
    out = tmp_path / "run"
    _refused(cli("train", "--dataset", tmp_path / "a.npz", "--out", out), out,
             "non-finite value at row 4, column 2")
    np.savez(tmp_path / "b.npz", X=X)
    _refused(cli("train", "--dataset", tmp_path / "b.npz", "--out", out), out,
             "no array 'y'")


def test_evaluate_final_of_a_run_without_a_test_set_names_evaluates_own_options(tmp_path):
    """It said 'give --test-data', an option evaluate does not have."""
    train = _table(tmp_path, GOOD, "train.csv")
    run = tmp_path / "run"
    res = run_subprocess("train", "--dataset", train, "--out", run, "--epochs", "1", "--quiet")
    assert res.returncode == 0, res.stderr
    res = run_subprocess("evaluate", run, "--final")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "no test set" in res.stderr and "folder as --dataset," in res.stderr, res.stderr
    assert "drop --final" in res.stderr and "--test-data" not in res.stderr, res.stderr
