"""Fingerprints of fitted ``MLPClassifier`` estimators, to check that a refactoring of
its training changes no result.

``tests/fixtures/sklearn_identity.json`` holds, for each case of :data:`CASES`, the
SHA-256 of the fitted ``coefs_``/``intercepts_`` and of the curves (``loss_curve_``,
``loss_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, the
no-improvement count and the optimizer's rate), ``n_iter_``, ``t_``, the warnings
and, for verbose cases, the printed lines, as produced by the code before
``MLPClassifier`` trained through ``training.fit``. Regenerate only when a result
is *meant* to change: ``python tests/sklearn_identity.py`` (then say why in the commit).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).parent / "fixtures" / "sklearn_identity.json"

#: a case is a list of steps: ("fit", rows) or ("partial_fit", rows), where rows is a
#: slice of the data; ("set", params) calls set_params; ("reload", how) pickles or
#: saves/loads the estimator. "params" are the constructor's, "data" "digits" (float64)
#: or "digits32" (float32).
CASES = {
    "adam-auto": {"params": {"max_iter": 6}, "steps": [("fit", (0, 400))]},
    "adam-alpha-batch64": {"params": {"alpha": 0.01, "batch_size": 64, "max_iter": 4},
                           "steps": [("fit", (0, 300))]},
    "adam-auto-one-batch": {"params": {"max_iter": 4}, "steps": [("fit", (0, 150))]},
    "adam-float32-clipped-batch": {"params": {"batch_size": 500, "max_iter": 3},
                                   "data": "digits32", "steps": [("fit", (0, 300))]},
    "sgd-plain-noshuffle": {"params": {"solver": "sgd", "momentum": 0.0, "alpha": 0.05,
                                       "batch_size": 128, "shuffle": False, "max_iter": 4,
                                       "learning_rate_init": 0.1},
                            "steps": [("fit", (0, 300))]},
    "sgd-noshuffle-one-batch": {"params": {"solver": "sgd", "momentum": 0.0, "shuffle": False,
                                           "max_iter": 3, "learning_rate_init": 0.1},
                                "steps": [("fit", (0, 150))]},
    "sgd-nesterov-alpha": {"params": {"solver": "sgd", "alpha": 0.01, "batch_size": 50,
                                      "max_iter": 5, "learning_rate_init": 0.05},
                           "steps": [("fit", (0, 300))]},
    "sgd-momentum-invscaling": {"params": {"solver": "sgd", "nesterovs_momentum": False,
                                           "learning_rate": "invscaling", "power_t": 0.3,
                                           "batch_size": 40, "max_iter": 5,
                                           "learning_rate_init": 0.2},
                                "steps": [("fit", (0, 300))]},
    "sgd-adaptive-verbose": {"params": {"solver": "sgd", "learning_rate": "adaptive",
                                        "learning_rate_init": 0.1, "tol": 0.5,
                                        "n_iter_no_change": 1, "max_iter": 25,
                                        "verbose": True, "alpha": 0.001},
                             "steps": [("fit", (0, 200))]},
    "sgd-invscaling-tol-stop-verbose": {"params": {"solver": "sgd", "learning_rate":
                                                   "invscaling", "learning_rate_init": 0.5,
                                                   "tol": 0.05, "n_iter_no_change": 2,
                                                   "max_iter": 30, "verbose": True},
                                        "steps": [("fit", (0, 300))]},
    "adam-tol-stop-verbose": {"params": {"tol": 10.0, "n_iter_no_change": 3, "max_iter": 50,
                                         "verbose": True},
                              "steps": [("fit", (0, 300))]},
    "adam-early-stopping": {"params": {"early_stopping": True, "validation_fraction": 0.2,
                                       "n_iter_no_change": 2, "tol": 1e-3, "max_iter": 40,
                                       "learning_rate_init": 0.01, "verbose": True},
                            "steps": [("fit", (0, 400))]},
    "sgd-early-adaptive": {"params": {"solver": "sgd", "learning_rate": "adaptive",
                                      "early_stopping": True, "n_iter_no_change": 1,
                                      "tol": 0.05, "max_iter": 20, "learning_rate_init": 0.05,
                                      "alpha": 0.001},
                           "steps": [("fit", (0, 400))]},
    "early-stopping-warm-start": {"params": {"early_stopping": True, "max_iter": 4,
                                             "learning_rate_init": 0.01, "warm_start": True},
                                  "steps": [("fit", (0, 400)), ("set", {"max_iter": 3}),
                                            ("fit", (0, 400))]},
    "sgd-invscaling-warm-start": {"params": {"solver": "sgd", "learning_rate": "invscaling",
                                             "max_iter": 3, "learning_rate_init": 0.1,
                                             "warm_start": True, "batch_size": 64},
                                  "steps": [("fit", (0, 300)), ("fit", (0, 300))]},
    "adam-partial-fit": {"params": {"batch_size": 64},
                         "steps": [("partial_fit", (0, 200)), ("partial_fit", (200, 400)),
                                   ("reload", "npz"), ("partial_fit", (400, 600)),
                                   ("partial_fit", (0, 100))]},
    "sgd-invscaling-partial-fit": {"params": {"solver": "sgd", "learning_rate": "invscaling",
                                              "learning_rate_init": 0.1, "alpha": 0.01},
                                   "steps": [("partial_fit", (0, 250)),
                                             ("partial_fit", (250, 400)),
                                             ("reload", "pickle"),
                                             ("partial_fit", (400, 600))]},
    "sgd-adaptive-fit-then-partial": {"params": {"solver": "sgd", "learning_rate": "adaptive",
                                                 "learning_rate_init": 0.1, "tol": 0.5,
                                                 "n_iter_no_change": 1, "max_iter": 6},
                                      "steps": [("fit", (0, 300)), ("reload", "npz"),
                                                ("partial_fit", (300, 500)),
                                                ("partial_fit", (0, 300)),
                                                ("partial_fit", (300, 500))]},
    "sgd-clip-norm-logistic": {"params": {"solver": "sgd", "clip_norm": 0.5,
                                          "activation": "logistic", "batch_size": 32,
                                          "max_iter": 3, "learning_rate_init": 0.3},
                               "steps": [("fit", (0, 300))]},
}

#: the constructor arguments every case shares (each case may override them)
COMMON = {"hidden_layer_sizes": (16,), "random_state": 0}


def _data(name: str):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return (X.astype(np.float32) if name == "digits32" else X), y


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _reload(est, how: str, tmp_dir: Path):
    import pickle

    from backproplab.sklearn import MLPClassifier

    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    path = tmp_dir / "est.npz"
    est.save(path)
    return MLPClassifier.load(path)


def run_case(name: str, tmp_dir: Path):
    """Train case ``name``; returns ``(estimator, warnings, stdout)``."""
    from threadpoolctl import threadpool_limits

    from backproplab.sklearn import MLPClassifier

    case = CASES[name]
    X, y = _data(case.get("data", "digits"))
    est = MLPClassifier(**{**COMMON, **case["params"]})
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            threadpool_limits(limits=1):
        warnings.simplefilter("always")
        for what, arg in case["steps"]:
            if what == "set":
                est.set_params(**arg)
            elif what == "reload":
                est = _reload(est, arg, tmp_dir)
            elif what == "fit":
                est.fit(X[slice(*arg)], y[slice(*arg)])
            else:
                est.partial_fit(X[slice(*arg)], y[slice(*arg)], classes=np.arange(10))
    found = [f"{w.category.__name__}: {str(w.message)[:60]}" for w in caught]
    return est, found, out.getvalue()


def fingerprint(est, caught: list[str], stdout: str) -> dict:
    """What must not change: weights, curves, counters, warnings, printed lines."""
    h = hashlib.sha256()
    for a in est.coefs_ + est.intercepts_:
        h.update(a.tobytes() + f"{a.dtype}{a.shape}".encode())
    curves = {k: getattr(est, k) for k in ("loss_curve_", "loss_", "best_loss_",
                                           "validation_scores_", "best_validation_score_",
                                           "_no_improvement_count")}
    curves["lr"] = est._optimizer.lr
    return {"params": h.hexdigest()[:24],
            "curves": _digest(repr(curves).encode()),
            "n_iter_": int(est.n_iter_), "t_": int(est.t_),
            "warnings": caught,
            "stdout": _digest(stdout.encode())}


if __name__ == "__main__":  # regenerate the fixture
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        found = {name: fingerprint(*run_case(name, Path(tmp))) for name in CASES}
    FIXTURE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE} ({len(found)} cases)", file=sys.stderr)
