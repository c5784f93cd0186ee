"""The report: its document model (Markdown and self-contained HTML), the sections
it always has, and how it says what did not run."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.conftest import HAS_GRAPHVIZ, run_subprocess

from backproplab.fileio import atomic_write_json
from backproplab.study import report as rep
from backproplab.study.layout import FIGURES, MANIFEST
from backproplab.study.outputs import make_checks, make_figures
from backproplab.study.report.document import IMAGE_TYPES

# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


class _Balance(HTMLParser):
    """Checks that every opened element (except void ones) is closed in order."""

    VOID = frozenset({"meta", "img", "br", "hr", "link"})

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def assert_well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    assert not parser.errors, parser.errors[:3]
    assert parser.stack == [], parser.stack


def test_doc_renders_markdown_and_self_contained_html(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(PNG)
    doc = rep.Doc("Title <&>")
    doc.h(2, "Section one")
    doc.p("Text with `x < y` code, **bold** and a [link](https://example.org/a?b=1&c=2).")
    doc.note("A <note>.")
    doc.ul(["one", "two | three"])
    doc.code("print(1 < 2)")
    doc.table(["a", "b|c"], [[1, "x|y"]], caption="cap")
    doc.figure("figures/a.png", "A figure")
    doc.figure(None, "Missing figure", "no runs")
    md = doc.markdown()
    assert md.startswith("# Title <&>\n")
    assert "## Section one" in md and "| 1 | x\\|y |" in md
    assert "![A figure](figures/a.png)" in md and "figure not drawn: no runs" in md
    page = doc.html(tmp_path)
    assert_well_formed(page)
    assert "<code>x &lt; y</code>" in page and "<strong>bold</strong>" in page
    assert '<a href="https://example.org/a?b=1&amp;c=2">link</a>' in page
    assert "A &lt;note&gt;." in page and "Title &lt;&amp;&gt;" in page
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert 'href="#section-one"' in page  # table of contents


def test_html_renders_bold_around_code_and_italics(tmp_path):
    """Regression: the hand-written inline renderer left ``**`code`**`` and
    ``*italics*`` as raw asterisks in report.html (Q2, Q3, the closing list)."""
    doc = rep.Doc("t")
    doc.p("that is **`dl/do = y - onehot(c)`**, see section *The original's pixels*.")
    doc.ul(["**Q3, the third row of `dl/dV`**: *mistyped*", "2 * 3 and `a*b*c`"])
    doc.table(["a"], [["**`x`** and *y*"]], caption="*cap*")
    doc.note("**Only** *this*")
    page = doc.html(tmp_path)
    assert_well_formed(page)
    assert "<strong><code>dl/do = y - onehot(c)</code></strong>" in page
    assert "<em>The original's pixels</em>" in page
    assert "<li><strong>Q3, the third row of <code>dl/dV</code></strong>: <em>mistyped</em></li>" \
        in page
    assert "<li>2 * 3 and <code>a*b*c</code></li>" in page
    assert "<td><strong><code>x</code></strong> and <em>y</em></td>" in page
    assert "<caption><em>cap</em></caption>" in page
    assert '<div class="note"><p><strong>Only</strong> <em>this</em></p>' in page
    assert "**" not in page.split("</style>")[1]


def test_a_report_without_runs_still_answers_what_needs_no_data(tmp_path):
    """Only the manifest and the live checks: every section is there, Q1-Q3 and
    Q5-Q6 are answered, and the experiments say why they did not run."""
    out = tmp_path / "repro"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({
        "kind": "backproplab-reproduce", "settings": {"dataset": "synth"}, "quick": True,
        "dataset_note": "no image dataset here", "presets": {}}))
    status = make_checks(out, "synth")
    assert set(status) == {"derivatives", "worked_example", "engines", "vectorization"}
    assert all(v == "ok" for v in status.values()), status
    figures, errors = make_figures(out)
    # no runs: only the Q3 computation graph, which needs none (drawn by Graphviz's dot;
    # where Graphviz is missing, the reason is recorded and the report says it)
    if HAS_GRAPHVIZ:
        assert figures == {"q3_graph": "figures/q3_graph.svg"} and errors == {}
        assert "0.8808" in (out / figures["q3_graph"]).read_text()
    else:
        assert figures == {} and "install" in errors["q3_graph"]
    md, page = rep.write_report(out)
    text = md.read_text()
    for title in rep.SECTIONS:
        assert f"## {title}" in text
    assert_well_formed(page.read_text())
    # the worked example's values, computed live
    assert "0.44039853898894116" in text and "0.8807970779778823" in text
    assert "[-0.0596, 0.0596]" in text and "exactly the original's number" in text
    assert text.count("Not run: this reproduction ran on the synthetic data only") == 8
    assert "with `--dataset mnist` into a new `--out` folder runs it" in text
    assert "Not run: it was not selected (`--only`). Run `backproplab reproduce --only " \
           "q4-synth` to add it." in text
    summary = text.split("## Q1")[0]
    assert "Q3 third row of dl/dV" in summary and "mistyped weight" in summary


def test_failed_figures_and_checks_are_shown_not_hidden(tmp_path, monkeypatch):
    out = tmp_path / "repro"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({
        "kind": "backproplab-reproduce", "settings": {"dataset": "synth"}, "quick": True,
        "figures": {}, "figure_errors": {"q4_boundary": "ValueError: broken"}}))
    from backproplab.study import checks

    def broken():
        raise RuntimeError("worked example exploded")

    monkeypatch.setattr(checks, "worked_example", broken)
    status = make_checks(out)
    assert "exploded" in status["worked_example"]
    md, _ = rep.write_report(out)
    text = md.read_text()
    assert "The worked_example check failed: RuntimeError: worked example exploded" in text


def test_figure_keys_have_distinct_files():
    assert len(set(FIGURES.values())) == len(FIGURES)
    assert all(Path(name).suffix in IMAGE_TYPES for name in FIGURES.values())
    assert [k for k, name in FIGURES.items() if name.endswith(".gif")] == \
        ["q4_boundary_animation"]


def test_html_embeds_a_gif_with_its_mime_type(tmp_path):
    """An animated GIF is embedded as image/gif (a browser plays it in place), an SVG
    as image/svg+xml; a file of another kind is refused rather than mislabelled."""
    from PIL import Image

    (tmp_path / "figures").mkdir()
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "blue", "green")]
    frames[0].save(tmp_path / "figures" / "anim.gif", save_all=True,
                   append_images=frames[1:], duration=500, loop=0)
    (tmp_path / "figures" / "a.bmp").write_bytes(b"BM")
    (tmp_path / "figures" / "g.svg").write_text("<svg/>")
    doc = rep.Doc("t")
    doc.figure("figures/anim.gif", "An animation")
    data = base64.b64encode((tmp_path / "figures" / "anim.gif").read_bytes()).decode()
    assert f'src="data:image/gif;base64,{data}"' in doc.html(tmp_path)
    assert "![An animation](figures/anim.gif)" in doc.markdown()
    doc.figure("figures/g.svg", "A graph")  # the Q3 computation graph is an SVG
    svg = base64.b64encode(b"<svg/>").decode()
    assert f'src="data:image/svg+xml;base64,{svg}"' in doc.html(tmp_path)
    doc.figure("figures/a.bmp", "A bitmap")
    with pytest.raises(ValueError, match="embeddable image types .png, .gif, .svg"):
        doc.html(tmp_path)


def test_not_run_names_this_reproductions_command_with_the_preset(tmp_path):
    """The command that adds a missing preset keeps this reproduction's settings
    and folder, replacing its --only (or adding one)."""
    from backproplab.study.layout import StudyFolder
    from backproplab.study.report.context import Ctx

    out = tmp_path / "repro"
    out.mkdir()
    command = "backproplab reproduce --dataset mnist --quick --only seeds --out 'my runs'"
    (out / MANIFEST).write_text(json.dumps({
        "settings": {"dataset": "mnist"}, "command": command,
        "presets": {"final": {"failed": ["final/seed=0"]}}}))
    ctx = Ctx(StudyFolder(out), rep.Doc("t"))
    assert ctx.command_for("final") == \
        "backproplab reproduce --dataset mnist --quick --only final --out 'my runs'"
    assert ctx.not_run("final") and ctx.not_run("learning-rates")
    text = ctx.doc.markdown()
    assert "Not run: its runs failed (final/seed=0); see their error.txt. Run " \
           "`backproplab reproduce --dataset mnist --quick --only final --out 'my runs'` " \
           "to add it." in text
    assert "--only learning-rates --out 'my runs'` to add it." in text
    ctx.m.pop("command")
    assert ctx.command_for("seeds") == "backproplab reproduce --only seeds"


def test_normalization_demo_of_a_model_stuck_at_the_majority_class(tmp_path):
    """A model that answers one class gets the same accuracy under every scaling:
    the report says the table shows nothing, and claims no drop."""
    from backproplab.study.layout import CHECKS, StudyFolder
    from backproplab.study.report.context import Ctx
    from backproplab.study.report.q4 import normalization

    out = tmp_path / "repro"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"settings": {"dataset": "synth"}}))
    accuracy = {"training statistics (correct)": 0.5622,
                "validation split's own statistics (standardize)": 0.5622,
                "validation min/max-scaled to [0, 1] by its own range": 0.5622}
    (out / CHECKS).write_text(json.dumps({"normalization": {
        "accuracy": accuracy, "majority_class_rate": 0.5622}}))
    ctx = Ctx(StudyFolder(out), rep.Doc("t"))
    assert normalization(ctx) is None
    text = ctx.doc.markdown()
    assert "no better than always answering the majority class (0.5622 against 0.5622)" in text
    assert "damage appears" not in text
    accuracy["training statistics (correct)"] = 0.97
    accuracy["validation min/max-scaled to [0, 1] by its own range"] = 0.41
    (out / CHECKS).write_text(json.dumps({"normalization": {
        "accuracy": accuracy, "majority_class_rate": 0.5622}}))
    ctx = Ctx(StudyFolder(out), rep.Doc("t"))
    assert normalization(ctx) == (
        "our model gives 0.410 instead of 0.970 when its validation inputs are min/max-scaled "
        "while it was trained on standardized ones (standardizing each split by its own "
        "statistics gives 0.562)")
    text = ctx.doc.markdown()
    assert "0.4100 against 0.9700, below the majority-class rate" in text
    assert "gives 0.5622 here against 0.9700." in text and "harm is small" not in text


def test_every_link_of_the_report_resolves_to_a_file_in_its_folder(tmp_path):
    """The report cites study.md and derivations.md through relative links, and
    writing the report puts those files (the package's copies of docs/) in the
    report's folder, so every link works from an installed wheel too, and wherever
    the folder is moved."""
    import re

    from backproplab.study.layout import DERIVATIONS, NOTES, STUDY_NOTES

    out = tmp_path / "repro"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({
        "kind": "backproplab-reproduce", "settings": {"dataset": "synth"}, "quick": True,
        "presets": {}}))
    md, page = rep.write_report(out)
    (tmp_path / "elsewhere").mkdir()
    moved = out.rename(tmp_path / "elsewhere" / "report")
    text, html = (moved / md.name).read_text(), (moved / page.name).read_text()
    assert "SPEC.md" not in text and "SPEC.md" not in html
    links = {link for link in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(
        r'href="([^"]+)"', html) if "://" not in link and not link.startswith("#")}
    assert {STUDY_NOTES, DERIVATIONS} <= links
    assert f'href="{STUDY_NOTES}"' in html and f'href="{DERIVATIONS}"' in html
    for link in links:
        target = (moved / link).resolve()
        assert target.is_file() and moved.resolve() in target.parents, link
    docs = Path(__file__).resolve().parents[2] / "docs"
    for name in NOTES:
        assert (moved / name).read_bytes() == (docs / name).read_bytes()
    assert "## Where the write-up was wrong" in (moved / STUDY_NOTES).read_text()
    # study.md's own link to the derivations resolves there as well
    assert "](derivations.md)" in (moved / STUDY_NOTES).read_text()


def test_q4_says_the_loss_drops_only_where_it_dropped(tmp_path):
    """The caption of the per-example loss figure said "the loss drops" whatever the runs
    did, under a paragraph that said in bold that it did not."""
    out = tmp_path / "repro"
    r = run_subprocess("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick",
                       "--limit", "300", "--workers", "1", "--out", out, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    def q4_text() -> str:
        return (out / "report.md").read_text(encoding="utf-8").split(
            "## Q4: ")[1].split("\n## ")[0]

    assert "raw and smoothed; the loss drops." in q4_text()
    assert "The loss drops: running training loss" in q4_text()
    results_path = out / "presets" / "q4-synth" / "results.json"
    results = json.loads(results_path.read_text())
    epochs = results["groups"][0]["epochs"]
    epochs[-1]["train_loss_running"]["mean"] = epochs[0]["train_loss_running"]["mean"] + 1
    atomic_write_json(results_path, results)
    rep.write_report(out)
    text = q4_text()
    assert "**The loss did not drop**: check the runs." in text
    assert "the loss drops" not in text.lower()
