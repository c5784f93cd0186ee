"""The fused SGD step's kernels (tensor/kernels.py, tensor/loops.py), as a specification.

Every compiled loop computes what the NumPy operation it replaces computes, bit for
bit, except the softmax cross-entropy (the C library's exp and log), which agrees to
float rounding; a step with the ``numba`` kernels therefore trains as one with
``numpy``'s, is still plain SGD (``-lr`` times the gradient), and is reproducible
from its seed at any thread count. Without Numba the choice is refused in one
sentence naming the extra.
"""

import importlib
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import HAS_MKL, HAS_NUMBA, needs_numba

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, kernels, make_optimizer, train_step
from backproplab.tensor.layers import ACTIVATIONS, Sigmoid, SoftmaxCrossEntropy
from backproplab.tensor.train import FUSED_CHUNK_ROWS
from backproplab.training.threads import computing

loops = importlib.import_module("backproplab.tensor.loops") if HAS_NUMBA else None

FEW = settings(max_examples=12, deadline=None)
#: Awkward shapes: one row, one column, odd widths.
SHAPES = st.tuples(st.integers(1, 37), st.integers(1, 11))
#: Shapes whose column sums NumPy takes row after row: for a single column (contiguous
#: along the rows) it sums pairwise instead, and the step keeps NumPy's sum there.
SUMMED_SHAPES = st.tuples(st.integers(1, 37), st.integers(2, 11))
DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def _random(shape, dtype, seed, zeros=False):
    """Values of both signs and several magnitudes; with ``zeros`` a quarter exactly 0."""
    rng = np.random.default_rng(seed)
    a = (rng.normal(size=shape) * 10.0 ** rng.integers(-3, 3, size=shape)).astype(dtype)
    if zeros:
        a[rng.random(shape) < 0.25] = 0
    return a


def _bias(shape, dtype, seed):
    return _random(shape[1:], dtype, seed + 1)


# ------------------------------------------------------- each loop is NumPy's op


@needs_numba
@FEW
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS)
def test_bias_forward_plain_adds_the_bias_to_every_row_as_numpy_does(shape, dtype, seed):
    z, b = _random(shape, dtype, seed), _bias(shape, dtype, seed)
    want = z + b
    loops.bias_forward(z, b, loops.PLAIN)
    np.testing.assert_array_equal(z, want)
    assert z.dtype == dtype


@needs_numba
@FEW
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS)
def test_bias_forward_sigmoid_then_numpy_tanh_then_half_up_is_sigmoid_forward(shape, dtype, seed):
    z, b = _random(shape, dtype, seed), _bias(shape, dtype, seed)
    want = Sigmoid.forward(z + b)
    loops.bias_forward(z, b, loops.ACTIVATION_CODES["sigmoid"])
    np.tanh(z, out=z)
    loops.half_up(z)
    np.testing.assert_array_equal(z, want)


@needs_numba
@FEW
@given(shape=SHAPES, dtype=DTYPES, seed=SEEDS)
def test_bias_forward_relu_is_numpy_relu_of_the_biased_values(shape, dtype, seed):
    z, b = _random(shape, dtype, seed, zeros=True), _bias(shape, dtype, seed)
    want = ACTIVATIONS["relu"].forward(z + b)
    loops.bias_forward(z, b, loops.ACTIVATION_CODES["relu"])
    np.testing.assert_array_equal(z, want)
    assert z.tobytes() == want.tobytes()  # not even the sign of a zero differs


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_forward_relu_keeps_nan_as_numpy_relu_does(dtype):
    # a NaN unit (weights gone to inf) must stay NaN, so that the loss shows it
    z = np.array([[np.nan, -0.0, 1.5, -2.0, np.inf, -np.inf]], dtype)
    b = np.zeros(6, dtype)
    want = ACTIVATIONS["relu"].forward(z + b)
    loops.bias_forward(z, b, loops.ACTIVATION_CODES["relu"])
    assert z.tobytes() == want.tobytes()


@needs_numba
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@FEW
@given(shape=SUMMED_SHAPES, dtype=DTYPES, seed=SEEDS)
def test_activation_grad_is_the_layers_backward_and_its_column_sums(activation, shape, dtype,
                                                                     seed):
    act = ACTIVATIONS[activation]
    h = act.forward(_random(shape, dtype, seed, zeros=True))
    dh = _random(shape, dtype, seed + 2)
    want = act.backward(dh.copy(), h)
    db = np.full(shape[1], 7, dtype)
    loops.activation_grad(dh, h, loops.ACTIVATION_CODES[activation], db)
    np.testing.assert_array_equal(dh, want)
    np.testing.assert_array_equal(db, want.sum(axis=0))


@needs_numba
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_hidden_layer_of_one_unit_gets_numpys_pairwise_bias_gradient(activation, dtype):
    # one column is contiguous: NumPy sums it pairwise, a loop row after row
    act = ACTIVATIONS[activation]
    h = act.forward(_random((200, 1), dtype, 3, zeros=True))
    dh = _random((200, 1), dtype, 4)
    want_db = np.empty(1, dtype)
    want = kernels.NumpyOps.hidden_grad(dh.copy(), h, act, np.empty_like(h), want_db)
    db = np.empty(1, dtype)
    got = kernels.LoopOps(loops).hidden_grad(dh, h, act, np.empty_like(h), db)
    assert got.tobytes() == want.tobytes()
    assert db.tobytes() == want_db.tobytes()


@needs_numba
def test_every_activation_has_its_own_loop_code():
    assert sorted(loops.ACTIVATION_CODES) == sorted(ACTIVATIONS)
    assert len(set(loops.ACTIVATION_CODES.values())) == len(ACTIVATIONS)


# ------------------------------------------------- the softmax cross-entropy


def _numpy_direction(z, y, scale):
    loss, probs = SoftmaxCrossEntropy.forward(z.copy(), y)
    d = SoftmaxCrossEntropy.backward(probs, y, scale=scale)
    return loss, d, d.sum(axis=0)


def _loop_direction(z, y, scale):
    z = z.copy()
    db = np.full(z.shape[1], 7, z.dtype)
    floor = -75.0 if z.dtype == np.float32 else -650.0
    t = z.dtype.type
    total = loops.xent_direction(z, y, t(scale), t(floor), db)
    return total / z.shape[0], z, db


@needs_numba
@FEW
@given(shape=st.tuples(st.integers(1, 37), st.integers(2, 11)), dtype=DTYPES, seed=SEEDS)
def test_xent_direction_is_softmax_cross_entropy_and_its_scaled_gradient(shape, dtype, seed):
    z = _random(shape, dtype, seed)
    y = np.random.default_rng(seed).integers(0, shape[1], shape[0])
    scale = -0.3 / shape[0]
    tol = 1e-6 if dtype == np.float32 else 1e-14
    loss, d, db = _numpy_direction(z, y, scale)
    got_loss, got_d, got_db = _loop_direction(z, y, scale)
    assert got_loss == pytest.approx(loss, rel=tol, abs=tol)
    np.testing.assert_allclose(got_d, d, rtol=tol, atol=tol * abs(scale))
    np.testing.assert_allclose(got_db, db, rtol=tol, atol=tol * abs(scale) * shape[0])
    assert got_d.dtype == dtype


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xent_direction_of_equal_logits_is_exactly_uniform(dtype):
    # four classes, logits all equal: every probability is exactly 1/4, every loss log 4
    z = np.full((3, 4), 2.75, dtype)
    y = np.array([0, 3, 3])
    loss, d, db = _loop_direction(z, y, -0.5)
    assert loss == float(dtype(math.log(4)))  # log of the dtype's sum, in the dtype
    want = np.full((3, 4), -0.125, dtype)  # -0.5 * (1/4 - onehot)
    want[[0, 1, 2], y] = 0.375
    np.testing.assert_array_equal(d, want)
    np.testing.assert_array_equal(db, np.array([0.125, -0.375, -0.375, 0.625], dtype))


@needs_numba
@pytest.mark.parametrize("dtype,spread,floor", [(np.float32, 200.0, -75.0),
                                                (np.float64, 1000.0, -650.0)])
def test_xent_direction_of_huge_spreads_is_finite_and_floors_the_tiny_probability(dtype, spread,
                                                                                   floor):
    # exp(-spread) underflows to 0; the floor keeps the probability exp(floor), a normal
    # number, and the loss of the unlikely label is its whole (unfloored) shift
    z = np.array([[spread / 2, -spread / 2], [spread / 2, -spread / 2]], dtype)
    y = np.array([1, 0])
    loss, d, db = _loop_direction(z, y, -1.0)
    assert np.isfinite(loss)
    np.testing.assert_array_equal(db, d.sum(axis=0))
    assert loss == pytest.approx(spread / 2, rel=1e-6)
    tiny = np.exp(dtype(floor))
    assert tiny >= np.finfo(dtype).tiny
    np.testing.assert_allclose(d, [[-1, 1], [0, 0]], atol=1e-6)
    assert d[1, 1] == pytest.approx(-tiny, rel=1e-6)  # floored, not 0
    ref_loss, ref_d, _ = _numpy_direction(z, y, -1.0)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(d, ref_d, rtol=1e-6)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xent_direction_spread_beyond_the_dtype_gives_numpys_infinite_loss(dtype):
    big = np.finfo(dtype).max / 2 * 1.5
    z = np.array([[big, -big]], dtype)
    loss, d, _ = _loop_direction(z, np.array([0]), -1.0)
    assert loss == pytest.approx(0.0, abs=1e-30) and np.all(np.isfinite(d))
    loss, d, _ = _loop_direction(z, np.array([1]), -1.0)
    assert loss == math.inf
    with np.errstate(all="ignore"):
        assert loss == _numpy_direction(z, np.array([1]), -1.0)[0]


@needs_numba
@pytest.mark.parametrize("bad", [[float("nan"), 1.0, 2.0], [1.0, float("nan"), 2.0],
                                 [1.0, 2.0, float("inf")], [float("-inf"), 0.0, 1.0]])
def test_xent_direction_of_non_finite_logits_gives_numpys_loss(bad):
    # a NaN logit must give a NaN loss, as NumPy's does, so that training stops on it
    z = np.array([bad, [0.5, 0.25, 0.0]])
    with np.errstate(all="ignore"):
        loss, d, _ = _numpy_direction(z, np.array([0, 2]), -0.5)
    got_loss, got_d, _ = _loop_direction(z, np.array([0, 2]), -0.5)
    np.testing.assert_array_equal(got_loss, loss)
    np.testing.assert_allclose(got_d, d, rtol=1e-14, atol=1e-15)


@needs_numba
@pytest.mark.parametrize("label", [3, -1])
def test_xent_direction_refuses_a_label_outside_the_classes(label):
    z = np.zeros((2, 3))
    with pytest.raises(IndexError, match="outside"):
        loops.xent_direction(z, np.array([0, label]), 1.0, -650.0, np.zeros(3))


@needs_numba
def test_an_unchecked_bad_label_stops_the_numba_step_before_any_update():
    model = MLP([3, 5, 3], seed=0, dtype="float64")
    before = {k: v.copy() for k, v in model.params.items()}
    X, y = np.ones((4, 3)), np.array([0, 1, 7, 2])
    with kernels.use_kernels("numba"), pytest.raises(IndexError):
        train_step(model, make_optimizer("sgd", model, 0.1), X, y, check=False)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


# ------------------------------------------------------- a step with the kernels


def _data(n, dtype, seed=4, features=5, classes=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(dtype), rng.integers(0, classes, n)


def _trained(kernel, activation, dtype, batches, lr=0.3, seed=2):
    model = MLP([5, 7, 6, 4], activation=activation, dtype=dtype, seed=seed,
                init="glorot-uniform")
    opt = make_optimizer("sgd", model, lr)
    with kernels.use_kernels(kernel):
        losses = [train_step(model, opt, X, y) for X, y in batches]
    return model, losses


@needs_numba
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype,tol", [("float32", 2e-6), ("float64", 1e-14)])
@pytest.mark.parametrize("rows", [16, FUSED_CHUNK_ROWS + 37], ids=["batch", "chunked"])
def test_a_step_with_numba_kernels_trains_as_one_with_numpys(activation, dtype, tol, rows):
    batches = [_data(rows, dtype, seed=s) for s in range(3)] + [_data(1, dtype, seed=9)]
    ref, ref_losses = _trained("numpy", activation, dtype, batches)
    got, losses = _trained("numba", activation, dtype, batches)
    np.testing.assert_allclose(losses, ref_losses, rtol=tol)
    for k, v in ref.params.items():
        np.testing.assert_allclose(got.params[k], v, rtol=tol, atol=tol, err_msg=k)
        assert got.params[k].dtype == np.dtype(dtype)


@needs_numba
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("rows", [6, FUSED_CHUNK_ROWS + 5], ids=["batch", "chunked"])
def test_the_numba_step_subtracts_lr_times_the_gradient(activation, rows):
    lr = 0.7
    X, y = _data(rows, "float64", seed=11, features=3, classes=3)
    ref = MLP([3, 4, 3], activation=activation, dtype="float64", seed=5, init="glorot-uniform")
    model = MLP([3, 4, 3], activation=activation, dtype="float64", seed=5, init="glorot-uniform")
    want_loss = ref.loss_and_grads(X, y)
    with kernels.use_kernels("numba"):
        loss = train_step(model, make_optimizer("sgd", model, lr), X, y, fused=True)
    assert loss == pytest.approx(want_loss, rel=1e-14)
    for k, p in ref.params.items():
        np.testing.assert_allclose(model.params[k], p - lr * ref.grads[k], rtol=1e-13,
                                   atol=1e-15, err_msg=k)


@needs_numba
def test_the_numba_step_moves_along_central_difference_gradients():
    # independent of the model's own backward pass: a tiny float64 network
    lr, h = 0.1, 1e-6
    X, y = _data(5, "float64", seed=3, features=2, classes=3)
    start = MLP([2, 3, 3], activation="tanh", dtype="float64", seed=1, init="glorot-uniform")
    model = MLP([2, 3, 3], activation="tanh", dtype="float64", seed=1, init="glorot-uniform")
    with kernels.use_kernels("numba"):
        train_step(model, make_optimizer("sgd", model, lr), X, y, fused=True)
    for k, p in start.params.items():
        grad = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            keep = p[i]
            p[i] = keep + h
            up = start.evaluate(X, y)[0]
            p[i] = keep - h
            down = start.evaluate(X, y)[0]
            p[i] = keep
            grad[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(model.params[k], p - lr * grad, rtol=1e-7, atol=1e-9,
                                   err_msg=k)


# ------------------------------------------------------------- reproducibility


@needs_numba
def test_the_same_seed_with_numba_kernels_gives_bit_identical_weights():
    batches = [_data(24, "float32", seed=s) for s in range(4)]
    a, la = _trained("numba", "sigmoid", "float32", batches)
    b, lb = _trained("numba", "sigmoid", "float32", batches)
    assert la == lb
    for k in a.params:
        assert a.params[k].tobytes() == b.params[k].tobytes()


@needs_numba
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_numba_kernels_give_bit_identical_weights_at_one_and_two_threads(activation):
    # MKL (CNR) makes every product thread-independent; without it, OpenBLAS computes
    # products this small in one thread, so a difference could only come from the kernels
    gemm = "mkl" if HAS_MKL else "openblas"
    batches = [_data(rows, "float32", seed=s) for s, rows in enumerate([32, 32, 7, 32])]
    runs = []
    for threads in (1, 2):
        with computing(threads, gemm):
            runs.append(_trained("numba", activation, "float32", batches))
    (a, la), (b, lb) = runs
    assert la == lb
    for k in a.params:
        assert a.params[k].tobytes() == b.params[k].tobytes(), k


# ------------------------------------------------------------ choosing kernels


@pytest.fixture
def without_numba(monkeypatch):
    """Numba cannot be imported (as on a machine without the extra)."""
    monkeypatch.setitem(sys.modules, "numba", None)
    kernels._loops.cache_clear()
    yield
    kernels._loops.cache_clear()  # found again once the monkeypatch is undone


NO_NUMBA = ("kernels='numba' needs Numba, which is not installed; install it with "
            'pip install "backproplab[numba]" or kernels=\'numpy\' for a new run (a run '
            "that used numba replays and resumes only with it)")


def test_numba_kernels_without_numba_are_refused_naming_the_extra(without_numba):
    assert not kernels.present("numba")
    assert kernels.default_kernels() == "numpy"
    with pytest.raises(BackproplabError) as err:
        kernels.require("numba")
    assert str(err.value) == NO_NUMBA
    with pytest.raises(BackproplabError) as err, kernels.use_kernels("numba"):
        pass
    assert str(err.value) == NO_NUMBA
    assert kernels.selected() == "numpy"
    kernels.require("numpy")  # always there


def test_unknown_kernels_are_refused_naming_the_choices():
    with pytest.raises(BackproplabError) as err:
        kernels.require("cuda")
    assert str(err.value) == "unknown kernels 'cuda'; choose kernels='numpy' or 'numba'"
    with pytest.raises(BackproplabError), kernels.use_kernels("Numba"):
        pass
    assert kernels.selected() == "numpy"


def test_default_kernels_are_numba_where_it_is_installed():
    assert kernels.present("numpy")
    assert kernels.default_kernels() == ("numba" if HAS_NUMBA else "numpy")
    assert kernels.KERNELS == ("numpy", "numba")


@needs_numba
def test_selection_is_numpy_outside_a_block_and_restored_even_after_an_error():
    assert kernels.selected() == "numpy"
    with kernels.use_kernels("numba") as name:
        assert name == kernels.selected() == "numba"
        with kernels.use_kernels(None) as inner:  # None keeps the current choice
            assert inner == "numba"
        with kernels.use_kernels("numpy"):
            assert kernels.selected() == "numpy"
            assert kernels.step_ops(np) is kernels.NumpyOps
        assert kernels.selected() == "numba"
        assert isinstance(kernels.step_ops(np), kernels.LoopOps)
    assert kernels.selected() == "numpy"
    with pytest.raises(ZeroDivisionError), kernels.use_kernels("numba"):
        1 / 0  # noqa: B018
    assert kernels.selected() == "numpy"
    assert kernels.step_ops(np) is kernels.NumpyOps
