"""The sigmoid's derivative forgotten: dk = dh."""

from _network import backprop


def backward(x, t, W, b, V, c):
    # MISTAKE: no h(1 - h)
    return backprop(x, t, W, b, V, c, dk=lambda f, dh: list(dh))
