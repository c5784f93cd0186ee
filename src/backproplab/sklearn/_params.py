"""The checks of :class:`backproplab.sklearn.MLPClassifier`'s constructor arguments
(scikit-learn checks them at ``fit`` time, not in the constructor) and the error they raise."""

from __future__ import annotations

import math
import numbers

from backproplab.errors import BackproplabError
from backproplab.tensor import INITIALIZERS

#: ``activation`` names: scikit-learn's (``logistic``) and backproplab's (``sigmoid``).
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "sigmoid": "sigmoid"}
SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")


class EstimatorInputError(BackproplabError, ValueError):
    """A bad parameter or bad data: both backproplab's error and scikit-learn's ``ValueError``."""


def bad(message: str) -> EstimatorInputError:
    """The error for a bad parameter or bad data, with ``message``."""
    return EstimatorInputError(message)


def check_params(est) -> list[int]:
    """Validate the constructor arguments of ``est``; returns its hidden layer sizes.

    Parameters
    ----------
    est : MLPClassifier
        The estimator whose parameters (as the constructor stored them) are checked.

    Returns
    -------
    list of int
        ``hidden_layer_sizes`` as a list.

    Raises
    ------
    EstimatorInputError
        Naming the first bad parameter and what it must be.
    """
    sizes = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral):
        sizes = [sizes]
    try:
        sizes = list(sizes)
    except TypeError:
        raise bad(f"hidden_layer_sizes must be a tuple of positive integers, got "
                  f"{est.hidden_layer_sizes!r}") from None
    if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                        for s in sizes):
        raise bad(f"hidden_layer_sizes must be a tuple of positive integers, like (100,) "
                  f"or (64, 32); got {est.hidden_layer_sizes!r}")
    if est.activation not in ACTIVATIONS:
        extra = "; 'identity' is not supported" if est.activation == "identity" else ""
        raise bad(f"activation must be one of {', '.join(ACTIVATIONS)}, got "
                  f"{est.activation!r}{extra}")
    if est.solver not in SOLVERS:
        extra = " (lbfgs is not supported)" if est.solver == "lbfgs" else ""
        raise bad(f"solver must be 'sgd' or 'adam', got {est.solver!r}{extra}")
    if est.learning_rate not in LEARNING_RATES:
        raise bad(f"learning_rate must be one of {', '.join(LEARNING_RATES)}, got "
                  f"{est.learning_rate!r}")
    bs = est.batch_size
    if not (bs == "auto" or (isinstance(bs, numbers.Integral) and not isinstance(bs, bool)
                             and bs >= 1)):
        raise bad(f"batch_size must be 'auto' or a positive integer, got {bs!r}")
    _number("alpha", est.alpha, low=0.0)
    _number("learning_rate_init", est.learning_rate_init, low=0.0, open_low=True)
    _number("power_t", est.power_t, low=0.0)
    _integer("max_iter", est.max_iter)
    _number("tol", est.tol, low=0.0)
    _number("momentum", est.momentum, low=0.0, high=1.0)
    _number("validation_fraction", est.validation_fraction, low=0.0, high=1.0,
            open_high=True)
    if est.early_stopping and not est.validation_fraction > 0:
        raise bad("early_stopping=True needs a validation split: set validation_fraction "
                  "in (0, 1), e.g. 0.1, or early_stopping=False")
    _number("beta_1", est.beta_1, low=0.0, high=1.0, open_high=True)
    _number("beta_2", est.beta_2, low=0.0, high=1.0, open_high=True)
    _number("epsilon", est.epsilon, low=0.0, open_low=True)
    _integer("n_iter_no_change", est.n_iter_no_change)
    if est.clip_norm is not None:
        _number("clip_norm", est.clip_norm, low=0.0, open_low=True)
    if est.init is not None and est.init not in INITIALIZERS:
        raise bad(f"init must be None (scikit-learn's) or one of "
                  f"{', '.join(INITIALIZERS)}, got {est.init!r}")
    if est.dtype not in (None, "float32", "float64"):
        raise bad(f"dtype must be None, 'float32' or 'float64', got {est.dtype!r}")
    return [int(s) for s in sizes]


def _number(name, value, *, low=None, high=None, open_low=False, open_high=False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if open_low else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if open_high else '<='} {high:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        raise bad(f"{name} must be a finite number {rng}, got {value!r}")


def _integer(name, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise bad(f"{name} must be an integer >= 1, got {value!r}")
