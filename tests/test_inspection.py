"""--inspect snapshots (training/snapshots.py), the inspection figures
(backproplab.inspection) and ``backproplab plot``."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import FASHION_MNIST_DIR, run_subprocess
from tests.figure_checks import capture_figures, texts_off_the_canvas

from backproplab import inspection as I
from backproplab.commands.options import cli_message
from backproplab.data import class_names, load_synth
from backproplab.errors import BackproplabError
from backproplab.predict import confusion_matrix
from backproplab.runs import INSPECT, RunFolder
from backproplab.tensor import MLP
from backproplab.training import TrainConfig, run_training
from backproplab.training.snapshots import HIST_BINS, PROBE_SIZE, histogram, histogram_edges

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                   reason="needs Debian's dataset-fashion-mnist")


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes
    assert not list(Path(path).parent.glob(".*.tmp"))


def snapshots(run_dir) -> dict:
    with np.load(Path(run_dir) / INSPECT, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    cfg = TrainConfig(dataset="synth", inspect=True, limit=500, epochs=2, threads=1)
    run_training(cfg, out, progress="quiet")
    return out


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs Debian's dataset-fashion-mnist")
    out = tmp_path_factory.mktemp("fashion") / "run"
    cfg = TrainConfig(dataset="fashion-mnist", data_dir=FASHION_MNIST_DIR, inspect=True,
                      limit=600, epochs=1, hidden=(64,), threads=1)
    run_training(cfg, out, progress="quiet")
    return out


# --- the snapshots -----------------------------------------------------------

def test_histogram_counts_fixed_bins_and_clips():
    edges = histogram_edges("sigmoid")
    assert len(edges) == HIST_BINS + 1 and edges[0] == 0 and edges[-1] == 1
    counts = histogram(np.array([0.0, 0.001, 0.5, 0.999, 1.0, 7.0]), edges)
    assert counts.sum() == 6 and counts[0] == 2 and counts[25] == 1 and counts[-1] == 3


def test_synth_snapshots_cover_init_and_every_epoch(synth_run):
    z = snapshots(synth_run)
    assert z["epochs"].tolist() == [0, 1, 2]
    assert z["boundary"].shape == (3, 100, 100) and z["boundary"].dtype == np.float16
    # the first-layer weights at the model's own precision: W - W_init is exact
    assert z["weights_init"].dtype == np.float32 and z["weights_init"].shape == (2, 64)
    # the histograms count every hidden output of the probe batch (300 units, 512 examples)
    assert (z["hist_counts"].sum(axis=-1) == 300 * PROBE_SIZE).all()
    assert not np.array_equal(z["boundary"][0], z["boundary"][-1])
    assert (synth_run / INSPECT).stat().st_size < 300_000


def test_snapshots_store_what_the_model_holds(synth_run):
    z = snapshots(synth_run)
    W1 = RunFolder(synth_run).load_model().params["W1"]
    np.testing.assert_array_equal(z["weights_last"], W1[:, :64])


def test_inspect_does_not_change_results(tmp_path, synth_run):
    cfg = TrainConfig(dataset="synth", limit=500, epochs=2, threads=1)
    run_training(cfg, tmp_path / "plain", progress="quiet")
    assert not (tmp_path / "plain" / INSPECT).exists()
    a, b = RunFolder(synth_run).load_model(), RunFolder(tmp_path / "plain").load_model()
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert (synth_run / "batches.jsonl").read_text() == \
        (tmp_path / "plain" / "batches.jsonl").read_text()


def test_resume_keeps_the_earlier_snapshots(tmp_path, synth_run):
    out = tmp_path / "resumed"
    cfg = TrainConfig(dataset="synth", inspect=True, limit=500, epochs=1, threads=1)
    run_training(cfg, out, progress="quiet")
    first = snapshots(out)
    run_training(cfg.replace(epochs=2), out, resume=True, progress="quiet")
    z, whole = snapshots(out), snapshots(synth_run)
    assert z["epochs"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(z["boundary"][:2], first["boundary"])
    for key in ("boundary", "hist_counts", "weights_init", "weights_last"):
        np.testing.assert_array_equal(z[key], whole[key])


@pytest.mark.parametrize("damage", ["garbage", "huge_header"])
def test_resume_with_a_damaged_snapshot_file_names_it(tmp_path, damage):
    """A damaged inspect.npz is refused with the fix (delete it); one whose array header
    declares more than it stores is refused before NumPy allocates it (read_npz)."""
    out = tmp_path / "run"
    cfg = TrainConfig(dataset="synth", inspect=True, limit=200, epochs=1, threads=1)
    run_training(cfg, out, progress="quiet")
    if damage == "garbage":
        (out / INSPECT).write_bytes(b"not a zip file" * 10)
    else:
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, {"descr": "<i4", "fortran_order": False,
                                                    "shape": (10**6, 10**6)})
        with zipfile.ZipFile(out / INSPECT, "w") as zf:
            zf.writestr("epochs.npy", head.getvalue() + bytes(16))
    with pytest.raises(BackproplabError, match=f"{INSPECT} is damaged .*delete it") as info:
        run_training(cfg.replace(epochs=2), out, resume=True, progress="quiet")
    if damage == "huge_header":
        assert "declares shape (1000000, 1000000)" in str(info.value)


def test_scalar_engine_snapshots(tmp_path):
    cfg = TrainConfig(dataset="synth", engine="scalar", inspect=True, limit=200, epochs=1,
                      threads=1)
    run_training(cfg, tmp_path / "s", progress="quiet")
    z = snapshots(tmp_path / "s")
    assert z["epochs"].tolist() == [0, 1] and z["weights_last"].shape == (2, 8)


# --- the figures ---------------------------------------------------------------

def test_synth_figures_and_gif_frames(tmp_path, synth_run):
    paths = I.plot_all(synth_run, tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names == ["inspect_activations.png", "inspect_boundary.gif", "inspect_boundary.png",
                     "inspect_confusion.png", "loss.png"]
    for p in paths:
        if p.suffix == ".png":
            assert_png(p)
    gif = Image.open(tmp_path / "figs" / "inspect_boundary.gif")
    assert gif.format == "GIF" and gif.n_frames == 3


@needs_fashion
def test_fashion_figures(tmp_path, fashion_run):
    # two float32 (784, 64) weight snapshots are most of it
    assert (fashion_run / INSPECT).stat().st_size < 450_000
    paths = I.plot_all(fashion_run)
    assert sorted(p.name for p in paths) == [
        "inspect_activations.png", "inspect_confusion.png", "inspect_errors.png",
        "inspect_examples.png", "inspect_weights.png", "loss.png"]
    assert all(p.parent == fashion_run for p in paths)
    for p in paths:
        assert_png(p)


@needs_fashion
def test_weights_without_snapshots_show_only_after(tmp_path, fashion_run):
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in fashion_run.iterdir():
        if f.name != INSPECT:
            (copy / f.name).write_bytes(f.read_bytes())
    names = [n for n, _ in I.available(copy)]
    assert "inspect_activations.png" not in names and "inspect_weights.png" in names
    assert_png(I.weights(copy, tmp_path / "w.png"))
    with pytest.raises(BackproplabError, match="train the run with inspect=True") as err:
        I.activations(copy, tmp_path / "a.png")
    assert "train the run with --inspect to draw" in cli_message(err.value)


def _initial_first_layer(run_dir) -> np.ndarray:
    """The run's initial W1, rebuilt here from its seed as the documented contract
    says (SeedSequence(seed) spawned in two, the first for the initialization)."""
    cfg = RunFolder(run_dir).config
    init_ss = np.random.SeedSequence(cfg["seed"]).spawn(2)[0]
    model = MLP([784, *cfg["hidden"], 10], activation=cfg["activation"], init=cfg["init"],
                init_std=cfg["init_std"], dtype=cfg["dtype"], rng=np.random.default_rng(init_ss))
    return np.asarray(model.params["W1"])


def _tile(image: np.ndarray, u: int, ncols: int = 8, side: int = 28) -> np.ndarray:
    r, c = divmod(u, ncols)
    return image[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side]


@needs_fashion
def test_weight_tiles_show_w_minus_w_init_each_on_its_own_symmetric_scale(
        tmp_path, fashion_run, monkeypatch):
    W_init = _initial_first_layer(fashion_run)[:, :64]
    W = np.asarray(RunFolder(fashion_run).load_model().params["W1"])[:, :64]
    assert not np.array_equal(W, W_init)
    delta, epoch = I.first_layer_change(fashion_run)
    assert epoch == 1 and delta.shape == (784, 64)
    np.testing.assert_array_equal(delta, W.astype(np.float64) - W_init.astype(np.float64))

    saved = capture_figures(monkeypatch, I.images)
    I.weights(fashion_run, tmp_path / "w.png")
    (ax, _colorbar) = saved[-1].axes
    (image,) = ax.get_images()
    assert image.get_clim() == (-1.0, 1.0)
    shown = np.ma.getdata(image.get_array())
    for u in range(64):
        limit = np.max(np.abs(delta[:, u]))
        np.testing.assert_array_equal(_tile(shown, u), delta[:, u].reshape(28, 28) / limit)
        assert np.max(np.abs(_tile(shown, u))) == 1.0  # each tile fills its own ±1 scale
    title = ax.get_title()
    assert "W − W_init" in title and "own symmetric scale" in title
    assert texts_off_the_canvas(saved[-1]) == []


@needs_fashion
def test_raw_weight_tiles_are_an_option(tmp_path, fashion_run, monkeypatch):
    saved = capture_figures(monkeypatch, I.images)
    paths = I.plot_all(fashion_run, tmp_path / "raw", raw_weights=True)
    assert tmp_path / "raw" / "inspect_weights.png" in paths
    fig = next(f for f in saved if "First-layer weights" in f.get_suptitle())
    panels = [ax for ax in fig.axes if ax.get_images() and ax.get_title()]
    images = [ax.get_images()[0] for ax in panels]
    z = snapshots(fashion_run)
    for image, key in zip(images, ("weights_init", "weights_last")):
        m = float(np.max(np.abs(z[key].astype(np.float64))))
        assert image.get_clim() == (-m, m)
    assert len(images) == 2 and all("raw weights" in ax.get_title() for ax in panels)


def test_tile_limits():
    W = np.array([[0.5, 0.0, -2.0], [-1.0, 0.0, 1.0]])
    assert I.tile_limits(W).tolist() == [1.0, 1.0, 2.0]  # a column of zeros: 1, drawn white


@needs_fashion
def test_activation_figure_keeps_its_title_on_the_canvas(tmp_path, fashion_run, monkeypatch):
    saved = capture_figures(monkeypatch, I.images)
    I.activations(fashion_run, tmp_path / "a.png", label="pixels scaled to [0, 1]")
    title = saved[-1].get_suptitle()
    assert "pixels scaled to [0, 1]" in title and "first 512" in title
    assert texts_off_the_canvas(saved[-1]) == []


def test_plot_command_draws_raw_weights_on_request(cli, tmp_path):
    r = cli("plot", "--help")
    assert r.status == 0 and "--raw-weights" in r.out and "W - W_init" in r.out


def test_confusion_matrix_counts():
    C = confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    assert C.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_class_names():
    assert load_synth(limit=10).classes == ("inside", "outside")
    fashion = class_names("fashion-mnist", 10)
    assert fashion[0] == "T-shirt/top" and fashion[-1] == "Ankle boot"
    assert class_names("mnist", 10) == tuple("0123456789") and class_names("mnist", 3) == ("0", "1", "2")


def test_image_figures_refuse_synth(tmp_path, synth_run):
    with pytest.raises(BackproplabError, match="image datasets only"):
        I.examples(synth_run, tmp_path / "x.png")
    with pytest.raises(BackproplabError, match="image datasets only"):
        I.weights(synth_run, tmp_path / "x.png")


# --- the command -----------------------------------------------------------------

def test_plot_command_on_a_run_without_inspect(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--limit", "300", "--epochs", "1", "--hidden", "8", "--threads", "1",
               "--quiet", "--out", out).status == 0
    (out / "loss.png").unlink()
    r = cli("plot", out, "--json")
    assert r.status == 0, r.err
    result = r.json()
    names = sorted(Path(p).name for p in result["figures"])
    assert names == ["inspect_boundary.png", "inspect_confusion.png", "loss.png"]
    for p in result["figures"]:
        assert_png(Path(p))
    plain = cli("plot", out, "--out", tmp_path / "elsewhere")
    assert plain.status == 0
    assert plain.out.splitlines() == [str(tmp_path / "elsewhere" / n) for n in
                                      ("loss.png", "inspect_boundary.png",
                                       "inspect_confusion.png")]
    blocked = cli("plot", out, "--out", out / "loss.png" / "figures")  # below a file
    assert blocked.status == 2 and "Traceback" not in blocked.err
    assert blocked.err.strip().endswith("; choose another --out")


@pytest.mark.parametrize("make, says", [
    ("missing", "does not exist; give the folder of a training run or of a sweep"),
    ("empty", "holds no run (config.json) and no sweep (sweep.json or trial folders)"),
    ("file", "is a file, not a folder; give the folder of a training run or of a sweep"),
    ("bad_config", "config.json is damaged (not a JSON object)")])
def test_plot_command_refuses_bad_folders(cli, tmp_path, make, says):
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    elif make == "bad_config":
        target.mkdir()
        (target / "config.json").write_text("{not json")
    r = cli("plot", target)
    assert r.status == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.err


def test_plot_command_on_a_run_without_metrics(cli, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps({"dataset": "synth"}))
    r = cli("plot", tmp_path / "r")
    assert r.status == 2 and len(r.err.strip().splitlines()) == 1


def _plot(run_dir, out) -> list[str]:
    """``backproplab plot RUN --out OUT --json`` in a child process: the figures' names."""
    res = run_subprocess("plot", run_dir, "--out", out, "--json", timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    figures = [Path(p) for p in json.loads(res.stdout)["figures"]]
    for p in figures:
        assert_png(p, min_bytes=1_000)
    return sorted(p.name for p in figures)


@pytest.mark.parametrize("columns", [3, 4])
def test_plot_command_on_a_table_run_draws_what_a_table_allows(tmp_path, columns):
    """A CSV run (3 feature columns, or 4 as in iris: no images) gets its loss,
    confusion matrix and activations: no exit 2 for the image figures it cannot
    have (3), no 2x2 'images' of its features (4)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, columns))
    rows = [",".join(f"{v:.4f}" for v in x) + f",{int(x[0] + x[1] > 0)}" for x in X]
    header = ",".join(f"f{i}" for i in range(columns)) + ",label\n"
    (tmp_path / "t.csv").write_text(header + "\n".join(rows) + "\n")
    out = tmp_path / "run"
    run_training(TrainConfig(dataset=str(tmp_path / "t.csv"), inspect=True, hidden=(4,),
                             epochs=1, threads=1), out, progress="quiet")
    assert _plot(out, tmp_path / "figures") == [
        "inspect_activations.png", "inspect_confusion.png", "loss.png"]


def _image_folder(root: Path) -> Path:
    """Two classes of twenty 6x10 grey images (white on the left or on the right half)."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("left", "right")):
        (root / name).mkdir(parents=True)
        for i in range(20):
            pixels = rng.integers(0, 100, size=(6, 10)).astype(np.uint8)
            pixels[:, 5 * c:5 * c + 5] = 255
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_plot_command_draws_rectangular_images_in_their_own_shape(tmp_path, monkeypatch):
    """A folder of 6x10 images is an image dataset: every image figure is drawn, each
    example and each weight tile 6 pixels high and 10 wide."""
    out = tmp_path / "run"
    run_training(TrainConfig(dataset=str(_image_folder(tmp_path / "imgs")), inspect=True,
                             hidden=(3,), epochs=1, threads=1), out, progress="quiet")
    assert _plot(out, tmp_path / "figures") == [
        "inspect_activations.png", "inspect_confusion.png", "inspect_errors.png",
        "inspect_examples.png", "inspect_weights.png", "loss.png"]
    figures = capture_figures(monkeypatch, I.images)
    I.examples(out, tmp_path / "e.png")
    I.weights(out, tmp_path / "w.png")
    example, tiles = (fig.axes[0].get_images()[0].get_array() for fig in (figures[0], figures[-1]))
    assert example.shape == (6, 10)
    assert tiles.shape == (6, 3 * 11 - 1)  # three 6x10 tiles in a row, a NaN column between


def test_weight_titles_say_what_the_snapshots_hold(tmp_path, monkeypatch):
    """Resumed without its inspect.npz (as the damaged-file message suggests), a run's
    first snapshot is epoch 1, not initialization; and 3 units are 3, not 64."""
    out = tmp_path / "run"
    cfg = TrainConfig(dataset=str(_image_folder(tmp_path / "imgs")), inspect=True,
                      hidden=(3,), epochs=1, threads=1)
    run_training(cfg, out, progress="quiet")
    (out / INSPECT).unlink()
    run_training(cfg.replace(epochs=2), out, resume=True, progress="quiet")
    assert snapshots(out)["epochs"].tolist() == [1, 2]
    saved = capture_figures(monkeypatch, I.images)
    I.weights(out, tmp_path / "raw.png", raw=True)
    I.weights(out, tmp_path / "change.png")
    raw, change = ([ax.get_title() for ax in fig.axes if ax.get_images()] for fig in saved)
    assert [t.split(", one scale")[0] for t in raw] == [
        "raw weights after epoch 1\n(units 1-3)", "raw weights after epoch 2\n(units 1-3)"]
    assert change[0].startswith("change since epoch 1 after epoch 2\n")


def test_plot_command_on_a_run_whose_data_file_is_gone(tmp_path):
    """The CSV moved after training: loss.png (which needs no data) is still drawn, and
    the one-line error names the run and the missing file, not a --dataset flag that
    plot does not have."""
    rows = [f"{a:.3f},{int(a > 0)}" for a in np.random.default_rng(0).normal(size=60)]
    (tmp_path / "t.csv").write_text("a,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "run"
    run_training(TrainConfig(dataset=str(tmp_path / "t.csv"), hidden=(2,), epochs=1,
                             threads=1), out, progress="quiet")
    (tmp_path / "t.csv").rename(tmp_path / "moved.csv")
    (out / "loss.png").unlink(missing_ok=True)
    res = run_subprocess("plot", out, timeout=300)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        (f"backproplab: error: {out} was trained on {tmp_path / 't.csv'}, which is not there "
         "any more; put the data back at that path (its config.json names it) and run this "
         "again")]
    assert_png(out / "loss.png")
