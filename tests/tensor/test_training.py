"""The tensor engine learns: synth with a minimal training loop, and determinism."""

import numpy as np

from backproplab.data import load_synth
from backproplab.tensor import MLP, make_optimizer, train_step


def train(seed, epochs=3, init="glorot-uniform", batch=16, limit=None):
    data = load_synth(limit=limit)
    model = MLP([2, 16, 2], activation="sigmoid", init=init, seed=seed)
    opt = make_optimizer("sgd", model, lr=0.1)
    model.check_inputs(data.X_train, data.y_train)
    shuffle = np.random.default_rng([seed, 1])
    n = len(data.y_train)
    for _ in range(epochs):
        order = shuffle.permutation(n)  # shuffle indices, not the data
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            train_step(model, opt, data.X_train[idx], data.y_train[idx], check=False)
    return model, data


def test_synth_reaches_97_percent_validation_accuracy():
    # 2-16-2 sigmoid, lr 0.1, batch 16, 3 epochs. Glorot-uniform initial weights: with the
    # study's N(0, 0.1^2) the 16 units start almost identical and some seeds are still on
    # the plateau near the class prior (0.56) after 3 epochs.
    model, data = train(seed=0)
    loss, acc = model.evaluate(data.X_eval, data.y_eval)
    assert acc >= 0.97, acc
    assert loss < 0.15


def test_same_seed_bit_identical_different_seed_different():
    a, _ = train(seed=1, epochs=1, limit=3000)
    b, _ = train(seed=1, epochs=1, limit=3000)
    c, _ = train(seed=2, epochs=1, limit=3000)
    for k in a.params:
        assert a.params[k].tobytes() == b.params[k].tobytes()
    assert a.params["W1"].tobytes() != c.params["W1"].tobytes()
