"""Using a trained model: class names, the saved preprocessing, predict and evaluate."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from backproplab.data import class_names, load_dataset
from backproplab.data.catalog import FASHION_MNIST, MNIST
from backproplab.data.idx import write_idx
from backproplab.data.preprocess import Preprocessing
from backproplab.errors import BackproplabError
from backproplab.predict import evaluate, load_predictor, top_k
from backproplab.runs import MODEL
from backproplab.tensor import load_checkpoint

from .conftest import FASHION_MNIST_DIR, run_subprocess


def _fashion_eval(raw: bool):
    """The tiny Fashion-MNIST run's validation split: raw pixels or as training saw them."""
    kw = {"normalize": "none", "dtype": np.float64} if raw else {"normalize": "standardize"}
    return load_dataset("fashion-mnist", limit=300, data_dir=FASHION_MNIST_DIR, **kw)


# --- class names ------------------------------------------------------------

def test_class_names_belong_to_the_datasets():
    assert load_dataset("synth", limit=5).classes == ("inside", "outside")
    assert MNIST.classes == tuple("0123456789") and MNIST.n_classes == 10
    assert FASHION_MNIST.classes[0] == "T-shirt/top" and FASHION_MNIST.classes[9] == "Ankle boot"
    assert class_names("fashion-mnist", 10) == FASHION_MNIST.classes
    assert class_names("other", 3) == ("0", "1", "2")  # unknown: the labels as names


# --- the preprocessing record ----------------------------------------------

def test_model_file_records_the_preprocessing(tiny_synth_run):
    _, _, extra = load_checkpoint(tiny_synth_run / MODEL)
    rec = extra["preprocessing"]
    assert rec["dataset"] == "synth" and rec["classes"] == ["inside", "outside"]
    assert rec["input_shape"] == [2] and rec["color"] is None and rec["inverted"] is False
    data = load_dataset("synth", limit=1000)
    assert rec["normalize"]["mode"] == "standardize"
    assert rec["normalize"]["shift"] == data.normalizer.shift.tolist()  # exact floats


def test_predictor_applies_exactly_what_training_applied(tiny_synth_run):
    from backproplab.data import synth

    pred = load_predictor(tiny_synth_run)
    _, _, X_val, _ = synth.generate()
    trained_on = load_dataset("synth", limit=1000).X_eval
    assert np.array_equal(pred.transform(X_val), trained_on)  # bit-identical
    assert np.array_equal(pred.predict_proba(X_val), pred.model.predict_proba(trained_on))


def test_image_preprocessing_is_bit_identical(tiny_fashion_run):
    pred = load_predictor(tiny_fashion_run)
    pre = pred.preprocessing
    assert (pre.dataset, pre.input_shape, pre.color) == ("fashion-mnist", (28, 28), "grayscale")
    raw = _fashion_eval(raw=True).X_eval[:50].reshape(50, 28, 28)
    assert np.array_equal(pred.transform(raw), _fashion_eval(raw=False).X_eval[:50])


def test_record_round_trips_and_refuses_damage(tiny_synth_run):
    rec = load_checkpoint(tiny_synth_run / MODEL)[2]["preprocessing"]
    assert Preprocessing.from_dict(rec).to_dict() == rec
    with pytest.raises(BackproplabError, match="damaged"):
        Preprocessing.from_dict({**rec, "normalize": {"mode": "standardize"}})


def _strip_record(run_dir):
    model, _, extra = load_checkpoint(run_dir / MODEL)
    extra.pop("preprocessing")
    model.save(run_dir / MODEL, extra=extra)


def test_old_model_falls_back_to_the_run_config(tmp_path, tiny_synth_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_synth_run, run)
    _strip_record(run)
    X = np.array([[0.0, 0.0], [2.0, -1.0]])
    assert np.array_equal(load_predictor(run).predict_proba(X),
                          load_predictor(tiny_synth_run).predict_proba(X))
    with pytest.raises(BackproplabError, match="give a run folder instead"):
        load_predictor(run / MODEL)


def test_a_model_saved_from_python_is_not_called_an_old_file(tmp_path):
    # the README's tour saves with MLP.save; predict/evaluate/export said the file was
    # "saved by an older backproplab" and to "give its run folder": it has none
    from backproplab.tensor import MLP

    MLP([2, 4, 2], seed=0).save(tmp_path / "model.npz")
    res = run_subprocess("export", tmp_path / "model.npz", "--format", "onnx")
    assert res.returncode == 2 and res.stdout == "" and not (tmp_path / "model.onnx").exists()
    assert res.stderr == (
        f"backproplab: error: {tmp_path / 'model.npz'} does not record the preprocessing of "
        "its data (a model saved by MLP.save or MLPClassifier.save, or by a run of an older "
        "backproplab); give a run folder instead (an older run's preprocessing is rebuilt from "
        "its config.json), or train the model with backproplab train\n")


# --- input checks -----------------------------------------------------------

def test_wrong_number_of_features_is_an_error(tiny_synth_run):
    pred = load_predictor(tiny_synth_run)
    with pytest.raises(BackproplabError, match="2 features per example"):
        pred.predict_proba(np.zeros((4, 3)))


def test_scaled_pixels_outside_the_raw_range_are_an_error(tiny_fashion_run):
    pred = load_predictor(tiny_fashion_run)
    with pytest.raises(BackproplabError, match="raw range 0..255"):
        pred.predict_proba(np.full((28, 28), 300.0))


def test_top_k_orders_and_clips():
    probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    assert top_k(probs, 2) == [[(1, 0.5), (2, 0.3)], [(0, 0.4), (1, 0.4)]]
    assert len(top_k(probs, 10)[0]) == 3
    with pytest.raises(BackproplabError):
        top_k(probs, 0)


# --- the predict command ----------------------------------------------------

def _png(path, pixels, mode="L"):
    from PIL import Image

    img = Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L")
    img.convert(mode).save(path)
    return path


def test_predict_png_and_json(cli, tmp_path, tiny_fashion_run):
    pytest.importorskip("PIL")
    raw = _fashion_eval(raw=True).X_eval[:2].reshape(2, 28, 28).astype(np.uint8)
    a = _png(tmp_path / "a.png", raw[0])
    b = _png(tmp_path / "b.png", raw[1], mode="RGB")  # colour: converted to grayscale
    res = cli("predict", tiny_fashion_run, a, b, "--top", "3", "--json")
    assert res.status == 0, res.err
    lines = [json.loads(x) for x in res.out.splitlines()]
    assert [x["input"] for x in lines] == [str(a), str(b)]
    probs = load_predictor(tiny_fashion_run).predict_proba(raw)
    for line, p in zip(lines, probs):
        assert line["label"] == int(p.argmax())
        assert line["class"] == FASHION_MNIST.classes[line["label"]]
        assert len(line["top"]) == 3
        # one image at a time vs a batch of two: float32 sums may round differently
        assert line["top"][0]["probability"] == pytest.approx(float(p.max()), rel=1e-5)
    text = cli("predict", tiny_fashion_run, a, "--top", "2")
    assert text.status == 0 and text.out.startswith(f"{a}: {lines[0]['class']}  (")


def test_predict_invert(cli, tmp_path, tiny_fashion_run):
    pytest.importorskip("PIL")
    raw = _fashion_eval(raw=True).X_eval[0].reshape(28, 28).astype(np.uint8)
    plain = cli("predict", tiny_fashion_run, _png(tmp_path / "p.png", raw), "--json").json()
    dark_on_light = _png(tmp_path / "i.png", 255 - raw)
    inverted = cli("predict", tiny_fashion_run, dark_on_light, "--invert", "--json").json()
    assert inverted["top"] == plain["top"]


def test_predict_refuses_a_wrong_image_size(cli, tmp_path, tiny_fashion_run):
    pytest.importorskip("PIL")
    res = cli("predict", tiny_fashion_run, _png(tmp_path / "big.png", np.zeros((32, 32))))
    assert res.status == 2 and "32x32 pixels" in res.err and "28x28" in res.err
    assert res.out == ""


def test_predict_refuses_an_image_for_a_points_model(cli, tmp_path, tiny_synth_run):
    pytest.importorskip("PIL")
    res = cli("predict", tiny_synth_run, _png(tmp_path / "x.png", np.zeros((28, 28))))
    assert res.status == 2 and "not images" in res.err


def test_predict_npy_and_idx(cli, tmp_path, tiny_fashion_run):
    raw = _fashion_eval(raw=True).X_eval[:3].reshape(3, 28, 28).astype(np.uint8)
    np.save(tmp_path / "x.npy", raw)
    write_idx(tmp_path / "x-images-idx3-ubyte", raw)
    a = cli("predict", tiny_fashion_run, tmp_path / "x.npy", "--json")
    b = cli("predict", tiny_fashion_run, tmp_path / "x-images-idx3-ubyte", "--json")
    labels = [[json.loads(x)["label"] for x in r.out.splitlines()] for r in (a, b)]
    assert labels[0] == labels[1] == load_predictor(tiny_fashion_run).predict(raw).tolist()
    assert json.loads(a.out.splitlines()[2])["input"] == f"{tmp_path / 'x.npy'}[2]"



def test_predict_names_the_shape_of_a_whole_idx_file_of_another_form(cli, tmp_path,
                                                                      tiny_fashion_run):
    # regression: a labels file (5,000 entries) was said to 'have shape (4096,)', the
    # shape of the first batch read, not of the file
    write_idx(tmp_path / "y-labels-idx1-ubyte", np.zeros(5000, dtype=np.uint8))
    res = cli("predict", tiny_fashion_run, tmp_path / "y-labels-idx1-ubyte")
    assert res.status == 2 and "has shape (5000,)" in res.err and "28x28" in res.err
    assert res.out == ""

def test_predict_refuses_pixels_already_scaled_to_0_1(tmp_path, tiny_fashion_run):
    # docs/using-models.md: values already scaled to [0, 1] are an error; they were
    # accepted and classified as nonsense (every image the same class)
    raw = _fashion_eval(raw=True).X_eval[:3].reshape(3, 28, 28)
    np.save(tmp_path / "scaled.npy", raw / 255.0)
    res = run_subprocess("predict", tiny_fashion_run, tmp_path / "scaled.npy")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (f"backproplab: error: {tmp_path / 'scaled.npy'} has fractional values "
                          "from 0 to 1: pixels already scaled to [0, 1]; give raw pixel values "
                          "(0-255), e.g. times 255\n")
    np.save(tmp_path / "raw.npy", raw)  # whole numbers, also a dark image's 0s and 1s
    np.save(tmp_path / "dark.npy", (raw > 128).astype(np.float64))
    res = run_subprocess("predict", tiny_fashion_run, tmp_path / "raw.npy", tmp_path / "dark.npy")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 6, res.stderr

def test_predict_without_pillow_says_what_to_install(cli, tmp_path, tiny_fashion_run,
                                                     monkeypatch):
    import sys

    (tmp_path / "a.png").write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "PIL", None)
    res = cli("predict", tiny_fashion_run, tmp_path / "a.png")
    assert res.status == 2 and "backproplab[images]" in res.err


def test_predict_unknown_file_type(cli, tmp_path, tiny_synth_run):
    (tmp_path / "x.csv").write_text("1,2\n")
    res = cli("predict", tiny_synth_run, tmp_path / "x.csv")
    assert res.status == 2 and ".npy" in res.err


def test_predict_refuses_a_folder_as_input(cli, tmp_path, tiny_synth_run):
    res = cli("predict", tiny_synth_run, tmp_path)
    assert res.status == 2 and res.out == ""
    assert res.err == f"backproplab: error: input {tmp_path} is a folder; give the files in it instead\n"


def test_predict_refuses_a_bad_top_in_one_sentence(cli, tmp_path, tiny_synth_run):
    np.save(tmp_path / "x.npy", np.zeros((1, 2)))
    for bad in ("0", "x"):
        res = cli("predict", tiny_synth_run, tmp_path / "x.npy", "--top", bad)
        assert res.status == 2 and res.out == ""
        assert res.err == f"backproplab: error: --top must be a positive integer, got '{bad}'\n"


def test_predict_names_a_file_that_is_not_npy_without_pickle_advice(cli, tmp_path,
                                                                   tiny_synth_run):
    (tmp_path / "x.npy").write_text("{\n")
    res = cli("predict", tiny_synth_run, tmp_path / "x.npy")
    assert res.status == 2 and "not a .npy file" in res.err and "allow_pickle" not in res.err


# --- evaluate ---------------------------------------------------------------

def test_evaluate_reproduces_the_run_numbers(tiny_synth_run):
    summary = json.loads((tiny_synth_run / "summary.json").read_text())
    res = evaluate(load_predictor(tiny_synth_run), "synth")
    assert res["split"] == "validation" and res["n"] == 10_000
    assert res["accuracy"] == summary["eval_accuracy"]
    assert res["loss"] == pytest.approx(summary["eval_loss"], rel=1e-6)
    C = np.array(res["confusion"])
    assert C.sum() == 10_000 and np.trace(C) / C.sum() == res["accuracy"]
    assert res["per_class_accuracy"] == [C[i, i] / C[i].sum() for i in range(2)]



def test_evaluate_refuses_the_validation_split_of_a_model_trained_with_final(tmp_path):
    # a --final run trains on all 60,000 training images: evaluate's default, the
    # validation split, reported accuracy on images it had trained on as "validation"
    from backproplab.training import TrainConfig, run_training

    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Fashion-MNIST is not installed")
    out = tmp_path / "final"
    summary = run_training(TrainConfig(dataset="fashion-mnist", final=True, hidden=(8,),
                                       epochs=1, limit=300, threads=1,
                                       data_dir=FASHION_MNIST_DIR), out, progress="quiet")
    res = run_subprocess("evaluate", out, "--data-dir", FASHION_MNIST_DIR)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (
        "backproplab: error: the model was trained with --final on all of fashion-mnist's "
        "training data, its validation split included; evaluate it with --final (its test "
        "split) or on another labelled file\n")
    res = run_subprocess("evaluate", out, "--final", "--data-dir", FASHION_MNIST_DIR, "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["split"] == "test" and got["accuracy"] == summary["eval_accuracy"]

def test_evaluate_cli_json_and_table(cli, tiny_fashion_run):
    res = cli("evaluate", tiny_fashion_run, "--dataset", "fashion-mnist", "--final",
              "--data-dir", FASHION_MNIST_DIR, "--json")
    assert res.status == 0, res.err
    assert len(res.out.splitlines()) == 1
    out = res.json()
    assert out["split"] == "test" and out["n"] == 10_000 and len(out["confusion"]) == 10
    summary = json.loads((tiny_fashion_run / "summary.json").read_text())
    val = cli("evaluate", tiny_fashion_run, "--dataset", "fashion-mnist",
              "--data-dir", FASHION_MNIST_DIR)
    assert val.status == 0 and "Ankle boot" in val.out
    assert f"accuracy {summary['eval_accuracy']:.4f}" in val.out


def test_evaluate_defaults_to_the_models_dataset(cli, tiny_synth_run):
    res = cli("evaluate", tiny_synth_run, "--json")
    assert res.status == 0, res.err
    summary = json.loads((tiny_synth_run / "summary.json").read_text())
    assert res.json()["dataset"] == "synth"
    assert res.json()["accuracy"] == summary["eval_accuracy"]


def test_evaluate_refuses_another_dataset(cli, tiny_fashion_run):
    res = cli("evaluate", tiny_fashion_run, "--dataset", "mnist")
    assert res.status == 2 and "trained on fashion-mnist, not mnist" in res.err
    assert "evaluate it with --dataset fashion-mnist or on a labelled file" in res.err
    with pytest.raises(BackproplabError, match="evaluate it with dataset='fashion-mnist' or"):
        evaluate(load_predictor(tiny_fashion_run), "mnist")


def test_evaluate_refuses_a_target_with_a_built_in_dataset(cli, tiny_synth_run):
    # regression: --target was silently ignored (no label column to choose in synth)
    for extra in ((), ("--dataset", "synth")):
        res = cli("evaluate", tiny_synth_run, *extra, "--target", "label")
        assert res.status == 2 and res.out == "", res.err
        assert res.err == ("backproplab: error: --target applies only to a dataset given as "
                           "a PATH, not --dataset synth; drop --target\n"), res.err


def test_scalar_engine_model_predicts(tmp_path):
    """A scalar-engine run's model.npz (arrays W1, b1, ... and a JSON extra) carries the
    record too, and predicts through the float64 tensor MLP."""
    from backproplab.training import TrainConfig, run_training

    run_training(TrainConfig(dataset="synth", engine="scalar", hidden=(4,), epochs=1,
                             limit=200, threads=1), tmp_path / "s", progress="quiet")
    pred = load_predictor(tmp_path / "s")
    assert pred.model.dtype == np.float64 and pred.classes == ("inside", "outside")
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert evaluate(pred, "synth")["accuracy"] == summary["eval_accuracy"]


def test_evaluate_a_run_whose_data_file_is_gone_names_the_missing_file(tmp_path):
    # regression: the CSV moved after training; evaluate said '--dataset ... is neither a
    # built-in name nor a file', as if the user had mistyped a flag they never gave
    from backproplab.training import TrainConfig, run_training

    rows = [f"{a:.3f},{int(a > 0)}" for a in np.random.default_rng(0).normal(size=60)]
    (tmp_path / "t.csv").write_text("a,label\n" + "\n".join(rows) + "\n")
    run_training(TrainConfig(dataset=str(tmp_path / "t.csv"), hidden=(2,), epochs=1,
                             threads=1), tmp_path / "run", progress="quiet")
    (tmp_path / "t.csv").rename(tmp_path / "moved.csv")
    res = run_subprocess("evaluate", tmp_path / "run", timeout=300)
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert res.stderr == (f"backproplab: error: the model was trained on {tmp_path / 't.csv'}, "
                          "which is not there any more; put the data back at that path, or "
                          "evaluate it on a labelled file as --dataset\n")
    res = run_subprocess("evaluate", tmp_path / "run", "--dataset", tmp_path / "moved.csv",
                         timeout=300)
    assert res.returncode == 0, res.stderr  # the fix it names works
