"""``backproplab reproduce``: run every experiment of the study and write the report.

Runs the presets (``backproplab presets`` lists them) in parallel worker
processes, then the live checks, the figures, ``report.md`` and a self-contained
``report.html`` in ``--out``. The last line printed is the path of the report.
Running the same command again resumes; ``--overwrite`` starts over.
"""

from __future__ import annotations

from backproplab.commands.options import (
    add_changed_data_option,
    add_executor_options,
    add_json_option,
    int_option,
)
from backproplab.commands.output import print_json
from backproplab.study.reproduce import Options, reproduce
from backproplab.sweeps.executors import check_trial_timeout


def register(subparsers) -> None:
    """Add the ``reproduce`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`cmd_reproduce`.
    """
    p = subparsers.add_parser(
        "reproduce", help="run every experiment of the study and write the report",
        description=(
            "Reproduce the whole study: every preset (see `backproplab presets`) on "
            "parallel worker processes, live checks of the derivations and engines, "
            "figures, and a report (report.md and a self-contained report.html) that "
            "answers each question and compares with the original write-up. Without "
            "--dataset it uses MNIST if it is on this machine, else Fashion-MNIST, else "
            "the synthetic parts only. Rerunning the same command skips finished runs."),
        epilog="example: backproplab reproduce --quick --out runs/reproduce-quick",
    )
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist", "synth"), default=None,
                   help="the image dataset of Q7 (default: mnist, found on this machine or "
                        "downloaded if the network answers within 5 s; else fashion-mnist, "
                        "else the synthetic parts only)")
    p.add_argument("--quick", action="store_true",
                   help="fewer epochs, seeds and training examples: a few minutes on 2 cores")
    p.add_argument("--limit", default=None, metavar="N",
                   help="at most N training examples per run (default: all; 20000 with "
                        "--quick)")
    p.add_argument("--only", action="append", default=None, metavar="NAME[,NAME]",
                   help="run only these presets (and those they need); repeatable")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default runs/reproduce, or runs/reproduce-quick)")
    add_executor_options(p, "runs")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the image dataset's files (default: search)")
    p.add_argument("--overwrite", action="store_true",
                   help="discard an earlier reproduction in --out and start over")
    add_changed_data_option(p, "runs")
    p.add_argument("--quiet", action="store_true",
                   help="print only the path of the report (errors still go to stderr)")
    add_json_option(p, "one JSON line, the only line on stdout: the output folder, "
                       "report paths, dataset, failed runs (progress goes to stderr)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:

    """``backproplab reproduce``: run the study's experiments and write its report.

    Runs every preset (or those of ``--only`` and what they need) into ``--out``
    (default ``runs/reproduce``, or ``runs/reproduce-quick``), with the live
    checks and figures, and writes ``report.md`` and a self-contained
    ``report.html`` there. Prints the failed runs and the HTML report's path
    (not with ``--quiet``), then the Markdown report's path; with ``--json`` one
    JSON object (output folder, report paths, dataset, failed runs) instead of
    that last line, the only line on standard output.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``reproduce`` options.

    Returns
    -------
    int
        0 when every run finished, 1 when a run failed or ran longer than
        ``--trial-timeout`` (the report is still written; the same command
        resumes those runs). Bad options, and runs recorded in ``--out`` on
        data that changed since (unless ``--allow-changed-data``), raise
        :class:`~backproplab.errors.BackproplabError` (exit status 2) before
        anything is written.
    """
    only = None
    if args.only is not None:
        only = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
    out = args.out if args.out is not None else ("runs/reproduce-quick" if args.quick else "runs/reproduce")
    options = Options(out=out, dataset=args.dataset, quick=args.quick, limit=int_option("--limit", args.limit),
                      only=only, workers=int_option("--workers", args.workers), executor=args.executor,
                      ray_address=args.ray_address,
                      trial_timeout=check_trial_timeout(args.trial_timeout),
                      overwrite=args.overwrite, allow_changed_data=args.allow_changed_data,
                      data_dir=args.data_dir,
                      progress="quiet" if args.quiet else "auto")
    outcome = reproduce(options)
    if not args.quiet and outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed: {', '.join(outcome.failed)} "
              "(see error.txt in their folders); the report marks them")
    if not args.quiet:
        print(f"report (HTML, self-contained): {outcome.report_html}")
    if args.json:
        print_json(outcome.to_dict())
    else:
        print(outcome.report_md)
    return 1 if outcome.failed else 0
