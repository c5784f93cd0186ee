"""A correct list-based implementation (plain Python, the study's names and layout)."""

import math


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def forward(x, W, b, V, c):
    k = [b[j] + sum(x[i] * W[i][j] for i in range(len(x))) for j in range(len(b))]
    h = [_sigmoid(v) for v in k]
    o = [c[n] + sum(h[j] * V[j][n] for j in range(len(h))) for n in range(len(c))]
    top = max(o)
    e = [math.exp(v - top) for v in o]
    s = sum(e)
    return {"k": k, "h": h, "o": o, "y": [v / s for v in e], "lse": top + math.log(s)}


def backward(x, t, W, b, V, c):
    f = forward(x, W, b, V, c)
    h, y = f["h"], f["y"]
    do = [yn - (1.0 if n == t else 0.0) for n, yn in enumerate(y)]
    dV = [[hj * dn for dn in do] for hj in h]
    dh = [sum(V[j][n] * do[n] for n in range(len(do))) for j in range(len(h))]
    dk = [g * hj * (1.0 - hj) for g, hj in zip(dh, h)]
    dW = [[xi * dj for dj in dk] for xi in x]
    return {"loss": f["lse"] - f["o"][t], "do": do, "dV": dV, "dc": do, "dh": dh, "dk": dk,
            "dW": dW, "db": dk}
