"""A user's own data through the command line: train, predict, evaluate, export, resume,
--config replay and sweep, on real data no one here made (scikit-learn's bundled tables,
Fashion-MNIST's images written out as a class-folder tree)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess

from backproplab.data import load_dataset
from backproplab.predict import load_predictor
from backproplab.tensor import MLP

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("sklearn.datasets")

CULTIVARS = np.array(["barolo", "grignolino", "barbera"])


def wine_frame():
    wine = datasets.load_wine(as_frame=True)
    frame = wine.frame.drop(columns="target")
    frame.insert(3, "cultivar", CULTIVARS[wine.target])  # the label column, not the last
    return frame


def _ok(res):
    assert res.returncode == 0, res.stderr
    return res


def test_string_labels_round_trip_through_train_predict_evaluate_export(tmp_path):
    frame = wine_frame()
    data = tmp_path / "wine.csv"
    frame.to_csv(data, index=False)
    run = tmp_path / "run"
    summary = json.loads(_ok(run_subprocess(
        "train", "--dataset", data, "--target", "cultivar", "--hidden", "16", "--lr", "0.1",
        "--epochs", "30", "--out", run, "--json", "--quiet")).stdout)
    assert summary["eval_accuracy"] >= 0.9  # 18 held-out wines (10% of each cultivar)

    # predict: columns matched by name (shuffled here), the label column ignored
    rows = tmp_path / "rows.csv"
    shuffled = frame.sample(frac=1.0, axis=1, random_state=0).iloc[:20]
    shuffled.to_csv(rows, index=False)
    lines = _ok(run_subprocess("predict", run, rows, "--json")).stdout.splitlines()
    out = [json.loads(line) for line in lines]
    features = [c for c in frame.columns if c != "cultivar"]
    expected = load_predictor(run).predict(frame[features].to_numpy()[:20])
    assert [o["label"] for o in out] == expected.tolist()
    assert [o["class"] for o in out] == [sorted(CULTIVARS)[k] for k in expected]
    assert np.mean([o["class"] == c for o, c in zip(out, frame["cultivar"][:20])]) >= 0.9

    # evaluate: its own validation split gives the run's number; another file is read whole
    own = json.loads(_ok(run_subprocess("evaluate", run, "--json")).stdout)
    assert own["split"] == "validation" and own["accuracy"] == summary["eval_accuracy"]
    assert own["classes"] == sorted(CULTIVARS) and own["n"] == 18
    whole = json.loads(_ok(run_subprocess("evaluate", run, "--dataset", rows, "--json")).stdout)
    assert whole["n"] == 20 and whole["split"] == "whole"

    pytest.importorskip("torch")
    _ok(run_subprocess("export", run, "--format", "torch"))
    record = json.loads((run / "model.preprocessing.json").read_text())["preprocessing"]
    assert record["features"] == features and record["target"] == "cultivar"


def _weights(run: Path) -> dict:
    return MLP.load(run / "model.npz").params


def test_resume_and_config_replay_are_bit_identical_on_a_csv(cli, tmp_path, monkeypatch):
    data = tmp_path / "wine.csv"
    wine_frame().to_csv(data, index=False)
    common = ("--target", "cultivar", "--hidden", "8", "--lr", "0.05", "--quiet")
    assert cli("train", "--dataset", data, *common, "--epochs", "4", "--out",
               tmp_path / "full").status == 0
    monkeypatch.chdir(tmp_path)  # the config holds the absolute path: replay from elsewhere
    assert cli("train", "--config", tmp_path / "full" / "config.json", "--out",
               tmp_path / "replay", "--quiet").status == 0
    assert cli("train", "--dataset", data, *common, "--epochs", "2", "--out",
               tmp_path / "part").status == 0
    assert cli("train", "--resume", "--out", tmp_path / "part", "--epochs", "4",
               "--quiet").status == 0
    full = _weights(tmp_path / "full")
    for other in ("replay", "part"):
        params = _weights(tmp_path / other)
        assert full and params.keys() == full.keys()
        assert all(np.array_equal(full[k], params[k]) for k in full)
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["dataset"] == str(data) and config["target"] == "cultivar"


def test_a_sweep_on_a_csv_file(cli, tmp_path):
    data = tmp_path / "iris.csv"
    iris = datasets.load_iris(as_frame=True).frame
    iris.to_csv(data, index=False)
    res = cli("sweep", "--dataset", data, "--lr", "0.1,0.3", "--hidden", "8", "--epochs", "3",
              "--workers", "2", "--out", tmp_path / "sweep", "--quiet", "--json")
    assert res.status == 0, res.err
    assert res.json()["ok"] == 2
    results = json.loads((tmp_path / "sweep" / "results.json").read_text())
    assert len(results["groups"]) == 2


def test_digits_as_csv_train_to_90_percent(tmp_path):
    digits = datasets.load_digits(as_frame=True).frame  # 1797 scanned digits, 8x8 pixels
    data = tmp_path / "digits.csv"
    digits.to_csv(data, index=False)
    summary = json.loads(_ok(run_subprocess(
        "train", "--dataset", data, "--hidden", "32", "--lr", "0.1", "--epochs", "15",
        "--out", tmp_path / "run", "--json", "--quiet")).stdout)
    assert summary["eval_accuracy"] >= 0.9


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_as_a_folder_of_pngs(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    fashion = load_dataset("fashion-mnist", data_dir=FASHION_MNIST_DIR, normalize="none",
                           limit=2000, download=False)
    names = [c.replace("/", "-") for c in fashion.classes]
    root = tmp_path / "fashion"
    pixels = fashion.X_train.reshape(-1, 28, 28).astype(np.uint8)
    for i, (image, label) in enumerate(zip(pixels, fashion.y_train)):
        (root / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / names[label] / f"{i:05d}.png")

    folder = load_dataset(str(root), normalize="none", final=True, test_data=str(root))
    order = np.argsort(np.asarray(names)[fashion.y_train], kind="stable")  # class, then name
    assert folder.classes == tuple(sorted(names))
    assert np.array_equal(folder.X_train, fashion.X_train[order])
    run = tmp_path / "run"
    summary = json.loads(_ok(run_subprocess(
        "train", "--dataset", root, "--hidden", "64", "--lr", "0.1", "--epochs", "5",
        "--out", run, "--json", "--quiet")).stdout)
    assert summary["eval_accuracy"] >= 0.7  # 200 held-out images, 10 classes
    # one image of every class: the command's answer is exactly the model's on the pixels
    # written, named by the folder of that label (tests/data/test_files.py checks a
    # folder whose right answer is fixed)
    first = [int(np.flatnonzero(fashion.y_train == k)[0]) for k in range(10)]
    pngs = [root / names[fashion.y_train[i]] / f"{i:05d}.png" for i in first]
    lines = _ok(run_subprocess("predict", run, *pngs, "--json")).stdout.splitlines()
    predictor = load_predictor(run)
    expected = predictor.predict(pixels[first])
    assert predictor.classes == folder.classes
    assert [json.loads(line)["label"] for line in lines] == expected.tolist()
    assert [json.loads(line)["class"] for line in lines] == [folder.classes[k] for k in expected]


def test_a_sweep_over_two_files_given_relative_to_the_working_folder(tmp_path):
    """sweep.json listed 'iris.csv' while each trial's config recorded the absolute
    path: every trial was refused as 'another run' and the sweep failed."""
    frame = datasets.load_iris(as_frame=True).frame
    frame.to_csv(tmp_path / "iris.csv", index=False)
    frame.iloc[::2].to_csv(tmp_path / "half.csv", index=False)
    res = run_subprocess("sweep", "--dataset", "iris.csv,half.csv", "--hidden", "4",
                         "--epochs", "1", "--workers", "1", "--out", "sweep", "--quiet",
                         "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["ok"] == 2
    listed = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["grid"]["dataset"]
    assert listed == [str(tmp_path / "iris.csv"), str(tmp_path / "half.csv")]


def test_evaluate_takes_a_labelled_file_of_the_other_form(tmp_path):
    """A table's model evaluated on an .npz was told to 'drop --target', never given;
    an .npz's model evaluated on a table took its label column for an extra feature."""
    iris = datasets.load_iris()
    names = ["sl", "sw", "pl", "pw"]
    species = iris.target_names[iris.target]
    frame = pd.DataFrame(iris.data, columns=names).assign(species=species)
    frame.to_csv(tmp_path / "iris.csv", index=False)
    np.savez(tmp_path / "iris.npz", X=iris.data, y=species, feature_names=np.array(names))
    for form, other in (("csv", "npz"), ("npz", "csv")):
        run = tmp_path / f"run-{form}"
        _ok(run_subprocess("train", "--dataset", tmp_path / f"iris.{form}", "--hidden", "4",
                           "--epochs", "1", "--out", run, "--quiet"))
        res = _ok(run_subprocess("evaluate", run, "--dataset", tmp_path / f"iris.{other}",
                                 "--json"))
        result = json.loads(res.stdout)
        assert result["n"] == 150 and result["split"] == "whole"
        assert np.sum(result["confusion"], axis=1).tolist() == [50, 50, 50]


def test_a_sweep_over_two_files_with_their_label_column(tmp_path):
    """With the files in the grid, --target was checked against the base's default
    dataset: '--target applies only to a dataset given as a PATH, not --dataset synth'."""
    frame = wine_frame()  # the label column 'cultivar' is not the last
    frame.to_csv(tmp_path / "wine.csv", index=False)
    frame.iloc[::2].to_csv(tmp_path / "half.csv", index=False)
    res = run_subprocess("sweep", "--dataset", f"{tmp_path / 'wine.csv'},{tmp_path / 'half.csv'}",
                         "--target", "cultivar", "--hidden", "4", "--epochs", "1",
                         "--workers", "1", "--out", tmp_path / "sweep", "--quiet", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["ok"] == 2
    for trial in (tmp_path / "sweep").glob("dataset=*"):
        assert json.loads((trial / "config.json").read_text())["target"] == "cultivar"
