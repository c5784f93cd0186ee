"""Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_."""

import math

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, clip_grad_norm, make_optimizer, optimizer_from_state, train_step


def _setup(seed=0):
    model = MLP([5, 7, 3], activation="relu", init="he-normal", dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(9, 5)) * 4
    y = rng.integers(0, 3, size=9)
    return model, X, y


def test_clip_grad_norm_scales_to_the_limit_and_returns_the_old_norm():
    rng = np.random.default_rng(1)
    grads = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4)}
    before = {k: v.copy() for k, v in grads.items()}
    norm = math.sqrt(sum(float((v * v).sum()) for v in before.values()))
    assert clip_grad_norm(grads, 0.5) == pytest.approx(norm, rel=1e-15)
    after = math.sqrt(sum(float((v * v).sum()) for v in grads.values()))
    assert after == pytest.approx(0.5, rel=1e-5)
    for k, g in grads.items():  # one common factor: the direction is kept
        np.testing.assert_allclose(g, before[k] * (0.5 / (norm + 1e-6)), rtol=1e-15)
    # below the limit nothing changes
    same = {k: v.copy() for k, v in grads.items()}
    clip_grad_norm(grads, 10.0)
    for k, g in grads.items():
        assert g.tobytes() == same[k].tobytes()


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=(6, 5)), rng.normal(size=5), rng.normal(size=(5, 2))]
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    for t, a in zip(tensors, arrays):
        t.grad = torch.tensor(a.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(tensors, max_norm=0.75)
    grads = {str(i): a.copy() for i, a in enumerate(arrays)}
    norm = clip_grad_norm(grads, 0.75)
    assert norm == pytest.approx(float(tnorm), rel=1e-14)
    for i, t in enumerate(tensors):
        np.testing.assert_allclose(grads[str(i)], t.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_a_step_with_clipping_uses_the_clipped_gradient(name):
    model, X, y = _setup()
    reference = MLP([5, 7, 3], activation="relu", init="he-normal", dtype="float64", seed=0)
    reference.loss_and_grads(X, y)
    clip_grad_norm(reference.grads, 0.1)
    make_optimizer(name, reference, 0.05).step()
    opt = make_optimizer(name, model, 0.05, clip_norm=0.1)
    train_step(model, opt, X, y)  # the fused path is bypassed for clipping
    assert opt.last_grad_norm > 0.1  # large inputs: it really clipped
    for k, v in model.params.items():
        np.testing.assert_allclose(v, reference.params[k], rtol=1e-13, err_msg=k)


def test_clipping_keeps_a_huge_learning_rate_finite_where_plain_sgd_blows_up():
    model, X, y = _setup(seed=4)
    plain = MLP([5, 7, 3], activation="relu", init="he-normal", dtype="float64", seed=4)
    clipped_opt = make_optimizer("sgd", model, 50.0, clip_norm=0.01)
    plain_opt = make_optimizer("sgd", plain, 50.0)
    p0 = {k: v.copy() for k, v in model.params.items()}
    train_step(model, clipped_opt, X, y)
    train_step(plain, plain_opt, X, y)
    step = math.sqrt(sum(float(((model.params[k] - p0[k]) ** 2).sum()) for k in p0))
    plain_step = math.sqrt(sum(float(((plain.params[k] - p0[k]) ** 2).sum()) for k in p0))
    assert step == pytest.approx(50.0 * 0.01, rel=1e-4)  # the update is lr * clip_norm long
    assert plain_step > 100 * step


def test_clip_norm_survives_a_checkpoint_and_fused_is_refused(tmp_path):
    model, X, y = _setup()
    opt = make_optimizer("sgd", model, 0.1, clip_norm=2.5)
    with pytest.raises(BackproplabError, match="clipping"):
        train_step(model, opt, X, y, fused=True)
    model.save(tmp_path / "m.npz", optimizer=opt)
    loaded, state, _ = MLP.load_checkpoint(tmp_path / "m.npz")
    assert optimizer_from_state(loaded, state).clip_norm == 2.5


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "big"])
def test_bad_clip_norm_is_refused(bad):
    model, _, _ = _setup()
    with pytest.raises(BackproplabError, match="clip_norm"):
        make_optimizer("adam", model, 0.1, clip_norm=bad)
