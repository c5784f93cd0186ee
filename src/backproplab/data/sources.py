"""A user's data file or folder before it becomes a dataset: its kind, its size, its rows.

:func:`source_kind` tells a ``.csv``/``.tsv`` table, an ``.npz`` file and a
folder of class subfolders of images apart; :func:`estimate` says what the
arrays will take in memory before anything is read, and :func:`check_fits`
refuses a file that would not fit; :func:`read_source` reads the raw examples
(unsplit, unscaled). :mod:`backproplab.data.files` splits and scales them.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backproplab.data.dataset import DATASETS
from backproplab.data.images import (
    FolderListing,
    image_size,
    list_image_folder,
    read_image_folder,
)
from backproplab.data.tables import (
    HEAD_BYTES,
    SEPARATORS,
    RawData,
    estimated_rows,
    npz_error,
    read_npz,
    read_table,
)
from backproplab.errors import BackproplabError
from backproplab.fileio import npz_members

#: Peak memory of loading, in multiples of the finished arrays (``benchmarks/csv_load.py``).
LOAD_PEAK = 3


def source_kind(path: str | Path) -> str:
    """How ``path`` is read: ``"table"``, ``"npz"`` or ``"images"``.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``/``.tsv`` file, an ``.npz`` file or a folder.

    Returns
    -------
    str

    Raises
    ------
    BackproplabError
        If ``path`` does not exist or is a file of another kind.
    """
    path = Path(path)
    if path.is_dir():
        return "images"
    if not path.exists():
        raise BackproplabError(
            f"dataset {str(path)!r} is neither a built-in name ({', '.join(DATASETS)}) nor an "
            "existing file or folder; give one of those names, or the path of a .csv/.tsv "
            "file, an .npz file or a folder of class subfolders of images",
            settings=("dataset",))
    suffix = path.suffix.lower()
    if suffix in SEPARATORS:
        return "table"
    if suffix == ".npz":
        return "npz"
    raise BackproplabError(f"cannot tell how to read {path}; give a .csv or .tsv file with a "
                           "header row, an .npz file with X and y, or a folder of class "
                           "subfolders of images", settings=("dataset",))


@dataclass(frozen=True)
class Estimate:
    """What a file will become in memory, known before it is read.

    Attributes
    ----------
    rows : int
        The examples.
    features : int
        The features per example.
    array_bytes : int
        The bytes of the finished arrays (features and int64 labels).
    how : str
        How the numbers were found, for messages.
    """

    rows: int
    features: int
    array_bytes: int
    how: str

    @property
    def peak_bytes(self) -> int:
        """The most memory loading takes (:data:`LOAD_PEAK` times the arrays)."""
        return LOAD_PEAK * self.array_bytes


def _table_estimate(path: Path, itemsize: int) -> Estimate:
    with open(path, "rb") as fh:  # the first MiB, read once: the header and the line lengths
        head = fh.read(HEAD_BYTES)
    columns = head.split(b"\n", 1)[0].count(SEPARATORS[path.suffix.lower()].encode()) + 1
    rows = max(estimated_rows(path, head) - 1, 0)  # less the header
    return Estimate(rows, columns - 1, rows * (max(columns - 1, 1) * itemsize + 8),
                    f"estimated from its size of {path.stat().st_size / 2**20:.3g} MiB")


def _npz_estimate(path: Path, itemsize: int) -> Estimate:
    try:  # every member's declared size is checked against what it stores
        members = npz_members(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise npz_error(path, exc) from None
    shapes = {name: shape for name, (shape, _, _) in members.items()
              if name in ("X", "X_test")}
    others = sum(declared for name, (_, _, declared) in members.items() if name not in shapes)
    rows = sum(s[0] for s in shapes.values() if s)
    features = math.prod(shapes["X"][1:]) if shapes.get("X") else 0
    return Estimate(rows, features, rows * (features * itemsize + 8) + others,
                    "from its array headers")


def estimate(path: str | Path, dtype=np.float32, listing: FolderListing | None = None
             ) -> Estimate:
    """Rows, features and bytes of the arrays ``path`` will become, without reading it.

    A table's rows come from its size and first lines, an npz's from its array
    headers, a folder's from its file count and first image.

    Parameters
    ----------
    path : str or pathlib.Path
        The user's file or folder.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    listing : FolderListing or None, default None
        The folder's listing, if already made.

    Returns
    -------
    Estimate

    Raises
    ------
    BackproplabError
        If ``path`` is of no known kind, or an npz's headers cannot be read.
    """
    path, itemsize = Path(path), np.dtype(dtype).itemsize
    kind = source_kind(path)
    if kind == "table":
        return _table_estimate(path, itemsize)
    if kind == "npz":
        return _npz_estimate(path, itemsize)
    listing = listing or list_image_folder(path)
    rows, cols = image_size(listing.files[0])
    n = len(listing.files)
    return Estimate(n, rows * cols, n * (rows * cols * (1 + itemsize) + 8),
                    f"{n} images of {cols}x{rows} pixels")


def check_fits(path: str | Path, max_bytes: int | None, dtype=np.float32,
               listing: FolderListing | None = None) -> Estimate:
    """Refuse ``path`` when loading it would take more than ``max_bytes``.

    Parameters
    ----------
    path : str or pathlib.Path
        The user's file or folder.
    max_bytes : int or None
        The memory available; ``None``: no check.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    listing : FolderListing or None, default None
        The folder's listing, if already made.

    Returns
    -------
    Estimate
        The estimate the decision used.

    Raises
    ------
    BackproplabError
        When loading would take more (:attr:`Estimate.peak_bytes`, about
        :data:`LOAD_PEAK` times the arrays) than ``max_bytes``.
    """
    est = estimate(path, dtype, listing)
    if max_bytes is not None and est.peak_bytes > max_bytes:
        raise BackproplabError(
            f"{path} is too large for memory: about {est.rows} rows x {est.features} features "
            f"({est.how}) need about {est.peak_bytes / 2**30:.3g} GiB to load but "
            f"{max_bytes / 2**30:.3g} GiB are available; use a part of it or a machine with "
            "more memory")
    return est


def check_target(path: Path, kind: str, target: str | None) -> None:
    """Refuse ``target`` (a table's label column) for an npz or an image folder.

    Parameters
    ----------
    path : pathlib.Path
        The user's file or folder, for the message.
    kind : str
        Its kind (:func:`source_kind`).
    target : str or None
        The ``target`` option.

    Raises
    ------
    BackproplabError
        If ``target`` is given for anything but a table.
    """
    if target is not None and kind != "table":
        raise BackproplabError(f"target names the label column of a CSV/TSV file, but {path} "
                               "is not one; drop target", settings=("target",))


def read_source(path: str | Path, *, target: str | None = None, dtype=np.float32,
                features: tuple[str, ...] | None = None, max_bytes: int | None = None,
                listing: FolderListing | None = None) -> RawData:
    """The raw examples of a user's file or folder (see the module docstring).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``/``.tsv`` file, an ``.npz`` file or a folder of class
        subfolders of images.
    target : str or None, default None
        A table's label column.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    features : tuple of str or None, default None
        Match a table's columns to these names (a model's).
    max_bytes : int or None, default None
        Refuse a file that would not fit this much memory (:func:`check_fits`).
    listing : FolderListing or None, default None
        An image folder's listing, if already made (the folder is listed once).

    Returns
    -------
    RawData
        Features and labels as written, unsplit and unscaled.
    """
    path = Path(path)
    kind = source_kind(path)
    if kind == "images" and listing is None:
        listing = list_image_folder(path)
    if max_bytes is not None:  # without a bound the estimate (headers, a listing) is waste
        check_fits(path, max_bytes, dtype, listing)
    check_target(path, kind, target)
    if kind == "table":
        return read_table(path, target=target, dtype=dtype, features=features)
    if kind == "npz":
        return read_npz(path, dtype=dtype)
    X, shape = read_image_folder(listing)
    labels = np.asarray(listing.classes)[listing.labels]
    return RawData(X, labels, None, path, "images", image_shape=shape, classes=listing.classes)

__all__ = ["LOAD_PEAK", "Estimate", "check_fits", "check_target", "estimate", "read_source",
           "source_kind"]
