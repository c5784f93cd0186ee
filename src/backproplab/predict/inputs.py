"""Reading raw examples from files: images, ``.npy`` arrays and IDX files.

- PNG and JPEG (and anything else Pillow opens) through Pillow, the optional
  extra ``backproplab[images]``. Colour images are converted to grayscale with
  Pillow's ``"L"`` mode (ITU-R 601-2 luma; an alpha channel is dropped). Images
  are *not* resized and *not* inverted: the image datasets are light objects on
  a black background, 28x28; give images like that, or pass ``invert=True``
  for a dark drawing on a light background (pixel -> 255 - pixel).
- ``.npy``: one example or a stack (read with ``allow_pickle=False``).
- IDX files (``*-ubyte``, ``*.idx``, gzip or raw), e.g. the datasets' own image files.

Every reader returns raw values (0-255 for images); the
:class:`~backproplab.predict.Predictor` normalizes them.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from backproplab.data.idx import iter_idx, read_idx
from backproplab.errors import BackproplabError

#: File name endings read as images (through Pillow).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: The most pixels an image may declare (Pillow's ``MAX_IMAGE_PIXELS`` while backproplab
#: reads images): Pillow refuses a larger one when it opens it, before decoding.
MAX_IMAGE_PIXELS = 1 << 24
#: File name endings read as IDX files.
IDX_SUFFIXES = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")
#: Examples read and classified at a time (:func:`input_batches`).
BATCH_ROWS = 4096


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise BackproplabError(
            "reading images needs Pillow; install it with `pip install 'backproplab[images]'` "
            "(or give the pixels as .npy)") from None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow refuses more at open, before decoding
    return Image


def read_image(path: Path, input_shape: tuple[int, ...], invert: bool = False) -> np.ndarray:
    """One image as a uint8 grayscale array of ``input_shape`` (rows, cols).

    Raises BackproplabError when the model does not take images, the file is not
    an image, or its size differs from the training images'.
    """
    if len(input_shape) != 2:
        raise BackproplabError(
            f"{path} is an image but the model takes {input_shape[0]} numbers per example, "
            "not images; give a .npy file of examples")
    Image = _pillow()
    h, w = input_shape
    try:
        with warnings.catch_warnings():  # over MAX_IMAGE_PIXELS Pillow only warns: refuse
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if tuple(img.size) != (w, h):  # from the header: nothing is decoded yet
                    raise BackproplabError(
                        f"{path} is {img.size[0]}x{img.size[1]} pixels but the model was "
                        f"trained on {w}x{h} images; resize it to {w}x{h} first (the tool "
                        "does not resize)")
                gray = np.asarray(img.convert("L"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BackproplabError(
            f"{path} declares more than {MAX_IMAGE_PIXELS} pixels, far more than the {w}x{h} "
            f"images the model was trained on; resize it to {w}x{h} first") from None
    except (OSError, ValueError) as exc:
        raise BackproplabError(f"{path} is not a readable image ({exc}); give a PNG or "
                               "JPEG file") from None
    return 255 - gray if invert else gray


def read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of a ``.npy`` file (never unpickled; with ``mmap``, mapped read-only
    instead of read, so that only what is used is loaded)."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # numpy reports any file without the .npy header as "pickled data"
        why = "not a .npy file, or an array of objects" if "pickle" in str(exc) else exc
        raise BackproplabError(f"{path} is not a readable .npy array ({why}); save it with "
                               "numpy.save (no object arrays)") from None


def read_input(path: str | os.PathLike, input_shape: tuple[int, ...],
               invert: bool = False, mmap: bool = False) -> np.ndarray:
    """The raw examples in one file: an image, a ``.npy`` array or an IDX file.

    ``invert`` (images and arrays of pixels alike) maps every value v to 255 - v;
    ``mmap`` maps a ``.npy`` file instead of reading it (:func:`read_npy`).
    """
    path = Path(path)
    if path.is_dir():
        raise BackproplabError(f"input {path} is a folder; give the files in it instead")
    if not path.is_file():
        raise BackproplabError(f"input {path} does not exist; check the path")
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return read_image(path, input_shape, invert)
    if name.endswith(".npy"):
        array = read_npy(path, mmap)
    elif name.endswith(IDX_SUFFIXES):
        array = read_idx(path)
    else:
        raise BackproplabError(
            f"cannot tell how to read {path}; give a .png/.jpg image, a .npy array or an IDX "
            "file (*-ubyte, *.idx, optionally .gz)")
    if invert:
        array = 255 - np.asarray(array, dtype=np.float64)
    return array


def input_batches(path: str | os.PathLike, input_shape: tuple[int, ...], invert: bool = False,
                  rows: int = BATCH_ROWS) -> tuple[int, Iterator[np.ndarray]]:
    """The raw examples in one file, in batches of at most ``rows``, and how many there are.

    An IDX file is read and decompressed one batch at a time (its header gives
    the count), a ``.npy`` file is mapped rather than read, so a file of a
    million images costs one batch of memory; an image is one batch of one.

    Parameters
    ----------
    path : str or os.PathLike
        An image, a ``.npy`` array or an IDX file (as :func:`read_input`).
    input_shape : tuple of int
        The shape of one example (``Preprocessing.input_shape``).
    invert : bool
        Map every value v to 255 - v.
    rows : int
        The most examples per batch.

    Returns
    -------
    (int, iterator of numpy.ndarray)
        The number of examples, and the batches: each one example of
        ``input_shape`` (or flat), or a stack of them.

    Raises
    ------
    BackproplabError
        As :func:`read_input`.
    """
    path = Path(path)
    n = math.prod(input_shape)
    if path.is_file() and path.name.lower().endswith(IDX_SUFFIXES):
        shape, pieces = iter_idx(path, rows)
        if shape and shape not in (tuple(input_shape), (n,)):
            count = shape[0]
        else:  # one example (small by definition), or a 0-dimensional file
            pieces.close()
            count, pieces = 1, iter([read_idx(path)])
    else:
        array = read_input(path, input_shape, mmap=True)
        if tuple(array.shape) in (tuple(input_shape), (n,)) or array.ndim == 0:
            count, pieces = 1, iter([array])
        else:
            count = len(array)
            pieces = (array[i:i + rows] for i in range(0, count, rows))
    return count, ((255 - np.asarray(p, dtype=np.float64)) if invert else p for p in pieces)


__all__ = ["BATCH_ROWS", "IDX_SUFFIXES", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "input_batches",
           "read_image", "read_input", "read_npy"]
