"""Q7: the image experiments (per-batch learning curve, training vs validation,
seeds, learning rates) and the final run on the test set."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from backproplab.runs import BATCHES, RunFolder
from backproplab.study.layout import seeds_phrase
from backproplab.study.presets import FINAL_RULE, ORIGINAL, REFERENCES
from backproplab.study.report.context import Ctx, epoch_table
from backproplab.study.report.format import epoch_stat, final_stat, fmt, last_epoch, pm

#: How the image runs' ``normalize`` option treats the pixels (uint8 images).
PIXELS = {
    "unit": "pixels divided by 255 (one fixed scale for every split)",
    "standardize": "pixels standardized with the training split's mean and standard deviation",
    "none": "raw 0-255 pixels (not scaled)",
}


def q7_setting(ctx: Ctx, group: Mapping) -> str:
    cfg = group["config"]
    pixels = PIXELS.get(cfg.get("normalize") or "unit", f"normalize={cfg.get('normalize')}")
    return (f"{ctx.dataset}, 784-{'-'.join(map(str, cfg.get('hidden') or []))}-10 "
            f"{cfg.get('activation')}, plain SGD, batch {cfg.get('batch_size')}, lr "
            f"{cfg.get('lr'):g}, {cfg.get('epochs')} epochs, normal initial weights (std "
            f"{cfg.get('init_std') or 0.1}), {pixels}"
            + (f", at most {cfg['limit']} training images" if cfg.get("limit") else ""))


def compare_phrase(ctx: Ctx, measured: float | None, original: float) -> str:
    if measured is None:
        return "-"
    if not ctx.mnist:
        return "not comparable (original is MNIST)"
    d = measured - original
    if abs(d) < 0.002:
        return "agrees with the original"
    return f"{'higher' if d > 0 else 'lower'} than the original by {abs(d):.4f}"


def learning_curve(ctx: Ctx) -> None:
    doc = ctx.doc
    groups = ctx.section(7, "learning-curve")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {q7_setting(ctx, g)}. The loss of every batch (before its update) is "
          f"recorded in the run's `{BATCHES}`.")
    ctx.figure("learning_curve", "Per-batch training loss: raw (grey) and smoothed with a "
                                 "bias-corrected exponential moving average (the legend gives "
                                 "its weight and window); dotted lines mark the epochs.")
    acc = final_stat(g, "eval_accuracy")
    doc.p(f"Validation accuracy after epoch {last_epoch(g)}: {pm(acc)}.")
    ctx.row("batch 16, lr 0.01, 5 epochs",
            f"val acc {ORIGINAL['learning_curve']['val_accuracy']}",
            f"val acc {pm(acc)}" + (f" after {last_epoch(g)} epochs" if last_epoch(g) != 5
                                     else ""),
            compare_phrase(ctx, acc and acc["mean"], ORIGINAL["learning_curve"]["val_accuracy"]))


def train_vs_val(ctx: Ctx) -> None:
    doc = ctx.doc
    groups = ctx.section(8, "train-vs-val")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {q7_setting(ctx, g)}. Both losses are measured at the end of each epoch "
          "with the same weights (the training loss in a separate pass over the training "
          "split), so the two curves compare like with like.")
    epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                         ("train_accuracy", "training acc"), ("eval_accuracy", "validation acc")],
                caption=f"{seeds_phrase(g['n'])} per epoch")
    ctx.figure("train_vs_val", "Training vs validation loss and accuracy per epoch.")
    last = last_epoch(g)
    tl, vl = epoch_stat(g, last, "train_loss"), epoch_stat(g, last, "eval_loss")
    if tl and vl:
        gap = vl["mean"] - tl["mean"]
        doc.p(f"After {last} epochs the validation loss is {vl['mean']:.4f} and the training "
              f"loss {tl['mean']:.4f} (gap {gap:+.4f}): " +
              ("the network has started to fit the training split more closely than it "
               "generalizes." if gap > 0.02 else
               "no sign of overfitting yet; the two curves still fall together."))


def seeds(ctx: Ctx) -> None:
    doc = ctx.doc
    groups = ctx.section(9, "seeds")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {q7_setting(ctx, g)}; {g['n']} seeds ({', '.join(map(str, g['seeds']))}). "
          "A seed fixes both the initial weights and the batch order. Mean ± sample standard "
          "deviation (ddof=1) across seeds:")
    epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                         ("eval_accuracy", "validation acc")])
    ctx.figure("seeds", f"Mean ± std over {g['n']} seeds (bands), each seed as a thin line.")
    acc, loss = final_stat(g, "eval_accuracy"), final_stat(g, "eval_loss")
    o = ORIGINAL["seeds"]
    if acc and acc.get("std") is not None:
        doc.p(f"After epoch {last_epoch(g)} the validation accuracy is {pm(acc)} and the "
              f"validation loss {pm(loss, n=False)} across seeds. The original reported "
              f"{o['val_accuracy'][0]} ± {o['val_accuracy'][1]} (accuracy) and "
              f"{o['val_loss'][0]} ± {o['val_loss'][1]} (loss) over {o['n']} runs"
              + ("" if ctx.mnist else " on MNIST, a different level; only the spreads compare")
              + ". A standard deviation over a handful of seeds is itself rough (over 3 "
                "seeds it can easily be off by a factor of 2), so spreads that differ by less "
                "than that agree.")
    ctx.row(f"{o['n']} runs, 5 epochs",
            f"val acc {o['val_accuracy'][0]} ± {o['val_accuracy'][1]}, val loss "
            f"{o['val_loss'][0]} ± {o['val_loss'][1]}",
            f"val acc {pm(acc)}, val loss {pm(loss, n=False)}"
            + (f" after {last_epoch(g)} epochs" if last_epoch(g) != 5 else ""),
            compare_phrase(ctx, acc and acc["mean"], o["val_accuracy"][0]) +
            spread_phrase(ctx, acc))


def spread_phrase(ctx: Ctx, acc: Mapping | None) -> str:
    """Compare the seed-to-seed spread with the gaps between learning rates."""
    if not acc or acc.get("std") is None:
        return ""
    means = sorted((final_stat(g, "eval_accuracy") or {}).get("mean")
                   for g in ctx.folder.groups("learning-rates")
                   if (final_stat(g, "eval_accuracy") or {}).get("mean") is not None)
    if len(means) < 2:
        return ""
    gap = min(b - a for a, b in itertools.pairwise(means))
    if gap > 2 * acc["std"]:
        return (f"; the seed-to-seed std ({acc['std']:.4f}) is smaller than half the "
                f"smallest gap between learning rates ({gap:.4f})")
    return (f"; the seed-to-seed std ({acc['std']:.4f}) is as large as some gaps between "
            f"learning rates ({gap:.4f}): single runs cannot rank those")


def learning_rates(ctx: Ctx) -> None:
    doc = ctx.doc
    groups = ctx.section(10, "learning-rates")
    if groups is None:
        return
    groups = sorted(groups, key=lambda g: g["config"]["lr"])
    lr0 = groups[0]["config"]["lr"]
    setting = q7_setting(ctx, groups[0]).replace(f"lr {lr0:g}", "lr varied")
    doc.p(f"Setting: {setting}; {groups[0]['n']} seeds per learning rate (the same seeds at "
          "every rate, so the runs differ only in the learning rate).")
    rows = []
    for g in groups:
        lr = g["config"]["lr"]
        acc = final_stat(g, "eval_accuracy")
        orig = ORIGINAL["learning_rates"].get(lr)
        rows.append([f"{lr:g}", pm(acc), pm(final_stat(g, "eval_loss"), n=False),
                     pm(final_stat(g, "train_loss"), n=False),
                     f"{orig}" if orig is not None else "-"])
    doc.table(["learning rate", "validation acc", "validation loss", "training loss",
               "original (1 run" + (", MNIST)" if not ctx.mnist else ")")], rows,
              "after the last epoch; mean ± std over seeds")
    ctx.figure("learning_rates", "Validation and training curves per learning rate "
                                 "(mean ± std over seeds).")
    ctx.figure("learning_rates_final", "Last-epoch validation accuracy and loss against the "
                                       "learning rate" + (", with the original's single runs"
                                                          if ctx.mnist else "") + ".")
    best = max(groups, key=lambda g: (final_stat(g, "eval_accuracy") or {}).get("mean") or -1)
    why = (f"in {last_epoch(groups[0])} epochs plain SGD with smaller steps has not converged "
           "as far" if best is groups[-1] else
           "larger rates take steps too large for the sigmoid network, smaller ones have not "
           "converged as far")
    edge = ""
    if len(groups) > 1 and (best is groups[-1] or best is groups[0]):
        edge = (f" It is the {'largest' if best is groups[-1] else 'smallest'} rate of the "
                "study's grid, so the best rate may lie beyond it: a wider grid would tell "
                "(the grid is kept as the study set it, and the final run's choice below is "
                "limited to it).")
    doc.p(f"The best learning rate here is {best['config']['lr']:g} "
          f"({pm(final_stat(best, 'eval_accuracy'))}): {why}.{edge}")
    meas = ", ".join(
        f"{g['config']['lr']:g}: {fmt((final_stat(g, 'eval_accuracy') or {}).get('mean'))}"
        for g in groups)
    verdict = "" if ctx.mnist else "not comparable (original is MNIST); "
    stds = [(final_stat(g, "eval_accuracy") or {}).get("std") for g in groups
            if g["config"]["lr"] in (0.003, 0.01)]
    stds = [x for x in stds if x is not None]
    gap = abs(ORIGINAL["learning_rates"][0.003] - ORIGINAL["learning_rates"][0.01])
    if ctx.mnist and stds and max(stds) >= gap / 2:
        verdict += (f"the original ranked lr 0.003 above 0.01 from single runs {gap:.4f} apart, "
                    f"while the seed-to-seed std here is up to {max(stds):.4f}; ")
    ctx.row("lr sweep, batch 16",
            " / ".join(f"{v}" for v in ORIGINAL["learning_rates"].values())
            + " for lr " + " / ".join(f"{k:g}" for k in ORIGINAL["learning_rates"]),
            f"mean val acc {meas} (n={groups[0]['n']} each)"
            + (f" after {last_epoch(groups[0])} epochs" if last_epoch(groups[0]) != 5 else ""),
            verdict + f"best here: lr {best['config']['lr']:g}")


def final(ctx: Ctx) -> None:
    doc = ctx.doc
    groups = ctx.section(11, "final")
    if groups is None:
        return
    choice = ctx.m.get("final_choice")
    g = groups[0]
    cfg = g["config"]
    doc.p(f"**The rule**: {FINAL_RULE}.")
    if choice:
        doc.p(f"**The choice**: lr {choice['lr']:g}, batch {choice['batch_size']}, because "
              f"{choice['reason']}.")
        cands = choice.get("candidates") or []
        if cands:
            doc.table(["rank", "lr", "batch", "validation acc (last epoch)", "from"],
                      [[str(i + 1), f"{c['lr']:g}", str(c["batch_size"]),
                        pm({"mean": c["mean"], "std": c["std"], "n": c["n"]}),
                        ", ".join(c["from"])] for i, c in enumerate(cands)],
                      "every configuration the rule considered, best first")
    doc.p(f"The final runs train on the **full training set** "
          f"({'at most ' + str(cfg['limit']) + ' images, ' if cfg.get('limit') else ''}"
          f"no validation split held out) for {cfg['epochs']} epochs with {g['n']} seeds and "
          "are evaluated once on the **canonical test set** (10,000 images), which no choice "
          "above has seen.")
    acc, loss = final_stat(g, "eval_accuracy"), final_stat(g, "eval_loss")
    rows = [[f"seed {s}", "-", "-"] for s in g["seeds"]]
    for i, t in enumerate(ctx.folder.group_dirs("final", g)):
        s = RunFolder(t).summary or {}
        rows[i][1:] = [fmt(s.get("eval_accuracy")), fmt(s.get("eval_loss"))]
    rows.append(["**mean ± std**", pm(acc), pm(loss, n=False)])
    doc.table(["run", "test accuracy", "test loss"], rows)
    ctx.figure("final", "Test accuracy of each final run and their mean ± std, with reference "
                        "lines.")
    ctx.figure("final_confusion", "Confusion matrix of the first final run on the test set: "
                                  "each cell gives the count and the fraction of its true "
                                  "class; the diagonal holds the correct answers.")
    final_examples(ctx)
    refs = REFERENCES.get(ctx.dataset, [])
    if refs:
        mean = (acc or {}).get("mean")
        doc.p("Published reference points for this dataset (test accuracy; the difference is "
              "the final runs' mean minus the reference): " + "; ".join(
                  f"{label}: {value}" + (f" ({mean - value:+.4f} here)" if mean is not None
                                         else "") for label, value in refs)
              + ". They were trained differently (other hidden units, losses or optimizers, "
                "and often many more epochs than the study's 5), so they show what to expect "
                "of such a network, not a like-for-like comparison.")
    o = ORIGINAL["final"]
    ctx.row(f"final: lr {o['lr']}, batch {o['batch_size']}, {o['epochs']} epochs, test set",
            f"test acc {o['test_accuracy']}, test loss {o['test_loss']}",
            f"lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['epochs']} epochs: test acc "
            f"{pm(acc)}, test loss {pm(loss, n=False)}",
            compare_phrase(ctx, acc and acc["mean"], o["test_accuracy"]))


def final_examples(ctx: Ctx) -> None:
    """The classes as the network sees them, and the first final run's worst
    mistakes on the test set."""
    ctx.figure("examples", f"Training images of {ctx.dataset}, one row per class with its name.")
    ctx.figure("misclassified", "The misclassified test images with the highest loss "
                                "(-ln p(true class)) of the first final run, each with its "
                                "true class and the predicted class with its probability.")
    if "misclassified" in ctx.figs:
        ctx.doc.p("These are the mistakes the network is most sure of: each image names the "
                  "true class and the predicted one with the probability the network gave "
                  "it, to be set beside the largest off-diagonal cells of the confusion "
                  "matrix above; the figure's title says how many test images are wrong.")


__all__ = ["PIXELS", "compare_phrase", "final", "final_examples", "learning_curve", "learning_rates", "q7_setting",
           "seeds", "spread_phrase", "train_vs_val"]
