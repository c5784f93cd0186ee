"""The one place where the command line turns setting names into flags
(commands/options.py's ``cli_message``)."""

from __future__ import annotations

import json

import pytest

from backproplab.commands.options import cli_message, flag
from backproplab.errors import BackproplabError, DivergenceError


def test_flags_of_settings():
    assert flag("lr") == "--lr"
    assert flag("batch_size") == "--batch-size"
    assert flag("out_dir") == "--out"


@pytest.mark.parametrize("message, settings, shown", [
    ("lr must be a positive number, got -1; try lr=0.01", ("lr",),
     "--lr must be a positive number, got -1; try --lr 0.01"),
    (("momentum applies only to optimizer='momentum' or 'nesterov', not 'sgd'; drop momentum "
      "or choose one of those"), ("momentum",),
     ("--momentum applies only to --optimizer momentum or nesterov, not sgd; drop --momentum "
      "or choose one of those")),
    ("patience applies only with early_stopping=True; add early_stopping=True or drop patience",
     ("patience",),
     "--patience applies only with --early-stopping; add --early-stopping or drop --patience"),
    # a declared setting is translated; the same word as prose ("engine") is not
    ("the scalar engine does not support batch_size=8; drop it or use engine='tensor'", (),
     "the scalar engine does not support --batch-size 8; drop it or use --engine tensor"),
    ("unknown activation 'gelu'; choose activation='sigmoid', 'relu' or 'tanh'", (),
     "unknown activation 'gelu'; choose --activation sigmoid, relu or tanh"),
    (("/r already holds a run; pass resume=True to continue it, overwrite=True to replace it, "
      "or choose another out_dir"), ("out_dir",),
     ("/r already holds a run; pass --resume to continue it, --overwrite to replace it, or "
      "choose another --out")),
    ("resume with epochs=3 or more", (), "resume with --epochs 3 or more"),
    # folder names, paths and file names that contain a setting's name stay as they are
    ("trial lr=0.2_seed=0 failed; see /runs/lr/x and lr.png", ("lr",),
     "trial lr=0.2_seed=0 failed; see /runs/lr/x and lr.png"),
    # no flag means "off": the Python words stay
    ("it needs final=False", (), "it needs final=False"),
])
def test_settings_in_messages_become_flags(message, settings, shown):
    assert cli_message(BackproplabError(message, settings=settings)) == shown


def test_subclasses_and_pickled_errors_translate_too():
    err = DivergenceError("training diverged; lower the learning rate (e.g. lr=0.01)")
    assert cli_message(err).endswith("(e.g. --lr 0.01)")
    assert cli_message(ValueError("lr=0.1")) == "lr=0.1"  # not ours: untouched


@pytest.mark.parametrize("args, shown", [
    (("--lr", "-1"),
     "backproplab: error: --lr must be a positive number, got -1.0; try --lr 0.01"),
    (("--engine", "scalar", "--batch-size", "8"),
     ("does not support --batch-size 8 (it trains one example at a time); drop it or use "
      "--engine tensor")),
    (("--restore-best",),
     ("--restore-best keeps the best weights of early stopping; add --early-stopping or "
      "drop --restore-best")),
    (("--init", "he-normal", "--init-std", "0.5"),
     "--init-std applies only to --init normal, not he-normal; drop --init-std"),
])
def test_the_command_line_names_its_flags(cli, tmp_path, args, shown):
    r = cli("train", "--quiet", *args, "--out", tmp_path / "r")
    assert r.status == 2 and shown in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_one_integer_parser_for_every_command(cli, tmp_path):
    # bench, sweep and reproduce share commands.options.int_option (no private copies)
    from backproplab.commands.options import int_option
    from backproplab.errors import BackproplabError

    assert int_option("--workers", "3") == 3 and int_option("--workers", None, 5) == 5
    assert int_option("--warmup", "0", minimum=0) == 0
    for text, minimum, words in (("0", 1, "a positive integer"), ("x", 1, "a positive integer"),
                                 ("-1", 0, "an integer >= 0")):
        try:
            int_option("--n", text, minimum=minimum)
        except BackproplabError as exc:
            assert str(exc) == f"--n must be {words}, got {text!r}"
        else:
            raise AssertionError("accepted a bad integer")
    for args in (("reproduce", "--workers", "0", "--out", tmp_path / "r"),
                 ("sweep", "--workers", "0", "--out", tmp_path / "s"),
                 ("bench", "--threads", "0")):
        r = cli(*args)
        assert r.status == 2 and f"{args[1]} must be a positive integer" in r.err, r.err


def test_one_number_parser(cli):
    from backproplab.commands.options import float_option
    from backproplab.errors import BackproplabError

    assert float_option("--lr", "0.5", "a positive number", lambda v: v > 0) == 0.5
    for text in ("-1", "x", None):
        with pytest.raises(BackproplabError) as info:
            float_option("--lr", text, "a positive number", lambda v: v > 0)
        assert str(info.value) == f"--lr must be a positive number, got {text!r}"
    r = cli("bench", "--lr", "inf")
    assert r.status == 2 and r.err == ("backproplab: error: --lr must be a positive finite "
                                       "number, got 'inf'\n")


def test_bench_script_json_keeps_stdout_for_json(monkeypatch, capsys):
    # benchmarks/epoch_time.py runs outside the command line: main gives --json its meaning
    from backproplab.commands import bench

    def noisy(**kwargs):
        print("a library talking")
        return {"command": kwargs["command"]}

    monkeypatch.setattr(bench, "run_benchmark", noisy)
    monkeypatch.setattr(bench, "print_report", lambda result, console: console.print("table"))
    assert bench.main(["--quick", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["command"].startswith("python benchmarks/epoch_time.py")
    assert "a library talking" in err and "table" in err


@pytest.mark.parametrize("command", ["sweep", "reproduce", "predict", "plot"])
def test_help_keeps_flags_whole(command, capsys):
    # every parser formats with commands.options.HelpFormatter, epilogs included
    from backproplab.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.rstrip().endswith("-")
                and not line.rstrip().endswith(" -")], out
    if command == "sweep":
        assert "--batch-size 16 --seeds 3" in " ".join(out.split())
    if command in ("sweep", "reproduce"):  # the executor flags, from options.add_executor_options
        assert "where trials execute" in out or "where runs execute" in out


def test_no_help_text_shows_a_doubled_percent_sign(capsys):
    # regression: plot's and compare's descriptions read "the 95%% interval" (argparse
    # formats flag help with %, never a description or an epilog)
    from backproplab.cli import COMMANDS, main

    for command in (*COMMANDS, "data list", "data download", "data verify", "data describe"):
        with pytest.raises(SystemExit):
            main([*command.split(), "--help"])
        out = capsys.readouterr().out
        assert "%%" not in out, (command, out)


def test_a_missing_optional_package_is_one_sentence_naming_its_extra():
    from backproplab.errors import import_optional

    with pytest.raises(BackproplabError) as err:
        import_optional("backproplab_no_such_module", package="Nothing", extra="nothing",
                        needed_by="this test", otherwise="skip it")
    assert str(err.value) == ('this test needs Nothing, which is not installed; install it '
                              'with pip install "backproplab[nothing]" or skip it')


def test_an_optional_package_hidden_after_its_submodule_was_imported_counts_as_missing(
        monkeypatch):
    # regression: importlib found the cached submodule (PIL.Image) of a removed package
    import sys
    import xml.dom  # noqa: F401 - cached, as PIL.Image is after a first image

    from backproplab.errors import import_optional

    monkeypatch.setitem(sys.modules, "xml", None)
    with pytest.raises(BackproplabError, match=r'pip install "backproplab\[x\]"'):
        import_optional("xml.dom", package="xml", extra="x", needed_by="this test")
