"""The report's opening: the introduction (what ran, where, how long) and the
summary table setting every measured number beside the original write-up's."""

from __future__ import annotations

from backproplab.runs import ERROR
from backproplab.study.layout import STUDY_NOTES
from backproplab.study.presets import REFERENCES
from backproplab.study.report.context import SECTIONS, Ctx
from backproplab.study.report.format import fmt


def intro(ctx: Ctx) -> None:
    """Write the introduction: what the report is, the dataset, mode, time and
    workers of the reproduction, and notes when it ran on other data than MNIST.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    m, doc = ctx.m, ctx.doc
    settings = m.get("settings") or {}
    mode = "quick" if ctx.quick else "full"
    doc.p(f"This report answers every question of the study ([{STUDY_NOTES}]({STUDY_NOTES}), "
          "beside this report: Q1-Q7 and the extra experiments) with numbers measured in "
          "this folder, and sets them beside the numbers of the original student write-up, "
          "saying where that write-up was wrong.")
    facts = [f"**Dataset**: {m.get('dataset_note', ctx.dataset)}",
             f"**Mode**: {mode}" + (
                 " (fewer epochs, seeds and examples than the study: the numbers show the "
                 "method, not the final accuracies; run without `--quick` for those)"
                 if ctx.quick else ""),
             (f"**Made**: {m.get('started', '?')} to {m.get('finished', '?')}, "
             f"{fmt(m.get('seconds'), 1)} s on {m.get('workers', '?')} worker process(es)")]
    if settings.get("limit"):
        facts.append(f"**Training examples per run**: at most {settings['limit']} (`--limit`)")
    if m.get("failed_trials"):
        facts.append(f"**Failed runs**: {', '.join(m['failed_trials'])} (their folders hold "
                     f"`{ERROR}`)")
    doc.ul(facts)
    if ctx.dataset == "fashion-mnist":
        doc.note("**This reproduction ran on Fashion-MNIST, not MNIST.** Every number of the "
                 "original write-up is an MNIST number: they are shown for reference but are "
                 "**not directly comparable** with the Fashion-MNIST numbers measured here "
                 "(Fashion-MNIST is the harder task: the published reference point, "
                 "scikit-learn's MLPClassifier with 100 ReLU units, reaches "
                 f"{REFERENCES['fashion-mnist'][0][1]} test accuracy on it against "
                 f"{REFERENCES['mnist'][2][1]} on MNIST). Put the MNIST files on this "
                 "machine (`backproplab data download mnist`) and run again to compare.")
    elif not ctx.image:
        doc.note("**Only the synthetic parts ran** (see **Dataset** above): the sections of "
                 "Q7 and the extra experiments need MNIST or Fashion-MNIST and say so; the rest "
                 "is complete.")


def summary_table(ctx: Ctx) -> None:
    """Write the summary section: the rows the other sections collected with
    :meth:`Ctx.row` (the original's number, the measured one, the verdict).

    Written after the other sections, which fill ``ctx.summary_rows``.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[0])
    orig = "original (MNIST)" if ctx.dataset != "mnist" else "original write-up"
    here = f"measured here ({ctx.dataset}{', quick' if ctx.quick else ''})"
    doc.p(f"The original's numbers are from its write-up (see {STUDY_NOTES}): MNIST, "
          "784-300-10 sigmoid network, plain SGD, **unscaled pixels**. Accuracies are on the validation split "
          "unless the row says test; `mean ± std (n=k)` is over k seeds, with the sample "
          "standard deviation (ddof=1).")
    doc.table(["experiment", orig, here, "verdict"], ctx.summary_rows)


__all__ = ["intro", "summary_table"]
