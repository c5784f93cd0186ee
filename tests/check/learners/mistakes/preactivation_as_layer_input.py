"""The output layer's weight gradient uses k instead of h."""

from _network import backprop


def backward(x, t, W, b, V, c):
    # MISTAKE: k (outer) dl/do, not h (outer) dl/do
    return backprop(x, t, W, b, V, c,
                    dV=lambda f, do: [[kj * dn for dn in do] for kj in f["k"]])
