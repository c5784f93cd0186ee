"""The reproduction folder: its file and folder names, and the reader of what it holds.

Layout of ``reproduce --out OUT``::

    reproduce.json     the manifest: settings, command, versions, presets' status
    presets/NAME/      one sweep folder per preset (see backproplab.runs)
    checks.json        the live checks (derivatives, worked example, engines, ...)
    figures/           the report's figures (PNG, and one animated GIF)
    report.md          the report, figures linked
    report.html        the same report, self-contained (figures embedded)
    study.md           the study's questions and the original write-up's claims
    derivations.md     the derivatives of Q1-Q3, step by step
                       (both copies of the package's own, which the report links to)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from backproplab.fileio import read_json
from backproplab.runs import RESULTS, inside

MANIFEST = "reproduce.json"
PRESETS_DIR = "presets"
FIGURES_DIR = "figures"
CHECKS = "checks.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
#: The study's questions and the original write-up's claims, beside the report.
STUDY_NOTES = "study.md"
#: The derivations of Q1-Q3, step by step, beside the report.
DERIVATIONS = "derivations.md"
#: The documents the report links to: docs/ files shipped in the package (as
#: ``backproplab/study/NAME``) and copied beside the report, so its links work
#: from an installed wheel.
NOTES = (STUDY_NOTES, DERIVATIONS)
#: Everything reproduce writes into its folder.
OUTPUTS = (PRESETS_DIR, FIGURES_DIR, CHECKS, REPORT_MD, REPORT_HTML, *NOTES, MANIFEST)
#: The presets' figures: key -> file name in ``figures/`` (PNG; the boundary
#: animation a GIF; the Q3 computation graph an SVG).
FIGURES = {
    "q4_train_val": "q4_train_val.png",
    "q4_batch_loss": "q4_batch_loss.png",
    "q4_boundary": "q4_boundary.png",
    "q4_boundary_animation": "q4_boundary_epochs.gif",
    "learning_curve": "learning_curve.png",
    "train_vs_val": "train_vs_val.png",
    "seeds": "seeds.png",
    "learning_rates": "learning_rates.png",
    "learning_rates_final": "learning_rates_final.png",
    "batch_sizes": "batch_sizes.png",
    "full_batch": "full_batch.png",
    "unscaled": "unscaled_pixels.png",
    "weights_scaled": "weights_scaled.png",
    "weights_unscaled": "weights_unscaled.png",
    "activations_scaled": "activations_scaled.png",
    "activations_unscaled": "activations_unscaled.png",
    "final": "final.png",
    "final_confusion": "final_confusion.png",
    "examples": "examples.png",
    "misclassified": "misclassified.png",
    "q3_graph": "q3_graph.svg",
}


class StudyFolder:
    """A reproduction folder: its manifest, checks, and the presets' results (only read).

    Parameters
    ----------
    out : str or os.PathLike
        The folder ``backproplab reproduce`` wrote.

    Attributes
    ----------
    root : pathlib.Path
    manifest : dict
        ``reproduce.json`` (empty when missing or damaged).
    checks : dict
        ``checks.json`` (empty when missing or damaged).
    """

    def __init__(self, out: str | os.PathLike):

        self.root = Path(out)
        self.manifest: dict = read_json(self.root / MANIFEST) or {}
        self.checks: dict = read_json(self.root / CHECKS) or {}
        self._results: dict[str, dict | None] = {}

    @property
    def dataset(self) -> str:
        return (self.manifest.get("settings") or {}).get("dataset", "?")

    def preset_dir(self, name: str) -> Path:

        return self.root / PRESETS_DIR / name

    def results(self, name: str) -> dict | None:
        """The preset's ``results.json`` when at least one of its runs finished."""
        if name not in self._results:
            res = read_json(self.preset_dir(name) / RESULTS)
            self._results[name] = res if isinstance(res, dict) and res.get("groups") else None
        return self._results[name]

    def groups(self, name: str) -> list[dict]:
        res = self.results(name)
        return list(res["groups"]) if res else []

    def group_dirs(self, name: str, group: Mapping) -> list[Path]:
        """The trial folders of one group of a preset's ``results.json``; a name that
        leads outside the preset's folder is refused
        (:func:`backproplab.runs.inside`)."""
        folder = self.preset_dir(name)
        return [inside(folder, t, folder / RESULTS) for t in group.get("trials", [])]

    def run_dirs(self, name: str) -> list[Path]:
        """The finished run folders of a single-configuration preset."""
        groups = self.groups(name)
        return self.group_dirs(name, groups[0]) if groups else []


def seeds_phrase(n: int) -> str:
    """How a figure's title says how many runs a curve is over.

    Parameters
    ----------
    n : int
        The number of runs.

    Returns
    -------
    str

    Examples
    --------
    >>> seeds_phrase(1), seeds_phrase(3)
    ('1 run', 'mean ± std over 3 seeds')
    """
    return "1 run" if n == 1 else f"mean ± std over {n} seeds"


__all__ = ["CHECKS", "DERIVATIONS", "FIGURES", "FIGURES_DIR", "MANIFEST", "NOTES", "OUTPUTS",
           "PRESETS_DIR", "REPORT_HTML", "REPORT_MD", "STUDY_NOTES", "StudyFolder",
           "seeds_phrase"]
