"""run_training: the run folder, seeds, refusing to overwrite, resume, the divergence guard."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from backproplab import tensor
from backproplab.errors import BackproplabError, DivergenceError
from backproplab.fileio import read_jsonl
from backproplab.runs import RunFolder
from backproplab.training import SUMMARY_KEYS, TrainConfig, run_training
from backproplab.training import run as run_module

METRIC_KEYS = {"epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy",
               "train_seconds", "eval_seconds", "lr"}
SMALL = {"hidden": (8,), "limit": 600, "batch_size": 32, "epochs": 3, "threads": 1}


def _cfg(**kw):
    return TrainConfig(**{**SMALL, **kw})


def _params(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith("param/") or k[:1] in "Wb"}


def _same_params(a, b):
    pa, pb = _params(a), _params(b)
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


def _without_times(summary):
    return {k: v for k, v in summary.items()
            if "seconds" not in k and k != "run_dir"}


def test_run_folder_contents(tmp_path):
    out = tmp_path / "run"
    summary = run_training(_cfg(), out, progress="quiet")
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "batches.jsonl", "checkpoint.npz", "model.npz",
            "summary.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]

    cfg = json.loads((out / "config.json").read_text())
    assert TrainConfig.from_dict(cfg) == _cfg().resolved()
    assert RunFolder(out).train_config(TrainConfig) == _cfg().resolved()

    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    for m in metrics:
        assert METRIC_KEYS <= set(m)
        assert m["train_seconds"] > 0 and m["eval_seconds"] > 0 and m["lr"] == 0.1

    batches = read_jsonl(out / "batches.jsonl")
    per_epoch = -(-600 // 32)
    assert len(batches) == 3 * per_epoch
    assert [b["step"] for b in batches] == list(range(1, 3 * per_epoch + 1))
    assert all(set(b) == {"epoch", "step", "loss"} for b in batches)
    assert [b["epoch"] for b in batches[per_epoch - 1:per_epoch + 1]] == [1, 2]

    saved = json.loads((out / "summary.json").read_text())
    assert saved == summary
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["epochs"] == 3 and summary["eval_split"] == "validation"
    assert summary["run_dir"] == str(out)
    assert summary["eval_accuracy"] == metrics[-1]["eval_accuracy"]
    assert summary["best_eval_accuracy"] == max(m["eval_accuracy"] for m in metrics)

    # model.npz holds the final weights and loads with the tensor engine
    model = tensor.MLP.load(out / "model.npz")
    assert model.sizes == [2, 8, 2]
    _, opt_state, extra = tensor.load_checkpoint(out / "checkpoint.npz")
    assert extra["epoch"] == 3 and opt_state["name"] == "sgd"
    assert extra["rng_state"]["bit_generator"] == "PCG64"
    assert _same_params(out / "model.npz", out / "checkpoint.npz")


def test_final_flag_evaluates_on_test(tmp_path):
    summary = run_training(_cfg(final=True, epochs=1), tmp_path / "r", progress="quiet")
    assert summary["eval_split"] == "test"


def test_same_seed_twice_gives_identical_results(tmp_path):
    a = run_training(_cfg(optimizer="adam", lr=0.01), tmp_path / "a", progress="quiet")
    b = run_training(_cfg(optimizer="adam", lr=0.01), tmp_path / "b", progress="quiet")
    assert _without_times(a) == _without_times(b)
    assert _same_params(tmp_path / "a" / "model.npz", tmp_path / "b" / "model.npz")
    assert (tmp_path / "a" / "batches.jsonl").read_text() == \
        (tmp_path / "b" / "batches.jsonl").read_text()
    c = run_training(_cfg(optimizer="adam", lr=0.01, seed=1), tmp_path / "c", progress="quiet")
    assert not _same_params(tmp_path / "a" / "model.npz", tmp_path / "c" / "model.npz")
    assert c["eval_loss"] != a["eval_loss"]


def test_trials_sharing_a_seed_share_weights_and_batch_order(tmp_path):
    # the first batch loss is computed before any update: equal first losses at two
    # learning rates mean equal initial weights and an equal first batch; the second
    # losses differ because the updates differ
    first = {}
    for lr in (0.01, 0.3):
        run_training(_cfg(lr=lr, epochs=1), tmp_path / str(lr), progress="quiet")
        first[lr] = [b["loss"] for b in read_jsonl(tmp_path / str(lr) / "batches.jsonl")[:2]]
    assert first[0.01][0] == first[0.3][0]
    assert first[0.01][1] != first[0.3][1]


@pytest.mark.parametrize("engine_kw", [{}, {"engine": "scalar", "limit": 60, "batch_size": 1}])
def test_a_run_makes_its_engine_once(tmp_path, monkeypatch, engine_kw):
    """The engine whose memory a new run checks is the one it trains (and a resume
    makes one too)."""
    made = []

    def counting(cls):
        def make(cfg, dataset):
            engine = cls(cfg, dataset)
            made.append(engine)
            return engine
        return make

    monkeypatch.setattr(run_module, "ENGINES",
                        {name: counting(cls) for name, cls in run_module.ENGINES.items()})
    run_training(_cfg(**{**engine_kw, "epochs": 1}), tmp_path / "r", progress="quiet")
    assert len(made) == 1 and hasattr(made[0], "model")  # checked, then built and trained
    run_training(_cfg(**{**engine_kw, "epochs": 2}), tmp_path / "r", resume=True,
                 progress="quiet")
    assert len(made) == 2


def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    run_training(_cfg(epochs=1), out, progress="quiet")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(BackproplabError, match="overwrite=True"):
        run_training(_cfg(epochs=1, seed=5), out, progress="quiet")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    summary = run_training(_cfg(epochs=2, seed=5), out, overwrite=True, progress="quiet")
    assert summary["epochs"] == 2
    assert RunFolder(out).train_config(TrainConfig).seed == 5
    assert len(read_jsonl(out / "metrics.jsonl")) == 2


def test_an_empty_existing_folder_is_fine(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    run_training(_cfg(epochs=1), out, progress="quiet")
    assert (out / "summary.json").is_file()


def test_resume_and_overwrite_together_is_an_error(tmp_path):
    with pytest.raises(BackproplabError, match="contradict"):
        run_training(_cfg(), tmp_path, resume=True, overwrite=True, progress="quiet")


def test_resume_without_a_run_or_checkpoint(tmp_path):
    with pytest.raises(BackproplabError, match="no run to resume"):
        run_training(None, tmp_path / "nothing", resume=True, progress="quiet")
    out = tmp_path / "started"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(_cfg().resolved().to_dict()))
    with pytest.raises(BackproplabError, match="no checkpoint.npz"):
        run_training(None, out, resume=True, progress="quiet")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_resume_from_a_corrupt_checkpoint(tmp_path, damage):
    out = tmp_path / "run"
    run_training(_cfg(epochs=1), out, progress="quiet")
    ck = out / "checkpoint.npz"
    data = ck.read_bytes()
    ck.write_bytes({"garbage": b"not a zip file at all" * 10, "truncated": data[:len(data) // 2],
                    "empty": b""}[damage])
    metrics_before = (out / "metrics.jsonl").read_bytes()
    with pytest.raises(BackproplabError, match="checkpoint"):
        run_training(_cfg(epochs=3), out, resume=True, progress="quiet")
    assert (out / "metrics.jsonl").read_bytes() == metrics_before
    assert RunFolder(out).train_config(TrainConfig).epochs == 1  # config.json untouched too


def test_resume_refuses_a_scalar_checkpoint_declaring_more_than_it_stores(tmp_path):
    """Regression: the scalar engine read its checkpoint with a bare ``np.load``, which
    allocates whatever an .npy header declares; it now goes through ``read_npz``."""
    out = tmp_path / "run"
    kw = {"engine": "scalar", "hidden": (4,), "batch_size": None, "limit": 50}
    run_training(_cfg(epochs=1, **kw), out, progress="quiet")
    ck = out / "checkpoint.npz"
    with zipfile.ZipFile(ck) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False,
                                                "shape": (10**6, 10**6)})
    members["W1.npy"] = head.getvalue() + bytes(16)
    with zipfile.ZipFile(ck, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(BackproplabError, match=r"cannot resume: .*declares shape \(1000000"):
        run_training(_cfg(epochs=2, **kw), out, resume=True, progress="quiet")


@pytest.mark.parametrize("name, text", [
    ("metrics.jsonl", "not json{\n"),         # once: silently resumed with epoch 1 lost
    ("metrics.jsonl", "[1, 2]\n"),            # once: AttributeError traceback
    ("metrics.jsonl", '{"epoch": 1}\n'),      # once: KeyError traceback
    ("batches.jsonl", '{"epoch": 1, "step": 1, "loss": 0.5}\n'),  # steps missing
    ("batches.jsonl", '{"epoch": 1}\n'),      # once: KeyError traceback
])
def test_resume_with_damaged_logs_is_refused_and_changes_nothing(tmp_path, name, text):
    out = tmp_path / "run"
    run_training(_cfg(epochs=1), out, progress="quiet")
    (out / name).write_text(text)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(BackproplabError, match=f"cannot resume: .*{name} is damaged"):
        run_training(_cfg(epochs=2), out, resume=True, progress="quiet")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_ignores_log_lines_after_the_checkpoint_but_needs_those_before(tmp_path):
    out = tmp_path / "run"
    run_training(_cfg(epochs=2), out, progress="quiet")
    metrics = read_jsonl(out / "metrics.jsonl")
    # only epoch 2's line is left: epoch 1's numbers would be lost
    (out / "metrics.jsonl").write_text(json.dumps(metrics[1]) + "\n")
    with pytest.raises(BackproplabError, match="epochs 1 to 2"):
        run_training(_cfg(epochs=3), out, resume=True, progress="quiet")


@pytest.mark.parametrize("engine_kw", [
    {"optimizer": "adam", "lr": 0.01},
    {"optimizer": "nesterov", "lr": 0.05, "batch_size": "full"},
    {"engine": "scalar", "hidden": (4,), "batch_size": None, "limit": 200},
])
def test_resume_with_more_epochs_equals_a_longer_run(tmp_path, engine_kw):
    straight = run_training(_cfg(epochs=4, **engine_kw), tmp_path / "a", progress="quiet")
    run_training(_cfg(epochs=2, **engine_kw), tmp_path / "b", progress="quiet")
    resumed = run_training(_cfg(epochs=4, **engine_kw), tmp_path / "b", resume=True,
                           progress="quiet")
    assert _same_params(tmp_path / "a" / "model.npz", tmp_path / "b" / "model.npz")
    assert resumed["resumed_from_epoch"] == 2
    assert _without_times(resumed) == {**_without_times(straight), "resumed_from_epoch": 2}
    for name in ("metrics.jsonl", "batches.jsonl"):
        a, b = read_jsonl(tmp_path / "a" / name), read_jsonl(tmp_path / "b" / name)
        strip = [{k: v for k, v in r.items() if "seconds" not in k} for r in a]
        assert strip == [{k: v for k, v in r.items() if "seconds" not in k} for r in b]


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    out = tmp_path / "run"
    first = run_training(_cfg(epochs=2), out, progress="quiet")
    again = run_training(None, out, resume=True, progress="quiet")
    assert _without_times(again) == {**_without_times(first), "resumed_from_epoch": 2}
    assert len(read_jsonl(out / "metrics.jsonl")) == 2


def test_resume_refuses_other_options(tmp_path):
    out = tmp_path / "run"
    run_training(_cfg(epochs=1), out, progress="quiet")
    with pytest.raises(BackproplabError, match="lr"):
        run_training(_cfg(epochs=2, lr=0.5), out, resume=True, progress="quiet")
    out2 = tmp_path / "run2"
    run_training(_cfg(epochs=2), out2, progress="quiet")
    with pytest.raises(BackproplabError, match="beyond.*epochs=2 or more"):
        run_training(_cfg(epochs=1), out2, resume=True, progress="quiet")


def test_resume_truncates_metrics_written_after_the_checkpoint(tmp_path):
    # a run killed after writing epoch 3's metrics but before its checkpoint
    out = tmp_path / "run"
    run_training(_cfg(epochs=2), out, progress="quiet")
    ref = tmp_path / "ref"
    run_training(_cfg(epochs=3), ref, progress="quiet")
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({**read_jsonl(ref / "metrics.jsonl")[2]}) + "\n")
    with open(out / "batches.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "step": 999, "loss": 0.5}\n{"epoch": 3, "st')
    run_training(_cfg(epochs=3), out, resume=True, progress="quiet")
    assert [m["epoch"] for m in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3]
    steps = [b["step"] for b in read_jsonl(out / "batches.jsonl")]
    assert steps == list(range(1, len(steps) + 1)) and 999 not in steps
    assert _same_params(out / "model.npz", ref / "model.npz")


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    ref = tmp_path / "ref"
    run_training(_cfg(epochs=1), ref, progress="quiet")
    n_batches = -(-600 // 32)
    real_step = tensor.train_step

    def poisoned(model, optimizer, X, y, **kw):
        loss = real_step(model, optimizer, X, y, **kw)
        return float("nan") if optimizer.steps > n_batches + 3 else loss

    from backproplab.training import loop

    monkeypatch.setattr(loop, "train_step", poisoned)
    with pytest.raises(DivergenceError) as info:
        run_training(_cfg(epochs=3), out, progress="quiet")
    msg = str(info.value)
    assert "epoch 2 at batch 4" in msg and "learning rate" in msg
    assert "checkpoint of epoch 1" in msg
    # the checkpoint of epoch 1 is intact and equals an uninterrupted 1-epoch run
    _, _, extra = tensor.load_checkpoint(out / "checkpoint.npz")
    assert extra["epoch"] == 1
    assert _same_params(out / "checkpoint.npz", ref / "checkpoint.npz")
    assert [m["epoch"] for m in read_jsonl(out / "metrics.jsonl")] == [1]
    assert not (out / "summary.json").exists()


def test_divergence_with_a_huge_learning_rate(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DivergenceError, match=r"epoch 1 at batch \d+ of \d+.*lower the learning"):
        run_training(_cfg(activation="relu", init="he-normal", lr=1e6), out, progress="quiet")
    assert not (out / "checkpoint.npz").exists()
    assert (out / "config.json").exists()


def test_plain_progress_prints_data_and_epochs(tmp_path, capsys):
    run_training(_cfg(epochs=2), tmp_path / "r", progress="plain")
    cap = capsys.readouterr()
    assert cap.out == ""  # progress goes to stderr, stdout keeps the results
    lines = cap.err.splitlines()
    assert lines[0].startswith("synth: train 600 x 2 (range")
    assert "raw range" in lines[0]
    assert lines[1].startswith("epoch 1/2") and lines[2].startswith("epoch 2/2")
    assert "validation loss" in lines[2]


def test_quiet_prints_nothing(tmp_path, capsys):
    run_training(_cfg(epochs=1), tmp_path / "r", progress="quiet")
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""


def test_missing_dataset_writes_nothing_so_a_retry_is_not_refused(cli, tmp_path):
    # regression: config.json used to be written before the data was loaded, so the
    # retry after fixing --data-dir was refused with "already holds a run"
    out, empty = tmp_path / "run", tmp_path / "empty"
    empty.mkdir()
    r = cli("train", "--dataset", "mnist", "--data-dir", empty, "--out", out, "--quiet")
    assert r.status == 2 and "mnist" in r.err
    assert not out.exists() or not any(out.iterdir())
    r = cli("train", "--dataset", "mnist", "--data-dir", empty, "--out", out, "--quiet")
    assert "already holds a run" not in r.err


def test_overwrite_with_missing_dataset_keeps_the_old_run(cli, tmp_path):
    out, empty = tmp_path / "run", tmp_path / "empty"
    empty.mkdir()
    assert cli("train", "--limit", "200", "--epochs", "1", "--out", out, "--quiet").status == 0
    before = (out / "model.npz").read_bytes()
    r = cli("train", "--dataset", "mnist", "--data-dir", empty, "--out", out, "--overwrite",
            "--quiet")
    assert r.status == 2
    assert (out / "model.npz").read_bytes() == before
