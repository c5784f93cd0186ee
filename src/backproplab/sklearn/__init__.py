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

It follows scikit-learn's ``sgd`` and ``adam`` solvers (read from its
``_multilayer_perceptron.py`` and ``_stochastic_optimizers.py``): shuffled
mini-batches, ``loss_curve_`` with the L2 term ``(alpha / 2) * sum ||W||^2 /
batch_len``, ``t_``, the ``tol`` / ``n_iter_no_change`` rule on the training loss
or (``early_stopping``) the validation accuracy, the ``invscaling`` and
``adaptive`` rates, ``ConvergenceWarning``, its initialization and exceptions.
Training runs through :func:`backproplab.training.fit`: the L2 term through its
``loss_term`` hook, the ``tol`` rule as a
:class:`~backproplab.training.schedules.ReduceOnPlateau` schedule, the best
validation weights kept by an
:class:`~backproplab.training.early_stopping.EarlyStopping`, the curves and the
``invscaling`` rate in its ``on_epoch`` callback. ``docs/sklearn.md`` lists the
rules and where this estimator differs (a softmax output also for two classes,
PyTorch's update rules, no ``lbfgs``, ``partial_fit`` adding up ``n_iter_``).
Additions: ``init``, ``clip_norm`` and ``dtype``.

Persistence: instances pickle like any estimator, and :meth:`MLPClassifier.save` /
:meth:`MLPClassifier.load` write and read a ``.npz`` file (no pickle); either way
``partial_fit`` afterwards continues from the learned weights *and* the
optimizer's state (the case of scikit-learn bug #19626).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from backproplab.errors import DivergenceError
from backproplab.sklearn._params import (
    ACTIVATIONS,
    EstimatorInputError,
    check_params,
)
from backproplab.sklearn._params import bad as _bad
from backproplab.sklearn._persist import (
    CURVES,
    file_record,
    read_record,
    record_classes,
    record_curves,
    record_params,
    record_rng,
)
from backproplab.sklearn._solver import (
    batch_len,
    best_weights_keeper,
    glorot_model,
    l2_term,
    new_optimizer,
    plateau_rule,
    validation_split,
)
from backproplab.tensor import MLP, optimizer_from_state
from backproplab.training import fit
from backproplab.training.schedules import InverseScaling

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X, y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

class EstimatorDivergenceError(DivergenceError, ValueError):
    """Training produced a non-finite loss (a ``ValueError``, as in scikit-learn).

    Raised by ``fit`` and ``partial_fit``; the message names the iteration and
    suggests a lower ``learning_rate_init`` or scaled inputs.
    """


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier, scikit-learn's interface on backproplab's engine.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change
        scikit-learn's ``MLPClassifier`` arguments, same defaults and meaning
        (``activation="sigmoid"`` is accepted for ``"logistic"``; ``alpha`` is
        the L2 penalty ``(alpha / 2) ||W||^2 / batch_len`` on the weights).
    init : str, optional
        ``None``: scikit-learn's Glorot-uniform weights and biases; or a
        backproplab initializer (``"he-normal"``, ...; biases then start at zero).
    clip_norm : float, optional
        Clip the gradients to this global L2 norm.
    dtype : {None, "float32", "float64"}, default=None
        ``None``: as the input (float32 stays float32, anything else float64).

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        ``W`` and ``b`` of each layer (the model's own arrays, not copies).
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, \
best_validation_score_, n_iter_, t_, n_features_in_, n_layers_, n_outputs_, out_activation_
        As scikit-learn's (``best_loss_`` is ``None`` with early stopping).

    Raises
    ------
    EstimatorInputError
        (a ``BackproplabError`` and a ``ValueError``) from ``fit`` for bad
        parameters or data; ``NotFittedError`` from predicting before ``fit``.

    Examples
    --------
    >>> from backproplab.data import load_dataset
    >>> from backproplab.sklearn import MLPClassifier
    >>> d = load_dataset("synth", limit=300)
    >>> clf = MLPClassifier((8,), max_iter=5, random_state=0).fit(d.X_train, d.y_train)
    >>> clf.predict(d.X_eval[:4]).shape, clf.n_iter_, [W.shape for W in clf.coefs_]
    ((4,), 5, [(2, 8), (8, 2)])
    >>> clf.save("model.npz")                                  # doctest: +SKIP
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

    def _validate_xy(self, X, y, reset: bool):
        """scikit-learn's input validation (dense float arrays, finite, 2-D, n_features_in_,
        a 1-D vector of class labels)."""
        X, y = _validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        return X, y

    def _validate_x(self, X):
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return np.asarray(X, dtype=self._model.dtype)

    @staticmethod
    def _encode(y, classes) -> np.ndarray:
        """Labels -> indices into ``classes`` (ValueError for labels it does not know)."""
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        unknown = classes[idx] != y
        if np.any(unknown):
            raise _bad(f"y has labels not in classes_ {classes.tolist()}: "
                       f"{unique_labels(np.asarray(y)[unknown]).tolist()[:5]}; pass every class "
                       "in classes= on the first call to partial_fit")
        return idx.astype(np.int64)

    # ------------------------------------------------------------- building

    def _model_dtype(self, X) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _build(self, n_features: int, hidden: list[int], dtype: str) -> None:
        sizes = [n_features, *hidden, len(self.classes_)]
        act = ACTIVATIONS[self.activation]
        if self.init is None:
            model = glorot_model(sizes, act, dtype, self._rng)
        else:
            model = MLP(sizes, activation=act, init=self.init, dtype=dtype, rng=self._rng)
        self._model = model
        self.n_layers_ = len(sizes)
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"

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
        """Train on ``(X, y)`` for up to ``max_iter`` epochs.

        A fresh model unless ``warm_start`` and already fitted; a fresh solver either
        way, as scikit-learn does.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
            Class labels (at least 2 classes).

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        EstimatorInputError
            For bad parameters or data, one class only, or (with ``warm_start``) other
            classes or hidden sizes than the previous fit.
        EstimatorDivergenceError
            When the loss becomes non-finite.
        """
        hidden = check_params(self)
        first = not self.warm_start or getattr(self, "_model", None) is None
        X, y = self._validate_xy(X, y, reset=first)
        if first:
            classes = unique_labels(y)
            if len(classes) < 2:  # refused before anything of a previous fit is replaced
                raise _bad(f"MLPClassifier needs samples of at least 2 classes to train; y has "
                           f"1 class ({classes.tolist()[0]!r})")
            self.classes_ = classes
            self._start(X, hidden)
        elif set(unique_labels(y)) != set(self.classes_):
            raise _bad(f"warm_start needs y with the same classes as the previous fit, "
                       f"{self.classes_.tolist()}; got {unique_labels(y).tolist()}")
        else:
            self._check_same_hidden(hidden)
        self._optimizer = new_optimizer(self, self._model)  # as scikit-learn: fresh per fit
        self._train(X, self._encode(y, self.classes_), incremental=False)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        Also after a pickle or :meth:`save` / :meth:`load` round trip.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
        classes : array-like, optional
            Every class label; required on the first call, and the same on later ones.

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        EstimatorInputError
            For bad parameters or data, ``early_stopping=True``, a missing or changed
            ``classes``, or labels not in ``classes_``.
        """
        hidden = check_params(self)
        if self.early_stopping:
            raise _bad("partial_fit does not support early_stopping=True; set "
                       "early_stopping=False or use fit")
        known = getattr(self, "classes_", None)
        if known is None and classes is None:
            raise _bad("classes must be passed on the first call to partial_fit")
        if classes is not None:
            classes = unique_labels(classes)
            if known is not None and not np.array_equal(known, classes):
                raise _bad(f"classes={classes.tolist()} is not the same as on the last call to "
                           f"partial_fit, {known.tolist()}")
        classes = known if classes is None else classes
        first = getattr(self, "_model", None) is None
        X, y = self._validate_xy(X, y, reset=first)
        if first and len(classes) < 2:
            raise _bad(f"MLPClassifier needs at least 2 classes, got 1 class "
                       f"({classes.tolist()[0]!r}) in classes")
        labels = self._encode(y, classes)  # refused before anything is built
        if first:
            self.classes_ = classes
            self._start(X, hidden)
            self._optimizer = new_optimizer(self, self._model)
        else:
            self._check_same_hidden(hidden)
        self._train(X, labels, incremental=True)
        return self

    def _check_same_hidden(self, hidden: list[int]) -> None:
        if list(self._model.sizes[1:-1]) != hidden:
            raise _bad(f"hidden_layer_sizes changed from {tuple(self._model.sizes[1:-1])} to "
                       f"{tuple(hidden)} since the model was built; refit with warm_start=False")

    def _train(self, X, y, incremental: bool) -> None:
        """scikit-learn's ``_fit_stochastic``, through :func:`backproplab.training.fit`."""

        early = self.early_stopping and not incremental
        if not incremental:
            self.n_iter_ = 0  # as scikit-learn: the epochs of this fit (partial_fit adds up)
        if early and self.validation_scores_ is None:  # warm start after a fit without it
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        X_val = y_val = None
        if early:
            X, X_val, y, y_val = validation_split(X, y, self.validation_fraction, self._rng)
        plateau = plateau_rule(self, self._optimizer.lr,
                               self.best_validation_score_ if early else self.best_loss_,
                               self._no_improvement_count, early)
        keeper = (best_weights_keeper(self.max_iter, self.best_validation_score_,
                                      self._model.params) if early else None)
        n = X.shape[0]
        try:
            history = fit(
                self._model, self._optimizer, X, y, epochs=1 if incremental else int(self.max_iter),
                batch_size=batch_len(self.batch_size, n), rng=self._rng,
                shuffle=bool(self.shuffle), X_eval=X_val, y_eval=y_val, eval_train=False,
                schedule=plateau, early_stopping=keeper,
                loss_term=l2_term(self.alpha, self._optimizer, self._model.params),
                on_epoch=lambda record: self._after_epoch(record, n, early, plateau))
        except DivergenceError as err:
            raise EstimatorDivergenceError(
                f"training diverged in iteration {self.n_iter_ + 1}: {err.what}; lower "
                "learning_rate_init or scale the inputs (e.g. StandardScaler)") from None
        if history.stopped_reason == "epochs" and not incremental:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=3)

    def _after_epoch(self, record: dict, n: int, early: bool, plateau) -> None:
        """``fit``'s ``on_epoch``: scikit-learn's curves and counters, the ``invscaling``
        rate for the next epoch, the verbose lines."""

        self.n_iter_ += 1
        self.loss_ = record["train_loss_running"]
        self.t_ += n
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        if early:
            self.validation_scores_.append(record["eval_accuracy"])
            self.best_validation_score_ = plateau.best
            if self.verbose:
                print(f"Validation score: {record['eval_accuracy']:f}")
        else:
            self.best_loss_ = plateau.best
        self._no_improvement_count = plateau.bad_epochs
        if self.verbose and (plateau.stopped or plateau.lr != record["lr"]):  # a plateau
            what = "Validation score" if early else "Training loss"
            then = "Stopping." if plateau.stopped else f"Setting learning rate to {plateau.lr:f}"
            print(f"{what} did not improve more than tol={self.tol:f} for "
                  f"{self.n_iter_no_change} consecutive epochs. {then}")
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            plateau.lr = InverseScaling(float(self.learning_rate_init), float(self.power_t),
                                        1).rate_after(self.t_)
        self._optimizer.lr = plateau.lr  # the solver keeps the rate after the last epoch

    # --------------------------------------------------------------- predict

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
            Rows sum to 1; float32 or float64 as the model.
        """
        check_is_fitted(self)
        X = self._validate_x(X)
        return np.asarray(self._model.predict_proba(X, check=False))

    def predict_log_proba(self, X):
        """``log(predict_proba(X))`` (``-inf`` where a probability is 0).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of every row.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,)
            Labels from ``classes_``.
        """
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

        model = MLP(config["sizes"], activation=config["activation"], init=config["init"],
                    dtype=config["dtype"], seed=0, init_std=config.get("init_std"))
        model.set_params(params)
        self._model = model
        self._optimizer = None if opt_state is None else optimizer_from_state(model, opt_state)

    # ------------------------------------------------------ save / load (.npz)

    def save(self, path):
        """Write the fitted estimator to ``path`` as ``.npz`` (no pickle).

        Its parameters, weights, optimizer state, curves and random generator, so
        that :meth:`load` followed by ``partial_fit`` continues exactly where this one is.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        EstimatorInputError
            When the labels are neither numbers nor strings (pickle the estimator instead).
        """
        check_is_fitted(self)
        record = file_record(self.get_params(deep=False), self.classes_, self.n_features_in_,
                             getattr(self, "feature_names_in_", None), self._rng,
                             {k: getattr(self, k, None) for k in CURVES})
        return self._model.save(path, optimizer=self._optimizer, extra={"estimator": record})

    @classmethod
    def load(cls, path) -> MLPClassifier:
        """Read an estimator written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        MLPClassifier
            Fitted, ready for ``predict`` or ``partial_fit``.

        Raises
        ------
        BackproplabError
            When the file is missing, damaged or holds no saved ``MLPClassifier``.
        """

        model, opt_state, record = read_record(path)
        est = cls(**record_params(record))
        est.classes_ = record_classes(record)
        est.n_features_in_ = record["n_features_in"]
        if record.get("feature_names_in") is not None:
            est.feature_names_in_ = np.array(record["feature_names_in"], dtype=object)
        for key, value in record_curves(record).items():
            setattr(est, key, value)
        est._rng = record_rng(record)
        est._restore_engine(model.config(), model.params, opt_state)
        est.n_layers_ = len(model.sizes)
        est.n_outputs_ = model.sizes[-1]
        est.out_activation_ = "softmax"
        return est


__all__ = ["EstimatorDivergenceError", "EstimatorInputError", "MLPClassifier"]
