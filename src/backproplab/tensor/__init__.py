"""The tensor engine: a vectorized NumPy (or CuPy) multilayer perceptron.

Build a model, pick an optimizer, train batch by batch::

    import numpy as np
    from backproplab.tensor import MLP, make_optimizer, train_step

    model = MLP([2, 16, 2], activation="sigmoid", seed=0)
    opt = make_optimizer("sgd", model, lr=0.1)
    loss = train_step(model, opt, X_batch, y_batch)
    model.predict(X_new)

Layers (:mod:`.layers`) have hand-written forward and backward passes on whole
batches; :mod:`.optim` holds SGD, momentum/Nesterov and Adam with PyTorch's
update rules; :mod:`.backend` picks NumPy or CuPy.
"""

from backproplab.tensor.backend import DEVICES, get_array_module
from backproplab.tensor.init import INITIALIZERS
from backproplab.tensor.layers import (
    ACTIVATIONS,
    Linear,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    sigmoid,
    softmax,
)
from backproplab.tensor.model import DTYPES, MLP, load_checkpoint
from backproplab.tensor.optim import (
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Optimizer,
    clip_grad_norm,
    make_optimizer,
    optimizer_from_state,
)
from backproplab.tensor.train import train_step

__all__ = [
    "ACTIVATIONS",
    "DEVICES",
    "DTYPES",
    "INITIALIZERS",
    "MLP",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Linear",
    "Momentum",
    "Optimizer",
    "ReLU",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "clip_grad_norm",
    "get_array_module",
    "load_checkpoint",
    "make_optimizer",
    "optimizer_from_state",
    "sigmoid",
    "softmax",
    "train_step",
]
