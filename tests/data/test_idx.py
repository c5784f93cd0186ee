"""The IDX reader and writer: round trips and every kind of damage."""

from __future__ import annotations

import gzip
import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backproplab.data.idx import (
    encode_idx,
    parse_idx,
    read_idx,
    read_idx_file,
    write_idx,
)
from backproplab.errors import BackproplabError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=60, deadline=None)
@given(
    arr=st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    compress=st.booleans(),
)
def test_round_trip_any_shape_and_dtype(tmp_path_factory, arr, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == arr.dtype and back.dtype.isnative
    assert back.shape == arr.shape
    # bitwise equality (NaNs and signed zeros included)
    assert back.tobytes() == np.ascontiguousarray(arr).tobytes()
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress


def test_header_layout_is_the_published_one():
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    data = encode_idx(arr)
    assert data[:4] == b"\x00\x00\x08\x02"
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert data[12:] == bytes(range(6))
    # multi-byte types are big-endian on disk
    assert encode_idx(np.array([1], dtype=np.int32))[-4:] == b"\x00\x00\x00\x01"
    assert encode_idx(np.array([1], dtype="<i4")) == encode_idx(np.array([1], dtype=">i4"))


def test_uint8_read_is_a_view_on_the_decompressed_bytes(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "x.gz", arr)
    f = read_idx_file(tmp_path / "x.gz")
    assert f.compressed
    assert np.shares_memory(f.array, np.frombuffer(f.content, dtype=np.uint8))
    assert not f.array.flags.writeable
    raw = write_idx(tmp_path / "x", arr)
    assert not read_idx_file(raw).compressed


def test_gzip_output_is_deterministic(tmp_path):
    arr = np.arange(100, dtype=np.uint8)
    a = write_idx(tmp_path / "a.gz", arr).read_bytes()
    b = write_idx(tmp_path / "b.gz", arr).read_bytes()
    assert a == b


def test_gzip_data_under_a_raw_name_is_accepted(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    p = tmp_path / "labels-idx1-ubyte"
    p.write_bytes(gzip.compress(encode_idx(arr)))
    assert np.array_equal(read_idx(p), arr)


def _expect(path, data: bytes, *words):
    path.write_bytes(data)
    with pytest.raises(BackproplabError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    for w in words:
        assert w in msg
    return msg


GOOD = encode_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def test_truncated_data(tmp_path):
    _expect(tmp_path / "t-idx3-ubyte", GOOD[:-1], "truncated", "23 data bytes")


def test_truncated_gzip_of_truncated_data(tmp_path):
    _expect(tmp_path / "t.gz", gzip.compress(GOOD[:-5]), "truncated")


def test_truncated_header(tmp_path):
    _expect(tmp_path / "h", GOOD[:2], "too short")
    _expect(tmp_path / "h2", GOOD[:9], "3 dimensions", "truncated")


def test_oversized(tmp_path):
    _expect(tmp_path / "o", GOOD + b"\x00\x01", "oversized", "2 bytes")


def test_wrong_magic(tmp_path):
    _expect(tmp_path / "m", b"\x01\x00" + GOOD[2:], "wrong magic number")
    # a PNG, say
    _expect(tmp_path / "png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "wrong magic number")


def test_unknown_dtype_code(tmp_path):
    _expect(tmp_path / "d", GOOD[:2] + b"\x0a" + GOOD[3:], "unknown dtype code 0x0A")


def test_gz_name_but_not_gzip(tmp_path):
    _expect(tmp_path / "raw.gz", GOOD, "named .gz but it is not gzip")


def test_damaged_gzip_stream(tmp_path):
    packed = gzip.compress(GOOD)
    _expect(tmp_path / "cut.gz", packed[: len(packed) // 2], "damaged gzip")
    flipped = bytearray(packed)
    flipped[-6] ^= 0xFF  # the CRC/size trailer
    _expect(tmp_path / "crc.gz", bytes(flipped), "damaged gzip")


def test_missing_file(tmp_path):
    with pytest.raises(BackproplabError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_parse_names_the_source():
    with pytest.raises(BackproplabError, match="from-test"):
        parse_idx(GOOD[:-1], "from-test")


def test_writer_refuses_unsupported_dtypes(tmp_path):
    with pytest.raises(BackproplabError, match="cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.complex64))
    with pytest.raises(BackproplabError, match="cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
    assert not (tmp_path / "x").exists()


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a.gz"
    write_idx(path, np.arange(5, dtype=np.uint8))
    write_idx(path, np.arange(7, dtype=np.uint8))
    assert read_idx(path).shape == (7,)
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


def _peak_bytes(fn) -> tuple[int, str]:
    """``(peak bytes traced, error message)`` of ``fn()``, which must raise BackproplabError."""
    tracemalloc.start()
    try:
        with pytest.raises(BackproplabError) as info:
            fn()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_gzip_bomb_declaring_too_much_is_refused_before_decompression(tools, tmp_path):
    """Regression: a 2 MB gzip bomb given to `data verify` used 4.1 GB for 18 s. A header
    declaring more than the bound is refused after reading only the header."""
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(tools.gzip_bomb((60_000_000, 28, 28), 64 << 20))
    peak, msg = _peak_bytes(lambda: read_idx(path, max_bytes=60_000 * 28 * 28))
    assert "declares shape (60000000, 28, 28)" in msg and "more than the 47040000 bytes" in msg
    assert peak < (2 << 20) + path.stat().st_size


def test_gzip_bomb_holding_more_than_its_header_stops_one_chunk_after(tools, tmp_path):
    """Regression (same bug): an honest-looking header followed by 64 MB of zeros; with
    or without a bound, decompression stops just past the declared size."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(tools.gzip_bomb((40, 28, 28), 64 << 20))
    for bound in (None, 1 << 20):
        peak, msg = _peak_bytes(lambda: read_idx(path, max_bytes=bound))  # noqa: B023
        assert "oversized: at least" in msg and "(40, 28, 28)" in msg
        assert peak < (4 << 20) + path.stat().st_size


def test_a_header_declaring_terabytes_with_no_data_allocates_nothing(tools, tmp_path):
    path = tmp_path / "liar.gz"
    path.write_bytes(tools.gzip_bomb((2**32 - 1, 2**32 - 1), 10))
    peak, msg = _peak_bytes(lambda: read_idx(path))
    assert "truncated" in msg and "only 10 data bytes" in msg
    assert peak < 4 << 20


def test_a_raw_file_larger_than_the_bound_is_refused_unread(tmp_path):
    path = tmp_path / "big-idx1-ubyte"
    path.write_bytes(encode_idx(np.zeros(5000, dtype=np.uint8)))
    with pytest.raises(BackproplabError, match="bytes on disk, more than an IDX file of at most 10"):
        read_idx(path, max_bytes=10)
    assert read_idx(path, max_bytes=5000).shape == (5000,)


def test_a_fifo_a_device_or_a_folder_is_refused_without_reading(tmp_path):
    # open() on a FIFO with no writer would block forever, and /dev/zero never ends
    fifo = tmp_path / "pipe-idx1-ubyte"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a device"), (tmp_path, "a folder")):
        with pytest.raises(BackproplabError, match=f"cannot be read \\(it is {kind}, not a "
                                                   "regular file\\); pass the file itself"):
            read_idx(path)
