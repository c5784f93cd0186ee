"""A loaded dataset: its training and evaluation splits, ready to train on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backproplab.data.normalize import Normalizer

#: Datasets known by name (the CLI's ``--dataset`` choices).
DATASETS = ("synth", "mnist", "fashion-mnist")
#: Each dataset's normalization when none is asked for: standardize the synthetic
#: points (per-feature mean and std), scale pixels to [0, 1].
DEFAULT_NORMALIZE = {"synth": "standardize", "mnist": "unit", "fashion-mnist": "unit"}


@dataclass
class Dataset:
    """A training split and an evaluation split, ready to train on.

    ``eval_split`` is ``"validation"`` (held out from the training data) or
    ``"test"`` (the canonical test set, with ``final=True``).
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

    def describe(self) -> str:
        """One line with sizes and value ranges (the study asks to look at the data first)."""
        return (
            f"{self.name}: train {self.X_train.shape[0]} x {self.n_features} "
            f"(range {float(self.X_train.min()):.3g} .. {float(self.X_train.max()):.3g}), "
            f"{self.eval_split} {self.X_eval.shape[0]}, {self.n_classes} classes"
        )


__all__ = ["DATASETS", "DEFAULT_NORMALIZE", "Dataset"]
