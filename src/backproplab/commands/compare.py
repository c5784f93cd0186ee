"""``backproplab compare RUN_OR_SWEEP... [--out FILE] [--test NAME] [--json]``.

Overlays runs and sweep groups from several folders in one figure (each group's
mean curve with its 95% interval over seeds as a band, and its final accuracy
with the interval as error bars; :mod:`backproplab.plots.sweeps`), and prints the
table of final metrics and every pair of groups tested
(:func:`backproplab.sweeps.aggregate.comparisons`: Welch's t-test by default,
Holm-adjusted). A run folder is a group of one run; a sweep folder gives its
groups, labelled ``FOLDER: GROUP``. Folders still being written are read as far
as they are finished: every finished epoch draws, every finished run counts in
the final metrics and the tests. A path that is no run and no sweep exits with
status 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from backproplab.commands.options import add_json_option
from backproplab.commands.output import check_out_file, print_json, rich_console, stderr_note
from backproplab.errors import BackproplabError
from backproplab.plots.sweeps import plot_groups
from backproplab.runs import COMPARE_FIGURE, RERUN_FIX, RunFolder, open_folder
from backproplab.sweeps.aggregate import (
    COMPARED,
    comparisons,
    read_sweep,
    summarize_runs,
)
from backproplab.sweeps.damage import run_damage
from backproplab.sweeps.stats import TESTS
from backproplab.sweeps.tables import comparisons_table, results_table


def register(subparsers) -> None:
    """Add the ``compare`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "compare", help="overlay runs and sweeps in one figure and test their differences",
        description="Draw the runs and sweep groups of several folders together (mean curves "
                    "with 95% intervals over seeds) and print their final metrics with every "
                    "pair of groups tested (Welch's t-test, Holm-adjusted, and the seeds a "
                    "decision would need). Reads the folders only, as far as they are "
                    "finished; never trains.",
    )
    p.add_argument("folders", nargs="+", metavar="RUN_OR_SWEEP",
                   help="run folders (train --out) and sweep folders (sweep --out)")
    p.add_argument("--out", metavar="FILE", default=COMPARE_FIGURE,
                   help=f"the PNG figure to write (default: {COMPARE_FIGURE} in the current folder)")
    p.add_argument("--test", choices=TESTS, default="welch",
                   help="the test between two groups: welch (default), paired (on the seeds "
                        "both groups share) or permutation")
    add_json_option(p, 'one JSON object {"figure", "groups", "comparisons"} on stdout')
    p.set_defaults(func=run)


def _run_group(run: RunFolder, label: str) -> dict:
    """One run folder as a group of one run."""
    damage = run_damage(run, RERUN_FIX)  # a run of its own: no sweep to run again
    if damage:
        raise BackproplabError(damage)
    return {"label": label, "values": {}, **summarize_runs([run])}


def _short_names(paths: list[str]) -> list[str]:
    """Each path as given, less the folders all of them share (``runs/a``, ``runs/b`` ->
    ``a``, ``b``; one path stays whole), so that labels stay short in the figure."""
    names = [str(p).rstrip("/") or str(p) for p in paths]
    try:
        shared = os.path.commonpath(names) if len(names) > 1 else ""
    except ValueError:  # absolute beside relative paths: nothing is shared
        shared = ""
    if shared in ("", "/") or shared in names:
        return names
    return [os.path.relpath(n, shared) for n in names]


def gather(paths: list[str]) -> tuple[list[dict], str | None]:
    """The groups of every folder in ``paths``, labelled by the path as given less the
    folders all share (:func:`_short_names`); each group's ``source`` is the path as
    given. Returns ``(groups, evaluation split)`` (the split ``None`` when they differ)."""
    groups: list[dict] = []
    splits = set()
    seen = set()
    for path, label in zip(paths, _short_names(paths)):
        name = str(path).rstrip("/") or str(path)
        if Path(name).resolve() in seen:
            raise BackproplabError(f"{path} is given twice; give each folder once")
        seen.add(Path(name).resolve())
        folder = open_folder(path)
        if isinstance(folder, RunFolder):
            groups.append({**_run_group(folder, label), "source": name})
            splits.add((folder.summary or {}).get("eval_split"))
            continue
        results = read_sweep(folder, log=stderr_note(path))
        splits.add(results.get("eval_split"))
        groups += [{**g, "label": f"{label}: {g['label']}", "source": name}
                   for g in results["groups"]]
    if not any(g["epochs"] for g in groups):
        raise BackproplabError(f"no epoch has finished yet in {', '.join(paths)}; compare "
                               "again once the runs have trained an epoch")
    splits.discard(None)
    return groups, splits.pop() if len(splits) == 1 else None


def _group_json(group: dict) -> dict:
    final = group.get("final") or {}
    return {"label": group["label"], "source": group["source"], "n": group["n"],
            "seeds": group["seeds"], "running": group.get("running", []),
            "final": {m: final.get(m) for m in COMPARED}}


def run(args: argparse.Namespace) -> int:
    """``backproplab compare``: overlay runs and sweep groups in one figure, test their differences.

    Writes the figure (``--out``), then prints the table of every group's final
    metrics, the tables of the pairwise tests (``--test``, Holm-adjusted) when
    there are groups to compare, and the figure's path; with ``--json`` one JSON
    object ``{"figure", "groups", "comparisons"}`` instead. Reads the folders as
    far as they are finished; never trains.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``compare`` options (``folders``, ``out``, ``test``, ``json``).

    Returns
    -------
    int
        0. An ``--out`` not ending in ``.png``, a folder given twice, a damaged
        run, or folders without a finished epoch raise :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    if Path(args.out).suffix.lower() != ".png":  # the figure is always drawn as PNG
        raise BackproplabError(f"--out {args.out} does not end in .png, but compare draws a "
                               "PNG; give a file name ending in .png, such as compare.png")
    check_out_file(args.out, "--out")
    groups, split = gather(args.folders)
    results = {"varying": [], "eval_split": split, "groups": groups,
               "comparisons": comparisons(groups, test=args.test) if len(groups) > 1 else []}
    figure = plot_groups(groups, args.out, split=split,
                         title=f"{len(groups)} groups from {len(args.folders)} folders")
    if args.json:
        print_json({"figure": str(figure), "groups": [_group_json(g) for g in groups],
                    "comparisons": results["comparisons"]})
        return 0
    console = rich_console()
    console.print(results_table(results, title="compared groups"))
    if results["comparisons"]:
        for metric in COMPARED:
            console.print(comparisons_table(results, metric))
    console.print(f"figure: {figure}")
    return 0
