"""``backproplab check``: run learners' own backprop against the reference and name the mistake.

One verdict per file (``correct`` 0, ``wrong`` 1, ``unusable`` 2; with many
files the status is the worst one), a table of quantities and the diagnoses;
``--json`` prints one object per file, ``--csv`` writes one row per file. Each
file runs in its own process with ``--timeout`` and ``--memory`` limits
(docs/check.md). ``--template`` prints a starting file; ``--graph OUT`` draws the
learner's values beside the reference on the computation graph.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os

from backproplab import graph
from backproplab.check import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    TEMPLATE,
    FileReport,
    check_files,
    collect_files,
    make_probes,
)
from backproplab.check.graph_values import learner_graph
from backproplab.commands.options import add_json_option, float_option, int_option
from backproplab.commands.output import check_out_file, print_json
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_text

#: Columns of ``--csv``.
CSV_COLUMNS = ("file", "status", "wrong", "diagnoses", "reason")


def register(subparsers) -> None:
    """Add the ``check`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "check",
        help="check your own backprop (backward(x, t, W, b, V, c)) and name the mistake",
        description=(
            "Run a learner's forward/backward/backward_batch on probe networks, compare "
            "every quantity with the scalar engine's, and say correct (exit 0), wrong "
            "(exit 1, with the known mistake it matches) or unusable (exit 2, with the "
            "traceback). Each file runs in its own process with time and memory limits; "
            "this is isolation, not a security sandbox. The contract: docs/check.md."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE.py|FOLDER",
                   help="learners' files, or folders whose .py files are checked")
    p.add_argument("--template", action="store_true",
                   help="print a starting file with the functions' contract and exit")
    add_json_option(p, "one JSON object per file on stdout, one per line")
    p.add_argument("--csv", metavar="FILE.csv", default=None,
                   help="also write one row per file (file, status, wrong, diagnoses, reason)")
    p.add_argument("--workers", metavar="N", default=None,
                   help="files checked at once (default: the CPUs, at most 4)")
    p.add_argument("--timeout", metavar="S", default=str(DEFAULT_TIMEOUT),
                   help=f"seconds each file may run (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--memory", metavar="MIB", default=str(DEFAULT_MEMORY_MB),
                   help=f"memory limit per file in MiB, 0 for none (default {DEFAULT_MEMORY_MB})")
    p.add_argument("--graph", metavar="OUT.svg", default=None,
                   help="draw the learner's values beside the reference on the computation "
                        "graph (.svg, .png or .pdf; one file only)")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> tuple[int, float, int]:
    workers = int_option("--workers", args.workers, default=min(4, os.cpu_count() or 1))
    timeout = float_option("--timeout", args.timeout, "a positive number of seconds",
                           lambda v: 0 < v < 1e6)
    memory = int_option("--memory", args.memory, minimum=0)
    if 0 < memory < 64:
        raise BackproplabError(f"--memory must be 0 (no limit) or at least 64 MiB, got {memory}")
    return workers, timeout, memory


def run(args: argparse.Namespace) -> int:
    """Check the files (or print the template) and report them.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``check`` options.

    Returns
    -------
    int
        The worst verdict's exit status: 0 correct, 1 wrong, 2 unusable.

    Raises
    ------
    BackproplabError
        No file given, a path that does not exist, or a bad option value.
    """
    if args.template:
        print(TEMPLATE, end="")
        return 0
    if not args.files:
        raise BackproplabError("give a learner's file or a folder to check, or --template for a "
                               "starting file")
    workers, timeout, memory = _options(args)
    files = collect_files(args.files)
    if args.graph is not None:
        if len(files) != 1:
            raise BackproplabError(f"--graph draws one file's values, but {len(files)} files "
                                   "were given; check one file with --graph")
        graph.check_format(args.graph)
        check_out_file(args.graph, "--graph")
    if args.csv:  # found now, not after every file has run
        check_out_file(args.csv, "--csv")
    many = len(files) > 1

    def done(report: FileReport, raw) -> None:
        if args.json:
            print_json(report.to_dict())
        else:
            print_report(report)
            if many:
                print()
        if args.graph is not None:
            _draw(report, raw, args.graph)

    reports = check_files(files, workers=workers, timeout=timeout, memory_mb=memory, done=done)
    if many:  # with --json it goes to stderr (commands/output.py)
        print_summary(reports)
    if args.csv:
        write_csv(reports, args.csv)
    return max(r.exit_status for r in reports)


def _draw(report: FileReport, raw, out: str) -> None:
    if report.status == "unusable":
        print(f"no graph drawn: the file is unusable ({out} not written)")
        return
    values, theirs, differs = learner_graph(report, raw, make_probes())
    graph.render(graph.build(values, theirs, differs), out)
    raised = sorted({f"{o.function}() raised {o.failed}" for r in report.quantities.values()
                     for o in r.observations if o.failed and o.probe.name == values["probe"]})
    shown = ("reference and yours, differing nodes marked" if theirs is not None
             else f"the reference only: {', '.join(raised)} on it" if raised
             else "the reference only: the file returns nothing for one example")
    print(f"graph of the probe '{values['probe']}' ({shown}): {out}")


def _fmt_error(value: float) -> str:
    return f"{value:.2e}" if math.isfinite(value) else "not finite"


def print_report(report: FileReport) -> None:
    """Print one file's verdict, its quantities and its diagnoses (or why it is unusable).

    Parameters
    ----------
    report : FileReport
    """
    print(f"{report.file}: {report.status}")
    if report.status == "unusable":
        print(f"  {report.reason}.")
        if report.traceback:
            print("  the end of your traceback / output:")
            for line in report.traceback.splitlines():
                print(f"    {line}")
        return
    print(f"  {'quantity':<9}{'matches':<9}{'largest error':<15}first differs on")
    for q, r in report.quantities.items():
        first = f"'{r.first_probe}' ({', '.join(r.where)})" if r.first_probe else ""
        print(f"  {q:<9}{'yes' if r.ok else 'NO':<9}{_fmt_error(r.max_error):<15}{first}".rstrip())
    for d in report.diagnoses:
        print(f"  diagnosis [{d.id}]: {d.message}")


def _row(report: FileReport) -> dict:
    return {"file": report.file, "status": report.status,
            "wrong": " ".join(q for q, r in report.quantities.items() if not r.ok),
            "diagnoses": " ".join(d.id for d in report.diagnoses),
            "reason": report.reason or ""}


def print_summary(reports: list[FileReport]) -> None:
    """Print one row per file and the count of each verdict.

    Parameters
    ----------
    reports : list of FileReport
    """
    width = max(len(r.file) for r in reports)
    print(f"{'file':<{width}}  {'status':<9}  diagnoses or reason")
    for r in reports:
        row = _row(r)
        print(f"{r.file:<{width}}  {r.status:<9}  {row['diagnoses'] or row['reason']}".rstrip())
    counts = {s: sum(r.status == s for r in reports) for s in ("correct", "wrong", "unusable")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({len(reports)} files)")


def write_csv(reports: list[FileReport], path: str) -> None:
    """Write one row per file (:data:`CSV_COLUMNS`) to ``path``.

    Parameters
    ----------
    reports : list of FileReport
    path : str
        The CSV file to write (atomically).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in reports:
        writer.writerow(_row(r))
    atomic_write_text(path, buf.getvalue())
