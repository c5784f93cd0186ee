"""The tensor engine against PyTorch (float64): forward, loss, gradients, optimizer steps.

Skipped where torch is not installed (the ``reference`` extra); in CI a missing
torch fails the whole run instead (``BACKPROPLAB_REQUIRE_EXTRAS``, tests/conftest.py).
"""

import numpy as np
import pytest

from backproplab.tensor import ACTIVATIONS, MLP, make_optimizer, train_step

torch = pytest.importorskip("torch")

TORCH_ACT = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _torch_params(model):
    return {k: torch.tensor(np.array(v), dtype=torch.float64, requires_grad=True)
            for k, v in model.params.items()}


def _torch_logits(tp, X, activation, layers):
    h = torch.tensor(X, dtype=torch.float64)
    for i in range(1, layers + 1):
        h = h @ tp[f"W{i}"] + tp[f"b{i}"]
        if i < layers:
            h = TORCH_ACT[activation](h)
    return h


def _model(activation, sizes, seed):
    rng = np.random.default_rng(seed)
    model = MLP(sizes, activation=activation, init="glorot-normal", dtype="float64", rng=rng)
    for k, v in model.params.items():
        if k.startswith("b"):
            v[...] = rng.normal(0, 0.3, size=v.shape)
    X = rng.normal(size=(13, sizes[0]))
    y = rng.integers(0, sizes[-1], 13)
    return model, X, y


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sizes", [(5, 8, 3), (4, 7, 6, 5, 2)])
def test_forward_loss_and_gradients_match_torch(activation, sizes):
    model, X, y = _model(activation, sizes, seed=len(sizes))
    tp = _torch_params(model)
    logits = _torch_logits(tp, X, activation, len(sizes) - 1)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(model.forward(X), logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X),
                               torch.softmax(logits, 1).detach().numpy(), rtol=1e-10, atol=1e-14)
    ours = model.loss_and_grads(X, y)
    assert ours == pytest.approx(loss.item(), rel=1e-12)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, tp[k].grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=k)


def _torch_optimizer(name, params, lr, options):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **options)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, **{"momentum": 0.9, **options})
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, nesterov=True, **{"momentum": 0.9, **options})
    betas = (options.pop("beta1", 0.9), options.pop("beta2", 0.999))
    return torch.optim.Adam(params, lr=lr, betas=betas, **options)


@pytest.mark.parametrize("name,lr,options", [
    ("sgd", 0.3, {}),
    ("sgd", 0.3, {"weight_decay": 0.01}),
    ("momentum", 0.1, {}),
    ("momentum", 0.1, {"momentum": 0.5, "dampening": 0.2, "weight_decay": 0.001}),
    ("nesterov", 0.1, {"momentum": 0.8}),
    ("adam", 0.01, {}),
    ("adam", 0.02, {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.01}),
])
def test_ten_optimizer_steps_match_torch(name, lr, options):
    model, X, y = _model("tanh", (5, 8, 6, 3), seed=1)
    tp = _torch_params(model)
    topt = _torch_optimizer(name, list(tp.values()), lr, dict(options))
    # one torch parameter group decays every parameter: ask ours to decay biases too
    decay = {"decay_biases": True} if "weight_decay" in options else {}
    opt = make_optimizer(name, model, lr, **options, **decay)
    for step in range(10):
        rows = slice(step % 3, step % 3 + 10)  # the batch changes from step to step
        loss = train_step(model, opt, X[rows], y[rows])
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(_torch_logits(tp, X[rows], "tanh", 3),
                                                  torch.tensor(y[rows]))
        tloss.backward()
        topt.step()
        assert loss == pytest.approx(tloss.item(), rel=1e-10)
    for k, v in model.params.items():
        np.testing.assert_allclose(v, tp[k].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_plain_sgd_fused_path_matches_torch_over_an_epoch():
    """The fast path (used for plain SGD by default) against torch, several layers, sigmoid."""
    model, X, y = _model("sigmoid", (5, 16, 8, 3), seed=4)
    tp = _torch_params(model)
    topt = torch.optim.SGD(list(tp.values()), lr=0.5)
    opt = make_optimizer("sgd", model, 0.5)
    for s in range(0, 13, 4):
        train_step(model, opt, X[s:s + 4], y[s:s + 4])
        topt.zero_grad()
        torch.nn.functional.cross_entropy(_torch_logits(tp, X[s:s + 4], "sigmoid", 3),
                                          torch.tensor(y[s:s + 4])).backward()
        topt.step()
    for k, v in model.params.items():
        np.testing.assert_allclose(v, tp[k].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
