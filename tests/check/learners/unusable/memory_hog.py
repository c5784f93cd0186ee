"""Allocates without bound: 400 MB more on every turn."""


def backward(x, t, W, b, V, c):
    hoard = []
    while True:
        hoard.append([1.0] * 50_000_000)
