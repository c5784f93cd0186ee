"""A mistake no diagnosis knows: dh picks up a stray factor of 2."""

from _network import backprop


def backward(x, t, W, b, V, c):
    # MISTAKE: a factor of 2 from nowhere
    return backprop(x, t, W, b, V, c, dh=lambda f, V, t, do: [
        2.0 * sum(v * d for v, d in zip(row, do)) for row in V])
