"""The ``.npz`` files of models and checkpoints: JSON kept in byte arrays, and a reader
that checks what a file declares against what it stores before allocating anything.

An ``.npz`` is a zip of ``.npy`` members; each member's header declares a shape and
a dtype, and NumPy allocates the whole declared array before reading its bytes. A
damaged or hostile file can therefore ask for gigabytes in a few bytes: a header
declaring a shape larger than the bytes stored, or a zip entry claiming a size its
compressed data cannot hold. :func:`read_npz` refuses both before ``np.load`` runs,
and turns every way a damaged file fails into one
:class:`~backproplab.errors.BackproplabError`.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.fileio import npz_members, parse_json

#: The most bytes the arrays of a model or checkpoint file may declare in all: several
#: hundred times the study's largest network, and what :func:`read_npz` allocates at most
#: (training refuses a network whose checkpoint would be larger).
MAX_NPZ_BYTES = 512 << 20


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def json_array(obj) -> np.ndarray:
    """``obj`` as JSON text in a uint8 array, to store in an ``.npz`` without pickle.

    Parameters
    ----------
    obj : object
        JSON-serializable, where NumPy scalars and arrays count as numbers and lists.

    Returns
    -------
    numpy.ndarray
        1-D uint8, the UTF-8 bytes of the JSON text.

    Examples
    --------
    >>> import numpy as np
    >>> json_load(json_array({"sizes": np.array([2, 3])}))
    {'sizes': [2, 3]}
    """
    text = json.dumps(obj, default=_json_default, allow_nan=True)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def json_load(array: np.ndarray):
    """The object :func:`json_array` stored.

    Parameters
    ----------
    array : numpy.ndarray
        The uint8 array read back from the file.

    Returns
    -------
    object

    Raises
    ------
    ValueError
        When the bytes are not UTF-8 JSON text (a damaged file).
    """
    return parse_json(np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8"))


#: how damaged zip, .npy and JSON data fail (and a member too large to allocate)
_DAMAGE = (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, zlib.error,
           NotImplementedError, RuntimeError, OverflowError, MemoryError, SyntaxError)


def read_npz(path: str | Path, what: str = "model",
             max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read with ``allow_pickle=False``.

    Each member's declared size is checked against the bytes stored for it, and
    the sizes all members declare together against ``max_bytes``, before
    anything is decompressed, so nothing larger than the file can hold, and
    nothing larger than ``max_bytes`` in all, is ever allocated.

    Parameters
    ----------
    path : str or pathlib.Path
    what : str, default "model"
        What kind of file it should be, for the error message.
    max_bytes : int, default MAX_NPZ_BYTES
        The most bytes its arrays may declare in all.

    Returns
    -------
    dict of str to numpy.ndarray
        The arrays by name.

    Raises
    ------
    BackproplabError
        When the file is missing or damaged, or declares more than ``max_bytes``
        (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise BackproplabError(f"{what} file {path} does not exist; check the path")
    try:
        total = sum(declared for _, _, declared in npz_members(path).values())
    except _DAMAGE as exc:
        raise BackproplabError(
            f"{path} is not a readable .npz {what} file ({type(exc).__name__}: {exc}); "
            "re-save or re-train it") from None
    if total > max_bytes:
        raise BackproplabError(
            f"{path} declares arrays of {total} bytes in all, more than the {max_bytes} bytes "
            f"a {what} file may hold; give a smaller {what} (or a file that is not damaged)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except _DAMAGE as exc:
        raise BackproplabError(
            f"{path} is not a readable .npz {what} file ({type(exc).__name__}: {exc}); "
            "re-save or re-train it") from None


def check_layer_arrays(sizes, params: dict) -> None:
    """Check that ``params`` are exactly the arrays of an MLP of layer widths ``sizes``.

    ``sizes`` comes from a file's metadata: checking it against the stored arrays
    before a model is built means metadata claiming huge layers allocates nothing.

    Parameters
    ----------
    sizes : list of int
        Layer widths from input to output, as the file declares them.
    params : dict of str to array
        The stored arrays, ``W1, b1, ..., Wn, bn``.

    Raises
    ------
    ValueError
        When ``sizes`` is not a list of at least two integers, or an array is
        missing, extra or of another shape (up to four are named).
    """
    if not isinstance(sizes, list) or len(sizes) < 2 or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise ValueError(f"layer sizes {sizes!r} are not a list of integers")
    want = {}
    for i in range(1, len(sizes)):
        want[f"W{i}"] = (sizes[i - 1], sizes[i])
        want[f"b{i}"] = (sizes[i],)
    have = {k: tuple(np.shape(v)) for k, v in params.items()}
    if have != want:
        wrong = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        shown = ", ".join(f"{k} {have.get(k, 'missing')} instead of {want.get(k, 'none')}"
                          for k in wrong[:4])
        raise ValueError(f"its metadata declares layers {sizes} but the stored arrays differ "
                         f"({shown})")


def is_scalar_engine_file(files: dict) -> bool:
    """Whether ``files`` are a scalar-engine run's arrays: ``W1, b1, ..., Wn, bn``
    (and a JSON ``extra``), by their names alone.

    Parameters
    ----------
    files : dict of str to numpy.ndarray
        A file's arrays, as :func:`read_npz` returns them.

    Returns
    -------
    bool
    """
    names = set(files) - {"extra"}
    n = len(names) // 2
    return n >= 1 and names == {f"{p}{i}" for i in range(1, n + 1) for p in "Wb"}


def scalar_engine_arrays(files: dict) -> tuple[dict[str, np.ndarray], dict]:
    """The parameters and the ``extra`` of a scalar-engine run's ``.npz``: the one
    reader of that layout (the scalar engine's resume, and :meth:`MLP.load` of it).

    Parameters
    ----------
    files : dict of str to numpy.ndarray
        The file's arrays, as :func:`read_npz` returns them.

    Returns
    -------
    (dict of str to numpy.ndarray, dict)
        The float64 arrays ``W1, b1, ...`` (fan_in x fan_out weights) and the
        parsed ``extra`` (``{}`` when there is none).

    Raises
    ------
    ValueError
        When the arrays are not that layout: other names, a weight matrix that is
        not 2-D, an array that is not float64, or an ``extra`` that is not JSON.
    """
    if not is_scalar_engine_file(files):
        raise ValueError("not the arrays W1, b1, ... of a scalar-engine run")
    params = {k: v for k, v in files.items() if k != "extra"}
    if any(params[f"W{i}"].ndim != 2 for i in range(1, len(params) // 2 + 1)):
        raise ValueError("weight matrices must be 2-D")
    if any(v.dtype != np.float64 for v in params.values()):
        raise ValueError("a scalar-engine file holds float64 arrays")
    return params, parse_json(str(files["extra"])) if "extra" in files else {}


__all__ = ["MAX_NPZ_BYTES", "check_layer_arrays", "is_scalar_engine_file", "json_array",
           "json_load", "read_npz", "scalar_engine_arrays"]
