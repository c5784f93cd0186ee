"""The whole report: its sections in order, written into ``report.md`` and
``report.html``, with the documents the report cites (``study.md``,
``derivations.md``: :data:`~backproplab.study.layout.NOTES`) copied beside them
from the package."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from backproplab.fileio import atomic_write_text
from backproplab.study.layout import NOTES, REPORT_HTML, REPORT_MD, StudyFolder
from backproplab.study.report import closing, extras, q1_q3, q4, q5_q6, q7, summary
from backproplab.study.report.context import Ctx
from backproplab.study.report.document import Doc

#: The section writers after the summary table, in the report's order (the
#: titles are :data:`~backproplab.study.report.context.SECTIONS`).
_WRITERS: tuple[Callable[[Ctx], None], ...] = (
    q1_q3.q1, q1_q3.q2, q1_q3.q3,
    q4.q4,
    q5_q6.q5, q5_q6.q6,
    q7.learning_curve, q7.train_vs_val, q7.seeds, q7.learning_rates, q7.final,
    extras.full_batch, extras.batch_sizes, extras.unscaled_pixels,
    closing.what_was_wrong, closing.how_it_was_made,
)


def build_report(folder: StudyFolder) -> Doc:
    """The whole report as a :class:`~backproplab.study.report.document.Doc`.

    The introduction, then the summary table (filled by the sections written
    after it), then every section in :data:`SECTIONS` order.

    Parameters
    ----------
    folder : StudyFolder
        The reproduction folder; only read.

    Returns
    -------
    Doc
        Render it with ``Doc.markdown()`` or ``Doc.html(root)``.
    """
    doc = Doc("backproplab: the backpropagation study, reproduced")
    ctx = Ctx(folder, doc)
    summary.intro(ctx)
    # sections are written first, the summary table (which collects their
    # numbers) is inserted after the introduction
    intro_len = len(doc.blocks)
    for write in _WRITERS:
        write(ctx)
    body = doc.blocks[intro_len:]
    doc.blocks = doc.blocks[:intro_len]
    summary.summary_table(ctx)
    doc.blocks += body
    return doc


def _note(name: str) -> str:
    """The text of one of :data:`~backproplab.study.layout.NOTES`: ``docs/NAME``,
    shipped in the package as ``backproplab/study/NAME``.

    Parameters
    ----------
    name : str
        The document's file name.

    Returns
    -------
    str
        The Markdown text.
    """
    return resources.files("backproplab.study").joinpath(name).read_text(encoding="utf-8")


def write_report(out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out``, and the documents they cite
    (:data:`~backproplab.study.layout.NOTES`) beside them.

    Parameters
    ----------
    out : path-like
        The reproduction folder (only read, apart from the three files written).

    Returns
    -------
    tuple of pathlib.Path
        The paths of ``report.md`` and ``report.html``. The report links to
        ``study.md`` and ``derivations.md`` by their bare names, so the links work
        wherever the folder is (the files come from the installed package, not
        from a checkout).
    """
    folder = StudyFolder(out)
    doc = build_report(folder)
    for name in NOTES:
        atomic_write_text(folder.root / name, _note(name))
    md = atomic_write_text(folder.root / REPORT_MD, doc.markdown())
    page = atomic_write_text(folder.root / REPORT_HTML, doc.html(folder.root))
    return md, page


__all__ = ["build_report", "write_report"]
