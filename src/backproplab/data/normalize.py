"""Normalization fitted on the training split only.

The study's write-up scaled every split by its own statistics, which shifts the
validation data relative to what the network learned. Here a :class:`Normalizer`
is fitted on the training split and applied unchanged to every other split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backproplab.errors import BackproplabError

MODES = ("unit", "standardize", "none")


def float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy floating dtype; anything else is a BackproplabError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        got = dt.name if dt is not None else repr(dtype)
        raise BackproplabError(f"the data dtype must be a floating type such as float32 or "
                               f"float64, got {got}")
    return dt


def _blocked_std(X: np.ndarray, mean: np.ndarray, block_rows: int) -> np.ndarray:
    """Per-column population standard deviation of ``X`` about ``mean``, one block of
    rows at a time (float64 sums)."""
    total = np.zeros(X.shape[1:], dtype=np.float64)
    for start in range(0, len(X), block_rows):
        d = X[start:start + block_rows] - mean
        total += np.einsum("ij,ij->j", d, d) if d.ndim == 2 else (d * d).sum(axis=0)
    return np.sqrt(total / max(len(X), 1))


@dataclass
class Normalizer:
    """Affine map ``(x - shift) / scale`` with statistics from the training split.

    Attributes
    ----------
    mode : str, default "standardize"
        ``"unit"`` (divide by 255 for images, or by the training range),
        ``"standardize"`` (per-feature mean and standard deviation) or
        ``"none"``.
    shift : numpy.ndarray or float, default 0.0
        Subtracted first (set by :meth:`fit`).
    scale : numpy.ndarray or float, default 1.0
        Divided by then (set by :meth:`fit`).

    Raises
    ------
    BackproplabError
        For an unknown ``mode``.
    """

    mode: str = "standardize"
    shift: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0
    fitted: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BackproplabError(
                f"unknown normalization {self.mode!r}; choose one of {', '.join(MODES)}"
            )

    def fit(self, X: np.ndarray, *, block_rows: int | None = None) -> Normalizer:
        """Compute the statistics from ``X`` (the training split).

        ``block_rows``: compute the standard deviation over blocks of that many
        rows, so that no float64 copy of all of ``X`` is made (a user's large
        file); the float64 sums then differ from the one-pass result in the last
        bits at most. ``None`` keeps NumPy's one pass (the built-in datasets).
        """
        if self.mode == "none":
            self.shift, self.scale = 0.0, 1.0
        elif self.mode == "unit":
            if X.dtype == np.uint8:
                self.shift, self.scale = 0.0, 255.0
            else:
                lo = X.min(axis=0).astype(np.float64)
                hi = X.max(axis=0).astype(np.float64)
                self.shift, self.scale = lo, np.where(hi > lo, hi - lo, 1.0)
        else:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64) if block_rows is None else \
                _blocked_std(X, mean, block_rows)
            # constant features (e.g. MNIST's border pixels) keep scale 1
            self.shift, self.scale = mean, np.where(std > 1e-12, std, 1.0)
        self.fitted = True
        return self

    def transform(self, X: np.ndarray, dtype=np.float32, *, copy: bool = True) -> np.ndarray:
        """Apply the fitted map to ``X``; returns an array of ``dtype``.

        A new array, unless ``copy=False`` and ``X`` already has ``dtype``: then
        ``X`` itself is scaled in place (for arrays nothing else holds).
        """
        if not self.fitted:
            raise RuntimeError("Normalizer.transform called before fit")
        out = np.asarray(X, dtype=dtype)
        if out is X and copy:
            out = out.copy()
        shift = np.asarray(self.shift, dtype=dtype)
        scale = np.asarray(self.scale, dtype=dtype)
        if self.mode != "none":
            out -= shift
            out /= scale
        return out

    def state(self) -> dict:
        """JSON-friendly description of the fitted statistics (for run configs)."""
        def short(v):
            v = np.asarray(v)
            return float(v) if v.ndim == 0 else [float(a) for a in v[:8]] + (["..."] if v.size > 8 else [])
        return {"mode": self.mode, "shift": short(self.shift), "scale": short(self.scale)}

    def to_record(self) -> dict:
        """The fitted map in full, JSON-friendly (every statistic, exact floats).

        :meth:`from_record` rebuilds a Normalizer whose :meth:`transform` gives
        bit-identical results (JSON round-trips float64 exactly).
        """
        if not self.fitted:
            raise RuntimeError("Normalizer.to_record called before fit")

        def full(v):
            v = np.asarray(v, dtype=np.float64)
            return float(v) if v.ndim == 0 else [float(a) for a in v]
        return {"mode": self.mode, "shift": full(self.shift), "scale": full(self.scale)}

    @classmethod
    def from_record(cls, record: dict) -> Normalizer:
        """A fitted Normalizer from :meth:`to_record`'s dict; a malformed one is a
        BackproplabError."""
        try:
            mode = record["mode"]
            shift = np.asarray(record["shift"], dtype=np.float64)
            scale = np.asarray(record["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackproplabError(f"the saved normalization is damaged ({exc}); retrain the "
                                   "model or restore its file") from None
        if shift.ndim > 1 or scale.ndim > 1 or not (np.isfinite(shift).all()
                                                    and np.isfinite(scale).all()):
            raise BackproplabError("the saved normalization is damaged (statistics are not "
                                   "finite vectors); retrain the model or restore its file")
        norm = cls(mode)
        norm.shift = float(shift) if shift.ndim == 0 else shift
        norm.scale = float(scale) if scale.ndim == 0 else scale
        norm.fitted = True
        return norm
