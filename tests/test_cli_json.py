"""``--json`` means one thing everywhere: stdout carries only JSON objects, one per
line; progress lines and human tables go to stderr.

Every subcommand whose parser has a ``--json`` option is run in a real child
process (the list comes from the parser, so a new command with ``--json`` is
tested here without being added); ``ARGS`` gives the small settings a command
needs to run quickly, and ``ON_STDERR`` what its progress or table must show.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR, run_subprocess

from backproplab.cli import build_parser
from backproplab.commands.output import json_stdout, print_json

LEARNERS = Path(__file__).parent / "check" / "learners"
SMALL = ("--dataset", "synth", "--limit", "300", "--epochs", "1")

#: Arguments per command path (``{tmp}`` is a fresh folder); commands left out run bare.
ARGS = {
    "train": (*SMALL, "--out", "{tmp}/run"),
    "sweep": (*SMALL, "--lr", "0.05,0.1", "--workers", "1", "--out", "{tmp}/sweep"),
    "reproduce": ("--dataset", "synth", "--quick", "--limit", "300", "--workers", "1",
                  "--out", "{tmp}/reproduce"),
    "data verify": ("fashion-mnist", "--data-dir", FASHION_MNIST_DIR),
    "data describe": ("{tmp}/table.csv",),
    "bench": ("--quick", "--no-memory", "--synthetic", "--impl", "numpy",
              "--batch-sizes", "full"),
    # commands that use a trained model: ``{run}`` is a small finished synth run
    "predict": ("{run}", "{tmp}/points.npy"),
    "evaluate": ("{run}", "--dataset", "synth"),
    "plot": ("{run}", "--out", "{tmp}/figures"),
    "compare": ("{run}", "--out", "{tmp}/compare.png"),
    "check": (str(LEARNERS),),  # its three correct files
}
#: Text each command's progress lines or tables show (on stderr with --json).
ON_STDERR = {
    "train": ("epoch 1/1", "run folder:"),
    "sweep": ("lr=0.1_seed=0", "sweep results"),
    "reproduce": ("q4-synth/seed=0", "report (HTML"),
    "gradcheck": ("largest relative error",),
    "data verify": ("fashion-mnist in ", "train-images-idx3-ubyte.gz"),
    "bench": ("seconds per epoch",),
    "check": ("3 correct, 0 wrong, 0 unusable",),
}


def json_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """The command paths (``("data", "verify")``) whose parser has a ``--json`` option."""
    for action in parser._actions:  # argparse keeps its options and subparsers only here
        if "--json" in getattr(action, "option_strings", ()):
            yield prefix
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from json_commands(sub, (*prefix, name))


COMMANDS = sorted(" ".join(path) for path in json_commands(build_parser()))


def test_the_parser_yields_every_json_command():
    # the walk must find nested commands too, or the list below would silently shrink
    assert {"train", "sweep", "gradcheck", "data verify", "data list", "reproduce", "presets",
            "worked-example", "bench"} <= set(COMMANDS)
    assert set(ARGS) <= set(COMMANDS) and set(ON_STDERR) <= set(COMMANDS)


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    """A finished small synth run folder."""
    from backproplab.training import TrainConfig, run_training

    out = tmp_path_factory.mktemp("json") / "run"
    run_training(TrainConfig(dataset="synth", limit=300, epochs=1, hidden=(8,)), out,
                 progress="quiet")
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_json_stdout_holds_only_json_objects(command, tmp_path, synth_run):
    if command == "data verify" and not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Debian's Fashion-MNIST is not installed")
    np.save(tmp_path / "points.npy", np.array([[0.1, 0.2], [2.0, -1.5]]))
    (tmp_path / "table.csv").write_text("a,b,y\n1,2,p\n3,4,q\n")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(synth_run))
            for a in ARGS.get(command, ())]
    r = run_subprocess(*command.split(), *args, "--json", timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines, "no JSON line on stdout"
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    for text in ON_STDERR.get(command, ()):
        assert text in r.stderr, f"{text!r} missing from stderr:\n{r.stderr[-2000:]}"


def test_print_json_reaches_the_real_stdout_while_prints_go_to_stderr(capsys):
    with json_stdout(True):
        print("progress")
        print_json({"a": 1})
    with json_stdout(False):
        print("table")
        print_json({"b": 2})
    cap = capsys.readouterr()
    assert cap.out == '{"a": 1}\ntable\n{"b": 2}\n'
    assert cap.err == "progress\n"


def test_without_json_train_prints_results_on_stdout_and_progress_on_stderr(cli, tmp_path):
    r = cli("train", *SMALL, "--out", tmp_path / "run")
    assert r.status == 0, r.err
    assert "validation accuracy" in r.out and "run folder:" in r.out
    assert "epoch 1/1" in r.err and "epoch 1/1" not in r.out


def test_a_reader_that_leaves_early_is_not_an_error():
    """``backproplab ... --json | head -c 1``: stdout's reader is gone before the
    command writes; it stops quietly (status 141, as for SIGPIPE), no message."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "presets", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the interpreter has imported backproplab
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and err == b"", err.decode()
