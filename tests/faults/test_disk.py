"""Full and read-only disks, damaged text: one sentence, exit 2, and what was
written before stays valid and resumable."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tests.killing import ARGS, CONFIG, assert_same_run, reference_run, start_train

from backproplab.commands.failures import os_error_message
from backproplab.fileio import read_jsonl
from backproplab.training import run_training

EPOCHS = 30  # enough for batches.jsonl to outgrow the small disk


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                       check=False, capture_output=True)
    return r.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """``(folder, preexec_fn, kind)``: a 64 KiB tmpfs, or where mounting is not
    permitted a file-size limit of 20000 bytes (EFBIG instead of ENOSPC)."""
    folder = tmp_path / "small"
    if _mount(folder, "size=64k"):
        yield folder, None, "tmpfs of 64 KiB (ENOSPC)"
        _umount(folder)
        return

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    yield folder, limit, "RLIMIT_FSIZE of 20000 bytes (EFBIG)"


def test_a_full_disk_is_one_sentence_and_the_run_resumes_bit_identical(small_disk, tmp_path):
    folder, preexec, kind = small_disk
    out = folder / "run"
    args = [a if a != "4" else str(EPOCHS) for a in ARGS]
    proc = start_train(*args, "--out", out, sleep=0, preexec_fn=preexec)
    proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(out) in err and ("free space on it" in err or "ulimit -f" in err), err
    survived = len(read_jsonl(out / "metrics.jsonl"))
    assert 1 <= survived < EPOCHS
    # what was written is a valid run: moved to a roomy disk, it resumes to the end
    roomy = tmp_path / "roomy"
    shutil.copytree(out, roomy)
    result = run_training(None, roomy, resume=True, progress="quiet")
    assert result["resumed_from_epoch"] <= survived
    reference = reference_run(tmp_path / "ref", CONFIG.replace(epochs=EPOCHS))
    assert_same_run(reference, roomy, epochs=EPOCHS)
    print(f"\nfull disk ({kind}): exit 2 after {survived} of {EPOCHS} epochs, "
          f"resumed from epoch {result['resumed_from_epoch']}, bit-identical; said: {err.strip()}")


def test_a_read_only_folder_is_one_sentence_and_leaves_the_run_as_it_was(tmp_path, cli):
    ro = tmp_path / "ro"
    if not _mount(ro, "size=1m"):
        if os.geteuid() == 0:
            pytest.skip("as root chmod does not stop writes, and tmpfs cannot be mounted here")
        ro.mkdir(exist_ok=True)
    out = ro / "run"
    run_training(CONFIG.replace(epochs=1), out, progress="quiet")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    try:
        if os.geteuid() == 0:
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        else:
            os.chmod(out, 0o555)
        for args in (("--resume", "--epochs", "2"), ("--overwrite", *ARGS)):
            r = cli("train", "--out", out, "--quiet", *args)
            assert r.status == 2 and r.err.count("\n") == 1, r.err
            assert "choose a writable --out" in r.err and str(out) in r.err, r.err
        r = cli("train", "--out", ro / "new", "--quiet", *ARGS)
        assert r.status == 2 and "cannot create the run folder" in r.err, r.err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    finally:
        if os.geteuid() == 0:
            _umount(ro)
        else:
            os.chmod(out, 0o755)


def test_a_non_utf8_line_is_one_sentence_on_resume_and_aggregate(tmp_path, cli):
    out = tmp_path / "sweep" / "trial"
    run_training(CONFIG.replace(epochs=2), out, progress="quiet")
    lines = (out / "batches.jsonl").read_bytes().split(b"\n")
    lines[2] = b'{"epoch": 1, "step": 3, "loss": \xff\xfe}'
    (out / "batches.jsonl").write_bytes(b"\n".join(lines))
    r = cli("train", "--out", out, "--resume", "--epochs", "3", "--quiet")
    assert r.status == 2 and r.err.count("\n") == 1, r.err
    assert f"{out / 'batches.jsonl'} is damaged: line 3 is not UTF-8 text" in r.err, r.err
    # aggregation marks the trial failed with that reason, and says the result is
    # incomplete (exit 1) in one line (sweeps/damage.py)
    r = cli("sweep", "--out", tmp_path / "sweep", "--aggregate-only")
    assert r.status == 1 and "line 3 is not UTF-8 text" in r.err, r.err
    assert "results are incomplete: 1 of 1 trial(s)" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("code,words", [
    (errno.ENOSPC, "no space is left on the disk of runs/x; free space on it"),
    (errno.EDQUOT, "disk quota is exhausted for runs/x; free space on it"),
    (errno.EFBIG, "runs/x would exceed the largest file size allowed (ulimit -f)"),
    (errno.EROFS, "runs/x is on a read-only file system; choose a writable --out"),
    (errno.EACCES, "permission denied for runs/x; choose a writable --out"),
    (errno.ENOTDIR, "a part of runs/x is a file, not a folder"),
    (errno.EISDIR, "runs/x is a folder where a file was expected"),
    (errno.ELOOP, "runs/x: too many levels of symbolic links; check the path"),
])
def test_os_errors_become_one_sentence(code, words):
    assert words in os_error_message(OSError(code, os.strerror(code), "runs/x"))


def test_a_failed_write_names_its_file(tmp_path, monkeypatch, cli):
    # write() fails without a file name (a full disk): the atomic write adds it
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("backproplab.training.engines.tensor.MLP.save", full)
    r = cli("train", "--out", tmp_path / "r", "--quiet", *ARGS)
    assert r.status == 2 and "no space is left on the disk of the output folder" in r.err
