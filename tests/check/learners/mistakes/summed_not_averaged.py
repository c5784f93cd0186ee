"""backward_batch sums the examples' gradients instead of averaging them."""

import numpy as np


def backward_batch(X, T, W, b, V, c):
    H = 1.0 / (1.0 + np.exp(-(X @ W + b)))
    O = H @ V + c
    Y = np.exp(O - O.max(axis=1, keepdims=True))
    Y /= Y.sum(axis=1, keepdims=True)
    dO = Y - np.eye(len(c))[T]
    dK = (dO @ V.T) * H * (1.0 - H)
    # MISTAKE: sums over the batch; the mean needs a division by len(X)
    return {"dW": X.T @ dK, "db": dK.sum(axis=0), "dV": H.T @ dO, "dc": dO.sum(axis=0)}
