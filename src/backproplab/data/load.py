"""Loading a dataset by name: the one entry point the training code uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from backproplab.data import synth
from backproplab.data.catalog import CATALOG
from backproplab.data.dataset import DEFAULT_NORMALIZE, Dataset, check_limit
from backproplab.data.files import DEFAULT_VAL_FRACTION, check_file_options, load_file_dataset
from backproplab.data.mnist import load_image_dataset
from backproplab.data.normalize import Normalizer, float_dtype


def load_synth(
    *, final: bool = False, limit: int | None = None, seed: int = 0,
    normalize: str = DEFAULT_NORMALIZE["synth"], dtype=np.float32,
) -> Dataset:
    """The study's synthetic set (see :mod:`backproplab.data.synth`).

    Parameters
    ----------
    final : bool, default False
        The set has no separate test split: this only changes the label of the
        evaluation split (``"test"``).
    limit : int or None, default None
        Keep the first ``limit`` training points.
    seed : int, default 0
        The generator's seed.
    normalize : str, default DEFAULT_NORMALIZE["synth"]
        As in :class:`Normalizer`; statistics from the (limited) training split
        only.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.

    Returns
    -------
    Dataset
    """
    check_limit(limit)
    dtype = float_dtype(dtype)
    X_train, y_train, X_val, y_val = synth.generate(seed=seed)
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    raw_range = (float(X_train.min()), float(X_train.max()))  # of the points trained on
    norm = Normalizer(normalize).fit(X_train)
    return Dataset(
        name="synth",
        X_train=norm.transform(X_train, dtype),
        y_train=y_train,
        X_eval=norm.transform(X_val, dtype),
        y_eval=y_val,
        eval_split="test" if final else "validation",
        n_classes=len(synth.CLASSES),
        normalizer=norm,
        meta={"seed": seed, "raw_range": raw_range},
    )


def load_dataset(
    name: str, *, final: bool = False, val_size: int = 5000, limit: int | None = None,
    data_dir=None, normalize: str | None = None, dtype=np.float32, seed: int = 0,
    download: bool = True, target: str | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION, test_data=None, max_bytes: int | None = None,
) -> Dataset:
    """Load a dataset by name or path, split and normalized, as float arrays of ``dtype``.

    Parameters
    ----------
    name : {"synth", "mnist", "fashion-mnist"} or path
        The data set: a built-in name, or the path of a user's ``.csv``/``.tsv``
        file (header row), ``.npz`` file (``X``, ``y``) or folder of class
        subfolders of images (see :mod:`backproplab.data.files` and
        ``docs/datasets.md``).
    final : bool, default=False
        Train on all training data and evaluate on the test set; otherwise
        ``val_size`` training examples are held out for validation (images).
    val_size : int, default=5000
        Examples held out for validation (images only).
    limit : int, optional
        Keep the first ``limit`` training examples (after the validation split).
    data_dir : str or Path, optional
        Folder holding the IDX files; by default the usual folders are searched.
    normalize : str, optional
        Input scaling (statistics of the training split only); ``None``: the
        dataset's default (``"standardize"`` for synth, ``"unit"`` for images).
    dtype : numpy float dtype, default=numpy.float32
        The features' dtype (labels are int64).
    seed : int, default=0
        Seed of the synthetic points (0: the study's).
    download : bool, default=True
        Fetch missing image files (checked against their known digests).
    target : str, optional
        A CSV/TSV file's label column (default: the last column).
    val_fraction : float, default=0.1
        A user's file: the share of every class held out for validation
        (stratified, with a fixed seed).
    test_data : str or Path, optional
        A user's file: the held-out set ``final=True`` evaluates on (any of the
        three forms; an npz may hold its own ``X_test``, ``y_test``).
    max_bytes : int, optional
        A user's file: refuse it, from its size and before reading it, when
        loading would take more memory than this (None: no limit).

    Returns
    -------
    Dataset
        ``X_train, y_train, X_eval, y_eval``, ``eval_split`` (``"validation"``
        or ``"test"``), ``n_classes``, ``normalizer`` and ``meta``.

    Raises
    ------
    BackproplabError
        For an unknown name, a file's option with a built-in name, a bad ``limit``,
        image files missing (``download=False``), damaged or not fetched, or a
        user's file that cannot be used (``docs/datasets.md`` lists the cases).

    Examples
    --------
    >>> from backproplab.data import load_dataset
    >>> d = load_dataset("synth", limit=100)
    >>> d.X_train.shape, d.X_train.dtype, d.n_classes, d.eval_split
    ((100, 2), dtype('float32'), 2, 'validation')
    >>> mnist = load_dataset("mnist", limit=1000)   # doctest: +SKIP
    >>> table = load_dataset("iris.csv", target="species")   # doctest: +SKIP
    """
    if name == "synth" or name in CATALOG:  # a file's options only with a file
        check_file_options(name, target=target, val_fraction=val_fraction, test_data=test_data)
    if name == "synth":
        return load_synth(final=final, limit=limit, seed=seed,
                          normalize=normalize or DEFAULT_NORMALIZE[name], dtype=dtype)
    if name in CATALOG:
        return load_image_dataset(
            name, final=final, val_size=val_size, limit=limit, data_dir=data_dir,
            normalize=normalize or DEFAULT_NORMALIZE[name], dtype=dtype, download=download,
        )
    return load_file_dataset(name, target=target, final=final, val_fraction=val_fraction,
                             test_data=test_data, limit=limit, normalize=normalize, dtype=dtype,
                             max_bytes=max_bytes)


#: Data options whose :func:`load_dataset` argument has another name.
_ARGUMENT_NAMES = {"data_seed": "seed"}


def load_configured(options: Mapping[str, Any], *, download: bool = True,
                    max_bytes: int | None = None) -> Dataset:
    """The dataset a run's data options describe: the one way a run's data is rebuilt.

    Training, executors, figures and the predictor all come here, each with the
    options of the ``data`` group of a run's config (``training.options.data_options``
    picks them by the group declared on each field; this layer sits below training and
    keeps no list of its own). Every option goes to :func:`load_dataset` under its own
    name (``dataset`` as the name, ``data_seed`` as ``seed``).

    Parameters
    ----------
    options : mapping of str to object
        ``dataset`` and any other data options; one an older config lacks, or
        ``None``, takes :func:`load_dataset`'s default.
    download : bool, default=True
        ``False`` never fetches a missing dataset (figures and checks only read
        what training had).
    max_bytes : int, optional
        Refuse a user's file too large for that much memory.

    Returns
    -------
    Dataset

    Raises
    ------
    BackproplabError
        As :func:`load_dataset` does.
    TypeError
        For a key that is not a data option (a whole config passed by mistake).

    Examples
    --------
    >>> load_configured({"dataset": "synth", "limit": 10, "data_seed": 0}).X_train.shape
    (10, 2)
    """
    arguments = {_ARGUMENT_NAMES.get(key, key): value for key, value in options.items()
                 if key not in ("dataset", "dtype") and value is not None}
    dtype = np.dtype(options.get("dtype") or "float32")
    return load_dataset(options["dataset"], dtype=dtype, download=download, max_bytes=max_bytes,
                        **arguments)


__all__ = ["load_configured", "load_dataset", "load_synth"]
