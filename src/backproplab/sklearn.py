"""A scikit-learn compatible classifier on top of backproplab's tensor engine.

:class:`MLPClassifier` takes scikit-learn's ``MLPClassifier`` arguments (same
names, same defaults, same meaning) and trains backproplab's vectorized
:class:`~backproplab.tensor.MLP` with them, so it drops into ``Pipeline``,
``cross_val_score`` and ``GridSearchCV``::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from backproplab.sklearn import MLPClassifier

    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,),
                                                        random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)

It needs the optional extra ``backproplab[sklearn]`` (scikit-learn >= 1.6).

What follows scikit-learn exactly (read from its ``_multilayer_perceptron.py``
and ``_stochastic_optimizers.py``):

- the training loop of the ``sgd`` and ``adam`` solvers: shuffled mini-batches
  of ``batch_size`` (``"auto"``: ``min(200, n_samples)``), ``loss_curve_`` as
  the mean batch loss of each epoch including the L2 term
  ``(alpha / 2) * sum ||W||^2 / batch_len`` (so ``alpha`` acts as weight decay
  ``alpha / batch_len`` on the weights, never on the biases), ``t_`` counting
  training samples seen, the ``tol`` / ``n_iter_no_change`` stopping rule on
  the training loss (or, with ``early_stopping``, on the accuracy of a
  stratified ``validation_fraction`` split, whose best weights are restored at
  the end), the ``invscaling`` (``lr / (t_ + 1) ** power_t`` after each epoch)
  and ``adaptive`` (divide by 5 instead of stopping, stop once the rate is at
  or below 1e-6) schedules of the ``sgd`` solver, ``ConvergenceWarning`` when
  ``max_iter`` is reached;
- initialization (``init=None``): weights *and* biases uniform in
  ``+-sqrt(6 / (fan_in + fan_out))`` (``sqrt(2 / ...)`` for ``logistic``);
- the exceptions: ``NotFittedError`` before ``fit``, ``ValueError`` for bad
  data (through scikit-learn's own ``validate_data``) and bad parameters.

Where it differs (documented in ``docs/sklearn.md``): the output is always a
softmax over ``n_classes`` units, also for two classes (scikit-learn uses one
logistic unit there, so ``coefs_[-1]`` has 2 columns here, not 1); the update
rules are PyTorch's (identical to scikit-learn's momentum and Nesterov updates
at a constant rate; Adam adds ``eps`` after the bias correction); only
single-label classification (no multilabel ``y``), no ``lbfgs`` solver and no
``sample_weight``; ``partial_fit`` accumulates ``n_iter_`` over calls.
Additions: ``init`` (any backproplab initializer), ``clip_norm`` and ``dtype``.

Persistence: instances pickle (``pickle``/``joblib``) like any estimator, and
:meth:`MLPClassifier.save` / :meth:`MLPClassifier.load` write and read a
``.npz`` file (no pickle); either way ``partial_fit`` afterwards continues from
the learned weights *and* the optimizer's state (the case of scikit-learn bug
#19626, where it silently did nothing).
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from backproplab.errors import BackproplabError, DivergenceError

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X, y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

#: ``activation`` names: scikit-learn's (``logistic``) and backproplab's (``sigmoid``).
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "sigmoid": "sigmoid"}
SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
FILE_KIND = "backproplab.sklearn.MLPClassifier"


class EstimatorInputError(BackproplabError, ValueError):
    """A bad parameter or bad data: both backproplab's error and scikit-learn's ``ValueError``."""


class EstimatorDivergenceError(DivergenceError, ValueError):
    """Training produced a non-finite loss (a ``ValueError``, as in scikit-learn)."""


def _bad(message: str) -> EstimatorInputError:
    return EstimatorInputError(message)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier, scikit-learn's interface on backproplab's engine.

    Parameters (scikit-learn's, same defaults)
    ------------------------------------------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : {"relu", "tanh", "logistic"}, default "relu" (``"sigmoid"`` = ``"logistic"``)
    solver : {"sgd", "adam"}, default "adam"
    alpha : float, default 1e-4. L2 penalty ``(alpha / 2) ||W||^2 / batch_len`` on the weights.
    batch_size : int or "auto", default "auto" (``min(200, n_samples)``)
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant" (``sgd`` only)
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5 (``invscaling``)
    max_iter : int, default 200. Epochs (``fit``); ``partial_fit`` always runs one.
    shuffle : bool, default True
    random_state : None, int or ``numpy.random.RandomState``
    tol : float, default 1e-4
    verbose : bool, default False
    warm_start : bool, default False
    momentum : float, default 0.9 (``sgd``; 0 is plain SGD)
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : Adam's, defaults 0.9, 0.999, 1e-8
    n_iter_no_change : int, default 10

    Additional parameters
    ---------------------
    init : None or str, default None. None: scikit-learn's Glorot-uniform weights
        and biases; or a backproplab initializer (``"glorot-uniform"``,
        ``"he-normal"``, ...; biases then start at zero).
    clip_norm : None or float, default None. Clip the gradients to this global L2 norm.
    dtype : None, "float32" or "float64", default None: as the input
        (float32 stays float32, anything else becomes float64), like scikit-learn.

    Attributes
    ----------
    classes_, n_features_in_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, t_, n_iter_, n_layers_, n_outputs_, out_activation_,
    coefs_, intercepts_ (the model's own arrays: lists of ``W`` and ``b`` per layer).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, init=None,
                 clip_norm=None, dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.clip_norm = clip_norm
        self.dtype = dtype

    # ------------------------------------------------------------------ checks

    def _check_params(self) -> list[int]:
        """Validate the constructor arguments (scikit-learn checks them at fit time)."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise _bad(f"hidden_layer_sizes must be a tuple of positive integers, got "
                       f"{self.hidden_layer_sizes!r}") from None
        if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                            for s in sizes):
            raise _bad(f"hidden_layer_sizes must be a tuple of positive integers, like (100,) "
                       f"or (64, 32); got {self.hidden_layer_sizes!r}")
        if self.activation not in ACTIVATIONS:
            extra = "; 'identity' is not supported" if self.activation == "identity" else ""
            raise _bad(f"activation must be one of {', '.join(ACTIVATIONS)}, got "
                       f"{self.activation!r}{extra}")
        if self.solver not in SOLVERS:
            extra = " (lbfgs is not supported)" if self.solver == "lbfgs" else ""
            raise _bad(f"solver must be 'sgd' or 'adam', got {self.solver!r}{extra}")
        if self.learning_rate not in LEARNING_RATES:
            raise _bad(f"learning_rate must be one of {', '.join(LEARNING_RATES)}, got "
                       f"{self.learning_rate!r}")
        bs = self.batch_size
        if not (bs == "auto" or (isinstance(bs, numbers.Integral) and not isinstance(bs, bool)
                                 and bs >= 1)):
            raise _bad(f"batch_size must be 'auto' or a positive integer, got {bs!r}")
        _number("alpha", self.alpha, low=0.0)
        _number("learning_rate_init", self.learning_rate_init, low=0.0, open_low=True)
        _number("power_t", self.power_t, low=0.0)
        _integer("max_iter", self.max_iter)
        _number("tol", self.tol, low=0.0)
        _number("momentum", self.momentum, low=0.0, high=1.0)
        _number("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                open_high=True)
        if self.early_stopping and not self.validation_fraction > 0:
            raise _bad("early_stopping=True needs a validation split: set validation_fraction "
                       "in (0, 1), e.g. 0.1, or early_stopping=False")
        _number("beta_1", self.beta_1, low=0.0, high=1.0, open_high=True)
        _number("beta_2", self.beta_2, low=0.0, high=1.0, open_high=True)
        _number("epsilon", self.epsilon, low=0.0, open_low=True)
        _integer("n_iter_no_change", self.n_iter_no_change)
        if self.clip_norm is not None:
            _number("clip_norm", self.clip_norm, low=0.0, open_low=True)
        if self.init is not None:
            from backproplab.tensor import INITIALIZERS

            if self.init not in INITIALIZERS:
                raise _bad(f"init must be None (scikit-learn's) or one of "
                           f"{', '.join(INITIALIZERS)}, got {self.init!r}")
        if self.dtype not in (None, "float32", "float64"):
            raise _bad(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}")
        return [int(s) for s in sizes]

    def _validate_xy(self, X, y, reset: bool):
        """scikit-learn's input validation (dense float arrays, finite, 2-D, n_features_in_,
        a 1-D vector of class labels)."""
        X, y = _validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        return X, y

    def _validate_x(self, X):
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return np.asarray(X, dtype=self._model.dtype)

    def _encode(self, y) -> np.ndarray:
        """Labels -> indices into ``classes_`` (ValueError for labels it does not know)."""
        classes = self.classes_
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        unknown = classes[idx] != y
        if np.any(unknown):
            raise _bad(f"y has labels not in classes_ {list(classes)}: "
                       f"{list(unique_labels(np.asarray(y)[unknown]))[:5]}; pass every class "
                       "in classes= on the first call to partial_fit")
        return idx.astype(np.int64)

    # ------------------------------------------------------------- building

    def _model_dtype(self, X) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _build(self, n_features: int, hidden: list[int], dtype: str) -> None:
        from backproplab.tensor import MLP

        sizes = [n_features, *hidden, len(self.classes_)]
        act = ACTIVATIONS[self.activation]
        rng = self._rng
        if self.init is None:
            model = MLP(sizes, activation=act, init="glorot-uniform", dtype=dtype, seed=0)
            factor = 2.0 if act == "sigmoid" else 6.0
            params = {}
            for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
                bound = math.sqrt(factor / (fan_in + fan_out))
                params[f"W{i}"] = rng.uniform(-bound, bound, (fan_in, fan_out))
                params[f"b{i}"] = rng.uniform(-bound, bound, fan_out)
            model.set_params(params)
        else:
            model = MLP(sizes, activation=act, init=self.init, dtype=dtype, rng=rng)
        self._model = model
        self.n_layers_ = len(sizes)
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"

    def _new_optimizer(self):
        from backproplab.tensor import make_optimizer

        common = {} if self.clip_norm is None else {"clip_norm": float(self.clip_norm)}
        if self.solver == "adam":
            return make_optimizer("adam", self._model, float(self.learning_rate_init),
                                  beta1=float(self.beta_1), beta2=float(self.beta_2),
                                  eps=float(self.epsilon), **common)
        if self.momentum == 0:
            return make_optimizer("sgd", self._model, float(self.learning_rate_init), **common)
        name = "nesterov" if self.nesterovs_momentum else "momentum"
        return make_optimizer(name, self._model, float(self.learning_rate_init),
                              momentum=float(self.momentum), **common)

    def _start(self, X, hidden: list[int]) -> None:
        """A fresh start (``classes_`` set): the random generator from ``random_state``,
        a newly initialized model for ``X``'s features, empty curves."""
        self._rng = np.random.default_rng(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._build(X.shape[1], hidden, self._model_dtype(X))
        self._reset_curves()

    def _reset_curves(self) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    # ------------------------------------------------------------------- fit

    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs; returns ``self``."""
        hidden = self._check_params()
        first = not self.warm_start or getattr(self, "_model", None) is None
        X, y = self._validate_xy(X, y, reset=first)
        if first:
            self.classes_ = unique_labels(y)
            if len(self.classes_) < 2:
                raise _bad(f"MLPClassifier needs samples of at least 2 classes to train; y has "
                           f"1 class ({self.classes_[0]!r})")
            self._start(X, hidden)
        elif set(unique_labels(y)) != set(self.classes_):
            raise _bad(f"warm_start needs y with the same classes as the previous fit, "
                       f"{list(self.classes_)}; got {list(unique_labels(y))}")
        else:
            self._check_same_hidden(hidden)
        self._optimizer = self._new_optimizer()  # as scikit-learn: a fresh solver per fit
        self._train(X, self._encode(y), incremental=False)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call.

        Continues from the current weights and optimizer state, also after a
        pickle or :meth:`save`/:meth:`load` round trip.
        """
        hidden = self._check_params()
        if self.early_stopping:
            raise _bad("partial_fit does not support early_stopping=True; set "
                       "early_stopping=False or use fit")
        known = getattr(self, "classes_", None)
        if known is None and classes is None:
            raise _bad("classes must be passed on the first call to partial_fit")
        if classes is not None:
            classes = unique_labels(classes)
            if known is not None and not np.array_equal(known, classes):
                raise _bad(f"classes={list(classes)} is not the same as on the last call to "
                           f"partial_fit, {list(known)}")
        first = getattr(self, "_model", None) is None
        X, y = self._validate_xy(X, y, reset=first)
        if first:
            self.classes_ = classes
            if len(classes) < 2:
                raise _bad(f"MLPClassifier needs at least 2 classes, got 1 class "
                           f"({classes[0]!r}) in classes")
            self._start(X, hidden)
            self._optimizer = self._new_optimizer()
        else:
            self._check_same_hidden(hidden)
        self._train(X, self._encode(y), incremental=True)
        return self

    def _check_same_hidden(self, hidden: list[int]) -> None:
        if list(self._model.sizes[1:-1]) != hidden:
            raise _bad(f"hidden_layer_sizes changed from {tuple(self._model.sizes[1:-1])} to "
                       f"{tuple(hidden)} since the model was built; refit with warm_start=False")

    def _train(self, X, y, incremental: bool) -> None:
        """scikit-learn's ``_fit_stochastic``, on backproplab's engine."""
        from sklearn.model_selection import train_test_split

        from backproplab.tensor import train_step
        from backproplab.training.schedules import (
            PLATEAU_DIVISOR,
            PLATEAU_MIN_LR,
            InverseScaling,
        )

        model, opt = self._model, self._optimizer
        early = self.early_stopping and not incremental
        if not incremental:
            self.n_iter_ = 0  # as scikit-learn: the epochs of this fit (partial_fit adds up)
        if early and self.validation_scores_ is None:  # warm start after a fit without it
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        X_val = y_val = None
        if early:
            # stratified by class where the classes allow it (each needs 2 samples and the
            # split a sample of each), else a plain random split (scikit-learn stratifies
            # only binary problems)
            seed = int(self._rng.integers(np.iinfo(np.int32).max))
            try:
                X, X_val, y, y_val = train_test_split(
                    X, y, random_state=seed, test_size=self.validation_fraction, stratify=y)
            except ValueError:
                try:
                    X, X_val, y, y_val = train_test_split(
                        X, y, random_state=seed, test_size=self.validation_fraction)
                except ValueError as exc:
                    raise _bad(f"early stopping cannot hold out validation_fraction="
                               f"{self.validation_fraction} of {len(y)} samples ({exc}); "
                               "increase validation_fraction or give more samples") from None
            if X_val.shape[0] < 2:
                raise _bad("the validation set is too small; increase validation_fraction or "
                           "give more samples")
            X_val, y_val = model.check_inputs(X_val, y_val, values=False)
            self._best_params = {k: v.copy() for k, v in model.params.items()}
        X, y = model.check_inputs(X, y, values=False)  # validate_data checked the values
        n = X.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=3)
            bs = int(np.clip(self.batch_size, 1, n))
        X_buf = np.empty((bs, X.shape[1]), dtype=X.dtype)
        y_buf = np.empty(bs, dtype=np.int64)
        weights = [p for k, p in model.params.items() if k.startswith("W")]
        alpha = float(self.alpha)
        sgd = self.solver == "sgd"
        invscaling = InverseScaling(float(self.learning_rate_init), float(self.power_t), 1)
        iterations = 1 if incremental else int(self.max_iter)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(iterations):
                order = self._rng.permutation(n) if self.shuffle else np.arange(n)
                total = 0.0
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    k = len(idx)
                    xb = np.take(X, idx, axis=0, out=X_buf[:k], mode="clip")
                    yb = np.take(y, idx, out=y_buf[:k], mode="clip")
                    penalty = 0.0
                    if alpha:
                        opt.weight_decay = alpha / k  # the gradient of the term below
                        penalty = 0.5 * alpha * sum(float(np.dot(w.ravel(), w.ravel()))
                                                    for w in weights) / k
                    loss = float(train_step(model, opt, xb, yb, check=False)) + penalty
                    if not math.isfinite(loss):
                        raise EstimatorDivergenceError(
                            f"training diverged: the loss became {loss} in iteration "
                            f"{self.n_iter_ + 1}; lower learning_rate_init or scale the inputs "
                            "(e.g. StandardScaler)")
                    total += loss * k
                self.n_iter_ += 1
                self.loss_ = total / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(early, X_val, y_val)
                if sgd and self.learning_rate == "invscaling":
                    opt.lr = invscaling.rate_after(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early else "Training loss"
                    adaptive = sgd and self.learning_rate == "adaptive"
                    if not adaptive or opt.lr <= PLATEAU_MIN_LR:
                        if self.verbose:
                            print(f"{what} did not improve more than tol={self.tol:f} for "
                                  f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                        break
                    opt.lr /= PLATEAU_DIVISOR
                    if self.verbose:
                        print(f"{what} did not improve more than tol={self.tol:f} for "
                              f"{self.n_iter_no_change} consecutive epochs. Setting learning "
                              f"rate to {opt.lr:f}")
                    self._no_improvement_count = 0
            else:  # every epoch ran without meeting the stopping rule
                if not incremental:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning, stacklevel=3)
        if early:
            model.set_params(self._best_params)
            del self._best_params
        for p in model.params.values():
            if not np.isfinite(p).all():
                raise EstimatorDivergenceError(
                    "training produced non-finite weights; lower learning_rate_init or scale "
                    "the inputs (e.g. StandardScaler)")

    def _update_no_improvement_count(self, early: bool, X_val, y_val) -> None:
        """scikit-learn's rule: count epochs that fail to improve by ``tol``."""
        if early:
            score = float(np.mean(self._model.predict(X_val, check=False) == y_val))
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = {k: v.copy() for k, v in self._model.params.items()}
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    # --------------------------------------------------------------- predict

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        X = self._validate_x(X)
        return np.asarray(self._model.predict_proba(X, check=False))

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of every row (labels from ``classes_``)."""
        check_is_fitted(self)
        X = self._validate_x(X)
        return self.classes_[np.asarray(self._model.predict(X, check=False))]

    # ------------------------------------------------------ fitted weights

    @property
    def coefs_(self) -> list:
        """The weight matrices (fan_in x fan_out), the model's own arrays."""
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError("coefs_ exists after fit")
        return [layer.W for layer in model.layers]

    @property
    def intercepts_(self) -> list:
        """The bias vectors, the model's own arrays."""
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError("intercepts_ exists after fit")
        return [layer.b for layer in model.layers]

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_model", None) is not None and hasattr(self, "classes_")

    # ------------------------------------------------------------- pickling

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its engine
        model = state.pop("_model", None)
        opt = state.pop("_optimizer", None)
        if model is not None:  # the engine holds a module reference: store plain arrays
            state["_model_state"] = {"config": model.config(),
                                     "params": {k: v.copy() for k, v in model.params.items()},
                                     "optimizer": None if opt is None else opt.state_dict()}
        return state

    def __setstate__(self, state):
        saved = state.pop("_model_state", None)
        super().__setstate__(state)
        if saved is not None:
            self._restore_engine(saved["config"], saved["params"], saved["optimizer"])

    def _restore_engine(self, config: dict, params: dict, opt_state) -> None:
        from backproplab.tensor import MLP, optimizer_from_state

        model = MLP(config["sizes"], activation=config["activation"], init=config["init"],
                    dtype=config["dtype"], seed=0, init_std=config.get("init_std"))
        model.set_params(params)
        self._model = model
        self._optimizer = None if opt_state is None else optimizer_from_state(model, opt_state)

    # ------------------------------------------------------ save / load (.npz)

    def save(self, path):
        """Write the fitted estimator to ``path`` (``.npz``, no pickle): its parameters,
        weights, optimizer state, curves and random generator, so that :meth:`load`
        followed by ``partial_fit`` continues exactly where this one is."""
        check_is_fitted(self)
        params = self.get_params(deep=False)
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None  # the generator's state is saved below
        params["hidden_layer_sizes"] = list(np.atleast_1d(params["hidden_layer_sizes"]).tolist())
        classes = self.classes_
        try:
            json.dumps(classes.tolist())
        except TypeError:
            raise _bad("save() stores the labels as JSON, and these labels are not numbers or "
                       "strings; pickle the estimator instead") from None
        state = {
            "kind": FILE_KIND, "params": params,
            "classes": classes.tolist(), "classes_dtype": classes.dtype.str,
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": (None if not hasattr(self, "feature_names_in_")
                                 else [str(f) for f in self.feature_names_in_]),
            "rng_state": self._rng.bit_generator.state,
            "curves": {k: _jsonable(getattr(self, k, None)) for k in (
                "n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
                "best_validation_score_", "_no_improvement_count")},
        }
        return self._model.save(path, optimizer=self._optimizer, extra={"estimator": state})

    @classmethod
    def load(cls, path) -> MLPClassifier:
        """Read an estimator written by :meth:`save`."""
        from backproplab.tensor import load_checkpoint

        model, opt_state, extra = load_checkpoint(path)
        state = extra.get("estimator") if isinstance(extra, dict) else None
        if not isinstance(state, dict) or state.get("kind") != FILE_KIND:
            raise BackproplabError(f"{path} holds no saved MLPClassifier (it may be a plain "
                                   "model file: load it with backproplab.tensor.MLP.load)")
        params = dict(state["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = cls(**params)
        kind = np.dtype(state["classes_dtype"])
        est.classes_ = np.array(state["classes"], dtype=object if kind == object else kind)
        est.n_features_in_ = state["n_features_in"]
        if state.get("feature_names_in") is not None:
            est.feature_names_in_ = np.array(state["feature_names_in"], dtype=object)
        for key, value in state["curves"].items():
            if value is not None or key in ("validation_scores_", "best_validation_score_",
                                            "best_loss_"):
                setattr(est, key, _unjson(value))
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        est._rng = rng
        est._restore_engine(model.config(), model.params, opt_state)
        est.n_layers_ = len(model.sizes)
        est.n_outputs_ = model.sizes[-1]
        est.out_activation_ = "softmax"
        return est


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
        raise _bad(f"{name} must be a finite number {rng}, got {value!r}")


def _integer(name, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise _bad(f"{name} must be an integer >= 1, got {value!r}")


__all__ = ["EstimatorDivergenceError", "EstimatorInputError", "MLPClassifier"]
