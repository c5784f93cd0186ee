"""The ``.npz`` file of a saved :class:`backproplab.sklearn.MLPClassifier`.

The model and optimizer are stored as any backproplab model file
(:meth:`backproplab.tensor.MLP.save`); the estimator's own state goes into its
``extra`` under ``"estimator"`` as a JSON record: the constructor parameters,
the classes, the fitted attributes, the random generator's state and the
curves. Non-finite floats, which JSON cannot hold, are stored as
``{"float": "inf"}``.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.sklearn._params import bad
from backproplab.tensor import MLP, load_checkpoint

#: The record's ``kind``: what tells an estimator file from a plain model file.
FILE_KIND = "backproplab.sklearn.MLPClassifier"
#: The fitted attributes saved with the estimator (the last one is private to it).
CURVES = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
          "best_validation_score_", "_no_improvement_count")
#: Curves whose ``None`` is a value (restored), not a missing attribute (skipped).
_NONE_KEPT = ("validation_scores_", "best_validation_score_", "best_loss_")


def file_record(params: dict, classes: np.ndarray, n_features_in: int, feature_names_in,
                rng: np.random.Generator, curves: dict) -> dict:
    """The JSON record of a fitted estimator, for ``MLP.save``'s ``extra``.

    Parameters
    ----------
    params : dict
        ``get_params(deep=False)``; a ``random_state`` that is not an integer is
        stored as ``None`` (the generator's state is saved instead).
    classes : ndarray
        ``classes_``.
    n_features_in : int
    feature_names_in : array-like of str or None
    rng : numpy.random.Generator
        The estimator's generator, whose state is stored.
    curves : dict
        The values of :data:`CURVES`.

    Returns
    -------
    dict

    Raises
    ------
    EstimatorInputError
        When the labels are neither numbers nor strings.
    """
    params = dict(params)
    if not isinstance(params["random_state"], (numbers.Integral, type(None))):
        params["random_state"] = None
    params["hidden_layer_sizes"] = list(np.atleast_1d(params["hidden_layer_sizes"]).tolist())
    try:
        json.dumps(classes.tolist())
    except TypeError:
        raise bad("save() stores the labels as JSON, and these labels are not numbers or "
                  "strings; pickle the estimator instead") from None
    return {
        "kind": FILE_KIND, "params": params,
        "classes": classes.tolist(), "classes_dtype": classes.dtype.str,
        "n_features_in": int(n_features_in),
        "feature_names_in": (None if feature_names_in is None
                             else [str(f) for f in feature_names_in]),
        "rng_state": rng.bit_generator.state,
        "curves": {k: _jsonable(v) for k, v in curves.items()},
    }


def read_record(path) -> tuple[MLP, dict | None, dict]:
    """The model, optimizer state and estimator record of a file :func:`file_record` went into.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tuple
        ``(model, optimizer state or None, record)``.

    Raises
    ------
    BackproplabError
        When the file is missing or damaged, or holds no saved ``MLPClassifier``.
    """
    model, opt_state, extra = load_checkpoint(path)
    record = extra.get("estimator") if isinstance(extra, dict) else None
    if not isinstance(record, dict) or record.get("kind") != FILE_KIND:
        raise BackproplabError(f"{path} holds no saved MLPClassifier (it may be a plain "
                               "model file: load it with backproplab.tensor.MLP.load)")
    return model, opt_state, record


def record_params(record: dict) -> dict:
    """The constructor parameters of a record (``hidden_layer_sizes`` a tuple again).

    Parameters
    ----------
    record : dict

    Returns
    -------
    dict
    """
    params = dict(record["params"])
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params


def record_classes(record: dict) -> np.ndarray:
    """``classes_`` of a record, with its saved dtype.

    Parameters
    ----------
    record : dict

    Returns
    -------
    ndarray
    """
    kind = np.dtype(record["classes_dtype"])
    return np.array(record["classes"], dtype=object if kind == object else kind)


def record_curves(record: dict) -> dict[str, Any]:
    """The fitted attributes of a record to set on the estimator.

    Parameters
    ----------
    record : dict

    Returns
    -------
    dict
        Attribute -> value, non-finite floats restored; a ``None`` is left out
        except where it is a value (``validation_scores_``, ...).
    """
    return {key: _unjson(value) for key, value in record["curves"].items()
            if value is not None or key in _NONE_KEPT}


def record_rng(record: dict) -> np.random.Generator:
    """A generator in the state the record saved.

    Parameters
    ----------
    record : dict

    Returns
    -------
    numpy.random.Generator
    """
    rng = np.random.default_rng()
    rng.bit_generator.state = record["rng_state"]
    return rng


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _unjson(value):
    if isinstance(value, dict) and "float" in value:
        return float(value["float"])
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value
