"""What training did to the raw data, recorded so that a saved model can be used.

A :class:`Preprocessing` is fitted with the data (:meth:`from_dataset`): the
dataset's name and class names, the shape of one raw example (``[28, 28]`` for
the image sets, ``[2]`` for synth), the range raw values come in, the colour
(``"grayscale"`` for images), and the normalization with its statistics from
the training split. Runs save it as JSON in ``model.npz``
(:meth:`to_dict` / :meth:`from_dict`); :meth:`transform` then applies exactly
what training applied to new raw examples.

Images are used as the datasets store them: light objects on a dark background
(0 = black background, 255 = full ink). Nothing here inverts an image; a dark
drawing on white paper must be inverted by its owner first (``predict
--invert``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backproplab.data.normalize import Normalizer
from backproplab.errors import BackproplabError

#: The version of the record written into model files.
RECORD_VERSION = 1


@dataclass(frozen=True)
class Preprocessing:
    """The raw-input contract of a trained model and the map training applied.

    Attributes
    ----------
    dataset : str
        The dataset the model was trained on (``synth``, ``mnist``, ``fashion-mnist``).
    classes : tuple of str
        Class names in label order.
    input_shape : tuple of int
        Shape of one raw example (``(28, 28)`` or ``(2,)``).
    raw_range : tuple of float or None
        The range raw values must lie in (``(0, 255)`` for images), or None (any).
    color : str or None
        ``"grayscale"`` for images (colour images are converted to it), else None.
    normalizer : Normalizer
        The fitted normalization (statistics from the training split).
    split : dict
        How the evaluation split was drawn (``val_size``, ``seed``; for a user's
        file ``val_fraction`` or the ``test_data`` file; ``final``: True when the
        model trained on the whole training set, validation rows included), for
        ``evaluate``.
    features : tuple of str or None
        A table's feature columns in the order the network takes them (``predict``
        matches a CSV file's columns to them by name); None where the data names none.
    target : str or None
        A table's label column (ignored when a file given to ``predict`` has it).
    """

    dataset: str
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    raw_range: tuple[float, float] | None
    color: str | None
    normalizer: Normalizer
    split: dict
    features: tuple[str, ...] | None = None
    target: str | None = None

    @property
    def n_features(self) -> int:
        """Inputs of the network: the raw example flattened."""
        return math.prod(self.input_shape)

    @property
    def is_image(self) -> bool:
        return self.color is not None

    @classmethod
    def from_dataset(cls, dataset) -> Preprocessing:
        """The record of a loaded :class:`~backproplab.data.Dataset` (its fitted normalizer)."""
        meta = dataset.meta if isinstance(dataset.meta, dict) else {}
        image_shape = meta.get("image_shape")
        is_image = image_shape is not None
        if is_image and math.prod(image_shape) != dataset.n_features:
            image_shape = None  # not flattened images: keep the rows as they are
        normalizer = dataset.normalizer if dataset.normalizer is not None else \
            Normalizer("none").fit(dataset.X_train[:1])
        split = {k: meta.get(k) for k in ("val_size", "seed", "val_fraction", "test_data")
                 if k in ("val_size", "seed") or meta.get(k) is not None}
        if dataset.eval_split == "test" and dataset.name != "synth":
            split["final"] = True  # trained on the validation rows too (synth's are apart)
        return cls(
            dataset=dataset.name,
            classes=tuple(dataset.classes),
            input_shape=tuple(image_shape) if image_shape else (dataset.n_features,),
            raw_range=(0.0, 255.0) if is_image else None,
            color="grayscale" if is_image else None,
            normalizer=normalizer,
            split=split,
            features=tuple(meta["feature_names"]) if meta.get("feature_names") else None,
            target=meta.get("target"),
        )

    def to_dict(self) -> dict:
        """JSON-friendly record (what ``model.npz`` stores under ``preprocessing``)."""
        record = {"version": RECORD_VERSION, "dataset": self.dataset,
                  "classes": list(self.classes), "input_shape": list(self.input_shape),
                  "n_features": self.n_features,
                  "raw_range": None if self.raw_range is None else list(self.raw_range),
                  "color": self.color, "inverted": False,
                  "normalize": self.normalizer.to_record(), "split": dict(self.split)}
        if self.features is not None:  # a table's (built-in datasets record neither)
            record["features"] = list(self.features)
        if self.target is not None:
            record["target"] = self.target
        return record

    @classmethod
    def from_dict(cls, record: dict) -> Preprocessing:
        """Rebuild from :meth:`to_dict`'s record; a malformed record is a BackproplabError."""
        try:
            if int(record.get("version", 0)) > RECORD_VERSION:
                raise ValueError(f"record version {record['version']} is newer than this program")
            raw = record.get("raw_range")
            pre = cls(dataset=str(record["dataset"]),
                      classes=tuple(str(c) for c in record["classes"]),
                      input_shape=tuple(int(d) for d in record["input_shape"]),
                      raw_range=None if raw is None else (float(raw[0]), float(raw[1])),
                      color=record.get("color"),
                      normalizer=Normalizer.from_record(record["normalize"]),
                      split=dict(record.get("split") or {}),
                      features=None if record.get("features") is None
                      else tuple(str(f) for f in record["features"]),
                      target=None if record.get("target") is None else str(record["target"]))
            for name in ("shift", "scale"):
                size = np.size(getattr(pre.normalizer, name))
                if size not in (1, pre.n_features):
                    raise ValueError(f"the normalization {name} has {size} values for "
                                     f"{pre.n_features} features")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackproplabError(f"the model's saved preprocessing is damaged ({exc}); "
                                   "retrain the model or restore its file") from None
        return pre

    def as_rows(self, raw, source: str = "the input") -> np.ndarray:
        """Raw examples as a float64 matrix (n, n_features), checked against the contract.

        Accepts one example (``input_shape``, or a flat vector) or a stack of
        them (``(n, *input_shape)`` or ``(n, n_features)``). Values outside the raw
        range, and images whose pixels were already scaled to [0, 1] (fractions, none
        above 1), are refused.
        """
        X = np.asarray(raw)
        if X.dtype.kind not in "fiub":
            raise BackproplabError(f"{source} holds {X.dtype} values, not numbers; give "
                                   "numeric data")
        shape, n = tuple(X.shape), self.n_features
        if shape in (self.input_shape, (n,)):
            X = X.reshape(1, n)
        elif self.fits(shape):
            X = X.reshape(shape[0], n)
        else:
            raise self.shape_error(shape, source)
        if X.shape[0] == 0:
            raise BackproplabError(f"{source} holds no examples; give at least one")
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise BackproplabError(f"{source} contains NaN or infinite values; clean it first")
        if self.raw_range is not None:
            lo, hi = self.raw_range
            if X.min() < lo or X.max() > hi:
                raise BackproplabError(
                    f"{source} has values from {X.min():g} to {X.max():g}, outside the raw "
                    f"range {lo:g}..{hi:g} the model was trained on; give raw pixel values "
                    f"(0-255), not already scaled ones")
            if self.is_image and X.max() <= 1 and not np.array_equal(X, np.floor(X)):
                raise BackproplabError(  # pixels are whole numbers: these were divided by 255
                    f"{source} has fractional values from {X.min():g} to {X.max():g}: pixels "
                    f"already scaled to [0, 1]; give raw pixel values (0-255), e.g. times 255")
        return X

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether an array of ``shape`` is one example or a stack of them for this model.

        Parameters
        ----------
        shape : tuple of int

        Returns
        -------
        bool
        """
        one = (self.input_shape, (self.n_features,))
        return tuple(shape) in one or (len(shape) >= 2 and tuple(shape[1:]) in one)

    def shape_error(self, shape: tuple[int, ...], source: str) -> BackproplabError:
        """The one sentence for inputs of a ``shape`` the model cannot take (:meth:`fits`).

        Parameters
        ----------
        shape : tuple of int
            The shape of all of ``source``'s examples.
        source : str
            What they came from (a file's path), for the sentence.

        Returns
        -------
        BackproplabError
        """
        what = "image" if self.is_image else "example"
        want = "x".join(map(str, self.input_shape))
        return BackproplabError(
            f"{source} has shape {tuple(shape)}, but the model was trained on {self.dataset} "
            f"with {self.n_features} features per example ({what} shape {want}); give inputs "
            "of that shape")

    def transform(self, raw, dtype=np.float32, source: str = "the input") -> np.ndarray:
        """Raw examples, checked (:meth:`as_rows`) and normalized as in training."""
        return self.normalizer.transform(self.as_rows(raw, source), dtype)


__all__ = ["RECORD_VERSION", "Preprocessing"]
