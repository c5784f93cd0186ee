"""The user's own data as one more kind of dataset: CSV/TSV, ``.npz``, image folders.

``load_dataset(PATH)`` comes here for anything that is not a built-in name:

- a ``.csv``/``.tsv`` file with a header row (:func:`backproplab.data.tables.read_table`);
- an ``.npz`` file with ``X`` and ``y`` (:func:`backproplab.data.tables.read_npz`);
- a folder of class subfolders of images (:mod:`backproplab.data.images`).

The validation split is stratified: every class gives the same share
``val_fraction`` of its rows, drawn with the fixed
:data:`backproplab.data.mnist.SPLIT_SEED` (the same for every run, as for the
image datasets). With ``final=True`` the model
trains on every row and is evaluated on ``test_data`` (a file of any of the three
forms) or on an npz's own ``X_test``/``y_test``. Features are standardized, and
images scaled to [0, 1], with statistics of the training split only. Class names
are the labels as written (sorted: numerically for integer labels), an npz's
``class_names`` or the folder names.

A file is refused from its size, before it is read, when the arrays it would
become (:func:`backproplab.data.sources.estimate`) do not fit the memory the
caller says is available; :mod:`backproplab.data.sources` reads it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from backproplab.data.dataset import DATASETS, Dataset, check_limit
from backproplab.data.mnist import SPLIT_SEED
from backproplab.data.normalize import Normalizer, float_dtype
from backproplab.data.sources import read_source
from backproplab.data.tables import (
    CHUNK_ROWS,
    SEPARATORS,
    RawData,
)
from backproplab.errors import BackproplabError, choose_from

#: Share of every class held out for validation when none is asked for.
DEFAULT_VAL_FRACTION = 0.1


def is_file_dataset(name: str) -> bool:
    """Whether ``name`` names a user's file or folder rather than a built-in dataset.

    Parameters
    ----------
    name : str
        The ``dataset`` option.

    Returns
    -------
    bool
        True for anything that is not a name of :data:`DATASETS`.

    Examples
    --------
    >>> is_file_dataset("mnist"), is_file_dataset("data/iris.csv")
    (False, True)
    """
    return str(name) not in DATASETS


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a path: it exists, names a folder, or ends in a
    suffix of the forms (a bare word like ``cifar`` is a mistyped dataset name)."""
    return (os.sep in name or Path(name).suffix.lower() in (*SEPARATORS, ".npz")
            or Path(name).exists())


def check_file_options(dataset: str, *, target=None, val_fraction=DEFAULT_VAL_FRACTION,
                       test_data=None) -> None:
    """Check the options of a dataset PATH.

    A dataset that is no built-in name must look like a path (it exists, holds
    a path separator, or ends in ``.csv``, ``.tsv`` or ``.npz``: a bare word like
    ``cifar`` is a mistyped name); ``target`` and ``test_data`` must be strings
    given only with a path; ``val_fraction`` must lie in (0, 1), and differ from
    its default only with a path.

    Parameters
    ----------
    dataset : str
        The ``dataset`` option.
    target : str or None, default None
        A table's label column.
    val_fraction : float, default DEFAULT_VAL_FRACTION
        The share of every class held out for validation.
    test_data : str or None, default None
        The held-out file of ``final=True``.

    Raises
    ------
    BackproplabError
        Naming the bad option by its Python name.
    """
    if is_file_dataset(dataset) and not _looks_like_path(dataset):
        raise BackproplabError(
            f"unknown dataset {dataset!r}; choose {choose_from('dataset', DATASETS)}, or give "
            "the path of a .csv/.tsv file, an .npz file or a folder of images",
            settings=("dataset",))
    for name, value in (("target", target), ("test_data", test_data)):
        if value is not None and not isinstance(value, str):
            raise BackproplabError(f"{name} must be a string, got {value!r}", settings=(name,))
        if value is not None and not is_file_dataset(dataset):
            raise BackproplabError(f"{name} applies only to a dataset given as a PATH, not "
                                   f"dataset={dataset!r}; drop {name}", settings=(name,))
    if (isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float))
            or not 0 < val_fraction < 1):
        raise BackproplabError(f"val_fraction must be a number between 0 and 1, got "
                               f"{val_fraction!r}", settings=("val_fraction",))
    if val_fraction != DEFAULT_VAL_FRACTION and not is_file_dataset(dataset):
        raise BackproplabError(  # a built-in dataset has its own split (val_size)
            f"val_fraction applies only to a dataset given as a PATH, not dataset={dataset!r}; "
            "drop val_fraction", settings=("val_fraction",))


def class_order(labels: np.ndarray) -> tuple[str, ...]:
    """The classes of ``labels`` in label order: sorted (numerically for integers).

    Parameters
    ----------
    labels : numpy.ndarray
        The labels as written.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> class_order(np.array([10, 2, 2, 1]))
    ('1', '2', '10')
    """
    return tuple(str(v) for v in np.unique(labels))


def _unique(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True)``, by counting for small non-negative
    integers (no sort of every row)."""
    if labels.dtype.kind in "iu" and len(labels) and 0 <= labels.min() \
            and labels.max() < max(1 << 16, len(labels)):
        present = np.bincount(labels) > 0
        values = np.flatnonzero(present)
        code = np.cumsum(present) - 1
        return values.astype(labels.dtype), code[labels]
    return np.unique(labels, return_inverse=True)


def encode(labels: np.ndarray, classes: tuple[str, ...] | None, source
           ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as indices into ``classes``.

    Parameters
    ----------
    labels : numpy.ndarray
        The labels as written.
    classes : tuple of str or None
        The class names in label order; ``None`` takes the sorted labels
        (:func:`class_order`).
    source : object
        Names the data in the error message.

    Returns
    -------
    tuple
        ``(indices, classes)``: int64 indices, shape ``(n,)``, and the classes.

    Raises
    ------
    BackproplabError
        For a label not among the given ``classes``, naming it.

    Examples
    --------
    >>> encode(np.array(["b", "a", "b"]), None, "x.csv")
    (array([1, 0, 1]), ('a', 'b'))
    """
    values, inverse = _unique(labels)
    names = [str(v) for v in values]
    if classes is None:
        return inverse.reshape(-1).astype(np.int64), tuple(names)
    index = {name: i for i, name in enumerate(classes)}
    unseen = [name for name in names if name not in index]
    if unseen:
        drop = (f"move its folder {unseen[0]!r} out" if Path(str(source)).is_dir()
                else "drop those rows")  # a folder of class folders, or a table
        raise BackproplabError(
            f"{source} has the label {unseen[0]!r}, which the training data never had (its "
            f"classes are {', '.join(classes)}); {drop} or retrain with them")
    codes = np.asarray([index[name] for name in names], dtype=np.int64)
    return codes[inverse.reshape(-1)], tuple(classes)


def stratified_split(y: np.ndarray, n_classes: int, fraction: float,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation rows: ``fraction`` of every class, rounded, held out.

    Each class keeps at least one training row; the rows are drawn with ``seed``
    and returned in file order.

    Parameters
    ----------
    y : numpy.ndarray
        Label indices, ``0 .. n_classes - 1``.
    n_classes : int
        How many classes.
    fraction : float
        The share of every class held out.
    seed : int, default SPLIT_SEED
        The draw's seed (PCG64).

    Returns
    -------
    tuple of numpy.ndarray
        ``(training rows, validation rows)``, sorted.

    Examples
    --------
    >>> train, val = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 2, 0.25)
    >>> len(train), len(val), sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1])[val].tolist())
    (6, 2, [0, 1])
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    if n_classes <= 64:  # one pass per class beats sorting every row
        groups = [np.flatnonzero(y == c) for c in range(n_classes)]
    else:
        order = np.argsort(y, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(y, minlength=n_classes))[:-1])
    val = []
    for rows in groups:
        k = min(math.floor(fraction * len(rows) + 0.5), len(rows) - 1)
        val.append(rng.permutation(rows)[:k])
    val_rows = np.sort(np.concatenate(val))
    keep = np.ones(len(y), dtype=bool)
    keep[val_rows] = False
    return np.flatnonzero(keep), val_rows


def _encoded(raw: RawData) -> tuple[np.ndarray, tuple[str, ...]]:
    y, classes = encode(raw.labels, raw.classes, raw.path)
    if len(classes) < 2:
        raise BackproplabError(f"{raw.path} holds only one class ({classes[0]!r}); a "
                               "classifier needs examples of at least two classes")
    return y, classes


def _held_out(raw: RawData, test_data, *, dtype, max_bytes) -> RawData:
    """The test examples for ``final=True``: the file ``test_data``, or the npz's own."""
    if test_data is not None:
        other = read_source(test_data, target=raw.target, dtype=dtype, features=raw.feature_names
                            if raw.kind == "table" else None, max_bytes=max_bytes)
    elif raw.test is not None:
        other = raw.test
    else:
        raise BackproplabError(
            f"final=True evaluates on a test set, but {raw.path} holds none; give test_data (a "
            "file or folder of the same form) or drop final=True", settings=("test_data",))
    if other.X.shape[1] != raw.X.shape[1] or other.image_shape != raw.image_shape:
        raise BackproplabError(f"the test data {other.path} has {other.X.shape[1]} features per "
                               f"example but the training data {raw.path} has "
                               f"{raw.X.shape[1]}; give test data of the same form")
    return other


def split_in_place(X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray
                   ) -> tuple[tuple, tuple]:
    """Split ``X`` and ``y`` with the training rows gathered at the head of ``X`` itself.

    ``X_train`` is a view: no second copy of a large table. The validation rows
    are copied out; each of them that lies in the first ``len(train)`` rows is
    overwritten by a training row from beyond them, in order: the training rows
    keep file order except that those from the tail fill the validation rows'
    places. ``X`` is changed; ``y`` is not.

    Parameters
    ----------
    X : numpy.ndarray
        The features, shape (n, n_features).
    y : numpy.ndarray
        The labels, shape (n,).
    train : numpy.ndarray
        Sorted training row indices.
    val : numpy.ndarray
        Sorted validation row indices.

    Returns
    -------
    tuple
        ``((X_train, y_train), (X_eval, y_eval))``.
    """
    X_eval, y_eval = X[val], y[val]
    n = len(train)
    holes, movers = val[val < n], train[train >= n]  # as many of one as of the other
    X[holes] = X[movers]
    y = y.copy()
    y[holes] = y[movers]
    return (X[:n], y[:n]), (X_eval, y_eval)


def _split_file(raw: RawData, *, final: bool, val_fraction: float, test_data, dtype,
               max_bytes) -> tuple[tuple[str, ...], tuple, tuple]:
    """``(classes, (X_train, y_train), (X_eval, y_eval))`` of raw data, unscaled
    (the training rows gathered in ``raw.X`` itself: :func:`split_in_place`)."""
    y, classes = _encoded(raw)
    if final:
        other = _held_out(raw, test_data, dtype=dtype, max_bytes=max_bytes)
        return classes, (raw.X, y), (other.X, encode(other.labels, classes, other.path)[0])
    if test_data is not None:
        raise BackproplabError("test_data is the held-out set of final=True; add final=True or "
                               "drop test_data", settings=("test_data",))
    check_file_options(str(raw.path), val_fraction=val_fraction)
    tr, va = stratified_split(y, len(classes), val_fraction)
    if len(va) == 0:
        raise BackproplabError(
            f"{raw.path} has too few rows ({raw.n}) for a validation split of val_fraction="
            f"{val_fraction:g}; add rows, raise val_fraction, or use final=True and give a "
            "test file as test_data", settings=("val_fraction", "test_data"))
    return (classes, *split_in_place(raw.X, y, tr, va))


def load_file_dataset(path: str | Path, *, target: str | None = None, final: bool = False,
                      val_fraction: float = DEFAULT_VAL_FRACTION, test_data=None,
                      limit: int | None = None, normalize: str | None = None, dtype=np.float32,
                      max_bytes: int | None = None) -> Dataset:
    """A user's file or folder as a :class:`~backproplab.data.Dataset` (split, scaled).

    The entry point :func:`backproplab.data.load_dataset` uses for a path.
    Features are standardized and images scaled to [0, 1] (unless
    ``normalize`` says otherwise), with statistics of the training split only.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``/``.tsv`` file, an ``.npz`` file or a folder of class
        subfolders of images.
    target : str or None, default None
        A table's label column.
    final : bool, default False
        Train on every row and evaluate on ``test_data`` (or an npz's own
        ``X_test``/``y_test``).
    val_fraction : float, default DEFAULT_VAL_FRACTION
        Without ``final``: the share of every class held out for validation.
    test_data : str, os.PathLike or None, default None
        With ``final``: the held-out file or folder, of the same form.
    limit : int or None, default None
        Keep the first ``limit`` training examples.
    normalize : str or None, default None
        As in :class:`Normalizer`; ``None``: ``"unit"`` for images,
        ``"standardize"`` otherwise.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    max_bytes : int or None, default None
        Refuse a file that would not fit this much memory.

    Returns
    -------
    Dataset
        Its ``name`` is the path; ``meta`` records the kind, classes, feature
        names, target and split.
    """
    check_limit(limit)
    dtype = float_dtype(dtype)
    raw = read_source(path, target=target, dtype=dtype, max_bytes=max_bytes)
    classes, (X_train, y_train), (X_eval, y_eval) = _split_file(
        raw, final=final, val_fraction=val_fraction, test_data=test_data, dtype=dtype,
        max_bytes=max_bytes)
    image = raw.image_shape is not None
    raw.X = None  # X_train is all of it that is still needed
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    norm = Normalizer(normalize or ("unit" if image else "standardize")).fit(
        X_train, block_rows=CHUNK_ROWS)
    meta = {"source": "file", "kind": raw.kind, "path": str(raw.path), "classes": list(classes),
            "feature_names": None if raw.feature_names is None else list(raw.feature_names),
            "target": raw.target, "val_fraction": None if final else val_fraction,
            "split_seed": None if final else SPLIT_SEED, "test_data": None if test_data is None else str(test_data),
            "raw_range": (float(X_train.min()), float(X_train.max()))}
    if image:
        meta["image_shape"] = list(raw.image_shape)
    return Dataset(
        name=str(path),
        X_train=norm.transform(X_train, dtype, copy=False),
        y_train=y_train,
        X_eval=norm.transform(X_eval, dtype, copy=False),
        y_eval=y_eval,
        eval_split="test" if final else "validation",
        n_classes=len(classes),
        normalizer=norm,
        meta=meta,
    )


__all__ = ["DEFAULT_VAL_FRACTION", "check_file_options", "class_order", "encode",
           "is_file_dataset", "load_file_dataset", "split_in_place", "stratified_split"]
