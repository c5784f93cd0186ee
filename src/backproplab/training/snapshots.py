"""Snapshots of what the network learned, for the inspection figures (``--inspect``).

With ``inspect=True`` a run keeps one small file, ``inspect.npz`` in its run
folder, with a snapshot at initialization (epoch 0) and after every epoch (never
per batch: the loop's hot path is untouched). Snapshots only *read* the model:
a run's results are the same with and without them. The file holds NumPy arrays
only (read with ``allow_pickle=False``) and is replaced atomically each epoch:

``epochs``              int32 (n,): the epoch of each snapshot, 0 = initialization
``units``               int32 (k,): the first-layer units shown (the first :data:`SHOWN_UNITS`)
``weights_init``        (inputs, k), the model's dtype: their incoming weights at initialization
``weights_last``        (inputs, k), the model's dtype: the same after the last snapshot's epoch
                        (full precision, so ``weights_last - weights_init`` is the exact
                        change the figures draw)
``hist_edges``          float32 (bins + 1,): the fixed bins of the activation histograms
``hist_counts``         int32 (n, hidden layers, bins): hidden activations of the first
                        :data:`PROBE_SIZE` evaluation examples, counted per bin (values
                        beyond the range count in the outermost bin)
``boundary``            float16 (n, R, R), synth only: P(class 1) on the
                        :func:`backproplab.data.synth.grid` of raw points (R = :data:`GRID_RESOLUTION`)
``grid_limit``          float64 (), synth only: the grid's half-width in raw coordinates

A resumed run keeps the snapshots up to its checkpoint's epoch and goes on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backproplab.data import synth
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_with
from backproplab.runs import INSPECT
from backproplab.tensor import ACTIVATIONS, softmax
from backproplab.tensor.files import read_npz

#: First-layer units whose incoming weights are kept.
SHOWN_UNITS = 64
#: Evaluation examples whose hidden activations are counted.
PROBE_SIZE = 512
#: Bins of the activation histograms.
HIST_BINS = 50
#: The fixed range of the histograms of each activation (ReLU: larger values
#: count in the last bin).
HIST_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 4.0)}
#: Points per side of synth's decision-boundary grid.
GRID_RESOLUTION = 100


def forward(params: dict[str, np.ndarray], activation: str, X: np.ndarray):
    """The hidden activations and the class probabilities of ``X`` (float64).

    Parameters
    ----------
    params : dict of str to numpy.ndarray
        ``W1, b1, ...`` (``W`` fan_in x fan_out), in any float dtype.
    activation : str
        The hidden layers' activation, a key of
        :data:`backproplab.tensor.ACTIVATIONS`.
    X : array_like, shape (n, n_features)
        The inputs.

    Returns
    -------
    tuple
        ``(hidden, proba)``: ``hidden`` a list with one (n, width) float64 array
        per hidden layer, ``proba`` the (n, n_classes) softmax probabilities.

    Raises
    ------
    ValueError
        If ``params`` holds no layer.
    """
    act = ACTIVATIONS[activation]
    n_layers = len(params) // 2
    h = np.asarray(X, dtype=np.float64)
    hidden = []
    for i in range(1, n_layers + 1):
        z = h @ params[f"W{i}"].astype(np.float64) + params[f"b{i}"].astype(np.float64)
        if i == n_layers:
            return hidden, softmax(z)
        h = act.forward(z)
        hidden.append(h)
    raise ValueError("params hold no layer")


def histogram_edges(activation: str) -> np.ndarray:
    """The :data:`HIST_BINS` + 1 fixed bin edges of ``activation``'s histograms.

    Parameters
    ----------
    activation : str
        A key of :data:`HIST_RANGES` (``"sigmoid"``, ``"tanh"``, ``"relu"``).

    Returns
    -------
    numpy.ndarray
        Evenly spaced float64 edges over the activation's range.
    """
    lo, hi = HIST_RANGES[activation]
    return np.linspace(lo, hi, HIST_BINS + 1)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins ``edges`` (values outside count in the outermost bins).

    Parameters
    ----------
    values : array_like
        Any shape; flattened.
    edges : numpy.ndarray
        Increasing bin edges, one more than the bins.

    Returns
    -------
    numpy.ndarray
        int32 counts, one per bin.

    Examples
    --------
    >>> histogram(np.array([-5.0, 0.2, 0.7, 9.0]), np.array([0.0, 0.5, 1.0]))
    array([2, 2], dtype=int32)
    """
    clipped = np.clip(np.ravel(values), edges[0], edges[-1])
    return np.histogram(clipped, bins=edges)[0].astype(np.int32)


class Snapshots:
    """The snapshots of one run, kept in memory and written to ``inspect.npz``.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    dataset : backproplab.data.Dataset
        The run's data (its evaluation split gives the probe examples).
    activation : str
        The hidden layers' activation.
    """

    def __init__(self, out: Path, dataset, activation: str):
        self.path = Path(out) / INSPECT
        self.activation = activation
        self.probe = np.asarray(dataset.X_eval[:PROBE_SIZE])
        self.edges = histogram_edges(activation)
        self.grid = None
        if dataset.name == "synth" and dataset.normalizer is not None:
            self.grid = dataset.normalizer.transform(synth.grid(GRID_RESOLUTION)[2], np.float64)
        self.rows: dict[str, list] = {"epochs": [], "hist_counts": [], "boundary": []}
        self.weights_init = self.weights_last = None

    @classmethod
    def start(cls, cfg, dataset, engine, out: Path, start_epoch: int = 0) -> Snapshots | None:
        """The snapshots of a run, or ``None`` when ``cfg.inspect`` is off.

        A new run (``start_epoch`` 0) records its initialization at once; a resumed
        run reads the snapshots of the epochs up to ``start_epoch`` back (and takes
        one of its current state when there are none).
        """
        if not cfg.inspect:
            return None
        snaps = cls(out, dataset, cfg.activation)
        if start_epoch == 0 or not snaps.load(start_epoch):
            snaps.record(engine, start_epoch)
        return snaps

    def record(self, engine, epoch: int) -> None:
        """Take a snapshot of ``engine``'s model after ``epoch`` and rewrite the file."""
        params = engine.arrays()
        shown = np.array(params["W1"][:, :SHOWN_UNITS])
        if self.weights_init is None:
            self.weights_init = shown
        self.weights_last = shown
        hidden, _ = forward(params, self.activation, self.probe)
        self.rows["epochs"].append(epoch)
        self.rows["hist_counts"].append(np.stack([histogram(h, self.edges) for h in hidden]))
        if self.grid is not None:
            _, proba = forward(params, self.activation, self.grid)
            self.rows["boundary"].append(
                proba[:, 1].reshape(GRID_RESOLUTION, GRID_RESOLUTION).astype(np.float16))
        self.write()

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything recorded so far, as the arrays of ``inspect.npz``."""
        out = {
            "epochs": np.asarray(self.rows["epochs"], dtype=np.int32),
            "units": np.arange(self.weights_last.shape[1], dtype=np.int32),
            "weights_init": self.weights_init,
            "weights_last": self.weights_last,
            "hist_edges": self.edges.astype(np.float32),
            "hist_counts": np.stack(self.rows["hist_counts"]).astype(np.int32),
        }
        if self.grid is not None:
            out["boundary"] = np.stack(self.rows["boundary"])
            out["grid_limit"] = np.float64(synth.GRID_LIMIT)
        return out

    def write(self) -> None:
        """Replace ``inspect.npz`` atomically with everything recorded so far."""
        arrays = self.arrays()
        atomic_write_with(self.path, lambda fh: np.savez_compressed(fh, **arrays))

    def load(self, upto: int) -> bool:
        """Read back the snapshots of epochs ``<= upto`` (a resumed run); ``False``
        when the file is missing or holds none of them."""
        if not self.path.is_file():
            return False
        try:
            data = read_npz(self.path, "inspection")
            keep = data["epochs"] <= upto
            if not keep.any():
                return False
            self.rows["epochs"] = [int(e) for e in data["epochs"][keep]]
            self.rows["hist_counts"] = list(data["hist_counts"][keep])
            if self.grid is not None:
                self.rows["boundary"] = list(data["boundary"][keep])
            self.weights_init, self.weights_last = data["weights_init"], data["weights_last"]
        except (BackproplabError, ValueError, KeyError) as exc:
            raise BackproplabError(
                f"cannot resume: {self.path} is damaged ({exc}); delete it to resume without "
                "the earlier snapshots") from None
        return True


__all__ = ["GRID_RESOLUTION", "HIST_BINS", "HIST_RANGES", "PROBE_SIZE", "SHOWN_UNITS",
           "Snapshots", "forward", "histogram", "histogram_edges"]
