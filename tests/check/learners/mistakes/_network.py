"""The right forward and backward pass, one step at a time, for the broken files
beside it: each of them replaces one step with a classic mistake. (A folder's
files whose names start with ``_`` are helpers, not submissions: ``backproplab
check`` skips them.)"""

import math


def forward(x, W, b, V, c):
    k = [b[j] + sum(x[i] * W[i][j] for i in range(len(x))) for j in range(len(b))]
    h = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in k]
    o = [c[n] + sum(h[j] * V[j][n] for j in range(len(h))) for n in range(len(c))]
    top = max(o)
    e = [math.exp(v - top) for v in o]
    return {"k": k, "h": h, "o": o, "y": [v / sum(e) for v in e]}


def backprop(x, t, W, b, V, c, *, do=None, dV=None, dh=None, dk=None):
    """The gradients, with any step replaced: ``do(f, t)``, ``dV(f, do)``,
    ``dh(f, V, t, do)``, ``dk(f, dh)`` (``f`` is the forward pass's values)."""
    f = forward(x, W, b, V, c)
    do = (do or (lambda f, t: [yn - (n == t) for n, yn in enumerate(f["y"])]))(f, t)
    dV = (dV or (lambda f, do: [[hj * dn for dn in do] for hj in f["h"]]))(f, do)
    dh = (dh or (lambda f, V, t, do: [sum(V[j][n] * do[n] for n in range(len(do)))
                                      for j in range(len(V))]))(f, V, t, do)
    dk = (dk or (lambda f, dh: [g * hj * (1.0 - hj) for g, hj in zip(dh, f["h"])]))(f, dh)
    return {"do": do, "dV": dV, "dc": do, "dh": dh, "dk": dk, "db": dk,
            "dW": [[xi * dj for dj in dk] for xi in x]}
