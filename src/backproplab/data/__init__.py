"""Data: the synthetic ellipse set, MNIST and Fashion-MNIST, splits and normalization.

:func:`load_dataset` is the one entry point the training code uses; it returns a
:class:`Dataset` whose arrays are already normalized with statistics fitted on
the training split only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backproplab.data import synth
from backproplab.data.catalog import CATALOG
from backproplab.data.normalize import Normalizer, float_dtype
from backproplab.errors import BackproplabError

#: Datasets known by name (the CLI's ``--dataset`` choices).
DATASETS = ("synth", "mnist", "fashion-mnist")
#: Each dataset's normalization when none is asked for: standardize the synthetic
#: points (per-feature mean and std), scale pixels to [0, 1].
DEFAULT_NORMALIZE = {"synth": "standardize", "mnist": "unit", "fashion-mnist": "unit"}


def class_names(name: str, n_classes: int) -> tuple[str, ...]:
    """The class names of dataset ``name`` in label order (``"0", "1", ...`` for a
    dataset without names, or names that do not fit ``n_classes``)."""
    names = synth.CLASSES if name == "synth" else \
        CATALOG[name].classes if name in CATALOG else ()
    return tuple(names) if len(names) == n_classes else tuple(str(i) for i in range(n_classes))


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

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names in label order (e.g. ``"T-shirt/top"`` for label 0 of
        Fashion-MNIST, ``"inside"``/``"outside"`` the ellipse for synth)."""
        return class_names(self.name, self.n_classes)

    def describe(self) -> str:
        """One line with sizes and value ranges (the study asks to look at the data first)."""
        return (
            f"{self.name}: train {self.X_train.shape[0]} x {self.n_features} "
            f"(range {float(self.X_train.min()):.3g} .. {float(self.X_train.max()):.3g}), "
            f"{self.eval_split} {self.X_eval.shape[0]}, {self.n_classes} classes"
        )


def load_synth(
    *, final: bool = False, limit: int | None = None, seed: int = 0,
    normalize: str = "standardize", dtype=np.float32,
) -> Dataset:
    """The study's synthetic set (see :mod:`backproplab.data.synth`).

    The set has no separate test split, so ``final`` only changes the label of
    the evaluation split. ``limit`` keeps the first ``limit`` training points.
    Normalization statistics come from the (limited) training split only.
    """
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
        n_classes=2,
        normalizer=norm,
        meta={"seed": seed, "raw_range": raw_range},
    )


def load_dataset(
    name: str, *, final: bool = False, val_size: int = 5000, limit: int | None = None,
    data_dir=None, normalize: str | None = None, dtype=np.float32, seed: int = 0,
    download: bool = True,
) -> Dataset:
    """Load a dataset by name, split and normalized, as float arrays of ``dtype``.

    ``normalize=None`` picks the dataset's default (``"standardize"`` for synth,
    ``"unit"`` for images). ``limit`` keeps the first ``limit`` training examples
    (after the validation split is taken).
    """
    if limit is not None and limit < 1:
        raise BackproplabError(f"limit must be at least 1, got {limit}", settings=("limit",))
    dtype = float_dtype(dtype)
    if name == "synth":
        return load_synth(final=final, limit=limit, seed=seed,
                          normalize=normalize or DEFAULT_NORMALIZE[name], dtype=dtype)
    if name in ("mnist", "fashion-mnist"):
        from backproplab.data.mnist import load_image_dataset

        return load_image_dataset(
            name, final=final, val_size=val_size, limit=limit, data_dir=data_dir,
            normalize=normalize or DEFAULT_NORMALIZE[name], dtype=dtype, download=download,
        )
    raise BackproplabError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = ["DATASETS", "DEFAULT_NORMALIZE", "Dataset", "Normalizer", "class_names", "load_dataset",
           "load_synth"]
