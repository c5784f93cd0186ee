"""report.html as a reader gets it: no Markdown left unrendered in its text, and
in a real browser (headless Chromium) every figure loads, every internal link
lands on an element, and the console stays quiet.

The report comes from a quick synthetic reproduction (the Q4 runs, the live
checks, three figures; a few seconds); the Fashion-MNIST end-to-end test in
test_reproduce.py runs the same checks on a report with every figure.
"""

from __future__ import annotations

import base64

import pytest
from tests.conftest import HAS_GRAPHVIZ, run_subprocess
from tests.study.html_checks import (
    needs_chromium,
    open_in_chromium,
    problems_in_browser,
    raw_markdown,
    visible_text,
)

# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def synth_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-html") / "out"
    r = run_subprocess("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick",
                       "--limit", "300", "--out", out, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "report.html"


def test_report_html_shows_no_raw_markdown(synth_report):
    page = synth_report.read_text(encoding="utf-8")
    assert raw_markdown(visible_text(page)) == []
    # the places the hand-written renderer left raw: bold around a code span (Q2, Q3)
    # and italics (the section names in "where the original was wrong")
    assert "<strong><code>dl/do = y - onehot(c)</code></strong>" in page
    assert "<strong>The original's third row of <code>dl/dV</code></strong>" in page
    assert "<em>The original's unscaled pixels</em>" in page
    assert "<em>Extra: full-batch gradient descent</em>" in page


@pytest.mark.parametrize("page, found", [
    # what the hand-written renderer produced (it handled neither case)
    ("<p>that is **<code>dl/do = y - onehot(c)</code>**.</p>", ["**", "**"]),
    ("<li>(section *The original's unscaled pixels*); every</li>", ["*The original"]),
    ("<p>a __dunder__ and a `code span` left as text</p>", ["__", "__", "`", "`"]),
    # rendered, or not Markdown at all: nothing to report
    ("<p><strong><code>x</code></strong> <em>it</em></p>", []),
    ("<pre><code>**kept** in code *as is*</code></pre><code>a_b__c</code>", []),
    ("<p>784·300 = 2 * 3 * 4, x^T Q x, lr_max, a * b</p>", []),
])
def test_raw_markdown_finds_what_a_renderer_left(page, found):
    pieces = raw_markdown(visible_text(page), context=0)
    assert [p[:len(f)] for p, f in zip(pieces, found)] == found and len(pieces) == len(found)


@needs_chromium
def test_report_opens_cleanly_in_chromium(synth_report, tmp_path):
    result = open_in_chromium(synth_report, tmp_path)
    assert problems_in_browser(result) == []
    # the Q3 computation graph (an SVG) and the four Q4 figures, embedded, the boundary
    # animation a GIF that decodes (the check counts an image as broken unless it loaded
    # with a width)
    assert result["images"] == 4 + HAS_GRAPHVIZ
    assert result["links"] >= 17  # the table of contents: one link per section
    assert "Q3: the worked example" in result["text"]


@needs_chromium
def test_browser_check_sees_a_broken_page(tmp_path):
    """The browser check can fail: a figure that does not decode, a link to no id,
    raw Markdown, a script error and a console message are each reported."""
    page = tmp_path / "broken.html"
    good = base64.b64encode(PNG).decode()
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>t</title></head><body>"
        f'<h2 id="here">Here</h2><a href="#here">ok</a><a href="#nowhere">dead</a>'
        f'<img alt="fine" src="data:image/png;base64,{good}">'
        '<img alt="corrupt" src="data:image/png;base64,AAAA">'
        "<p>left **raw**</p><script>console.error('boom'); undefinedName();</script>"
        "</body></html>", encoding="utf-8")
    result = open_in_chromium(page, tmp_path / "work")
    problems = problems_in_browser(result)
    assert result["images"] == 2 and result["links"] == 2
    assert "image not loaded: corrupt" in problems
    assert "link to a missing id: #nowhere" in problems
    assert any(p.startswith("raw Markdown") and "**raw**" in p for p in problems)
    assert any(p.startswith("page error") and "undefinedName" in p for p in problems)
    assert any(p.startswith("console") and "boom" in p for p in problems)
