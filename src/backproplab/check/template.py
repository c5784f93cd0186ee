'''The starting file ``backproplab check --template`` prints.'''

#: A learner's file to start from: the contract, a working forward pass, and a
#: backward pass to write (``backproplab check FILE`` runs it).
TEMPLATE = '''\
"""My backpropagation for the study's network, checked by `backproplab check THIS_FILE.py`.

The network: k = x W + b, h = sigmoid(k), o = h V + c, y = softmax(o),
loss = -log y[t]. Shapes: x has d entries, W is d x m (inputs x hidden), b has m,
V is m x C (hidden x outputs), c has C; t is the target class (0 <= t < C).
Arguments arrive as Python lists of floats; results may be lists or NumPy arrays.
"""

import math


def forward(x, W, b, V, c):
    """Optional, and checked too: any of k, h, o, y."""
    d, m, C = len(x), len(b), len(c)
    k = [b[j] + sum(x[i] * W[i][j] for i in range(d)) for j in range(m)]
    h = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
         for v in k]
    o = [c[n] + sum(h[j] * V[j][n] for j in range(m)) for n in range(C)]
    top = max(o)
    e = [math.exp(v - top) for v in o]
    y = [v / sum(e) for v in e]
    return {"k": k, "h": h, "o": o, "y": y}


def backward(x, t, W, b, V, c):
    """Required (or backward_batch): dW, db, dV, dc; optionally loss, do, dh, dk."""
    f = forward(x, W, b, V, c)
    # TODO: dl/do, then dV and dc, then dl/dh, dl/dk, and dW and db
    raise NotImplementedError("write the backward pass")


# Optional: the same on a batch, as means over the examples. X is an N x d NumPy
# array, T an int array of N classes, W, b, V, c NumPy arrays.
# def backward_batch(X, T, W, b, V, c):
#     return {"dW": ..., "db": ..., "dV": ..., "dc": ..., "loss": ...}
'''

__all__ = ["TEMPLATE"]
