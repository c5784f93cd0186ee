"""Allocates without bound: 200 MB more on every turn."""


def backward(x, t, W, b, V, c):
    hoard = []
    while True:
        hoard.append([1.0] * 25_000_000)
