"""What a user's file holds, before anything is trained on it (``backproplab data describe``).

:func:`describe_source` reports rows, features, classes and their balance,
missing values, text columns and the memory the arrays will take. Unlike
training, it does not stop at the first missing value or text column: it counts
them all, so that one look shows what to fix. A file too large for the memory
given is still refused from its size, before it is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backproplab.data.dataset import DATASETS
from backproplab.data.files import class_order
from backproplab.data.images import list_image_folder
from backproplab.data.sources import check_fits, check_target, read_source, source_kind
from backproplab.data.tables import pandas, pick_target, read_csv, read_npz, table_columns
from backproplab.errors import BackproplabError

_KINDS = "a .csv/.tsv file, an .npz file or a folder of class subfolders of images"


def _check_exists(path: Path) -> None:
    """Refuse a path that is not there, saying what this command reads (a built-in
    dataset's name is not read here: ``data list`` and ``data verify`` show its files)."""
    if path.exists():
        return
    if str(path) in DATASETS:
        where = "it is generated, not read" if str(path) == "synth" else \
            f"`backproplab data verify {path}` checks its files"
        raise BackproplabError(f"{path} is a built-in dataset, not a file of your own ({where}); "
                               f"describe reads {_KINDS}")
    raise BackproplabError(f"{path} does not exist; give the path of {_KINDS}")


def _balance(labels: np.ndarray, classes: tuple[str, ...] | None) -> dict[str, int]:
    values, counts = np.unique(labels, return_counts=True)
    found = {str(v): int(c) for v, c in zip(values, counts)}
    order = classes if classes is not None else class_order(labels)
    return {name: found.get(name, 0) for name in order}


def _describe_table(path: Path, target: str | None) -> dict:
    target = pick_target(path, table_columns(path), target)
    pd = pandas()
    frame = read_csv(path)
    features = [str(c) for c in frame.columns if c != target]
    text = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    missing = {str(c): int(n) for c, n in frame.isna().sum().items() if n}
    labels = frame[target].dropna().to_numpy()
    labels = labels if labels.dtype.kind in "iu" else labels.astype(str)
    return {"rows": len(frame), "features": len(features), "feature_names": features,
            "target": target, "balance": _balance(labels, None), "missing": missing,
            "text_columns": text}


def describe_source(path: str | Path, *, target: str | None = None, dtype=np.float32,
                    max_bytes: int | None = None) -> dict:
    """Rows, features, classes, class balance, missing values and memory of a user's file.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.tsv`` file, an ``.npz`` file or a folder of class subfolders of images.
    target : str, optional
        A table's label column (default: the last column).
    dtype : numpy float dtype
        The dtype training will use (sets the memory).
    max_bytes : int, optional
        Refuse the file, from its size, when loading it needs more memory.

    Returns
    -------
    dict
        ``path, kind, rows, features, feature_names, target, classes, balance``
        (examples per class), ``missing`` (column -> count, only those with
        some), ``text_columns``, ``image_shape``, ``test_rows``, ``memory_bytes``
        (the features as ``dtype`` and the labels) and ``peak_bytes`` (the most
        loading takes), all JSON-friendly.

    Raises
    ------
    BackproplabError
        For a file that cannot be read at all (empty, ragged, not UTF-8, not an
        npz, no images, images of different sizes, too large).
    """
    path = Path(path)
    _check_exists(path)
    kind = source_kind(path)
    listing = list_image_folder(path) if kind == "images" else None  # listed once
    est = check_fits(path, max_bytes, dtype, listing)
    out = {"path": str(path), "kind": kind, "target": None, "image_shape": None,
           "test_rows": None, "missing": {}, "text_columns": [], "feature_names": None}
    if kind == "table":
        out.update(_describe_table(path, target))
    else:
        check_target(path, kind, target)
        raw = read_npz(path, dtype=dtype, strict=False) if kind == "npz" else \
            read_source(path, dtype=dtype, listing=listing)
        bad = ~np.isfinite(raw.X) if raw.X.dtype.kind == "f" else np.zeros(raw.X.shape, bool)
        names = raw.feature_names or [f"x{i}" for i in range(raw.X.shape[1])]
        out.update(rows=raw.n, features=int(raw.X.shape[1]), balance=_balance(raw.labels,
                                                                              raw.classes),
                   missing={names[i]: int(n) for i, n in enumerate(bad.sum(axis=0)) if n},
                   feature_names=None if raw.feature_names is None else list(names),
                   image_shape=None if raw.image_shape is None else list(raw.image_shape),
                   test_rows=None if raw.test is None else raw.test.n)
    n_numeric = out["features"] - len(out["text_columns"])
    out["classes"] = list(out["balance"])
    out["memory_bytes"] = out["rows"] * (n_numeric * np.dtype(dtype).itemsize + 8)
    out["peak_bytes"] = max(est.peak_bytes, out["memory_bytes"])
    return out


__all__ = ["describe_source"]
