"""Evaluating a saved model on its dataset: loss, accuracy, per class, confusion.

The data is loaded raw and passed through the model's own recorded
preprocessing (not refitted), so the numbers are those of the model as it
would be used; the split is the one the model's run validated on
(``val_size`` and, for synth, the data seed, as recorded).
"""

from __future__ import annotations

import numpy as np

from backproplab.data import load_dataset
from backproplab.errors import BackproplabError
from backproplab.predict.predictor import Predictor


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
             data_dir=None) -> dict:
    """The model's loss, accuracy, per-class accuracy and confusion matrix.

    Parameters
    ----------
    predictor : Predictor
        From :func:`~backproplab.predict.load_predictor`.
    dataset : str, optional
        The dataset to evaluate on; it must be the one the model was trained on
        (the default).
    final : bool
        Evaluate on the canonical test split instead of the validation split.
    data_dir : path, optional
        Where the dataset's files are (as for training).

    Returns
    -------
    dict
        ``dataset, split, n, loss, accuracy, classes, per_class_accuracy``
        (None for a class without examples) and ``confusion`` (rows: true
        class, columns: predicted), all JSON-friendly.
    """
    pre = predictor.preprocessing
    dataset = pre.dataset if dataset is None else dataset
    if dataset != pre.dataset:
        raise BackproplabError(
            f"the model was trained on {pre.dataset}, not {dataset}; evaluate it with "
            f"--dataset {pre.dataset}", settings=("dataset",))
    # the split as recorded (val_size, seed); what is not recorded keeps load_dataset's default
    split = {k: pre.split[k] for k in ("val_size", "seed") if pre.split.get(k) is not None}
    data = load_dataset(dataset, final=final, limit=1, data_dir=data_dir, normalize="none",
                        dtype=np.float64, **split)
    X = predictor.transform(data.X_eval, source=f"the {data.eval_split} split of {dataset}")
    y = data.y_eval
    loss, accuracy = predictor.model.evaluate(X, y)
    pred = predictor.model.predict(X)
    C = confusion_matrix(y, pred, len(pre.classes))
    totals = C.sum(axis=1)
    per_class = [float(C[i, i] / t) if t else None for i, t in enumerate(totals)]
    return {"dataset": dataset, "split": data.eval_split, "n": len(y),
            "loss": float(loss), "accuracy": float(accuracy), "classes": list(pre.classes),
            "per_class_accuracy": per_class, "confusion": C.tolist(),
            "model": str(predictor.source)}


__all__ = ["confusion_matrix", "evaluate"]
