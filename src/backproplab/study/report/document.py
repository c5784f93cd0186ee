"""The report's document model: a list of blocks rendered to Markdown and to HTML.

Text in the blocks is Markdown (CommonMark: ``**bold**``, ``*italics*``,
```code```, ``[text](url)``). :meth:`Doc.markdown` writes it out as it is;
:meth:`Doc.html` renders every block's Markdown with markdown-it-py (tables
on, raw HTML off, so any ``<`` in the text is shown, not interpreted) into one
self-contained page: its CSS inline and every figure embedded as a base64
data URI (PNG, or an animated GIF, which a browser plays in place).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

#: The image files a figure may be, by extension: their MIME types in the data URI.
IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}

#: The one Markdown renderer: CommonMark with tables, raw HTML escaped.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


class Doc:
    """A report as a list of blocks, rendered to Markdown or to HTML.

    Parameters
    ----------
    title : str
        The page title (plain text, rendered as the only level-1 heading).
    """

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple[str, Any]] = []

    def h(self, level: int, text: str, anchor: str | None = None) -> None:
        """A heading; level-2 headings make the HTML table of contents."""
        self.blocks.append(("h", (level, text, anchor or _slug(text))))

    def p(self, text: str) -> None:
        """A paragraph."""
        self.blocks.append(("p", text))

    def note(self, text: str) -> None:
        """A highlighted remark (a block quote in Markdown)."""
        self.blocks.append(("note", text))

    def ul(self, items: Sequence[str]) -> None:
        """A bulleted list."""
        self.blocks.append(("ul", list(items)))

    def code(self, text: str) -> None:
        """A block of literal text (a command line)."""
        self.blocks.append(("code", text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: str | None = None) -> None:
        """A table; cells are converted with ``str``."""
        self.blocks.append(("table", (list(headers), [list(map(str, r)) for r in rows],
                                      caption)))

    def figure(self, path: str | None, caption: str, error: str | None = None) -> None:
        """A figure at ``path`` (relative to the report), or why it was not drawn."""
        self.blocks.append(("figure", (path, caption, error)))

    # -- rendering ---------------------------------------------------------

    def markdown(self) -> str:
        """The report as Markdown, figures linked by their relative paths."""
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            out += _markdown_block(kind, value)
        return "\n".join(out).rstrip() + "\n"

    def html(self, root: Path) -> str:
        """The report as one self-contained HTML page.

        Parameters
        ----------
        root : Path
            The folder the figure paths are relative to; their image files
            are embedded as base64 data URIs (:data:`IMAGE_TYPES`).
        """
        body = [html_block(kind, value, root) for kind, value in self.blocks]
        toc = [f'<li><a href="#{value[2]}">{inline(value[1])}</a></li>'
               for kind, value in self.blocks if kind == "h" and value[0] == 2]
        nav = f'<nav><h2>Contents</h2><ol>{"".join(toc)}</ol></nav>' if toc else ""
        title = html.escape(self.title)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{title}</title><style>{CSS}</style></head>"
                f"<body><main><h1>{title}</h1>{nav}"
                + "\n".join(body) + "</main></body></html>\n")


def _markdown_block(kind: str, value: Any) -> list[str]:
    """The Markdown lines of one block (a blank line after it)."""
    if kind == "h":
        level, text, _anchor = value
        return [f'{"#" * level} {text}', ""]
    if kind == "p":
        return [value, ""]
    if kind == "note":
        return ["> " + line for line in value.splitlines()] + [""]
    if kind == "ul":
        return [f"- {item}" for item in value] + [""]
    if kind == "code":
        return ["```", value.rstrip("\n"), "```", ""]
    if kind == "table":
        headers, rows, caption = value
        return ([f"*{caption}*", ""] if caption else []) + table_lines(headers, rows) + [""]
    if kind == "figure":
        path, caption, error = value
        if path:
            return [f"![{plain(caption)}]({path})", "", f"*{caption}*", ""]
        return [f"*(figure not drawn: {error or 'no runs'})* {caption}", ""]
    raise ValueError(f"unknown block kind {kind!r}")


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A pipe table (GitHub-flavoured Markdown), ``|`` in cells escaped."""
    out = ["| " + " | ".join(md_cell(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    return out + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]


def html_block(kind: str, value: Any, root: Path) -> str:
    """The HTML of one block, its Markdown rendered by :data:`_MARKDOWN`."""
    if kind == "h":
        level, text, anchor = value
        return f'<h{level} id="{html.escape(anchor)}">{inline(text)}</h{level}>'
    if kind in ("p", "ul", "code"):
        return _MARKDOWN.render("\n".join(_markdown_block(kind, value)))
    if kind == "note":
        return f'<div class="note">{_MARKDOWN.render(value)}</div>'
    if kind == "table":
        headers, rows, caption = value
        page = _MARKDOWN.render("\n".join(table_lines(headers, rows)))
        if caption:
            page = page.replace("<table>", f"<table><caption>{inline(caption)}</caption>", 1)
        return page
    if kind == "figure":
        return figure_html(*value, root=root)
    raise ValueError(f"unknown block kind {kind!r}")


def figure_html(path: str | None, caption: str, error: str | None, root: Path) -> str:
    """A ``<figure>`` with the image embedded (its MIME type from its extension,
    :data:`IMAGE_TYPES`), or a line saying why there is none."""
    if path and (root / path).is_file():
        mime = IMAGE_TYPES.get(Path(path).suffix.lower())
        if mime is None:
            raise ValueError(f"figure {path}: not one of the embeddable image types "
                             f"{', '.join(IMAGE_TYPES)}")
        data = base64.b64encode((root / path).read_bytes()).decode("ascii")
        return (f'<figure><img alt="{html.escape(plain(caption))}" '
                f'src="data:{mime};base64,{data}">'
                f"<figcaption>{inline(caption)}</figcaption></figure>")
    return (f'<p class="missing">(figure not drawn: '
            f"{html.escape(error or 'no runs')}) {inline(caption)}</p>")


def inline(text: str) -> str:
    """One line of Markdown as inline HTML (no enclosing paragraph).

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> inline("**bold** and `x < 1`")
    '<strong>bold</strong> and <code>x &lt; 1</code>'
    """
    return _MARKDOWN.renderInline(str(text))


def _slug(text: str) -> str:
    """An HTML id from a heading: lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def md_cell(text: str) -> str:
    """A table cell's text with ``|`` escaped and on one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def plain(text: str) -> str:
    """Text without its Markdown (links as their text, no ``**`` or backquotes).

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> plain("**Q3**: see [the notes](study.md) and `dl/dV`")
    'Q3: see the notes and dl/dV'
    """
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return text.replace("**", "").replace("`", "")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;line-height:1.5;
color:#1b1b1b;background:#fafafa;margin:0}
main{max-width:1000px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.8rem;border-bottom:2px solid #ddd;padding-bottom:.3rem}
h2{margin-top:2.5rem;border-bottom:1px solid #e3e3e3;padding-bottom:.2rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;display:block;overflow-x:auto}
th,td{border:1px solid #d5d5d5;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}tr:nth-child(even) td{background:#fafbfc}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3rem 0}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px;font-size:.9em}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:4px}
figure{margin:1.2rem 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555;margin-top:.3rem}
.note{border-left:4px solid #e8a33d;background:#fff8ec;padding:.6rem .9rem;margin:1rem 0}
.note p{margin:.2rem 0}.missing{color:#a33}nav ol{columns:2;font-size:.95rem}
"""

__all__ = ["CSS", "IMAGE_TYPES", "Doc", "inline", "plain"]
