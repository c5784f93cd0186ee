"""A user's own files as datasets: CSV/TSV, .npz and image folders (load_dataset(PATH)).

The tables are scikit-learn's bundled datasets (iris, wine), written to CSV here;
the statistics are recomputed with NumPy from the file's own numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from backproplab.data import describe, images, load_dataset, sources, tables
from backproplab.data.describe import describe_source
from backproplab.data.files import split_in_place, stratified_split
from backproplab.data.mnist import SPLIT_SEED
from backproplab.data.preprocess import Preprocessing
from backproplab.data.sources import estimate
from backproplab.errors import BackproplabError

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("sklearn.datasets")


def iris_frame():
    data = datasets.load_iris(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["species"] = np.asarray(data.target_names)[data.target]
    return frame


@pytest.fixture
def iris_csv(tmp_path):
    path = tmp_path / "iris.csv"
    iris_frame().to_csv(path, index=False)
    return path


def test_csv_string_labels_stratified_split_and_training_statistics(iris_csv):
    ds = load_dataset(str(iris_csv), val_fraction=0.2)
    assert ds.classes == ("setosa", "versicolor", "virginica")
    assert ds.meta["feature_names"] == list(iris_frame().columns[:4])
    # stratified: 20% of each class's 50 rows, the rest for training
    assert np.bincount(ds.y_eval).tolist() == [10, 10, 10]
    assert np.bincount(ds.y_train).tolist() == [40, 40, 40]
    # the validation rows are the ones the seeded per-class draw picks
    raw = pd.read_csv(iris_csv)
    y = raw["species"].map({"setosa": 0, "versicolor": 1, "virginica": 2}).to_numpy()
    tr, va = stratified_split(y, 3, 0.2, seed=SPLIT_SEED)
    X = raw.iloc[:, :4].to_numpy(dtype=np.float32)
    mean, std = X[tr].astype(np.float64).mean(0), X[tr].astype(np.float64).std(0)
    np.testing.assert_allclose(ds.X_eval, (X[va] - mean) / std, rtol=0, atol=2e-6)
    assert np.array_equal(ds.y_eval, y[va])
    # the training rows: the others, in file order but for those moved into the
    # validation rows' places (split_in_place); compared as sets of (row, label)
    expected = np.column_stack([(X[tr] - mean) / std, y[tr]])
    got = np.column_stack([ds.X_train, ds.y_train])
    by_row = lambda a: a[np.lexsort(a.T[::-1])]
    np.testing.assert_allclose(by_row(got), by_row(expected), rtol=0, atol=2e-6)
    # the record a model stores: features, target, statistics, split
    pre = Preprocessing.from_dict(Preprocessing.from_dataset(ds).to_dict())
    assert pre.features == tuple(raw.columns[:4]) and pre.target == "species"
    assert pre.split["val_fraction"] == 0.2 and pre.input_shape == (4,)
    np.testing.assert_array_equal(pre.normalizer.shift, mean)


def test_split_in_place_moves_tail_rows_into_the_validation_places():
    X = np.arange(10.0).reshape(10, 1)
    y = np.arange(10)
    (X_tr, y_tr), (X_va, y_va) = split_in_place(X, y, np.array([0, 2, 3, 5, 6, 8, 9]),
                                                np.array([1, 4, 7]))
    assert X_va.ravel().tolist() == [1, 4, 7] and y_va.tolist() == [1, 4, 7]
    assert X_tr.ravel().tolist() == [0, 8, 2, 3, 9, 5, 6] and y_tr.tolist() == [0, 8, 2, 3, 9, 5, 6]
    assert X_tr.base is X or X_tr.base is X.base  # a view: no second copy


def test_split_is_seeded_a_partition_and_keeps_a_training_row_per_class():
    y = np.array([0] * 7 + [1] * 3 + [2])
    a, b = stratified_split(y, 3, 0.3), stratified_split(y, 3, 0.3)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    tr, va = a
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(11))
    assert np.bincount(y[va], minlength=3).tolist() == [2, 1, 0]  # round(2.1), round(0.9), 1 kept
    many = np.repeat([0, 1], 50)
    assert stratified_split(many, 2, 0.1, seed=1)[1].tolist() != \
        stratified_split(many, 2, 0.1, seed=2)[1].tolist()


def test_integer_labels_sort_as_numbers_and_tsv_is_read(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\tlabel\n" + "".join(f"{i}\t{i % 3}\t{[2, 10, 1][i % 3]}\n"
                                              for i in range(30)))
    ds = load_dataset(str(path), final=False)
    assert ds.classes == ("1", "2", "10")
    assert ds.meta["target"] == "label" and ds.n_features == 2


def test_target_picks_a_column_that_is_not_last(tmp_path, iris_csv):
    frame = iris_frame()
    frame = frame[["species", *frame.columns[:4]]]
    path = tmp_path / "first.csv"
    frame.to_csv(path, index=False)
    a, b = load_dataset(str(path), target="species"), load_dataset(str(iris_csv))
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_eval, b.y_eval)


def test_npz_with_names_and_its_own_test_set(tmp_path):
    wine = datasets.load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])
    path = tmp_path / "wine.npz"
    np.savez(path, X=wine.data[:150], y=wine.target[:150], X_test=wine.data[150:],
             y_test=wine.target[150:], class_names=names,
             feature_names=np.array(wine.feature_names))
    ds = load_dataset(str(path), final=True)
    assert ds.eval_split == "test" and len(ds.y_eval) == 28 and len(ds.y_train) == 150
    assert ds.classes == tuple(names) and ds.meta["feature_names"] == wine.feature_names
    assert np.array_equal(ds.y_eval, wine.target[150:])
    est = estimate(path)
    assert (est.rows, est.features) == (178, 13)


def test_npz_string_labels(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, X=np.arange(40.0).reshape(20, 2), y=np.array(["no", "yes"] * 10))
    ds = load_dataset(str(path), val_fraction=0.5)
    assert ds.classes == ("no", "yes") and np.bincount(ds.y_eval).tolist() == [5, 5]


def test_test_file_for_final_and_labels_matched_by_name(tmp_path, iris_csv):
    frame = iris_frame()
    test = tmp_path / "test.csv"
    frame.iloc[::-1][list(frame.columns[::-1])].to_csv(test, index=False)  # other column order
    ds = load_dataset(str(iris_csv), final=True, test_data=str(test), target="species")
    assert ds.eval_split == "test" and len(ds.y_eval) == 150
    assert np.array_equal(ds.X_eval, ds.X_train[::-1])
    assert np.array_equal(ds.y_eval, ds.y_train[::-1])


def test_describe_counts_missing_values_and_text_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,y\n1,x,,p\n,2,3,q\n3,4,5,p\n")
    info = describe_source(path)
    assert info["rows"] == 3 and info["features"] == 3 and info["target"] == "y"
    assert info["balance"] == {"p": 2, "q": 1} and info["classes"] == ["p", "q"]
    assert info["missing"] == {"a": 1, "c": 1} and info["text_columns"] == ["b"]
    assert info["memory_bytes"] == 3 * (2 * 4 + 8)


def test_csv_without_pandas_names_the_extra(tmp_path, iris_csv, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(BackproplabError, match=r"backproplab\[data\]"):
        load_dataset(str(iris_csv))


def test_a_name_that_is_neither_dataset_nor_file():
    with pytest.raises(BackproplabError, match="neither a built-in name"):
        load_dataset("mnistt")


def _pngs(root, n_per_class=6, size=(6, 8)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 100, size, dtype=np.uint8) + 150 * k
            Image.fromarray(pixels).convert("RGB").save(root / name / f"{i}.png")


def test_image_folder_grayscale_unit_scaled_and_described(tmp_path):
    pytest.importorskip("PIL")
    _pngs(tmp_path / "pics")
    ds = load_dataset(str(tmp_path / "pics"), val_fraction=0.5)
    assert ds.classes == ("dark", "light") and ds.meta["image_shape"] == [6, 8]
    assert ds.n_features == 48 and ds.normalizer.mode == "unit" and ds.normalizer.scale == 255.0
    assert np.bincount(ds.y_eval).tolist() == [3, 3]
    pre = Preprocessing.from_dataset(ds)
    assert pre.input_shape == (6, 8) and pre.color == "grayscale" and pre.raw_range == (0, 255)
    info = describe_source(tmp_path / "pics")
    assert (info["rows"], info["features"], info["image_shape"]) == (12, 48, [6, 8])
    assert info["balance"] == {"dark": 6, "light": 6} and info["missing"] == {}


def test_describe_lists_an_image_folder_once(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    _pngs(tmp_path / "pics")
    listings = []

    def counting(path):
        listings.append(path)
        return images.list_image_folder(path)

    for module in (describe, sources):
        monkeypatch.setattr(module, "list_image_folder", counting)
    info = describe_source(tmp_path / "pics", max_bytes=2**30)
    assert info["rows"] == 12 and listings == [tmp_path / "pics"]


def test_a_tables_first_mib_is_read_once_for_its_estimate(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,label\n" + "1,2,3,x\n" * 10)
    reads = []

    def counting(file, *args, **kwargs):
        reads.append(file)
        return open(file, *args, **kwargs)

    for module in (sources, tables):
        monkeypatch.setattr(module, "open", counting, raising=False)
    est = estimate(path)
    assert (est.rows, est.features) == (10, 3) and reads == [path]


def test_a_model_of_an_image_folder_predicts_images_of_its_own_size(cli, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    _pngs(tmp_path / "pics")
    run = tmp_path / "run"
    assert cli("train", "--dataset", tmp_path / "pics", "--hidden", "4", "--epochs", "40",
               "--lr", "0.5", "--batch-size", "1", "--val-fraction", "0.5", "--out", run,
               "--quiet").status == 0
    # pixels 0-99 against 150-249: the answer is fixed, for images it never trained on too
    for name, value in (("dark", 40), ("light", 200), ("dark", 0), ("light", 255)):
        Image.fromarray(np.full((6, 8), value, np.uint8)).save(tmp_path / f"{value}.png")
        res = cli("predict", run, tmp_path / f"{value}.png", "--json")
        assert res.status == 0 and res.json()["class"] == name
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "big.png")
    res = cli("predict", run, tmp_path / "big.png")
    assert res.status == 2 and "trained on 8x6 images" in res.err


def test_evaluate_final_uses_the_recorded_test_file(cli, tmp_path, iris_csv):
    test = tmp_path / "test.csv"
    iris_frame().iloc[::3].to_csv(test, index=False)
    run = tmp_path / "run"
    res = cli("train", "--dataset", iris_csv, "--final", "--test-data", test, "--hidden", "8",
              "--epochs", "3", "--out", run, "--quiet", "--json")
    assert res.status == 0, res.err
    summary = res.json()
    result = cli("evaluate", run, "--final", "--json").json()
    assert result["split"] == "test" and result["n"] == 50
    assert result["accuracy"] == summary["eval_accuracy"]


def test_describe_an_npz_counts_non_finite_values(tmp_path):
    X = np.ones((10, 3))
    X[2, 1] = np.nan
    np.savez(tmp_path / "a.npz", X=X, y=np.arange(10) % 2, feature_names=np.array(["p", "q", "r"]))
    info = describe_source(tmp_path / "a.npz")
    assert info["missing"] == {"q": 1} and info["balance"] == {"0": 5, "1": 5}
    assert info["feature_names"] == ["p", "q", "r"] and info["kind"] == "npz"


def test_the_scalar_engine_trains_on_a_csv_with_the_images_init_std(cli, tmp_path, iris_csv):
    res = cli("train", "--dataset", iris_csv, "--engine", "scalar", "--hidden", "4",
              "--epochs", "2", "--out", tmp_path / "run", "--quiet", "--json")
    assert res.status == 0, res.err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["init_std"] == 0.1 and config["normalize"] is None
    assert res.json()["epochs"] == 2 and res.json()["engine"] == "scalar"


def test_a_spreadsheet_export_with_bom_crlf_and_quoted_labels(tmp_path):
    path = tmp_path / "export.csv"
    rows = "".join(f'{i},{i % 5},"{"cat, big" if i % 2 else "dog"}"\r\n' for i in range(20))
    path.write_bytes(("\ufeffx,y,label\r\n" + rows).encode("utf-8"))
    ds = load_dataset(str(path), val_fraction=0.2)
    assert ds.classes == ("cat, big", "dog") and ds.meta["feature_names"] == ["x", "y"]
    assert len(ds.y_train) == 16 and np.bincount(ds.y_eval).tolist() == [2, 2]


@pytest.mark.parametrize("option", [{"target": "y"}, {"val_fraction": 0.5},
                                    {"test_data": "held_out.csv"}])
def test_load_dataset_refuses_a_files_option_with_a_built_in_dataset(option):
    # regression: load_dataset("synth", target=..., val_fraction=...) ignored them silently
    (name,) = option
    with pytest.raises(BackproplabError, match=f"{name} applies only to a dataset given as a "
                                               f"PATH, not dataset='synth'; drop {name}"):
        load_dataset("synth", **option)
