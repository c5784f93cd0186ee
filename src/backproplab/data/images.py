"""Image files as grayscale pixels, one at a time or a whole class-folder tree.

The one place images are decoded: :func:`read_gray` (one file, through Pillow,
the optional extra ``backproplab[images]``) is what ``predict`` reads an image
with, and :func:`read_image_folder` reads a torchvision-``ImageFolder``-style
tree ``ROOT/CLASS/*.png|jpg`` for training. Colour images are converted with
Pillow's ``"L"`` mode (ITU-R 601-2 luma; an alpha channel is dropped); nothing
is resized or inverted. Pixels stay uint8 (0-255), as the image datasets store
them, so the same ``"unit"`` normalization applies.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError, import_optional

#: File name endings read as images (through Pillow).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: The most pixels an image may declare (Pillow's ``MAX_IMAGE_PIXELS`` while backproplab
#: reads images): a larger one is refused when it is opened, before it is decoded.
MAX_IMAGE_PIXELS = 1 << 24


def pillow():
    """Pillow's ``Image`` module, imported on first use.

    Its ``MAX_IMAGE_PIXELS`` is set to :data:`MAX_IMAGE_PIXELS`.

    Returns
    -------
    module
        :mod:`PIL.Image`.

    Raises
    ------
    BackproplabError
        If Pillow is not installed (naming the ``images`` extra).
    """
    Image = import_optional("PIL.Image", package="Pillow", extra="images",
                            needed_by="reading images", otherwise="give the pixels as .npy")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    return Image


@contextlib.contextmanager
def _opened(path: str | os.PathLike):
    """The image at ``path`` as Pillow opened it (its header read, nothing decoded); an
    image over :data:`MAX_IMAGE_PIXELS`, or any failure while it is open, is one sentence."""
    Image = pillow()
    try:
        with warnings.catch_warnings():  # between 1x and 2x the bound Pillow only warns
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                yield img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BackproplabError(
            f"{path} declares more than {MAX_IMAGE_PIXELS} pixels, more than an image may "
            "have; resize it first") from None
    except (OSError, ValueError) as exc:
        raise BackproplabError(f"{path} is not a readable image ({exc}); give a PNG or "
                               "JPEG file") from None


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """One image file as a uint8 grayscale array (rows, cols).

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG or other file Pillow opens.

    Returns
    -------
    numpy.ndarray
        uint8 pixels, 0 = black.

    Raises
    ------
    BackproplabError
        When Pillow is missing or the file is not a readable image.
    """
    with _opened(path) as img:  # an image already grayscale is not copied again
        return np.asarray(img if img.mode == "L" else img.convert("L"))


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(rows, cols)`` of an image from its header, without decoding its pixels.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.

    Returns
    -------
    tuple of int

    Raises
    ------
    BackproplabError
        If Pillow is missing, the file is not a readable image, or it declares
        more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    with _opened(path) as img:
        return int(img.size[1]), int(img.size[0])


@dataclass(frozen=True)
class FolderListing:
    """The image files of a class-folder tree, in a fixed order.

    Attributes
    ----------
    root : pathlib.Path
        The folder.
    classes : tuple of str
        The subfolder names holding images, sorted.
    files : tuple of pathlib.Path
        The images; within a class sorted by name.
    labels : numpy.ndarray
        int64, ``files[i]`` is an image of class ``classes[labels[i]]``.
    """

    root: Path
    classes: tuple[str, ...]
    files: tuple[Path, ...]
    labels: np.ndarray


def list_image_folder(root: str | os.PathLike) -> FolderListing:
    """The images of ``ROOT/CLASS/*`` (suffixes :data:`IMAGE_SUFFIXES`, any case).

    Hidden subfolders (a name starting with ``.``) and subfolders without an
    image are left out.

    Parameters
    ----------
    root : str or os.PathLike
        The folder of class subfolders.

    Returns
    -------
    FolderListing

    Raises
    ------
    BackproplabError
        When the folder holds no class subfolder with an image.
    """
    root = Path(root)
    classes, files, labels = [], [], []
    with os.scandir(root) as entries:  # scandir: the file types come without a stat each
        subs = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    for sub in subs:
        folder = os.path.join(root, sub)
        with os.scandir(folder) as entries:  # names sorted as text: faster than as Paths
            names = sorted(e.name for e in entries
                           if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
        if names:
            labels += [len(classes)] * len(names)
            classes.append(sub)
            files += [Path(folder, name) for name in names]
    if not files:
        raise BackproplabError(
            f"the folder {root} holds no images in class subfolders; arrange them as "
            f"{root}/CLASS/IMAGE.png (one subfolder per class, PNG or JPEG files)")
    return FolderListing(root, tuple(classes), tuple(files), np.asarray(labels, dtype=np.int64))


def _decode_files(files: list[Path], shape: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """The images ``files`` as rows of one uint8 matrix, and ``{other shape: a file of
    it}`` for those whose size is not ``shape`` (their rows are left unset)."""
    out = np.empty((len(files), shape[0] * shape[1]), dtype=np.uint8)
    wrong: dict[tuple[int, int], Path] = {}
    for i, path in enumerate(files):
        gray = read_gray(path)
        if gray.shape == shape:
            out[i] = gray.reshape(-1)
        else:
            wrong.setdefault(gray.shape, path)
    return out, wrong


def read_image_folder(listing: FolderListing) -> tuple[np.ndarray, tuple[int, int]]:
    """Every image of ``listing`` as one uint8 matrix (n, rows*cols) and the image shape.

    The images are decoded one after the other straight into the result, at
    Pillow's own rate (``benchmarks/csv_load.py``; Pillow holds Python's lock for
    much of its work, so threads do not help, and a sweep already loads its trials'
    data in parallel processes).

    Parameters
    ----------
    listing : FolderListing
        The images, as :func:`list_image_folder` found them.

    Returns
    -------
    tuple
        ``(pixels, (rows, cols))``, rows in the listing's order, converted to
        grayscale.

    Raises
    ------
    BackproplabError
        When the images differ in size (one file of each of two sizes is
        named), or one is not a readable image.
    """
    shape = image_size(listing.files[0])
    out, wrong = _decode_files(list(listing.files), shape)
    if wrong:
        other, path = next(iter(wrong.items()))
        raise BackproplabError(
            f"the images in {listing.root} differ in size: {listing.files[0]} is "
            f"{shape[1]}x{shape[0]} pixels but {path} is {other[1]}x{other[0]}; resize them all "
            "to one size first")
    return out, shape


__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "FolderListing", "image_size",
           "list_image_folder", "pillow", "read_gray", "read_image_folder"]
