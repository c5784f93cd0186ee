"""The scalar engine's side of the training loop (study Q4): per-example SGD in plain Python.

:class:`ScalarTrainer` is the adapter that lets the one epoch loop,
:func:`backproplab.training.epochs.run_epochs`, train a
:class:`backproplab.scalar.MLP`: its batches hold one example each, so the
callbacks, the per-epoch records, the divergence guard, learning-rate schedules
and early stopping are those of the tensor engine. :class:`ScalarSGD` is its
optimizer: nothing but the learning rate, which a schedule may change between
epochs. The data arrive as NumPy arrays and are turned into lists of Python
floats once; the visiting order comes from a NumPy generator (the training layer
may use NumPy, the scalar engine itself does not).

Example::

    from backproplab import scalar
    from backproplab.training import ScalarSGD, fit
    model = scalar.MLP([2, 8, 2], seed=0)
    history = fit(model, ScalarSGD(0.1), X, y, epochs=3, rng=0, X_eval=Xv, y_eval=yv)
"""

from __future__ import annotations

import math

import numpy as np

from backproplab import scalar
from backproplab.errors import BackproplabError


class ScalarSGD:
    """The scalar engine's optimizer: ``p -= lr * dl/dp`` after every example.

    Parameters
    ----------
    lr : float
        The learning rate (positive); a schedule sets ``lr`` between epochs.

    Raises
    ------
    BackproplabError
        When ``lr`` is not a positive number.
    """

    def __init__(self, lr: float):
        if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr)
                                        and lr > 0):
            raise BackproplabError(f"lr must be a positive number, got {lr!r}",
                                   settings=("lr",))
        self.lr = float(lr)

    def __repr__(self) -> str:
        return f"ScalarSGD(lr={self.lr!r})"


def scalar_params(model) -> dict[str, np.ndarray]:
    """The parameters of a scalar-engine ``model`` as float64 arrays (copies).

    Parameters
    ----------
    model : backproplab.scalar.MLP

    Returns
    -------
    dict of str to numpy.ndarray
        ``W1, b1, ...`` in the tensor engine's layout (``W`` fan_in x fan_out).
    """
    return {name: np.asarray(value, dtype=np.float64) for name, value in model.to_dict().items()}


def set_scalar_params(model, params: dict) -> None:
    """Put arrays of weights into a scalar-engine model, as Python floats.

    Parameters
    ----------
    model : backproplab.scalar.MLP
        Changed in place.
    params : dict of str to array
        ``W1, b1, ...`` as :func:`scalar_params` gives them.

    Raises
    ------
    BackproplabError
        When the arrays describe other layer sizes than the model's.
    """
    loaded = scalar.MLP.from_dict({name: np.asarray(v).tolist() for name, v in params.items()})
    if loaded.sizes != model.sizes:
        raise BackproplabError(f"the weights have layer sizes {loaded.sizes}, the model "
                               f"{model.sizes}; give weights of this model")
    model.weights, model.biases = loaded.weights, loaded.biases


def _as_lists(X, y, n_inputs, n_classes, what):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
        raise BackproplabError(f"{what} data must be a non-empty 2-D array and one label per row")
    if X.shape[1] != n_inputs:
        raise BackproplabError(
            f"{what} inputs have {X.shape[1]} features but the model expects {n_inputs}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise BackproplabError(f"{what} labels must be integer classes in [0, {n_classes})")
    if not np.isfinite(X).all():
        raise BackproplabError(f"{what} inputs contain NaN or infinite values; clean the data")
    return X.tolist(), [int(c) for c in y]


class ScalarTrainer:
    """A :class:`backproplab.scalar.MLP`, its :class:`ScalarSGD` and its data, for
    :func:`~backproplab.training.epochs.run_epochs`: one example per batch.

    Parameters
    ----------
    model : scalar.MLP
        Trained in place.
    optimizer : ScalarSGD
    X, y, X_eval, y_eval : arrays
        The training set and the optional evaluation set (turned into lists once).
    rng : numpy.random.Generator
        Draws each epoch's visiting order.

    Raises
    ------
    BackproplabError
        For data that do not fit the model, or an optimizer that is not a
        :class:`ScalarSGD`.
    """

    unit = "example"
    batch_size = 1
    #: The schedule's starting rate (the configured ``lr``) while a schedule sets ``lr``.
    lr0 = None
    #: what pure-Python arithmetic raises when the numbers run away
    numeric_errors = (OverflowError, ZeroDivisionError, FloatingPointError, ValueError)

    def __init__(self, model, optimizer, X, y, X_eval, y_eval, rng):
        if not isinstance(optimizer, ScalarSGD):
            raise BackproplabError(f"a scalar-engine model trains with ScalarSGD(lr), not "
                                   f"{optimizer!r}; pass one as the optimizer")
        self.model, self.optimizer, self.rng = model, optimizer, rng
        n_inputs, n_classes = model.sizes[0], model.sizes[-1]
        self.train = _as_lists(X, y, n_inputs, n_classes, "training")
        self.evaluation = (None if X_eval is None
                           else _as_lists(X_eval, y_eval, n_inputs, n_classes, "evaluation"))
        self.has_eval = self.evaluation is not None
        self.n = self.n_batches = len(self.train[0])

    @property
    def lr(self) -> float:
        """The learning rate in use."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, rate: float) -> None:
        self.optimizer.lr = rate

    def batches(self):
        """One epoch's examples ``(x, c, 1)`` in a fresh random order."""
        X, y = self.train
        for i in self.rng.permutation(self.n).tolist():
            yield X[i], y[i], 1

    @property
    def step(self):
        """``step(x, c) -> loss``: the model's fused SGD step at this epoch's rate."""
        train_step, lr = self.model.train_step, self.optimizer.lr

        def step(x, c):
            return train_step(x, c, lr)
        return step

    def evaluate(self, split: str) -> tuple[float, float]:
        """``(mean loss, accuracy)`` on ``"train"`` or ``"eval"``."""
        loss, acc = scalar.evaluate(self.model, *(self.train if split == "train"
                                                  else self.evaluation))
        return float(loss), float(acc)

    def weights_finite(self) -> bool:
        """Whether every weight and bias is finite."""
        isfinite = math.isfinite
        return all(isfinite(v) for W, b in zip(self.model.weights, self.model.biases)
                   for values in (*W, b) for v in values)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Copies of the parameters as arrays (:func:`scalar_params`)."""
        return scalar_params(self.model)

    def set_params(self, params: dict) -> None:
        """Put ``params`` back into the model (:func:`set_scalar_params`)."""
        set_scalar_params(self.model, params)


__all__ = ["ScalarSGD", "ScalarTrainer", "scalar_params", "set_scalar_params"]
