"""The closing sections: where the original write-up was wrong, and how the
report was made."""

from __future__ import annotations

from backproplab.runs import BATCHES, CONFIG, METRICS, MODEL, RESULTS, RESULTS_CSV, SUMMARY
from backproplab.study.layout import CHECKS, FIGURES_DIR, PRESETS_DIR
from backproplab.study.presets import ORIGINAL, PRESETS
from backproplab.study.report.context import SECTIONS, Ctx


def what_was_wrong(ctx: Ctx) -> None:
    """Write the section listing where the original write-up was wrong, and why.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[15])
    w = ctx.folder.checks.get("worked_example") or {}
    items = [
        "**Q3, the third row of dl/dV** (0.0596 instead of 0.4404): a mistyped weight. "
        + ("Our engine reproduces 0.0596 exactly when the third hidden unit's incoming "
           "weights are entered with flipped signs (section Q3)."
           if (w.get("mistyped") or {}).get("reproduces_original") else
           "See section Q3."),
        ("**Unscaled pixels**: the MNIST images were fed as 0-255 values, which saturates "
        "the sigmoid hidden units from the first step (section *The original's unscaled "
        "pixels*); every MNIST number of the original is affected."),
        ("**Per-split normalization**: each split was scaled by its own statistics, so the "
        "validation inputs were not transformed like the training inputs. A synthetic "
        f"validation accuracy ({ORIGINAL['synth']['val_accuracy']}) below that of always "
        "answering the majority class shows such a mismatch; section Q4 measures what each "
        "kind costs (the same method with each split's own statistics, and different "
        "scalings for the two splits). Statistics must come from the training split only."),
        ("**10 vs 100 epochs**: the full-batch experiment's text claims 100 epochs, the run "
        "behind its 0.838 had 10 (section *Extra: full-batch gradient descent*, which shows "
        "both)."),
        ("**Single runs**: the learning-rate comparison used one run per rate, so differences "
        "smaller than the seed-to-seed spread (section Q7 (2)) were read as real; here every "
        "comparison is tested over seeds, with its p-value and 95% interval, and where the "
        "seeds are too few to decide the report says how many would be needed."),
    ]
    doc.ul(items)


def how_it_was_made(ctx: Ctx) -> None:
    """Write the closing section: the command, the files of the folder and the
    software versions behind every number.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc, m = ctx.doc, ctx.m
    doc.h(2, SECTIONS[16])
    files = ", ".join(f"`{name}`" for name in (CONFIG, METRICS, BATCHES, MODEL, SUMMARY))
    doc.p("Every number above was computed by `backproplab reproduce` in this folder: the "
          f"runs are in `{PRESETS_DIR}/NAME/` (one run folder per trial with {files}), the "
          f"aggregated results in `{PRESETS_DIR}/NAME/{RESULTS}` and `{RESULTS_CSV}`, the live "
          f"checks in `{CHECKS}`, the figures in `{FIGURES_DIR}/`. Rerunning the same command "
          "resumes (finished runs are skipped); `--overwrite` starts over.")
    if m.get("command"):
        doc.code(m["command"])
    rows = []
    for p in PRESETS:
        info = (m.get("presets") or {}).get(p.name)
        res = ctx.folder.results(p.name)
        if res:
            counts = res.get("counts", {})
            state = f"{counts.get('ok', 0)} ok" + (
                f", {counts.get('failed', 0)} failed" if counts.get("failed") else "")
        else:
            state = "not run"
        grid = "; ".join(f"{k} in {', '.join(map(str, v))}" for k, v in p.grid.items()) or "-"
        seeds = p.quick_seeds if ctx.quick else p.seeds
        rows.append([f"`{p.name}`", p.question, grid, str(seeds), state,
                     f"`{PRESETS_DIR}/{p.name}`" if info or res else "-"])
    doc.table(["preset", "answers", "varies", "seeds", "runs", "folder"], rows)
    doc.ul([
        ("Statistics: mean and sample standard deviation (ddof=1, dividing by n-1) across "
        "seeds; `n` is the number of seeds. Two configurations are compared with Welch's "
        "two-sided t-test on their per-seed last-epoch values, with the 95% Student-t "
        "interval of the difference; within a sweep the p-values are adjusted with Holm's "
        "method over all its pairs (significant: adjusted p < 0.05). A single number of the "
        "original is compared with a one-sample t-test. Seeds needed: per group, for an 80% "
        "chance of detecting the observed difference at the observed spread (noncentral t). "
        "`docs/experiments.md` explains these."),
        ("Seeds: a seed fixes the initial weights and the order of the examples; trials that "
        "share a seed start from the same weights and see the examples in the same order, "
        "at every learning rate and batch size."),
        ("Per-batch curves are smoothed with a bias-corrected exponential moving average; the "
        "figure legends give its weight."),
        ("Identical configurations in several presets are trained once and copied (their "
        f"`{SUMMARY}` says `copied_from`)."),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()),
    ])


__all__ = ["how_it_was_made", "what_was_wrong"]
