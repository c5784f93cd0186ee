"""Divides by zero on its second line of work."""


def _helper(h):
    return 1.0 / (h - h)


def backward(x, t, W, b, V, c):
    _helper(x[0])
    return {}
