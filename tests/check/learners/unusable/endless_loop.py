"""Never returns."""


def backward(x, t, W, b, V, c):
    while True:
        pass
