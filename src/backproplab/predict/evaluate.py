"""Evaluating a saved model on its dataset: loss, accuracy, per class, confusion.

The data is loaded raw and passed through the model's own recorded
preprocessing (not refitted), so the numbers are those of the model as it
would be used; the split is the one the model's run validated on
(``val_size`` and, for synth, the data seed; for a user's file its
``val_fraction``, or its ``test_data`` file, as recorded). Any other labelled file or
folder (``dataset=PATH``) is evaluated whole, its labels matched to the
model's classes by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backproplab.data import load_dataset
from backproplab.data.files import check_file_options, encode, is_file_dataset
from backproplab.data.sources import read_source, source_kind
from backproplab.errors import BackproplabError
from backproplab.predict.predictor import Predictor, require_data
from backproplab.runs import MODEL, RunFolder
from backproplab.tensor.memory import available_memory


def _same_path(a: str, b: str) -> bool:
    return Path(a).expanduser().absolute() == Path(b).expanduser().absolute()


def _run_data_dir(predictor: Predictor) -> str | None:
    """The ``data_dir`` recorded by the run whose ``model.npz`` the predictor holds (where
    it read its images), or None: another model file, or a run that searched."""
    run = RunFolder(predictor.source.parent)
    if predictor.source.name != MODEL or not run.is_run():
        return None
    return run.config.get("data_dir")


def _eval_data(pre, dataset: str, *, final: bool, data_dir, target, max_bytes):
    """``(raw X, y, split name)`` of the data the model is evaluated on."""
    check_file_options(dataset, target=target)  # a label column only for a file
    if is_file_dataset(dataset) and not (is_file_dataset(pre.dataset)
                                         and _same_path(dataset, pre.dataset)):
        if target is None and source_kind(Path(dataset)) == "table":
            target = pre.target  # the model's label column, if it was trained on a table
        raw = read_source(dataset, target=target, dtype=np.float64,
                          features=pre.features, max_bytes=max_bytes)
        return raw.X, encode(raw.labels, pre.classes, raw.path)[0], "whole"
    if dataset != pre.dataset and not is_file_dataset(dataset):
        raise BackproplabError(
            f"the model was trained on {pre.dataset}, not {dataset}; evaluate it with "
            f"dataset={pre.dataset!r} or on a labelled file", settings=("dataset",))
    if pre.split.get("final") and not final:
        raise BackproplabError(
            f"the model was trained with final=True on all of {pre.dataset}'s training data, "
            "its validation split included; evaluate it with final=True (its test split) or "
            "on another labelled file", settings=("final",))
    # the split as recorded; what is not recorded keeps load_dataset's default
    keys = ("val_size", "seed", "val_fraction", "test_data")
    split = {k: pre.split[k] for k in keys if pre.split.get(k) is not None}
    if is_file_dataset(pre.dataset):
        require_data(pre.dataset, "the model", ", or evaluate it on a labelled file as dataset")
        split.pop("val_size", None)
        split.pop("seed", None)
        split.update(target=pre.target, max_bytes=max_bytes)
    try:
        data = load_dataset(pre.dataset, final=final, limit=1, data_dir=data_dir,
                            normalize="none", dtype=np.float64, **split)
    except BackproplabError as exc:
        if final and exc.settings == ("test_data",):  # load_dataset's fix is training's
            raise BackproplabError(
                f"final=True evaluates on the run's test set, but its run had no test set "
                f"({pre.dataset} holds none); give a labelled file or folder as dataset, or "
                "drop final=True", settings=("dataset",)) from None
        raise
    return data.X_eval, data.y_eval, data.eval_split


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts of examples of each true class predicted as each class.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        The true and the predicted labels, in ``[0, n_classes)``.
    n_classes : int
        The number of classes.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_classes, n_classes)``: ``C[i, j]`` examples of class
        ``i`` predicted as ``j`` (rows: true class).

    Example
    -------
    >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
    [[1, 1], [0, 1]]
    """
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return C


def evaluate(predictor: Predictor, dataset: str | None = None, *, final: bool = False,
             data_dir=None, target: str | None = None) -> dict:
    """The model's loss, accuracy, per-class accuracy and confusion matrix.

    Parameters
    ----------
    predictor : Predictor
        From :func:`~backproplab.predict.load_predictor`.
    dataset : str, optional
        The dataset to evaluate on: the one the model was trained on (the
        default; its validation split, or its test split with ``final``), or the
        path of any labelled CSV/TSV file, .npz file or image folder (all of it).
    final : bool
        Evaluate on the canonical test split instead of the validation split.
    data_dir : path, optional
        Where the dataset's files are (as for training; default: where the
        model's run read them, if it was given ``data_dir``, else the usual places).
    target : str, optional
        The label column of a CSV/TSV ``dataset`` (default: the model's).

    Returns
    -------
    dict
        ``dataset, split, n, loss, accuracy, classes, per_class_accuracy``
        (None for a class without examples) and ``confusion`` (rows: true
        class, columns: predicted), all JSON-friendly.

    Raises
    ------
    BackproplabError
        For another built-in dataset, a file the model cannot read (other
        features, a label it never saw: named), a file too large for memory, or
        the validation split of a model trained with ``final=True`` (it trained
        on it).
    """
    pre = predictor.preprocessing
    dataset = pre.dataset if dataset is None else str(dataset)
    if data_dir is None and dataset == pre.dataset:
        data_dir = _run_data_dir(predictor)  # the copy the run validated on
    available = available_memory()
    X, y, split = _eval_data(pre, dataset, final=final, data_dir=data_dir, target=target,
                             max_bytes=None if available is None else available[0])
    X = predictor.transform(X, source=f"the {split} split of {dataset}")
    loss, accuracy = predictor.model.evaluate(X, y)
    pred = predictor.model.predict(X)
    C = confusion_matrix(y, pred, len(pre.classes))
    totals = C.sum(axis=1)
    per_class = [float(C[i, i] / t) if t else None for i, t in enumerate(totals)]
    return {"dataset": dataset, "split": split, "n": len(y),
            "loss": float(loss), "accuracy": float(accuracy), "classes": list(pre.classes),
            "per_class_accuracy": per_class, "confusion": C.tolist(),
            "model": str(predictor.source)}


__all__ = ["confusion_matrix", "evaluate"]
