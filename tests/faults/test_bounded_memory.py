"""Inputs that declare far more than they store (a gzip IDX of a hundred thousand blank
images, a model.npz of compressed zeros, a PNG of huge dimensions) cost a bounded
amount of memory: each CLI run is a real process whose address space is capped well below
what the old readers took, so a regression fails fast instead of eating the machine."""

from __future__ import annotations

import gzip
import math
import resource
import struct
import zipfile
import zlib

import numpy as np
import pytest
from tests.conftest import run_subprocess

from backproplab.data.images import MAX_IMAGE_PIXELS
from backproplab.errors import BackproplabError
from backproplab.tensor import memory
from backproplab.tensor.files import MAX_NPZ_BYTES, json_array, json_load

#: the child's address space: Python, NumPy and the model fit with room to spare (they
#: take about 450 MiB of it); the old readers did not
LIMIT = 1 << 30


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
    # 100,000 images: 78 MB of pixels, 627 MB as float64: the old reader reached 812 MB
    # resident and then failed with MemoryError under this limit; batches of 4096 take
    # about 100 MB
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


def zeros_model(source, out, hidden: int) -> int:
    """A copy of the model file ``source`` whose network has ``hidden`` hidden units, all
    weights zero and deflated (a few KB per MB); returns the bytes it declares."""
    with np.load(source, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    meta = json_load(files["meta"])
    meta["sizes"] = [meta["sizes"][0], hidden, meta["sizes"][-1]]
    files["meta"] = json_array(meta)
    shapes = {"param/W1": (meta["sizes"][0], hidden), "param/b1": (hidden,),
              "param/W2": (hidden, meta["sizes"][-1]), "param/b2": (meta["sizes"][-1],)}
    declared = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in files.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                if name not in shapes:
                    np.lib.format.write_array(fh, array, allow_pickle=False)
                    continue
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "<f4", "fortran_order": False, "shape": shapes[name]})
                left = math.prod(shapes[name]) * 4
                declared += left
                while left:
                    k = min(left, 1 << 24)
                    fh.write(bytes(k))
                    left -= k
    return declared


@pytest.fixture(scope="module")
def zeros_npz(tiny_fashion_run, tmp_path_factory):
    """The issue's case (929 KB declaring about 950 MB of zero weights), a little smaller:
    a model.npz of 2.5 MB declaring 564 MB (deflate at level 1 is quicker to write)."""
    out = tmp_path_factory.mktemp("zeros") / "model.npz"
    declared = zeros_model(tiny_fashion_run / "model.npz", out, 180_000)
    assert out.stat().st_size < 3_000_000 and declared > MAX_NPZ_BYTES
    return out


def test_a_model_of_compressed_zeros_is_refused_before_decompressing(zeros_npz, tmp_path):
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((2, 28, 28), dtype=np.uint8))
    for args in (("predict", zeros_npz, inputs), ("evaluate", zeros_npz),
                 ("export", zeros_npz, "--format", "onnx", "--out", tmp_path / "m.onnx")):
        r = backproplab(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr[-2000:])
        assert r.stderr.count("\n") == 1, r.stderr
        assert str(zeros_npz) in r.stderr and f"more than the {MAX_NPZ_BYTES} bytes" in r.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_under_the_bound_still_loads(tiny_fashion_run, tmp_path):
    model = tmp_path / "model.npz"
    zeros_model(tiny_fashion_run / "model.npz", model, 64)
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((2, 28, 28), dtype=np.uint8))
    r = backproplab("predict", model, inputs, "--top", "1")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2


def test_training_refuses_a_network_whose_checkpoint_could_not_be_read(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": None)
    with pytest.raises(BackproplabError, match="hidden 100000 makes checkpoints of about "
                       r"0.59 GiB .* more than the 0.5 GiB a model file may hold"):
        memory.check_training_memory([784, 100_000, 10], 16)
    assert memory.check_training_memory([784, 50_000, 10], 16).parameters < MAX_NPZ_BYTES


def png_header(path, width: int, height: int) -> None:
    """A PNG file declaring ``width`` x ``height`` grayscale pixels but holding only one row:
    what is refused must be refused from the header, before any decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_an_image_of_huge_dimensions_is_refused_at_open(tiny_fashion_run, tmp_path, side):
    pytest.importorskip("PIL")
    image = tmp_path / f"big{side}.png"
    png_header(image, side, side)
    r = backproplab("predict", tiny_fashion_run, image)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "DecompressionBomb" not in r.stderr and "Traceback" not in r.stderr
    assert f"{image} declares more than {MAX_IMAGE_PIXELS} pixels" in r.stderr


def test_an_image_of_the_wrong_size_is_refused_from_its_header(tiny_fashion_run, tmp_path):
    pytest.importorskip("PIL")
    image = tmp_path / "wide.png"
    png_header(image, 4000, 4000)  # under the pixel bound; its pixels are not even there
    r = backproplab("predict", tiny_fashion_run, image)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{image} is 4000x4000 pixels but the model was trained on 28x28" in r.stderr


def test_a_dataset_npz_whose_labels_declare_hundreds_of_mb_is_refused(tmp_path):
    data = tmp_path / "data.npz"
    n = 40_000_000  # int64 labels: 320 MB declared, 1.3 MB stored
    with zipfile.ZipFile(data, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("X.npy", "w") as fh:
            np.lib.format.write_array(fh, np.zeros((10, 4), dtype=np.float32))
        with zf.open("y.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<i8", "fortran_order": False, "shape": (n,)})
            for _ in range(n * 8 // (1 << 24)):
                fh.write(bytes(1 << 24))
            fh.write(bytes(n * 8 % (1 << 24)))
    r = backproplab("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert f"{data} is too large for memory" in r.stderr
    assert not (tmp_path / "run").exists()


def test_an_image_folder_with_an_image_of_huge_dimensions(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        image.new("L", (28, 28)).save(tmp_path / "imgs" / label / "0.png")
    png_header(tmp_path / "imgs" / "b" / "1.png", 20_000, 20_000)
    r = backproplab("train", "--dataset", tmp_path / "imgs", "--epochs", "1",
                    "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert f"{tmp_path / 'imgs' / 'b' / '1.png'} declares more than" in r.stderr
