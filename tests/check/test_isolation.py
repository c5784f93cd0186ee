"""Unusable files: each is reported as unusable, with one sentence and the learner's
own traceback, in bounded time (the limits are set low here), without stopping or
corrupting the other files checked beside it."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_subprocess
from tests.killing import stop

from backproplab.check import check_file, check_files, collect_files
from backproplab.errors import BackproplabError

LEARNERS = Path(__file__).parent / "learners"
LIMITS = {"timeout": 4.0, "memory_mb": 384}
#: file -> (the start of the reason, a line the traceback must hold or None)
UNUSABLE = {
    "syntax_error": ("the file cannot be imported: SyntaxError: expected ':'",
                     "def backward(x, t, W, b, V, c)"),
    "missing_function": (("the file defines neither backward(x, t, W, b, V, c) nor "
                         "backward_batch"), None),
    "returns_none": (("backward() returned None on the probe 'the study's Q3 network'; it "
                     "must return a mapping"), None),
    "wrong_shapes": (("backward() returned the wrong shape or type on the probe 'the study's Q3 "
                     "network' (d=2 inputs, m=3 hidden units, C=2 classes): dW has the shape "
                     "7, not 2 x 3 (inputs x hidden)"), None),
    "raises": (("backward() on the probe 'the study's Q3 network' raised ZeroDivisionError: "
               "float division by zero"), "return 1.0 / (h - h)"),
    "endless_loop": ("the file could not be checked: it ran past the time limit of 4 s", None),
    "memory_hog": (("backward() on the probe 'the study's Q3 network' ran out of memory (the "
                   "limit is 384 MiB, --memory)"), "hoard.append([1.0] * 25_000_000)"),
    "calls_exit": ("backward() on the probe 'the study's Q3 network' called sys.exit(3)",
                   "sys.exit(3)"),
}


@pytest.fixture(scope="module")
def reports():
    files = collect_files([LEARNERS / "unusable"])
    return {Path(r.file).stem: r for r in check_files(files, workers=4, **LIMITS)}


def test_every_unusable_case_has_a_file(reports):
    assert set(reports) == set(UNUSABLE)


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_unusable_file_says_why_with_the_learners_traceback(reports, name):
    reason, line = UNUSABLE[name]
    r = reports[name]
    assert (r.status, r.exit_status, r.quantities, r.diagnoses) == ("unusable", 2, {}, [])
    assert r.reason.startswith(reason), r.reason
    if line is not None:
        assert line in r.traceback
        assert "worker.py" not in r.traceback and "<frozen" not in r.traceback


def test_os_exit_at_import_is_reported(tmp_path):
    f = tmp_path / "leaves.py"
    f.write_text("import os\nos._exit(4)\n")
    [r] = check_files([f], **LIMITS)
    assert r.status == "unusable"
    assert r.reason == ("the file could not be checked: its process ended with exit status 4 "
                        "before returning any result (does it call os._exit or exit at "
                        "import?)")


def test_a_flood_on_the_real_stdout_is_bounded_and_unusable(tmp_path):
    # regression: the worker's stdout was a pipe read whole into the checker's memory;
    # it is a file now, held to the worker's 16 MiB file-size limit
    f = tmp_path / "floods.py"
    f.write_text("import os\nchunk = b'x' * 2**20\nfor _ in range(64):\n    os.write(1, chunk)\n")
    [r] = check_files([f], **LIMITS)
    assert r.status == "unusable" and r.exit_status == 2, r.reason


def test_prints_do_not_disturb_the_result(tmp_path):
    f = tmp_path / "chatty.py"
    f.write_text((LEARNERS / "correct_lists.py").read_text().replace(
        "    f = forward(x, W, b, V, c)", "    print('{\"not\": 1}')\n    f = forward(x, W, b, V, c)"))
    [r] = check_files([f], **LIMITS)
    assert r.status == "correct"


def test_folder_mode_with_a_mix(tmp_path):
    """A folder of good, wrong and unusable files: one JSON line each in file order,
    a CSV row each, the worst status, and the good files unharmed by the bad."""
    folder = tmp_path / "class"
    folder.mkdir()
    picks = {"a_correct.py": LEARNERS / "correct_lists.py",
             "b_loop.py": LEARNERS / "unusable" / "endless_loop.py",
             "c_exit.py": LEARNERS / "unusable" / "calls_exit.py",
             "d_preact.py": LEARNERS / "mistakes" / "sigmoid_derivative_at_preactivation.py",
             "e_hog.py": LEARNERS / "unusable" / "memory_hog.py",
             "f_syntax.py": LEARNERS / "unusable" / "syntax_error.py",
             "g_numpy.py": LEARNERS / "correct_numpy.py"}
    for name, src in picks.items():
        shutil.copy(src, folder / name)
    # a helper the broken file imports, and a package marker: not submissions, skipped
    shutil.copy(LEARNERS / "mistakes" / "_network.py", folder / "_network.py")
    (folder / "__init__.py").write_text("")
    (folder / "notes.txt").write_text("not a python file")
    r = run_subprocess("check", folder, "--json", "--csv", tmp_path / "rows.csv",
                       "--workers", "3", "--timeout", "4", "--memory", "384", timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(d["file"]).name for d in lines] == sorted(picks)
    status = {Path(d["file"]).name: d["status"] for d in lines}
    assert status == {"a_correct.py": "correct", "b_loop.py": "unusable",
                      "c_exit.py": "unusable", "d_preact.py": "wrong", "e_hog.py": "unusable",
                      "f_syntax.py": "unusable", "g_numpy.py": "correct"}
    d = lines[3]
    assert [x["id"] for x in d["diagnoses"]] == ["sigmoid-derivative-at-preactivation"]
    assert set(d["quantities"]["dW"]) == {"ok", "max_error", "where", "first_probe"}
    assert "2 correct, 1 wrong, 4 unusable (7 files)" in r.stderr
    with open(tmp_path / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(Path(row["file"]).name, row["status"]) for row in rows] == sorted(status.items())
    assert rows[3]["diagnoses"] == "sigmoid-derivative-at-preactivation"
    assert rows[3]["wrong"] == "dk db dW"


@pytest.mark.parametrize("body, reason", [
    ("{'dW': W, 'db': b, 'dV': [['a'] * len(c) for _ in b], 'dc': c}",
     ("backward() returned the wrong shape or type on the probe 'the study's Q3 network' (d=2 "
     "inputs, m=3 hidden units, C=2 classes): dV holds a str instead of numbers")),
    ("{'dW': W, 'loss': 0.0}",
     ("the mapping backward() returned has no db, dV, dc; it must have dW, db, dV, dc (it has: "
     "dW, loss)")),
    ("[W, b, V, c]", ("backward() returned a list on the probe 'the study's Q3 network'; it must "
                     "return a mapping (a dict) of named values")),
])
def test_results_that_cannot_be_read(tmp_path, body, reason):
    f = tmp_path / "odd.py"
    f.write_text(f"def backward(x, t, W, b, V, c):\n    return {body}\n")
    [r] = check_files([f], **LIMITS)
    assert (r.status, r.reason) == ("unusable", reason)


#: A learner's file that says it started (its process id) and then takes 5 minutes.
SLOW_LEARNER = """import os, pathlib, time
pathlib.Path(__file__).with_suffix(".started").write_text(str(os.getpid()))
time.sleep(300)

def backward(x, t, W, b, V, c):
    return {}
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_ctrl_c_stops_the_learners_at_once_and_starts_no_other(tmp_path):
    """Ctrl-C while a class's files run: one line and 130, the running learner's
    process killed and the files still queued never started (it used to wait for
    each file's own time limit, file after file)."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.py").write_text(SLOW_LEARNER)
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "check", folder, "--workers",
                             "1", "--timeout", "600", "--csv", tmp_path / "rows.csv"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            # Ctrl-C acts even where the tests run with SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509 - no threads
    started = folder / "a.started"
    pids = []
    try:
        while not started.exists() or not started.read_text():
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.01)
        pids.append(int(started.read_text()))
        code = stop(proc, signal.SIGINT)  # Ctrl-C reaches the command, not the learners
        assert (code, proc.stderr.read().decode()) == (130, "backproplab: interrupted\n")
        assert not _alive(pids[0])
        assert sorted(f.name for f in folder.glob("*.started")) == ["a.started"]
        assert not (tmp_path / "rows.csv").exists()
    finally:
        for pid in pids + [int(f.read_text()) for f in folder.glob("[bc].started")]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_file_that_is_not_python_is_one_sentence(tmp_path):
    # it used to be run, and reported as unusable with the checker's own internal
    # AttributeError ('NoneType' object has no attribute 'loader') as "your traceback"
    f = tmp_path / "my_backprop.ipynb"
    f.write_text('{"cells": [], "nbformat": 4}')
    r = run_subprocess("check", f, timeout=120)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"backproplab: error: {f} is not a .py file; put your functions in a "
                        ".py file (from a notebook: jupyter nbconvert --to script) and check "
                        "that\n")


def test_check_file_refuses_a_file_that_is_not_python(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("def backward(x, t, W, b, V, c):\n    return {}\n")
    with pytest.raises(BackproplabError, match=r"notes.txt is not a \.py file; put your"):
        check_file(f)


@pytest.mark.parametrize("flag", ["--csv", "--graph"])
def test_an_output_that_cannot_be_written_is_refused_before_any_file_runs(tmp_path, flag):
    # regression: a --csv (or --graph) that is a folder was found only when written,
    # after every learner's file had run (minutes for a class)
    f = tmp_path / "mine.py"
    f.write_text("open('ran.txt', 'w').close()\n"
                 "def backward(x, t, W, b, V, c):\n    return {}\n")
    out = tmp_path / ("rows.csv" if flag == "--csv" else "graph.svg")
    out.mkdir()
    r = run_subprocess("check", f, flag, out, timeout=120)
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr.startswith(f"backproplab: error: {flag} {out} is a folder; give a file")
    assert not (tmp_path / "ran.txt").exists()  # the learner's file never ran
