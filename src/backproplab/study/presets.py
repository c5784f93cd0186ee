"""Presets: every experiment of the study as data (a base config, a grid, seeds).

A :class:`Preset` says which question of the study (docs/study.md) it answers, which
training options it fixes (``base``), which it varies (``grid``), how many seeds
each grid point runs with, and how ``--quick`` shrinks it. :func:`get_preset`
and :data:`PRESETS` are the registry shared by ``backproplab presets``,
``backproplab reproduce --only NAME`` and the report.

Presets that are not ``synthetic`` run on the image dataset the reproduction
uses (MNIST, or Fashion-MNIST when MNIST is not on the machine); ``q4-synth``
always runs on the synthetic set with the scalar engine.

The ``final`` preset has no learning rate or batch size of its own: they are
chosen by :func:`choose_final` from the validation results of the presets it
``needs`` (the learning-rate and batch-size sweeps) with the rule stated in
:data:`FINAL_RULE`.

Adding a preset: append a :class:`Preset` to :data:`PRESETS` (options are
:class:`~backproplab.training.TrainConfig` fields) and, if it needs figures or
its own section in the report, add them in :mod:`backproplab.study.report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backproplab.errors import BackproplabError
from backproplab.sweeps.driver import Sweep

#: The study's Q7 setting: batch 16, lr 0.01, 5 epochs (docs/study.md).
_STUDY = {"batch_size": 16, "lr": 0.01, "epochs": 5}
#: The snapshots the report's inspection figures read (``inspect.npz``: first-layer
#: weights, hidden activations, synth's boundary after each epoch). Snapshots only
#: read the model, so results are the same; every preset that trains the study
#: setting takes them, so that its identical runs still match and are copied.
INSPECT = {"inspect": True}
#: Training examples per run in ``--quick`` mode (image presets and q4-synth).
QUICK_LIMIT = 20_000
#: The learning rates of Q7 (3).
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03)
#: The batch sizes of the batch-size comparison.
_BATCH_SIZES = (8, 16, 32, 64)
#: How ``final`` chooses its learning rate and batch size.
FINAL_RULE = (
    "among every (learning rate, batch size) evaluated by the learning-rates and "
    "batch-sizes presets, take the one with the highest mean validation accuracy "
    "at the last epoch across seeds; a tie (equal to 4 decimals) goes to the "
    "smaller standard deviation across seeds, then to the larger batch (fewer "
    "steps), then to the smaller learning rate")
#: What ``final`` uses when no sweep result is available (the original's choice).
_FINAL_FALLBACK = {"lr": 0.003, "batch_size": 16}


#: The original write-up's numbers (docs/study.md); all on MNIST, 784-300-10 sigmoid,
#: plain SGD, unscaled pixels.
ORIGINAL = {
    "q3_dv_row3": 0.0596,
    "synth": {"epochs": 10, "lr": 0.01, "train_loss_first": 0.673, "train_loss_last": 0.443,
              "train_accuracy": 0.81, "val_accuracy": 0.394},
    "full_batch": {"lr": 0.1, "epochs_run": 10, "epochs_claimed": 100, "accuracy": 0.838},
    "learning_curve": {"val_accuracy": 0.954},
    "seeds": {"n": 3, "val_accuracy": (0.9512, 0.0035), "val_loss": (0.1836, 0.0055)},
    "learning_rates": {0.001: 0.9422, 0.003: 0.9538, 0.01: 0.9508, 0.03: 0.9110},
    "final": {"lr": 0.003, "batch_size": 16, "epochs": 5, "test_accuracy": 0.9428,
              "test_loss": 0.2043},
}
#: Published reference points (docs/study.md).
REFERENCES = {
    "mnist": [("LeCun et al.: 2-layer net, 300 hidden units, squared error", 0.953),
              ("per-example SGD + cross-entropy, 300 hidden units, 5 epochs (typical)", 0.97),
              ("scikit-learn MLPClassifier (100 ReLU units)", 0.972)],
    "fashion-mnist": [(("scikit-learn MLPClassifier (100 ReLU units), Fashion-MNIST paper "
                       "Table 3"), 0.871)],
}


@dataclass(frozen=True)
class Preset:
    """One experiment of the study, as data.

    Attributes
    ----------
    name : str
        How ``--only`` and the report call it.
    question : str
        The part of docs/study.md it answers.
    answers : str
        One sentence on what it shows.
    base : mapping
        Training options (``TrainConfig`` fields) it fixes.
    grid : mapping of str to sequence, default {}
        Option -> values it varies.
    seeds : int, default 1
        How many seeds (0, 1, ...) every grid point runs with.
    quick : mapping, default {}
        Options ``--quick`` changes.
    quick_seeds : int, default 1
        The seed count with ``--quick``.
    synthetic : bool, default False
        Always runs on ``synth`` (else on the reproduction's image dataset).
    needs : tuple of str, default ()
        Presets whose results it uses.
    """

    name: str
    question: str
    answers: str
    base: Mapping[str, Any]
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    seeds: int = 1
    quick: Mapping[str, Any] = field(default_factory=dict)
    quick_seeds: int = 1
    synthetic: bool = False
    needs: tuple[str, ...] = ()

    def seed_list(self, quick: bool = False) -> list[int]:
        """The seeds every grid point runs with."""
        return list(range(self.quick_seeds if quick else self.seeds))

    def options(self, *, dataset: str, quick: bool = False, limit: int | None = None,
                data_dir: str | None = None,
                chosen: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The base training options of this preset for a reproduction on
        ``dataset`` (ignored by synthetic presets). ``limit`` caps the training
        examples (``--quick`` has its own default, :data:`QUICK_LIMIT`);
        ``chosen``: the options :func:`choose_final` picked (``final`` only)."""
        opts: dict[str, Any] = {}
        if quick:
            opts["limit"] = QUICK_LIMIT
        opts.update(self.base)
        if quick:
            opts.update(self.quick)
        if self.synthetic:
            opts["dataset"] = "synth"
        else:
            if dataset == "synth":
                raise BackproplabError(
                    f"preset {self.name} needs MNIST or Fashion-MNIST, but this reproduction "
                    "runs on the synthetic data only; get a dataset with `backproplab data "
                    "download mnist` or drop it from --only")
            opts["dataset"] = dataset
            if data_dir is not None:
                opts["data_dir"] = str(data_dir)
        if limit is not None:
            opts["limit"] = int(limit)
        if self.needs:
            picked = chosen if chosen is not None else _FINAL_FALLBACK
            opts.update({key: picked[key] for key in ("lr", "batch_size")})
        return opts

    def sweep(self, *, dataset: str, quick: bool = False, limit: int | None = None,
              data_dir: str | None = None, chosen: Mapping[str, Any] | None = None):
        """The :class:`~backproplab.sweeps.driver.Sweep` that runs this preset."""

        base = self.options(dataset=dataset, quick=quick, limit=limit, data_dir=data_dir,
                            chosen=chosen)
        return Sweep(base, {k: list(v) for k, v in self.grid.items()},
                     self.seed_list(quick))

    def n_trials(self, quick: bool = False) -> int:
        """How many runs the preset makes."""
        return math.prod(len(v) for v in self.grid.values()) * len(self.seed_list(quick))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``backproplab presets --json``)."""
        return {
            "name": self.name,
            "question": self.question,
            "answers": self.answers,
            "data": "synth" if self.synthetic else "image (mnist or fashion-mnist)",
            "base": dict(self.base),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": self.seeds,
            "trials": self.n_trials(False),
            "quick": {"limit": QUICK_LIMIT, **dict(self.quick)},
            "quick_seeds": self.quick_seeds,
            "quick_trials": self.n_trials(True),
            "needs": list(self.needs),
            "chosen_by": FINAL_RULE if self.needs else None,
        }


#: Every preset, in the order the report answers them.
PRESETS: tuple[Preset, ...] = (
    Preset(
        name="q4-synth",
        question="Q4",
        answers="the scalar (pure-Python) engine trained with per-example SGD on the "
                "synthetic ellipse data, 10 epochs at lr 0.01 (the original's setting): "
                "the loss must drop; loss/accuracy per epoch and the learned boundary",
        base={"engine": "scalar", "lr": 0.01, "epochs": 10, **INSPECT},
        seeds=3, quick={"epochs": 3}, quick_seeds=2, synthetic=True,
    ),
    Preset(
        name="learning-curve",
        question="Q7",
        answers="the per-batch training loss over 5 epochs at batch 16, lr 0.01, raw and "
                "smoothed",
        base={**_STUDY, **INSPECT}, seeds=1, quick={"epochs": 3}, quick_seeds=1,
    ),
    Preset(
        name="train-vs-val",
        question="Q7 (1)",
        answers="training vs validation loss and accuracy per epoch over 5 epochs "
                "(batch 16, lr 0.01)",
        base={**_STUDY, **INSPECT}, seeds=1, quick={"epochs": 3}, quick_seeds=1,
    ),
    Preset(
        name="seeds",
        question="Q7 (2)",
        answers="how much the result depends on the random initialization and batch order: "
                "5 seeds, mean and standard deviation per epoch",
        base={**_STUDY, **INSPECT}, seeds=5, quick={"epochs": 3}, quick_seeds=2,
    ),
    Preset(
        name="learning-rates",
        question="Q7 (3)",
        answers="learning rates 0.001, 0.003, 0.01, 0.03 at batch 16, 3 seeds each: "
                "validation curves and last-epoch mean +- std",
        base={"batch_size": 16, "epochs": 5, **INSPECT},
        grid={"lr": LEARNING_RATES}, seeds=3, quick={"epochs": 3}, quick_seeds=2,
    ),
    Preset(
        name="batch-sizes",
        question="extra (batch sizes)",
        answers="batch sizes 8, 16, 32, 64 at lr 0.01, 3 seeds each: validation accuracy "
                "against epochs, weight updates and training wall time",
        base={"lr": 0.01, "epochs": 5, **INSPECT},
        grid={"batch_size": _BATCH_SIZES}, seeds=3, quick={"epochs": 3}, quick_seeds=2,
    ),
    Preset(
        name="full-batch",
        question="extra (full batch)",
        answers="full-batch gradient descent (one step per epoch over all training "
                "examples) at lr 0.1 for 100 epochs: training and validation loss and "
                "accuracy, at 10 epochs (what the original ran) and at 100 (what it claimed)",
        base={"batch_size": "full", "lr": 0.1, "epochs": 100},
        seeds=3, quick={"epochs": 20}, quick_seeds=2,
    ),
    Preset(
        name="unscaled-pixels",
        question="original's bug",
        answers="the original's missing pixel scaling: raw 0-255 pixels at batch 16, "
                "lr 0.01, 5 epochs, against the scaled runs, with how many sigmoid "
                "units saturate",
        base={**_STUDY, "normalize": "none", **INSPECT},
        seeds=3, quick={"epochs": 3}, quick_seeds=1,
    ),
    Preset(
        name="final",
        question="Q7 (4)",
        answers="hyperparameters chosen from the sweeps' validation results, trained on "
                "the full training set and evaluated once on the canonical test set "
                "(3 seeds)",
        base={"final": True, "epochs": 5},
        seeds=3, quick={"epochs": 3}, quick_seeds=2,
        needs=("learning-rates", "batch-sizes"),
    ),
)

_BY_NAME = {p.name: p for p in PRESETS}


def preset_names() -> list[str]:
    """The preset names, in report order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> preset_names()[:2]
    ['q4-synth', 'learning-curve']
    """
    return [p.name for p in PRESETS]


def get_preset(name: str) -> Preset:
    """The preset called ``name``, in any case (``Q4-synth`` is ``q4-synth``, as a
    listing whose lines start capitalized shows it).

    Parameters
    ----------
    name : str

    Returns
    -------
    Preset

    Raises
    ------
    BackproplabError
        For an unknown name, listing the known ones.
    """
    try:
        return _BY_NAME[name.strip().lower()]
    except KeyError:
        raise BackproplabError(
            f"unknown preset {name!r}; choose one of {', '.join(preset_names())} "
            "(`backproplab presets` lists them)") from None


def select(names: Sequence[str] | None, *, synthetic_only: bool = False) -> list[Preset]:
    """The presets to run for ``names``, with the presets they need added, in report order.

    Parameters
    ----------
    names : sequence of str or None
        Preset names; ``None`` or empty: all.
    synthetic_only : bool, default False
        Leave the image presets out of a full selection, and refuse them in an
        explicit one.

    Returns
    -------
    list of Preset

    Raises
    ------
    BackproplabError
        For an unknown name, or an image preset with ``synthetic_only``.
    """
    if not names:
        chosen = [p for p in PRESETS if p.synthetic or not synthetic_only]
    else:
        wanted: set[str] = set()
        for name in names:
            preset = get_preset(name)
            wanted.add(preset.name)
            wanted.update(preset.needs)
        chosen = [p for p in PRESETS if p.name in wanted]
        if synthetic_only:
            bad = [p.name for p in chosen if not p.synthetic]
            if bad:
                raise BackproplabError(
                    f"preset(s) {', '.join(bad)} need MNIST or Fashion-MNIST, but this "
                    "reproduction runs on the synthetic data only; get a dataset with "
                    "`backproplab data download mnist` or ask for q4-synth only")
    return chosen


def choose_final(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Choose the final run's learning rate and batch size (:data:`FINAL_RULE`).

    Parameters
    ----------
    results : mapping of str to mapping
        Preset name -> its sweep's ``results.json`` (as loaded), for the presets
        ``final`` needs (``learning-rates``, ``batch-sizes``).

    Returns
    -------
    dict
        ``{"lr", "batch_size", "reason", "candidates", "fallback"}``: ``candidates``
        lists every configuration considered with its last-epoch validation
        accuracy (mean, std, n), best first; without any, the original write-up's
        choice with ``fallback`` true.
    """
    candidates: dict[tuple[float, Any], dict[str, Any]] = {}
    for preset_name in ("learning-rates", "batch-sizes"):
        res = results.get(preset_name)
        if not res:
            continue
        for group in res.get("groups", []):
            cfg = group.get("config", {})
            acc = (group.get("final") or {}).get("eval_accuracy") or {}
            if acc.get("mean") is None:
                continue
            key = (float(cfg.get("lr")), cfg.get("batch_size"))
            entry = {"lr": key[0], "batch_size": key[1], "mean": float(acc["mean"]),
                     "std": acc.get("std"), "n": int(acc.get("n") or 0),
                     "values": acc.get("values") or [],
                     "epochs": (group.get("final") or {}).get("epochs"),
                     "from": [preset_name]}
            if key in candidates:  # the same configuration in both sweeps: same runs
                candidates[key]["from"].append(preset_name)
            else:
                candidates[key] = entry

    def order(c: dict[str, Any]):
        std = c["std"] if c["std"] is not None else math.inf
        bs = c["batch_size"] if isinstance(c["batch_size"], int) else math.inf
        return (-round(c["mean"], 4), std, -bs, c["lr"])

    ranked = sorted(candidates.values(), key=order)
    if not ranked:
        return {**_FINAL_FALLBACK, "fallback": True, "candidates": [],
                "reason": "no learning-rate or batch-size sweep results were available, so "
                          "the final run uses the original write-up's choice (lr 0.003, "
                          "batch 16)"}
    best = ranked[0]
    std = f" ± {best['std']:.4f}" if best["std"] is not None else ""
    reason = (f"lr {best['lr']:g} with batch {best['batch_size']} had the highest mean "
              f"validation accuracy at the last epoch, {best['mean']:.4f}{std} over "
              f"{best['n']} seed(s)")
    if len(ranked) > 1:
        second = ranked[1]
        reason += (f"; the runner-up was lr {second['lr']:g} with batch "
                   f"{second['batch_size']} at {second['mean']:.4f}")
        if round(second["mean"], 4) == round(best["mean"], 4):
            reason += " (a tie to 4 decimals, broken by the rule)"
    return {"lr": best["lr"], "batch_size": best["batch_size"], "fallback": False,
            "candidates": ranked, "reason": reason}


__all__ = [
    "FINAL_RULE",
    "INSPECT",
    "LEARNING_RATES",
    "PRESETS",
    "QUICK_LIMIT",
    "Preset",
    "choose_final",
    "get_preset",
    "preset_names",
    "select",
]
