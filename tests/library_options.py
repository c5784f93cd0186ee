"""Checks shared by the library options ``gemm`` and ``kernels`` (training/libraries.py):
a resume keeps the run's library and stays bit-identical, and a run recorded before an
option existed continues with what such runs computed with."""

import json
from pathlib import Path

from tests.same_results import fingerprint


def recorded(run: Path, option: str):
    """The value of ``option`` in the run folder's config.json."""
    return json.loads((run / "config.json").read_text())[option]


def check_resume_keeps(cli, tmp_path: Path, args: list, option: str, value: str,
                       other: str) -> None:
    """A run with ``--option value`` cut after epoch 1 and resumed equals the whole run,
    records ``value``, and a resume asking for ``other`` is refused naming both."""
    flag = f"--{option}"
    for name, extra in (("full", []), ("cut", ["--epochs", "1"])):
        r = cli("train", *args, flag, value, *extra, "--out", tmp_path / name)
        assert r.status == 0, r.err
    r = cli("train", "--resume", "--epochs", "2", "--quiet", "--out", tmp_path / "cut")
    assert r.status == 0, r.err
    assert recorded(tmp_path / "cut", option) == value
    assert fingerprint(tmp_path / "cut") == fingerprint(tmp_path / "full")
    r = cli("train", "--resume", "--epochs", "3", flag, other, "--quiet",
            "--out", tmp_path / "cut")
    assert r.status == 2
    # named by its flag (the library's message names it by its Python name)
    assert f"cannot resume with different options ({flag} {value!r} -> {other!r})" in r.err


def check_recorded_before(cli, tmp_path: Path, args: list, option: str, value: str,
                          how: str) -> None:
    """A run made with ``--option value`` whose config.json lacks the option (as a
    version without it wrote) continues (``how``: ``"resume"`` or ``"replay"``) with
    ``value``, bit-identical to the whole run."""
    flag = f"--{option}"
    r = cli("train", *args, flag, value, "--out", tmp_path / "full")
    assert r.status == 0, r.err
    old = tmp_path / "old"
    epochs = "1" if how == "resume" else "2"
    r = cli("train", *args, flag, value, "--epochs", epochs, "--out", old)
    assert r.status == 0, r.err
    config = json.loads((old / "config.json").read_text())
    del config[option]
    (old / "config.json").write_text(json.dumps(config))
    if how == "resume":
        r = cli("train", "--resume", "--epochs", "2", "--quiet", "--out", old)
        again = old
    else:
        again = tmp_path / "again"
        r = cli("train", "--config", old / "config.json", "--quiet", "--out", again)
    assert r.status == 0, r.err
    assert recorded(again, option) == value
    assert fingerprint(again) == fingerprint(tmp_path / "full")
