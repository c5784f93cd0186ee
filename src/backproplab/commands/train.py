"""``backproplab train``: one training run into a run folder.

Every option maps onto a field of :class:`backproplab.training.TrainConfig`;
options left out keep the config's defaults (or, with ``--resume``, the run's
saved values).
"""

from __future__ import annotations

import argparse
import json

#: (flag, config field, argparse keyword arguments) for every training option. A
#: ``type`` entry says how the value is parsed; the commands parse it themselves
#: (not argparse) so that a bad number gets a one-sentence error. Public: ``sweep``
#: builds its options from the same table.
RUN_OPTIONS = (
    # data
    ("--dataset", "dataset", {"metavar": "NAME",
                              "help": "synth | mnist | fashion-mnist (default synth)"}),
    ("--data-dir", "data_dir", {"metavar": "DIR",
                                "help": "folder holding the dataset's IDX files"}),
    ("--val-size", "val_size", {"type": int, "metavar": "N",
                                "help": "training images held out for validation (default 5000)"}),
    ("--limit", "limit", {"type": int, "metavar": "N",
                          "help": "train on the first N training examples only"}),
    ("--normalize", "normalize", {"metavar": "MODE",
                                  "help": "unit | standardize | none (default: the dataset's)"}),
    # model
    ("--engine", "engine", {"metavar": "NAME",
                            "help": "tensor (vectorized NumPy, default) | scalar (pure Python, "
                                    "per-example SGD)"}),
    ("--hidden", "hidden", {"metavar": "SIZES",
                            "help": "hidden layer widths, e.g. 300 or 512,256 "
                                    "(default: tensor 300, scalar 8)"}),
    ("--activation", "activation", {"metavar": "NAME",
                                    "help": "sigmoid (default) | relu | tanh"}),
    ("--init", "init", {"metavar": "NAME",
                        "help": "normal (default) | glorot-uniform | glorot-normal | he-normal"}),
    ("--init-std", "init_std", {"type": float, "metavar": "STD",
                                "help": "std of the normal initializer (default: 1 on synth, "
                                        "0.1 on images)"}),
    ("--dtype", "dtype", {"metavar": "TYPE", "help": "float32 (default) | float64"}),
    # optimizer
    ("--optimizer", "optimizer", {"metavar": "NAME",
                                  "help": "sgd (default) | momentum | nesterov | adam"}),
    ("--lr", "lr", {"type": float, "help": "learning rate (default: 0.1)"}),
    ("--momentum", "momentum", {"type": float, "help": "momentum / nesterov (default 0.9)"}),
    ("--beta1", "beta1", {"type": float, "help": "Adam (default 0.9)"}),
    ("--beta2", "beta2", {"type": float, "help": "Adam (default 0.999)"}),
    ("--eps", "eps", {"type": float, "help": "Adam (default 1e-8)"}),
    ("--weight-decay", "weight_decay", {"type": float, "metavar": "X",
                                        "help": "L2 weight decay of the weights, not the biases: "
                                                "adds (X/2)*||W||^2 to the loss (default 0)"}),
    ("--clip-norm", "clip_norm", {"type": float, "metavar": "X",
                                  "help": "clip the gradients to a global L2 norm of X before "
                                          "each update (default: off)"}),
    # learning-rate schedule
    ("--lr-schedule", "lr_schedule", {"metavar": "NAME",
                                      "help": "constant (default) | step | exponential | cosine | "
                                              "invscaling | plateau (see docs/training.md)"}),
    ("--lr-step-size", "lr_step_size", {"type": int, "metavar": "N",
                                        "help": "step: epochs between two drops (default 10)"}),
    ("--lr-gamma", "lr_gamma", {"type": float, "metavar": "X",
                                "help": "step/exponential: factor in (0, 1] (default 0.1 / 0.9)"}),
    ("--lr-min", "lr_min", {"type": float, "metavar": "X",
                            "help": "cosine: the rate it anneals towards (default 0)"}),
    ("--lr-power", "lr_power", {"type": float, "metavar": "X",
                                "help": "invscaling: lr / (t + 1)^X, t = examples seen "
                                        "(default 0.5)"}),
    ("--lr-patience", "lr_patience", {"type": int, "metavar": "N",
                                      "help": "plateau: epochs without a lower training loss "
                                              "(more than N divide the rate by 5; default 10)"}),
    ("--lr-tol", "lr_tol", {"type": float, "metavar": "X",
                            "help": "plateau: decrease that counts as lower (default 1e-4)"}),
    # loop
    ("--batch-size", "batch_size", {"metavar": "N|full",
                                    "help": "examples per step, or 'full' (default: tensor 16, "
                                            "scalar 1)"}),
    ("--epochs", "epochs", {"type": int, "help": "passes over the training set (default 5)"}),
    ("--seed", "seed", {"type": int,
                        "help": "seed of the initial weights and batch order (default 0)"}),
    ("--data-seed", "data_seed", {"type": int,
                                  "help": "seed of the synthetic points (default 0, the study's)"}),
    # early stopping (with --early-stopping)
    ("--patience", "patience", {"type": int, "metavar": "N",
                                "help": "early stopping: stop after N epochs without "
                                        "improvement (default 5)"}),
    ("--min-delta", "min_delta", {"type": float, "metavar": "X",
                                  "help": "early stopping: smallest change that counts as "
                                          "improvement (default 0)"}),
    ("--monitor", "monitor", {"metavar": "NAME",
                              "help": "early stopping: eval_loss (default) | eval_accuracy"}),
    # divergence guard
    ("--divergence-factor", "divergence_factor", {
        "type": float, "metavar": "K",
        "help": "stop when the training loss stays above K x max(initial loss, ln classes); "
                "0: off (default 10, see docs/training.md)"}),
    ("--divergence-patience", "divergence_patience", {
        "type": int, "metavar": "N",
        "help": "divergence guard: checks in a row above that limit before stopping "
                "(default 3)"}),
    # machine
    ("--threads", "threads", {"type": int,
                              "help": "BLAS threads (default: all cores)"}),
    ("--device", "device", {"metavar": "NAME", "help": "cpu (default) | gpu (needs CuPy)"}),
)
#: Training options that are on/off flags without a value: (flag, config field, help).
RUN_FLAGS = (
    ("--early-stopping", "early_stopping",
     "stop when the validation metric (--monitor) has not improved for --patience epochs"),
    ("--restore-best", "restore_best",
     "with --early-stopping: end with the weights of the best epoch"),
)


def register(subparsers) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train a network and write a run folder (metrics, checkpoints, model, plot)",
        description=(
            "Train one network on synth, MNIST or Fashion-MNIST. The run folder (--out) "
            "gets config.json, metrics.jsonl, batches.jsonl, a checkpoint after every "
            "epoch, model.npz, summary.json and loss.png; --resume continues a run "
            "that was stopped."
        ),
    )
    for flag, dest, kwargs in RUN_OPTIONS:
        kw = dict(kwargs)
        kw.pop("type", None)  # numbers are parsed in _overrides, with one-sentence errors
        p.add_argument(flag, dest=dest, default=None, **kw)
    p.add_argument("--final", dest="final", action="store_const", const=True, default=None,
                   help="train on the full training set and evaluate on the test set")
    for flag, dest, text in RUN_FLAGS:
        p.add_argument(flag, dest=dest, action="store_const", const=True, default=None,
                       help=text)
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default: a new folder under runs/)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out")
    p.add_argument("--quiet", action="store_true",
                   help="no progress output (only the run folder, or the --json line)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on the last line of stdout")
    p.set_defaults(func=run)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)``; anything else raises BackproplabError."""
    from backproplab.errors import BackproplabError

    parts = [t.strip() for t in str(text).split(",")]
    try:
        sizes = tuple(int(t) for t in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise BackproplabError(
            f"--hidden must list positive layer widths separated by commas, like 300 or "
            f"512,256; got {text!r}")
    return sizes


def parse_batch_size(text: str) -> int | str:
    """``"16"`` -> 16, ``"full"`` -> ``"full"``; anything else raises BackproplabError."""
    from backproplab.errors import BackproplabError

    if str(text).strip().lower() == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BackproplabError(
            f"--batch-size must be a positive integer or 'full', got {text!r}")
    return value


#: Optimizer settings given on the command line, and the optimizers that use them.
OPTIMIZER_SETTINGS = {"momentum": ("momentum", "nesterov"), "beta1": ("adam",),
                      "beta2": ("adam",), "eps": ("adam",)}


def check_optimizer_options(overrides: dict, optimizer: str) -> None:
    """Refuse a setting the chosen optimizer would silently ignore (``--momentum`` with sgd)."""
    from backproplab.errors import BackproplabError

    for name, users in OPTIMIZER_SETTINGS.items():
        if name in overrides and optimizer not in users:
            raise BackproplabError(
                f"--{name} applies only to --optimizer {' or '.join(users)}, not {optimizer}; "
                f"drop --{name} or choose that optimizer")


#: Schedule settings given on the command line, and the schedules that use them.
SCHEDULE_SETTINGS = {"lr_step_size": ("step",), "lr_gamma": ("step", "exponential"),
                     "lr_min": ("cosine",), "lr_power": ("invscaling",),
                     "lr_patience": ("plateau",), "lr_tol": ("plateau",)}
#: Settings that only early stopping reads.
EARLY_STOPPING_SETTINGS = ("patience", "min_delta", "monitor")


def check_schedule_and_stopping_options(overrides: dict, config) -> None:
    """Refuse a schedule or early-stopping setting that ``config`` would silently ignore
    (``--lr-step-size`` without ``--lr-schedule step``, ``--patience`` without
    ``--early-stopping``), as :func:`check_optimizer_options` does for the optimizer."""
    from backproplab.errors import BackproplabError

    for name, users in SCHEDULE_SETTINGS.items():
        if name in overrides and config.lr_schedule not in users:
            flag = "--" + name.replace("_", "-")
            raise BackproplabError(
                f"{flag} applies only to --lr-schedule {' or '.join(users)}, not "
                f"{config.lr_schedule}; drop {flag} or choose that schedule")
    for name in EARLY_STOPPING_SETTINGS:
        if name in overrides and not config.early_stopping:
            flag = "--" + name.replace("_", "-")
            raise BackproplabError(
                f"{flag} applies only with --early-stopping; add --early-stopping or "
                f"drop {flag}")


#: Data settings given on the command line, and the datasets that read them.
DATA_SETTINGS = {"data_dir": ("mnist", "fashion-mnist"), "val_size": ("mnist", "fashion-mnist"),
                 "data_seed": ("synth",)}


def check_data_options(overrides: dict, dataset: str) -> None:
    """Refuse a data setting the chosen dataset would silently ignore
    (``--data-dir`` with the generated synth set, ``--data-seed`` with MNIST)."""
    from backproplab.errors import BackproplabError

    for name, users in DATA_SETTINGS.items():
        if name in overrides and dataset not in users:
            flag = "--" + name.replace("_", "-")
            raise BackproplabError(
                f"{flag} applies only to --dataset {' or '.join(users)}, not {dataset}; "
                f"drop {flag} or choose that dataset")


def _number(flag: str, text: str, kind):
    from backproplab.errors import BackproplabError

    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise BackproplabError(f"{flag} must be {what}, got {text!r}") from None


def _overrides(args: argparse.Namespace) -> dict:
    """The config fields given on the command line."""
    out = {}
    for flag, dest, kwargs in RUN_OPTIONS:
        value = getattr(args, dest)
        if value is None:
            continue
        if "type" in kwargs:
            value = _number(flag, value, kwargs["type"])
        out[dest] = value
    if args.final is not None:
        out["final"] = True
    for _flag, dest, _text in RUN_FLAGS:
        if getattr(args, dest, None) is not None:
            out[dest] = True
    if "hidden" in out:
        out["hidden"] = parse_hidden(out["hidden"])
    if "batch_size" in out:
        out["batch_size"] = parse_batch_size(out["batch_size"])
    return out


def run(args: argparse.Namespace) -> int:
    """Train; print the data, progress and result; returns 0 (errors raise)."""
    from backproplab.errors import BackproplabError
    from backproplab.plots import plot_run
    from backproplab.training import (
        TrainConfig,
        default_run_dir,
        load_run_config,
        run_training,
    )

    overrides = _overrides(args)
    if args.resume:
        if args.overwrite:
            raise BackproplabError("--resume and --overwrite contradict each other; choose one")
        if not args.out:
            raise BackproplabError("--resume needs --out DIR, the run folder to continue")
        config = load_run_config(args.out).replace(**overrides)
        out = args.out
    else:
        config = TrainConfig(**overrides).resolved()
        out = args.out or str(default_run_dir(config))
    check_optimizer_options(overrides, config.optimizer)
    check_data_options(overrides, config.dataset)
    check_schedule_and_stopping_options(overrides, config)
    progress = "quiet" if args.quiet else "auto"
    summary = run_training(config, out, resume=args.resume, overwrite=args.overwrite,
                           progress=progress)
    plot = plot_run(out)
    if not args.quiet:
        from backproplab.training.progress import format_loss

        print(f"{summary['eval_split']} accuracy {summary['eval_accuracy']:.4f}, "
              f"loss {format_loss(summary['eval_loss'])} after {summary['epochs']} epochs "
              f"({summary['seconds']:.1f} s)")
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
        print(json.dumps(summary))
    return 0
