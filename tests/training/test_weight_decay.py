"""L2 weight decay: weights only, equal to (decay/2)||W||^2 added to the loss (finite differences)."""

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, make_optimizer, optimizer_from_state, train_step


def _model_and_batch(seed=3, sizes=(4, 6, 5, 3)):
    model = MLP(list(sizes), activation="tanh", init="glorot-normal", dtype="float64", seed=seed)
    rng = np.random.default_rng(seed + 10)
    # non-zero biases, so that decaying them by mistake would show
    model.set_params({k: v + (rng.normal(0, 0.5, v.shape) if k.startswith("b") else 0)
                      for k, v in model.params.items()})
    X = rng.normal(size=(7, sizes[0]))
    y = rng.integers(0, sizes[-1], size=7)
    return model, X, y


def _objective(model, X, y, decay):
    """Mean cross-entropy + (decay / 2) * sum of squared *weights* (biases excluded)."""
    penalty = sum(float((v * v).sum()) for k, v in model.params.items() if k.startswith("W"))
    return model.loss(X, y) + 0.5 * decay * penalty


def _numerical_gradient(model, X, y, decay, h=1e-6):
    grads = {}
    for name, p in model.params.items():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = _objective(model, X, y, decay)
            p[idx] = old - h
            down = _objective(model, X, y, decay)
            p[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads[name] = g
    return grads


@pytest.mark.parametrize("decay", [0.0, 0.05, 0.7])
def test_sgd_step_with_decay_descends_the_penalized_objective(decay):
    model, X, y = _model_and_batch()
    numeric = _numerical_gradient(model, X, y, decay)
    before = {k: v.copy() for k, v in model.params.items()}
    lr = 0.3
    opt = make_optimizer("sgd", model, lr, weight_decay=decay)
    train_step(model, opt, X, y)  # default path selection (the fused path is bypassed)
    for k, p in model.params.items():
        np.testing.assert_allclose(p, before[k] - lr * numeric[k], rtol=1e-7, atol=1e-9,
                                   err_msg=k)


def test_biases_are_not_decayed_unless_asked():
    model, X, y = _model_and_batch()
    model.loss_and_grads(X, y)
    g = {k: v.copy() for k, v in model.grads.items()}
    p0 = {k: v.copy() for k, v in model.params.items()}
    make_optimizer("sgd", model, 0.1, weight_decay=0.5).step()
    for k, w in p0.items():
        expect = w - 0.1 * (g[k] + (0.5 * w if k.startswith("W") else 0.0))
        np.testing.assert_allclose(model.params[k], expect, rtol=1e-14, err_msg=k)
    model.set_params(p0)
    make_optimizer("sgd", model, 0.1, weight_decay=0.5, decay_biases=True).step()
    for k, w in p0.items():
        np.testing.assert_allclose(model.params[k], w - 0.1 * (g[k] + 0.5 * w),
                                   rtol=1e-14, err_msg=k)


def test_fused_path_is_refused_with_decay_and_default_path_matches_definition():
    model, X, y = _model_and_batch()
    opt = make_optimizer("sgd", model, 0.2, weight_decay=0.1)
    with pytest.raises(BackproplabError, match="weight decay"):
        train_step(model, opt, X, y, fused=True)


@pytest.mark.parametrize("name,options", [
    ("sgd", {}), ("momentum", {"momentum": 0.8}), ("nesterov", {}), ("adam", {}),
])
def test_weights_only_decay_matches_torch_parameter_groups(name, options):
    torch = pytest.importorskip("torch")
    model, X, y = _model_and_batch(seed=5)
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in model.params.items()}
    groups = [{"params": [v for k, v in tp.items() if k.startswith("W")], "weight_decay": 0.03},
              {"params": [v for k, v in tp.items() if k.startswith("b")], "weight_decay": 0.0}]
    if name == "adam":
        topt = torch.optim.Adam(groups, lr=0.01)
    else:
        topt = torch.optim.SGD(groups, lr=0.1, momentum=options.get("momentum", 0.9)
                               if name != "sgd" else 0.0, nesterov=name == "nesterov")
    opt = make_optimizer(name, model, 0.01 if name == "adam" else 0.1, weight_decay=0.03,
                         **options)
    n_layers = len(model.layers)
    for step in range(6):
        rows = slice(step % 2, step % 2 + 5)
        train_step(model, opt, X[rows], y[rows])
        h = torch.tensor(X[rows])
        for i in range(1, n_layers + 1):
            h = h @ tp[f"W{i}"] + tp[f"b{i}"]
            if i < n_layers:
                h = torch.tanh(h)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(h, torch.tensor(y[rows])).backward()
        topt.step()
    for k, v in model.params.items():
        np.testing.assert_allclose(v, tp[k].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_decay_settings_survive_a_checkpoint(tmp_path):
    model, X, y = _model_and_batch()
    opt = make_optimizer("momentum", model, 0.1, weight_decay=0.01, decay_biases=True)
    train_step(model, opt, X, y)
    model.save(tmp_path / "m.npz", optimizer=opt)
    loaded, state, _ = MLP.load_checkpoint(tmp_path / "m.npz")
    opt2 = optimizer_from_state(loaded, state)
    assert opt2.weight_decay == 0.01 and opt2.decay_biases is True and opt2.clip_norm is None


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "x"])
def test_negative_or_non_numeric_decay_is_refused(bad):
    model, _, _ = _model_and_batch()
    with pytest.raises(BackproplabError, match="weight_decay"):
        make_optimizer("sgd", model, 0.1, weight_decay=bad)
