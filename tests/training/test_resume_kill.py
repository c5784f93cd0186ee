"""Resume after SIGKILL in the middle of an epoch ends with bit-identical weights."""

from __future__ import annotations

import signal
import time

import pytest
from tests.killing import ARGS, assert_same_run, reference_run, start_train, stop, wait_for

from backproplab.fileio import read_jsonl


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_resume_after_sigkill_is_bit_identical(tmp_path, cli):
    reference = reference_run(tmp_path / "reference")
    out = tmp_path / "killed"
    proc = start_train(*ARGS, "--out", out)
    wait_for(out / "checkpoint.npz", proc)
    time.sleep(0.15)  # well inside the next epoch
    assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    assert not (out / "summary.json").exists(), "the run finished before it was killed"
    done = read_jsonl(out / "metrics.jsonl")
    assert 1 <= len(done) < 4

    r = cli("train", "--out", out, "--resume", "--json")
    assert r.status == 0, r.err
    assert r.json()["resumed_from_epoch"] == len(done)
    assert_same_run(reference, out)
