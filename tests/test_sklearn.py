"""backproplab.sklearn.MLPClassifier: scikit-learn's estimator checks, its tools, its rules.

scikit-learn is an optional extra (backproplab[sklearn]); without it this module is skipped.
"""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from backproplab.errors import BackproplabError
from backproplab.sklearn import MLPClassifier

#: Checks an estimator with ``early_stopping=True`` cannot pass, and why. scikit-learn's
#: own MLPClassifier(early_stopping=True) fails each of them too (and two more), for the
#: same reasons: partial_fit refuses early stopping (one epoch of new data has no
#: validation split), and a validation split needs at least 2 samples. Every other
#: check runs for it, and every check passes for the other two configurations.
EARLY_STOPPING_CANNOT_PASS = {
    "check_fit_score_takes_y": "calls partial_fit, which refuses early_stopping=True",
    "check_n_features_in_after_fitting": "calls partial_fit, which refuses "
                                         "early_stopping=True",
    "check_estimators_partial_fit_n_features": "partial_fit refuses early_stopping=True",
    "check_estimators_nan_inf": "fits 10 samples: a validation split of 1 sample is refused",
    "check_fit2d_1feature": "fits 10 samples: a validation split of 1 sample is refused",
}

CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60,
                  random_state=0),
    MLPClassifier(hidden_layer_sizes=(16, 8), solver="sgd", learning_rate="adaptive",
                  learning_rate_init=0.1, alpha=0.01, max_iter=60, random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, learning_rate_init=0.01,
                  max_iter=60, random_state=0),
]


def _expected_failures(estimator):
    return EARLY_STOPPING_CANNOT_PASS if estimator.early_stopping else {}


# scikit-learn < 1.6 has no expected_failed_checks: check the configurations that pass all
if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
    _checks = parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
else:  # pragma: no cover - older scikit-learn
    _checks = parametrize_with_checks([e for e in CHECKED if not e.early_stopping])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@_checks
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:900] / 16.0, y[:900]


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def test_pipeline_cross_val_score_and_grid_search_on_digits(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
                                                         learning_rate_init=0.01,
                                                         random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        assert scores.mean() > 0.85
        grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                                   "mlpclassifier__hidden_layer_sizes": [(8,), (32,)]}, cv=3)
        grid.fit(X, y)
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__hidden_layer_sizes"}
    assert grid.best_score_ > 0.85 and grid.score(X, y) > 0.95
    assert len(grid.cv_results_["mean_test_score"]) == 4


def test_string_labels_and_classes(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0,
                                   learning_rate_init=0.01), X, names[y])
    assert list(clf.classes_) == sorted(names)
    pred = clf.predict(X[:50])
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(X, names[y]) > 0.95
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1)
    assert list(clf.classes_[proba.argmax(axis=1)]) == list(pred[:5])


def test_fitted_attributes_follow_scikit_learn(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0), X, y)
    assert clf.n_iter_ == 5 == len(clf.loss_curve_) and clf.t_ == 5 * len(X)
    assert clf.n_features_in_ == 64 and clf.n_layers_ == 4 and clf.n_outputs_ == 10
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 10), (10, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (10,), (10,)]
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    assert clf.coefs_[0].dtype == np.float64  # float64 input: a float64 model, like scikit-learn
    clf32 = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
                       X.astype(np.float32), y)
    assert clf32.coefs_[0].dtype == np.float32
    # n_iter_ (docs/sklearn.md): each partial_fit adds one; fit starts again from 0
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 6 == len(clf.loss_curve_)
    _quiet_fit(clf, X, y)
    assert clf.n_iter_ == 5
    fresh = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    fresh.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    assert fresh.n_iter_ == 2 and fresh.t_ == 2 * len(X)


def test_convergence_warning_and_tol_stopping(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    # a huge tol: no epoch improves by it, so training stops after n_iter_no_change + 1 epochs
    clf = MLPClassifier(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3, max_iter=50,
                        random_state=0).fit(X, y)
    assert clf.n_iter_ == 5  # epoch 1 sets the best loss, epochs 2-5 fail (4 > 3)


def test_early_stopping_keeps_the_best_validation_weights(digits):
    X, y = digits
    kw = {"hidden_layer_sizes": (16,), "early_stopping": True, "random_state": 0,
          "learning_rate_init": 0.01, "tol": 1e-3}
    clf = _quiet_fit(MLPClassifier(n_iter_no_change=2, max_iter=100, **kw), X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ < 100 and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(scores)
    # scikit-learn's rule, replayed on the recorded scores: count the epochs that fail to
    # beat best + tol; stop at the first epoch where the count exceeds n_iter_no_change
    best, count, stop = -np.inf, 0, None
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best + clf.tol else 0
        best = max(best, score)
        if count > 2:
            stop = epoch
            break
    assert stop == clf.n_iter_
    # the weights are those of the best epoch: the same run cut off there ends with them
    best_epoch = int(np.argmax(scores)) + 1
    assert best_epoch < clf.n_iter_
    cut = _quiet_fit(MLPClassifier(n_iter_no_change=1000, max_iter=best_epoch, **kw), X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, cut.coefs_ + cut.intercepts_):
        assert a.tobytes() == b.tobytes()


def test_same_seed_same_model_other_seed_other_model(digits):
    X, y = digits
    a = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=7), X, y)
    b = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=7), X, y)
    c = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=8), X, y)
    assert all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_))
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    # a RandomState instance is drawn from, so each fit with it starts elsewhere
    d = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=np.random.RandomState(7))
    first = [c.copy() for c in _quiet_fit(d, X, y).coefs_]
    assert not np.array_equal(_quiet_fit(d, X, y).coefs_[0], first[0])


# --------------------------------------------------------------- scikit-learn's own rules


@pytest.mark.parametrize("options,rtol", [
    ({"solver": "sgd", "momentum": 0.0, "alpha": 0.05}, 1e-12),
    ({"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True, "alpha": 0.01}, 1e-12),
    ({"solver": "sgd", "momentum": 0.5, "nesterovs_momentum": False}, 1e-12),
    ({"solver": "sgd", "momentum": 0.0, "learning_rate": "invscaling", "power_t": 0.3}, 1e-12),
    # Adam: scikit-learn adds epsilon to sqrt(v) before the bias correction, PyTorch after
    # it; with a negligible epsilon the two rules coincide
    ({"solver": "adam", "alpha": 0.01, "learning_rate_init": 0.01, "epsilon": 1e-15}, 1e-9),
])
def test_same_epochs_as_scikit_learn_from_the_same_weights(options, rtol):
    """Both estimators start from the same weights (set after a first fit), then train
    two more epochs in the same batch order (shuffle=False, a short last batch):
    weights and loss curves agree, including the L2 term (alpha) and the schedule."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    common = {"hidden_layer_sizes": (7,), "activation": "tanh", "batch_size": 16,
              "shuffle": False, "max_iter": 1, "random_state": 0, "learning_rate_init": 0.1,
              **options}
    ours = _quiet_fit(MLPClassifier(**common), X, y)
    ref = _quiet_fit(SkMLP(**common), X, y)
    ref.coefs_ = [c.copy() for c in ours.coefs_]
    ref.intercepts_ = [b.copy() for b in ours.intercepts_]
    ours.set_params(warm_start=True, max_iter=2)
    ref.set_params(warm_start=True, max_iter=2)
    _quiet_fit(ours, X, y)
    _quiet_fit(ref, X, y)
    np.testing.assert_allclose(ours.loss_curve_[1:], ref.loss_curve_[1:], rtol=rtol)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    assert ours.t_ == ref.t_ == 150


def test_adaptive_rate_is_divided_by_five_like_scikit_learn():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 2, 40)
    # tol 10: every epoch after the first stalls; n_iter_no_change 1: the rate drops every
    # second epoch from epoch 3 on, and both estimators stop at the same epoch
    common = {"hidden_layer_sizes": (5,), "solver": "sgd", "learning_rate": "adaptive",
              "learning_rate_init": 1e-4, "tol": 10.0, "n_iter_no_change": 1,
              "max_iter": 50, "random_state": 0}
    ours = MLPClassifier(**common).fit(X, y)
    ref = SkMLP(**common).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ < 50
    assert ours._optimizer.lr == pytest.approx(ref._optimizer.learning_rate, rel=1e-12)


# ------------------------------------------------------------------ save / load / resume


def _pieces(digits):
    X, y = digits
    return (X[:300], y[:300]), (X[300:600], y[300:600]), (X[600:], y[600:])


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("how", ["pickle", "npz"])
def test_partial_fit_after_a_save_load_round_trip_keeps_training(digits, tmp_path, how, solver):
    """scikit-learn bug #19626: after unpickling, partial_fit silently left the weights alone.
    Here it continues from the learned weights and the optimizer state, bit for bit."""
    (X1, y1), (X2, y2), (X3, y3) = _pieces(digits)
    classes = np.arange(10)
    kw = {"hidden_layer_sizes": (16,), "solver": solver, "random_state": 3,
          "learning_rate_init": 0.01}
    straight = MLPClassifier(**kw).partial_fit(X1, y1, classes=classes)
    saved = MLPClassifier(**kw).partial_fit(X1, y1, classes=classes)
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(saved))
    else:
        saved.save(tmp_path / "clf.npz")
        loaded = MLPClassifier.load(tmp_path / "clf.npz")
    before = [c.copy() for c in loaded.coefs_]
    assert all(np.array_equal(a, b) for a, b in zip(before, straight.coefs_))
    for X, y in ((X2, y2), (X3, y3)):
        straight.partial_fit(X, y)
        loaded.partial_fit(X, y)
    assert not np.array_equal(loaded.coefs_[0], before[0])  # it trained
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, straight.coefs_ + straight.intercepts_):
        assert a.tobytes() == b.tobytes()
    assert loaded.loss_curve_ == straight.loss_curve_ and loaded.t_ == straight.t_ == 900
    assert loaded.n_iter_ == straight.n_iter_ == 3
    assert loaded.get_params() == straight.get_params()


def test_npz_round_trip_keeps_string_labels_and_predictions(digits, tmp_path):
    X, y = digits
    labels = np.array([f"digit-{d}" for d in y])
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0), X,
                     labels)
    clf.save(tmp_path / "m.npz")
    back = MLPClassifier.load(tmp_path / "m.npz")
    assert back.classes_.dtype == clf.classes_.dtype
    assert list(back.predict(X[:40])) == list(clf.predict(X[:40]))
    assert back.loss_curve_ == clf.loss_curve_ and back.best_loss_ == clf.best_loss_
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:  # a plain npz, no pickle
        assert "param/W1" in z.files
    with pytest.raises(BackproplabError, match="holds no saved MLPClassifier"):
        clf._model.save(tmp_path / "plain.npz")
        MLPClassifier.load(tmp_path / "plain.npz")


# ------------------------------------------------------------------ scikit-learn's errors


def test_not_fitted_errors():
    clf = MLPClassifier()
    X = np.zeros((3, 2))
    for method in (clf.predict, clf.predict_proba, clf.predict_log_proba):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        clf.score(X, [0, 1, 0])
    with pytest.raises(NotFittedError):
        clf.save("never-written.npz")
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize("params,words", [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes must be a tuple of positive integers"),
    ({"hidden_layer_sizes": "ten"}, "hidden_layer_sizes"),
    ({"solver": "lbfgs"}, "lbfgs is not supported"),
    ({"activation": "identity"}, "'identity' is not supported"),
    ({"learning_rate": "cosine"}, "learning_rate must be one of"),
    ({"learning_rate_init": -0.1}, "learning_rate_init must be a finite number > 0"),
    ({"batch_size": 0}, "batch_size must be 'auto' or a positive integer"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
    ({"momentum": 1.5}, "momentum must be a finite number >= 0 and <= 1"),
    ({"n_iter_no_change": 0}, "n_iter_no_change must be an integer >= 1"),
    ({"early_stopping": True, "validation_fraction": 0.0}, "needs a validation split"),
    ({"early_stopping": True, "validation_fraction": 1.0}, "validation_fraction"),
    ({"alpha": -1.0}, "alpha must be a finite number >= 0"),
    ({"init": "zeros"}, "init must be None"),
    ({"dtype": "float16"}, "dtype must be None"),
    ({"clip_norm": 0.0}, "clip_norm"),
])
def test_bad_parameters_raise_value_error_at_fit(params, words):
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    clf = MLPClassifier(**params)  # constructing never fails (scikit-learn's rule)
    with pytest.raises(ValueError) as err:
        clf.fit(X, y)
    assert words in str(err.value)
    assert isinstance(err.value, BackproplabError)


def test_bad_data_and_partial_fit_misuse_raise_value_error():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, rng.normal(size=30))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    clf = MLPClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="labels not in classes_"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="is not the same as on the last call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="the validation set is too small"):
        MLPClassifier(early_stopping=True).fit(X[:6], y[:6])



def test_a_refused_fit_or_partial_fit_leaves_the_estimator_as_it_was():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.array(["a", "b", "c"])[np.arange(30) % 3]
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    before = clf.predict(X)
    with pytest.raises(ValueError, match="at least 2 classes") as one_class:
        clf.fit(X, np.full(30, "z"))  # refused: the fitted model and its classes stay
    assert clf.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(clf.predict(X), before)
    fresh = MLPClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="labels not in classes_") as unknown:
        fresh.partial_fit(X, y, classes=["a", "b"])  # refused: nothing is built or kept
    assert not hasattr(fresh, "classes_")
    # the labels are written as the user wrote them (not np.str_('z'))
    assert "1 class ('z')" in str(one_class.value)
    assert "classes_ ['a', 'b']: ['c'];" in str(unknown.value)
    fresh.partial_fit(X, y, classes=["a", "b", "c"])  # the user's corrected call works
    assert fresh.classes_.tolist() == ["a", "b", "c"] and fresh.n_iter_ == 1

def test_divergence_is_a_value_error():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)) * 1e300, np.arange(30) % 2
    with pytest.raises(ValueError, match="lower learning_rate_init"):
        MLPClassifier(solver="sgd", learning_rate_init=1e10, max_iter=5, momentum=0.0,
                      random_state=0).fit(X, y)


def test_train_test_split_estimator_beats_chance_quickly():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, random_state=0)
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(64,), max_iter=20, random_state=0,
                                   learning_rate_init=0.01), Xtr, ytr)
    assert clf.score(Xte, yte) > 0.95
