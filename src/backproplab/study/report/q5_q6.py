"""Q5-Q6: the tensor engine's gradients (both engines against finite differences
and against each other) and what vectorizing over a batch buys."""

from __future__ import annotations

from backproplab.study.report.context import SECTIONS, Ctx
from backproplab.study.report.format import sci


def q5(ctx: Ctx) -> None:
    """Write section Q5: the NumPy (tensor) engine, its gradients checked against
    finite differences and against the scalar engine (live checks), with its summary row.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[5])
    doc.p("The tensor engine (`backproplab.tensor`) is the NumPy network of Q5: a linear "
          "layer computes `X @ W + b` for a batch `X` (examples x features, `W` fan_in x "
          "fan_out), hidden layers use sigmoid (also ReLU and tanh), and the output is a "
          "softmax fused with the cross-entropy. The study's network is 784-300-10 with "
          "sigmoid hidden units: 784·300 + 300 + 300·10 + 10 = 238,510 parameters.")
    e = ctx.check("engines")
    if not e:
        return
    rows = []
    for name, g in e["gradcheck"].items():
        rows.append([f"{name} engine vs finite differences",
                     f"{g['n_checked']} gradient entries over {len(g['shapes'])} network(s)",
                     sci(g["max_rel_error"]), f"{g['tol']:g}", "pass" if g["passed"] else
                     "**FAIL**"])
    for name, diff in e["scalar_vs_tensor_max_abs_diff"].items():
        rows.append([f"tensor (float64) vs scalar engine, {name}", "every weight and bias",
                     sci(diff), "1e-12", "pass" if diff < 1e-12 else "**FAIL**"])
    doc.table(["check (live)", "what", "largest error", "tolerance", "result"], rows,
              "relative errors for the finite-difference checks, absolute differences "
              "between the engines")
    passed = all(g["passed"] for g in e["gradcheck"].values()) and \
        all(d < 1e-12 for d in e["scalar_vs_tensor_max_abs_diff"].values())
    ctx.row("Q5 gradients of both engines", "no check reported",
            "finite differences and engine vs engine (section Q5)",
            "correct" if passed else "**a check failed**")


def q6(ctx: Ctx) -> None:
    """Write section Q6: vectorized batches, the time per example of the tensor
    engine (batched and one at a time) and of the scalar engine, from the live
    ``vectorization`` check.

    Parameters
    ----------
    ctx : Ctx
        The report being written.
    """
    doc = ctx.doc
    doc.h(2, SECTIONS[6])
    doc.p("The tensor engine's forward and backward passes take a whole batch in single "
          "array operations (matrix products over the batch, no Python loop over examples); "
          "the gradient of the batch's mean loss is `X^T delta / n`.")
    v = ctx.check("vectorization")
    if not v:
        return
    s = v["seconds_per_example"]
    doc.table(["forward + backward, 784-300-10, per example (live)", "time"], [
        [f"tensor engine, batch of {v['batch']} in one call",
         f"{s['tensor_batched'] * 1e6:.1f} µs"],
        ["tensor engine, one example per call", f"{s['tensor_one_by_one'] * 1e6:.1f} µs"],
        ["scalar engine (pure Python), one example", f"{s['scalar_one_by_one'] * 1e3:.1f} ms"],
    ], f"best of {v.get('repeats', 3)}, {v['dtype']}, one BLAS thread, on this machine")
    doc.p(f"Batching is {v['speedup_batched_vs_one_by_one']:.0f}x faster per example than "
          f"calling the same engine one example at a time, and "
          f"{v['speedup_batched_vs_scalar']:.0f}x faster than the pure-Python engine.")


__all__ = ["q5", "q6"]
