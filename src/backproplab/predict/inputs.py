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

import os
import zipfile
from pathlib import Path

import numpy as np

from backproplab.data.idx import read_idx
from backproplab.errors import BackproplabError

#: File name endings read as images (through Pillow).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: File name endings read as IDX files.
IDX_SUFFIXES = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise BackproplabError(
            "reading images needs Pillow; install it with `pip install 'backproplab[images]'` "
            "(or give the pixels as .npy)") from None
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
    try:
        with Image.open(path) as img:
            gray = np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise BackproplabError(f"{path} is not a readable image ({exc}); give a PNG or "
                               "JPEG file") from None
    if gray.shape != tuple(input_shape):
        h, w = input_shape
        raise BackproplabError(
            f"{path} is {gray.shape[1]}x{gray.shape[0]} pixels but the model was trained on "
            f"{w}x{h} images; resize it to {w}x{h} first (the tool does not resize)")
    return 255 - gray if invert else gray


def read_npy(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file (never unpickled)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # numpy reports any file without the .npy header as "pickled data"
        why = "not a .npy file, or an array of objects" if "pickle" in str(exc) else exc
        raise BackproplabError(f"{path} is not a readable .npy array ({why}); save it with "
                               "numpy.save (no object arrays)") from None


def read_input(path: str | os.PathLike, input_shape: tuple[int, ...],
               invert: bool = False) -> np.ndarray:
    """The raw examples in one file: an image, a ``.npy`` array or an IDX file.

    ``invert`` (images and arrays of pixels alike) maps every value v to 255 - v.
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
        array = read_npy(path)
    elif name.endswith(IDX_SUFFIXES):
        array = read_idx(path)
    else:
        raise BackproplabError(
            f"cannot tell how to read {path}; give a .png/.jpg image, a .npy array or an IDX "
            "file (*-ubyte, *.idx, optionally .gz)")
    if invert:
        array = 255 - np.asarray(array, dtype=np.float64)
    return array


__all__ = ["IDX_SUFFIXES", "IMAGE_SUFFIXES", "read_image", "read_input", "read_npy"]
