"""Q4: the scalar engine on the synthetic data, and what normalizing the splits
differently costs (the original's below-chance validation accuracy)."""

from __future__ import annotations

from backproplab.runs import RunFolder
from backproplab.study.presets import ORIGINAL
from backproplab.study.report.context import Ctx, epoch_table
from backproplab.study.report.format import epoch_stat, final_stat, fmt, last_epoch, pm


def q4(ctx: Ctx) -> None:
    """Write section Q4: the scalar engine on the synthetic data (its ``q4-synth``
    results, figures, boundary animation and the normalization demonstration),
    with its summary row; a note instead when the preset did not run.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(4, "q4-synth")
    if groups is None:
        return
    g = groups[0]
    cfg = g["config"]
    n_train = None
    runs = ctx.folder.run_dirs("q4-synth")
    if runs:
        s = RunFolder(runs[0]).summary or {}
        n_train = s.get("n_train")
    doc.p(f"The scalar engine (one example at a time, plain Python floats) trained with "
          f"per-example SGD on the synthetic data: a 2-{'-'.join(map(str, cfg['hidden']))}-2 "
          f"sigmoid network, normal initial weights (std {cfg.get('init_std')}), zero biases, "
          f"lr {cfg['lr']:g}, {cfg['epochs']} epochs over {n_train or '?'} training points, "
          f"{g['n']} seed(s). The inputs are standardized with the training split's mean and "
          "standard deviation, applied unchanged to the validation split. The training loss "
          "is measured after each epoch over the whole training split; the running mean of "
          "the per-example losses during the epoch is also shown.")
    epoch_table(ctx, g, [("train_loss_running", "running training loss"),
                         ("train_loss", "training loss"), ("train_accuracy", "training acc"),
                         ("eval_loss", "validation loss"), ("eval_accuracy", "validation acc")],
                every=1)
    ctx.figure("q4_train_val", "Q4: training and validation loss and accuracy per epoch "
                               "(scalar engine).")
    first = epoch_stat(g, 1, "train_loss_running")
    last = epoch_stat(g, last_epoch(g), "train_loss_running")
    drop = first and last and last["mean"] < first["mean"]
    ctx.figure("q4_batch_loss", "Q4: the loss of every example before its update, raw and "
                                "smoothed" + ("; the loss drops." if drop else "."))
    ctx.figure("q4_boundary", "Q4: the learned decision boundary (P = 0.5, black) over the "
                              "validation points, with the true ellipse x^T Q x = 0.6 (dashed) "
                              "on top, in the raw coordinates of the data.")
    _boundary_animation(ctx, g)
    doc.p(f"The loss drops: running training loss {pm(first, n=False)} in epoch 1, "
          f"{pm(last, n=False)} in the last epoch." if drop else
          "**The loss did not drop**: check the runs.")
    o = ORIGINAL["synth"]
    ne = normalization(ctx)
    measured = (f"train loss {fmt(first and first['mean'], 3)} -> {fmt(last and last['mean'], 3)}, "
                f"train acc {pm(final_stat(g, 'train_accuracy'), 3, n=False)}, val acc "
                f"{pm(final_stat(g, 'eval_accuracy'))}"
                + (f" after {cfg['epochs']} epochs" if cfg["epochs"] != o["epochs"] else ""))
    verdict = ("original wrong: a validation accuracy below the majority-class rate means "
               "the validation inputs were not transformed like the training inputs")
    if ne:
        verdict += f"; {ne}"
    ctx.row(f"synthetic, {o['epochs']} epochs, lr {o['lr']}",
            f"train loss {o['train_loss_first']} -> {o['train_loss_last']}, train acc "
            f"{o['train_accuracy']}, val acc {o['val_accuracy']}", measured, verdict)


def _boundary_animation(ctx: Ctx, g) -> None:
    """The boundary after each epoch (an animated GIF), with the validation
    accuracy it goes through."""
    if "q4_boundary_animation" not in ctx.figs and "q4_boundary_animation" not in ctx.fig_errors:
        return
    ctx.figure("q4_boundary_animation",
               "Q4: the learned P(class 1) and its 0.5 contour of seed 0 at initialization and "
               "after each epoch, one frame per snapshot (an animation that steps through the "
               "epochs), with the true ellipse dashed.")
    first = epoch_stat(g, 1, "eval_accuracy")
    last = epoch_stat(g, last_epoch(g), "eval_accuracy")
    if first and last:
        ctx.doc.p(f"The animation has {last_epoch(g) + 1} frames: the untrained network's "
                  "probability surface, then the surface after each epoch, so the 0.5 contour "
                  "(black) can be followed against the true ellipse (dashed) epoch by epoch. "
                  "Over "
                  f"the seeds, validation accuracy goes from {pm(first, n=False)} after epoch "
                  f"1 to {pm(last, n=False)} after epoch {last_epoch(g)}.")


#: An accuracy loss the report calls small (the normalization demonstration).
SMALL_HARM = 0.02


def normalization(ctx: Ctx) -> str | None:
    """Write the normalization demonstration (in the Q4 section) from the live
    ``normalization`` check: the validation accuracy of each way of scaling the splits.

    Parameters
    ----------
    ctx : Ctx
        The report being written.

    Returns
    -------
    str or None
        A phrase for the summary with the wrongly scaled accuracies, or ``None``
        when the check is missing or failed.
    """
    n = ctx.check("normalization")
    if not n:
        return None
    acc = n["accuracy"]
    rows = [[k, fmt(v)] for k, v in acc.items()]
    rows.append(["(always answering the majority class)", fmt(n["majority_class_rate"])])
    ctx.doc.p("**Normalization, and the original's below-chance validation accuracy.** The "
              f"original reports {ORIGINAL['synth']['val_accuracy']} validation accuracy, below "
              f"the {n['majority_class_rate']:.3f} of always answering the majority class: the "
              "network is worse than useless on inputs it should classify as well as the "
              "training inputs. The trained model of seed 0 (live), evaluated on the validation "
              "split scaled in different ways:")
    ctx.doc.table(["validation inputs", "validation accuracy"], rows)
    right = next(iter(acc.values()))
    majority = n["majority_class_rate"]
    if right <= majority:  # the model answers one class: no scaling can change that
        ctx.doc.p(f"This model is no better than always answering the majority class ({right:.4f} "
                  f"against {majority:.4f}), so every scaling gives the same answers and the "
                  "table cannot show what a mismatch costs; a longer run (without `--quick` "
                  "or a small `--limit`) shows it. backproplab fits the normalization on the "
                  "training split only and applies it unchanged to every other split.")
        return None
    wrong = {k: v for k, v in acc.items() if "min/max" in k}
    own = {k: v for k, v in acc.items() if "own statistics" in k}
    text = []
    if own:
        v = next(iter(own.values()))
        text.append(f"Scaling the validation split by its own statistics gives {v:.4f} here "
                    f"against {right:.4f}" + (
                        ": on this data both splits come from the same distribution, so their "
                        "statistics nearly agree and the harm is small; it is still wrong, "
                        "since the network must see one fixed transformation."
                        if right - v <= SMALL_HARM else "."))
    if wrong:
        v = next(iter(wrong.values()))
        text.append(f"The damage appears when the validation inputs end up on another scale "
                    f"than the training inputs, as when one split is min/max-scaled to [0, 1] "
                    f"and the other standardized: {v:.4f} against {right:.4f}"
                    + (", below the majority-class rate like the original's."
                       if v < majority else "."))
    ctx.doc.p(" ".join(text) + " backproplab fits the normalization on the training split only "
                               "and applies it unchanged to every other split.")
    if not wrong:
        return None
    phrase = (f"our model gives {min(wrong.values()):.3f} instead of {right:.3f} when its "
              "validation inputs are min/max-scaled while it was trained on standardized ones")
    if own:
        v = next(iter(own.values()))
        phrase += (" (standardizing each split by its own statistics "
                   + ("costs little here: " if right - v <= SMALL_HARM else "gives ")
                   + f"{v:.3f})")
    return phrase


__all__ = ["normalization", "q4"]
