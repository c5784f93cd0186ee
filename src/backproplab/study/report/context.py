"""What the report's section writers share: the section titles, and :class:`Ctx`
(the reproduction folder being reported, the document being written, the rows
of the summary table collected on the way)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from backproplab.runs import ERROR
from backproplab.study.layout import StudyFolder
from backproplab.study.report.document import Doc
from backproplab.study.report.format import final_stat, find_comparison, fmt, last_epoch, pm
from backproplab.sweeps.stats import TEST_NAMES, describe

#: The sections every report has, in order (``tests`` check that they are all there).
SECTIONS = (
    "Summary: measured here vs the original write-up",
    "Q1: local derivatives of softmax and cross-entropy",
    "Q2: the derivative with respect to the logits",
    "Q3: the worked example",
    "Q4: the scalar engine on the synthetic data",
    "Q5: the NumPy (tensor) engine",
    "Q6: vectorized batches",
    "Q7: the per-batch learning curve",
    "Q7 (1): training vs validation",
    "Q7 (2): random initializations",
    "Q7 (3): learning rates",
    "Q7 (4): the final run on the test set",
    "Extra: full-batch gradient descent",
    "Extra: batch sizes",
    "The original's unscaled pixels",
    "Where the original write-up was wrong, and why",
    "How this report was made",
)


class Ctx:
    """What the section writers share: the folder, the document, the summary rows.

    Parameters
    ----------
    folder : StudyFolder
        The reproduction folder being reported (only read).
    doc : Doc
        The document the sections are appended to.

    Attributes
    ----------
    m : dict
        The folder's manifest (``reproduce.json``).
    figs, fig_errors : dict of str to str
        The figures drawn (key -> path) and those that failed (key -> why).
    dataset : str
        The dataset of the reproduction; ``mnist`` and ``image`` say whether it is
        MNIST and whether it is an image dataset.
    quick : bool
        Whether the reproduction ran in quick mode.
    summary_rows : list of list of str
        The summary table's rows, added by :meth:`row`.
    """

    def __init__(self, folder: StudyFolder, doc: Doc):
        self.folder, self.doc = folder, doc
        self.m = folder.manifest
        self.figs: dict[str, str] = self.m.get("figures") or {}
        self.fig_errors: dict[str, str] = self.m.get("figure_errors") or {}
        self.dataset = folder.dataset
        self.mnist = self.dataset == "mnist"
        self.image = self.dataset in ("mnist", "fashion-mnist")
        self.quick = bool(self.m.get("quick"))
        self.summary_rows: list[list[str]] = []

    def row(self, experiment: str, original: str, measured: str, verdict: str) -> None:
        """Add a row to the summary table (written at the top of the report)."""
        self.summary_rows.append([experiment, original, measured, verdict])

    def figure(self, key: str, caption: str) -> None:
        """The figure ``key`` if it was drawn, or why it was not (nothing if never tried)."""
        if key in self.figs:
            self.doc.figure(self.figs[key], caption)
        elif key in self.fig_errors:
            self.doc.figure(None, caption, self.fig_errors[key])

    def section(self, index: int, preset: str) -> list[dict] | None:
        """Open section ``SECTIONS[index]`` about ``preset``: its heading, then its
        result groups, or ``None`` (after a note saying why) when it did not run."""
        self.doc.h(2, SECTIONS[index])
        return None if self.not_run(preset) else self.folder.groups(preset)

    def not_run(self, preset: str) -> bool:
        """Say why a preset's results are missing; True when they are."""
        if self.folder.results(preset):
            return False
        info = (self.m.get("presets") or {}).get(preset)
        if not self.image and preset != "q4-synth":
            self.doc.note("Not run: this reproduction ran on the synthetic data only (see "
                          "**Dataset** above). It needs MNIST (`backproplab data download "
                          "mnist`) or Fashion-MNIST: a reproduction with `--dataset mnist` "
                          "into a new `--out` folder runs it.")
            return True
        if info and info.get("failed"):
            why = f"its runs failed ({', '.join(info['failed'][:3])}); see their {ERROR}"
        else:
            why = "it was not selected (`--only`)"
        self.doc.note(f"Not run: {why}. Run `{self.command_for(preset)}` to add it.")
        return True

    def command_for(self, preset: str) -> str:
        """This reproduction's command (from the manifest) with ``--only preset``:
        the same settings and folder, so the preset's results join this report."""
        parts = shlex.split(self.m.get("command") or "backproplab reproduce")
        if "--only" in parts[:-1]:
            parts[parts.index("--only") + 1] = preset
        else:
            parts[2:2] = ["--only", preset]
        return shlex.join(parts)

    def check(self, name: str) -> dict | None:
        """The live check ``name`` from ``checks.json``; a note and ``None`` if it failed."""
        data = self.folder.checks.get(name)
        if not isinstance(data, dict):
            return None
        if "error" in data:
            self.doc.note(f"The {name} check failed: {data['error']}")
            return None
        return data


def epoch_table(ctx: Ctx, group: Mapping, metrics: Sequence[tuple[str, str]],
                caption: str | None = None, every: int = 1) -> None:
    """Add a table of ``metrics`` per epoch of ``group``: every ``every``-th epoch,
    plus the first and the last, each cell ``mean ± std``.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    group : mapping
        One configuration of a preset's ``results.json``.
    metrics : sequence of (str, str)
        ``(metric key, column label)`` pairs.
    caption : str, optional
        Default: ``"mean ± std over N seed(s) per epoch"``.
    every : int, default 1
        Keep every ``every``-th epoch.
    """
    rows = []
    epochs = group.get("epochs", [])
    last = last_epoch(group)
    for row in epochs:
        e = row["epoch"]
        if e % every and e != last and e != 1:
            continue
        rows.append([str(e)] + [pm(row.get(key), n=False) for key, _ in metrics])
    ctx.doc.table(["epoch"] + [label for _, label in metrics], rows,
                  caption or f"mean ± std over {group.get('n', 1)} seed(s) per epoch")


def comparisons_table(ctx: Ctx, preset: str, what: str) -> None:
    """Add a table of every pair of ``preset``'s groups on the last-epoch validation
    accuracy: the difference, its interval, the p-values and the seeds a decision
    would need (nothing when the preset has no comparisons).

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    preset : str
        The preset whose ``results.json`` holds the comparisons.
    what : str
        What the groups are, for the caption (``"learning rates"``).
    """
    res = ctx.folder.results(preset) or {}
    rows = [c for c in res.get("comparisons") or [] if c["metric"] == "eval_accuracy"]
    if not rows:
        return
    ctx.doc.table(
        ["a", "b", "a - b", "95% CI", "p", "p (Holm)", "significant", "seeds needed"],
        [[c["a"], c["b"], fmt(c["difference"]),
          "-" if c["ci95"] is None else f"[{fmt(c['ci95'][0])}, {fmt(c['ci95'][1])}]",
          "-" if c["p_value"] is None else f"{c['p_value']:.2g}",
          "-" if c["p_adjusted"] is None else f"{c['p_adjusted']:.2g}",
          {True: "yes", False: "no", None: "-"}[c["significant"]],
          "-" if c["seeds_needed"] is None else str(c["seeds_needed"])] for c in rows],
        f"every pair of {what}, last-epoch validation accuracy: {TEST_NAMES[rows[0]['test']]} "
        f"over seeds, p adjusted with Holm's method over the {len(rows)} pairs; significant: "
        "adjusted p < 0.05; seeds needed: per group, to detect this difference 80% of the "
        "time at the spread seen here")


def best_against_next(ctx: Ctx, preset: str, groups: Sequence[Mapping], best: Mapping) -> str:
    """The best group against the next best, from the preset's comparisons.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    preset : str
    groups : sequence of mapping
        The preset's result groups.
    best : mapping
        The best group (its ``label`` is looked up).

    Returns
    -------
    str
        ``"; against the next best, ..."``, or ``""`` with fewer than two groups
        or no such comparison.
    """
    ranked = sorted(groups, key=lambda g: -((final_stat(g, "eval_accuracy") or {})
                                             .get("mean") or -1))
    if len(ranked) < 2:
        return ""
    c = find_comparison(ctx.folder.results(preset), "eval_accuracy", best["label"],
                        ranked[1]["label"])
    return f"; against the next best, {describe(c)}" if c else ""


__all__ = ["SECTIONS", "Ctx", "best_against_next", "comparisons_table", "epoch_table"]
