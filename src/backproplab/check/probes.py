"""The probes: networks and inputs a learner's implementation is run on, and the
reference values the scalar engine computes for each.

Every probe is built from a fixed seed, so a file gets the same probes on every
run. Random networks have input, hidden and output widths that all differ, so a
transposed matrix cannot pass for the right one; the special cases are the
study's Q3 network, a non-symmetric case, logits of order 1,000 and saturated
sigmoid units. Batch probes (for ``backward_batch``) hold 2 to 5 examples.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from backproplab.scalar import Q3, Q3_TARGET, worked_pass

#: Seed of the probes' random networks.
SEED = 2024
#: Random single-example networks: (inputs d, hidden m, classes C), all different.
RANDOM_SIZES = ((3, 5, 4), (4, 2, 3), (5, 3, 2))
#: Batch probes: (d, m, C, batch size N).
BATCH_SIZES = ((3, 5, 4, 2), (4, 2, 3, 3), (2, 4, 3, 5))
#: A probe whose logits are of order 1,000 (``exp`` of them overflows double precision).
LARGE_LOGITS = "logits of order 1,000"
#: The keys of a probe's network.
PARAMS = ("W", "b", "V", "c")


@dataclass(frozen=True)
class Probe:
    """One case a learner's functions are called on.

    Attributes
    ----------
    name : str
        How reports name the probe (``"the study's Q3 network"``, ``"random 3-5-4"``).
    X : list of list of float
        The inputs, one row per example (one row for a single-example probe).
    T : list of int
        The target classes, one per example.
    W, b, V, c : lists of float
        The network, ``W`` d x m and ``V`` m x C (the study's layout).
    batch : bool
        True for a ``backward_batch`` probe, False for ``forward`` / ``backward``.
    examples : list of dict
        The scalar engine's values for each example (:func:`backproplab.scalar.worked_pass`),
        with the network's ``W, b, V, c`` added.
    """

    name: str
    X: list
    T: list
    W: list
    b: list
    V: list
    c: list
    batch: bool = False
    examples: list = field(default_factory=list, compare=False)

    def payload(self) -> dict:
        """The probe as plain JSON data for the process that runs the learner's file."""
        return {"name": self.name, "batch": self.batch, "X": self.X, "T": self.T,
                "tolerate_errors": self.name == LARGE_LOGITS,
                **{k: getattr(self, k) for k in PARAMS}}

    @property
    def size(self) -> str:
        """``"d-m-C"``: the network's widths."""
        return f"{len(self.W)}-{len(self.b)}-{len(self.c)}"


def _make_probe(name: str, X, T, W, b, V, c, batch: bool = False) -> Probe:
    """A :class:`Probe` with its reference values computed by the scalar engine.

    Parameters
    ----------
    name : str
        The probe's name in reports.
    X : list of list of float
        The inputs, one row per example.
    T : list of int
        The target class of each example.
    W, b, V, c : lists of float
        The network (``W`` d x m, ``b`` m, ``V`` m x C, ``c`` C).
    batch : bool, optional
        Whether the probe is for ``backward_batch``.

    Returns
    -------
    Probe
    """
    net = {"W": W, "b": b, "V": V, "c": c}
    examples = [{**worked_pass(x, W, b, V, c, t), **net} for x, t in zip(X, T)]
    return Probe(name, X, T, W, b, V, c, batch, examples)


def _matrix(rng: random.Random, rows: int, cols: int, scale: float) -> list:
    return [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]


def _random(rng: random.Random, name: str, d: int, m: int, C: int, n: int = 1,
            w_scale: float = 1.0, v_scale: float = 1.0, batch: bool = False) -> Probe:
    W, V = _matrix(rng, d, m, w_scale), _matrix(rng, m, C, v_scale)
    b = [rng.gauss(0.0, 0.5 * w_scale) for _ in range(m)]
    c = [rng.gauss(0.0, 0.5 * v_scale) for _ in range(C)]
    X = _matrix(rng, n, d, 1.0)
    T = [rng.randrange(C) for _ in range(n)]
    return _make_probe(name, X, T, W, b, V, c, batch)


def _large_logits() -> Probe:
    """Hidden units near 1 and output weights of order 1,000: logits from about -1,500 to
    1,500, the target's far below the largest (its probability underflows to 0)."""
    W = [[3.0, -3.0, 2.5, 3.5], [2.0, -2.5, 3.0, 2.0], [-2.5, 3.0, -2.0, -3.0]]
    b = [0.5, -0.5, 0.25, 0.0]
    V = [[400.0, -300.0, 700.0, -100.0, 250.0], [-200.0, 500.0, 100.0, 300.0, -400.0],
         [350.0, -150.0, 600.0, 50.0, 200.0], [300.0, 100.0, 450.0, -250.0, -350.0]]
    c = [10.0, -20.0, 30.0, 0.0, -5.0]
    return _make_probe(LARGE_LOGITS, [[1.0, -0.5, 0.25]], [1], W, b, V, c)


def _saturated() -> Probe:
    """Pre-activations between about 18 and 35 in size: sigmoid derivatives of 1e-8 to 1e-15."""
    W = [[12.0, -15.0, 9.0], [-10.0, 8.0, -11.0], [6.0, -9.0, -14.0], [9.0, 7.0, 8.0]]
    b = [2.0, -3.0, 1.0]
    V = [[1.5, -0.5], [-1.0, 2.0], [0.5, 1.0]]
    c = [0.1, -0.2]
    return _make_probe("saturated sigmoids", [[1.0, -1.0, 0.5, 0.75]], [0], W, b, V, c)


def make_probes(seed: int = SEED) -> list[Probe]:
    """Every probe, single-example ones first, then the batch probes.

    Parameters
    ----------
    seed : int, optional
        Seed of the random networks (the same seed gives the same probes).

    Returns
    -------
    list of Probe
        The study's Q3 network, a non-symmetric 2-4-3 case, random networks of
        :data:`RANDOM_SIZES`, logits of order 1,000, saturated sigmoids, and the
        batch probes of :data:`BATCH_SIZES`.
    """
    rng = random.Random(seed)
    probes = [_make_probe("the study's Q3 network", [Q3["x"]], [Q3_TARGET],
                         *(Q3[k] for k in PARAMS)),
              _random(rng, "non-symmetric 2-4-3", 2, 4, 3)]
    probes += [_random(rng, f"random {d}-{m}-{C}", d, m, C) for d, m, C in RANDOM_SIZES]
    probes += [_large_logits(), _saturated()]
    probes += [_random(rng, f"batch of {n}, {d}-{m}-{C}", d, m, C, n=n, batch=True)
               for d, m, C, n in BATCH_SIZES]
    return probes


__all__ = ["BATCH_SIZES", "LARGE_LOGITS", "PARAMS", "RANDOM_SIZES", "SEED", "Probe",
           "make_probes"]
