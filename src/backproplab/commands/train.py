"""``backproplab train``: one training run into a run folder.

Every option maps onto a field of :class:`backproplab.training.TrainConfig`
(the flags are made from its fields by :mod:`backproplab.commands.options`);
options left out keep the config's defaults, the values of ``--config FILE``
(a run's ``config.json`` replays that run), or with ``--resume`` the run's
saved values.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backproplab.commands.failures import os_error_message
from backproplab.commands.options import add_json_option, add_training_options, given_options
from backproplab.commands.output import print_json
from backproplab.errors import BackproplabError
from backproplab.plots import plot_run
from backproplab.runs import CHECKPOINT, CONFIG, SWEEP, RunFolder, check_out_folder
from backproplab.training import (
    TrainConfig,
    check_settings_apply,
    default_run_dir,
    run_training,
)
from backproplab.training.data_identity import DATA_KEY
from backproplab.training.libraries import as_recorded, with_overrides
from backproplab.training.options import DATA_OPTIONS
from backproplab.training.progress import format_loss


def register(subparsers) -> None:
    """Add the ``train`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "train",
        help="train a network and write a run folder (metrics, checkpoints, model, plot)",
        description=(
            "Train one network on synth, MNIST, Fashion-MNIST or your own data (--dataset "
            "PATH: a .csv/.tsv table, an .npz file or a folder of class subfolders of "
            "images; docs/datasets.md). The run folder (--out) "
            "gets config.json, metrics.jsonl, batches.jsonl, a checkpoint after every "
            "epoch, model.npz, summary.json and loss.png; --resume continues a run "
            "that was stopped, and --config RUN/config.json replays one."
        ),
    )
    p.add_argument("--config", metavar="FILE",
                   help="start from the options in this JSON file (e.g. a run's config.json); "
                        "flags given beside it override its values")
    add_training_options(p)
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default: a new folder under runs/)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out")
    p.add_argument("--allow-changed-data", action="store_true",
                   help="with --resume or --config RUN/config.json: train on the data as it "
                        "is now even when it differs from the data the run was trained on "
                        "(refused otherwise)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress output (only the run folder, or the --json line)")
    add_json_option(p, "the summary as one JSON object, the only line on stdout "
                       "(progress and the result text go to stderr)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The run's :class:`~backproplab.training.TrainConfig` from the command line:
    the defaults, or ``--config FILE``, or with ``--resume`` the run's own
    ``config.json``, with the flags given on top. A flag the run would ignore
    (``--momentum`` with sgd) is refused."""

    overrides = given_options(args)
    if args.resume:
        if args.overwrite:
            raise BackproplabError("--resume and --overwrite contradict each other; choose one")
        if args.out is None:
            raise BackproplabError("--resume needs --out DIR, the run folder to continue")
        check_out_folder(args.out)
        if args.config:
            raise BackproplabError("--resume continues with the run's own config.json; "
                                   "drop --config")
        config = RunFolder(args.out).train_config(TrainConfig).replace(**overrides)
    else:
        base = TrainConfig.from_json(args.config) if args.config else TrainConfig()
        if _replayed_run(args) is not None:  # libraries the run used, recorded or not
            base = as_recorded(base)
        config = with_overrides(base, overrides).resolved()
    check_settings_apply(overrides, config)
    return config


def refuse_trial_folder(out: str | None) -> None:
    """Refuse an ``--out`` that is a trial folder of a sweep: the sweep writes it.

    Raises
    ------
    BackproplabError
        Naming the sweep folder.
    """
    if out is None:
        return
    parent = Path(out).expanduser().absolute().parent
    if (parent / SWEEP).is_file():
        raise BackproplabError(
            f"{out} is a trial folder of the sweep in {parent}, which writes it; run that "
            "sweep again to finish it, or choose another out_dir", settings=("out_dir",))


def _replayed_run(args: argparse.Namespace) -> RunFolder | None:
    """The run folder whose own ``config.json`` ``--config`` names (a replay: the
    folder holds a run's checkpoint), else ``None``."""
    if not args.config or args.resume:
        return None
    run = RunFolder(Path(args.config).parent)
    if run.file(CONFIG) != Path(args.config) or not run.file(CHECKPOINT).is_file():
        return None
    return run if run.is_run() else None


def replayed_data(args: argparse.Namespace, config) -> str | None:
    """The data fingerprint of the run whose ``config.json`` ``--config`` replays
    (its ``summary.json``'s), when the replay keeps that run's data options;
    ``None`` otherwise."""
    run = _replayed_run(args)
    summary = run.summary if run is not None else None
    if not summary or not isinstance(summary.get(DATA_KEY), str):
        return None
    replayed = run.config
    mine = config.to_dict()
    if any(replayed.get(k) != mine.get(k) for k in DATA_OPTIONS if k in replayed):
        return None  # other data asked for on purpose
    return summary[DATA_KEY]


def run(args: argparse.Namespace) -> int:
    """``backproplab train``: train one network into a run folder and draw its loss plot.

    Refuses an ``--out`` that is a sweep's trial folder, builds the config
    (:func:`build_config`), trains with :func:`~backproplab.training.run_training`
    into ``--out`` (default: a new folder under ``runs/``,
    :func:`~backproplab.training.default_run_dir`) and writes ``loss.png`` there. Progress goes to standard error (none with
    ``--quiet``). On standard output: the evaluation accuracy and loss, why
    training stopped early and which epoch's weights were restored, if so, and
    the run folder; with ``--quiet`` only the run folder. With ``--json``
    standard output holds only the summary as one JSON object (the other lines
    go to standard error).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``train`` options.

    Returns
    -------
    int
        0. Bad options, a run folder that is not this run's (or is a sweep's
        trial folder), a replay or resume whose data changed (unless
        ``--allow-changed-data``) and a diverging run raise
        :class:`~backproplab.errors.BackproplabError`, which the CLI prints as
        one line with exit status 2.
    """
    refuse_trial_folder(args.out)
    config = build_config(args)
    out = args.out if args.out is not None else str(default_run_dir(config))
    progress = "quiet" if args.quiet else "auto"
    try:
        summary = run_training(config, out, resume=args.resume, overwrite=args.overwrite,
                               progress=progress, data_sha256=replayed_data(args, config),
                               allow_changed_data=args.allow_changed_data)
    except OSError as exc:  # a full disk: --resume works only from a checkpoint
        if RunFolder(out).file(CHECKPOINT).is_file():
            raise
        raise BackproplabError(os_error_message(exc, resumable=False)) from None
    plot = plot_run(out)
    if not args.quiet:
        epochs = summary["epochs"]
        print(f"{summary['eval_split']} accuracy {summary['eval_accuracy']:.4f}, "
              f"loss {format_loss(summary['eval_loss'])} after {epochs} "
              f"epoch{'' if epochs == 1 else 's'} ({summary['seconds']:.1f} s)")
        reason = summary.get("stopped_reason")
        if reason in ("early_stopping", "lr_plateau"):
            why = ("early stopping" if reason == "early_stopping"
                   else "the plateau schedule's rate reached its minimum")
            print(f"stopped after epoch {summary['stopped_epoch']} ({why})")
        if summary.get("restored_epoch") is not None:
            print(f"restored the weights of epoch {summary['restored_epoch']}, the best by "
                  f"{summary['early_stopping_monitor']}; the numbers above are that epoch's")
        print(f"run folder: {out} (loss plot: {plot.name})")
    elif not args.json:
        print(out)
    if args.json:
        print_json(summary)
    return 0
