"""Q1-Q3: the derivatives of softmax and cross-entropy, the fused gradient with
respect to the logits, and the worked 2-3-2 example (all from the live checks)."""

from __future__ import annotations

import math

from backproplab.study.layout import DERIVATIONS
from backproplab.study.presets import ORIGINAL
from backproplab.study.report.context import SECTIONS, Ctx
from backproplab.study.report.format import fmt, sci, vec


def q1(ctx: Ctx) -> None:
    """Write section Q1: the local derivatives of softmax and cross-entropy.

    With the live ``derivatives`` check's finite-difference errors when it ran,
    and their row of the summary table.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[1])
    doc.p(f"The derivations, step by step, are in [{DERIVATIONS}]({DERIVATIONS}). "
          "The results, for logits `o`, `y = softmax(o)`, an integer class `c` and the loss "
          "`l = -log y_c`:")
    doc.ul([("softmax: `dy_i/do_j = y_i (delta_ij - y_j)` (diagonal `y_i (1 - y_i)`, "
            "off-diagonal `-y_i y_j`; every column sums to 0)"),
            "cross-entropy: `dl/dy_i = -1/y_c` for `i = c` and `0` for every other `i`"])
    d = ctx.check("derivatives")
    if d:
        doc.p(f"**Checked live** against central finite differences (step {d['eps']:g}) on "
              f"{d['cases']} random cases with {d['classes']} classes:")
        doc.table(["quantity", "largest error vs finite differences"], [
            ["softmax Jacobian `dy_i/do_j`", sci(d["softmax_jacobian_max_abs_error"])],
            ["`dl/dy_c = -1/y_c` (relative)", sci(d["dl_dy_max_rel_error"])],
        ])
        ok = max(d["softmax_jacobian_max_abs_error"], d["dl_dy_max_rel_error"]) < 1e-6
        ctx.row("Q1 softmax and cross-entropy derivatives", "derived by hand",
                "finite-difference error ≤ "
                f"{sci(max(d['softmax_jacobian_max_abs_error'], d['dl_dy_max_rel_error']))}",
                "correct" if ok else "**check failed**")


def q2(ctx: Ctx) -> None:
    """Write section Q2: the fused gradient ``dl/do = y - onehot(c)`` with respect to the logits.

    With the live check's errors when it ran, and their row of the summary table.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[2])
    doc.p("Chaining the two results of Q1 gives `dl/do_j = sum_i dl/dy_i dy_i/do_j = "
          "-(1/y_c) y_c (delta_cj - y_j) = y_j - delta_cj`, that is **`dl/do = y - onehot(c)`**.")
    doc.p("It is not strictly needed because the chain rule through the softmax Jacobian "
          "(Q1) gives the same vector; it is preferred because it is one step instead of a "
          "K x K matrix product, and because the loss can then be computed from the logits "
          "with log-sum-exp, `l = log sum_j exp(o_j - m) - (o_c - m)` with `m = max o`, which "
          "never takes the logarithm of an underflowed probability.")
    d = ctx.check("derivatives")
    if d:
        s = d["stability_case"]
        unfused = "inf (log of 0)" if s["unfused_is_inf"] else fmt(s["unfused_loss"])
        doc.table(["check (live)", "result"], [
            ["`y - onehot(c)` vs finite differences of the fused loss",
             sci(d["dl_do_max_abs_error"])],
            ["chain rule through the Jacobian vs `y - onehot(c)`",
             sci(d["chain_rule_vs_fused_max_abs_error"])],
            [f"logits {s['logits']}, class {s['target']}: `-log softmax(o)_c`", unfused],
            ["same, fused log-sum-exp", fmt(s["fused_loss"], 1)],
        ])
        ctx.row("Q2 `dl/do = y - onehot(c)`", "derived",
                f"error vs finite differences {sci(d['dl_do_max_abs_error'])}",
                "correct; the fused form stays finite where the unfused one gives inf"
                if s["unfused_is_inf"] else "correct")


def q3(ctx: Ctx) -> None:
    """Write section Q3: the worked 2-3-2 example, the engine's gradients against the
    original's, and the mistyped weight that explains the original's third row of
    ``dl/dV`` (from the live ``worked_example`` check), with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[3])
    w = ctx.check("worked_example")
    if not w:
        return
    r, i = w["result"], w["inputs"]
    doc.p(f"The 2-3-2 network of study.md through the scalar engine (plain Python and `math`): "
          f"input `x = {i['x']}`, class {i['target']}, `W = {i['W']}`, `b = {i['b']}`, "
          f"`V = {i['V']}`, `c = {i['c']}`, sigmoid hidden layer, softmax output. Computed "
          "live:")
    rows = [["hidden pre-activation `k = xW + b`", vec(r["k"])],
            ["hidden `h = sigmoid(k)`", vec(r["h"], 16)],
            ["logits `o = hV + c`", vec(r["o"])],
            ["`y = softmax(o)`", vec(r["y"])],
            ["loss `-log y_0`", f"{r['loss']:.16g} (ln 2 = {math.log(2):.16g})"],
            ["`dl/do = y - onehot(0)`", vec(r["do"])]]
    for j, row in enumerate(r["dV"]):
        rows.append([f"`dl/dV` row {j + 1}", vec(row, 17)])
    rows += [["`dl/dc`", vec(r["dc"])], ["`dl/dh`", vec(r["dh"])]]
    rows += [[f"`dl/dW` row {j + 1}", vec(row)] for j, row in enumerate(r["dW"])]
    rows.append(["`dl/db`", vec(r["db"])])
    doc.table(["quantity", "value"], rows)
    ctx.figure("q3_graph", "The Q3 network's computation graph: every scalar with its value and "
                           "its gradient dl/dnode (`backproplab worked-example --graph FILE`).")
    doc.p(("These equal study.md's values" if w["matches_spec"] else
           "**These differ from study.md's values**") +
          f" (largest difference {w['max_abs_error_vs_spec']:.1e}). `dl/dW` and `dl/db` are 0 "
          "because the two output columns of `V` are equal, so `dl/dh = V (y - onehot)` is 0: "
          "the example is degenerate, which is why the tests also check a non-symmetric "
          "network against finite differences (Q5).")
    mt = w["mistyped"]
    row3 = mt["dV_row3"]
    doc.p(f"**The original's third row of `dl/dV`** was {w['original_dV_row3']} instead of "
          f"{abs(r['dV'][2][1]):.4f}. Entering the third hidden unit's incoming weights with "
          f"their signs flipped (`W = {mt['W']}`) makes its pre-activation -2 instead of 2, "
          f"`h_3 = sigmoid(-2) = {mt['result']['h'][2]:.4f}`, and the third row "
          f"{vec(row3, 4)}: " + ("exactly the original's number, so a mistyped weight explains "
                                 "it." if mt["reproduces_original"] else
                                 "which does not reproduce the original's number."))
    ctx.row("Q3 third row of dl/dV", f"{ORIGINAL['q3_dv_row3']} (wrong)",
            f"±{abs(r['dV'][2][0]):.4f}",
            "original wrong: a mistyped weight (sign-flipped third hidden unit reproduces "
            f"{ORIGINAL['q3_dv_row3']})" if mt["reproduces_original"] else "original wrong")


__all__ = ["q1", "q2", "q3"]
