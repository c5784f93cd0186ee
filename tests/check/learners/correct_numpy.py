"""A correct NumPy implementation: one example and a batch (means over the batch)."""

import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _passes(X, T, W, b, V, c):
    W, b, V, c = (np.asarray(a, dtype=float) for a in (W, b, V, c))
    K = X @ W + b
    H = _sigmoid(K)
    O = H @ V + c
    top = O.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(O - top).sum(axis=1))
    Y = np.exp(O - lse[:, None])
    dO = Y.copy()
    dO[np.arange(len(T)), T] -= 1.0
    dH = dO @ V.T
    dK = dH * H * (1.0 - H)
    loss = lse - O[np.arange(len(T)), T]
    return K, H, O, Y, loss, dO, dH, dK


def forward(x, W, b, V, c):
    K, H, O, Y = _passes(np.asarray([x], dtype=float), np.asarray([0]), W, b, V, c)[:4]
    return {"k": K[0], "h": H[0], "o": O[0], "y": Y[0]}


def backward(x, t, W, b, V, c):
    X = np.asarray([x], dtype=float)
    _, H, _, _, loss, dO, dH, dK = _passes(X, np.asarray([t]), W, b, V, c)
    return {"loss": loss[0], "do": dO[0], "dh": dH[0], "dk": dK[0],
            "dV": H.T @ dO, "dc": dO[0], "dW": X.T @ dK, "db": dK[0]}


def backward_batch(X, T, W, b, V, c):
    _, H, _, _, loss, dO, _, dK = _passes(X, T, W, b, V, c)
    n = len(X)
    return {"loss": loss.mean(), "dV": H.T @ dO / n, "dc": dO.mean(axis=0),
            "dW": X.T @ dK / n, "db": dK.mean(axis=0)}
