"""A sweep over a dataset that is not on the machine fails once, up front, writing nothing."""


def test_missing_dataset_is_one_error_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "sweep"
    r = cli("sweep", "--dataset", "mnist", "--data-dir", empty, "--lr", "0.01,0.1",
            "--seeds", "2", "--workers", "1", "--out", out, "--quiet")
    assert r.status == 2
    assert "mnist" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not out.exists()
