"""Calls sys.exit while it works."""

import sys


def backward(x, t, W, b, V, c):
    print("giving up")
    sys.exit(3)
