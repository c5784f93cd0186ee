"""MNIST and Fashion-MNIST, with the study's split and normalization.

``final=False`` (the default) shuffles the 60,000 training images with a fixed
seed (:data:`SPLIT_SEED`, the same for every run, whatever the run's own seed)
and holds out the last ``val_size`` of them as the validation set;
``final=True`` trains on all training images and evaluates on the canonical
10,000 test images. Pixels are scaled to [0, 1] by default
(``normalize="unit"``); ``"standardize"`` uses per-pixel statistics of the
training split only; ``"none"`` keeps the raw 0-255 values.

The files are found, downloaded if need be, and verified by
:mod:`backproplab.data.catalog`, :mod:`backproplab.data.download` and
:mod:`backproplab.data.verify`.

Example::

    from backproplab.data.mnist import load_mnist
    ds = load_mnist("fashion-mnist", val_size=5000)   # 55,000 train, 5,000 validation
    ds.X_train.shape, ds.X_train.dtype                # (55000, 784), float32 in [0, 1]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backproplab.data.catalog import Location, get_spec, locate, looked_in, offline
from backproplab.data.dataset import Dataset, check_limit
from backproplab.data.download import download as do_download
from backproplab.data.download import manual_instructions
from backproplab.data.normalize import Normalizer, float_dtype
from backproplab.data.verify import Verification, verify_location
from backproplab.errors import BackproplabError, BackproplabWarning

#: Seed of the fixed shuffle that picks the validation images (not the run seed:
#: every run, whatever its seed, validates on the same images).
SPLIT_SEED = 20_240_517


@dataclass
class ImageSet:
    """A dataset's four arrays as stored (uint8), with where they came from.

    Attributes
    ----------
    name : str
        The dataset's name.
    train_images, test_images : numpy.ndarray
        uint8 images, shape (n, rows, cols).
    train_labels, test_labels : numpy.ndarray
        uint8 labels, shape (n,).
    location : Location
        Where the files were found.
    verification : Verification
        How they were checked.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    location: Location
    verification: Verification


_MEMO: dict[tuple, ImageSet] = {}
_MEMO_MAX = 2


def _memo_key(spec, loc: Location) -> tuple:
    stats = []
    for role in sorted(loc.files):
        p = Path(loc.files[role])
        st = p.stat()
        stats.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return (spec, tuple(stats))


def find_dataset(name: str, data_dir=None, download: bool = True, progress=None) -> Location:
    """Where the dataset's files are: found offline, else downloaded into the cache.

    Parameters
    ----------
    name : str
        The dataset's name.
    data_dir : str, os.PathLike or None, default None
        Look only there.
    download : bool, default True
        Whether a dataset not found may be downloaded.
    progress : bool or None, default None
        The download's progress bar, as in :func:`backproplab.data.download.download`.

    Returns
    -------
    Location

    Raises
    ------
    BackproplabError
        One sentence saying where it looked and how to get the files, when
        they are not found and cannot be downloaded.
    """
    spec = get_spec(name)
    loc = locate(spec, data_dir)
    if loc is not None:
        return loc

    where = looked_in(spec)
    if not download or offline():
        why = "downloads are off (BACKPROPLAB_OFFLINE is set)" if offline() else "downloads are off"
        raise BackproplabError(
            f"{spec.name} is not on this machine (looked in {where}) and {why}; run "
            f"`backproplab data download {spec.name}` where the internet is reachable, or "
            f"{manual_instructions(spec)}", settings=("data_dir",))
    try:
        return do_download(spec, progress=progress)
    except BackproplabError as exc:
        raise BackproplabError(f"{spec.name} is not on this machine (looked in {where}) and "
                               f"{exc}", settings=exc.settings) from None


def load_images(name: str = "mnist", data_dir=None, download: bool = True,
                progress=None) -> ImageSet:
    """The dataset's four arrays (uint8, as stored), found, verified and cached in memory.

    A file of canonical size whose content differs from the known hash gives a
    :class:`~backproplab.errors.BackproplabWarning`, not an error (the data is
    structurally valid).

    Parameters
    ----------
    name : str, default "mnist"
        The dataset's name.
    data_dir : str, os.PathLike or None, default None
        Look only there.
    download : bool, default True
        Whether a missing dataset may be downloaded.
    progress : bool or None, default None
        The download's progress bar.

    Returns
    -------
    ImageSet
    """
    spec = get_spec(name)
    loc = find_dataset(spec.name, data_dir, download, progress)
    key = _memo_key(spec, loc)
    if key in _MEMO:
        return _MEMO[key]
    ver = verify_location(spec, loc)
    if ver.mismatches:
        warnings.warn(f"{spec.name} in {loc.directory}: {ver.summary()}; results may not be "
                      "comparable with published ones", BackproplabWarning, stacklevel=2)
    a = ver.arrays
    images = ImageSet(spec.name, a["train_images"], a["train_labels"], a["test_images"],
                      a["test_labels"], loc, ver)
    while len(_MEMO) >= _MEMO_MAX:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = images
    return images


def split_indices(n: int, val_size: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and split off the last ``val_size`` indices.

    Parameters
    ----------
    n : int
        The training images.
    val_size : int
        The validation split's size, 1 to ``n - 1``.
    seed : int, default SPLIT_SEED
        The shuffle's seed (PCG64).

    Returns
    -------
    tuple of numpy.ndarray
        ``(training indices, validation indices)``.

    Raises
    ------
    BackproplabError
        If ``val_size`` is out of range.

    Examples
    --------
    >>> train, val = split_indices(10, 3)
    >>> len(train), len(val), sorted([*train, *val]) == list(range(10))
    (7, 3, True)
    """
    if not 1 <= val_size < n:
        raise BackproplabError(
            f"val_size must be between 1 and {n - 1} (the training set has {n} images), got "
            f"{val_size}; choose a smaller validation set, or use final=True to evaluate on the "
            "test set instead", settings=("val_size",))
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    return perm[: n - val_size], perm[n - val_size:]


def _provenance(images: ImageSet, val_size: int | None) -> dict:
    """The ``meta`` of an image dataset: where its files are, how they were verified,
    how it was split (``val_size`` ``None``: the test set, no split) and its sizes."""
    loc, ver, X = images.location, images.verification, images.train_images
    return {
        "source": loc.source,
        "directory": str(loc.directory),
        "files": {r: str(p) for r, p in loc.files.items()},
        "verification": ver.status,
        "verification_detail": ver.summary(),
        "split_seed": None if val_size is None else SPLIT_SEED,
        "val_size": val_size,
        "n_train_available": int(X.shape[0]),
        "n_test": int(images.test_images.shape[0]),
        "image_shape": list(X.shape[1:]),
        "raw_range": (float(X.min()), float(X.max())),
    }


def load_mnist(name: str = "mnist", *, final: bool = False, val_size: int = 5000,
               flatten: bool = True, normalize: str = "unit", dtype=np.float32,
               data_dir=None, limit: int | None = None, download: bool = True,
               progress=None) -> Dataset:
    """Load MNIST or Fashion-MNIST with the study's split, normalized, as a :class:`Dataset`.

    Parameters
    ----------
    name : str, default "mnist"
        ``"mnist"`` or ``"fashion-mnist"``.
    final : bool, default False
        ``False``: the training images are shuffled with the fixed
        :data:`SPLIT_SEED` and the last ``val_size`` become the validation set
        (``eval_split="validation"``); ``True``: all training images, and the
        canonical test set (``eval_split="test"``; ``val_size`` is unused).
    val_size : int, default 5000
        The validation split's size.
    flatten : bool, default True
        Images as rows of ``rows*cols`` features (else (n, rows, cols)).
    normalize : str, default "unit"
        ``"unit"`` (divide by 255), ``"standardize"`` (per-pixel mean and
        standard deviation) or ``"none"``; statistics from the training split
        only.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    data_dir : str, os.PathLike or None, default None
        Look only there (any consistent IDX set, e.g. a subset).
    limit : int or None, default None
        Keep the first ``limit`` training examples after the split.
    download : bool, default True
        Whether a missing dataset may be downloaded.
    progress : bool or None, default None
        The download's progress bar.

    Returns
    -------
    Dataset
        int64 labels; ``meta`` says where the files came from and how they were
        verified.
    """
    check_limit(limit)
    dtype = float_dtype(dtype)
    images = load_images(name, data_dir, download, progress)
    Xtr_all, ytr_all = images.train_images, images.train_labels
    n_total = int(Xtr_all.shape[0])
    if final:
        X_train, y_train = Xtr_all, ytr_all
        X_eval, y_eval = images.test_images, images.test_labels
        val_used = None
    else:
        tr_idx, val_idx = split_indices(n_total, int(val_size))
        X_train, y_train = Xtr_all[tr_idx], ytr_all[tr_idx]
        X_eval, y_eval = Xtr_all[val_idx], ytr_all[val_idx]
        val_used = int(val_size)
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    if flatten:
        X_train = X_train.reshape(X_train.shape[0], -1)
        X_eval = X_eval.reshape(X_eval.shape[0], -1)
    norm = Normalizer(normalize).fit(X_train)
    meta = _provenance(images, val_used)
    return Dataset(
        name=images.name,
        X_train=norm.transform(X_train, dtype),
        y_train=y_train.astype(np.int64),
        X_eval=norm.transform(X_eval, dtype),
        y_eval=y_eval.astype(np.int64),
        eval_split="test" if final else "validation",
        n_classes=get_spec(name).n_classes,
        normalizer=norm,
        meta=meta,
    )


def load_image_dataset(name: str, final: bool = False, val_size: int = 5000,
                       limit: int | None = None, data_dir=None, normalize: str = "unit",
                       dtype=np.float32, download: bool = True) -> Dataset:
    """The entry point :func:`backproplab.data.load_dataset` uses: :func:`load_mnist` with flattened images.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    final : bool, default False
        Evaluate on the test set instead of the validation split.
    val_size : int, default 5000
        The validation split's size.
    limit : int or None, default None
        Keep the first ``limit`` training examples.
    data_dir : str, os.PathLike or None, default None
        Look only there.
    normalize : str, default "unit"
        As in :func:`load_mnist`.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    download : bool, default True
        Whether a missing dataset may be downloaded.

    Returns
    -------
    Dataset
    """
    return load_mnist(name, final=final, val_size=val_size, flatten=True, normalize=normalize,
                      dtype=dtype, data_dir=data_dir, limit=limit, download=download)


__all__ = [
    "SPLIT_SEED",
    "ImageSet",
    "find_dataset",
    "load_image_dataset",
    "load_images",
    "load_mnist",
    "split_indices",
]
