"""Known backprop mistakes, recognised by what they would give.

Each diagnosis in :data:`DIAGNOSES` (keyed by a stable id, the one ``--json``
prints) says, for one wrong quantity and its observations over every probe,
whether the mistake explains it. Most do so by computing, from the scalar
engine's values of each example, what the mistaken formula gives, and checking
that the learner's values equal that on every probe (and differ from the right
ones on at least one). What no known mistake explains is named by
``first-difference``: the first wrong quantity in the order of the computation,
where the learner should start looking.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backproplab.check.compare import (
    AXES,
    QUANTITIES,
    Observation,
    QuantityResult,
    close,
    flat,
    mean_of,
)
from backproplab.check.probes import LARGE_LOGITS
from backproplab.scalar import matvec, outer

#: The id of the finding that names the first wrong quantity no known mistake explains.
FIRST_DIFFERENCE = "first-difference"
#: The gradients of one example, in the order the backward pass computes them.
GRADIENTS = ("do", "dc", "dV", "dh", "dk", "db", "dW")

Example = dict[str, Any]


@dataclass(frozen=True)
class Diagnosis:
    """A known mistake.

    Attributes
    ----------
    id : str
        The stable id (``sigmoid-derivative-at-preactivation``, ...).
    explains : callable
        ``explains(quantity, observations) -> bool``.
    message : callable
        ``message(quantities, results) -> str``: one sentence naming the
        quantities it explains and the fix.
    """

    id: str
    explains: Callable[[str, list[Observation]], bool]
    message: Callable[[list[str], dict[str, QuantityResult]], str]


@dataclass(frozen=True)
class Finding:
    """A diagnosis that fits a learner's results.

    Attributes
    ----------
    id : str
        The diagnosis's id (or :data:`FIRST_DIFFERENCE`).
    quantities : list of str
        The wrong quantities it explains, in the order of the computation.
    message : str
        One sentence for the learner.
    """

    id: str
    quantities: list[str]
    message: str

    def to_dict(self) -> dict:
        """JSON-ready ``{"id", "quantities", "message"}``."""
        return {"id": self.id, "quantities": self.quantities, "message": self.message}


# ---------------------------------------------------------------------------
# what the mistakes give, one example at a time


def _neg(v: Any) -> Any:
    return [_neg(e) for e in v] if isinstance(v, list) else -v


def _hidden_back(e: Example, dh: list[float], derivative: str = "h") -> Example:
    """``dh`` carried on to ``dk, db, dW`` with the sigmoid's derivative taken at ``derivative``."""
    if derivative == "none":
        dk = list(dh)
    else:
        z = e[derivative]
        dk = [g * v * (1.0 - v) for g, v in zip(dh, z)]
    return {"dh": dh, "dk": dk, "db": dk, "dW": outer(e["x"], dk)}


def _at_preactivation(e: Example) -> Example:
    return _hidden_back(e, e["dh"], "k")


def _no_sigmoid_derivative(e: Example) -> Example:
    return _hidden_back(e, e["dh"], "none")


def _sign_flipped(e: Example) -> Example:
    return {q: _neg(e[q]) for q in GRADIENTS}


def _target_class_only(e: Example) -> Example:
    t, do = e["target"], e["do"]
    return _hidden_back(e, [row[t] * do[t] for row in e["V"]])


def _target_not_subtracted(e: Example) -> Example:
    y = e["y"]
    return {"do": y, "dc": y, "dV": outer(e["h"], y), **_hidden_back(e, matvec(e["V"], y))}


def _preactivation_as_input(e: Example) -> Example:
    return {"dV": outer(e["k"], e["do"])}


def _by_prediction(mistake: Callable[[Example], Example]) -> Callable[..., bool]:
    """``explains`` for a mistake given as ``mistake(example) -> {quantity: value}``.

    In each function that gets the quantity wrong, the learner's value must equal
    the mistaken one (the batch mean of it for ``backward_batch``) on every probe;
    a function right on every probe (``backward`` beside a wrong
    ``backward_batch``) does not make that mistake. At least one value differs
    from the right one.
    """

    def explains(q: str, observations: list[Observation]) -> bool:
        wrong = {o.function for o in observations if not o.ok}
        for o in (o for o in observations if o.function in wrong):
            predicted = [mistake(e) for e in o.probe.examples]
            if o.transposed or o.failed or any(q not in p for p in predicted):
                return False
            if not close(o.mine, mean_of([p[q] for p in predicted])):
                return False
        return bool(wrong)

    return explains


def _summed(q: str, observations: list[Observation]) -> bool:
    batch = [o for o in observations if o.function == "backward_batch"]
    if not batch or any(not o.ok for o in observations if o not in batch):
        return False
    n = [len(o.probe.examples) for o in batch]
    return all(not o.transposed and close(o.mine, _scaled(o.ref, k)) and not o.ok
               for o, k in zip(batch, n))


def _scaled(v: Any, k: float) -> Any:
    return [_scaled(e, k) for e in v] if isinstance(v, list) else v * k


def _overflow(q: str, observations: list[Observation]) -> bool:
    wrong = [o for o in observations if not o.ok]
    return bool(wrong) and all(
        o.probe.name == LARGE_LOGITS and not o.transposed
        and (o.failed or not all(math.isfinite(v) for v in flat(o.mine)))
        and all(math.isfinite(v) for v in flat(o.ref)) for o in wrong)


def _transposed(q: str, observations: list[Observation]) -> bool:
    wrong = [o for o in observations if not o.ok]
    return bool(wrong) and all(o.transposed for o in wrong)


# ---------------------------------------------------------------------------
# the sentences


def _names(qs: list[str]) -> str:
    return qs[0] if len(qs) == 1 else ", ".join(qs[:-1]) + " and " + qs[-1]


def _transposed_message(qs: list[str], results: dict[str, QuantityResult]) -> str:
    right = all(close(o.mine, o.ref) for q in qs for o in results[q].observations)
    swapped = [" x ".join(reversed(AXES[q].split(" x "))) + f" instead of {AXES[q]}" for q in qs]
    axes = swapped[0] if len(qs) == 1 else ", ".join(f"{q} {a}" for q, a in zip(qs, swapped))
    verb = "comes" if len(qs) == 1 else "come"
    return (f"{_names(qs)} {verb} transposed ({axes}): each gradient must have its parameter's "
            "shape" + (", and once transposed the values are right." if right else "."))


def _overflow_message(qs: list[str], results: dict[str, QuantityResult]) -> str:
    failed = sorted({f"{o.function}() raised {o.failed}" for q in qs
                     for o in results[q].observations if o.failed})
    what = f"{_names(qs)} {'is' if len(qs) == 1 else 'are'} nan or inf"
    if failed:
        what = "; ".join(failed) + f" instead of returning {_names(qs)}"
    return (f"{what} at logits of order 1,000, where the exact values are finite: subtract "
            "max(o) before exp, and compute the loss as log(sum(exp(o - max o))) - (o_t - max o).")


def _text(sentence: str) -> Callable[[list[str], dict[str, QuantityResult]], str]:
    def message(qs: list[str], results: dict[str, QuantityResult]) -> str:
        one = len(qs) == 1
        return sentence.format(q=_names(qs), are="is" if one else "are",
                               match="matches" if one else "match",
                               have="has" if one else "have")

    return message


#: The known mistakes, by id, in the order they are tried.
DIAGNOSES: dict[str, Diagnosis] = {d.id: d for d in (
    Diagnosis("sigmoid-derivative-at-preactivation", _by_prediction(_at_preactivation), _text(
        "{q} {match} the sigmoid's derivative evaluated at the pre-activation, k(1 - k), "
        "instead of at its output, h(1 - h) (the original write-up's mistake): use "
        "dk = dh * h * (1 - h).")),
    Diagnosis("missing-sigmoid-derivative", _by_prediction(_no_sigmoid_derivative), _text(
        "{q} {match} dk = dh, without the sigmoid's derivative: multiply by h * (1 - h).")),
    Diagnosis("sign-flipped", _by_prediction(_sign_flipped), _text(
        "{q} {have} the opposite sign (as from onehot(t) - y instead of y - onehot(t)): "
        "they are gradients of the loss, not of its negative.")),
    Diagnosis("target-class-only", _by_prediction(_target_class_only), _text(
        "{q} {match} carrying only the target class's dl/do back to the hidden layer (the "
        "write-up's Q2 claim): every class's dl/do_k = y_k - onehot(t)_k reaches h, so "
        "dh = V dl/do over all k.")),
    Diagnosis("target-not-subtracted", _by_prediction(_target_not_subtracted), _text(
        "{q} {match} dl/do = y instead of y - onehot(t): subtract 1 at the target class.")),
    Diagnosis("preactivation-as-layer-input", _by_prediction(_preactivation_as_input), _text(
        "{q} {match} using the pre-activation k as the output layer's input: dV = h (outer) "
        "dl/do, with h = sigmoid(k).")),
    Diagnosis("summed-not-averaged", _summed, _text(
        "{q} from backward_batch {are} N times too large (summed over the batch, not "
        "averaged): divide by the batch size N.")),
    Diagnosis("transposed", _transposed, _transposed_message),
    Diagnosis("softmax-overflow", _overflow, _overflow_message),
)}


def diagnose(results: dict[str, QuantityResult]) -> list[Finding]:
    """The known mistakes that explain a learner's wrong quantities, then the first
    wrong quantity none explains.

    Parameters
    ----------
    results : dict
        Quantity name -> :class:`~backproplab.check.compare.QuantityResult`.

    Returns
    -------
    list of Finding
        Empty when nothing is wrong.
    """
    wrong = [q for q in QUANTITIES if q in results and not results[q].ok]
    found, explained = [], set()
    for d in DIAGNOSES.values():
        qs = [q for q in wrong if d.explains(q, results[q].observations)]
        if qs:
            found.append(Finding(d.id, qs, d.message(qs, results)))
            explained.update(qs)
    rest = [q for q in wrong if q not in explained]
    if rest:
        q, r = rest[0], results[rest[0]]
        err = "not finite" if not math.isfinite(r.max_error) else f"{r.max_error:.3g}"
        found.append(Finding(FIRST_DIFFERENCE, [q], (
            f"No known mistake explains {q}, the first quantity in the order of the "
            f"computation that goes wrong (largest error {err}, first on the probe "
            f"'{r.first_probe}' in {r.where[0]}): look there.")))
    return found


__all__ = ["DIAGNOSES", "FIRST_DIFFERENCE", "Diagnosis", "Finding", "diagnose"]
