"""The MLP: construction by name, input validation, seeds, prediction, save/load."""

import io
import json
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import INITIALIZERS, MLP, load_checkpoint, make_optimizer, train_step
from backproplab.tensor.backend import get_array_module


def test_parameter_names_shapes_and_zero_biases():
    model = MLP([784, 512, 256, 10], seed=0)
    assert list(model.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.shape for p in model.params.values()] == [
        (784, 512), (512,), (512, 256), (256,), (256, 10), (10,)]
    assert list(model.grads) == list(model.params)
    assert all(not model.params[f"b{i}"].any() for i in (1, 2, 3))
    assert model.n_parameters() == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10


@pytest.mark.parametrize("init,check", [
    ("normal", lambda W, fi, fo: abs(W.std() - 0.1) < 0.005),
    ("glorot-uniform", lambda W, fi, fo: np.abs(W).max() <= np.sqrt(6 / (fi + fo))
        and abs(W.std() - np.sqrt(2 / (fi + fo))) < 0.05 * np.sqrt(2 / (fi + fo))),
    ("glorot-normal", lambda W, fi, fo: abs(W.std() - np.sqrt(2 / (fi + fo))) < 0.05 * np.sqrt(2 / (fi + fo))),
    ("he-normal", lambda W, fi, fo: abs(W.std() - np.sqrt(2 / fi)) < 0.05 * np.sqrt(2 / fi)),
])
def test_initializers_have_their_scale(init, check):
    W = MLP([300, 200, 10], init=init, dtype="float64", seed=1).params["W1"]
    assert abs(W.mean()) < 0.01 * max(W.std(), 1e-3) * 10
    assert check(W, 300, 200)


def test_normal_std_is_configurable():
    W = MLP([300, 200, 2], init="normal", init_std=0.01, seed=1).params["W1"]
    assert abs(W.std() - 0.01) < 0.0005
    with pytest.raises(BackproplabError, match="only to the 'normal'"):
        MLP([3, 2], init="he-normal", init_std=0.5)


def test_same_seed_same_weights_different_seed_different():
    for init in INITIALIZERS:
        a, b = MLP([5, 4, 3], init=init, seed=7), MLP([5, 4, 3], init=init, seed=7)
        c = MLP([5, 4, 3], init=init, seed=8)
        for k in a.params:
            assert a.params[k].tobytes() == b.params[k].tobytes()
        assert a.params["W1"].tobytes() != c.params["W1"].tobytes()
    # a Generator works like a seed, and consumes its stream
    a = MLP([5, 4, 3], seed=7)
    g = np.random.default_rng(7)
    assert MLP([5, 4, 3], rng=g).params["W1"].tobytes() == a.params["W1"].tobytes()
    assert MLP([5, 4, 3], rng=g).params["W1"].tobytes() != a.params["W1"].tobytes()


def test_no_global_random_state_is_used_or_changed():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    MLP([5, 4, 3], seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.random.seed(1)
    w1 = MLP([5, 4, 3], seed=3).params["W1"].copy()
    np.random.seed(2)
    np.testing.assert_array_equal(MLP([5, 4, 3], seed=3).params["W1"], w1)


@pytest.mark.parametrize("kwargs,match", [
    ({"activation": "softplus"}, "unknown activation 'softplus'; choose one of sigmoid, relu, tanh"),
    ({"init": "xavier"}, "unknown initializer 'xavier'; choose one of normal, glorot-uniform"),
    ({"dtype": "float16"}, "unsupported dtype"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_unknown_names_list_the_valid_ones(kwargs, match):
    with pytest.raises(BackproplabError, match=match):
        MLP([2, 3, 2], **kwargs)


def test_bad_sizes_and_optimizer_names():
    for sizes in ([2], [2, 0, 2], [3, 1], "abc"):
        with pytest.raises(BackproplabError):
            MLP(sizes)
    model = MLP([2, 3, 2], seed=0)
    with pytest.raises(BackproplabError, match="unknown optimizer 'rmsprop'; choose one of sgd, momentum, nesterov, adam"):
        make_optimizer("rmsprop", model, 0.1)
    with pytest.raises(BackproplabError, match="unknown option"):
        make_optimizer("sgd", model, 0.1, momentum=0.9)
    with pytest.raises(BackproplabError, match="learning rate"):
        make_optimizer("sgd", model, -1)


def test_gpu_device_without_cupy_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *a, **kw):
        if name == "cupy":
            raise ImportError("no cupy")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(BackproplabError, match=r'pip install "backproplab\[gpu\]"'):
        get_array_module("gpu")
    assert get_array_module("cpu") is np


@pytest.mark.parametrize("X,y,match", [
    (np.zeros((4, 3)), np.zeros(4, int), "3 features per example but the model expects 2"),
    (np.zeros(4), np.zeros(4, int), "2-D array"),
    (np.array([[0.0, np.nan]]), np.zeros(1, int), "NaN or infinite"),
    (np.array([[0.0, np.inf]]), np.zeros(1, int), "NaN or infinite"),
    (np.zeros((4, 2)), np.array([0, 1, 2, 0]), r"labels must lie in \[0, 2\).*from 0 to 2"),
    (np.zeros((4, 2)), np.array([0, -1, 1, 0]), r"labels must lie in \[0, 2\)"),
    (np.zeros((4, 2)), np.zeros(3, int), "one label per example"),
    (np.zeros((4, 2)), np.array([0.5, 1, 0, 0]), "integer class indices"),
    (np.zeros((0, 2)), np.zeros(0, int), "empty"),
])
def test_bad_inputs_are_named(X, y, match):
    model = MLP([2, 3, 2], seed=0)
    opt = make_optimizer("sgd", model, 0.1)
    for call in (lambda: model.loss_and_grads(X, y), lambda: model.evaluate(X, y),
                 lambda: train_step(model, opt, X, y)):
        with pytest.raises(BackproplabError, match=match):
            call()
    if "label" not in match and "integer" not in match:
        with pytest.raises(BackproplabError, match=match):
            model.predict(X)


@pytest.mark.parametrize("X,y,match", [
    ([[0.0, 1.0], [2.0]], [0, 1], "inputs must be a rectangular array of numbers"),
    (np.zeros((2, 2)), [[0], [1, 1]], "labels must be a rectangular array of numbers"),
    (np.zeros((2, 2)), np.array([np.inf, 0.0]), "NaN, infinite or fractional values"),
    (np.zeros((2, 2)), np.array([np.nan, 0.0]), "NaN, infinite or fractional values"),
    (np.zeros((2, 2)), np.array([1e30, 0.0]), r"labels must lie in \[0, 2\).*from 0 to 1e\+30"),
    (np.zeros((2, 2)), np.array([-3.0, 1.0]), r"labels must lie in \[0, 2\).*from -3 to 1"),
])
def test_ragged_data_and_float_labels_out_of_range_are_named_without_warnings(X, y, match):
    # float labels are range-checked before the cast to integers (inf or 1e30 used to wrap
    # around to -2**63 with a RuntimeWarning); ragged lists used to raise NumPy's ValueError
    model = MLP([2, 3, 2], seed=0)
    opt = make_optimizer("sgd", model, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (lambda: model.check_inputs(X, y), lambda: model.evaluate(X, y),
                     lambda: train_step(model, opt, X, y), lambda: model.loss(X, y)):
            with pytest.raises(BackproplabError, match=match):
                call()


def test_check_inputs_converts_and_float_labels_that_are_integers_pass():
    model = MLP([2, 3, 2], dtype="float64", seed=0)
    X, y = model.check_inputs(np.zeros((2, 2), np.float32), np.array([1.0, 0.0]))
    assert X.dtype == np.float64 and y.dtype.kind == "i"


def test_predictions_and_evaluate_agree():
    rng = np.random.default_rng(0)
    model = MLP([3, 6, 4], activation="relu", init="he-normal", dtype="float64", rng=rng)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 4, 50)
    proba = model.predict_proba(X)
    assert proba.shape == (50, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    pred = model.predict(X)
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))
    np.testing.assert_array_equal(pred, model.forward(X).argmax(axis=1))
    loss, acc = model.evaluate(X, y, batch_size=7)  # batches of 7 and a last one of 1
    assert loss == pytest.approx(model.loss(X, y), rel=1e-13)
    assert acc == np.mean(pred == y)
    np.testing.assert_allclose(model.predict_proba(X, batch_size=8), proba, rtol=1e-15)


@pytest.mark.parametrize("batch_size", [0, -4, 2.5])
def test_prediction_batch_size_must_be_a_positive_integer(batch_size):
    model = MLP([2, 3, 2], seed=0)
    X, y = np.zeros((5, 2)), np.zeros(5, int)
    for call in (lambda: model.predict(X, batch_size=batch_size),
                 lambda: model.predict_proba(X, batch_size=batch_size),
                 lambda: model.evaluate(X, y, batch_size=batch_size)):
        with pytest.raises(BackproplabError, match="batch_size must be an integer >= 1"):
            call()


def test_returned_arrays_are_not_reused_buffers():
    model = MLP([2, 3, 2], seed=0)
    X1, X2 = np.ones((4, 2)), -np.ones((4, 2))
    out1 = model.forward(X1)
    keep = out1.copy()
    model.forward(X2)
    model.loss_and_grads(X2, np.zeros(4, int))
    np.testing.assert_array_equal(out1, keep)


def test_save_load_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(4)
    model = MLP([5, 7, 6, 3], activation="tanh", init="glorot-uniform", rng=rng)
    opt = make_optimizer("adam", model, 0.01, beta2=0.99)
    X, y = rng.normal(size=(9, 5)), rng.integers(0, 3, 9)
    for _ in range(3):
        train_step(model, opt, X, y)
    extra = {"epoch": 3, "rng": np.random.default_rng(9).bit_generator.state,
             "history": [0.5, float("nan")], "lr": 0.1 + 0.2}
    path = model.save(tmp_path / "ck.npz", optimizer=opt, extra=extra)
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert "param/W1" in data.files
    loaded, state, extra2 = load_checkpoint(path)
    assert loaded.config() == model.config()
    for k, v in model.params.items():
        assert loaded.params[k].dtype == v.dtype
        assert loaded.params[k].tobytes() == v.tobytes()
    assert state["name"] == "adam" and state["steps"] == 3
    assert state["hyper"] == opt.state_dict()["hyper"]
    for b, bufs in opt.state_dict()["buffers"].items():
        for k, v in bufs.items():
            assert state["buffers"][b][k].tobytes() == v.tobytes()
    assert extra2["epoch"] == 3 and extra2["lr"] == 0.1 + 0.2
    assert extra2["rng"] == extra["rng"]
    assert np.isnan(extra2["history"][1])
    g = np.random.default_rng()
    g.bit_generator.state = extra2["rng"]
    assert g.random() == np.random.default_rng(9).random()
    assert MLP.load(path).params["W2"].tobytes() == model.params["W2"].tobytes()
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_a_scalar_engine_runs_model_file_loads_as_the_same_network(cli, tmp_path):
    # docs/training.md: "model.npz ... (backproplab.tensor.MLP.load reads it)"; a scalar
    # run's file (arrays W1, b1, ... and extra) used to be refused as "not a valid model"
    from backproplab.scalar import MLP as ScalarMLP

    out = tmp_path / "run"
    r = cli("train", "--engine", "scalar", "--hidden", "5,3", "--limit", "200", "--epochs", "1",
            "--quiet", "--out", out)
    assert r.status == 0, r.err
    model, opt_state, extra = load_checkpoint(out / "model.npz")
    assert model.config()["sizes"] == [2, 5, 3, 2] and model.activation == "sigmoid"
    assert model.dtype == np.float64 and opt_state is None and extra["epoch"] == 1
    with np.load(out / "model.npz", allow_pickle=False) as z:
        scalar = ScalarMLP.from_dict({k: z[k].tolist() for k in z.files if k != "extra"})
    X = np.random.default_rng(0).normal(size=(20, 2))
    np.testing.assert_allclose(model.predict_proba(X),
                               [scalar.predict_proba(x) for x in X.tolist()], rtol=1e-12)
    assert MLP.load(out / "checkpoint.npz").params["W2"].tobytes() == \
        model.params["W2"].tobytes()
    # W/b arrays that do not chain are still refused with the usual sentence
    bad = tmp_path / "bad.npz"
    np.savez(bad, W1=np.zeros((2, 3)), b1=np.zeros(3), W2=np.zeros((4, 2)), b2=np.zeros(2))
    with pytest.raises(BackproplabError, match="W2 has shape"):
        MLP.load(bad)


def test_loading_bad_files_is_a_clear_error(tmp_path):
    with pytest.raises(BackproplabError, match="does not exist"):
        MLP.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(BackproplabError, match="not a readable .npz"):
        MLP.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(BackproplabError, match="not a valid backproplab model"):
        MLP.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(BackproplabError):
        MLP.load(pickled)


def _refused_in_small_memory(path, *words) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(BackproplabError) as info:
            MLP.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for w in words:
        assert w in str(info.value)
    assert peak < 1 << 20


def test_model_metadata_claiming_huge_layers_is_refused_before_allocating(tmp_path):
    """Regression: a 1 KB model.npz whose metadata claimed layers [2, 11000, 11000, 2]
    made MLP.load allocate 1.4 GB before refusing; the sizes are now checked against
    the stored arrays first."""
    path = MLP([2, 3, 2], seed=0).save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "sizes": [2, 11000, 11000, 2]}).encode(),
                                   dtype=np.uint8)
    np.savez(path, **arrays)
    assert path.stat().st_size < 2048
    _refused_in_small_memory(path, "declares layers [2, 11000, 11000, 2]",
                             "W1 (2, 3) instead of (2, 11000)")


def test_an_array_header_declaring_more_than_its_bytes_is_refused_before_allocating(tmp_path):
    """Same bug, one level down: NumPy allocates the shape an .npy header declares
    before it reads the data, so a few bytes could ask for terabytes."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False,
                                                "shape": (10**6, 10**6)})
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("param/W1.npy", head.getvalue() + bytes(16))
    _refused_in_small_memory(path, "declares shape (1000000, 1000000)", "only 144 bytes")


def test_set_params_checks_shapes():
    model = MLP([2, 3, 2], seed=0)
    params = {k: np.ones_like(v) for k, v in model.params.items()}
    model.set_params(params)
    assert (model.params["W1"] == 1).all()
    params["W1"] = np.ones((3, 3))
    with pytest.raises(BackproplabError, match="W1 has shape"):
        model.set_params(params)
    with pytest.raises(BackproplabError, match="missing"):
        model.set_params({"W1": np.ones((2, 3))})
