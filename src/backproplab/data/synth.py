"""The study's synthetic 2-D dataset: points inside/outside an ellipse.

Exactly the study's generator: ``RandomState(seed).randn(n, 2)`` draws the
points (NumPy's legacy generator, so the points equal the study's), and a point
is class 1 where the quadratic form ``x^T Q x`` exceeds 0.6, with
``Q = [[1, -0.05], [1, 0.4]]``. The first 60,000 rows of one stream are the
training split and the next 10,000 the validation split (drawing them with two
consecutive calls on the same ``RandomState`` gives the same numbers).
"""

from __future__ import annotations

import numpy as np

#: The quadratic form of the study.
Q = np.array([[1.0, -0.05], [1.0, 0.4]])
#: Class 1 where ``x^T Q x > THRESHOLD``.
THRESHOLD = 0.6
#: The class names, in label order: 0 inside the ellipse, 1 outside it.
CLASSES = ("inside", "outside")
N_TRAIN = 60_000
N_VAL = 10_000
#: Half-width of the square of raw coordinates over which boundaries are drawn.
GRID_LIMIT = 3.5


def quadratic_form(X: np.ndarray) -> np.ndarray:
    """``x^T Q x`` for every row of ``X`` (shape (n, 2))."""
    X = np.asarray(X, dtype=np.float64)
    return np.einsum("ni,ij,nj->n", X, Q, X)


def label(X: np.ndarray) -> np.ndarray:
    """The true class (0 or 1, int64) of every row of ``X``."""
    return (quadratic_form(X) > THRESHOLD).astype(np.int64)


def generate(n_train: int = N_TRAIN, n_val: int = N_VAL, seed: int = 0):
    """Return ``(X_train, y_train, X_val, y_val)``, unnormalized, float64.

    The points come from ``numpy.random.RandomState(seed).randn``, drawn as
    ``n_train`` rows followed by ``n_val`` rows of one stream.
    """
    rs = np.random.RandomState(seed)
    X_train = rs.randn(n_train, 2)
    X_val = rs.randn(n_val, 2)
    return X_train, label(X_train), X_val, label(X_val)


def boundary(n_points: int = 400) -> np.ndarray:
    """Points (n_points, 2) on the true decision boundary ``x^T Q x = 0.6``.

    Only the symmetric part of ``Q`` matters for the form, so the boundary is the
    ellipse of ``S = (Q + Q^T) / 2``: ``x = sqrt(0.6) * S^{-1/2} u`` for ``u`` on
    the unit circle.
    """
    S = (Q + Q.T) / 2.0
    evals, evecs = np.linalg.eigh(S)
    t = np.linspace(0.0, 2.0 * np.pi, n_points)
    u = np.stack([np.cos(t), np.sin(t)], axis=1)
    return np.sqrt(THRESHOLD) * (u / np.sqrt(evals)) @ evecs.T


def grid(resolution: int = 100, limit: float = GRID_LIMIT):
    """A square grid of raw points over ``[-limit, limit]^2``.

    Returns ``(gx, gy, points)``: the (resolution, resolution) coordinate arrays
    of ``numpy.meshgrid`` and the same points as rows (resolution**2, 2), row
    ``i * resolution + j`` being ``(gx[i, j], gy[i, j])``.
    """
    g = np.linspace(-limit, limit, resolution)
    gx, gy = np.meshgrid(g, g)
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])
