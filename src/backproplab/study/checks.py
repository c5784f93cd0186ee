"""Live checks for the report: numbers computed when the report is made, not copied.

``backproplab reproduce`` runs them after the training runs (through
:func:`backproplab.study.outputs.make_checks`) and saves them as
``checks.json``; the report only reads that file. Nothing here trains: the
checks evaluate derivatives, the worked example, the two engines against each
other and against finite differences, time one batched call against
per-example calls, and evaluate saved models of finished runs.

- :func:`derivative_checks` (Q1, Q2): the softmax Jacobian, ``dl/dy_c`` and the
  fused ``dl/do = y - onehot(c)`` against central finite differences, and why
  the fused form is preferred (a case where the unfused one fails).
- :func:`worked_example` (Q3): the 2-3-2 network of docs/study.md through the scalar
  engine, and the same network with the third hidden unit's weights mistyped,
  which reproduces the original's wrong ``dV`` row.
- :func:`engine_checks` (Q5, Q6): both engines' gradient checks
  (:mod:`backproplab.gradcheck`) and scalar vs tensor gradients on the same weights.
- :func:`vectorization_timing` (Q6): a batch in one call vs one example at a time.
- :func:`normalization_demo` (Q4): a trained synthetic model evaluated with the
  validation split scaled in the right and in the original's wrong ways.
- :func:`saturation` (the original's unscaled pixels): how many sigmoid units
  are saturated, at initialization (exact expectation) and after training.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from backproplab import gradcheck, scalar
from backproplab.data import synth
from backproplab.data.normalize import Normalizer
from backproplab.predict import run_dataset
from backproplab.runs import INSPECT, RunFolder
from backproplab.scalar import cross_entropy_from_logits, softmax
from backproplab.tensor import MLP

#: The worked example of docs/study.md (Q3), from the scalar engine: W is 2x3 (input i ->
#: hidden j), V is 3x2.
Q3_X, Q3_W, Q3_B, Q3_V, Q3_C = (scalar.Q3[k] for k in ("x", "W", "b", "V", "c"))
Q3_TARGET = scalar.Q3_TARGET
#: docs/study.md's correct values for the worked example.
_Q3_EXPECTED = {
    "h": 0.8807970779778823,
    "loss": math.log(2.0),
    "dV_row": [-0.44039853898894116, 0.44039853898894116],
    "dc": [-0.5, 0.5],
}
#: What the original write-up printed as the third row of dV.
_Q3_ORIGINAL_DV_ROW3 = 0.0596
#: The mistyped first-layer weights that reproduce the original's third dV row:
#: the third hidden unit's incoming weights with their signs flipped.
_Q3_W_MISTYPED = [[1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
#: A sigmoid unit counts as saturated when its output is below 0.01 or above
#: 0.99, i.e. |pre-activation| > ln(99); its derivative is then below 0.0099.
_SATURATION_K = math.log(99.0)


def _central(f, x: list[float], i: int, eps: float) -> float:
    up = list(x)
    up[i] += eps
    down = list(x)
    down[i] -= eps
    return (f(up) - f(down)) / (2.0 * eps)


# ---------------------------------------------------------------------------
# Q1, Q2


def derivative_checks(seed: int = 0, n_cases: int = 20, n_classes: int = 5,
                      eps: float = 1e-6) -> dict[str, Any]:
    """Check the local derivatives of Q1/Q2 against central finite differences.

    For random logits ``o`` (N(0, 2^2)) and classes ``c``: the softmax Jacobian
    ``dy_i/do_j = y_i (delta_ij - y_j)``; ``dl/dy_c = -1/y_c`` for
    ``l = -log y_c`` (and 0 for the other outputs); the fused
    ``dl/do = y - onehot(c)``, also as the chain rule ``J^T dl/dy``.

    Parameters
    ----------
    seed : int, default 0
        Seeds the ``random.Random`` the cases are drawn from.
    n_cases : int, default 20
    n_classes : int, default 5
    eps : float, default 1e-6
        The finite-difference step.

    Returns
    -------
    dict
        The largest error of each quantity (``softmax_jacobian_max_abs_error``,
        ``dl_dy_max_rel_error``, ``dl_do_max_abs_error``,
        ``chain_rule_vs_fused_max_abs_error``), the settings, and a
        ``stability_case`` where the unfused loss overflows and the fused one does not.

    Examples
    --------
    >>> derivative_checks(n_cases=3)["dl_do_max_abs_error"] < 1e-6
    True
    """

    rng = random.Random(seed)
    err_jac = err_dy = err_do = err_chain = 0.0
    for _ in range(n_cases):
        o = [rng.gauss(0.0, 2.0) for _ in range(n_classes)]
        c = rng.randrange(n_classes)
        y = softmax(o)
        for i in range(n_classes):
            for j in range(n_classes):
                analytic = y[i] * ((1.0 if i == j else 0.0) - y[j])
                numeric = _central(lambda v, i=i: softmax(v)[i], o, j, eps)
                err_jac = max(err_jac, abs(analytic - numeric))
        # l as a function of the softmax outputs, each treated as a free variable
        for i in range(n_classes):
            analytic = -1.0 / y[c] if i == c else 0.0
            numeric = _central(lambda v, c=c: -math.log(v[c]), y, i, eps * y[c])
            err_dy = max(err_dy, abs(analytic - numeric) / max(1.0, abs(analytic)))
        fused = [yi - (1.0 if i == c else 0.0) for i, yi in enumerate(y)]
        for j in range(n_classes):
            numeric = _central(lambda v, c=c: cross_entropy_from_logits(v, c), o, j, eps)
            err_do = max(err_do, abs(fused[j] - numeric))
            chain = sum(y[i] * ((1.0 if i == j else 0.0) - y[j]) * (-1.0 / y[c] if i == c
                                                                    else 0.0)
                        for i in range(n_classes))
            err_chain = max(err_chain, abs(chain - fused[j]))
    # Q2: why the fused form: logits far apart make y_c underflow to 0
    o = [0.0, 800.0]
    y = softmax(o)
    unfused = math.inf if y[0] == 0.0 else -math.log(y[0])
    fused_loss = cross_entropy_from_logits(o, 0)
    return {
        "cases": n_cases, "classes": n_classes, "eps": eps, "seed": seed,
        "softmax_jacobian_max_abs_error": err_jac,
        "dl_dy_max_rel_error": err_dy,
        "dl_do_max_abs_error": err_do,
        "chain_rule_vs_fused_max_abs_error": err_chain,
        "stability_case": {"logits": o, "target": 0, "softmax": y,
                           "unfused_loss": None if math.isinf(unfused) else unfused,
                           "unfused_is_inf": math.isinf(unfused),
                           "fused_loss": fused_loss},
    }


# ---------------------------------------------------------------------------
# Q3


def _q3_pass(W) -> dict[str, Any]:
    r = scalar.worked_pass(Q3_X, W, Q3_B, Q3_V, Q3_C, Q3_TARGET)
    return {key: r[key] for key in ("k", "h", "o", "y", "loss", "dW", "db", "dV", "dc", "dh",
                                    "do")}


def worked_example() -> dict[str, Any]:
    """The Q3 network through the scalar engine, compared with docs/study.md's values,
    plus the pass with the mistyped weights that gives the original's ``dV`` row.

    Returns
    -------
    dict
        ``inputs``, ``result`` (the pass: ``h``, ``loss``, ``dV``, ``dc``, ``dW``,
        ``db``, ...), ``expected``, ``max_abs_error_vs_spec``, ``matches_spec``
        (error below 1e-12), ``original_dV_row3`` and ``mistyped`` (the weights,
        their pass and whether it reproduces the original's row).

    Examples
    --------
    >>> w = worked_example()
    >>> w["matches_spec"], w["mistyped"]["reproduces_original"]
    (True, True)
    """
    right = _q3_pass(Q3_W)
    wrong = _q3_pass(_Q3_W_MISTYPED)
    exp = _Q3_EXPECTED
    err = max([abs(v - exp["h"]) for v in right["h"]] + [abs(right["loss"] - exp["loss"])]
              + [abs(a - b) for row in right["dV"] for a, b in zip(row, exp["dV_row"])]
              + [abs(a - b) for a, b in zip(right["dc"], exp["dc"])]
              + [abs(v) for row in right["dW"] for v in row] + [abs(v) for v in right["db"]])
    return {
        "inputs": {"x": Q3_X, "target": Q3_TARGET, "W": Q3_W, "b": Q3_B, "V": Q3_V, "c": Q3_C},
        "result": right,
        "expected": exp,
        "max_abs_error_vs_spec": err,
        "matches_spec": err < 1e-12,
        "original_dV_row3": _Q3_ORIGINAL_DV_ROW3,
        "mistyped": {"W": _Q3_W_MISTYPED, "result": wrong,
                     "dV_row3": wrong["dV"][2],
                     "reproduces_original": abs(abs(wrong["dV"][2][0]) - _Q3_ORIGINAL_DV_ROW3)
                     < 5e-5},
    }


# ---------------------------------------------------------------------------
# Q5, Q6


def engine_checks(seed: int = 0) -> dict[str, Any]:
    """Both engines' finite-difference checks, and the tensor engine's gradients
    (float64) against the scalar engine's on the same weights: the Q3 network and
    a random non-symmetric 2-4-3 network.

    Parameters
    ----------
    seed : int, default 0
        Seed of the finite-difference checks and of the random network.

    Returns
    -------
    dict
        ``gradcheck``: per engine ``passed``, ``max_rel_error``, ``tol``, ``eps``,
        ``shapes``, ``n_checked``; ``scalar_vs_tensor_max_abs_diff``: per network,
        the largest absolute difference over every weight and bias gradient.
    """

    out: dict[str, Any] = {"gradcheck": {}}
    for result in gradcheck.run_checks("both", seed=seed):
        d = result.to_dict()
        out["gradcheck"][result.engine] = {
            "passed": d["passed"], "max_rel_error": d["max_rel_error"], "tol": d["tol"],
            "eps": d["eps"], "shapes": [s["sizes"] for s in d["shapes"]],
            "n_checked": sum(s["n_checked"] for s in d["shapes"])}

    rng = random.Random(seed)
    cases = {"Q3 network": (scalar.MLP.from_weights([Q3_W, Q3_V], [Q3_B, Q3_C]), Q3_X,
                            Q3_TARGET)}
    net = scalar.MLP([2, 4, 3], seed=seed, init_std=1.0)
    for b in net.biases:
        b[:] = [rng.gauss(0.0, 0.5) for _ in b]
    cases["random 2-4-3 network"] = (net, [0.7, -1.3], 2)
    agreement = {}
    for name, (snet, x, c) in cases.items():
        grads = snet.backward(snet.forward(x, c)).to_dict()
        tnet = MLP(snet.sizes, activation="sigmoid", dtype="float64", seed=0)
        tnet.set_params({k: np.asarray(v, dtype=np.float64) for k, v in snet.to_dict().items()})
        tnet.loss_and_grads(np.asarray([x], dtype=np.float64), np.asarray([c]))
        diff = max(float(np.max(np.abs(np.asarray(grads[k]) - np.asarray(tnet.grads[k]))))
                   for k in grads)
        agreement[name] = diff
    out["scalar_vs_tensor_max_abs_diff"] = agreement
    return out


def vectorization_timing(batch: int = 256, sizes=(784, 300, 10), repeats: int = 5,
                         scalar_examples: int = 2, seed: int = 0) -> dict[str, Any]:
    """Forward + backward time per example on the study's 784-300-10 network.

    The tensor engine on a whole batch in one call, the tensor engine one example
    at a time, and the scalar engine (pure Python) one example at a time. Best of
    ``repeats``; random inputs in [0, 1], float32 for the tensor engine. BLAS is
    limited to one thread (a fair comparison with the one-example calls, and
    stable on a busy machine).

    Parameters
    ----------
    batch : int, default 256
    sizes : sequence of int, default (784, 300, 10)
    repeats : int, default 5
        Timings of the tensor engine; the best counts.
    scalar_examples : int, default 2
        Examples timed once through the scalar engine.
    seed : int, default 0

    Returns
    -------
    dict
        ``seconds_per_example`` (``tensor_batched``, ``tensor_one_by_one``,
        ``scalar_one_by_one``), the two speed-ups of the batched call, and the
        settings.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _vectorization_timing(batch, sizes, repeats, scalar_examples, seed)


def _vectorization_timing(batch, sizes, repeats, scalar_examples, seed) -> dict[str, Any]:

    rng = np.random.default_rng(seed)
    X = rng.random((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch)
    model = MLP(list(sizes), dtype="float32", seed=seed)

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    batched = best(lambda: model.loss_and_grads(X, y)) / batch
    one = best(lambda: [model.loss_and_grads(X[i:i + 1], y[i:i + 1])
                        for i in range(batch)]) / batch
    snet = scalar.MLP(list(sizes), seed=seed, init_std=0.1)
    xs = X[:scalar_examples].astype(np.float64).tolist()
    t0 = time.perf_counter()
    for i in range(scalar_examples):
        snet.backward(snet.forward(xs[i], int(y[i])))
    scal = (time.perf_counter() - t0) / scalar_examples
    return {"sizes": list(sizes), "batch": batch, "dtype": "float32", "threads": 1,
            "repeats": repeats,
            "seconds_per_example": {"tensor_batched": batched, "tensor_one_by_one": one,
                                    "scalar_one_by_one": scal},
            "speedup_batched_vs_one_by_one": one / batched if batched > 0 else None,
            "speedup_batched_vs_scalar": scal / batched if batched > 0 else None}


# ---------------------------------------------------------------------------
# Q4: normalization


def normalization_demo(run_dir: str | Path) -> dict[str, Any]:
    """Evaluate a finished ``synth`` run's model on the validation split scaled four ways.

    With the training split's statistics (right), with the validation split's own
    statistics (per-split scaling), min/max-scaled to [0, 1] by its own range (the
    original's scaling, while the network was trained on standardized inputs), and
    unscaled.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A finished ``synth`` run with a saved model and a normalizer.

    Returns
    -------
    dict
        ``accuracy`` (variant -> validation accuracy), ``majority_class_rate``,
        ``minority_class_rate``, ``train_normalization`` and ``run``.
    """

    run = RunFolder(run_dir)
    model = run.load_model()
    data = run_dataset(run)
    _, _, X_val, y_val = synth.generate(seed=run.config.get("data_seed", 0))
    mode = data.normalizer.mode if data.normalizer is not None else "none"

    def acc(X) -> float:
        return float(np.mean(model.predict(np.asarray(X, dtype=model.dtype)) == y_val))

    variants = {
        "training statistics (correct)": data.normalizer.transform(X_val, np.float64),
        f"validation split's own statistics ({mode})":
            Normalizer(mode).fit(X_val).transform(X_val, np.float64),
        "validation min/max-scaled to [0, 1] by its own range":
            Normalizer("unit").fit(X_val).transform(X_val, np.float64),
        "unscaled": X_val,
    }
    majority = float(max(np.mean(y_val), 1 - np.mean(y_val)))
    return {"run": str(run.path), "train_normalization": mode,
            "accuracy": {k: acc(v) for k, v in variants.items()},
            "majority_class_rate": majority, "minority_class_rate": 1.0 - majority}


# ---------------------------------------------------------------------------
# unscaled pixels: saturation


def _phi_tail(z: np.ndarray) -> np.ndarray:
    """P(|N(0,1)| > z), elementwise."""
    from math import erfc

    return np.array([erfc(v / math.sqrt(2.0)) for v in np.ravel(z)]).reshape(np.shape(z))


def saturation(run_dir: str | Path, max_examples: int = 2000) -> dict[str, Any]:
    """How saturated the first hidden layer's sigmoid units are for a finished image
    run, on (up to ``max_examples`` of) its evaluation split.

    A unit counts as saturated where ``|k| > ln(99)`` (its output beyond 0.01 or
    0.99). At initialization (normal weights with std ``s``, zero biases) a unit's
    pre-activation for input ``x`` is N(0, (s |x|)^2), so the expected fraction of
    saturated units is the mean over inputs of P(|N(0,1)| > ln(99) / (s |x|)),
    computed exactly from the data. After training it is counted from the saved
    weights.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A finished image run with a saved model.
    max_examples : int, default 2000

    Returns
    -------
    dict
        ``saturated_at_init``, ``saturated_after_training``, ``input_range``,
        ``mean_input_norm``, ``examples``, ``eval_accuracy``, ``normalize``, ``run``
        and ``weight_change``: for a run with ``inspect.npz``, how far the kept
        first-layer units moved, ``||W_last - W_init|| / ||W_init||`` (Frobenius
        norms); ``None`` without the snapshots.
    """

    run = RunFolder(run_dir)
    data = run_dataset(run)
    X = np.asarray(data.X_eval[:max_examples], dtype=np.float64)
    std = run.config.get("init_std") or 0.1
    norms = np.linalg.norm(X, axis=1)
    with np.errstate(divide="ignore"):
        z = np.where(norms > 0, _SATURATION_K / (std * norms), np.inf)
    at_init = float(np.mean(_phi_tail(z)))
    model = run.load_model()
    W1 = np.asarray(model.params["W1"], dtype=np.float64)
    b1 = np.asarray(model.params["b1"], dtype=np.float64)
    k = X @ W1 + b1
    trained = float(np.mean(np.abs(k) > _SATURATION_K))
    return {"run": str(run.path), "normalize": run.config.get("normalize"),
            "input_range": [float(X.min()), float(X.max())],
            "mean_input_norm": float(norms.mean()),
            "saturated_at_init": at_init, "saturated_after_training": trained,
            "examples": len(X), "weight_change": _weight_change(run),
            "eval_accuracy": (run.summary or {}).get("eval_accuracy")}


def _weight_change(run: RunFolder) -> float | None:
    """``||W_last - W_init|| / ||W_init||`` of the first-layer units kept in the
    run's ``inspect.npz`` (``None`` when the run has no snapshots)."""
    snaps = run.arrays(INSPECT)
    if snaps is None:
        return None
    w0 = snaps["weights_init"].astype(np.float64)
    w1 = snaps["weights_last"].astype(np.float64)
    return float(np.linalg.norm(w1 - w0) / max(np.linalg.norm(w0), 1e-300))


__all__ = [
    "derivative_checks",
    "engine_checks",
    "normalization_demo",
    "saturation",
    "vectorization_timing",
    "worked_example",
]
