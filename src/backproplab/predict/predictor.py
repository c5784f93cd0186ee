"""A trained model together with the preprocessing it was trained with.

:func:`load_predictor` takes a run folder or a ``model.npz`` and returns a
:class:`Predictor`: the network, its :class:`~backproplab.data.preprocess.Preprocessing`
(read from the model file, where runs store it) and :meth:`Predictor.predict_proba`,
which takes raw examples (pixels 0-255, raw synth points) and applies exactly
what training applied before the network sees them.

Model files written before the record existed have none: for a run folder the
preprocessing is rebuilt from its ``config.json`` (the data is loaded and the
normalization fitted again, as the run did); a bare old file is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backproplab.data import DATASETS, load_configured
from backproplab.data.preprocess import Preprocessing
from backproplab.errors import BackproplabError
from backproplab.runs import MODEL, RunFolder
from backproplab.tensor import MLP, load_checkpoint
from backproplab.training.options import data_options


@dataclass
class Predictor:
    """A trained :class:`~backproplab.tensor.MLP` and the preprocessing of its training data.

    Attributes
    ----------
    model : MLP
        The network (a scalar-engine run's weights as a float64 sigmoid MLP).
    preprocessing : Preprocessing
        What training did to the raw data (dataset, classes, shape, normalization).
    source : Path
        The model file it was read from.
    """

    model: MLP
    preprocessing: Preprocessing
    source: Path

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in label order."""
        return self.preprocessing.classes

    @property
    def dataset(self) -> str:
        """The dataset the model was trained on."""
        return self.preprocessing.dataset

    def transform(self, raw_inputs, source: str = "the input") -> np.ndarray:
        """Raw examples as the network's inputs (checked, flattened, normalized)."""
        return self.preprocessing.transform(raw_inputs, dtype=self.model.dtype, source=source)

    def predict_proba(self, raw_inputs, source: str = "the input") -> np.ndarray:
        """Class probabilities (n, n_classes) of raw examples.

        Parameters
        ----------
        raw_inputs : array_like
            One raw example (shape ``preprocessing.input_shape`` or flat) or a
            stack of them, in the units of the dataset files (pixels 0-255).
        source : str
            How error messages name the input (e.g. its file name).

        Returns
        -------
        numpy.ndarray
            Probabilities in the model's dtype; every row sums to 1.
        """
        return self.model.predict_proba(self.transform(raw_inputs, source))

    def predict(self, raw_inputs, source: str = "the input") -> np.ndarray:
        """The predicted label (int64) of every raw example."""
        return self.predict_proba(raw_inputs, source).argmax(axis=1).astype(np.int64)


def _model_file(path: Path) -> tuple[Path, RunFolder | None]:
    if path.is_dir():
        run = RunFolder(path)
        model_file = run.file(MODEL)
        if not model_file.is_file():
            raise BackproplabError(f"{path} holds no {MODEL}; give a finished run folder or a "
                                   "model file")
        return model_file, run
    if not path.is_file():
        raise BackproplabError(f"model {path} does not exist; give a run folder or its {MODEL}")
    return path, None


def _preprocessing_of(extra: dict, run: RunFolder | None, model_file: Path) -> Preprocessing:
    record = extra.get("preprocessing") if isinstance(extra, dict) else None
    if isinstance(record, dict):
        return Preprocessing.from_dict(record)
    if run is None:
        raise BackproplabError(
            f"{model_file} does not record the preprocessing of its data (a model saved by "
            "MLP.save or MLPClassifier.save, or by a run of an older backproplab); give a run "
            "folder instead (an older run's preprocessing is rebuilt from its config.json), or "
            "train the model with backproplab train")
    dataset = run_dataset(run)
    return Preprocessing.from_dataset(dataset)


def load_predictor(model_or_run_dir: str | os.PathLike) -> Predictor:
    """Read a trained model and its preprocessing.

    Parameters
    ----------
    model_or_run_dir : str or os.PathLike
        A run folder (``backproplab train --out``) or a model file written by a run.

    Returns
    -------
    Predictor

    Raises
    ------
    BackproplabError
        When the path holds no model, the file is damaged, it records no
        preprocessing and is not in a run folder, or the model does not fit the
        recorded data (another dataset's input width or class count).
    """
    model_file, run = _model_file(Path(model_or_run_dir))
    model, _, extra = load_checkpoint(model_file)
    pre = _preprocessing_of(extra, run, model_file)
    if model.n_inputs != pre.n_features or model.n_classes != len(pre.classes):
        raise BackproplabError(
            f"{model_file} has {model.n_inputs} inputs and {model.n_classes} outputs but its "
            f"preprocessing describes {pre.dataset} ({pre.n_features} features, "
            f"{len(pre.classes)} classes); the file is inconsistent: retrain the model")
    return Predictor(model, pre, model_file)


def top_k(probs: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """The ``k`` most probable ``(label, probability)`` pairs of every row.

    Parameters
    ----------
    probs : numpy.ndarray
        Probabilities, shape (n, n_classes).
    k : int
        How many, >= 1 (at most ``n_classes`` are given).

    Returns
    -------
    list of list of tuple
        Per row, ``(label, probability)`` pairs, most probable first (ties: the
        smaller label first).

    Raises
    ------
    BackproplabError
        If ``k`` is below 1.

    Examples
    --------
    >>> top_k(np.array([[0.2, 0.5, 0.3]]), 2)
    [[(1, 0.5), (2, 0.3)]]
    """
    if k < 1:
        raise BackproplabError(f"top must be at least 1, got {k}", settings=("top",))
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(int(j), float(row[j])) for j in idx] for row, idx in zip(probs, order)]


def run_dataset(run: RunFolder):
    """The dataset a run trained on, from the data options of its ``config.json``.

    Never downloads (only what training had is read): the predictor rebuilds an
    old model's preprocessing from it, and the inspection figures draw it.

    Parameters
    ----------
    run : RunFolder

    Returns
    -------
    backproplab.data.Dataset

    Raises
    ------
    BackproplabError
        When the dataset's files are not on this machine or do not match.
    """
    options = data_options(run.config)
    require_data(str(options.get("dataset", "")), str(run.path),
                 " (its config.json names it) and run this again")
    return load_configured(options, download=False)


def require_data(dataset: str, trained: str, fix: str) -> None:
    """Refuse a user's data file that moved or was deleted after a model trained on it.

    Parameters
    ----------
    dataset : str
        The recorded ``dataset`` (a built-in name passes).
    trained : str
        What was trained on it (a run folder, "the model"), for the sentence.
    fix : str
        The end of the sentence, after "put the data back at that path".

    Raises
    ------
    BackproplabError
        When ``dataset`` is a path that is not there.
    """
    if dataset not in DATASETS and not Path(dataset).exists():
        raise BackproplabError(f"{trained} was trained on {dataset}, which is not there any "
                               f"more; put the data back at that path{fix}",
                               settings=("dataset",))


__all__ = ["Predictor", "load_predictor", "require_data", "run_dataset", "top_k"]
