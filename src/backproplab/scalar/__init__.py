"""The scalar engine: the study's MLP in plain Python floats (``math`` and ``random`` only).

See :mod:`backproplab.scalar.network` for the notation and layout, and
:mod:`backproplab.scalar.ops` for the list operations it is made of (``W`` is
``fan_in x fan_out``; parameters ``W1, b1, W2, b2, ...`` where ``W1, b1, W2, b2``
are the study's ``W, b, V, c``).
"""

from .network import (
    DEFAULT_HIDDEN,
    DEFAULT_INIT_STD,
    DEFAULT_LR,
    DEFAULT_SEED,
    MLP,
    Gradients,
    Trace,
    evaluate,
)
from .ops import (
    affine,
    cross_entropy_from_logits,
    labelled_entries,
    matvec,
    outer,
    sigmoid,
    softmax,
)
from .worked import FORWARD_KEYS, GRADIENT_KEYS, Q3, Q3_TARGET, worked_pass

__all__ = [
    "DEFAULT_HIDDEN",
    "DEFAULT_INIT_STD",
    "DEFAULT_LR",
    "DEFAULT_SEED",
    "FORWARD_KEYS",
    "GRADIENT_KEYS",
    "MLP",
    "Q3",
    "Q3_TARGET",
    "Gradients",
    "Trace",
    "affine",
    "cross_entropy_from_logits",
    "evaluate",
    "labelled_entries",
    "matvec",
    "outer",
    "sigmoid",
    "softmax",
    "worked_pass",
]
