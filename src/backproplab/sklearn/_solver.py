"""scikit-learn's ``sgd`` and ``adam`` solvers, written with backproplab's pieces.

The rules :class:`backproplab.sklearn.MLPClassifier` trains by, as plain
functions of its parameters: scikit-learn's initialization, the optimizer a
solver names, the mini-batch length, the validation split of early stopping,
the ``tol`` / ``n_iter_no_change`` rule as a plateau schedule, the kept best
weights and the L2 term. The estimator module keeps scikit-learn's interface
(``fit``, ``partial_fit``, ``predict``, persistence) and calls these.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from backproplab.sklearn._params import bad
from backproplab.tensor import MLP, make_optimizer
from backproplab.training.early_stopping import EarlyStopping
from backproplab.training.schedules import PLATEAU_MIN_LR, ReduceOnPlateau


def glorot_model(sizes: list[int], activation: str, dtype: str,
                 rng: np.random.Generator) -> MLP:
    """A model with scikit-learn's initialization: weights and biases uniform in
    ``+-sqrt(factor / (fan_in + fan_out))``, ``factor`` 2 for sigmoid, else 6.

    Parameters
    ----------
    sizes : list of int
        Layer widths, input first, classes last.
    activation : str
        backproplab's name of the hidden activation (``"sigmoid"``, ``"relu"``,
        ``"tanh"``).
    dtype : {"float32", "float64"}
        The model's floating-point type.
    rng : numpy.random.Generator
        Draws ``W1``, ``b1``, ``W2``, ... in that order.

    Returns
    -------
    backproplab.tensor.MLP
        The model, its parameters set from ``rng``.
    """
    model = MLP(sizes, activation=activation, init="glorot-uniform", dtype=dtype, seed=0)
    factor = 2.0 if activation == "sigmoid" else 6.0
    params = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
        bound = math.sqrt(factor / (fan_in + fan_out))
        params[f"W{i}"] = rng.uniform(-bound, bound, (fan_in, fan_out))
        params[f"b{i}"] = rng.uniform(-bound, bound, fan_out)
    model.set_params(params)
    return model


def new_optimizer(est, model: MLP):
    """The optimizer ``est.solver`` names, with the estimator's rate and constants.

    Parameters
    ----------
    est : MLPClassifier
        Its ``solver``, ``learning_rate_init``, ``beta_1``, ``beta_2``, ``epsilon``,
        ``momentum``, ``nesterovs_momentum`` and ``clip_norm`` are read.
    model : backproplab.tensor.MLP
        The model the optimizer updates.

    Returns
    -------
    backproplab.tensor.optim.Optimizer
        Adam for ``"adam"``; for ``"sgd"``, plain SGD when ``momentum`` is 0, else
        Nesterov or classical momentum.
    """
    common = {} if est.clip_norm is None else {"clip_norm": float(est.clip_norm)}
    lr = float(est.learning_rate_init)
    if est.solver == "adam":
        return make_optimizer("adam", model, lr, beta1=float(est.beta_1),
                              beta2=float(est.beta_2), eps=float(est.epsilon), **common)
    if est.momentum == 0:
        return make_optimizer("sgd", model, lr, **common)
    name = "nesterov" if est.nesterovs_momentum else "momentum"
    return make_optimizer(name, model, lr, momentum=float(est.momentum), **common)


def batch_len(batch_size, n: int) -> int:
    """scikit-learn's mini-batch length for ``n`` samples.

    Parameters
    ----------
    batch_size : "auto" or int
        ``"auto"`` means ``min(200, n)``; an integer is clipped to ``[1, n]``, with a
        warning when it is larger than ``n``.
    n : int
        The number of training samples.

    Returns
    -------
    int
        The batch length.

    Examples
    --------
    >>> batch_len("auto", 150), batch_len(32, 150)
    (150, 32)
    """
    if batch_size == "auto":
        return min(200, n)
    if batch_size > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                      "going to be clipped", stacklevel=4)
    return int(np.clip(batch_size, 1, n))


def validation_split(X, y, fraction: float, rng: np.random.Generator):
    """The ``fraction`` of ``(X, y)`` held out for early stopping.

    Stratified by class where the classes allow it (each needs 2 samples and the
    split a sample of each), else a plain random split (scikit-learn stratifies
    only binary problems).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    fraction : float
        ``validation_fraction``, in (0, 1).
    rng : numpy.random.Generator
        Draws the split's seed (one integer).

    Returns
    -------
    X_train, X_val, y_train, y_val : ndarray

    Raises
    ------
    EstimatorInputError
        If the split cannot be made or leaves fewer than 2 validation samples.
    """
    from sklearn.model_selection import train_test_split

    seed = int(rng.integers(np.iinfo(np.int32).max))
    try:
        X, X_val, y, y_val = train_test_split(X, y, random_state=seed, test_size=fraction,
                                              stratify=y)
    except ValueError:
        try:
            X, X_val, y, y_val = train_test_split(X, y, random_state=seed, test_size=fraction)
        except ValueError as exc:
            raise bad(f"early stopping cannot hold out validation_fraction={fraction} of "
                      f"{len(y)} samples ({exc}); increase validation_fraction or give more "
                      "samples") from None
    if X_val.shape[0] < 2:
        raise bad("the validation set is too small; increase validation_fraction or "
                  "give more samples")
    return X, X_val, y, y_val


def plateau_rule(est, lr: float, best: float | None, bad_epochs: int,
                 early: bool) -> ReduceOnPlateau:
    """scikit-learn's ``tol`` / ``n_iter_no_change`` rule as a plateau schedule.

    It watches the training loss or (early stopping) the validation accuracy,
    carrying on from the estimator's count and best value: with the ``adaptive``
    rate a plateau divides the rate by 5 (and stops training once it is at or below
    1e-6), otherwise it stops training.

    Parameters
    ----------
    est : MLPClassifier
        Its ``solver``, ``learning_rate``, ``n_iter_no_change`` and ``tol`` are read.
    lr : float
        The solver's current rate.
    best : float or None
        The best value so far (``best_validation_score_`` or ``best_loss_``).
    bad_epochs : int
        Epochs without improvement so far.
    early : bool
        Whether early stopping watches a validation split.

    Returns
    -------
    backproplab.training.schedules.ReduceOnPlateau
    """
    adaptive = est.solver == "sgd" and est.learning_rate == "adaptive"
    plateau = ReduceOnPlateau(
        lr, patience=int(est.n_iter_no_change), tol=float(est.tol),
        monitor="eval_accuracy" if early else "train_loss_running",
        mode="max" if early else "min", min_lr=PLATEAU_MIN_LR if adaptive else math.inf)
    plateau.best = best
    plateau.bad_epochs = bad_epochs
    return plateau


def best_weights_keeper(max_iter: int, best: float, params: dict) -> EarlyStopping:
    """Early stopping that only keeps the weights of the best validation accuracy.

    It starts from ``best`` and ``params`` (so a warm start that never beats its
    previous best keeps those weights) and never stops training (its patience lies
    beyond ``max_iter``): the plateau rule does.

    Parameters
    ----------
    max_iter : int
        The estimator's epoch limit.
    best : float
        The best validation accuracy so far (``-inf`` before any).
    params : dict of str to ndarray
        The model's current parameters.

    Returns
    -------
    backproplab.training.early_stopping.EarlyStopping
    """
    keeper = EarlyStopping(patience=int(max_iter) + 1, monitor="eval_accuracy",
                           restore_best=True)
    keeper.load_state_dict({"best": best if math.isfinite(best) else None}, best_params=params)
    return keeper


def l2_term(alpha: float, optimizer, params: dict):
    """scikit-learn's L2 term ``(alpha / 2) * sum ||W||^2 / batch_len`` for ``fit``'s
    ``loss_term`` hook; its gradient is applied as weight decay ``alpha / batch_len``.

    Parameters
    ----------
    alpha : float
        The penalty; 0 means none.
    optimizer : backproplab.tensor.optim.Optimizer
        Its ``weight_decay`` is set before each batch.
    params : dict of str to ndarray
        The model's parameters; the weights are those named ``W...``.

    Returns
    -------
    callable or None
        ``term(batch_len) -> float``, or ``None`` when ``alpha`` is 0.
    """
    alpha = float(alpha)
    if not alpha:
        return None
    weights = [p for k, p in params.items() if k.startswith("W")]

    def term(batch_len: int) -> float:
        optimizer.weight_decay = alpha / batch_len
        return 0.5 * alpha * sum(float(np.dot(w.ravel(), w.ravel()))
                                 for w in weights) / batch_len

    return term
