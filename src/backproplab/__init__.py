"""backproplab: backpropagation as real software.

Two engines implement the same multilayer perceptron:

* :mod:`backproplab.scalar` -- plain Python floats and ``math`` only, for reading;
* :mod:`backproplab.tensor` -- vectorized NumPy, for training.

See the README for a tour of the command line and the Python API.
"""

__version__ = "0.1.0"

from backproplab.errors import BackproplabError

__all__ = ["BackproplabError", "__version__"]
