"""``backproplab presets [NAME] [--json]``: the experiments of the study.

Without a name: one line per preset with the question of docs/study.md it answers and
its size (runs in full and ``--quick`` mode). With a name: that preset's
options, grid and seeds. ``--json`` prints the same as one JSON line. An
unknown name exits with status 2. Run presets with ``backproplab reproduce
--only NAME[,NAME...]``.
"""

from __future__ import annotations

from backproplab.commands.options import add_json_option
from backproplab.commands.output import print_json
from backproplab.study.presets import PRESETS, get_preset


def register(subparsers) -> None:
    """Add the ``presets`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`cmd_presets`.
    """
    p = subparsers.add_parser(
        "presets", help="list the study's experiments (run them with `reproduce --only`)",
        description="List the experiment presets of the study, each with the question it "
                    "answers. Run them with `backproplab reproduce --only NAME`.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="show one preset in detail")
    add_json_option(p, "one JSON line")
    p.set_defaults(func=cmd_presets)


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def cmd_presets(args) -> int:

    """``backproplab presets``: list the study's experiment presets, or show one.

    Without a name: one line per preset (its name, question, runs, full and
    ``--quick``, and what it answers); with ``NAME``: the preset in detail (data,
    options, grid, seeds, ``--quick`` changes, what it needs). With ``--json``
    one JSON object instead. Writes nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``presets`` options (``name``, ``json``).

    Returns
    -------
    int
        0. An unknown preset name raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    if args.name:
        preset = get_preset(args.name)
        info = preset.to_dict()
        if args.json:
            print_json(info)
            return 0
        print(f"{preset.name}  [{preset.question}]")
        print(f"  answers:  {preset.answers}")
        print(f"  data:     {info['data']}")
        print("  options:  " + (", ".join(f"{k}={_fmt(v)}" for k, v in info["base"].items())
                                or "(defaults)"))
        if info["grid"]:
            print("  varies:   " + "; ".join(f"{k} in {_fmt(v)}" for k, v in info["grid"].items()))
        print(f"  seeds:    {info['seeds']} ({info['trials']} runs)")
        print("  --quick:  " + ", ".join(f"{k}={_fmt(v)}" for k, v in info["quick"].items())
              + f", {info['quick_seeds']} seed(s) ({info['quick_trials']} runs)")
        if info["needs"]:
            print(f"  needs:    {', '.join(info['needs'])}")
            print(f"  chooses:  {info['chosen_by']}")
        print(f"  run it:   backproplab reproduce --only {preset.name}")
        return 0
    if args.json:
        print_json({"presets": [p.to_dict() for p in PRESETS]})
        return 0
    width = max(len(p.name) for p in PRESETS)
    qwidth = max(len(p.question) for p in PRESETS)
    for p in PRESETS:
        n = p.n_trials(False)
        runs = f"{n} run{'s' if n != 1 else ''} ({p.n_trials(True)} quick)"
        print(f"{p.name:<{width}}  {p.question:<{qwidth}}  {runs:<18}  {p.answers}")
    print("\nrun all: backproplab reproduce [--quick]; one: backproplab reproduce --only NAME; "
          "details: backproplab presets NAME")
    return 0
