"""The study's report: ``report.md`` and a self-contained ``report.html``.

It reads only the reproduction folder (:mod:`backproplab.study.layout`):
``reproduce.json``, ``checks.json`` (:func:`backproplab.study.outputs.make_checks`),
the presets' ``results.json`` and the figures
(:func:`backproplab.study.outputs.make_figures`). The same document is rendered
twice: Markdown (figures linked) and HTML (rendered with markdown-it-py, figures
embedded as base64 PNG, no external file needed).

The report answers every question of the study (docs/study.md, copied beside the
report as study.md: Q1-Q7 and the extra
experiments) with the numbers measured in the folder, and sets them beside the
original write-up's numbers, saying where the original was wrong and why. No
number in it is typed in here except the original write-up's and the
published reference points, which are labelled as such.

One module per part, each section a function taking the shared
:class:`~backproplab.study.report.context.Ctx`:

- :mod:`.document`: the :class:`Doc` model, its Markdown and HTML rendering;
- :mod:`.format`: number formatting and reading aggregated statistics;
- :mod:`.context`: the section titles and what the writers share;
- :mod:`.summary`: introduction and summary table;
- :mod:`.q1_q3`, :mod:`.q4`, :mod:`.q5_q6`, :mod:`.q7`: the study's questions;
- :mod:`.extras`: full batch, batch sizes, unscaled pixels;
- :mod:`.closing`: where the original was wrong, how the report was made;
- :mod:`.build`: the sections in order, :func:`build_report`, :func:`write_report`.
"""

from backproplab.study.report.build import build_report, write_report
from backproplab.study.report.context import SECTIONS
from backproplab.study.report.document import Doc

__all__ = ["SECTIONS", "Doc", "build_report", "write_report"]
