"""Plain-Python softmax without the shift: math.exp raises OverflowError past about 709."""

import math


def backward(x, t, W, b, V, c):
    k = [b[j] + sum(x[i] * W[i][j] for i in range(len(x))) for j in range(len(b))]
    h = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in k]
    o = [c[n] + sum(h[j] * V[j][n] for j in range(len(h))) for n in range(len(c))]
    e = [math.exp(v) for v in o]  # MISTAKE: exp(o - max(o)) never overflows
    y = [v / sum(e) for v in e]
    do = [yn - (1.0 if n == t else 0.0) for n, yn in enumerate(y)]
    dk = [sum(V[j][n] * do[n] for n in range(len(do))) * h[j] * (1.0 - h[j])
          for j in range(len(h))]
    return {"dW": [[xi * dj for dj in dk] for xi in x], "db": dk,
            "dV": [[hj * dn for dn in do] for hj in h], "dc": do}
