"""Comparing what a learner's functions returned with the reference, quantity by quantity.

A quantity (``k``, ``h``, ``o``, ``y``, ``loss``, ``do``, ``dc``, ``dV``, ``dh``,
``dk``, ``db``, ``dW``) matches when every entry is within ``ATOL + RTOL * |reference|``
of the scalar engine's value on every probe, in every function that returns it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from backproplab.check.probes import Probe

#: Every quantity checked, in the order of the computation (forward, then backward).
QUANTITIES = ("k", "h", "o", "y", "loss", "do", "dc", "dV", "dh", "dk", "db", "dW")
#: The gradients every backward function must return.
REQUIRED = ("dW", "db", "dV", "dc")
#: The tolerance: ``|yours - reference| <= ATOL + RTOL * |reference|`` entry by entry.
RTOL = 1e-5
ATOL = 1e-6
#: What each matrix's axes are, for messages.
AXES = {"dW": "inputs x hidden", "dV": "hidden x outputs"}


class ShapeError(ValueError):
    """A returned value that cannot be read as the quantity's shape."""


def _shape_of(ref: Any) -> tuple[int, ...]:
    """The shape of a nested list of floats (``()`` for a number)."""
    if isinstance(ref, list):
        return (len(ref), *(_shape_of(ref[0]) if ref else ()))
    return ()


def _shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape)) if shape else "a single number"


def _numbers(value: Any, where: str) -> None:
    if isinstance(value, dict):
        raise ShapeError(f"{where} holds a {value.get('type')} instead of numbers")
    if isinstance(value, list):
        for v in value:
            _numbers(v, where)


def _squeeze(value: Any, scalar: bool) -> Any:
    """Drop axes of length 1 (``[[1, 2]]`` and ``[[1], [2]]`` -> ``[1, 2]``; ``[3.0]`` -> ``3.0``)."""
    while isinstance(value, list) and len(value) == 1 and (scalar or isinstance(value[0], list)):
        value = value[0]
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 1
                                                 for v in value):
        value = [v[0] for v in value]
    return value


def fit_shape(value: Any, ref: Any, name: str) -> tuple[Any, bool]:
    """The learner's ``value`` in the reference's shape, and whether it came transposed.

    Vectors may come as one row or one column and a number as a one-element
    array; a matrix that comes with its two axes swapped is transposed back (and
    flagged). Anything else raises :class:`ShapeError` with a sentence.

    Parameters
    ----------
    value : nested lists of float
        What the learner returned (from the worker).
    ref : nested lists of float
        The reference value.
    name : str
        The quantity's name, for the message.

    Returns
    -------
    (value, transposed) : (nested lists of float, bool)

    Raises
    ------
    ShapeError
        When the value holds something other than numbers or has another shape.
    """
    _numbers(value, name)
    want = _shape_of(ref)
    if len(want) < 2:
        value = _squeeze(value, scalar=not want)
    got = _shape_of(value) if _rectangular(value) else None
    if got == want:
        return value, False
    if len(want) == 2 and got == want[::-1]:
        return [list(col) for col in zip(*value)], True
    shown = "a ragged list" if got is None else _shape_text(got)
    axes = f" ({AXES[name]})" if name in AXES else ""
    raise ShapeError(f"{name} has the shape {shown}, not {_shape_text(want)}{axes}")


def _rectangular(value: Any) -> bool:
    if not isinstance(value, list):
        return True
    if not value or not all(isinstance(v, list) for v in value):
        return not any(isinstance(v, list) for v in value)
    return len({len(v) for v in value}) == 1 and all(_rectangular(v) for v in value)


def flat(value: Any) -> list[float]:
    """The numbers of a nested list, row by row.

    Parameters
    ----------
    value : float or nested lists of float

    Returns
    -------
    list of float

    Examples
    --------
    >>> flat([[1.0, 2.0], [3.0, 4.0]])
    [1.0, 2.0, 3.0, 4.0]
    """
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [value]


def _entry_error(mine: float, ref: float) -> float:
    """``|mine - ref|``; infinite where ``mine`` is not finite and ``ref`` is."""
    if not math.isfinite(mine):
        return 0.0 if mine == ref else math.inf
    return abs(mine - ref)


def close(mine: Any, ref: Any) -> bool:
    """Whether every entry is within ``ATOL + RTOL * |ref|`` of the reference.

    Parameters
    ----------
    mine, ref : float or nested lists of float
        Of the same shape; a non-finite entry of ``mine`` matches only an equal one.

    Returns
    -------
    bool

    Examples
    --------
    >>> close([1.0, 2.0], [1.0, 2.0000001]), close([float("nan")], [0.0])
    (True, False)
    """
    return all(_entry_error(a, r) <= ATOL + RTOL * abs(r) for a, r in zip(flat(mine), flat(ref)))


def _largest_error(mine: Any, ref: Any) -> float:
    """The largest entry's error (:func:`_entry_error`)."""
    return max((_entry_error(a, r) for a, r in zip(flat(mine), flat(ref))), default=0.0)


def mean_of(values: list) -> Any:
    """The entry-by-entry mean of equally shaped nested lists (or of numbers).

    Parameters
    ----------
    values : list
        Numbers, or nested lists all of one shape.

    Returns
    -------
    float or nested lists of float

    Examples
    --------
    >>> mean_of([[1.0, 2.0], [3.0, 6.0]])
    [2.0, 4.0]
    """
    if isinstance(values[0], list):
        return [mean_of(list(col)) for col in zip(*values)]
    return sum(values) / len(values)


def reference(probe: Probe, name: str) -> Any:
    """The reference value of a quantity on a probe: the example's, or the batch mean.

    Parameters
    ----------
    probe : Probe
    name : str
        ``k``, ``h``, ..., ``dW``.

    Returns
    -------
    float or nested lists of float
    """
    return mean_of([e[name] for e in probe.examples])


@dataclass
class Observation:
    """One quantity returned by one function on one probe.

    Attributes
    ----------
    quantity : str
        The quantity's name (``dW``, ...).
    probe : Probe
    function : str
        ``forward``, ``backward`` or ``backward_batch``.
    mine : nested lists of float
        The learner's value in the reference's shape (NaN where the call failed
        with an overflow on the large-logits probe).
    ref : nested lists of float
        The reference value.
    transposed : bool
        Whether the learner's matrix came with its axes swapped.
    failed : str or None
        The exception the call raised on the large-logits probe, if any.
    """

    quantity: str
    probe: Probe
    function: str
    mine: Any
    ref: Any
    transposed: bool = False
    failed: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the learner's value matches (right shape and within tolerance)."""
        return not self.transposed and self.failed is None and close(self.mine, self.ref)


@dataclass
class QuantityResult:
    """How one quantity fared over every probe and function.

    Attributes
    ----------
    ok : bool
        False when the quantity is wrong in any function that returns it.
    max_error : float
        The largest absolute error of any entry (``inf`` for a value that is not finite).
    where : list of str
        The functions in which it is wrong.
    first_probe : str or None
        The first probe on which it differs.
    observations : list of Observation
    """

    ok: bool
    max_error: float
    where: list[str] = field(default_factory=list)
    first_probe: str | None = None
    observations: list[Observation] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready: ``max_error`` is ``None`` where it is not finite."""
        err = self.max_error if math.isfinite(self.max_error) else None
        return {"ok": self.ok, "max_error": err, "where": self.where,
                "first_probe": self.first_probe}


def summarize(observations: list[Observation]) -> QuantityResult:
    """How a quantity fared, from its observations.

    Parameters
    ----------
    observations : list of Observation
        One quantity's, in probe order.

    Returns
    -------
    QuantityResult
    """
    wrong = [o for o in observations if not o.ok]
    where = [f for f in ("forward", "backward", "backward_batch")
             if any(o.function == f for o in wrong)]
    err = max((_largest_error(o.mine, o.ref) for o in observations), default=0.0)
    return QuantityResult(not wrong, err, where, wrong[0].probe.name if wrong else None,
                          observations)


__all__ = ["ATOL", "QUANTITIES", "REQUIRED", "RTOL", "Observation", "QuantityResult",
           "ShapeError", "close", "fit_shape", "flat", "mean_of", "reference", "summarize"]
