"""dW returned as hidden x inputs (the transpose of W's shape)."""

import numpy as np


def backward(x, t, W, b, V, c):
    x, W, b, V, c = (np.asarray(a, dtype=float) for a in (x, W, b, V, c))
    h = 1.0 / (1.0 + np.exp(-(x @ W + b)))
    o = h @ V + c
    y = np.exp(o - o.max())
    y /= y.sum()
    do = y - np.eye(len(c))[t]
    dk = (V @ do) * h * (1.0 - h)
    return {"dW": np.outer(dk, x),  # MISTAKE: np.outer(x, dk)
            "db": dk, "dV": np.outer(h, do), "dc": do}
