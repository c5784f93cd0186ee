"""The extra experiments: full-batch gradient descent, batch sizes, and the
original's unscaled pixels."""

from __future__ import annotations

from collections.abc import Mapping

from backproplab.study.presets import ORIGINAL
from backproplab.study.report.context import (
    Ctx,
    best_against_next,
    comparisons_table,
    epoch_table,
)
from backproplab.study.report.format import (
    epoch_stat,
    final_stat,
    final_values,
    first_epoch_reaching,
    fmt,
    last_epoch,
    pm,
    single_test,
    versus,
)
from backproplab.sweeps.stats import describe


def full_batch(ctx: Ctx) -> None:
    """Write the full-batch gradient descent section (the ``full-batch`` preset,
    10 and 100 epochs against the original's claim), with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(12, "full-batch")
    if groups is None:
        return
    g = groups[0]
    last = last_epoch(g)
    o = ORIGINAL["full_batch"]
    doc.p(f"Gradient descent on the whole training split: one weight update per epoch, lr "
          f"{g['config']['lr']:g}, {last} epochs, {g['n']} seed(s) "
          f"({ctx.dataset}"
          + (f", at most {g['config']['limit']} images" if g["config"].get("limit") else "")
          + ").")
    epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                         ("train_accuracy", "training acc"), ("eval_accuracy", "validation acc")],
                every=max(1, last // 10))
    ctx.figure("full_batch", "Full-batch gradient descent: training and validation loss and "
                             "accuracy per epoch; the dotted line marks epoch 10.")
    at10 = epoch_stat(g, o["epochs_run"], "eval_accuracy")
    reach = first_epoch_reaching(g, "eval_accuracy", o["accuracy"])
    txt = (f"After {o['epochs_run']} epochs: validation accuracy {pm(at10)}; after {last}: "
           f"{pm(final_stat(g, 'eval_accuracy'))}. ")
    if not ctx.mnist:
        txt += f"(The original's {o['accuracy']} is an MNIST number.)"
    elif reach is not None:
        txt += f"The runs first reach the original's {o['accuracy']} at epoch {reach}."
    else:
        txt += f"The runs never reach the original's {o['accuracy']} in {last} epochs."
    doc.p(txt + " With one update per epoch, 10 epochs are only 10 steps: full-batch "
                "gradient descent needs far more epochs than mini-batch SGD for the same "
                "accuracy.")
    ctx.row(f"full batch, lr {o['lr']}, {o['epochs_run']} epochs (text claims "
            f"{o['epochs_claimed']})", f"acc {o['accuracy']}",
            f"val acc {fmt(at10 and at10['mean'])} at epoch {o['epochs_run']}, "
            f"{fmt((final_stat(g, 'eval_accuracy') or {}).get('mean'))} at epoch {last}",
            "original inconsistent: the code ran 10 epochs while the text says 100"
            + ("" if not ctx.mnist else
               f"; we first reach {o['accuracy']} at epoch {reach}" if reach else
               f"; {o['accuracy']} is not reached in {last} epochs here")
            + ("" if ctx.mnist else "; accuracies not comparable (original is MNIST)"))


def batch_sizes(ctx: Ctx) -> None:
    """Write the batch sizes section (the ``batch-sizes`` preset), with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(13, "batch-sizes")
    if groups is None:
        return
    groups = sorted(groups, key=lambda g: g["config"]["batch_size"])
    doc.p(f"Batch sizes {', '.join(str(g['config']['batch_size']) for g in groups)} at lr "
          f"{groups[0]['config']['lr']:g}, {groups[0]['n']} seeds each, same seeds at every "
          "size. The figure shows validation accuracy against **epochs** (examples seen: "
          "every epoch is one pass over the training split), against **optimizer steps** (a "
          "smaller batch makes more updates per epoch) and against **training wall time** "
          "(the cumulative time of the training steps alone, without evaluation).")
    rows = []
    for g in groups:
        fin = g.get("final") or {}
        rows.append([str(g["config"]["batch_size"]), pm(fin.get("eval_accuracy")),
                     pm(fin.get("eval_loss"), n=False), pm(fin.get("train_seconds"), 2,
                                                            n=False)])
    doc.table(["batch size", "validation acc (last epoch)", "validation loss",
               "training seconds per epoch (last)"], rows)
    ctx.figure("batch_sizes", "Batch sizes: validation accuracy against epochs, optimizer "
                              "steps (log scale) and training wall time; validation loss per "
                              "epoch (mean over seeds; bands: 95% interval of the mean).")
    comparisons_table(ctx, "batch-sizes", "batch sizes")
    best = max(groups, key=lambda g: (final_stat(g, "eval_accuracy") or {}).get("mean") or -1)
    text = (f"After the same number of epochs the highest mean validation accuracy here is "
            f"with batch size {best['config']['batch_size']}"
            + best_against_next(ctx, "batch-sizes", groups, best) + ".")
    if best is groups[0]:
        text += (" At a fixed learning rate a smaller batch makes more weight updates per "
                 "pass over the data.")
    times = [((g.get("final") or {}).get("train_seconds") or {}).get("mean") for g in groups]
    if all(t is not None for t in times):
        fast = groups[times.index(min(times))]
        slow = groups[times.index(max(times))]
        text += (f" One epoch of training took {min(times):.2f} s with batch "
                 f"{fast['config']['batch_size']} and {max(times):.2f} s with batch "
                 f"{slow['config']['batch_size']} (mean over seeds, last epoch; "
                 + versus(final_values(slow, "train_seconds"),
                          final_values(fast, "train_seconds"), f"batch "
                          f"{slow['config']['batch_size']}", f"batch "
                          f"{fast['config']['batch_size']}", "train_seconds") + ")")
        if (ctx.m.get("workers") or 1) > 1:
            text += (f"; these times were measured while {ctx.m['workers']} runs shared the "
                     "machine, so they are rough (their ± shows the noise)")
    doc.p(text + ("" if text.endswith(".") else "."))
    ctx.row("batch sizes 8 / 16 / 32 / 64", "plot only",
            ", ".join(f"{g['config']['batch_size']}: "
                      f"{fmt((final_stat(g, 'eval_accuracy') or {}).get('mean'))}" for g in groups),
            f"numbers with mean ± std; highest mean per epoch: batch "
            f"{best['config']['batch_size']}"
            + best_against_next(ctx, "batch-sizes", groups, best))


def unscaled_pixels(ctx: Ctx) -> None:
    """Write the section on the original's unscaled pixels (the ``unscaled-pixels``
    preset, the weights and activations it learns, the live saturation check),
    with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    groups = ctx.section(14, "unscaled-pixels")
    if groups is None:
        return
    g = groups[0]
    ref_name = "seeds" if ctx.folder.results("seeds") else "train-vs-val"
    ref = ctx.folder.groups(ref_name)[0] if ctx.folder.results(ref_name) else None
    doc.p("The original fed raw pixel values (0-255) to the network. With the study's "
          "initial weights N(0, 0.1²), a hidden unit's pre-activation for an image `x` is "
          "normal with standard deviation 0.1·|x|, which for raw pixels is in the hundreds: "
          "almost every sigmoid starts saturated (output 0 or 1, derivative near 0), so "
          "almost no gradient reaches the first layer's weights through it.")
    s = ctx.check("saturation")
    if s:
        un, sc = s["unscaled"], s["scaled"]
        doc.table(["inputs", "mean |x|", "saturated units at initialization (expected)",
                   "saturated units after training"], [
            ["pixels scaled to [0, 1]", fmt(sc["mean_input_norm"], 1),
             f"{sc['saturated_at_init']:.1%}", f"{sc['saturated_after_training']:.1%}"],
            ["raw 0-255 pixels", fmt(un["mean_input_norm"], 1), f"{un['saturated_at_init']:.1%}",
             f"{un['saturated_after_training']:.1%}"],
        ], f"a unit is saturated when its output is below 0.01 or above 0.99; over "
           f"{un['examples']} evaluation images (live)")
    rows = []
    if ref:
        rows.append(["pixels scaled to [0, 1]", pm(final_stat(ref, "eval_accuracy")),
                     pm(final_stat(ref, "eval_loss"), n=False)])
    rows.append(["raw 0-255 pixels", pm(final_stat(g, "eval_accuracy")),
                 pm(final_stat(g, "eval_loss"), n=False)])
    doc.table(["inputs (batch 16, lr 0.01)", "validation acc (last epoch)", "validation loss"],
              rows)
    ctx.figure("unscaled", "Scaled vs raw pixels at the same settings (mean over seeds; bands: "
                          "95% interval of the mean).")
    _pixel_inspection(ctx, s)
    if ref:
        a = (final_stat(ref, "eval_accuracy") or {}).get("mean")
        b = (final_stat(g, "eval_accuracy") or {}).get("mean")
        if a is not None and b is not None:
            effect = _pixel_effect(ref, g, s)
            doc.p(f"Last-epoch validation accuracy: {a:.4f} with scaled pixels, {b:.4f} with "
                  f"raw pixels; {effect}.")
            sat = ""
            if s:
                sat = (f"; {s['unscaled']['saturated_at_init']:.0%} of hidden units saturated "
                       f"at initialization vs {s['scaled']['saturated_at_init']:.1%}")
            ctx.row("pixel scaling", "none (raw 0-255)",
                    f"val acc {b:.4f} raw vs {a:.4f} scaled{sat}",
                    f"original wrong: pixels must be scaled, the sigmoids saturate; {effect}")


def _pixel_effect(scaled: Mapping, raw: Mapping, s: Mapping | None) -> str:
    """What raw pixels cost in validation accuracy, by a Welch test over seeds."""
    a, b = final_values(scaled, "eval_accuracy"), final_values(raw, "eval_accuracy")
    c = single_test(a, b, "scaled", "raw")
    test = describe(c)
    if c["p_value"] is None or c["p_value"] >= 0.05:
        return f"with these seeds the two cannot be told apart: {test}"
    if c["difference"] > 0:
        return f"raw pixels cost validation accuracy at these settings: {test}"
    still = (f" (still {s['unscaled']['saturated_after_training']:.0%} after training)"
             if s else "")
    return (f"raw pixels did not cost accuracy at these settings, they are higher ({test}): "
            f"with almost every hidden unit stuck at 0 or 1{still} the hidden layer acts as a "
            "binary code on which the output layer still learns")


def _pixel_inspection(ctx: Ctx, s: dict | None) -> None:
    """What the first layer learned and how its units' outputs are spread, for
    scaled and raw pixels (the snapshots of the first run of each), with the
    live saturation check's numbers."""
    doc = ctx.doc
    ctx.figure("weights_scaled", "First-layer weights, pixels scaled to [0, 1]: what "
                                 "training changed, W − W_init of the incoming weights of "
                                 "the first 64 hidden units as 28x28 tiles, each on its own "
                                 "symmetric scale (the raw weights look like noise: the "
                                 "change is small beside the random start).")
    ctx.figure("weights_unscaled", "First-layer weights, raw 0-255 pixels: the same units' "
                                   "change W − W_init, drawn the same way.")
    change = s and (s["scaled"].get("weight_change"), s["unscaled"].get("weight_change"))
    if change and None not in change:
        doc.p("Each tile shows which pixels training made excite (red) or inhibit (blue) "
              "one hidden unit; every tile is scaled to its own largest change, so compare "
              "their shapes, not their colours. "
              f"In training these units' weights moved by {change[0]:.1%} of their initial "
              f"norm with scaled pixels and by {change[1]:.1%} with raw pixels "
              "(‖W after − W at initialization‖ / ‖W at initialization‖, live).")
    ctx.figure("activations_scaled", "Hidden activations, pixels scaled to [0, 1]: histogram "
                                     "of the sigmoid outputs at initialization (dashed) and "
                                     "after each epoch.")
    ctx.figure("activations_unscaled", "Hidden activations, raw 0-255 pixels: the same "
                                       "histograms.")
    if s:
        un, sc = s["unscaled"], s["scaled"]
        doc.p("A saturated unit's output lies in the outermost bins of these histograms, at 0 "
              "or 1, where the sigmoid's derivative is near 0. The saturation table above "
              f"counts {un['saturated_at_init']:.1%} of the units saturated at initialization "
              f"(expected) and {un['saturated_after_training']:.1%} after training with raw "
              f"pixels, against {sc['saturated_at_init']:.1%} and "
              f"{sc['saturated_after_training']:.1%} with scaled pixels.")


__all__ = ["batch_sizes", "full_batch", "unscaled_pixels"]
