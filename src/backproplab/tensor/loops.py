"""The fused SGD step's elementwise work as loops compiled by Numba (the ``numba`` extra).

NumPy spends a call, and a pass over memory, on every operation: the fused step
of a 784-300-10 network makes about forty of them per batch, which at batch 16
cost more than a third of the step. Each loop below does one stage of the step
in one pass and one call (see :mod:`backproplab.tensor.kernels`, which selects
them, and docs/performance.md for the measurements).

Every loop computes what the NumPy operations it replaces compute, in the same
order and the same precision, NaN and infinities included (a diverging run's
loss turns NaN as with NumPy), so that a run with these loops is bit-identical
to one with NumPy's, except for :func:`xent_direction`: its ``exp`` and ``log``
are the C library's, not NumPy's own, it adds each row's exponentials in order
(NumPy adds eight or more pairwise) and the batch's loss in float64 (NumPy in
two float32 sums), so its gradient and loss agree with NumPy's to float rounding.
Column sums are taken row after row, as NumPy takes them over two or more
columns; a single column NumPy sums pairwise, so
:class:`backproplab.tensor.kernels.LoopOps` leaves layers of one unit to NumPy.
The loops are serial, so their results never depend on the thread count.

Importing this module imports Numba; :mod:`backproplab.tensor.kernels` does so
only when the ``numba`` kernels are used. Compiled code is cached on disk
(``cache=True``), so only the first run after an install pays the compilation
(about a second per dtype); where no cache folder is writable (set
``NUMBA_CACHE_DIR``), every process compiles again.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def _jit(fn):
    """Compile ``fn`` lazily with NumPy's float semantics (no zero-division check),
    cached on disk where Numba finds a writable cache folder (``NUMBA_CACHE_DIR``,
    next to this file, or the user's cache); else compiled again in each process."""
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(fn)


#: The activation codes of :func:`bias_forward` and :func:`activation_grad` (registry
#: names of :data:`backproplab.tensor.layers.ACTIVATIONS`); the logits' layer adds its
#: bias as ``tanh`` does (:data:`PLAIN`).
ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "relu": 2}
PLAIN = 1


@_jit
def bias_forward(z, b, code):
    """``z + b`` on every row, in place, as the activation ``code`` needs it next.

    sigmoid (0): ``(z + b) * 0.5``, the argument of ``tanh`` (exact halving); tanh and
    the logits (1): ``z + b``; relu (2): ``max(z + b, 0)`` as ``np.maximum`` (NaN stays
    NaN, ``-0.0`` becomes ``0.0``).
    """
    n, c = z.shape
    half = z.dtype.type(0.5)
    zero = z.dtype.type(0)
    for i in range(n):
        for j in range(c):
            v = z[i, j] + b[j]
            if code == 0:
                v = v * half
            elif code == 2:
                v = zero if v <= zero else v  # noqa: FURB136 - max() drops NaN
            z[i, j] = v


@_jit
def half_up(t):
    """``t = t * 0.5 + 0.5``: the sigmoid from ``tanh(z / 2)``."""
    n, c = t.shape
    half = t.dtype.type(0.5)
    for i in range(n):
        for j in range(c):
            t[i, j] = t[i, j] * half + half


@_jit
def activation_grad(dh, h, code, db):
    """``dh = dh * f'(h)`` in place from the activation's output ``h``; ``db`` its column sums.

    ``code`` is :data:`ACTIVATION_CODES`' value: sigmoid ``h (1 - h)``, tanh
    ``1 - h^2``, relu ``h > 0`` (each written as the NumPy backward pass computes it).
    """
    n, c = dh.shape
    one = dh.dtype.type(1)
    zero = dh.dtype.type(0)
    for j in range(c):
        db[j] = 0
    for i in range(n):
        for j in range(c):
            hv = h[i, j]
            if code == 0:
                v = dh[i, j] * ((one - hv) * hv)
            elif code == 1:
                v = dh[i, j] * (one - hv * hv)
            else:
                v = dh[i, j] * (one if hv > zero else zero)
            dh[i, j] = v
            db[j] += v


@_jit
def xent_direction(z, y, scale, floor, db):
    """Softmax cross-entropy of logits ``z`` and labels ``y``, and its scaled gradient.

    ``z`` becomes ``scale * (softmax(z) - onehot(y))`` and ``db`` its column
    sums; returns the summed loss (float64) ``sum_i log(sum_j exp(s_ij)) - s_iy``
    with ``s = z - max_j z`` (each shifted value floored at ``floor`` before
    ``exp``, as :class:`backproplab.tensor.layers.SoftmaxCrossEntropy` does). A NaN
    logit makes its row's maximum, and so the row and the loss, NaN, as with NumPy.
    """
    n, c = z.shape
    one = z.dtype.type(1)
    total = 0.0
    for j in range(c):
        db[j] = 0
    for i in range(n):
        if y[i] < 0 or y[i] >= c:
            raise IndexError("a label is outside [0, number of classes)")
        m = z[i, 0]
        for j in range(1, c):
            if z[i, j] > m or z[i, j] != z[i, j]:  # NaN wins, as in np.max
                m = z[i, j]
        s = z.dtype.type(0)
        picked = z[i, y[i]] - m
        for j in range(c):
            e = z[i, j] - m
            e = math.exp(floor if e < floor else e)  # noqa: FURB136 - as np.maximum: NaN stays
            z[i, j] = e
            s += e
        total += math.log(s) - picked
        for j in range(c):
            p = z[i, j] / s
            if j == y[i]:
                p -= one
            p *= scale
            z[i, j] = p
            db[j] += p
    return total


def compile_all(dtype) -> None:
    """Compile (or load from the cache) every loop for ``dtype`` on tiny arrays.

    Parameters
    ----------
    dtype : numpy.dtype or str
        ``float32`` or ``float64``.
    """
    z = np.zeros((2, 3), dtype=dtype)
    b = np.zeros(3, dtype=dtype)
    for code in ACTIVATION_CODES.values():
        bias_forward(z, b, code)
    half_up(z)
    activation_grad(z, z.copy(), 0, b)
    xent_direction(z, np.zeros(2, dtype=np.int64), z.dtype.type(1), z.dtype.type(-75), b)


__all__ = ["ACTIVATION_CODES", "PLAIN", "activation_grad", "bias_forward", "compile_all",
           "half_up", "xent_direction"]
