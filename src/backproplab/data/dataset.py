"""A loaded dataset: its training and evaluation splits, ready to train on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backproplab.data import synth
from backproplab.data.catalog import CATALOG
from backproplab.data.normalize import Normalizer
from backproplab.errors import BackproplabError

#: Datasets known by name (the CLI's ``--dataset`` choices): synth and the catalog's images.
DATASETS = ("synth", *CATALOG)
#: Each dataset's normalization when none is asked for: standardize the synthetic
#: points (per-feature mean and std), scale pixels to [0, 1].
DEFAULT_NORMALIZE = {"synth": "standardize", **{name: "unit" for name in CATALOG}}


def check_limit(limit: int | None) -> None:
    """Refuse a ``limit`` (training examples kept) below 1; ``None`` keeps them all.

    Parameters
    ----------
    limit : int or None
        The limit.

    Raises
    ------
    BackproplabError
        If ``limit`` is below 1.
    """
    if limit is not None and limit < 1:
        raise BackproplabError(f"limit must be at least 1, got {limit}", settings=("limit",))


def class_names(name: str, n_classes: int) -> tuple[str, ...]:
    """The class names of dataset ``name`` in label order.

    Parameters
    ----------
    name : str
        The dataset's name.
    n_classes : int
        How many classes it has.

    Returns
    -------
    tuple of str
        The catalog's names for MNIST and Fashion-MNIST,
        :data:`backproplab.data.synth.CLASSES` for synth; ``"0", "1", ...`` for
        a dataset without names, or names that do not fit ``n_classes``.

    Examples
    --------
    >>> class_names("other", 3)
    ('0', '1', '2')
    """
    names = synth.CLASSES if name == "synth" else CATALOG[name].classes if name in CATALOG else ()
    return tuple(names) if len(names) == n_classes else tuple(str(i) for i in range(n_classes))


@dataclass
class Dataset:
    """A training split and an evaluation split, ready to train on.

    Attributes
    ----------
    name : str
        The dataset's name.
    X_train, X_eval : numpy.ndarray
        Features, shape (n, n_features), normalized.
    y_train, y_eval : numpy.ndarray
        Integer labels in ``0 .. n_classes - 1``, shape (n,).
    eval_split : str
        ``"validation"`` (held out from the training data) or ``"test"`` (the
        canonical test set, with ``final=True``).
    n_classes : int
        How many classes the labels count.
    normalizer : Normalizer or None, default None
        The normalization fitted on the training split.
    meta : dict
        Where the data came from (files, verification, split, value range...).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    eval_split: str
    n_classes: int
    normalizer: Normalizer | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names in label order (a user's file: as written in it; ``"0"``,
        ``"1"``, ... for a dataset without names)."""
        if isinstance(self.meta, dict) and self.meta.get("classes"):
            return tuple(self.meta["classes"])
        return class_names(self.name, self.n_classes)

    def describe(self) -> str:
        """One line with sizes and value ranges (the study asks to look at the data first)."""
        return (
            f"{self.name}: train {self.X_train.shape[0]} x {self.n_features} "
            f"(range {float(self.X_train.min()):.3g} .. {float(self.X_train.max()):.3g}), "
            f"{self.eval_split} {self.X_eval.shape[0]}, {self.n_classes} classes"
        )


__all__ = ["DATASETS", "DEFAULT_NORMALIZE", "Dataset", "check_limit", "class_names"]
