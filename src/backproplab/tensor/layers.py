"""Layers with hand-written forward and backward passes on batches.

Arrays are batch-first: ``X`` has shape (n, features). Every operation is one
array call over the whole batch (no Python loop over examples), and every
method takes an optional ``out=`` buffer so that the model can reuse memory
from one batch to the next.

* :class:`Linear` computes ``X @ W + b`` with ``W`` of shape (fan_in, fan_out).
* :class:`Sigmoid`, :class:`ReLU`, :class:`Tanh` are the hidden activations;
  their ``backward`` takes the activation's *output* (which is all they need),
  so the model can overwrite the pre-activation in place.
* :class:`SoftmaxCrossEntropy` fuses softmax with the cross-entropy of integer
  labels (log-sum-exp, mean over the batch); its gradient with respect to the
  logits is ``(softmax - onehot) / n``.

Sigmoid and softmax never overflow, underflow or warn for finite inputs: the
sigmoid is ``(1 + tanh(z / 2)) / 2`` and the softmax clips the shifted logits
before ``exp`` at a floor whose exponential is still a normal number. (Logits
spread wider than the dtype's range, e.g. +-3e38 in float32, make the shift
itself overflow to ``-inf``; that is silenced and clipped like any other
value, and the loss of such a row is ``inf``.)
"""

from __future__ import annotations

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.tensor import blas


def _xp(array):
    """The array module of ``array`` (NumPy unless it is a CuPy array)."""
    return np if isinstance(array, np.ndarray) else __import__("cupy").get_array_module(array)


class Linear:
    """Affine layer ``Y = X @ W + b`` owning ``W``, ``b`` and their gradients.

    Parameters
    ----------
    W : array, shape (fan_in, fan_out)
    b : array, shape (fan_out,)
        Kept, not copied: the layer updates these arrays in place.

    Attributes
    ----------
    W, b : array
    dW, db : array
        Their gradients, zero until the first backward pass, overwritten by each.

    Raises
    ------
    ValueError
        When the shapes do not match.
    """

    def __init__(self, W, b):
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(f"Linear needs W (fan_in, fan_out) and b (fan_out,), got {W.shape}, {b.shape}")
        self.W, self.b = W, b
        xp = _xp(W)
        self.dW = xp.zeros_like(W)
        self.db = xp.zeros_like(b)

    @property
    def fan_in(self) -> int:
        return int(self.W.shape[0])

    @property
    def fan_out(self) -> int:
        return int(self.W.shape[1])

    def forward(self, X, out=None):
        """Return ``X @ W + b`` (written into ``out`` when given)."""
        xp = _xp(X)
        out = blas.matmul(xp, X, self.W, out=out)
        out += self.b
        return out

    def backward(self, X, dY, dX_out=None, need_dX: bool = True):
        """Fill ``dW = X^T dY`` and ``db = sum_rows dY``; return ``dX = dY W^T``.

        ``X`` is the input the forward pass saw. With ``need_dX=False`` (the
        first layer: nobody needs the gradient of the data) returns ``None``.
        """
        xp = _xp(X)
        blas.matmul(xp, X, dY, out=self.dW, trans_a=True)
        dY.sum(axis=0, out=self.db)
        if not need_dX:
            return None
        return blas.matmul(xp, dY, self.W, out=dX_out, trans_b=True)


class Sigmoid:
    """Logistic function ``1 / (1 + exp(-z))``, computed as ``(1 + tanh(z/2)) / 2``."""

    name = "sigmoid"

    @staticmethod
    def forward(Z, out=None):
        """Return sigmoid(Z); ``out`` may be ``Z`` itself (in place)."""
        xp = _xp(Z)
        out = xp.multiply(Z, 0.5, out=out)
        xp.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    @staticmethod
    def backward(dH, H, out=None, tmp=None):
        """Return ``dZ = dH * H * (1 - H)`` from the output ``H``; ``out`` may be ``dH``.

        ``tmp`` is an optional scratch buffer shaped like ``H``."""
        xp = _xp(H)
        tmp = xp.subtract(1.0, H, out=tmp, dtype=H.dtype)
        tmp *= H
        return xp.multiply(dH, tmp, out=out)


class Tanh:
    """Hyperbolic tangent."""

    name = "tanh"

    @staticmethod
    def forward(Z, out=None):
        """Return tanh(Z); ``out`` may be ``Z`` itself."""
        return _xp(Z).tanh(Z, out=out)

    @staticmethod
    def backward(dH, H, out=None, tmp=None):
        """Return ``dZ = dH * (1 - H^2)`` from the output ``H``; ``out`` may be ``dH``."""
        xp = _xp(H)
        tmp = xp.multiply(H, H, out=tmp)
        xp.subtract(1.0, tmp, out=tmp)
        return xp.multiply(dH, tmp, out=out)


class ReLU:
    """Rectified linear unit ``max(z, 0)``; its derivative at 0 is taken as 0."""

    name = "relu"

    @staticmethod
    def forward(Z, out=None):
        """Return max(Z, 0); ``out`` may be ``Z`` itself."""
        return _xp(Z).maximum(Z, 0, out=out)

    @staticmethod
    def backward(dH, H, out=None, tmp=None):
        """Return ``dZ = dH * (H > 0)`` from the output ``H``; ``out`` may be ``dH``."""
        xp = _xp(H)
        mask = xp.greater(H, 0, out=tmp)  # 1.0 / 0.0 when tmp is a float buffer
        return xp.multiply(dH, mask, out=out)


#: Hidden-layer activations by name (the CLI's ``--activation`` choices).
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh}


def get_activation(name: str):
    """The activation class called ``name``; unknown names raise BackproplabError."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise BackproplabError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def exp_floor(dtype) -> float:
    """The floor of the max-shifted logits before ``exp`` in the softmax.

    Parameters
    ----------
    dtype : numpy.dtype or str
        The logits' float dtype.

    Returns
    -------
    float
        -75 for float32 and narrower, -650 for float64.
    """
    # exp(floor) stays a normal number even after dividing by many classes and a
    # large batch, so no underflow is ever signalled (float32 min normal ~1.2e-38).
    return -75.0 if np.dtype(dtype).itemsize <= 4 else -650.0


class SoftmaxCrossEntropy:
    """Softmax fused with the mean cross-entropy ``-log p[y]`` of integer labels."""

    @staticmethod
    def forward(logits, y, probs_out=None):
        """Return ``(mean_loss, probs)`` for logits (n, C) and labels y (n,).

        The loss uses log-sum-exp of the max-shifted logits, so it is exact even
        where a probability underflows; ``probs`` may be written into
        ``probs_out`` (which may be ``logits`` itself).
        """
        xp = _xp(logits)
        n = logits.shape[0]
        shifted = _shift(xp, logits, out=probs_out)
        picked = shifted[xp.arange(n), y]  # log-numerator of the target class (copy)
        probs, total = _exp_normalize(xp, shifted)
        # mean of log(total) - picked, as two sums (np.mean costs more than the maths here);
        # an infinite shift (logits spread wider than the dtype) gives an infinite loss
        with np.errstate(over="ignore"):
            loss = (float(xp.log(total).sum()) - float(picked.sum())) / n
        return loss, probs

    @staticmethod
    def backward(probs, y, out=None, scale=None):
        """Return ``dL/dlogits = (probs - onehot(y)) / n``; ``out`` may be ``probs``.

        ``scale`` replaces the factor ``1 / n``: the fused SGD step passes
        ``-lr / n`` so that the result is already the update direction.
        """
        xp = _xp(probs)
        n = probs.shape[0]
        if out is None:
            out = probs.copy()
        elif out is not probs:
            out[...] = probs
        out[xp.arange(n), y] -= 1.0
        out *= 1.0 / n if scale is None else scale
        return out


def _shift(xp, logits, out=None):
    """``logits`` minus each row's maximum (into ``out``, which may be ``logits``)."""
    # Overflow is only possible for logits spread wider than the dtype's range:
    # the shift is then -inf, which the floor below clips like any other value.
    with np.errstate(over="ignore"):
        return xp.subtract(logits, logits.max(axis=1, keepdims=True), out=out)


def _exp_normalize(xp, shifted):
    """Softmax of max-shifted logits, in place: ``(probs, row_sums_before_division)``."""
    xp.maximum(shifted, exp_floor(shifted.dtype), out=shifted)
    probs = xp.exp(shifted, out=shifted)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    return probs, total


def softmax(logits):
    """Row-wise softmax of ``logits``, without overflow or underflow.

    Parameters
    ----------
    logits : array, shape (n, C)

    Returns
    -------
    array, shape (n, C)
        A new array; each row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 1000.0]]))
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    xp = _xp(logits)
    return _exp_normalize(xp, _shift(xp, logits))[0]


def sigmoid(Z):
    """The logistic function ``1 / (1 + exp(-Z))``, without overflow for finite input.

    Parameters
    ----------
    Z : array

    Returns
    -------
    array
        A new array of ``Z``'s shape, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([0.0, -1000.0]))
    array([0.5, 0. ])
    """
    return Sigmoid.forward(Z)
