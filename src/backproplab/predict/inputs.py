"""Reading raw examples from files: images, ``.npy`` arrays, IDX files and tables.

- PNG and JPEG (and anything else Pillow opens) through Pillow, the optional
  extra ``backproplab[images]``, as :func:`backproplab.data.images.read_gray`
  reads them for training. Colour images are converted to grayscale with
  Pillow's ``"L"`` mode (ITU-R 601-2 luma; an alpha channel is dropped). Images
  are *not* resized and *not* inverted: the image datasets are light objects on
  a black background, 28x28; give images like that, or pass ``invert=True``
  for a dark drawing on a light background (pixel -> 255 - pixel).
- ``.npy``: one example or a stack (read with ``allow_pickle=False``).
- IDX files (``*-ubyte``, ``*.idx``, gzip or raw), e.g. the datasets' own image files.
- CSV/TSV files with a header row, for a model trained on a table: the columns
  are matched to the model's features by name, the label column is ignored
  (:func:`backproplab.data.tables.read_table`).

Every reader returns raw values (0-255 for images); the
:class:`~backproplab.predict.Predictor` normalizes them.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from backproplab.data.idx import read_idx
from backproplab.data.images import IMAGE_SUFFIXES, read_gray
from backproplab.data.preprocess import Preprocessing
from backproplab.data.tables import SEPARATORS, read_table
from backproplab.errors import BackproplabError

#: File name endings read as IDX files.
IDX_SUFFIXES = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")


def read_image(path: Path, input_shape: tuple[int, ...], invert: bool = False) -> np.ndarray:
    """One image as a uint8 grayscale array of ``input_shape`` (rows, cols).

    Raises BackproplabError when the model does not take images, the file is not
    an image, or its size differs from the training images'.
    """
    if len(input_shape) != 2:
        raise BackproplabError(
            f"{path} is an image but the model takes {input_shape[0]} numbers per example, "
            "not images; give a .npy file of examples")
    gray = read_gray(path)
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


def read_rows(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """The rows of a CSV/TSV file as the model's features (float64, in its column order)."""
    if preprocessing.features is None:
        raise BackproplabError(
            f"{path} is a table, but the model was trained on {preprocessing.dataset}, which "
            "names no feature columns; give the examples as a .npy array instead")
    return read_table(path, target=preprocessing.target, dtype=np.float64,
                      features=preprocessing.features, labelled=False).X


def read_input(path: str | os.PathLike, input_shape: tuple[int, ...],
               invert: bool = False, preprocessing: Preprocessing | None = None) -> np.ndarray:
    """The raw examples in one file: an image, a ``.npy`` array, an IDX file or a table.

    ``invert`` (images and arrays of pixels alike) maps every value v to 255 - v.
    A CSV/TSV file needs the model's ``preprocessing`` (its feature names).
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
    elif path.suffix.lower() in SEPARATORS and preprocessing is not None:
        array = read_rows(path, preprocessing)
    else:
        raise BackproplabError(
            f"cannot tell how to read {path}; give a .png/.jpg image, a .npy array, an IDX "
            "file (*-ubyte, *.idx, optionally .gz) or a .csv/.tsv table")
    if invert:
        array = 255 - np.asarray(array, dtype=np.float64)
    return array


__all__ = ["IDX_SUFFIXES", "IMAGE_SUFFIXES", "read_image", "read_input", "read_npy", "read_rows"]
