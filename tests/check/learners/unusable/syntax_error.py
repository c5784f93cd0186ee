"""A syntax error."""


def backward(x, t, W, b, V, c)
    return {}
