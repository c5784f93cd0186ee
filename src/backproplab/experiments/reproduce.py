"""``backproplab reproduce``: every experiment of the study, one command, one report.

:func:`reproduce` runs the presets (:mod:`backproplab.experiments.presets`) as
sweeps, with all their trials in **one** list on one executor, so the worker
pool stays busy across presets; then the live checks
(:mod:`backproplab.experiments.checks`), the figures
(:mod:`backproplab.experiments.figures`) and the report
(:mod:`backproplab.experiments.report`).

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
interrupted ones from their checkpoints (the sweep machinery); ``--overwrite``
removes what an earlier reproduction wrote in the output folder (only the
entries listed above, and only in a folder whose ``reproduce.json`` says it is
one) and starts over. A folder holding anything else is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json, read_json

MANIFEST = "reproduce.json"
PRESETS_DIR = "presets"
FIGURES_DIR = "figures"
CHECKS = "checks.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
#: Everything a reproduction writes in its folder (``--overwrite`` removes these only).
OUTPUTS = (PRESETS_DIR, FIGURES_DIR, CHECKS, REPORT_MD, REPORT_HTML, MANIFEST)
#: Settings that must match for a rerun to resume the same reproduction.
SETTINGS = ("dataset", "quick", "limit", "data_dir")
FORMAT = 1
#: Image datasets in order of preference when ``--dataset`` is not given.
PREFERENCE = ("mnist", "fashion-mnist")
#: Progress modes.
PROGRESS_MODES = ("auto", "rich", "plain", "quiet")


@dataclass
class Options:
    """What ``backproplab reproduce`` was asked to do."""

    out: str | os.PathLike = "runs/reproduce"
    dataset: str | None = None          #: mnist | fashion-mnist | synth | None (pick)
    quick: bool = False                 #: fewer epochs, seeds and examples
    limit: int | None = None            #: training examples per run (overrides --quick's)
    only: list[str] | None = None       #: preset names (their needs are added)
    workers: int | None = None          #: parallel trials (default: cores)
    executor: str = "local"             #: local | ray
    ray_address: str | None = None      #: with executor "ray": the cluster (docs/ray.md)
    overwrite: bool = False
    progress: str = "auto"              #: auto | rich | plain | quiet
    data_dir: str | None = None         #: where the image files are (default: search)


@dataclass
class Outcome:
    """What :func:`reproduce` did."""

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

    ``requested=None``: MNIST if it is on this machine (no download is tried),
    else Fashion-MNIST, else the synthetic parts only. An explicitly requested
    image dataset that is not on the machine is downloaded (unless downloads
    are off), and a failure names how to get it.
    """
    from backproplab.data import DATASETS
    from backproplab.data.catalog import locate, looked_in

    if requested is not None and requested not in DATASETS:
        raise BackproplabError(
            f"unknown dataset {requested!r}; choose one of {', '.join(DATASETS)}")
    if requested == "synth":
        return "synth", ("--dataset synth: only the synthetic parts of the study run "
                         "(Q1-Q4 and the engine checks); the MNIST experiments of Q7 are skipped")
    if requested is not None:
        loc = locate(requested, data_dir)
        if loc is not None:
            return requested, f"--dataset {requested}: found in {loc.describe()}"
        from backproplab.data.mnist import find_dataset

        loc = find_dataset(requested, data_dir, download=True)
        return requested, f"--dataset {requested}: {loc.describe()}"
    for name in PREFERENCE:
        loc = locate(name, data_dir)
        if loc is not None:
            why = "" if name == "mnist" else (
                f" (MNIST is not on this machine: looked in {looked_in('mnist', data_dir)})")
            return name, f"{name} found in {loc.describe()}; using it{why}"
    return "synth", (
        "neither MNIST nor Fashion-MNIST is on this machine (looked in "
        f"{looked_in('mnist', data_dir)} and {looked_in('fashion-mnist', data_dir)}), so only "
        "the synthetic parts of the study run; `backproplab data download mnist` fetches MNIST")


# ---------------------------------------------------------------------------
# the output folder


def prepare_out(out: Path, settings: dict[str, Any], overwrite: bool) -> dict | None:
    """Check the output folder; returns the earlier manifest when resuming.

    A folder that holds files but no ``reproduce.json`` is refused (even with
    ``--overwrite``: it is not ours to delete). With ``--overwrite`` an earlier
    reproduction's entries (:data:`OUTPUTS`) are removed; without it, the
    earlier settings must match.
    """
    if out.exists() and not out.is_dir():
        raise BackproplabError(f"--out {out} is a file; give a folder for the reproduction")
    manifest = read_json(out / MANIFEST) if out.is_dir() else None
    if out.is_dir() and any(out.iterdir()):
        if not isinstance(manifest, dict) or manifest.get("kind") != "backproplab-reproduce":
            raise BackproplabError(
                f"{out} is not empty and holds no reproduction ({MANIFEST} is missing); "
                "choose a new or empty --out folder")
        if overwrite:
            for name in OUTPUTS:
                target = out / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
            return None
        old = manifest.get("settings", {})
        differ = [k for k in SETTINGS if old.get(k) != settings.get(k)]
        if differ:
            change = ", ".join(f"{k} {old.get(k)!r} -> {settings.get(k)!r}" for k in differ)
            raise BackproplabError(
                f"{out} holds a reproduction with other settings ({change}); pass "
                "--overwrite to replace it or choose another --out")
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    return None


# ---------------------------------------------------------------------------
# running trials


def _trial_key(config: dict[str, Any]) -> str:
    """What makes two trials the same run: the resolved config without machine
    options, compared as the sweep machinery compares a run folder's config."""
    from backproplab.experiments.sweep import _comparable

    key = _comparable(config)
    if key is None:  # the presets' sweeps are validated when built
        raise BackproplabError(f"trial config {config!r} is not a valid training config")
    return key


def _cost(config: dict[str, Any]) -> float:
    """A rough relative cost of a trial (seconds on one core), for ordering only."""
    n = config.get("limit") or (60_000 if config.get("dataset") == "synth" else 55_000)
    if config.get("final") and config.get("dataset") != "synth" and not config.get("limit"):
        n = 60_000
    epochs = config.get("epochs", 1)
    if config.get("engine") == "scalar":
        return epochs * n * 3e-5
    bs = config.get("batch_size")
    steps = 1 if bs == "full" else -(-n // int(bs or 16))
    return epochs * (steps * 2e-4 + n * 1.5e-5)


def _copy_run(src: Path, dst: Path) -> dict[str, Any]:
    """Copy the finished run folder ``src`` into the trial folder ``dst``
    (atomic writes, ``config.json`` first, ``summary.json`` last); returns the
    copy's summary (``run_dir`` pointing at ``dst``, ``copied_from`` at ``src``)."""
    from backproplab.experiments.executors import read_run_files, write_run_files
    from backproplab.experiments.sweep import TRIAL_RECORD_FILES

    files = {k: v for k, v in read_run_files(src).items() if k not in TRIAL_RECORD_FILES}
    summary = json.loads(files["summary.json"].decode("utf-8"))
    summary["run_dir"] = str(dst)
    summary["copied_from"] = str(src)
    files["summary.json"] = (json.dumps(summary, indent=2) + "\n").encode("utf-8")
    if dst.exists():
        shutil.rmtree(dst)
    write_run_files(dst, files)
    return summary


def run_presets(batch: list[tuple[Any, Any, Path]], executor, *, progress: str,
                out: Path, say: Callable[[str], None],
                sources: dict[str, Path] | None = None) -> list[str]:
    """Run the trials of several presets as one list on ``executor``.

    ``batch``: ``(preset, sweep, sweep_folder)`` triples (folders prepared).
    Trials already finished are skipped, interrupted ones resume, identical
    configurations run once and are copied. ``sources`` maps a configuration
    (:func:`_trial_key`) to a finished run folder; it is used and extended, so
    that later calls copy what earlier calls trained. Returns the names of
    failed trials (``preset/trial``).
    """
    from backproplab.experiments.executors import TrialResult, iter_results
    from backproplab.experiments.sweep import SweepProgress, plan_trials, record_result

    all_trials = []
    to_run_all = []
    finished_all = []
    for preset, sweep, root in batch:
        trials = sweep.trials(root)  # the executor sets each trial's BLAS threads
        trials = [dataclasses.replace(t, name=f"{preset.name}/{t.name}") for t in trials]
        to_run, finished = plan_trials(trials)
        all_trials += trials
        to_run_all += to_run
        finished_all += finished
    by_name = {t.name: t for t in all_trials}

    # identical configurations: train one, copy it to the others
    if sources is None:
        sources = {}
    for result in finished_all:
        sources.setdefault(_trial_key(by_name[result.name].config),
                           Path(by_name[result.name].out_dir))
    primaries: dict[str, Any] = {}
    waiting: dict[str, list] = {}
    copy_now: list[tuple[Any, Path]] = []
    for trial in to_run_all:
        key = _trial_key(trial.config)
        if key in sources:
            copy_now.append((trial, sources[key]))
        elif key in primaries:
            waiting.setdefault(key, []).append(trial)
        else:
            primaries[key] = trial
    queue = sorted(primaries.values(), key=lambda t: -_cost(t.config))
    n_copies = len(copy_now) + sum(len(v) for v in waiting.values())

    failed: list[str] = []
    display = SweepProgress(len(all_trials), len(finished_all), executor.workers, progress,
                            out_dir=out)

    def copy_into(trial, src: Path) -> None:
        summary = _copy_run(src, Path(trial.out_dir))
        result = TrialResult(trial.name, "ok", summary=summary, seconds=0.0)
        record_result(trial, result)
        display.finished(result)

    with display:
        display.note_plan(queue, finished_all)
        if n_copies:
            say(f"{n_copies} trial(s) repeat a configuration of another preset and are "
                "copied from it instead of trained again")
        for trial, src in copy_now:
            copy_into(trial, src)
        key_of = {t.name: k for k, t in primaries.items()}
        for result in iter_results(executor, queue, display.on_event):
            trial = by_name[result.name]
            record_result(trial, result)
            display.finished(result)
            followers = waiting.get(key_of[result.name], [])
            if result.status == "failed":
                failed.append(result.name)
                for other in followers:
                    copy = TrialResult(other.name, "failed",
                                       error=f"same configuration as {result.name}, which "
                                             f"failed: {result.error}",
                                       traceback=result.traceback)
                    record_result(other, copy)
                    display.finished(copy)
                    failed.append(other.name)
            else:
                sources.setdefault(key_of[result.name], Path(trial.out_dir))
                for other in followers:
                    copy_into(other, Path(trial.out_dir))
    return failed


# ---------------------------------------------------------------------------
# the whole reproduction


def _versions() -> dict[str, str]:
    import matplotlib
    import numpy

    from backproplab import __version__
    from backproplab.training.config import usable_cpus

    return {"backproplab": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform(), "cpus": str(usable_cpus())}


def _command(options: Options, dataset: str) -> str:
    """The command line that repeats (and resumes) this reproduction."""
    import shlex

    parts = ["backproplab", "reproduce", "--dataset", dataset]
    if options.quick:
        parts.append("--quick")
    if options.limit is not None:
        parts += ["--limit", str(options.limit)]
    if options.only:
        parts += ["--only", ",".join(options.only)]
    if options.data_dir is not None:
        parts += ["--data-dir", str(options.data_dir)]
    parts += ["--out", str(options.out)]
    return " ".join(shlex.quote(p) for p in parts)


def _prepare_sweep(preset, sweep, root: Path, say) -> Path:
    """Prepare a preset's sweep folder; ``final``'s is replaced when its chosen
    options changed since the last run (every other change is an error)."""
    from backproplab.experiments.sweep import SWEEP_FILE, prepare_sweep_dir

    overwrite = False
    if preset.needs and (root / SWEEP_FILE).is_file():
        old = read_json(root / SWEEP_FILE)
        same, _ = sweep.same_as(old) if isinstance(old, dict) else (False, "")
        if not same:
            say(f"{preset.name}: the chosen options changed since the last run; "
                "its runs start again")
            overwrite = True
    return prepare_sweep_dir(sweep, root, overwrite=overwrite)


def reproduce(options: Options, *, say: Callable[[str], None] | None = None) -> Outcome:
    """Run the study's presets, the checks, the figures and the report (see the
    module docstring); returns an :class:`Outcome`. Bad options and folders
    raise :class:`BackproplabError` before anything runs."""
    from backproplab.experiments import presets as P
    from backproplab.experiments.aggregate import aggregate_sweep
    from backproplab.experiments.executors import make_executor

    start = time.perf_counter()
    if options.progress not in PROGRESS_MODES:
        raise BackproplabError(f"unknown progress mode {options.progress!r}; choose one of "
                               f"{', '.join(PROGRESS_MODES)}")
    quiet = options.progress == "quiet"
    if say is None:
        def say(text: str) -> None:
            if not quiet:
                print(text, flush=True)
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
    from backproplab.experiments.executors import EXECUTORS

    if options.executor not in EXECUTORS:  # before anything is written
        raise BackproplabError(f"unknown executor {options.executor!r}; choose one of "
                               f"{', '.join(EXECUTORS)}")
    dataset, dataset_note = pick_dataset(options.dataset, options.data_dir)
    selected = P.select(options.only, synthetic_only=dataset == "synth")
    out = Path(options.out)
    # the settings a rerun must match are also what every preset's sweep is built from
    settings = {"dataset": dataset, "quick": bool(options.quick), "limit": options.limit,
                "data_dir": options.data_dir}
    # build every sweep that can be built now (validates all options up front)
    sweeps = {p.name: p.sweep(**settings) for p in selected if not p.needs}
    from backproplab.experiments.ray_executor import executor_options, preflight

    executor_opts = executor_options(options.executor, options.ray_address)
    if options.executor == "ray":  # Ray missing or its cluster unreachable: fail before writing
        preflight(options.ray_address)
    previous = prepare_out(out, settings, options.overwrite)
    say(f"dataset: {dataset_note}")
    say(f"presets: {', '.join(p.name for p in selected)}"
        + (" (quick mode)" if options.quick else ""))

    manifest: dict[str, Any] = {
        "kind": "backproplab-reproduce", "format": FORMAT, "settings": settings,
        "dataset_note": dataset_note, "quick": bool(options.quick),
        "command": _command(options, dataset),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "presets": dict((previous or {}).get("presets", {})),
        "versions": _versions(),
    }
    atomic_write_json(out / MANIFEST, manifest)

    needed = {n for p in selected for n in p.needs}
    first = [p for p in selected if p.name in needed]
    rest = [p for p in selected if p.name not in needed]
    phases = [first, rest] if first else [rest]
    results: dict[str, dict] = {}
    failed: list[str] = []
    sources: dict[str, Path] = {}  # finished run folders by configuration, across phases
    executor = make_executor(options.executor, options.workers, **executor_opts)
    manifest["workers"] = executor.workers
    manifest["executor"] = options.executor
    try:
        for phase in phases:
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
            failed += run_presets(batch, executor, progress=options.progress, out=out, say=say,
                                  sources=sources)
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
    finally:
        executor.close()

    from backproplab.experiments.report import make_checks, make_figures, write_report

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


__all__ = [
    "CHECKS",
    "FIGURES_DIR",
    "MANIFEST",
    "OUTPUTS",
    "PRESETS_DIR",
    "REPORT_HTML",
    "REPORT_MD",
    "Options",
    "Outcome",
    "pick_dataset",
    "prepare_out",
    "reproduce",
    "run_presets",
]
