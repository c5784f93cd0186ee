"""Finite-difference gradient checks for the engines.

Each engine has a check function in :data:`CHECKS` (engine name -> function).
A check builds random networks of several shapes, compares every analytic
gradient with a central finite difference

    numeric = (l(p + eps) - l(p - eps)) / (2 eps)

and returns a :class:`CheckResult` holding, per shape, the largest relative
error (:func:`relative_error`) and whether it stayed within ``tol``.

All check functions take the same keyword arguments, ``seed``, ``eps``, ``tol``
and ``shapes`` (``None`` means the engine's default), so that the command line
(``backproplab gradcheck --engine scalar|tensor|both``) can call any of them.
To add an engine, define ``check_<engine>(*, seed=0, eps=None, tol=None,
shapes=None) -> CheckResult`` here and register it in :data:`CHECKS`.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from backproplab import scalar
from backproplab.errors import BackproplabError
from backproplab.scalar import affine, cross_entropy_from_logits, labelled_entries, sigmoid
from backproplab.tensor import ACTIVATIONS, MLP

#: Relative errors are measured against ``max(|analytic|, |numeric|, REL_FLOOR)``,
#: so that gradients that are (almost) zero are compared absolutely instead of
#: amplifying the finite difference's rounding noise (about 1e-11 at eps=1e-5).
REL_FLOOR = 1e-4

#: Scalar engine defaults (float64). With eps=1e-5 the largest error over 200
#: seeds of the default shapes was 6.7e-7 (truncation error of the central
#: difference where a gradient is small); a faulty backward pass gives errors of
#: order 1, so tol=1e-5 separates the two by orders of magnitude.
SCALAR_EPS = 1e-5
SCALAR_TOL = 1e-5
#: Layer sizes of the random scalar networks (input, hidden..., output).
SCALAR_SHAPES = ((2, 3, 2), (2, 4, 3, 2), (3, 5, 4), (1, 2, 2), (4, 3, 5, 3))


def relative_error(analytic: float, numeric: float, floor: float = REL_FLOOR) -> float:
    """``|analytic - numeric| / max(|analytic|, |numeric|, floor)``.

    Parameters
    ----------
    analytic, numeric : float
        The two values of one gradient entry.
    floor : float, default REL_FLOOR
        Below this magnitude the error is in effect absolute.

    Returns
    -------
    float

    Examples
    --------
    >>> relative_error(2.0, 1.0), relative_error(0.0, 5e-5)
    (0.5, 0.5)
    """
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)


@dataclass
class ShapeCheck:
    """The outcome for one network shape (all of its targets and quantities).

    Attributes
    ----------
    sizes : tuple of int
        Layer widths of the checked network.
    targets : tuple of int
        The target classes checked.
    max_rel_error : float
        The largest relative error (:func:`relative_error`) over every entry.
    worst : str
        Which gradient entry had it, e.g. ``"dW2[1][0] (target 1)"``.
    n_checked : int
        The number of gradient entries compared.
    passed : bool
        Whether ``max_rel_error`` is within the tolerance.
    """

    sizes: tuple[int, ...]
    targets: tuple[int, ...]
    max_rel_error: float
    worst: str  #: which gradient entry had the largest error, e.g. "dW2[1][0] (target 1)"
    n_checked: int
    passed: bool

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "sizes": list(self.sizes), "targets": list(self.targets),
            "max_rel_error": self.max_rel_error, "worst": self.worst,
            "n_checked": self.n_checked, "passed": self.passed,
        }


@dataclass
class CheckResult:
    """The outcome of one engine's check over several shapes.

    Attributes
    ----------
    engine : str
        ``"scalar"`` or ``"tensor"``.
    eps, tol : float
        The finite-difference step and the tolerance used.
    seed : int
    shapes : list of ShapeCheck
        One per network shape; :attr:`max_rel_error` and :attr:`passed` sum them up.
    """

    engine: str
    eps: float
    tol: float
    seed: int
    shapes: list[ShapeCheck] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over all shapes."""
        return max((s.max_rel_error for s in self.shapes), default=0.0)

    @property
    def passed(self) -> bool:
        """True when every shape passed (and at least one was checked)."""
        return bool(self.shapes) and all(s.passed for s in self.shapes)

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "engine": self.engine, "eps": self.eps, "tol": self.tol, "seed": self.seed,
            "max_rel_error": self.max_rel_error, "passed": self.passed,
            "shapes": [s.to_dict() for s in self.shapes],
        }


# ---------------------------------------------------------------------------
# scalar engine


def _scalar_loss_from(model, layer: int, a: list[float], target: int) -> float:
    """The loss when layer ``layer``'s *input* is ``a`` (run the rest of the network)."""
    last = len(model.weights) - 1
    for l in range(layer, last):
        a = [sigmoid(v) for v in affine(a, model.weights[l], model.biases[l])]
    return cross_entropy_from_logits(affine(a, model.weights[last], model.biases[last]), target)


def _scalar_loss_from_k(model, layer: int, k: list[float], target: int) -> float:
    """The loss when hidden layer ``layer - 1``'s pre-activation is ``k``."""
    return _scalar_loss_from(model, layer, [sigmoid(v) for v in k], target)


def _central(f: Callable[[], float], vec: list[float], i: int, eps: float) -> float:
    """Central difference of ``f()`` in ``vec[i]``; ``vec[i]`` is restored exactly."""
    old = vec[i]
    vec[i] = old + eps
    up = f()
    vec[i] = old - eps
    down = f()
    vec[i] = old
    return (up - down) / (2.0 * eps)


def scalar_numeric_gradients(model, x: list[float], target: int, eps: float) -> dict:
    """Central finite differences of the loss for every parameter and intermediate.

    An intermediate (``k``, ``h``, ``o``) is perturbed by rerunning the network
    from that point on, with everything before it held fixed.

    Parameters
    ----------
    model : backproplab.scalar.MLP
    x : list of float
        One input.
    target : int
        Its class.
    eps : float
        The step of ``(l(p + eps) - l(p - eps)) / (2 eps)``.

    Returns
    -------
    dict
        ``{"dW", "db", "dk", "dh", "do", "dx"}`` in the layout of
        :class:`backproplab.scalar.Gradients`.
    """
    x = list(x)
    trace = model.forward(x, target)
    loss = functools.partial(model.loss, x, target)
    out = {
        "dW": [[[_central(loss, row, j, eps) for j in range(len(row))] for row in W]
               for W in model.weights],
        "db": [[_central(loss, b, j, eps) for j in range(len(b))] for b in model.biases],
        "dx": [_central(loss, x, i, eps) for i in range(len(x))],
        "dh": [], "dk": [],
    }
    for l in range(len(model.weights) - 1):
        h, k = list(trace.h[l]), list(trace.k[l])
        from_h = functools.partial(_scalar_loss_from, model, l + 1, h, target)
        from_k = functools.partial(_scalar_loss_from_k, model, l + 1, k, target)
        out["dh"].append([_central(from_h, h, j, eps) for j in range(len(h))])
        out["dk"].append([_central(from_k, k, j, eps) for j in range(len(k))])
    o = list(trace.o)
    from_o = functools.partial(cross_entropy_from_logits, o, target)
    out["do"] = [_central(from_o, o, j, eps) for j in range(len(o))]
    return out


def _scalar_pairs(grads, numeric: dict):
    """``(label, analytic, numeric)`` for every checked gradient entry."""
    for l, (gW, nW) in enumerate(zip(grads.dW, numeric["dW"]), start=1):
        yield from _zip_labeled(f"dW{l}", gW, nW)
    for l, (gb, nb) in enumerate(zip(grads.db, numeric["db"]), start=1):
        yield from _zip_labeled(f"db{l}", gb, nb)
    for l, (a, n) in enumerate(zip(grads.dk, numeric["dk"]), start=1):
        yield from _zip_labeled(f"dk{l}", a, n)
    for l, (a, n) in enumerate(zip(grads.dh, numeric["dh"]), start=1):
        yield from _zip_labeled(f"dh{l}", a, n)
    yield from _zip_labeled("do", grads.do, numeric["do"])
    yield from _zip_labeled("dx", grads.dx, numeric["dx"])


def _zip_labeled(name: str, analytic, numeric):
    a_items, n_items = list(labelled_entries(name, analytic)), list(labelled_entries(name, numeric))
    if len(a_items) != len(n_items):
        raise ValueError(f"{name}: analytic and numeric gradients differ in shape")
    for (label, a), (_, n) in zip(a_items, n_items):
        yield label, a, n


def check_scalar(
    *, seed: int = 0, eps: float | None = None, tol: float | None = None,
    shapes=None, backward: Callable | None = None,
) -> CheckResult:
    """Check the scalar engine's backward pass against central finite differences.

    For every shape a random network (weights N(0, 1), biases N(0, 0.5^2), from
    ``random.Random`` seeded by ``seed`` and the shape) is checked on one random
    input per target class: the gradients of every weight, bias, pre-activation
    ``k``, activation ``h``, logit and input entry.

    Parameters
    ----------
    seed : int, default 0
        >= 0.
    eps, tol : float, optional
        Default :data:`SCALAR_EPS` and :data:`SCALAR_TOL`; both > 0.
    shapes : sequence of sequence of int, optional
        Default :data:`SCALAR_SHAPES`.
    backward : callable, optional
        ``backward(model, trace) -> Gradients`` replaces ``model.backward`` (to show
        that a faulty backward pass is caught).

    Returns
    -------
    CheckResult

    Raises
    ------
    BackproplabError
        For a negative seed or a non-positive ``eps`` or ``tol``.

    Examples
    --------
    >>> check_scalar(shapes=[(2, 3, 2)]).passed
    True
    """
    result = _new_result("scalar", seed, eps, tol, SCALAR_EPS, SCALAR_TOL)
    eps = result.eps
    for sizes in shapes or SCALAR_SHAPES:
        sizes = tuple(int(s) for s in sizes)
        rng = random.Random(f"gradcheck-scalar-{seed}-{sizes}")
        model = scalar.MLP(sizes, rng=rng, init_std=1.0)
        for b in model.biases:
            b[:] = [rng.gauss(0.0, 0.5) for _ in b]
        worst = _Worst()
        targets = tuple(range(sizes[-1]))
        for c in targets:
            x = [rng.gauss(0.0, 1.0) for _ in range(sizes[0])]
            trace = model.forward(x, c)
            grads = backward(model, trace) if backward else model.backward(trace)
            numeric = scalar_numeric_gradients(model, x, c, eps)
            for label, a, num in _scalar_pairs(grads, numeric):
                if worst.add(a, num):
                    worst.label = f"{label} (target {c})"
        result.shapes.append(worst.shape_check(sizes, targets, result.tol))
    return result


class _Worst:
    """The largest relative error seen so far, where, and how many entries were compared."""

    def __init__(self):
        self.err, self.label, self.n = 0.0, "", 0

    def add(self, analytic: float, numeric: float) -> bool:
        """Compare one entry; True when it is the new worst (the caller then sets ``label``).

        A NaN error counts as infinite, so that it is never passed over.
        """
        err = relative_error(analytic, numeric)
        if not math.isfinite(err):
            err = math.inf
        self.n += 1
        if err > self.err or self.n == 1:
            self.err = err
            return True
        return False

    def shape_check(self, sizes, targets, tol: float) -> ShapeCheck:
        return ShapeCheck(sizes, targets, self.err, self.label, self.n, self.err <= tol)


def _new_result(engine: str, seed, eps, tol, default_eps: float,
                default_tol: float) -> CheckResult:
    """An empty :class:`CheckResult` with the engine's defaults filled in, after
    checking ``seed``, ``eps`` and ``tol``."""
    eps = default_eps if eps is None else float(eps)
    tol = default_tol if tol is None else float(tol)
    _validate_eps_tol(eps, tol)
    _validate_seed(seed)
    return CheckResult(engine, eps, tol, seed)


def _validate_seed(seed) -> None:
    # NumPy's generators (the tensor check) refuse negative seeds; the scalar check follows
    if isinstance(seed, bool) or not hasattr(seed, "__index__") or seed.__index__() < 0:
        raise BackproplabError(f"--seed must be an integer >= 0, got {seed!r}")


def _validate_eps_tol(eps: float, tol: float) -> None:
    if not (math.isfinite(eps) and eps > 0):
        raise BackproplabError(f"--eps must be a positive number, got {eps}")
    if not (math.isfinite(tol) and tol > 0):
        raise BackproplabError(f"--tol must be a positive number, got {tol}")


# ---------------------------------------------------------------------------
# tensor engine

#: Tensor engine defaults (float64, central differences on the batch's mean loss).
#: eps=1e-6 puts the difference's rounding noise (about 1e-10 absolute) at the
#: 1e-6 level for gradients under REL_FLOOR; eps=1e-5 balances rounding and
#: truncation, and the largest error over seeds 0-60 stayed below 1e-6 by a
#: factor of about 3. A faulty backward pass gives errors of order 1.
TENSOR_EPS = 1e-5
TENSOR_TOL = 1e-6
#: Layer sizes of the random tensor networks; each is checked with every activation.
TENSOR_SHAPES = ((2, 3, 2), (3, 5, 4), (4, 6, 5, 3), (5, 4, 3, 4, 2))
#: Batch sizes of the random tensor checks (1: one example; 7: a batch, mean loss).
TENSOR_BATCHES = (1, 7)


def tensor_numeric_gradients(model, X, y, eps: float) -> dict:
    """Central finite differences of ``model.loss(X, y)`` for every parameter, by name.

    Parameters
    ----------
    model : backproplab.tensor.MLP
        Best in float64; its parameters are perturbed in place and restored.
    X : ndarray, shape (n, n_features)
    y : ndarray of int, shape (n,)
    eps : float
        The step.

    Returns
    -------
    dict of str to ndarray
        Shaped like ``model.params``.
    """
    out = {}
    for name, p in model.params.items():
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = model.loss(X, y, check=False)
            p[idx] = old - eps
            down = model.loss(X, y, check=False)
            p[idx] = old
            num[idx] = (up - down) / (2.0 * eps)
        out[name] = num
    return out


def check_tensor(
    *, seed: int = 0, eps: float | None = None, tol: float | None = None,
    shapes=None, activations=None, batch_sizes=None,
) -> CheckResult:
    """Check the tensor engine's backward pass (float64) against central finite differences.

    For every shape and every activation a random network (Glorot-normal weights,
    biases N(0, 0.5^2)) is checked on random batches of each size: the gradient of
    the batch's mean loss with respect to every weight and bias.

    Parameters
    ----------
    seed : int, default 0
        >= 0.
    eps, tol : float, optional
        Default :data:`TENSOR_EPS` and :data:`TENSOR_TOL`; both > 0.
    shapes : sequence of sequence of int, optional
        Default :data:`TENSOR_SHAPES`.
    activations : sequence of str, optional
        Default: all of :data:`backproplab.tensor.ACTIVATIONS`.
    batch_sizes : sequence of int, optional
        Default :data:`TENSOR_BATCHES` (1 and 7).

    Returns
    -------
    CheckResult

    Raises
    ------
    BackproplabError
        For a negative seed or a non-positive ``eps`` or ``tol``.

    Examples
    --------
    >>> check_tensor(shapes=[(2, 3, 2)], activations=["tanh"], batch_sizes=[2]).passed
    True
    """
    result = _new_result("tensor", seed, eps, tol, TENSOR_EPS, TENSOR_TOL)
    eps = result.eps
    for sizes in shapes or TENSOR_SHAPES:
        sizes = tuple(int(s) for s in sizes)
        for act in activations or tuple(ACTIVATIONS):
            rng = np.random.default_rng([seed, *sizes, sorted(ACTIVATIONS).index(act)])
            model = MLP(sizes, activation=act, init="glorot-normal", dtype="float64", rng=rng)
            for b in model.params.values():
                if b.ndim == 1:
                    b[...] = rng.normal(0.0, 0.5, size=b.shape)
            worst, targets = _Worst(), set()
            for batch in batch_sizes or TENSOR_BATCHES:
                X = rng.normal(size=(batch, sizes[0]))
                y = rng.integers(0, sizes[-1], size=batch)
                targets.update(int(c) for c in y)
                model.loss_and_grads(X, y)
                analytic = {k: v.copy() for k, v in model.grads.items()}
                numeric = tensor_numeric_gradients(model, X, y, eps)
                for name, a in analytic.items():
                    for idx in np.ndindex(a.shape):
                        if worst.add(float(a[idx]), float(numeric[name][idx])):
                            where = ",".join(str(i) for i in idx)
                            worst.label = f"d{name}[{where}] ({act}, batch {batch})"
            result.shapes.append(worst.shape_check(sizes, tuple(sorted(targets)), result.tol))
    return result


#: Engine name -> check function: every engine has one (``both`` = all of them).
CHECKS: dict[str, Callable[..., CheckResult]] = {"scalar": check_scalar, "tensor": check_tensor}


def _get_check(engine: str) -> Callable[..., CheckResult]:
    """The check function of ``engine``; ``BackproplabError`` if it is unknown."""
    if engine not in CHECKS:
        raise BackproplabError(
            f"unknown engine {engine!r}; choose one of {', '.join(CHECKS)} or both"
        )
    return CHECKS[engine]


def run_checks(engines, *, seed: int = 0, eps: float | None = None,
               tol: float | None = None) -> list[CheckResult]:
    """Run the checks of ``engines`` and return their results.

    Parameters
    ----------
    engines : str or sequence of str
        ``"scalar"``, ``"tensor"``, ``"both"``, or a sequence of engine names.
    seed : int, default 0
    eps, tol : float, optional
        Each engine's default where ``None``.

    Returns
    -------
    list of CheckResult
        One per engine, in order.

    Raises
    ------
    BackproplabError
        For an unknown engine or a bad setting, before any check runs.
    """
    if isinstance(engines, str):
        engines = tuple(CHECKS) if engines == "both" else (engines,)
    checks = [(name, _get_check(name)) for name in engines]  # fail before any work
    _validate_seed(seed)
    return [check(seed=seed, eps=eps, tol=tol) for _, check in checks]


__all__ = ["CHECKS", "REL_FLOOR", "SCALAR_EPS", "SCALAR_SHAPES", "SCALAR_TOL",
           "TENSOR_BATCHES", "TENSOR_EPS", "TENSOR_SHAPES", "TENSOR_TOL", "CheckResult",
           "ShapeCheck", "check_scalar", "check_tensor", "relative_error", "run_checks",
           "scalar_numeric_gradients", "tensor_numeric_gradients"]
