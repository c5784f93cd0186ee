"""A user's tables: CSV/TSV files (through pandas) and ``.npz`` arrays, read raw.

:func:`read_table` reads a CSV or TSV file with a header row with pandas' C
parser (the optional extra ``backproplab[data]``): every column but the target
is a feature and must be numeric; the target (default: the last column) holds
the labels, integers or text, kept as they are written. :func:`read_npz` reads
``X`` and ``y`` (and optionally ``X_test``, ``y_test``, ``class_names``,
``feature_names``) with ``allow_pickle=False``. Both return a :class:`RawData`:
unscaled features and the label of every row; :mod:`backproplab.data.files`
turns it into a :class:`~backproplab.data.Dataset`.

Every problem with the file is one sentence naming the row and column or the
encoding, and the fix (see ``docs/datasets.md``).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError, import_optional
from backproplab.fileio import npz_members

#: File name endings read as tables, and their column separators.
SEPARATORS = {".csv": ",", ".tsv": "\t"}
#: Bytes looked at to tell a file's encoding when it is not UTF-8.
SNIFF_BYTES = 1 << 16
#: Rows pandas parses at a time (a file is read in chunks of this many rows).
CHUNK_ROWS = 1 << 16
#: Bytes of a table's head read to estimate its rows from its size.
HEAD_BYTES = 1 << 20


@dataclass
class RawData:
    """Examples as read from a user's file, before splitting and scaling.

    Attributes
    ----------
    X : numpy.ndarray
        (n, features): floats for tables, uint8 pixels (flattened) for images.
    labels : numpy.ndarray or None
        Each row's class as written (integers or text); None for a file without a target.
    feature_names : tuple of str or None
        The feature columns in order (None where the file names none).
    path : Path
        The file or folder read.
    kind : str
        ``"table"`` (CSV/TSV), ``"npz"`` or ``"images"``.
    image_shape : tuple of int or None
        ``(rows, cols)`` of one image, for images.
    target : str or None
        The label column of a table.
    classes : tuple of str or None
        The class order the file declares (an npz's ``class_names``, a folder's
        subfolders); None: the sorted labels.
    test : RawData or None
        The held-out examples stored in the same file (an npz's ``X_test``/``y_test``).
    """

    X: np.ndarray
    labels: np.ndarray | None
    feature_names: tuple[str, ...] | None
    path: Path
    kind: str
    image_shape: tuple[int, ...] | None = None
    target: str | None = None
    classes: tuple[str, ...] | None = None
    test: RawData | None = None

    @property
    def n(self) -> int:
        """Rows (examples)."""
        return int(self.X.shape[0])


def pandas():
    """The pandas module, imported on first use.

    Returns
    -------
    module
        :mod:`pandas`.

    Raises
    ------
    BackproplabError
        If pandas is not installed (naming the ``data`` extra).
    """
    return import_optional("pandas", package="pandas", extra="data",
                           needed_by="reading CSV and TSV files",
                           otherwise="give the data as .npz")


def _encoding_hint(path: Path) -> str:
    """Why ``path`` is not UTF-8 text and how to convert it, from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1::2].count(0) > len(head) // 4:
        return f"it looks like UTF-16 text; convert it with `iconv -f UTF-16 -t UTF-8 {path}`"
    if head.count(0):
        return "it holds binary data, not text; give a CSV or TSV text file"
    return ("it is probably Latin-1 (Windows-1252) text; convert it with "
            f"`iconv -f WINDOWS-1252 -t UTF-8 {path}`")


def _pandas_error(path: Path, exc: Exception) -> BackproplabError:
    """The one sentence for an error pandas raised while reading ``path``."""
    if isinstance(exc, UnicodeDecodeError):
        return BackproplabError(f"{path} is not UTF-8 text: {_encoding_hint(path)}, then "
                                "read it again")
    text = str(exc)
    if "No columns to parse" in text:
        return BackproplabError(f"{path} is empty; give a table with a header row and one row "
                                "per example")
    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if ragged:
        want, line, got = ragged.groups()
        return BackproplabError(f"{path} has ragged rows: line {line} has {got} fields but the "
                                f"header has {want}; give every row one value per column")
    return BackproplabError(f"{path} is not a readable table ({text.strip()}); give a CSV or "
                            "TSV file with a header row")


def read_csv(path: Path, **options):
    """``pandas.read_csv`` of a CSV/TSV file: separator from its suffix, UTF-8.

    Parameters
    ----------
    path : pathlib.Path
        A ``.csv`` or ``.tsv`` file.
    **options
        More keyword arguments of ``pandas.read_csv`` (``nrows``,
        ``chunksize`` ...).

    Returns
    -------
    pandas.DataFrame or pandas.io.parsers.TextFileReader
        The frame, or a reader of chunks with ``chunksize``.

    Raises
    ------
    BackproplabError
        One sentence for an empty, ragged, unparsable or non-UTF-8 file (or
        when pandas is missing).
    """
    pd = pandas()
    try:
        return pd.read_csv(path, sep=SEPARATORS[path.suffix.lower()], encoding="utf-8",
                           engine="c", **options)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _pandas_error(path, exc) from None


def _read_chunks(path: Path, **options):
    """The frames of :func:`read_csv` in chunks of :data:`CHUNK_ROWS` rows (so that a
    large file never exists twice in memory), with the same sentences."""
    pd = pandas()
    reader = read_csv(path, chunksize=CHUNK_ROWS, low_memory=False, **options)
    with reader:
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, pd.errors.ParserError) as exc:
                raise _pandas_error(path, exc) from None


def table_columns(path: Path) -> list[str]:
    """The column names in the header row of a CSV/TSV file.

    Parameters
    ----------
    path : pathlib.Path
        A ``.csv`` or ``.tsv`` file.

    Returns
    -------
    list of str
    """
    return [str(c) for c in read_csv(path, nrows=0).columns]


def pick_target(path: Path, columns: list[str], target: str | None) -> str:
    """The label column of a table: ``target``, or the last column.

    Parameters
    ----------
    path : pathlib.Path
        The table, for the messages.
    columns : list of str
        Its column names.
    target : str or None
        The ``target`` option.

    Returns
    -------
    str

    Raises
    ------
    BackproplabError
        For a ``target`` that is no column, or a table of one column and no
        ``target``.

    Examples
    --------
    >>> pick_target(Path("t.csv"), ["x1", "x2", "label"], None)
    'label'
    """
    if len(columns) < 2 and target is None:
        raise BackproplabError(f"{path} has only the column {columns[0]!r}; a table needs at "
                               "least one feature column and a label column")
    if target is None:
        return columns[-1]
    if target not in columns:
        raise BackproplabError(f"{path} has no column {target!r} (its columns are "
                               f"{_names(columns)}); give one of them as target",
                               settings=("target",))
    return target


def _text_column(path: Path, features: list[str]) -> BackproplabError:
    """The sentence for the first feature column holding text (read again as text)."""
    pd = pandas()
    frame = read_csv(path, usecols=features, dtype=str, keep_default_na=False)
    for name in features:
        column = frame[name]
        bad = pd.to_numeric(column.replace("", "nan"), errors="coerce").isna() & (column != "")
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            return BackproplabError(
                f"column {name!r} of {path} holds text ({column.iloc[row]!r} in row {row + 1}), "
                "not numbers; encode it as numbers (one 0/1 column per category, say) or drop "
                "the column")
    return BackproplabError(f"{path} holds a value that is not a number; give numbers only")


def _first_missing(X: np.ndarray) -> tuple[int, int] | None:
    """``(row, column)`` of the first value that is NaN or infinite, or None."""
    finite = np.isfinite(X)
    if finite.all():
        return None
    row = int(np.argmin(finite.all(axis=1)))
    return row, int(np.argmin(finite[row]))


def read_table(path: str | Path, *, target: str | None = None, dtype=np.float32,
               features: tuple[str, ...] | None = None, labelled: bool = True) -> RawData:
    """The features and labels of a CSV/TSV file with a header row.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (comma-separated) or ``.tsv`` (tab-separated) file, UTF-8.
    target : str, optional
        The label column (default: the last column).
    dtype : numpy float dtype
        The features' dtype.
    features : tuple of str, optional
        The feature columns a model expects, in its order: the file's columns are
        matched to them by name (a missing or extra column is an error) and the
        target column, if present, is ignored.
    labelled : bool, default=True
        Whether the file must hold a label column (False: labels read when present).

    Returns
    -------
    RawData

    Raises
    ------
    BackproplabError
        For an empty, ragged or non-UTF-8 file, a text or missing value among the
        features (naming its row and column), or a missing label.
    """
    path = Path(path)
    columns = table_columns(path)
    if features is None:
        target = pick_target(path, columns, target)
        names = [c for c in columns if c != target]
    else:
        names = list(features)
        if target is None and labelled and columns[-1] not in names:
            target = columns[-1]  # the default label column, as for training
        _check_columns(path, columns, names, target)
        if target not in columns:
            target = None if not labelled else pick_target(path, columns, target)
    rows = _RowBuffer(path, len(names), dtype)
    labels = []
    try:  # every column, so that a row too long is ragged
        for frame in _read_chunks(path):  # parsed as pandas does, cast once while copied
            rows.add(_checked_features(frame, names, dtype, path, rows.n))
            if target is not None:
                labels.append(_checked_labels(frame[target], path, rows.n - len(frame)))
    except ValueError as exc:
        if isinstance(exc, BackproplabError):
            raise
        raise _text_column(path, names) from None
    if rows.n == 0:
        raise BackproplabError(f"{path} has a header but no rows; add one row per example")
    if labels and any(part.dtype.kind not in "iu" for part in labels):
        labels = [part.astype(str) for part in labels]
    labels = np.concatenate(labels) if labels else None
    return RawData(rows.array(), labels, tuple(names), path, "table", target=target)


class _RowBuffer:
    """Rows appended chunk by chunk into one array sized from the file's estimated row
    count (:func:`estimated_rows`), so that the chunks are never joined in a second copy;
    it grows by half when the estimate was short."""

    def __init__(self, path: Path, width: int, dtype):
        self.buffer = np.empty((estimated_rows(path), width), dtype=dtype)
        self.n = 0

    def add(self, block: np.ndarray) -> None:
        """Append the rows of ``block``."""
        end = self.n + len(block)
        if end > len(self.buffer):
            grown = np.empty((max(end, len(self.buffer) * 3 // 2), self.buffer.shape[1]),
                             dtype=self.buffer.dtype)
            grown[:self.n] = self.buffer[:self.n]
            self.buffer = grown
        self.buffer[self.n:end] = block
        self.n = end

    def array(self) -> np.ndarray:
        """The rows appended (a view of the buffer)."""
        return self.buffer[:self.n]


def estimated_rows(path: Path, head: bytes | None = None) -> int:
    """A table's rows (header included), estimated from its size and the complete
    lines of its first MiB (5% more, so that the estimate is rarely short).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    head : bytes or None, default None
        Its first :data:`HEAD_BYTES` bytes, where the caller has read them already.

    Returns
    -------
    int
        Exact for a file of at most :data:`HEAD_BYTES` bytes.
    """
    size = path.stat().st_size
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    whole = head[:head.rfind(b"\n") + 1]
    lines = whole.count(b"\n")
    if len(head) == size:
        return lines + (not head.endswith(b"\n"))
    if lines == 0:  # no line ends in the first MiB: lines are at least that long
        return size // max(len(head), 1) + 1
    return int(size / (len(whole) / lines) * 1.05) + 1


def _checked_features(frame, names: list[str], dtype, path: Path, offset: int) -> np.ndarray:
    """A chunk's features as an array, in the type pandas parsed (a view where it can:
    :class:`_RowBuffer` casts while it copies); a missing value is named by its row
    and column, a column of text by its first value that is not a number."""
    if not len(frame):
        return np.empty((0, len(names)), dtype=dtype)
    features = frame[names]
    if not all(t.kind in "fiub" for t in features.dtypes):
        raise _text_column(path, names)
    X = features.to_numpy(dtype=np.result_type(*features.dtypes))
    missing = _first_missing(X)
    if missing is not None:
        row, col = missing[0] + offset, missing[1]
        raise BackproplabError(f"{path} has a missing or non-finite value in column "
                               f"{names[col]!r} at row {row + 1} (line {row + 2}); fill it in "
                               "or drop that row")
    return X


def _checked_labels(column, path: Path, offset: int) -> np.ndarray:
    """A chunk's labels as written (integers, or text); a missing one is named."""
    if column.isna().any():
        row = int(np.argmax(column.isna().to_numpy())) + offset
        raise BackproplabError(f"{path} has no label in column {column.name!r} at row "
                               f"{row + 1} (line {row + 2}); fill it in or drop that row")
    labels = column.to_numpy()
    return labels if labels.dtype.kind in "iu" else labels.astype(str)


def _names(columns: list[str]) -> str:
    """Column names quoted, so that a space in a header shows (``' y'`` is no ``'y'``)."""
    return ", ".join(map(repr, columns))


def _check_columns(path: Path, columns: list[str], names: list[str], target: str | None) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise BackproplabError(f"{path} lacks the feature column {missing[0]!r} the model was "
                               f"trained with (it needs {_names(names)}); add it")
    extra = [c for c in columns if c not in names and c != target]
    if extra:
        raise BackproplabError(f"{path} has the column {extra[0]!r}, which is not a feature the "
                               f"model was trained with ({_names(names)}); drop it")


def _npz_array(z, name: str, path: Path) -> np.ndarray:
    try:
        return z[name]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        why = "an array of objects" if "pickle" in str(exc) else exc
        raise BackproplabError(f"{name} in {path} is not readable ({why}); save numbers or "
                               "strings with numpy.savez") from None


def _npz_part(z, path: Path, xname: str, yname: str, class_names, dtype,
              strict: bool = True) -> RawData:
    X, y = _npz_array(z, xname, path), _npz_array(z, yname, path)
    if X.dtype.kind not in "fiub" or X.ndim < 2:
        raise BackproplabError(f"{xname} in {path} must be a numeric array with one row per "
                               f"example, got {X.dtype} of shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise BackproplabError(f"{yname} in {path} must hold one label per row of {xname} "
                               f"({len(X)}), got shape {y.shape}")
    image = X.dtype == np.uint8 and X.ndim == 3
    if class_names is not None:
        if y.dtype.kind not in "iu" or len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise BackproplabError(f"{yname} in {path} must be integers in [0, "
                                   f"{len(class_names)}) indexing class_names")
        y = np.asarray(class_names)[y]
    shape = tuple(int(s) for s in X.shape[1:]) if image else None
    flat = X.reshape(len(X), -1)
    X = flat if image else flat.astype(dtype, copy=False)
    missing = _first_missing(X) if strict and X.dtype.kind == "f" else None
    if missing is not None:
        raise BackproplabError(f"{xname} in {path} has a missing or non-finite value at row "
                               f"{missing[0]}, column {missing[1]} (counting from 0); fill it "
                               "in or drop that row")
    return RawData(X, y if y.dtype.kind in "iu" else y.astype(str), None, path, "npz",
                   image_shape=shape)


def npz_error(path: Path, exc: Exception) -> BackproplabError:
    """The error for an ``.npz`` file that cannot be opened.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    exc : Exception
        What NumPy raised.

    Returns
    -------
    BackproplabError
        One sentence naming the file, the cause and how to save the arrays.
    """
    return BackproplabError(f"{path} is not a readable .npz file ({exc}); save the arrays "
                            "with numpy.savez(path, X=..., y=...)")


def read_npz(path: str | Path, *, dtype=np.float32, strict: bool = True) -> RawData:
    """The arrays of an ``.npz`` file, never unpickled.

    ``X`` has one row per example (a 3-D uint8 ``X`` is a stack of grayscale
    images, scaled as the image datasets are); ``y`` holds integers or strings,
    or indices into ``class_names`` when that is given.

    Parameters
    ----------
    path : str or pathlib.Path
        The file: ``X``, ``y`` and the optional ``X_test``, ``y_test``,
        ``class_names`` and ``feature_names``.
    dtype : numpy dtype, default numpy.float32
        The features' dtype.
    strict : bool, default True
        Refuse the first missing (NaN) or infinite value; ``False`` keeps them.

    Returns
    -------
    RawData
        With ``test`` set when the file holds ``X_test`` and ``y_test``.

    Raises
    ------
    BackproplabError
        For a file that is not an npz, lacks ``X`` or ``y``, holds only one of
        ``X_test`` and ``y_test``, or whose arrays do not fit together.
    """
    path = Path(path)
    try:
        npz_members(path)  # no member declares more than it stores
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise npz_error(path, exc) from None
    with z:
        missing = [k for k in ("X", "y") if k not in z.files]
        if missing:
            raise BackproplabError(f"{path} has no array {missing[0]!r} (it has "
                                   f"{', '.join(z.files) or 'none'}); save X (features) and y "
                                   "(labels) with numpy.savez")
        classes = tuple(str(c) for c in _npz_array(z, "class_names", path)) \
            if "class_names" in z.files else None
        names = tuple(str(c) for c in _npz_array(z, "feature_names", path)) \
            if "feature_names" in z.files else None
        data = _npz_part(z, path, "X", "y", classes, dtype, strict)
        if ("X_test" in z.files) != ("y_test" in z.files):
            raise BackproplabError(f"{path} has only one of X_test and y_test; save both or "
                                   "neither")
        if "X_test" in z.files:
            data.test = _npz_part(z, path, "X_test", "y_test", classes, dtype, strict)
    if names is not None and len(names) != data.X.shape[1]:
        raise BackproplabError(f"feature_names in {path} lists {len(names)} names but X has "
                               f"{data.X.shape[1]} features; give one name per feature")
    data.feature_names, data.classes = names, classes
    if data.test is not None:
        data.test.feature_names, data.test.classes = names, classes
    return data


__all__ = [
    "CHUNK_ROWS",
    "HEAD_BYTES",
    "SEPARATORS",
    "RawData",
    "estimated_rows",
    "npz_error",
    "pandas",
    "pick_target",
    "read_csv",
    "read_npz",
    "read_table",
    "table_columns",
]
