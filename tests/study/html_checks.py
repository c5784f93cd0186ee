"""Checks of a rendered report page: its visible text holds no Markdown left
unrendered, and (in headless Chromium) it loads cleanly.

The browser is Debian's ``/usr/bin/chromium`` driven through its own command
line (``--dump-dom``): a copy of the page gets a script that records page
errors and, once the page has loaded, writes what it found (images, internal
links, visible text) into the DOM, which Chromium then prints.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.conftest import CHROMIUM

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"Debian's chromium ({CHROMIUM}) is not installed; .ci/run installs it")

#: Markdown that a renderer should have turned into markup: bold or emphasis
#: markers, ``*word*`` / ``*a few words*`` italics, and code-span backquotes.
RAW_MARKDOWN = re.compile(r"\*\*|__|(?<![\w*])\*[^\s*][^*\n]*?(?<!\s)\*(?![\w*])|`")


class _VisibleText(HTMLParser):
    """The page's text outside ``<code>``, ``<pre>``, ``<script>``, ``<style>``."""

    SKIP = frozenset({"code", "pre", "script", "style"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(page: str) -> str:
    """The text a reader sees, code and preformatted blocks left out."""
    parser = _VisibleText()
    parser.feed(page)
    parser.close()
    return "".join(parser.parts)


def raw_markdown(text: str, context: int = 30) -> list[str]:
    """Every piece of unrendered Markdown in ``text``, with some context around it."""
    return [text[max(0, m.start() - context):m.end() + context].replace("\n", " ")
            for m in RAW_MARKDOWN.finditer(text)]


_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => {
  const t = e.target;
  window.__errors.push(t && t !== window && t.tagName
    ? `${t.tagName} failed to load` : `${e.message} (${e.filename}:${e.lineno})`);
}, true);
window.addEventListener("load", () => {
  const images = [...document.images];
  const links = [...document.querySelectorAll('a[href^="#"]')];
  const body = document.body.cloneNode(true);
  body.querySelectorAll("code, pre, script, style").forEach((el) => el.remove());
  const out = document.createElement("pre");
  out.id = "backproplab-probe";
  out.textContent = JSON.stringify({
    images: images.length,
    broken_images: images.filter((i) => !(i.complete && i.naturalWidth > 0))
                         .map((i) => i.alt || i.src.slice(0, 40)),
    links: links.length,
    dead_links: links.map((a) => a.getAttribute("href"))
                     .filter((h) => !document.getElementById(decodeURIComponent(h.slice(1)))),
    text: body.textContent,
    errors: window.__errors,
  });
  document.body.appendChild(out);
});
</script>"""


def open_in_chromium(page: Path, workdir: Path, timeout: float = 120) -> dict:
    """Load ``page`` in headless Chromium; what the probe found, plus ``console``.

    Returns ``{"images", "broken_images", "links", "dead_links", "text",
    "errors", "console"}``: ``text`` is the visible text without code,
    ``errors`` the page's script errors and failed resources, ``console`` every
    console message Chromium logged for the page.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    probed = workdir / "probed.html"
    source = page.read_text(encoding="utf-8")
    head = source.find("<head>")
    assert head >= 0, "the page has no <head>"
    at = head + len("<head>")
    probed.write_text(source[:at] + _PROBE + source[at:], encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
           f"--user-data-dir={workdir / 'profile'}", "--virtual-time-budget=5000",
           "--enable-logging=stderr", "--v=0", "--dump-dom", probed.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    found = re.search(r'<pre id="backproplab-probe">(.*?)</pre>', r.stdout, re.DOTALL)
    assert found, f"chromium printed no probe result (status {r.returncode}): {r.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    result["console"] = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return result


def problems_in_browser(result: dict) -> list[str]:
    """What is wrong with a page, from :func:`open_in_chromium`'s result."""
    bad = [f"image not loaded: {alt}" for alt in result["broken_images"]]
    bad += [f"link to a missing id: {href}" for href in result["dead_links"]]
    bad += [f"raw Markdown: {piece!r}" for piece in raw_markdown(result["text"])]
    bad += [f"page error: {e}" for e in result["errors"]]
    bad += [f"console: {line}" for line in result["console"]]
    return bad
