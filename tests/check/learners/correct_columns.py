"""A correct NumPy batch implementation in the column layout many courses use: biases
and their gradients as columns (m x 1), gradients returned with keepdims."""

import numpy as np


def backward_batch(X, T, W, b, V, c):
    n = X.shape[0]
    b, c = b.reshape(-1, 1), c.reshape(-1, 1)
    K = W.T @ X.T + b                      # m x N
    H = 1.0 / (1.0 + np.exp(-K))
    O = V.T @ H + c                        # C x N
    O = O - O.max(axis=0, keepdims=True)
    Y = np.exp(O) / np.exp(O).sum(axis=0, keepdims=True)
    onehot = np.zeros_like(Y)
    onehot[T, np.arange(n)] = 1.0
    dO = (Y - onehot) / n
    dK = (V @ dO) * H * (1.0 - H)
    loss = -np.log(Y[T, np.arange(n)]).mean()
    return {"loss": loss, "dW": X.T @ dK.T, "db": dK.sum(axis=1, keepdims=True),
            "dV": H @ dO.T, "dc": dO.sum(axis=1, keepdims=True)}
