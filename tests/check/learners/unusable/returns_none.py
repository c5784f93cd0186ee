"""Forgets to return."""


def backward(x, t, W, b, V, c):
    grads = {"dW": W, "db": b, "dV": V, "dc": c}  # noqa: F841
