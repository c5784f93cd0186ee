"""``backproplab sweep``: many runs over seeds x hyperparameters, then mean +- std.

Takes the options of ``train``; a training option given as a comma-separated
list (or repeated) is swept: ``--lr 0.001,0.003,0.01,0.03 --batch-size 16,32``
runs every combination, each with every seed of ``--seeds N`` (seeds 0..N-1) or
``--seed-list 0,3,7``. ``--hidden`` uses commas between the layers of one
network, so its alternatives are separated by ``;`` (``--hidden "300;512,256"``)
or given by repeating the flag (``--hidden 300 --hidden 512,256``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backproplab.commands.options import (
    add_changed_data_option,
    add_executor_options,
    add_json_option,
    add_training_options,
    cli_text,
    flag,
    int_option,
)
from backproplab.commands.output import print_json, rich_console
from backproplab.commands.supervise import enter_child, is_child, run_supervised
from backproplab.errors import BackproplabError
from backproplab.runs import RESULTS, RunFolder
from backproplab.sweeps import Sweep, make_executor, run_sweep
from backproplab.sweeps.aggregate import aggregate_sweep
from backproplab.sweeps.damage import incomplete_message
from backproplab.sweeps.lifetime import sigterm_interrupts
from backproplab.sweeps.pool import how_it_ended
from backproplab.sweeps.ray_connect import executor_options, preflight, ray_in_use
from backproplab.sweeps.stats import TESTS
from backproplab.sweeps.tables import comparisons_table, results_table
from backproplab.training import TrainConfig, check_settings_apply, settings

#: Training options that take a single value in a sweep: a path (commas are
#: legal in it) and a machine setting (it does not change the results).
SINGLE_VALUED = ("data_dir", "threads")
#: Options whose alternatives are separated by ";" because "," is part of one value.
SEMICOLON_SEPARATED = ("hidden",)


def register(subparsers) -> None:
    """Add the ``sweep`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """

    p = subparsers.add_parser(
        "sweep",
        help="run seeds x hyperparameter grids in parallel, then aggregate mean +- std",
        description=(
            "Run a grid of training runs (every combination of the list-valued options, "
            "each with every seed) on parallel worker processes. Each trial is a run "
            "folder under --out; sweep.json describes the sweep; results.json, "
            "results.csv and results_batches.csv hold the mean, sample standard "
            "deviation (ddof=1) and 95% interval across seeds per epoch and per batch step, "
            "and results.json tests every pair of groups (--test). Running the "
            "same sweep again skips finished trials and resumes interrupted ones."
        ),
        epilog=(
            "example: backproplab sweep --dataset mnist --lr 0.001,0.003,0.01,0.03 "
            "--batch-size 16 --seeds 3 --epochs 5 --out runs/lr-sweep"
        ),
    )
    runs = p.add_argument_group(
        "training options (a comma-separated list or a repeated flag sweeps the option; "
        "--hidden separates alternatives with ';')")
    # the seed is the sweep's --seeds / --seed-list; on/off options are the same in every trial
    add_training_options(runs, skip=("seed",), repeatable=True, single=SINGLE_VALUED)

    s = p.add_argument_group("sweep options")
    seeds = s.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", metavar="N",
                       help="run every grid point with seeds 0..N-1 (default 1)")
    seeds.add_argument("--seed-list", metavar="LIST",
                       help="run every grid point with these seeds, e.g. 0,3,7")
    s.add_argument("--out", metavar="DIR", required=True,
                   help="the sweep folder (one run folder per trial inside)")
    add_executor_options(s, "trials")
    s.add_argument("--overwrite", action="store_true",
                   help="discard what --out holds and run every trial again")
    add_changed_data_option(s, "trials")
    s.add_argument("--aggregate-only", action="store_true",
                   help="train nothing: aggregate the run folders already in --out")
    s.add_argument("--test", choices=TESTS, default="welch",
                   help="how results.json compares every pair of groups (final validation "
                        "accuracy and loss, Holm-adjusted): welch (default: Welch's t-test), "
                        "paired (t-test on the seeds both groups ran) or permutation")
    s.add_argument("--quiet", action="store_true",
                   help="no progress output and no table (errors still go to stderr)")
    add_json_option(s, "one JSON object, the only line on stdout: the sweep folder, "
                       "counts of ok/failed/skipped trials, the path of results.json "
                       "(progress and the table go to stderr)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------
# parsing value lists


def split_values(flag: str, texts: list[str], sep: str = ",") -> list[str]:
    """The alternatives of a list option: every occurrence split on ``sep``.

    An empty list or an empty item is a :class:`BackproplabError`.
    """

    items: list[str] = []
    for text in texts:
        parts = [t.strip() for t in str(text).split(sep)]
        if not any(parts):
            raise BackproplabError(f"{flag} got an empty value list; give values like "
                                   f"{flag} {_example(flag, sep)}")
        if not all(parts):
            raise BackproplabError(f"{flag} {text!r} has an empty item; separate values "
                                   f"with single '{sep}', like {_example(flag, sep)}")
        items.extend(parts)
    return items


_EXAMPLES = {"--hidden": '"300;512,256"', "--batch-size": "16,32", "--lr": "0.003,0.01",
             "--activation": "sigmoid,relu", "--epochs": "5,10", "--optimizer": "sgd,adam",
             "--seed-list": "0,3,7"}


def _example(flag: str, sep: str) -> str:
    return _EXAMPLES.get(flag, f"VALUE1{sep}VALUE2")


def parse_int_list(flag: str, text: str) -> list[int]:
    """``"0,3,7"`` -> ``[0, 3, 7]`` (non-negative integers)."""

    out = []
    for item in split_values(flag, [text]):
        try:
            value = int(item)
        except ValueError:
            raise BackproplabError(
                f"{flag} value {item!r} is not an integer; give seeds like 0,3,7") from None
        if value < 0:
            raise BackproplabError(f"{flag} seeds must be integers >= 0, got {value}")
        out.append(value)
    return out


def parse_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds of ``--seeds N`` (0..N-1) or ``--seed-list``; default ``[0]``."""

    if args.seed_list is not None:
        return parse_int_list("--seed-list", args.seed_list)
    if args.seeds is None:
        return [0]
    try:
        n = int(args.seeds)
    except ValueError:
        n = 0
    if n < 1:
        raise BackproplabError(
            f"--seeds must be a positive number of seeds, got {args.seeds!r}; "
            "for specific seeds use --seed-list 0,3,7")
    return list(range(n))


def parse_grid(args: argparse.Namespace) -> tuple[dict, dict]:
    """``(base options, grid)`` from the command line: single values go to the
    base, options given with several values to the grid (in the options' order);
    each value is read as ``train`` reads it (:meth:`~backproplab.training.Setting.parse`)."""

    base: dict = {}
    grid: dict = {}
    for s in settings():
        given = getattr(args, s.name, None)
        if s.name == "seed" or given is None:
            continue
        if s.kind is bool:
            base[s.name] = True  # on/off: the same in every trial
        elif s.name in SINGLE_VALUED:
            base[s.name] = s.parse(given)
        else:
            sep = ";" if s.name in SEMICOLON_SEPARATED else ","
            values = [s.parse(t) for t in split_values(flag(s.name), given, sep)]
            if len(values) == 1:
                base[s.name] = values[0]
            else:
                grid[s.name] = values
    return base, grid


# ---------------------------------------------------------------------------
# the command


def run(args: argparse.Namespace) -> int:
    """``backproplab sweep``: run a grid of training runs over seeds, or only aggregate one.

    Runs every trial into its folder under ``--out`` on the chosen executor
    (finished trials are skipped, interrupted ones resume), aggregates them into
    ``results.json``, ``results.csv`` and ``results_batches.csv``, and prints
    the results table and one line of counts; with ``--quiet`` only the path of
    ``results.json``. With ``--json`` standard output holds only one JSON
    object (the sweep's counts and paths; the other lines go to standard
    error). Failed trials and trials the results miss are named on standard
    error. ``--aggregate-only`` reads the existing trial folders and only
    aggregates. With ``--executor ray`` the sweep runs in a watched child
    process (:mod:`backproplab.commands.supervise`): when Ray ends it (a node's
    process died), one line names the trials left to run.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``sweep`` options.

    Returns
    -------
    int
        0 when every trial is in the results; 1 when a trial failed, the
        results miss one (failed, damaged, unfinished) or Ray ended the
        watched child (``SIGTERM`` raises
        :class:`~backproplab.sweeps.lifetime.SweepTerminated`, which the CLI
        reports with status 130). Bad options, a
        folder holding another sweep and data that changed since the sweep's
        trials were recorded (unless ``--allow-changed-data``) raise
        :class:`~backproplab.errors.BackproplabError` (exit status 2).

    Raises
    ------
    BackproplabError
        When the training options do not map onto :class:`TrainConfig`.
    """

    if args.aggregate_only:
        return _aggregate_only(args)

    base, grid = parse_grid(args)
    seeds = parse_seeds(args)
    workers = int_option("--workers", args.workers)
    try:
        base_config = TrainConfig(**base)
    except TypeError as exc:  # pragma: no cover - options map onto fields
        raise BackproplabError(f"bad training option: {exc}") from None
    sweep = Sweep(base_config, grid, seeds)  # checks the base with the grid's values
    check_settings_apply({**base, **grid}, base_config, grid)
    if is_child():
        enter_child()
    elif args.executor == "ray" and getattr(args, "argv", None) and not ray_in_use():
        with sigterm_interrupts():  # while Ray is imported; then passed on to the child
            return _run_watched(args, sweep)

    options = executor_options(args.executor, args.ray_address, args.trial_timeout)
    # SIGTERM at any moment (a Ray instance starting or stopping too): one line, status 130
    with sigterm_interrupts():
        executor = make_executor(args.executor, workers, **options)
        with executor:
            outcome = run_sweep(sweep, args.out, executor=executor, overwrite=args.overwrite,
                                progress="quiet" if args.quiet else "auto", test=args.test,
                                allow_changed_data=args.allow_changed_data)
    return _report(args, outcome)


def _report(args: argparse.Namespace, outcome) -> int:
    """Print what a finished sweep gives (see :func:`run`); its exit status."""
    if not args.quiet:
        _print_table(outcome.aggregate)
        d = outcome.to_dict()
        print(f"sweep {d['sweep_dir']}: {d['ok']} ok, {d['failed']} failed, "
              f"{d['skipped']} finished earlier ({outcome.seconds:.1f} s); "
              f"results: {d['results']}")
    if outcome.failed:
        lines = [f"  {r.name}: {trial_error(r)} (see {outcome.out_dir / r.name / 'error.txt'})"
                 for r in outcome.failed]
        print(f"backproplab: {len(lines)} of {len(outcome.results)} trial(s) failed:\n"
              + "\n".join(lines), file=sys.stderr)
        print("backproplab: fix the cause and run the same command again to retry them",
              file=sys.stderr)
    # damage found only by the aggregation (e.g. a finished trial's logs): one line
    damaged = incomplete_message(outcome.aggregate or {}, skip={r.name for r in outcome.failed})
    if damaged:
        print(f"backproplab: {damaged}", file=sys.stderr)
    if args.json:
        print_json(outcome.to_dict())
    elif args.quiet:
        print(outcome.results_path)  # like train --quiet: only where the result is
    return 1 if outcome.failed or damaged else 0


def _run_watched(args: argparse.Namespace, sweep: Sweep) -> int:
    """The sweep in a watched child process (:mod:`backproplab.commands.supervise`):
    a Ray node that dies ends the child, and this process says what is left."""
    preflight(args.ray_address)  # Ray missing or no cluster: one sentence, from here
    status, normal = run_supervised(args.argv)
    if normal:
        return status
    left = [name for name in sweep.trial_names()
            if not RunFolder(Path(args.out) / name).finished]
    shown = ", ".join(left[:5]) + (", ..." if len(left) > 5 else "")
    print(f"backproplab: the sweep's Ray driver process ended before the sweep did "
          f"({how_it_ended(status)}; Ray ends it when a process of its node dies, such as the "
          f"raylet or its RuntimeEnvAgent or DashboardAgent); {len(left)} of "
          f"{len(sweep.trial_names())} "
          f"trial(s) are left to run ({shown or 'none'}); run the same command again to run "
          "them", file=sys.stderr)
    return 1


def trial_error(result) -> str:
    """A failed trial's one-line error (``Type: message``) as the command line shows
    it: for a library error (:class:`~backproplab.errors.BackproplabError`) the
    settings in the message are named by their flags (``lr_gamma`` ->
    ``--lr-gamma``, :func:`~backproplab.commands.options.cli_text`); any other
    error (a bug, a dead worker) as recorded."""

    if result.settings is None or not result.error:
        return result.error or ""
    kind, _, text = result.error.partition(": ")
    return f"{kind}: {cli_text(text, result.settings)}"


def _aggregate_only(args: argparse.Namespace) -> int:

    extra = [flag for flag, dest in _sweep_run_flags() if getattr(args, dest, None)]
    if extra or args.overwrite:
        raise BackproplabError(
            f"--aggregate-only reads the run folders in --out; drop "
            f"{', '.join(extra + (['--overwrite'] if args.overwrite else []))}")
    results = aggregate_sweep(args.out, write=True, test=args.test)
    path = Path(args.out) / RESULTS
    counts = results["counts"]
    if not args.quiet:
        _print_table(results)
        print(f"aggregated {counts['ok']} finished trial(s) into {len(results['groups'])} "
              f"group(s); results: {path}")
    elif not args.json:
        print(path)
    if args.json:
        print_json({"sweep_dir": results["sweep_dir"], "trials": len(results["trials"]),
                    "ok": counts["ok"], "failed": counts["failed"],
                    "incomplete": counts["incomplete"] + counts["not started"],
                    "groups": len(results["groups"]), "results": str(path),
                    "complete": results["complete"]})
    message = incomplete_message(results)
    if message:  # a result that misses trials must not pass for a whole one
        print(f"backproplab: {message}", file=sys.stderr)
    return 1 if message else 0


def _sweep_run_flags():
    """``(flag, dest)`` of every option that only a sweep that trains uses."""
    yield from ((flag(s.name), s.name) for s in settings() if s.name != "seed")
    yield from (("--seeds", "seeds"), ("--seed-list", "seed_list"), ("--workers", "workers"),
                ("--trial-timeout", "trial_timeout"),
                ("--allow-changed-data", "allow_changed_data"))


def _print_table(results) -> None:
    if not results or not results.get("groups"):
        return
    console = rich_console()
    console.print(results_table(results))
    if results.get("comparisons"):
        console.print(comparisons_table(results))
