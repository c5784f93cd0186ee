"""Q7: the image experiments (per-batch learning curve, training vs validation,
seeds, learning rates) and the final run on the test set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backproplab.runs import BATCHES, RunFolder
from backproplab.study.layout import seeds_phrase
from backproplab.study.presets import FINAL_RULE, ORIGINAL, REFERENCES
from backproplab.study.report.context import (
    Ctx,
    best_against_next,
    comparisons_table,
    epoch_table,
)
from backproplab.study.report.format import (
    against,
    epoch_stat,
    final_stat,
    final_values,
    find_comparison,
    fmt,
    last_epoch,
    pm,
    versus,
)
from backproplab.sweeps.stats import (
    TEST_NAMES,
    describe,
    one_sample_test,
    paired_test,
    spread_test,
)

#: How the image runs' ``normalize`` option treats the pixels (uint8 images).
_PIXELS = {
    "unit": "pixels divided by 255 (one fixed scale for every split)",
    "standardize": "pixels standardized with the training split's mean and standard deviation",
    "none": "raw 0-255 pixels (not scaled)",
}


def _q7_setting(ctx: Ctx, group: Mapping) -> str:
    cfg = group["config"]
    pixels = _PIXELS.get(cfg.get("normalize") or "unit", f"normalize={cfg.get('normalize')}")
    return (f"{ctx.dataset}, 784-{'-'.join(map(str, cfg.get('hidden') or []))}-10 "
            f"{cfg.get('activation')}, plain SGD, batch {cfg.get('batch_size')}, lr "
            f"{cfg.get('lr'):g}, {cfg.get('epochs')} epochs, normal initial weights (std "
            f"{cfg.get('init_std') or 0.1}), {pixels}"
            + (f", at most {cfg['limit']} training images" if cfg.get("limit") else ""))


def _compare_phrase(ctx: Ctx, values: Sequence[float], original: float, where: str = "") -> str:
    """The measured per-seed ``values`` against the original's single number: a
    one-sample t-test (the original's run taken as a fixed number); ``where``
    says which runs the values come from."""
    if not values:
        return "-"
    if not ctx.mnist:
        return "not comparable (original is MNIST)"
    r = one_sample_test(values, original)
    if r.p_value is None or r.p_value >= 0.05:
        verdict = "no difference from the original shown"
    else:
        verdict = f"{'higher' if r.difference > 0 else 'lower'} than the original"
    return f"{verdict}{where}: {against(values, original, 'here', 'original')}"


def _same_setting(ctx: Ctx, group: Mapping) -> tuple[Mapping, str]:
    """The group whose seeds test a single-seed preset's claims: the seeds preset
    (Q7 (2): the same settings with more seeds) when it ran, else ``group``; and
    where its numbers come from, for the sentence."""
    ref = ctx.folder.groups("seeds")
    if group.get("n", 1) < 2 and ref and ref[0]["config"] == group["config"]:
        return ref[0], f" (over the {ref[0]['n']} seeds of Q7 (2), the same setting)"
    return group, ""


def learning_curve(ctx: Ctx) -> None:
    """Write section Q7: the per-batch learning curve of the ``learning-curve``
    preset, with its summary row against the original's accuracy.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(7, "learning-curve")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}. The loss of every batch (before its update) is "
          f"recorded in the run's `{BATCHES}`.")
    ctx.figure("learning_curve", "Per-batch training loss: raw (grey) and smoothed with a "
                                 "bias-corrected exponential moving average (the legend gives "
                                 "its weight and window); dotted lines mark the epochs.")
    acc = final_stat(g, "eval_accuracy")
    doc.p(f"Validation accuracy after epoch {last_epoch(g)}: {pm(acc)}.")
    ref, where = _same_setting(ctx, g)
    ctx.row("batch 16, lr 0.01, 5 epochs",
            f"val acc {ORIGINAL['learning_curve']['val_accuracy']}",
            f"val acc {pm(acc)}" + (f" after {last_epoch(g)} epochs" if last_epoch(g) != 5
                                     else ""),
            _compare_phrase(ctx, final_values(ref, "eval_accuracy"),
                           ORIGINAL["learning_curve"]["val_accuracy"], where))


def train_vs_val(ctx: Ctx) -> None:
    """Write section Q7 (1): training vs validation loss and accuracy per epoch
    (the ``train-vs-val`` preset).

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(8, "train-vs-val")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}. Both losses are measured at the end of each epoch "
          "with the same weights (the training loss in a separate pass over the training "
          "split), so the two curves compare like with like.")
    epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                         ("train_accuracy", "training acc"), ("eval_accuracy", "validation acc")],
                caption=f"{seeds_phrase(g['n'])} per epoch")
    ctx.figure("train_vs_val", "Training vs validation loss and accuracy per epoch.")
    last = last_epoch(g)
    tl, vl = epoch_stat(g, last, "train_loss"), epoch_stat(g, last, "eval_loss")
    if tl and vl:
        doc.p(f"After {last} epochs the validation loss is {vl['mean']:.4f} and the training "
              f"loss {tl['mean']:.4f}. " + _loss_gap(ctx, g))


def _loss_gap(ctx: Ctx, g: Mapping) -> str:
    """Whether the validation loss is above the training loss beyond seed noise: a
    paired t-test over seeds (each seed's two losses come from the same network)."""
    ref, where = _same_setting(ctx, g)
    val, train = final_values(ref, "eval_loss"), final_values(ref, "train_loss")
    if not val or len(val) != len(train):
        return ""
    r = paired_test(val, train)
    text = describe({"a": "validation", "b": "training loss", "difference": r.difference,
                     "ci95": r.ci95, "p_value": r.p_value, "test": r.test, "note": r.note})
    if r.p_value is not None and r.p_value < 0.05 and r.difference > 0:
        verdict = ("the network has started to fit the training split more closely than it "
                   "generalizes")
    elif r.p_value is not None and r.p_value < 0.05:
        verdict = "the validation loss is still below the training loss"
    else:
        verdict = "no gap shown between the two losses yet"
    return f"At the last epoch{where}: {text}; {verdict}."


def seeds(ctx: Ctx) -> None:
    """Write section Q7 (2): the spread over random initializations (the ``seeds``
    preset), with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(9, "seeds")
    if groups is None:
        return
    g = groups[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}; {g['n']} seeds ({', '.join(map(str, g['seeds']))}). "
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
              + ". " + _spread_sentence(acc, o))
    ctx.row(f"{o['n']} runs, 5 epochs",
            f"val acc {o['val_accuracy'][0]} ± {o['val_accuracy'][1]}, val loss "
            f"{o['val_loss'][0]} ± {o['val_loss'][1]}",
            f"val acc {pm(acc)}, val loss {pm(loss, n=False)}"
            + (f" after {last_epoch(g)} epochs" if last_epoch(g) != 5 else ""),
            _compare_phrase(ctx, final_values(g, "eval_accuracy"), o["val_accuracy"][0]) +
            _lr_pairs_phrase(ctx))


def _spread_sentence(acc: Mapping, o: Mapping) -> str:
    """The spread across seeds against the original's: an F-test of the two variances."""
    r = spread_test(acc["std"], acc["n"], o["val_accuracy"][1], o["n"])
    if r["p_value"] is None:
        return f"The two spreads cannot be compared: {r['note']}."
    lo, hi = r["ci95"]
    verdict = ("the spreads differ" if r["p_value"] < 0.05 else
               "these seeds cannot tell the two spreads apart")
    return (f"The standard deviation here is {r['ratio']:.2f} times the original's (95% CI "
            f"[{lo:.2f}, {hi:.2f}]; F-test of equal variances p = {r['p_value']:.2g}): "
            f"{verdict}. A standard deviation over a handful of seeds is itself rough, which "
            "is why the interval is wide.")


def _lr_pairs_phrase(ctx: Ctx) -> str:
    """How many pairs of learning rates the sweep's seeds tell apart (Holm-adjusted)."""
    res = ctx.folder.results("learning-rates") or {}
    pairs = [c for c in res.get("comparisons") or [] if c["metric"] == "eval_accuracy"]
    if not pairs:
        return ""
    tested = [c for c in pairs if c["significant"] is not None]
    return (f"; with these seeds {sum(1 for c in tested if c['significant'])} of the "
            f"{len(pairs)} pairs of learning rates differ in validation accuracy "
            f"({TEST_NAMES[pairs[0]['test']]}, Holm-adjusted p < 0.05; the table of Q7 (3) "
            "gives each p-value and interval)"
            + (f", {len(pairs) - len(tested)} have too few seeds to test"
               if len(tested) < len(pairs) else ""))


def learning_rates(ctx: Ctx) -> None:
    """Write section Q7 (3): the learning-rate comparison (the ``learning-rates``
    preset: mean ± std over seeds per rate in the table, 95% intervals in the figures),
    with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(10, "learning-rates")
    if groups is None:
        return
    groups = sorted(groups, key=lambda g: g["config"]["lr"])
    lr0 = groups[0]["config"]["lr"]
    setting = _q7_setting(ctx, groups[0]).replace(f"lr {lr0:g}", "lr varied")
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
                                 "(mean over seeds; bands: 95% interval of the mean).")
    ctx.figure("learning_rates_final", "Last-epoch validation accuracy and loss against the "
                                       "learning rate (mean over seeds, bars: 95% interval "
                                       "of the mean)" + (", with the original's single runs"
                                                         if ctx.mnist else "") + ".")
    comparisons_table(ctx, "learning-rates", "learning rates")
    best = max(groups, key=lambda g: (final_stat(g, "eval_accuracy") or {}).get("mean") or -1)
    why = (f"in {last_epoch(groups[0])} epochs plain SGD with smaller steps has not converged "
           "as far" if best is groups[-1] else
           "larger rates take steps too large for the sigmoid network, smaller ones have not "
           "converged as far")
    runner_up = best_against_next(ctx, "learning-rates", groups, best)
    edge = ""
    if len(groups) > 1 and (best is groups[-1] or best is groups[0]):
        edge = (f" It is the {'largest' if best is groups[-1] else 'smallest'} rate of the "
                "study's grid, so the best rate may lie beyond it: a wider grid would tell "
                "(the grid is kept as the study set it, and the final run's choice below is "
                "limited to it).")
    doc.p(f"The highest mean validation accuracy here is at learning rate "
          f"{best['config']['lr']:g} ({pm(final_stat(best, 'eval_accuracy'))}){runner_up}. "
          f"The curves above suggest why: {why}.{edge}")
    meas = ", ".join(
        f"{g['config']['lr']:g}: {fmt((final_stat(g, 'eval_accuracy') or {}).get('mean'))}"
        for g in groups)
    verdict = "" if ctx.mnist else "not comparable (original is MNIST); "
    c = find_comparison(ctx.folder.results("learning-rates"), "eval_accuracy", "lr=0.003",
                        "lr=0.01")
    if c:
        verdict += (f"the original ranked lr 0.003 above 0.01 from single runs; here "
                    f"{describe(c)}; ")
    ctx.row("lr sweep, batch 16",
            " / ".join(f"{v}" for v in ORIGINAL["learning_rates"].values())
            + " for lr " + " / ".join(f"{k:g}" for k in ORIGINAL["learning_rates"]),
            f"mean val acc {meas} (n={groups[0]['n']} each)"
            + (f" after {last_epoch(groups[0])} epochs" if last_epoch(groups[0]) != 5 else ""),
            verdict + f"highest mean here: lr {best['config']['lr']:g}")


def final(ctx: Ctx) -> None:
    """Write section Q7 (4): the final runs on the test set (the ``final`` preset),
    their confusion matrix, example and misclassified images and reference
    points, with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
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
              f"{choice['reason']}.{_choice_test(choice)}")
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
    _final_examples(ctx)
    refs = REFERENCES.get(ctx.dataset, [])
    values = final_values(g, "eval_accuracy")
    if refs:
        doc.p("Published reference points for this dataset (test accuracy; the difference is "
              "the final runs' mean minus the reference, tested with a one-sample t-test "
              "that takes the reference as a fixed number): " + "; ".join(
                  f"{label}: {value}" + (f" ({against(values, value, 'here', 'reference')})"
                                         if values else "") for label, value in refs)
              + ". They were trained differently (other hidden units, losses or optimizers, "
                "and often many more epochs than the study's 5), so they show what to expect "
                "of such a network, not a like-for-like comparison.")
    o = ORIGINAL["final"]
    ctx.row(f"final: lr {o['lr']}, batch {o['batch_size']}, {o['epochs']} epochs, test set",
            f"test acc {o['test_accuracy']}, test loss {o['test_loss']}",
            f"lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['epochs']} epochs: test acc "
            f"{pm(acc)}, test loss {pm(loss, n=False)}",
            _compare_phrase(ctx, values, o["test_accuracy"]))


def _choice_test(choice: Mapping) -> str:
    """The chosen configuration against the runner-up: a Welch test over their seeds."""
    cands = choice.get("candidates") or []
    if len(cands) < 2 or not cands[0].get("values") or not cands[1].get("values"):
        return ""
    a, b = cands[0], cands[1]
    return (" Whether the choice beats the runner-up beyond seed noise: " + versus(
        a["values"], b["values"], f"lr {a['lr']:g}, batch {a['batch_size']}",
        f"lr {b['lr']:g}, batch {b['batch_size']}") + " (a single test, not adjusted).")


def _final_examples(ctx: Ctx) -> None:
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


__all__ = ["final", "learning_curve", "learning_rates", "seeds", "train_vs_val"]
