"""Inputs that declare far more than they store (a gzip IDX of a hundred thousand blank
images, a model.npz of compressed zeros, an image of huge dimensions) cost a bounded
amount of memory: each CLI run is a real process whose address space is capped well below
what the old readers took, so a regression fails fast instead of eating the machine."""

from __future__ import annotations

import gzip
import resource
import struct

import pytest
from tests.conftest import run_subprocess

#: the child's address space: Python, NumPy and the model fit; the old readers did not
LIMIT = 700 << 20


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def backproplab(*args, timeout: float = 120):
    return run_subprocess(*args, timeout=timeout, preexec_fn=limited)


def blank_idx(path, n: int, stored: int | None = None) -> None:
    """A gzip IDX file declaring ``n`` blank 28x28 images (``stored`` of them present)."""
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(struct.pack(">HBB3I", 0, 8, 3, n, 28, 28))
        left = n if stored is None else stored
        while left:
            k = min(left, 10_000)
            fh.write(bytes(784 * k))
            left -= k


def test_predict_streams_a_large_idx_file_in_batches(tiny_fashion_run, tmp_path):
    # 100,000 images: 78 MB of pixels, 627 MB as float64: the old reader took 812 MB
    # (and then failed with MemoryError under this limit); batches of 4096 take ~100 MB
    big = tmp_path / "blank-ubyte.gz"
    blank_idx(big, 100_000)
    r = backproplab("predict", tiny_fashion_run, big, "--top", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == 100_000
    assert lines[0].startswith(f"{big}[0]: ") and lines[-1].startswith(f"{big}[99999]: ")
    assert len({line.split(": ", 1)[1] for line in lines}) == 1  # blank images: one answer


def test_a_truncated_large_idx_file_ends_with_one_sentence(tiny_fashion_run, tmp_path):
    big = tmp_path / "short-ubyte.gz"
    blank_idx(big, 1_000_000, stored=10_000)
    r = backproplab("predict", tiny_fashion_run, big, "--top", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and "truncated" in r.stderr and str(big) in r.stderr
    assert len(r.stdout.splitlines()) <= 10_000  # what was there was predicted, no more


@pytest.mark.parametrize("suffix", ["-ubyte", "-ubyte.gz"])
def test_an_idx_file_of_one_image_is_one_example(tiny_fashion_run, tmp_path, suffix):
    one = tmp_path / f"one{suffix}"
    data = struct.pack(">HBB2I", 0, 8, 2, 28, 28) + bytes(784)
    one.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    r = backproplab("predict", tiny_fashion_run, one, "--top", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{one}: ") and len(r.stdout.splitlines()) == 1
