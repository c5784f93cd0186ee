"""``backproplab data list / verify / download``."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest
from tests.conftest import run_subprocess

from backproplab.data import catalog


def test_verify_a_consistent_subset_exits_0_with_a_note(cli, tools, tmp_path):
    tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    r = cli("data", "verify", "mnist", "--data-dir", tmp_path, "--json")
    assert r.status == 0, r.err
    assert "note: structure valid" in r.err and "not the canonical size" in r.err  # --json
    info = r.json()
    assert info["status"] == "structure only" and info["verified"] is False
    assert info["files"]["train_images"]["shape"] == [40, 28, 28]


def test_verify_a_corrupt_file_exits_2_naming_it(cli, tools, tmp_path):
    paths = tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    data = gzip.decompress(paths["train_images"].read_bytes())
    paths["train_images"].write_bytes(gzip.compress(data[:-100]))
    r = cli("data", "verify", "mnist", "--data-dir", tmp_path)
    assert r.status == 2
    assert "train-images-idx3-ubyte.gz" in r.err and "truncated" in r.err
    assert "Traceback" not in r.err


def test_verify_mismatching_content_exits_2(cli, tools, tmp_path, use_spec):
    arrays = tools.image_set(n_train=40, n_test=10)
    use_spec(tools.spec_for("fashion-mnist", arrays, sha256=True))
    tools.write_set(tmp_path, dict(arrays, test_images=arrays["test_images"] // 2))
    r = cli("data", "verify", "fashion-mnist", "--data-dir", tmp_path)
    assert r.status == 2
    assert "t10k-images-idx3-ubyte.gz" in r.err and "content differs" in r.err
    # the same files with the right content verify
    tools.write_set(tmp_path, arrays)
    r = cli("data", "verify", "fashion-mnist", "--data-dir", tmp_path)
    assert r.status == 0 and "verified (content SHA-256)" in r.out


def test_verify_missing_dataset_exits_2_saying_where_it_looked(cli, no_system_dirs):
    r = cli("data", "verify", "mnist")
    assert r.status == 2
    assert "looked in" in r.err and str(catalog.cache_dir("mnist")) in r.err
    assert "backproplab data download mnist" in r.err


def test_list_reports_location_and_status(cli, tools, no_system_dirs):
    tools.write_set(catalog.cache_dir("fashion-mnist"), tools.image_set(n_train=40, n_test=10))
    r = cli("data", "list", "--json")
    assert r.status == 0
    rows = {row["dataset"]: row for row in r.json()["datasets"]}
    assert rows["mnist"]["found"] is False and "looked in" in rows["mnist"]["summary"]
    fm = rows["fashion-mnist"]
    assert fm["found"] and fm["source"] == "cache" and fm["status"] == "structure only"
    r = cli("data", "list")
    assert r.status == 0
    lines = r.out.splitlines()
    assert lines[0].startswith("mnist") and "not found" in lines[0]
    assert lines[1].startswith("fashion-mnist") and "(cache)" in lines[1]


def test_list_shows_invalid_files(cli, tools, tmp_path):
    paths = tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    paths["test_labels"].write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01"))
    r = cli("data", "list", "--data-dir", tmp_path, "--json")
    rows = {row["dataset"]: row for row in r.json()["datasets"]}
    assert rows["mnist"]["status"] == "invalid" and "truncated" in rows["mnist"]["summary"]


def test_list_names_the_other_dataset_by_its_flag(cli, tools, tmp_path, use_spec):
    # Fashion-MNIST's files in a folder: the mnist line says how to use them as a
    # command-line user would (a flag), as `train` and `data verify` do
    arrays = tools.image_set(n_train=40, n_test=10)
    use_spec(tools.spec_for("fashion-mnist", arrays, sha256=True))
    use_spec(tools.spec_for("mnist", arrays))  # these shapes are canonical for both
    tools.write_set(tmp_path, arrays)
    for args in ((), ("--json",)):
        r = cli("data", "list", "--data-dir", tmp_path, *args)
        assert r.status == 0, r.err
        mnist_line = r.out.splitlines()[0] if not args else r.json()["datasets"][0]["summary"]
        assert "fashion-mnist's, not mnist's" in mnist_line
        assert "--dataset fashion-mnist" in mnist_line and "dataset=" not in mnist_line


def test_download_command_uses_the_mirror_list(cli, tools, tmp_path, use_spec, monkeypatch):
    arrays = tools.image_set(n_train=40, n_test=10)
    good = tools.write_set(tmp_path / "m", arrays)
    use_spec(tools.spec_for("mnist", arrays, good))
    monkeypatch.setenv("BACKPROPLAB_MIRRORS_MNIST", (tmp_path / "m").as_uri())
    r = cli("data", "download", "mnist", "--no-progress")
    assert r.status == 0, r.err
    assert f"4 files verified in {catalog.cache_dir('mnist')}" in r.out
    r = cli("data", "verify", "mnist")
    assert r.status == 0 and "verified (published MD5)" in r.out
    monkeypatch.setenv("BACKPROPLAB_MIRRORS_MNIST", (tmp_path / "nothing").as_uri())
    r = cli("data", "download", "mnist", "--force", "--no-progress")
    assert r.status == 2 and "could not download" in r.err
    r = cli("data", "verify", "mnist")  # the good copy survived
    assert r.status == 0


def test_data_without_action_prints_help(cli):
    r = cli("data")
    assert r.status == 2 and "verify" in r.out


def test_exit_status_in_a_real_process(tools, tmp_path):
    import os
    import subprocess
    import sys

    paths = tools.write_set(tmp_path / "d", tools.image_set(n_train=40, n_test=10))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "backproplab", "data", "verify", "mnist", "--data-dir",
           str(tmp_path / "d")]
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                        check=False)
    assert ok.returncode == 0 and "note:" in ok.stdout
    paths["test_labels"].write_bytes(paths["test_labels"].read_bytes()[:20])
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                        check=False)
    assert bad.returncode == 2
    assert "t10k-labels-idx1-ubyte.gz" in bad.stderr and "Traceback" not in bad.stderr


def test_download_with_a_bad_timeout_exits_2(cli):
    r = cli("data", "download", "mnist", "--timeout", "-1", "--no-progress")
    assert r.status == 2 and "timeout must be a positive number" in r.err
    assert "Traceback" not in r.err
    assert not catalog.cache_dir("mnist").exists()


def test_download_into_an_unwritable_cache_exits_2(cli, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    r = cli("data", "download", "mnist", "--no-progress")
    assert r.status == 2 and "cannot write mnist's files into the cache folder" in r.err
    assert "Traceback" not in r.err


def test_list_with_a_missing_data_dir_exits_2(cli, tmp_path):
    r = cli("data", "list", "--data-dir", tmp_path / "nowhere")
    assert r.status == 2 and "is not a folder" in r.err and r.out == ""


def test_train_on_data_that_differ_warns_in_one_line(cli, tools, tmp_path, use_spec):
    arrays = tools.image_set(n_train=40, n_test=10)
    use_spec(tools.spec_for("fashion-mnist", arrays, sha256=True))
    tools.write_set(tmp_path / "d", dict(arrays, test_labels=(arrays["test_labels"] + 1) % 10))
    r = cli("train", "--dataset", "fashion-mnist", "--data-dir", tmp_path / "d", "--val-size",
            "10", "--hidden", "4", "--epochs", "1", "--quiet", "--out", tmp_path / "run")
    assert r.status == 0, r.err
    line = ("backproplab: warning: fashion-mnist in " + str(tmp_path / "d")
            + ": content differs from the published data: t10k-labels-idx1-ubyte.gz")
    assert line in r.err
    assert "UserWarning" not in r.err and "load_images(" not in r.err


def test_verify_a_gzip_bomb_is_refused_in_small_memory(cli, tools, tmp_path):
    """Regression: a 2 MB gzip bomb given to `data verify` used 4.1 GB for 18 s before it
    was refused. MNIST's training images hold at most 60000x28x28 bytes: a header that
    declares more is refused before the data is decompressed."""
    tools.write_set(tmp_path, tools.image_set(n_train=40, n_test=10))
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(tools.gzip_bomb((600_000, 28, 28), 64 << 20))
    tracemalloc.start()
    try:
        r = cli("data", "verify", "mnist", "--data-dir", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.status == 2 and "Traceback" not in r.err
    assert "declares shape (600000, 28, 28)" in r.err and "47040000 bytes" in r.err
    assert peak < 8 << 20


def test_describe_a_missing_path_or_a_builtin_name_says_what_describe_reads(tmp_path):
    # `data describe` has no --dataset and reads no built-in dataset: its sentence
    # must not offer either
    for arg, says in ((tmp_path / "nope.csv", "does not exist"),
                      ("fashion-mnist", "`backproplab data verify fashion-mnist`"),
                      ("synth", "generated")):
        r = run_subprocess("data", "describe", arg, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert says in r.stderr and "an .npz file" in r.stderr
        assert "--dataset" not in r.stderr and "neither a built-in name" not in r.stderr


def test_evaluate_reads_the_images_of_the_runs_data_dir(tools, tmp_path):
    # a run trained on a folder given as a relative --data-dir; evaluate, from
    # another folder and without --data-dir, must validate on that run's own
    # split of those images (not on another copy found elsewhere), as documented:
    # "on the run's own split its accuracy equals the run's final eval_accuracy"
    tools.write_set(tmp_path / "imgs", tools.image_set(n_train=120, n_test=30))
    r = run_subprocess("train", "--dataset", "fashion-mnist", "--data-dir", "imgs",
                       "--val-size", "30", "--hidden", "8", "--epochs", "1", "--threads", "1",
                       "--out", "run", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_dir"] == str(tmp_path / "imgs")  # absolute: replays from anywhere
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    (tmp_path / "elsewhere").mkdir()
    for model in ("../run", "../run/model.npz"):
        r = run_subprocess("evaluate", model, "--json", cwd=tmp_path / "elsewhere")
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert (result["n"], result["accuracy"]) == (30, last["eval_accuracy"])
        assert result["loss"] == pytest.approx(last["eval_loss"], rel=1e-6)  # float32 sums


@pytest.mark.parametrize(("content", "says"), [
    (b"", "empty (0 bytes); replace it with a good copy"),
    (b"<html><body>404 Not Found</body></html>\n", "neither gzip nor IDX data"),
])
def test_a_gz_file_that_is_no_data_is_named_for_what_it_is(tools, tmp_path, content, says):
    # an empty file or a saved error page is not something to "decompress by hand"
    paths = tools.write_set(tmp_path / "imgs", tools.image_set(n_train=40, n_test=10))
    paths["train_labels"].write_bytes(content)
    for args in (("data", "verify", "fashion-mnist"), ("train", "--dataset", "fashion-mnist",
                                                        "--epochs", "1", "--out", "run")):
        r = run_subprocess(*args, "--data-dir", "imgs", cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "train-labels-idx1-ubyte.gz" in r.stderr and says in r.stderr
        assert "decompress it by hand" not in r.stderr
    assert not (tmp_path / "run").exists()
