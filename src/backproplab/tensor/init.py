"""Weight initializers by name; biases always start at zero.

Every initializer draws from an explicit :class:`numpy.random.Generator` in
float64 and the result is cast to the model's dtype, so a float32 and a float64
model built from the same seed hold the same weights up to rounding.
"""

from __future__ import annotations

import math

import numpy as np

from backproplab.errors import BackproplabError


def normal(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.1) -> np.ndarray:
    """The study's choice: every weight from N(0, std^2), std 0.1 by default."""
    return rng.normal(0.0, std, size=(fan_in, fan_out))


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out))."""
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He et al. (2015), for ReLU: N(0, 2 / fan_in)."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


#: Initializers by name (the CLI's ``--init`` choices).
INITIALIZERS = {
    "normal": normal,
    "glorot-uniform": glorot_uniform,
    "glorot-normal": glorot_normal,
    "he-normal": he_normal,
}


def init_weights(name: str, rng: np.random.Generator, fan_in: int, fan_out: int,
                 std: float | None = None) -> np.ndarray:
    """Draw a (fan_in, fan_out) float64 weight matrix with the initializer ``name``.

    ``std`` sets the standard deviation of ``normal`` (default 0.1); the other
    initializers derive their scale from the layer's fans and refuse ``std``.
    """
    if name not in INITIALIZERS:
        raise BackproplabError(
            f"unknown initializer {name!r}; choose one of {', '.join(INITIALIZERS)}"
        )
    if name == "normal":
        std = 0.1 if std is None else float(std)
        if not (std > 0 and math.isfinite(std)):
            raise BackproplabError(f"init std must be a positive number, got {std}")
        return normal(rng, fan_in, fan_out, std)
    if std is not None:
        raise BackproplabError(
            f"init std applies only to the 'normal' initializer, not {name!r}; drop it"
        )
    return INITIALIZERS[name](rng, fan_in, fan_out)
