"""``backproplab reproduce``: the whole study end to end, resume, overwrite safety,
the dataset choice, a failing run.

The end-to-end test runs on Debian's Fashion-MNIST (installed by ``.ci/run``) with
``--quick --limit`` so that it takes well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from tests.conftest import HAS_GRAPHVIZ
from tests.study.html_checks import (
    needs_chromium,
    open_in_chromium,
    problems_in_browser,
    raw_markdown,
    visible_text,
)

from backproplab.data.catalog import Location
from backproplab.errors import BackproplabError
from backproplab.study import reproduce as R
from backproplab.study.layout import FIGURES, MANIFEST
from backproplab.study.report import SECTIONS

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist) is not installed")


def run_cli(*args, env=None):
    from tests.conftest import run_subprocess

    return run_subprocess("reproduce", *args, timeout=600, env=env)


def check_report(out: Path, *, figures: set[str]) -> tuple[str, str]:
    md = (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"## {title}" in md, f"report.md lacks the section {title!r}"
        assert ">" + title.replace("&", "&amp;") + "</h2>" in page, f"report.html lacks {title!r}"
    # the html is self-contained: every figure embedded (the animation as a GIF, the Q3
    # computation graph as an SVG), none linked
    gifs = {key for key in figures if FIGURES[key].endswith(".gif")}
    svgs = {key for key in figures if FIGURES[key].endswith(".svg")}
    assert page.count('src="data:image/png;base64,') == len(figures - gifs - svgs)
    assert page.count('src="data:image/gif;base64,') == len(gifs)
    assert page.count('src="data:image/svg+xml;base64,') == len(svgs)
    assert 'src="figures/' not in page
    assert raw_markdown(visible_text(page)) == []
    for key in figures:
        image = out / "figures" / FIGURES[key]
        magic = b"GIF89a" if key in gifs else b"<?xml" if key in svgs else b"\x89PNG\r\n\x1a\n"
        assert image.read_bytes()[:len(magic)] == magic and image.stat().st_size > 5000
        assert f"](figures/{FIGURES[key]})" in md
    checks = json.loads((out / "checks.json").read_text())
    errors = {k: v["error"] for k, v in checks.items() if isinstance(v, dict) and "error" in v}
    assert not errors, errors
    assert "figure not drawn" not in md
    return md, page


def frames(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return im.n_frames


def section(md: str, title: str) -> str:
    """The Markdown of the report's section ``title`` (up to the next section)."""
    return md.split(f"## {title}\n")[1].split("\n## ")[0]


def check_inspection_figures(out: Path, md: str) -> None:
    """The inspection figures are in the sections that discuss them, the boundary
    animation has a frame per snapshot, the numbers come from checks.json."""
    q4_epochs = json.loads((out / "presets" / "q4-synth" / "seed=0" / "config.json")
                           .read_text())["epochs"]
    assert frames(out / "figures" / FIGURES["q4_boundary_animation"]) == q4_epochs + 1 > 1
    where = {SECTIONS[4]: ["q4_boundary_animation"],
             SECTIONS[14]: ["weights_scaled", "weights_unscaled", "activations_scaled",
                            "activations_unscaled"],
             SECTIONS[11]: ["final_confusion", "examples", "misclassified"]}
    for title, keys in where.items():
        for key in keys:
            assert f"](figures/{FIGURES[key]})" in section(md, title), (key, title)
    assert f"The animation has {q4_epochs + 1} frames" in section(md, SECTIONS[4])
    sat = json.loads((out / "checks.json").read_text())["saturation"]
    text = section(md, SECTIONS[14])
    assert f"{sat['unscaled']['saturated_at_init']:.1%} of the units saturated" in text
    assert f"by {sat['scaled']['weight_change']:.1%} of their initial" in text
    assert f"by {sat['unscaled']['weight_change']:.1%} with raw pixels" in text


@pytest.fixture(scope="module")
def fashion_repro(tmp_path_factory):
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's Fashion-MNIST is not installed")
    out = tmp_path_factory.mktemp("repro") / "out"
    r = run_cli("--quick", "--dataset", "fashion-mnist", "--limit", "600", "--workers", "2",
                "--out", out)
    return out, r


@needs_fashion
@pytest.mark.slow
def test_reproduce_quick_fashion_end_to_end(fashion_repro):
    out, r = fashion_repro
    assert r.returncode == 0, r.stderr[-3000:]
    # the last line is the path of the report
    assert r.stdout.strip().splitlines()[-1] == str(out / "report.md")
    md, _ = check_report(out, figures=set(FIGURES))
    check_inspection_figures(out, md)
    # Fashion-MNIST: the report says the original numbers are not comparable
    assert "not directly comparable" in md and "Fashion-MNIST" in md
    # every row of the original's table is set beside a measured number
    for original in ("0.0596", "0.394", "0.838", "0.954", "0.9512", "0.9422", "0.9428"):
        assert original in md.split("## Q1")[0], original
    # the wording matches what ran: image pixels are divided by 255 (not by a range), the
    # per-split verdict names the mismatch it measured, references come with the gap
    assert "pixels divided by 255" in md and "training split's range" not in md
    assert "not transformed like the training inputs" in md.split("## Q1")[0]
    assert "Published reference points" in md and "(here - reference = " in md
    assert "only the spreads compare" in md
    # quick runs are shorter than the original's 5 epochs: every such row says so
    rows = [line for line in md.split("## Q1")[0].splitlines()
            if line.startswith(("| 3 runs", "| lr sweep", "| batch 16, lr 0.01"))]
    assert len(rows) == 3 and all("after 3 epochs" in row for row in rows), rows
    manifest = json.loads((out / "reproduce.json").read_text())
    assert manifest["settings"]["dataset"] == "fashion-mnist" and manifest["quick"]
    assert manifest["failed_trials"] == [] and manifest["figure_errors"] == {}
    choice = manifest["final_choice"]
    final_cfg = json.loads(next((out / "presets" / "final").glob("seed=0/config.json"))
                           .read_text())
    assert (final_cfg["lr"], final_cfg["batch_size"]) == (choice["lr"], choice["batch_size"])
    assert final_cfg["final"] is True
    assert f"lr {choice['lr']:g}, batch {choice['batch_size']}" in md
    for name in ("learning-rates", "batch-sizes", "seeds", "final", "q4-synth"):
        assert (out / "presets" / name / "results.json").is_file()


#: What marks a sentence that compares measured numbers (with each other, or with
#: the original's or a published number).
COMPARATIVE = re.compile(r"highest mean|next best|ranked|runner-up|raw pixels (did not )?cost|"
                         r"told apart|times the original|validation - training|took [0-9.]+ s|"
                         r"original:|than the original|here - reference|pairs of learning rates", re.IGNORECASE)
#: The sections of the comparisons issue 18 names (training vs validation, seeds,
#: learning rates, the final run, batch sizes, unscaled pixels).
COMPARING = (8, 9, 10, 11, 13, 14)


def comparative_sentences(md: str) -> list[str]:
    """The sentences of the report's paragraphs and summary rows that compare numbers."""
    lines = [line for i in COMPARING for line in section(md, SECTIONS[i]).splitlines()
             if line and not line.startswith(("|", "*", "!", "#", "<"))]
    lines += [row.split(" | ")[-1] for row in md.split("## Q1")[0].splitlines()
              if row.startswith("| ")]
    return [s for line in lines for s in re.split(r"(?<=\.)\s+(?=[A-Z])", line)
            if COMPARATIVE.search(s)]


def check_comparisons_are_tested(out: Path, md: str) -> None:
    """Every comparative sentence states its test, p-value and interval, or says that
    the seeds are too few (and how many it would take); the rule of thumb is gone; the
    pairwise tables show results.json's numbers."""
    sentences = comparative_sentences(md)
    assert len(sentences) >= 8, sentences
    for s in sentences:
        tested = re.search(r"(t-test|F-test)[^;]* p = [0-9.e-]+", s) and "95% CI [" in s
        undecided = "too few seeds to decide" in s or "cannot be compared" in s
        tested = tested or "gives each p-value and interval" in s  # a count of the tests
        assert tested or undecided, s
        if "not significant" in s and "seeds to decide" in s:
            assert re.search(r"about \d+ seeds per group|run more than \d+ per group", s), s
    assert "half the" not in md and "smallest gap" not in md
    for preset, i in (("learning-rates", 10), ("batch-sizes", 13)):
        res = json.loads((out / "presets" / preset / "results.json").read_text())
        acc = [c for c in res["comparisons"] if c["metric"] == "eval_accuracy"]
        assert len(acc) == 6  # 4 settings: every pair
        rows = [r for r in section(md, SECTIONS[i]).splitlines() if r.startswith("| ")]
        header = rows.index("| a | b | a - b | 95% CI | p | p (Holm) | significant | "
                            "seeds needed |")
        for c, row in zip(acc, rows[header + 1:header + 7], strict=True):
            cells = row.strip("| ").split(" | ")
            assert cells[:2] == [c["a"], c["b"]]
            assert cells[4:6] == [f"{c['p_value']:.2g}", f"{c['p_adjusted']:.2g}"]
            assert cells[6] == ("yes" if c["significant"] else "no")


@needs_fashion
@pytest.mark.slow
def test_the_reports_comparisons_carry_their_tests(fashion_repro):
    out, _ = fashion_repro
    md = (out / "report.md").read_text(encoding="utf-8")
    check_comparisons_are_tested(out, md)
    # 2 seeds per learning rate in quick mode: the report says what more seeds would take
    assert "too few seeds to decide" in md
    # the train/validation gap is tested over the seeds preset's runs of the same setting
    assert "paired t-test p = " in section(md, SECTIONS[8])


@needs_fashion
@needs_chromium
@pytest.mark.slow
def test_quick_fashion_report_opens_cleanly_in_chromium(fashion_repro, tmp_path):
    out, _ = fashion_repro
    result = open_in_chromium(out / "report.html", tmp_path)
    assert problems_in_browser(result) == []
    assert result["images"] == len(FIGURES)


@needs_fashion
@pytest.mark.slow
def test_identical_runs_are_trained_once_and_copied(fashion_repro):
    out, _ = fashion_repro
    presets = out / "presets"
    copies = [p for p in presets.glob("*/*/summary.json")
              if "copied_from" in json.loads(p.read_text())]
    # the study setting (batch 16, lr 0.01) appears in 5 presets: trained once per seed
    assert len(copies) >= 4
    for summary_path in copies:
        summary = json.loads(summary_path.read_text())
        src = Path(summary["copied_from"])
        assert summary["run_dir"] == str(summary_path.parent)
        assert (src / "metrics.jsonl").read_bytes() == \
            (summary_path.parent / "metrics.jsonl").read_bytes()
        assert (src / "model.npz").read_bytes() == (summary_path.parent / "model.npz").read_bytes()


@needs_fashion
@pytest.mark.slow
def test_rerun_resumes_and_changed_settings_are_refused(fashion_repro):
    out, _ = fashion_repro
    model = out / "presets" / "seeds" / "seed=1" / "model.npz"
    before = model.stat().st_mtime_ns
    r = run_cli("--quick", "--dataset", "fashion-mnist", "--limit", "600", "--workers", "2",
                "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "0 to run" in r.stderr and "finished earlier" in r.stderr
    assert model.stat().st_mtime_ns == before  # not trained again
    r = run_cli("--quick", "--dataset", "fashion-mnist", "--limit", "700", "--out", out)
    assert r.returncode == 2
    assert "other settings" in r.stderr and "Traceback" not in r.stderr


def test_reproduce_synthetic_only(tmp_path, cli):
    out = tmp_path / "synth"
    r = cli("reproduce", "--dataset", "synth", "--quick", "--limit", "400", "--workers", "1",
            "--out", out)
    assert r.status == 0, r.err
    assert r.out.strip().splitlines()[-1] == str(out / "report.md")
    md, _ = check_report(out, figures={"q4_train_val", "q4_batch_loss", "q4_boundary",
                                       "q4_boundary_animation"} | ({"q3_graph"} if HAS_GRAPHVIZ
                                                                   else set()))
    assert frames(out / "figures" / FIGURES["q4_boundary_animation"]) > 1
    assert "Only the synthetic parts ran" in md
    assert md.count("Not run: this reproduction ran on the synthetic data only") == 8
    assert sorted(p.name for p in (out / "presets").iterdir()) == ["q4-synth"]


def test_a_failing_run_is_reported_and_the_rest_finishes(tmp_path, cli, monkeypatch):
    from backproplab.errors import DivergenceError
    from backproplab.sweeps import executors

    real = executors.run_training

    def diverging_seed_1(config, out_dir, **kw):  # --workers 1 runs trials in this process
        if config.seed == 1:
            raise DivergenceError("training diverged in epoch 1 at example 7 (test)")
        return real(config, out_dir, **kw)

    monkeypatch.setattr(executors, "run_training", diverging_seed_1)
    out = tmp_path / "fail"
    r = cli("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick", "--limit",
            "300", "--workers", "1", "--out", out, "--quiet")
    assert r.status == 1
    assert r.out.strip().splitlines() == [str(out / "report.md")]  # --quiet: the path only
    manifest = json.loads((out / "reproduce.json").read_text())
    assert manifest["failed_trials"] == ["q4-synth/seed=1"]
    assert (out / "presets" / "q4-synth" / "seed=1" / "error.txt").is_file()
    assert (out / "presets" / "q4-synth" / "seed=0" / "summary.json").is_file()
    md = (out / "report.md").read_text()
    assert "**Failed runs**: q4-synth/seed=1" in md
    assert "DivergenceError" in (out / "presets" / "q4-synth" / "seed=1" / "error.txt").read_text()
    # the fixed run is picked up on the next call, the finished one is kept
    monkeypatch.setattr(executors, "run_training", real)
    r = cli("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick", "--limit",
            "300", "--workers", "1", "--out", out)
    assert r.status == 0, r.err
    assert "1 finished earlier" in r.err
    assert json.loads((out / "reproduce.json").read_text())["failed_trials"] == []


def test_trial_timeout_stops_hung_runs_and_the_same_command_finishes_them(tmp_path):
    # regression: reproduce had no --trial-timeout (sweep had), so one hung worker
    # stalled the whole study; every batch here sleeps twice the limit
    out = tmp_path / "timeout"
    args = ("--dataset", "synth", "--only", "q4-synth", "--quick", "--limit", "300",
            "--workers", "2", "--out", out)
    r = run_cli(*args, "--trial-timeout", "1", "--json",
                env={"BACKPROPLAB_TEST_BATCH_SLEEP": "2"})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["failed_trials"] == ["q4-synth/seed=0", "q4-synth/seed=1"]
    for seed in (0, 1):
        error = (out / "presets" / "q4-synth" / f"seed={seed}" / "error.txt").read_text()
        assert error.startswith("TrialTimeout: the trial ran longer than the trial timeout "
                                "of 1 s"), error
    assert "**Failed runs**: q4-synth/seed=0, q4-synth/seed=1" in (out / "report.md").read_text()
    r = run_cli(*args, "--trial-timeout", "600", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "reproduce.json").read_text())["failed_trials"] == []


def test_a_bad_trial_timeout_is_one_sentence_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    for value in ("0", "-1", "abc", "inf"):
        r = run_cli("--dataset", "synth", "--quick", "--trial-timeout", value, "--out", out)
        assert r.returncode == 2 and r.stderr == (
            f"backproplab: error: --trial-timeout must be a positive number of seconds, got "
            f"{value!r}; give one like 600, or leave it out for no limit\n"), r.stderr
    assert not out.exists()
    with pytest.raises(BackproplabError, match="trial_timeout must be a positive number"):
        R.reproduce(R.Options(out=out, dataset="synth", trial_timeout=-1.0))
    assert not out.exists()


# ---------------------------------------------------------------------------
# the output folder


SETTINGS = {"dataset": "synth", "quick": True, "limit": None, "data_dir": None}


def test_prepare_out_refuses_a_folder_that_is_not_a_reproduction(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(BackproplabError, match="holds no reproduction"):
            R.prepare_out(out, SETTINGS, overwrite)
    assert (out / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackproplabError, match="is a file"):
        R.prepare_out(tmp_path / "file", SETTINGS, False)


def test_overwrite_removes_only_what_a_reproduction_wrote(tmp_path):
    out = tmp_path / "out"
    assert R.prepare_out(out, SETTINGS, False) is None and out.is_dir()
    (out / MANIFEST).write_text(json.dumps({"kind": "backproplab-reproduce",
                                              "settings": SETTINGS}))
    for name in ("presets/q4-synth/seed=0", "figures"):
        (out / name).mkdir(parents=True)
    (out / "report.md").write_text("old")
    (out / "notes.txt").write_text("mine")
    (tmp_path / "sibling.txt").write_text("outside")
    # same settings, no overwrite: resume (the earlier manifest comes back)
    assert R.prepare_out(out, SETTINGS, False)["settings"] == SETTINGS
    with pytest.raises(BackproplabError, match="other settings.*--overwrite"):
        R.prepare_out(out, {**SETTINGS, "quick": False}, False)
    assert R.prepare_out(out, {**SETTINGS, "quick": False}, True) is None
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (tmp_path / "sibling.txt").read_text() == "outside"


def test_overwrite_does_not_follow_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"kind": "backproplab-reproduce",
                                              "settings": SETTINGS}))
    os.symlink(outside, out / "figures")
    R.prepare_out(out, SETTINGS, True)
    assert not (out / "figures").exists()
    assert (outside / "keep.txt").read_text() == "keep"


# ---------------------------------------------------------------------------
# which dataset


def _fake_locate(available, monkeypatch=None):
    """A ``catalog.locate`` that finds the ``available`` datasets in folders that do not
    exist (with ``monkeypatch``: whose files are taken as the dataset's own)."""
    if monkeypatch is not None:
        monkeypatch.setattr(R, "other_dataset", lambda spec, location: None)
        monkeypatch.setattr(R, "verify_location", lambda spec, location, record=True: None)

    def locate(spec, data_dir=None):
        name = spec if isinstance(spec, str) else spec.name
        if name in available:
            return Location(name, "system", Path(f"/data/{name}"), {})
        return None
    return locate


def test_pick_dataset_prefers_mnist_then_fashion_then_synth(monkeypatch):
    from backproplab.data import catalog

    monkeypatch.setattr(catalog, "locate", _fake_locate({"mnist", "fashion-mnist"}, monkeypatch))
    name, why = R.pick_dataset(None)
    assert name == "mnist" and "/data/mnist" in why
    monkeypatch.setattr(catalog, "locate", _fake_locate({"fashion-mnist"}))
    name, why = R.pick_dataset(None)
    assert name == "fashion-mnist" and "MNIST is not on this machine" in why
    monkeypatch.setattr(catalog, "locate", _fake_locate(set()))
    name, why = R.pick_dataset(None)
    assert name == "synth" and "synthetic parts" in why and "data download mnist" in why


def test_reproduce_downloads_mnist_when_the_network_answers(monkeypatch):
    from backproplab.data import catalog

    monkeypatch.setattr(catalog, "locate", _fake_locate({"fashion-mnist"}))
    name, why = R.pick_dataset(None)  # tests run with BACKPROPLAB_OFFLINE=1: no download tried
    assert name == "fashion-mnist" and "downloads are off" in why
    monkeypatch.delenv("BACKPROPLAB_OFFLINE")
    asked = []

    def unreachable(name, **kwargs):
        asked.append((name, kwargs["timeout"]))
        raise BackproplabError("could not download mnist's files from any mirror (timed out "
                               "after 5 s); download them by hand")

    monkeypatch.setattr(R, "download", unreachable)
    name, why = R.pick_dataset(None)
    assert asked == [("mnist", R.DOWNLOAD_TIMEOUT)] and name == "fashion-mnist"
    assert "the download failed: could not download mnist" in why and "by hand" not in why
    monkeypatch.setattr(R, "download", lambda name, **kw: Location(name, "cache",
                                                                    Path("/cache/mnist"), {}))
    name, why = R.pick_dataset(None)
    assert name == "mnist" and "/cache/mnist" in why


def test_pick_dataset_explicit(monkeypatch):
    from backproplab.data import catalog

    monkeypatch.setattr(catalog, "locate", _fake_locate({"fashion-mnist"}, monkeypatch))
    assert R.pick_dataset("fashion-mnist")[0] == "fashion-mnist"
    assert R.pick_dataset("synth")[0] == "synth"
    with pytest.raises(BackproplabError, match="unknown dataset"):
        R.pick_dataset("cifar")


def test_explicit_missing_dataset_with_downloads_off_is_a_clear_error(monkeypatch, cli,
                                                                       tmp_path):
    from backproplab.data import catalog, mnist

    monkeypatch.setattr(catalog, "locate", _fake_locate(set()))
    monkeypatch.setattr(mnist, "locate", _fake_locate(set()))
    monkeypatch.setenv("BACKPROPLAB_OFFLINE", "1")
    out = tmp_path / "never"
    r = cli("reproduce", "--dataset", "mnist", "--quick", "--out", out)
    assert r.status == 2 and "mnist" in r.err and "Traceback" not in r.err
    assert not out.exists()  # nothing written before the inputs were checked
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.undo()
    r = cli("reproduce", "--dataset", "fashion-mnist", "--data-dir", empty, "--out", out)
    assert r.status == 2 and "--data-dir" in r.err and not out.exists()


def test_bad_options_exit_2(cli, tmp_path):
    r = cli("reproduce", "--limit", "0", "--out", tmp_path / "x")
    assert r.status == 2
    r = cli("reproduce", "--dataset", "synth", "--only", "seeds", "--out", tmp_path / "y")
    assert r.status == 2 and "MNIST or Fashion-MNIST" in r.err
    assert not (tmp_path / "y").exists()


@pytest.mark.parametrize("args, words", [
    # an empty --only once ran the whole study instead of refusing
    (("--only", ""), "--only got no preset names"),
    (("--only", ","), "--only got no preset names"),
    (("--only", "nope"), "unknown preset 'nope'"),
    # an unknown executor once failed only after reproduce.json was written
    (("--executor", "nope"), "unknown executor 'nope'"),
])
def test_bad_selection_or_executor_exits_2_and_writes_nothing(cli, tmp_path, args, words):
    out = tmp_path / "out"
    r = cli("reproduce", "--dataset", "synth", "--quick", *args, "--out", out)
    assert r.status == 2 and words in r.err and "Traceback" not in r.err
    assert not out.exists()


@needs_fashion
@pytest.mark.slow
def test_report_compares_directly_when_the_runs_are_mnist(fashion_repro, tmp_path):
    """The MNIST wording of the report (direct comparisons with the original, its
    reference points drawn in the figures), on a copy of the quick runs relabelled
    as MNIST: only the wording and the figures are under test here, not the numbers."""
    import shutil

    from backproplab.study.outputs import make_figures
    from backproplab.study.report import write_report

    src, _ = fashion_repro
    out = tmp_path / "as-mnist"
    shutil.copytree(src, out)
    manifest = json.loads((out / "reproduce.json").read_text())
    manifest["settings"]["dataset"] = "mnist"
    (out / "reproduce.json").write_text(json.dumps(manifest))
    figures, errors = make_figures(out)
    assert errors == {} and set(figures) == set(FIGURES)
    md, _ = write_report(out)
    text = md.read_text()
    summary = text.split("## Q1")[0]
    assert "| experiment | original write-up | measured here (mnist, quick) | verdict |" in summary
    assert "not comparable" not in text and "not directly comparable" not in text
    assert any(p in summary for p in ("no difference from the original shown",
                                      "than the original"))
    assert summary.count("here - original = ") >= 3  # learning curve, seeds, final run
    check_comparisons_are_tested(out, text)
    assert "LeCun" in text


@needs_fashion
def test_the_report_names_a_command_that_gives_every_preset_it_shows(tmp_path):
    # presets added one `--only` at a time (as the report's "Not run" notes suggest)
    # join one report; its closing command named only the last one, which rerun
    # elsewhere gives a report without the others
    out = tmp_path / "out"
    for name in ("seeds", "train-vs-val"):
        r = run_cli("--quick", "--dataset", "fashion-mnist", "--limit", "300", "--workers",
                    "1", "--only", name, "--out", out)
        assert r.returncode == 0, r.stderr[-2000:]
    command = (f"backproplab reproduce --dataset fashion-mnist --quick --limit 300 "
               f"--only train-vs-val,seeds --out {out}")
    assert json.loads((out / MANIFEST).read_text())["command"] == command
    made = section((out / "report.md").read_text(encoding="utf-8"), SECTIONS[16])
    assert f"```\n{command}\n```" in made


@needs_fashion
def test_a_data_dir_of_fashion_mnist_files_is_not_taken_for_mnist(tmp_path):
    # both datasets name their four files alike: a --data-dir holding Fashion-MNIST's was
    # found as MNIST, and the report set its numbers beside the write-up's MNIST ones as
    # directly comparable
    data = tmp_path / "data"
    data.mkdir()
    for f in FASHION.glob("*-ubyte.gz"):
        (data / f.name).symlink_to(f)
    offline = {"BACKPROPLAB_OFFLINE": "1"}
    dataset, note = R.pick_dataset(None, str(data))
    assert dataset == "fashion-mnist" and f"found for it in {data} (data-dir) are " \
        "fashion-mnist's" in note
    out = tmp_path / "never"
    r = run_cli("--dataset", "mnist", "--data-dir", data, "--quick", "--out", out, env=offline)
    assert r.returncode == 2 and r.stderr == (
        f"backproplab: error: the mnist files found in {data} are fashion-mnist's, not "
        "mnist's (their content is fashion-mnist's published data); pass --dataset "
        "fashion-mnist to use them, or put mnist's own files there\n")
    assert not out.exists()
