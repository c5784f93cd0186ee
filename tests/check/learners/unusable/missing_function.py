"""Defines forward only: nothing to check the gradients of."""


def forward(x, W, b, V, c):
    return {}
