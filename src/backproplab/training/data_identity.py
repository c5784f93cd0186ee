"""Which data a run trained on: a fingerprint of the arrays, kept in the run's
checkpoint and summary, so that a resume or a replay on changed data is refused.

A data file edited between two commands (one image changed, labels shuffled)
still loads; only its fingerprint tells. :func:`run_training
<backproplab.training.run_training>` records :func:`data_fingerprint` as
``data_sha256`` (:data:`DATA_KEY`) and, on ``resume=True`` or a replay
(``data_sha256=``), calls :func:`check_same_data` before anything is written.
"""

from __future__ import annotations

import hashlib

import numpy as np

from backproplab.errors import BackproplabError

#: The key of the data's fingerprint (:func:`data_fingerprint`) in checkpoints and summaries.
DATA_KEY = "data_sha256"


def data_fingerprint(dataset) -> str:
    """The SHA-256 of a dataset's arrays as a run trains on them (both splits,
    with their shapes and types): it changes when a data file is edited.

    Parameters
    ----------
    dataset : Dataset
        The loaded data (:func:`load_run_dataset`).

    Returns
    -------
    str
        The hex digest, kept as ``data_sha256`` in a run's checkpoint and summary.
    """
    digest = hashlib.sha256()
    for array in (dataset.X_train, dataset.y_train, dataset.X_eval, dataset.y_eval):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.data)
    return digest.hexdigest()


def check_same_data(expected: str | None, actual: str, what: str, allow: bool) -> None:
    """Refuse data whose fingerprint is not the one ``what`` was trained on.

    Parameters
    ----------
    expected : str or None
        The recorded fingerprint (``None``: none was recorded, nothing to check).
    actual : str
        The fingerprint of the data loaded now.
    what : str
        The run, for the message (``"the run in runs/x"``).
    allow : bool
        ``allow_changed_data``: accept the difference.

    Raises
    ------
    BackproplabError
        Naming both fingerprints and ``allow_changed_data``.
    """
    if expected is None or expected == actual or allow:
        return
    raise BackproplabError(
        f"the data differs from the data {what} was trained on (SHA-256 {str(expected)[:12]}... "
        f"then, {actual[:12]}... now: a data file was edited or replaced); restore that data, "
        "or pass allow_changed_data=True to train on the data as it is now",
        settings=("allow_changed_data",))


__all__ = ["DATA_KEY", "check_same_data", "data_fingerprint"]
