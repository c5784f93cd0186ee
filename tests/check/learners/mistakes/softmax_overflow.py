"""softmax as exp(o) / sum(exp(o)): nan once the logits reach about 710."""

import numpy as np


def backward(x, t, W, b, V, c):
    x, W, b, V, c = (np.asarray(a, dtype=float) for a in (x, W, b, V, c))
    h = 1.0 / (1.0 + np.exp(-(x @ W + b)))
    o = h @ V + c
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.exp(o) / np.exp(o).sum()  # MISTAKE: no max(o) subtracted
    do = y - np.eye(len(c))[t]
    dk = (V @ do) * h * (1.0 - h)
    return {"loss": -np.log(y[t]), "dW": np.outer(x, dk), "db": dk, "dV": np.outer(h, do),
            "dc": do}
