"""``backproplab gradcheck``: compare the engines' gradients with finite differences."""

from __future__ import annotations

import argparse

from backproplab import gradcheck
from backproplab.commands.options import add_json_option, int_option
from backproplab.commands.output import print_json


def register(subparsers) -> None:
    """Add the ``gradcheck`` subcommand and its options to the ``backproplab`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; the new parser's
        ``func`` is :func:`run`.
    """
    p = subparsers.add_parser(
        "gradcheck",
        help="check the engines' gradients against central finite differences",
        description=(
            "Build random networks of several shapes, compare every analytic gradient "
            "with a central finite difference, and print the largest relative error per "
            "shape. Exit status 1 when any error exceeds the tolerance."
        ),
    )
    p.add_argument("--engine", choices=(*gradcheck.CHECKS, "both"), default="scalar",
                   help="which engine to check (default: scalar)")
    p.add_argument("--seed", metavar="N", default=None,
                   help="seed of the random networks, >= 0 (default 0)")
    p.add_argument("--eps", type=float, default=None,
                   help="finite-difference step (default: the engine's, 1e-5 for scalar)")
    p.add_argument("--tol", type=float, default=None,
                   help="largest relative error allowed (default: the engine's, 1e-5 for scalar)")
    add_json_option(p, "the results as one JSON object, the only line on stdout "
                       "(the table goes to stderr)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``backproplab gradcheck``: compare the engines' gradients with central finite differences.

    Prints, per engine and network shape, the gradients checked and the largest
    relative error with where it is, then the engine's verdict; with ``--json``
    the table goes to standard error and standard output gets one JSON object
    ``{"passed", "engines"}``. Writes nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``gradcheck`` options (``engine``, ``seed``, ``eps``, ``tol``).

    Returns
    -------
    int
        0 when every gradient is within the tolerance, 1 when one is not. A bad
        ``--seed`` raises :class:`~backproplab.errors.BackproplabError` (exit
        status 2).
    """

    seed = int_option("--seed", args.seed, default=0, minimum=0)
    results = gradcheck.run_checks(args.engine, seed=seed, eps=args.eps, tol=args.tol)
    for res in results:
        print(f"{res.engine} engine (seed {res.seed}, eps {res.eps:g}, tol {res.tol:g}):")
        for s in res.shapes:
            sizes = "-".join(str(n) for n in s.sizes)
            verdict = "ok" if s.passed else "FAIL"
            print(f"  {sizes:<12} {s.n_checked:>5} gradients  largest relative error "
                  f"{s.max_rel_error:.2e}  at {s.worst:<30} {verdict}")
        print(f"  largest relative error: {res.max_rel_error:.2e} -> "
              f"{'passed' if res.passed else 'FAILED'}")
    ok = all(r.passed for r in results)
    if args.json:
        print_json({"passed": ok, "engines": [r.to_dict() for r in results]})
    return 0 if ok else 1
