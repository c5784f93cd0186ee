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

import math
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from backproplab.data.idx import iter_idx, read_idx
from backproplab.data.images import IMAGE_SUFFIXES, image_size, read_gray
from backproplab.data.preprocess import Preprocessing
from backproplab.data.tables import SEPARATORS, read_table
from backproplab.errors import BackproplabError

#: File name endings read as IDX files.
IDX_SUFFIXES = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")
#: Examples read and classified at a time (:func:`input_batches`).
BATCH_ROWS = 4096


def _read_image(path: Path, input_shape: tuple[int, ...], invert: bool = False) -> np.ndarray:
    """One image as a uint8 grayscale array of ``input_shape`` (rows, cols).

    Raises BackproplabError when the model does not take images, the file is not
    an image, or its size differs from the training images'.
    """
    if len(input_shape) != 2:
        raise BackproplabError(
            f"{path} is an image but the model takes {input_shape[0]} numbers per example, "
            "not images; give a .npy file of examples")
    h, w = input_shape
    rows, cols = image_size(path)  # from the header: nothing is decoded yet
    if (rows, cols) != (h, w):
        raise BackproplabError(
            f"{path} is {cols}x{rows} pixels but the model was trained on {w}x{h} images; "
            f"resize it to {w}x{h} first (the tool does not resize)")
    gray = read_gray(path)
    return 255 - gray if invert else gray


def _read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of a ``.npy`` file (never unpickled; with ``mmap``, mapped read-only
    instead of read, so that only what is used is loaded)."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # numpy reports any file without the .npy header as "pickled data"
        why = "not a .npy file, or an array of objects" if "pickle" in str(exc) else exc
        raise BackproplabError(f"{path} is not a readable .npy array ({why}); save it with "
                               "numpy.save (no object arrays)") from None


def _read_rows(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """The rows of a CSV/TSV file as the model's features (float64, in its column order)."""
    if preprocessing.features is None:
        raise BackproplabError(
            f"{path} is a table, but the model was trained on {preprocessing.dataset}, which "
            "names no feature columns; give the examples as a .npy array instead")
    return read_table(path, target=preprocessing.target, dtype=np.float64,
                      features=preprocessing.features, labelled=False).X


def read_input(path: str | os.PathLike, input_shape: tuple[int, ...],
               invert: bool = False, preprocessing: Preprocessing | None = None,
               mmap: bool = False) -> np.ndarray:
    """The raw examples in one file: an image, a ``.npy`` array, an IDX file or a table.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its suffix says how to read it.
    input_shape : tuple of int
        The model's input shape: ``(rows, cols)`` for images.
    invert : bool, default False
        Map every value v to 255 - v (images and arrays of pixels alike).
    preprocessing : Preprocessing or None, default None
        The model's preprocessing; a CSV/TSV file needs it (its feature names).
    mmap : bool, default False
        Map a ``.npy`` file instead of reading it.

    Returns
    -------
    numpy.ndarray
        The raw values (pixels 0-255), one example per row; a single image as
        ``(rows, cols)``.

    Raises
    ------
    BackproplabError
        For a folder, a missing file, a file of unknown kind, or one that
        cannot be read as the model's input.
    """
    path = Path(path)
    if path.is_dir():
        raise BackproplabError(f"input {path} is a folder; give the files in it instead")
    if not path.is_file():
        raise BackproplabError(f"input {path} does not exist; check the path")
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return _read_image(path, input_shape, invert)
    if name.endswith(".npy"):
        array = _read_npy(path, mmap)
    elif name.endswith(IDX_SUFFIXES):
        array = read_idx(path)
    elif path.suffix.lower() in SEPARATORS and preprocessing is not None:
        array = _read_rows(path, preprocessing)
    else:
        raise BackproplabError(
            f"cannot tell how to read {path}; give a .png/.jpg image, a .npy array, an IDX "
            "file (*-ubyte, *.idx, optionally .gz) or a .csv/.tsv table")
    if invert:
        array = 255 - np.asarray(array, dtype=np.float64)
    return array


def input_batches(path: str | os.PathLike, input_shape: tuple[int, ...], invert: bool = False,
                  preprocessing: Preprocessing | None = None,
                  rows: int = BATCH_ROWS) -> tuple[int, Iterator[np.ndarray]]:
    """The raw examples in one file, in batches of at most ``rows``, and how many there are.

    An IDX file is read and decompressed one batch at a time (its header gives
    the count), a ``.npy`` file is mapped rather than read, so a file of a
    million images costs one batch of memory; an image is one batch of one.

    Parameters
    ----------
    path : str or os.PathLike
        An image, a ``.npy`` array, an IDX file or a table (as :func:`read_input`).
    input_shape : tuple of int
        The shape of one example (``Preprocessing.input_shape``).
    invert : bool
        Map every value v to 255 - v.
    preprocessing : Preprocessing, optional
        The model's, for a CSV/TSV file (its feature names), and to refuse an IDX
        file of another shape from its header, before any of it is read.
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
        if preprocessing is not None and shape and not preprocessing.fits(shape):
            pieces.close()  # named by the whole file's shape, not one batch's
            raise preprocessing.shape_error(shape, str(path))
        if shape and shape not in (tuple(input_shape), (n,)):
            count = shape[0]
        else:  # one example (small by definition), or a 0-dimensional file
            pieces.close()
            count, pieces = 1, iter([read_idx(path)])
    else:
        array = read_input(path, input_shape, preprocessing=preprocessing, mmap=True)
        if tuple(array.shape) in (tuple(input_shape), (n,)) or array.ndim == 0:
            count, pieces = 1, iter([array])
        else:
            count = len(array)
            pieces = (array[i:i + rows] for i in range(0, count, rows))
    return count, ((255 - np.asarray(p, dtype=np.float64)) if invert else p for p in pieces)


__all__ = ["BATCH_ROWS", "IDX_SUFFIXES", "IMAGE_SUFFIXES", "input_batches", "read_input"]
