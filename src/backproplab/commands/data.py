"""``backproplab data``: list, download and verify the image datasets; describe a user's file.

- ``data list [--data-dir DIR]``: each dataset, where it was found, verified or not;
- ``data download NAME [--force]``: fetch into the cache (verified before it is kept);
- ``data verify NAME [--data-dir DIR]``: exit 0 when the files are valid (with a note
  when only their structure could be checked), 2 with the reason otherwise;
- ``data describe PATH [--target NAME]``: rows, features, classes, class balance,
  missing values and memory of a CSV/TSV file, .npz file or image folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from backproplab.commands.options import add_json_option, cli_message
from backproplab.commands.output import print_json
from backproplab.data.catalog import CATALOG, get_spec, locate, looked_in
from backproplab.data.describe import describe_source
from backproplab.data.download import download
from backproplab.data.verify import verify_location
from backproplab.errors import BackproplabError
from backproplab.tensor.memory import available_memory


def register(subparsers) -> None:
    """Add the ``data`` subcommand and its actions (``list``, ``download``, ``verify``,
    ``describe``) to the ``backproplab`` parser.

    ``backproplab data`` without an action prints its help and exits with
    status 2.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommands of :func:`backproplab.cli.build_parser`; each action's
        ``func`` is its ``cmd_*`` function.
    """
    p = subparsers.add_parser(
        "data", help="list, download and verify MNIST / Fashion-MNIST; describe your own data",
        description="Find, download and verify the image datasets (MNIST, Fashion-MNIST); "
                    "describe a CSV/TSV file, .npz file or image folder before training on it.",
    )
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))


    names = list(CATALOG)

    pl = sub.add_parser("list", help="each dataset: where it was found, verified or not")
    pl.add_argument("--data-dir", metavar="DIR", help="look only in DIR")
    add_json_option(pl, "one JSON line")
    pl.set_defaults(func=cmd_list)

    pd = sub.add_parser("download", help="download a dataset into the cache")
    pd.add_argument("name", choices=names, metavar="NAME", help=" | ".join(names))
    pd.add_argument("--force", action="store_true",
                    help="fetch again even when the cache already holds verified files")
    pd.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="network timeout per request in seconds (default 60)")
    pd.add_argument("--no-progress", action="store_true", help="no progress bar")
    pd.set_defaults(func=cmd_download)

    pv = sub.add_parser("verify", help="check a dataset's files (exit 0 valid, 2 not)")
    pv.add_argument("name", choices=names, metavar="NAME", help=" | ".join(names))
    pv.add_argument("--data-dir", metavar="DIR", help="check the files in DIR instead")
    add_json_option(pv, "the result as one JSON line, the only line on stdout "
                        "(the table goes to stderr)")
    pv.set_defaults(func=cmd_verify)

    pdesc = sub.add_parser(
        "describe", help="rows, features, classes, balance, missing values and memory of a file",
        description="Describe your own data before training on it: a .csv/.tsv file with a "
                    "header row, an .npz file with X and y, or a folder of class subfolders "
                    "of images (docs/datasets.md).")
    pdesc.add_argument("path", metavar="PATH", help="the file or folder")
    pdesc.add_argument("--target", metavar="NAME",
                       help="a table's label column (default: the last column)")
    add_json_option(pdesc, "one JSON object")
    pdesc.set_defaults(func=cmd_describe)


def _not_found_sentence(spec, data_dir=None) -> str:

    return (f"not found (looked in {looked_in(spec, data_dir)}); "
            f"`backproplab data download {spec.name}` fetches it")


def cmd_list(args) -> int:

    """``backproplab data list``: each image dataset, where it was found and whether it verifies.

    Prints one line per dataset (its folder and source, then the verification's
    summary, or why it was not found or is invalid); with ``--json`` one JSON
    object ``{"datasets": [...]}``. Writes nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``data_dir``, ``json``).

    Returns
    -------
    int
        0, also for a missing or invalid dataset (the line says so).

    Raises
    ------
    BackproplabError
        If ``--data-dir`` is not a folder (exit status 2).
    """
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise BackproplabError(f"--data-dir {args.data_dir} is not a folder; pass the folder "
                               "that holds the dataset files")
    rows = []
    for spec in CATALOG.values():
        row = {"dataset": spec.name, "found": False, "directory": None, "source": None,
               "status": "missing", "verified": False}
        try:
            loc = locate(spec, args.data_dir)
        except BackproplabError as exc:
            row["summary"] = cli_message(exc)
            rows.append(row)
            continue
        if loc is None:
            row["summary"] = _not_found_sentence(spec)
            rows.append(row)
            continue
        row.update(found=True, directory=str(loc.directory), source=loc.source)
        try:
            ver = verify_location(spec, loc)
        except BackproplabError as exc:
            row.update(status="invalid", summary=cli_message(exc))
        else:
            row.update(status=ver.status, verified=ver.verified, summary=ver.summary())
        rows.append(row)
    if args.json:
        print_json({"datasets": rows})
        return 0
    width = max(len(r["dataset"]) for r in rows) + 2
    for r in rows:
        where = f"{r['directory']} ({r['source']}): " if r["found"] else ""
        print(f"{r['dataset']:<{width}}{where}{r['summary']}")
    return 0


def cmd_download(args) -> int:

    """``backproplab data download NAME``: fetch a dataset into the cache, verified.

    One line per file goes to standard error, then one line with the files and
    their folder to standard output.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``name``, ``force``, ``timeout``, ``no_progress``).

    Returns
    -------
    int
        0. A dataset that cannot be had from any mirror raises
        :class:`~backproplab.errors.BackproplabError` (exit status 2).
    """
    loc = download(args.name, force=args.force, timeout=args.timeout,
                   progress=False if args.no_progress else None,
                   log=lambda line: print(line, file=sys.stderr))
    print(f"{args.name}: {len(loc.files)} files verified in {loc.directory}")
    return 0


def cmd_verify(args) -> int:
    """``backproplab data verify NAME``: check a dataset's files.

    Prints the folder, one line per file (shape, how it was checked, detail)
    and the verdict; with ``--json`` the result as one JSON object on standard
    output (the lines go to standard error). Writes nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``name``, ``data_dir``, ``json``).

    Returns
    -------
    int
        0 when the files are valid (with a note when only their structure could
        be checked), 2 when their content differs from the published data (the
        reason on standard error).

    Raises
    ------
    BackproplabError
        When the dataset is not found; structural problems raise too (exit
        status 2 with the reason).
    """
    spec = get_spec(args.name)
    loc = locate(spec, args.data_dir)
    if loc is None:
        raise BackproplabError(f"{spec.name} is {_not_found_sentence(spec)}, or pass --data-dir "
                               "DIR with the files")
    ver = verify_location(spec, loc)  # structural problems raise -> exit 2 with the reason
    print(f"{spec.name} in {loc.describe()}")
    for c in ver.checks.values():
        print(f"  {c.path.name:<30} {c.shape!s:<16} {c.status:<9} {c.detail}")
    if ver.verified:
        print(ver.summary())
    elif not ver.mismatches:
        print(f"note: {ver.summary()}")
    if args.json:
        print_json(ver.to_dict())
    if ver.mismatches:
        print(f"backproplab: error: {spec.name}: {ver.summary()}; replace those files with the "
              "published ones (e.g. `backproplab data download "
              f"{spec.name}`)", file=sys.stderr)
        return 2
    return 0


def _size(n: int) -> str:
    """``n`` bytes in the largest unit that keeps a number >= 1 (B, KiB, MiB, GiB)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} B"


def cmd_describe(args) -> int:
    """``backproplab data describe PATH``: what a user's file or folder holds, before training on it.

    Prints its kind, rows, features, image size, classes (and the target
    column), a test set in the file, every class's share, missing values, text
    columns and the memory it takes; with ``--json`` one JSON object. Writes
    nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``path``, ``target``, ``json``).

    Returns
    -------
    int
        0. A file that cannot be read, or is too large for the memory
        available, raises :class:`~backproplab.errors.BackproplabError` (exit
        status 2).
    """
    available = available_memory()
    info = describe_source(args.path, target=args.target,
                           max_bytes=None if available is None else available[0])
    if args.json:
        print_json(info)
        return 0
    shape = f", images {info['image_shape'][1]}x{info['image_shape'][0]}" \
        if info["image_shape"] else ""
    print(f"{info['path']} ({info['kind']}): {info['rows']} rows, {info['features']} features"
          f"{shape}, {len(info['classes'])} classes"
          + (f" in column {info['target']!r}" if info["target"] else ""))
    if info["test_rows"] is not None:
        print(f"  test set in the file: {info['test_rows']} rows")
    total = max(info["rows"], 1)
    for name, count in info["balance"].items():
        print(f"  class {name!r}: {count} ({100 * count / total:.1f}%)")
    missing = ", ".join(f"{c!r} {n}" for c, n in info["missing"].items())
    print(f"missing values: {missing or 'none'}")
    if info["text_columns"]:
        print("text columns (encode them as numbers or drop them before training): "
              + ", ".join(repr(c) for c in info["text_columns"]))
    print(f"memory: {_size(info['memory_bytes'])} as float32 arrays, about "
          f"{_size(info['peak_bytes'])} at most while loading")
    return 0
