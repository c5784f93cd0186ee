"""``backproplab train``: the study's targets, the JSON summary, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from backproplab.fileio import read_jsonl

SUMMARY_JSON_KEYS = {"train_loss", "train_accuracy", "eval_loss", "eval_accuracy",
                     "eval_split", "epochs", "seconds", "run_dir"}


def test_tensor_engine_reaches_the_synth_target(cli, tmp_path):
    # issue 3: 2-16-2 sigmoid, lr 0.1, batch 16, 3 epochs -> >= 0.97 validation accuracy
    out = tmp_path / "run"
    r = cli("train", "--dataset", "synth", "--hidden", "16", "--lr", "0.1", "--batch-size", "16",
            "--epochs", "3", "--out", out, "--json")
    assert r.status == 0, r.err
    summary = r.json()
    assert SUMMARY_JSON_KEYS <= set(summary)
    assert summary["eval_accuracy"] >= 0.97
    assert summary["eval_split"] == "validation" and summary["epochs"] == 3
    assert summary["run_dir"] == str(out)
    assert json.loads((out / "summary.json").read_text()) == summary
    # --json: the summary is all of stdout; on stderr the data's range comes first,
    # then one line per epoch, then the result
    assert len(r.out.splitlines()) == 1
    lines = r.err.splitlines()
    assert lines[0].startswith("synth: train 60000 x 2") and "range" in lines[0]
    assert sum(line.startswith("epoch ") for line in lines) == 3
    png = (out / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_scalar_engine_quick_run(cli, tmp_path):
    out = tmp_path / "scalar"
    r = cli("train", "--engine", "scalar", "--limit", "2000", "--epochs", "1", "--json",
            "--out", out)
    assert r.status == 0, r.err
    summary = r.json()
    assert SUMMARY_JSON_KEYS <= set(summary)
    assert summary["engine"] == "scalar" and summary["n_train"] == 2000
    assert summary["eval_accuracy"] > 0.85
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["batch_size"] == 1 and cfg["hidden"] == [8] and cfg["dtype"] == "float64"
    assert len(read_jsonl(out / "batches.jsonl")) == 2000
    assert (out / "loss.png").is_file() and (out / "model.npz").is_file()


def test_scalar_engine_reaches_the_study_target(cli, tmp_path):
    # issue 2: scalar training on synth, >= 0.93 validation accuracy in 3 epochs (default seed);
    # a 20,000-point prefix keeps it quick and still clears the bar
    r = cli("train", "--engine", "scalar", "--limit", "20000", "--epochs", "3", "--json",
            "--quiet", "--out", tmp_path / "s")
    assert r.status == 0, r.err
    assert r.json()["eval_accuracy"] >= 0.93


def test_same_seed_same_summary_and_weights(cli, tmp_path):
    args = ("train", "--hidden", "8", "--limit", "1000", "--epochs", "2", "--quiet", "--json",
            "--threads", "1")
    a = cli(*args, "--out", tmp_path / "a").json()
    b = cli(*args, "--out", tmp_path / "b").json()
    drop = {"seconds", "train_seconds", "eval_seconds", "run_dir"}
    assert {k: v for k, v in a.items() if k not in drop} == \
        {k: v for k, v in b.items() if k not in drop}
    with np.load(tmp_path / "a" / "model.npz") as za, np.load(tmp_path / "b" / "model.npz") as zb:
        for k in za.files:
            if k.startswith("param/"):
                assert np.array_equal(za[k], zb[k])


def test_options_reach_the_config(cli, tmp_path):
    out = tmp_path / "r"
    r = cli("train", "--hidden", "6,5", "--activation", "tanh", "--init", "glorot-uniform",
            "--optimizer", "adam", "--lr", "0.01", "--batch-size", "full", "--epochs", "2",
            "--dtype", "float64", "--threads", "1", "--limit", "300", "--seed", "3",
            "--final", "--quiet", "--out", out)
    assert r.status == 0, r.err
    assert r.out.strip() == str(out)  # --quiet: only the run folder
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["hidden"], cfg["activation"], cfg["init"], cfg["optimizer"], cfg["lr"],
            cfg["batch_size"], cfg["dtype"], cfg["threads"], cfg["limit"], cfg["seed"],
            cfg["final"]) == ([6, 5], "tanh", "glorot-uniform", "adam", 0.01, "full",
                              "float64", 1, 300, 3, True)
    assert json.loads((out / "summary.json").read_text())["eval_split"] == "test"


def test_optimizer_settings_reach_the_optimizer_that_uses_them(cli, tmp_path):
    for args in (("--optimizer", "nesterov", "--momentum", "0.5"),
                 ("--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99", "--eps", "1e-7")):
        out = tmp_path / args[1]
        r = cli("train", "--hidden", "4", "--limit", "100", "--epochs", "1", "--quiet",
                "--out", out, *args)
        assert r.status == 0, r.err
        cfg = json.loads((out / "config.json").read_text())
        for flag, value in zip(args[2::2], args[3::2]):
            assert cfg[flag.lstrip("-")] == float(value)


def test_quiet_json_prints_only_the_summary(cli, tmp_path):
    r = cli("train", "--hidden", "4", "--limit", "200", "--epochs", "1", "--quiet", "--json",
            "--out", tmp_path / "q")
    assert r.status == 0
    assert len(r.out.strip().splitlines()) == 1 and "eval_accuracy" in r.json()


def test_refuses_to_overwrite_then_overwrites(cli, tmp_path):
    out = tmp_path / "run"
    base = ("train", "--hidden", "4", "--limit", "200", "--epochs", "1", "--quiet",
            "--out", out)
    assert cli(*base).status == 0
    before = (out / "model.npz").read_bytes()
    r = cli(*base[:-2], "--seed", "9", "--out", out)
    assert r.status == 2 and "--overwrite" in r.err and "Traceback" not in r.err
    assert (out / "model.npz").read_bytes() == before
    assert cli(*base[:-2], "--seed", "9", "--out", out, "--overwrite").status == 0
    assert (out / "model.npz").read_bytes() != before


def test_resume_from_the_command_line(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--hidden", "4", "--limit", "200", "--epochs", "2", "--quiet",
               "--out", out).status == 0
    r = cli("train", "--out", out, "--resume", "--epochs", "3", "--json")
    assert r.status == 0, r.err
    assert "resuming" in r.err and r.json()["epochs"] == 3
    assert r.json()["resumed_from_epoch"] == 2


@pytest.mark.parametrize("args, words", [
    (("--lr", "0"), "lr"),
    (("--lr", "-0.5"), "lr"),
    (("--lr", "abc"), "--lr"),
    (("--epochs", "0"), "epochs"),
    (("--epochs", "two"), "--epochs"),
    (("--dataset", "cifar10"), "dataset"),
    (("--engine", "torch"), "engine"),
    (("--hidden", "16,abc"), "--hidden"),
    (("--hidden", "0"), "--hidden"),
    (("--hidden", ""), "--hidden"),
    (("--batch-size", "0"), "--batch-size"),
    (("--batch-size", "many"), "--batch-size"),
    (("--activation", "gelu"), "activation"),
    (("--optimizer", "rmsprop"), "optimizer"),
    (("--init", "zeros"), "init"),
    (("--dtype", "float16"), "dtype"),
    (("--threads", "0"), "threads"),
    (("--limit", "0"), "limit"),
    (("--engine", "scalar", "--batch-size", "8"), "scalar engine"),
    (("--engine", "scalar", "--optimizer", "adam"), "scalar engine"),
    # settings the chosen optimizer would silently ignore
    (("--momentum", "0.5"), "--momentum applies only to --optimizer momentum or nesterov"),
    (("--engine", "scalar", "--momentum", "0.5"), "--momentum applies only"),
    (("--optimizer", "adam", "--momentum", "0.5"), "not adam"),
    (("--optimizer", "momentum", "--beta1", "0.8"), "--beta1 applies only to --optimizer adam"),
    (("--eps", "1e-6"), "--eps applies only to --optimizer adam, not sgd"),
    # momentum 0 is no momentum: the option's own range says so, with the fix
    (("--optimizer", "momentum", "--momentum", "0"),
     "--momentum must be a number in (0, 1), got 0.0; for plain SGD use --optimizer sgd"),
    (("--resume",), "--out"),
    (("--resume", "--overwrite", "--out", "x"), "contradict"),
])
def test_bad_input_is_one_sentence_and_status_2(cli, args, words):
    r = cli("train", "--quiet", *args)
    assert r.status == 2
    assert words in r.err
    assert "Traceback" not in r.err
    assert r.err.strip().count("\n") <= 1  # the error line (argparse adds its usage line)


def test_resume_without_checkpoint_or_with_corrupt_one(cli, tmp_path):
    r = cli("train", "--resume", "--out", tmp_path / "missing")
    assert r.status == 2 and "no run to resume" in r.err and "Traceback" not in r.err
    out = tmp_path / "run"
    assert cli("train", "--hidden", "4", "--limit", "200", "--epochs", "1", "--quiet",
               "--out", out).status == 0
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 broken")
    r = cli("train", "--resume", "--out", out, "--epochs", "2")
    assert r.status == 2 and "corrupt" in r.err and "Traceback" not in r.err
    os.remove(out / "checkpoint.npz")
    r = cli("train", "--resume", "--out", out, "--epochs", "2")
    assert r.status == 2 and "no checkpoint.npz" in r.err


def test_divergence_from_the_command_line(cli, tmp_path):
    r = cli("train", "--activation", "relu", "--init", "he-normal", "--hidden", "16",
            "--lr", "1e6", "--limit", "2000", "--out", tmp_path / "d")
    assert r.status == 2
    assert "diverged in epoch 1 at batch" in r.err and "learning rate" in r.err
    assert "Traceback" not in r.err


def test_bad_input_in_a_real_process(tmp_path):
    from tests.conftest import run_subprocess

    for args in (("--lr", "-1"), ("--hidden", "x"), ("--resume", "--out", tmp_path / "none")):
        proc = run_subprocess("train", "--quiet", *args, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("backproplab: error:")


def test_default_out_folder_is_created_under_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("train", "--hidden", "4", "--limit", "200", "--epochs", "1", "--quiet", "--json")
    assert r.status == 0, r.err
    run_dir = r.json()["run_dir"]
    assert run_dir.startswith("runs/") and "synth-tensor-h4-lr0.1-b16-s0" in run_dir
    assert (tmp_path / run_dir / "summary.json").is_file()


def test_out_folder_that_cannot_be_created_is_exit_2(cli, tmp_path):
    # --out below a file used to end in a NotADirectoryError traceback
    (tmp_path / "file").write_text("x")
    for out, words in ((tmp_path / "file" / "run", "cannot create the run folder"),
                       (tmp_path / "file", "is not a folder")):
        r = cli("train", "--hidden", "4", "--limit", "100", "--epochs", "1", "--quiet",
                "--out", out)
        assert r.status == 2 and words in r.err and "--out" in r.err, r.err
        assert "Traceback" not in r.err


@pytest.mark.parametrize("args, flag", [
    (["--dataset", "synth", "--data-dir", "."], "--data-dir"),
    (["--dataset", "synth", "--val-size", "100"], "--val-size"),
    (["--dataset", "fashion-mnist", "--data-seed", "3"], "--data-seed"),
    (["--dataset", "synth", "--val-fraction", "0.5"], "--val-fraction"),
    (["--dataset", "fashion-mnist", "--val-fraction", "0.2"], "--val-fraction"),
])
def test_data_setting_the_dataset_ignores_is_refused(cli, tmp_path, args, flag):
    # regression: `--dataset synth --data-dir X` silently ignored the folder, and
    # `--val-fraction 0.5` a built-in dataset's own split (synth's 10,000 points)
    r = cli("train", *args, "--out", tmp_path / "r", "--quiet")
    assert r.status == 2 and flag in r.err
    assert not (tmp_path / "r").exists()


def test_the_result_line_counts_epochs_in_words(cli, tmp_path):
    for epochs, words in (("1", "after 1 epoch ("), ("2", "after 2 epochs (")):
        r = cli("train", "--dataset", "synth", "--hidden", "4", "--limit", "200",
                "--epochs", epochs, "--out", tmp_path / epochs)
        assert r.status == 0 and words in r.out, r.out


def test_a_run_whose_losses_all_reach_zero_draws_its_plot_without_a_warning(tmp_path):
    # regression: `train --limit 1` printed matplotlib's "identical low and high ylims"
    # warning (every batch loss 0.0, so the loss axis was set to 0..0)
    from tests.conftest import run_subprocess

    p = run_subprocess("train", "--dataset", "synth", "--limit", "1", "--epochs", "2",
                       "--quiet", "--out", tmp_path / "r", timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    losses = [r["loss"] for r in read_jsonl(tmp_path / "r" / "batches.jsonl")]
    assert losses and max(losses) == 0.0  # the case itself: nothing above zero to scale to
    assert (tmp_path / "r" / "loss.png").read_bytes()[:4] == b"\x89PNG"
