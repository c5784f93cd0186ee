"""``backproplab reproduce``: every experiment of the study, one command, one report.

:func:`reproduce` runs the presets (:mod:`backproplab.study.presets`) as
sweeps, with all their trials in **one** list on one executor, so the worker
pool stays busy across presets; then the live checks
(:mod:`backproplab.study.checks`), the figures
(:mod:`backproplab.study.figures`) and the report
(:mod:`backproplab.study.report`).

The output folder::

    reproduce.json     settings, what ran, the final run's choice, figures, timings
    presets/NAME/      one sweep folder per preset (sweep.json, trial run folders,
                       results.json / results.csv / results_batches.csv)
    checks.json        the live checks (derivatives, worked example, engines, ...)
    figures/*.png      the figures
    report.md          the report (figures linked from figures/)
    report.html        the same report, self-contained (figures embedded)

Order: presets that another preset needs (the learning-rate and batch-size
sweeps, which choose the final run's options) run first; everything else runs
in a second list together with ``final``, longest trials first.

Identical runs are trained once: the learning curve, the train-vs-validation
run, seed 0 of the seed study, lr 0.01 of the learning-rate sweep and batch 16
of the batch-size sweep are the same configuration; the first is trained and
its run folder is copied into the other presets' folders (its ``summary.json``
says ``copied_from``).

Resuming: running the same command again skips finished trials and continues
interrupted ones from their checkpoints (the sweep machinery); when the data of
a recorded trial changed since, it is refused before anything is written
(:func:`backproplab.sweeps.driver.check_recorded_data`) unless
``allow_changed_data``, which keeps finished trials and resumes the others on
the data as it is now; ``--overwrite``
removes what an earlier reproduction wrote in the output folder (only the
entries listed above, and only in a folder whose ``reproduce.json`` says it is
one) and starts over. A folder holding anything else is refused.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backproplab import __version__
from backproplab.data import DATASETS, catalog
from backproplab.data.download import download
from backproplab.data.mnist import find_dataset
from backproplab.data.verify import other_dataset, verify_location
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json, read_json, remove_entry
from backproplab.locks import lock_folder
from backproplab.runs import SWEEP, SweepFolder, is_bookkeeping
from backproplab.study import presets as P
from backproplab.study.layout import MANIFEST, OUTPUTS, PRESETS_DIR
from backproplab.study.outputs import make_checks, make_figures
from backproplab.study.report import write_report
from backproplab.sweeps.aggregate import aggregate_sweep
from backproplab.sweeps.driver import check_recorded_data, make_executor, run_trials
from backproplab.sweeps.executors import EXECUTORS
from backproplab.sweeps.progress import SweepProgress
from backproplab.sweeps.ray_connect import executor_options, preflight
from backproplab.sweeps.spec import Sweep, prepare_sweep_dir
from backproplab.training.config import usable_cpus

SETTINGS = ("dataset", "quick", "limit", "data_dir")
FORMAT = 1
#: Seconds the network may stay silent before reproduce gives up downloading MNIST.
DOWNLOAD_TIMEOUT = 5.0
#: Progress modes.
PROGRESS_MODES = ("auto", "rich", "plain", "quiet")


@dataclass
class Options:
    """What ``backproplab reproduce`` was asked to do.

    Attributes
    ----------
    out : str or os.PathLike, default "runs/reproduce"
        The reproduction folder.
    dataset : str, optional
        ``"mnist"``, ``"fashion-mnist"``, ``"synth"``, or ``None`` to pick
        (:func:`pick_dataset`).
    quick : bool, default False
        Fewer epochs, seeds and examples.
    limit : int, optional
        Training examples per run (overrides ``quick``'s).
    only : list of str, optional
        Preset names (the presets they need are added).
    workers : int, optional
        Parallel trials (default: the cores).
    executor : {"local", "ray"}, default "local"
    ray_address : str, optional
        With the ``"ray"`` executor: the cluster (docs/ray.md).
    trial_timeout : float, optional
        Seconds after which a run is stopped and reported failed
        (``TrialTimeout``; the same call resumes it); ``None``: no limit.
    overwrite : bool, default False
        Replace an earlier reproduction in ``out``.
    allow_changed_data : bool, default False
        Go on when recorded runs were trained on other data than loads now
        (finished ones are kept, the others resume on the data now); refused
        otherwise, before anything is written.
    progress : {"auto", "rich", "plain", "quiet"}, default "auto"
    data_dir : str, optional
        Where the image files are (default: search the usual places).
    """

    out: str | os.PathLike = "runs/reproduce"
    dataset: str | None = None
    quick: bool = False
    limit: int | None = None
    only: list[str] | None = None
    workers: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    trial_timeout: float | None = None
    overwrite: bool = False
    allow_changed_data: bool = False
    progress: str = "auto"
    data_dir: str | None = None


@dataclass
class Outcome:
    """What :func:`reproduce` did.

    Attributes
    ----------
    out_dir : pathlib.Path
    report_md, report_html : pathlib.Path
        The report's two renderings.
    dataset : str
        The dataset used.
    failed : list of str
        The trials that failed (``ok`` is true when there are none).
    seconds : float
        Wall-clock time.
    """

    out_dir: Path
    report_md: Path
    report_html: Path
    dataset: str
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "report": str(self.report_md),
                "report_html": str(self.report_html), "dataset": self.dataset,
                "failed_trials": self.failed, "seconds": round(self.seconds, 3)}


# ---------------------------------------------------------------------------
# the dataset


def pick_dataset(requested: str | None, data_dir: str | None = None) -> tuple[str, str]:
    """The dataset to reproduce on and one sentence saying why.

    ``requested=None``: MNIST if it is on this machine, or if it downloads (the
    network must answer within :data:`DOWNLOAD_TIMEOUT` seconds; checksums are
    verified), else Fashion-MNIST, else the synthetic parts only; the sentence
    says why MNIST was not used. An explicitly requested image dataset that is
    not on the machine is downloaded (unless downloads are off).

    Parameters
    ----------
    requested : str or None
        ``"mnist"``, ``"fashion-mnist"``, ``"synth"`` or ``None`` (pick).
    data_dir : str, optional
        Where the image files are (default: the usual places).

    Returns
    -------
    tuple of (str, str)
        The dataset name and the sentence.

    Raises
    ------
    BackproplabError
        For an unknown dataset, or a requested one that cannot be found or
        downloaded (the message names how to get it).
    """
    if requested is not None and requested not in DATASETS:
        raise BackproplabError(
            f"unknown dataset {requested!r}; choose one of {', '.join(DATASETS)}")
    if requested == "synth":
        return "synth", ("--dataset synth: only the synthetic parts of the study run "
                         "(Q1-Q4 and the engine checks); the MNIST experiments of Q7 are skipped")
    if requested is not None:
        loc = catalog.locate(requested, data_dir)
        if loc is not None:
            verify_location(requested, loc, record=False)  # another dataset's files: refused
            return requested, f"--dataset {requested}: found in {loc.describe()}"
        loc = find_dataset(requested, data_dir, download=True)
        return requested, f"--dataset {requested}: {loc.describe()}"
    mnist = catalog.locate("mnist", data_dir)
    note = ""
    other = None if mnist is None else other_dataset("mnist", mnist)
    if other is not None:  # a folder of Fashion-MNIST's files, named as MNIST's are
        note = f"the files found for it in {mnist.describe()} are {other}'s"
        mnist = None
    if mnist is None:
        mnist, download_note = _try_mnist_download()
        note = "; ".join(filter(None, (note, download_note)))
    if mnist is not None:
        return "mnist", f"mnist found in {mnist.describe()}; using it"
    fashion = catalog.locate("fashion-mnist", data_dir)
    if fashion is not None:
        return "fashion-mnist", (f"fashion-mnist found in {fashion.describe()}; using it (MNIST "
                                 f"is not on this machine: looked in "
                                 f"{catalog.looked_in('mnist', data_dir)}; {note})")
    return "synth", (
        "neither MNIST nor Fashion-MNIST is on this machine (looked in "
        f"{catalog.looked_in('mnist', data_dir)} and "
        f"{catalog.looked_in('fashion-mnist', data_dir)}; {note}), so only the synthetic "
        "parts of the study run; `backproplab data download mnist` fetches MNIST")


def _try_mnist_download():
    """Download MNIST (checksums verified, as ``data download`` does) when the network
    answers within :data:`DOWNLOAD_TIMEOUT` seconds; returns ``(location or None, note)``."""
    if catalog.offline():
        return None, f"downloads are off ({catalog.ENV_OFFLINE} is set)"
    try:
        return download("mnist", progress=False, timeout=DOWNLOAD_TIMEOUT), "downloaded"
    except BackproplabError as exc:
        reason = str(exc).split(";")[0]
        return None, f"the download failed: {reason[:200]}"


# ---------------------------------------------------------------------------
# the output folder


def _check_out(out: Path, settings: dict[str, Any], overwrite: bool) -> dict | None:
    """Refuse an output folder that is not this reproduction's, writing nothing;
    returns its manifest when it holds a reproduction.

    A folder that holds files but no ``reproduce.json`` is refused (even with
    ``overwrite``: it is not ours to delete); without ``overwrite``, an earlier
    reproduction's settings must match.

    Parameters
    ----------
    out : pathlib.Path
    settings : dict
        This reproduction's settings (compared by the keys of ``SETTINGS``).
    overwrite : bool

    Returns
    -------
    dict or None
        The earlier manifest; ``None`` when the folder is missing or empty.

    Raises
    ------
    BackproplabError
        When ``out`` is a file, holds something else, or holds a reproduction
        with other settings (without ``overwrite``).
    """
    if out.exists() and not out.is_dir():
        raise BackproplabError(f"--out {out} is a file; give a folder for the reproduction")
    if not out.is_dir() or all(is_bookkeeping(p.name) for p in out.iterdir()):
        return None
    manifest = read_json(out / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("kind") != "backproplab-reproduce":
        raise BackproplabError(
            f"{out} is not empty and holds no reproduction ({MANIFEST} is missing); "
            "choose a new or empty --out folder")
    old = manifest.get("settings", {})
    differ = [k for k in SETTINGS if not isinstance(old, dict) or old.get(k) != settings.get(k)]
    if differ and not overwrite:
        change = ", ".join(f"{k} {(old if isinstance(old, dict) else {}).get(k)!r} -> "
                           f"{settings.get(k)!r}" for k in differ)
        raise BackproplabError(
            f"{out} holds a reproduction with other settings ({change}); pass "
            "--overwrite to replace it or choose another --out")
    return manifest


def prepare_out(out: Path, settings: dict[str, Any], overwrite: bool) -> dict | None:
    """Check the output folder (:func:`_check_out`) and make it ready.

    With ``overwrite`` an earlier reproduction's entries (:data:`OUTPUTS`) are
    removed; a missing folder is created.

    Parameters
    ----------
    out, settings, overwrite
        As for :func:`_check_out`, which refuses the folder first.

    Returns
    -------
    dict or None
        The earlier manifest to resume from; ``None`` for a fresh start.
    """
    manifest = _check_out(out, settings, overwrite)
    if manifest is not None and overwrite:
        for name in OUTPUTS:
            remove_entry(out / name)
        manifest = None
    out.mkdir(parents=True, exist_ok=True)
    return manifest


# ---------------------------------------------------------------------------
# running trials


def _preset_trials(batch: list[tuple[Any, Any, Path]],
                   allow_changed_data: bool = False) -> list:
    """The trials of ``(preset, sweep, sweep_folder)`` triples as one list, each
    named ``preset/trial``."""
    return [dataclasses.replace(t, name=f"{preset.name}/{t.name}")
            for preset, sweep, root in batch
            for t in sweep.trials(root, allow_changed_data=allow_changed_data)]


def _recorded_sweep(root: Path) -> Sweep | None:
    """The sweep a preset's folder records (``sweep.json``), or ``None`` when there
    is none or it is damaged (:func:`_prepare_sweep` then starts it again)."""
    description = SweepFolder(root).description
    if description is None:
        return None
    try:
        return Sweep.from_dict(description)
    except (BackproplabError, KeyError, TypeError, ValueError):
        return None


def _folder_check(settings: dict[str, Any], options: Options, selected,
                  sweeps: dict) -> Callable[[Path], None]:
    """The check of the output folder (before anything is created, and again under
    its lock): it holds this reproduction or none (:func:`_check_out`), and unless
    ``overwrite`` or ``allow_changed_data`` the selected presets' recorded trials
    were trained on the data loaded now (:func:`check_recorded_data`; each data
    loaded once for both). A preset whose sweep is built later (``final``, from
    the sweeps it needs) is checked as its folder records it."""
    fingerprints: dict = {}

    def check(path: Path) -> None:
        _check_out(path, settings, options.overwrite)
        if options.overwrite or options.allow_changed_data:
            return
        batch = []
        for preset in selected:
            root = path / PRESETS_DIR / preset.name
            sweep = sweeps.get(preset.name) or _recorded_sweep(root)
            if sweep is not None:
                batch.append((preset, sweep, root))
        check_recorded_data(_preset_trials(batch), fingerprints, where="this reproduction")

    return check


def _run_presets(batch: list[tuple[Any, Any, Path]], executor, *, progress: str,
                out: Path, say: Callable[[str], None],
                sources: dict[str, Path] | None = None,
                allow_changed_data: bool = False) -> list[str]:
    """Run the trials of several presets as one list on ``executor`` with the
    one sweep driver (:func:`backproplab.sweeps.driver.run_trials`).

    ``batch``: ``(preset, sweep, sweep_folder)`` triples (folders prepared).
    ``sources``: finished run folders by configuration, shared across calls so
    that later phases copy what earlier ones trained. ``allow_changed_data``:
    interrupted trials resume on data that changed. Returns the names of the
    failed trials (``preset/trial``).
    """
    trials = _preset_trials(batch, allow_changed_data)
    display = SweepProgress(len(trials), executor.workers, progress, out_dir=out)
    with display:
        results = run_trials(trials, executor, display, sources=sources, say=say)
    return [t.name for t in trials if results[t.name].status == "failed"]


# ---------------------------------------------------------------------------
# the whole reproduction


def _versions() -> dict[str, str]:
    import matplotlib
    import numpy

    return {"backproplab": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform(), "cpus": str(usable_cpus())}


def _command(options: Options, dataset: str, held: Collection[str]) -> str:
    """The command line that repeats (and resumes) this reproduction: with every
    preset the folder holds (``held``: this command's and earlier ``--only`` runs'),
    so that it gives every number of the report, not only the last command's."""
    import shlex

    parts = ["backproplab", "reproduce", "--dataset", dataset]
    if options.quick:
        parts.append("--quick")
    if options.limit is not None:
        parts += ["--limit", str(options.limit)]
    every = [p.name for p in P.select(None, synthetic_only=dataset == "synth")]
    if not set(every) <= set(held):
        parts += ["--only", ",".join(p.name for p in P.PRESETS if p.name in held)]
    if options.data_dir is not None:
        parts += ["--data-dir", str(options.data_dir)]
    parts += ["--out", str(options.out)]
    return " ".join(shlex.quote(p) for p in parts)


def _prepare_sweep(preset, sweep, root: Path, say) -> Path:
    """Prepare a preset's sweep folder; ``final``'s is replaced when its chosen
    options changed since the last run (every other change is an error)."""
    overwrite = False
    old = SweepFolder(root).description
    if preset.needs and (root / SWEEP).is_file():
        same = old is not None and sweep.same_as(old)[0]
        if not same:
            say(f"{preset.name}: the chosen options changed since the last run; "
                "its runs start again")
            overwrite = True
    return prepare_sweep_dir(sweep, root, overwrite=overwrite)


def _check_options(options: Options) -> None:
    """Refuse bad options before anything runs or is written."""
    if options.progress not in PROGRESS_MODES:
        raise BackproplabError(f"unknown progress mode {options.progress!r}; choose one of "
                               f"{', '.join(PROGRESS_MODES)}")
    if options.limit is not None and (isinstance(options.limit, bool)
                                      or not isinstance(options.limit, int)
                                      or options.limit < 1):
        raise BackproplabError(f"--limit must be a positive integer, got {options.limit!r}")
    if options.only is not None:
        if not options.only:
            raise BackproplabError(
                "--only got no preset names; give names like --only seeds,learning-rates "
                "(`backproplab presets` lists them) or drop --only to run them all")
        for name in options.only:
            P.get_preset(name)  # unknown names fail before any work
    if options.executor not in EXECUTORS:
        raise BackproplabError(f"unknown executor {options.executor!r}; choose one of "
                               f"{', '.join(EXECUTORS)}")


def _run_phases(selected, sweeps: dict, settings: dict, executor, options: Options,
                manifest: dict, say: Callable[[str], None]) -> list[str]:
    """Run the presets other presets need first, then the rest; record each
    preset's outcome in the manifest. Returns the failed trials' names."""
    out = Path(options.out)
    needed = {n for p in selected for n in p.needs}
    first = [p for p in selected if p.name in needed]
    rest = [p for p in selected if p.name not in needed]
    results: dict[str, dict] = {}
    failed: list[str] = []
    sources: dict[str, Path] = {}  # finished run folders by configuration, across phases
    for phase in ([first, rest] if first else [rest]):
        batch = []
        for preset in phase:
            if preset.needs:
                choice = P.choose_final({n: results.get(n) for n in preset.needs})
                manifest["final_choice"] = choice
                say(f"final: {choice['reason']}")
                sweeps[preset.name] = preset.sweep(**settings, chosen=choice)
            root = out / PRESETS_DIR / preset.name
            _prepare_sweep(preset, sweeps[preset.name], root, say)
            batch.append((preset, sweeps[preset.name], root))
        t0 = time.perf_counter()
        failed += _run_presets(batch, executor, progress=options.progress, out=out, say=say,
                              sources=sources, allow_changed_data=options.allow_changed_data)
        for preset, _, root in batch:
            results[preset.name] = aggregate_sweep(root, write=True)
            counts = results[preset.name]["counts"]
            manifest["presets"][preset.name] = {
                "folder": f"{PRESETS_DIR}/{preset.name}", "question": preset.question,
                "trials": sum(counts.values()), "ok": counts.get("ok", 0),
                "failed": [t["name"] for t in results[preset.name]["trials"]
                           if t["status"] != "ok"],
                "phase_seconds": round(time.perf_counter() - t0, 3)}
        atomic_write_json(out / MANIFEST, manifest)
    return failed


def reproduce(options: Options, *, say: Callable[[str], None] | None = None) -> Outcome:
    """Run the study's presets, the checks, the figures and the report.

    Parameters
    ----------
    options : Options
        What to run and where (see :class:`Options`).
    say : callable, optional
        Where one-line progress messages go (default: stderr, nothing when
        ``options.progress == "quiet"``).

    Returns
    -------
    Outcome
        The folder, the report's paths, the dataset used and the failed trials.

    Raises
    ------
    BackproplabError
        For bad options, an output folder that holds something else, or runs
        recorded there on data that changed since (unless
        ``options.allow_changed_data``), before anything runs.
    """
    start = time.perf_counter()
    _check_options(options)
    if say is None:
        def say(text: str) -> None:
            if options.progress != "quiet":
                print(text, file=sys.stderr, flush=True)
    dataset, dataset_note = pick_dataset(options.dataset, options.data_dir)
    selected = P.select(options.only, synthetic_only=dataset == "synth")
    out = Path(options.out)
    # the settings a rerun must match are also what every preset's sweep is built from
    settings = {"dataset": dataset, "quick": bool(options.quick), "limit": options.limit,
                "data_dir": options.data_dir}
    # build every sweep that can be built now (validates all options up front)
    sweeps = {p.name: p.sweep(**settings) for p in selected if not p.needs}
    executor_opts = executor_options(options.executor, options.ray_address,
                                     options.trial_timeout)
    if options.executor == "ray":  # Ray missing or its cluster unreachable: fail before writing
        preflight(options.ray_address)
    # one reproduction at a time in --out; someone else's folder, or one whose runs
    # were trained on other data, is refused before the lock
    with lock_folder(out, "reproduction", _folder_check(settings, options, selected, sweeps)):
        previous = prepare_out(out, settings, options.overwrite)
        say(f"dataset: {dataset_note}")
        say(f"presets: {', '.join(p.name for p in selected)}"
            + (" (quick mode)" if options.quick else ""))
        manifest: dict[str, Any] = {
            "kind": "backproplab-reproduce", "format": FORMAT, "settings": settings,
            "dataset_note": dataset_note, "quick": bool(options.quick),
            "command": _command(options, dataset,
                                {*(previous or {}).get("presets", {}), *(p.name for p in selected)}),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "presets": dict((previous or {}).get("presets", {})),
            "versions": _versions(),
        }
        atomic_write_json(out / MANIFEST, manifest)
        executor = make_executor(options.executor, options.workers, **executor_opts)
        manifest["workers"], manifest["executor"] = executor.workers, options.executor
        try:
            failed = _run_phases(selected, sweeps, settings, executor, options, manifest, say)
        finally:
            executor.close()
        say("checks: derivatives, worked example, engines, timing")
        manifest["checks"] = make_checks(out, dataset)
        say("figures")
        manifest["figures"], manifest["figure_errors"] = make_figures(out)
        manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["seconds"] = round(time.perf_counter() - start, 3)
        manifest["failed_trials"] = failed
        atomic_write_json(out / MANIFEST, manifest)
        md, html = write_report(out)
        return Outcome(out, md, html, dataset, failed, time.perf_counter() - start)


__all__ = ["Options", "Outcome", "pick_dataset", "prepare_out", "reproduce"]
