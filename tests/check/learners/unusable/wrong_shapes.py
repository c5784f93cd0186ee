"""dW flattened to one long list."""


def backward(x, t, W, b, V, c):
    return {"dW": [0.0] * (len(x) * len(b) + 1), "db": [0.0] * len(b),
            "dV": [[0.0] * len(c) for _ in b], "dc": [0.0] * len(c)}
