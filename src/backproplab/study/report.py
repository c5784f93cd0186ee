"""The study's report: ``report.md`` and a self-contained ``report.html``.

Three steps, each reading only the reproduction folder (see
:mod:`backproplab.study.reproduce` for its layout):

- :func:`make_checks` computes the live checks
  (:mod:`backproplab.study.checks`) and saves ``checks.json``;
- :func:`make_figures` draws every figure from the presets' run folders into
  ``figures/``;
- :func:`write_report` writes the report from ``reproduce.json``,
  ``checks.json``, the presets' ``results.json`` and the figures. The same
  document is rendered twice: Markdown (figures linked) and HTML (figures
  embedded as base64 PNG, no external file needed).

The report answers every question of SPEC.md (Q1-Q7 and the extra
experiments) with the numbers measured in this folder, and sets them beside
the original write-up's numbers, saying where the original was wrong and why.
No number in it is typed in here except the original write-up's and the
published reference points, which are labelled as such.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from backproplab.fileio import atomic_write_text, read_json
from backproplab.study.layout import (
    REPORT_HTML,
    REPORT_MD,
    StudyFolder,
    seeds_phrase,
)
from backproplab.study.presets import FINAL_RULE, ORIGINAL, PRESETS, REFERENCES

# ---------------------------------------------------------------------------
# the document model: blocks rendered to Markdown and to HTML


class Doc:
    """A report as a list of blocks, rendered to Markdown or to HTML.

    Text may use a small inline syntax, rendered by both: ``**bold**``,
    ```code```, ``[text](url)`` and ``$...$``-free plain math.
    """

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple[str, Any]] = []

    def h(self, level: int, text: str, anchor: str | None = None) -> None:
        self.blocks.append(("h", (level, text, anchor or _slug(text))))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def note(self, text: str) -> None:
        self.blocks.append(("note", text))

    def ul(self, items: Sequence[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: str | None = None) -> None:
        self.blocks.append(("table", (list(headers), [list(map(str, r)) for r in rows],
                                      caption)))

    def figure(self, path: str | None, caption: str, error: str | None = None) -> None:
        self.blocks.append(("figure", (path, caption, error)))

    # -- rendering ---------------------------------------------------------

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "h":
                level, text, _anchor = value
                out += [f'{"#" * level} {text}', ""]
            elif kind == "p":
                out += [value, ""]
            elif kind == "note":
                out += ["> " + line for line in value.splitlines()] + [""]
            elif kind == "ul":
                out += [f"- {item}" for item in value] + [""]
            elif kind == "code":
                out += ["```", value.rstrip("\n"), "```", ""]
            elif kind == "table":
                headers, rows, caption = value
                if caption:
                    out += [f"*{caption}*", ""]
                out.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
                out.append("|" + "|".join("---" for _ in headers) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "figure":
                path, caption, error = value
                if path:
                    out += [f"![{_plain(caption)}]({path})", "", f"*{caption}*", ""]
                else:
                    out += [f"*(figure not drawn: {error or 'no runs'})* {caption}", ""]
        return "\n".join(out).rstrip() + "\n"

    def html(self, root: Path) -> str:
        body = []
        toc = []
        for kind, value in self.blocks:
            if kind == "h":
                level, text, anchor = value
                body.append(f'<h{level} id="{anchor}">{_inline(text)}</h{level}>')
                if level == 2:
                    toc.append(f'<li><a href="#{anchor}">{_inline(text)}</a></li>')
            elif kind == "p":
                body.append(f"<p>{_inline(value)}</p>")
            elif kind == "note":
                body.append(f'<div class="note">{_inline(value)}</div>')
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in value) + "</ul>")
            elif kind == "code":
                body.append(f"<pre><code>{html.escape(value)}</code></pre>")
            elif kind == "table":
                headers, rows, caption = value
                cap = f"<caption>{_inline(caption)}</caption>" if caption else ""
                head = "".join(f"<th>{_inline(h)}</th>" for h in headers)
                trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                              for row in rows)
                body.append(f"<table>{cap}<thead><tr>{head}</tr></thead>"
                            f"<tbody>{trs}</tbody></table>")
            elif kind == "figure":
                path, caption, error = value
                if path and (root / path).is_file():
                    data = base64.b64encode((root / path).read_bytes()).decode("ascii")
                    body.append(f'<figure><img alt="{html.escape(_plain(caption))}" '
                                f'src="data:image/png;base64,{data}">'
                                f"<figcaption>{_inline(caption)}</figcaption></figure>")
                else:
                    body.append(f'<p class="missing">(figure not drawn: '
                                f"{html.escape(error or 'no runs')}) {_inline(caption)}</p>")
        nav = f'<nav><h2>Contents</h2><ol>{"".join(toc)}</ol></nav>' if toc else ""
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
                f"<body><main><h1>{html.escape(self.title)}</h1>{nav}"
                + "\n".join(body) + "</main></body></html>\n")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;line-height:1.5;
color:#1b1b1b;background:#fafafa;margin:0}
main{max-width:1000px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.8rem;border-bottom:2px solid #ddd;padding-bottom:.3rem}
h2{margin-top:2.5rem;border-bottom:1px solid #e3e3e3;padding-bottom:.2rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;display:block;overflow-x:auto}
th,td{border:1px solid #d5d5d5;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}tr:nth-child(even) td{background:#fafbfc}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3rem 0}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px;font-size:.9em}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:4px}
figure{margin:1.2rem 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555;margin-top:.3rem}
.note{border-left:4px solid #e8a33d;background:#fff8ec;padding:.6rem .9rem;margin:1rem 0}
.missing{color:#a33}nav ol{columns:2;font-size:.95rem}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _plain(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return text.replace("**", "").replace("`", "")


def _inline(text: str) -> str:
    """The inline syntax (code, bold, links) as HTML, everything else escaped."""
    parts = re.split(r"(`[^`]+`)", str(text))
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                   lambda m: f'<a href="{html.escape(html.unescape(m.group(2)))}">'
                             f"{m.group(1)}</a>", s)
        out.append(s)
    return "".join(out)


# ---------------------------------------------------------------------------
# number formatting


def _f(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}f}"
    return str(x)


def _pm(stat: Mapping | None, digits: int = 4, n: bool = True) -> str:
    """``mean ± std (n=k)`` from an aggregate statistic ``{"mean", "std", "n"}``."""
    if not stat or stat.get("mean") is None:
        return "-"
    text = _f(stat["mean"], digits)
    if stat.get("std") is not None:
        text += f" ± {_f(stat['std'], digits)}"
    if n and stat.get("n"):
        text += f" (n={stat['n']})"
    return text


def _sci(x: Any) -> str:
    return "-" if x is None else f"{x:.1e}"




def _final_stat(group: Mapping, metric: str) -> dict | None:
    return (group.get("final") or {}).get(metric)


def _epoch_stat(group: Mapping, epoch: int, metric: str) -> dict | None:
    for row in group.get("epochs", []):
        if row.get("epoch") == epoch:
            return row.get(metric)
    return None


def _last_epoch(group: Mapping) -> int | None:
    epochs = [row.get("epoch") for row in group.get("epochs", [])]
    return max(epochs) if epochs else None


def _first_epoch_reaching(group: Mapping, metric: str, value: float) -> int | None:
    for row in group.get("epochs", []):
        stat = row.get(metric) or {}
        if stat.get("mean") is not None and stat["mean"] >= value:
            return row["epoch"]
    return None


def _derivations_link(root: Path) -> str:
    """A link to docs/derivations.md when the source tree is at hand, else its name."""
    src = Path(__file__).resolve().parents[3] / "docs" / "derivations.md"
    if src.is_file():
        try:
            rel = os.path.relpath(src, root.resolve())
        except ValueError:
            rel = str(src)
        return f"[docs/derivations.md]({rel})"
    return "`docs/derivations.md` (in the backproplab source tree)"


# ---------------------------------------------------------------------------
# the report


def write_report(out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out``; returns their paths."""

    folder = StudyFolder(out)
    doc = build_report(folder)
    md = atomic_write_text(folder.root / REPORT_MD, doc.markdown())
    page = atomic_write_text(folder.root / REPORT_HTML, doc.html(folder.root))
    return md, page


#: The sections every report has, in order (``tests`` check that they are all there).
SECTIONS = (
    "Summary: measured here vs the original write-up",
    "Q1: local derivatives of softmax and cross-entropy",
    "Q2: the derivative with respect to the logits",
    "Q3: the worked example",
    "Q4: the scalar engine on the synthetic data",
    "Q5: the NumPy (tensor) engine",
    "Q6: vectorized batches",
    "Q7: the per-batch learning curve",
    "Q7 (1): training vs validation",
    "Q7 (2): random initializations",
    "Q7 (3): learning rates",
    "Q7 (4): the final run on the test set",
    "Extra: full-batch gradient descent",
    "Extra: batch sizes",
    "The original's unscaled pixels",
    "Where the original write-up was wrong, and why",
    "How this report was made",
)


class _Ctx:
    """What the section writers share."""

    def __init__(self, folder: StudyFolder, doc: Doc):
        self.folder, self.doc = folder, doc
        self.m = folder.manifest
        self.figs: dict[str, str] = self.m.get("figures") or {}
        self.fig_errors: dict[str, str] = self.m.get("figure_errors") or {}
        self.dataset = folder.dataset
        self.mnist = self.dataset == "mnist"
        self.image = self.dataset in ("mnist", "fashion-mnist")
        self.quick = bool(self.m.get("quick"))
        self.summary_rows: list[list[str]] = []

    def figure(self, key: str, caption: str) -> None:
        if key in self.figs:
            self.doc.figure(self.figs[key], caption)
        elif key in self.fig_errors:
            self.doc.figure(None, caption, self.fig_errors[key])

    def not_run(self, preset: str) -> bool:
        """Say why a preset's results are missing; True when they are."""
        if self.folder.results(preset):
            return False
        info = (self.m.get("presets") or {}).get(preset)
        if not self.image and preset != "q4-synth":
            why = ("this reproduction ran on the synthetic data only "
                   f"({self.m.get('dataset_note', 'no image dataset')})")
        elif info and info.get("failed"):
            why = f"its runs failed ({', '.join(info['failed'][:3])}); see their error.txt"
        else:
            why = "it was not selected (`--only`)"
        self.doc.note(f"Not run: {why}. Run `backproplab reproduce --only {preset}` "
                      "to add it.")
        return True

    def check(self, name: str) -> dict | None:
        data = self.folder.checks.get(name)
        if not isinstance(data, dict):
            return None
        if "error" in data:
            self.doc.note(f"The {name} check failed: {data['error']}")
            return None
        return data


def build_report(folder: StudyFolder) -> Doc:
    """The whole report as a :class:`Doc`."""
    doc = Doc("backproplab: the backpropagation study, reproduced")
    ctx = _Ctx(folder, doc)
    _intro(ctx)
    # sections are written first, the summary table (which collects their
    # numbers) is inserted after the introduction
    intro_len = len(doc.blocks)
    _q1(ctx)
    _q2(ctx)
    _q3(ctx)
    _q4(ctx)
    _q5(ctx)
    _q6(ctx)
    _learning_curve(ctx)
    _train_vs_val(ctx)
    _seeds(ctx)
    _learning_rates(ctx)
    _final(ctx)
    _full_batch(ctx)
    _batch_sizes(ctx)
    _unscaled(ctx)
    _wrong(ctx)
    _how(ctx)
    body = doc.blocks[intro_len:]
    doc.blocks = doc.blocks[:intro_len]
    _summary(ctx)
    doc.blocks += body
    return doc


def _intro(ctx: _Ctx) -> None:
    m, doc = ctx.m, ctx.doc
    settings = m.get("settings") or {}
    mode = "quick" if ctx.quick else "full"
    doc.p("This report answers every question of the study (SPEC.md: Q1-Q7 and the extra "
          "experiments) with numbers measured in this folder, and sets them beside the "
          "numbers of the original student write-up, saying where that write-up was wrong.")
    facts = [f"**Dataset**: {m.get('dataset_note', ctx.dataset)}",
             f"**Mode**: {mode}" + (
                 " (fewer epochs, seeds and examples than the study: the numbers show the "
                 "method, not the final accuracies; run without `--quick` for those)"
                 if ctx.quick else ""),
             (f"**Made**: {m.get('started', '?')} to {m.get('finished', '?')}, "
             f"{_f(m.get('seconds'), 1)} s on {m.get('workers', '?')} worker process(es)")]
    if settings.get("limit"):
        facts.append(f"**Training examples per run**: at most {settings['limit']} (`--limit`)")
    if m.get("failed_trials"):
        facts.append(f"**Failed runs**: {', '.join(m['failed_trials'])} (their folders hold "
                     "`error.txt`)")
    doc.ul(facts)
    if ctx.dataset == "fashion-mnist":
        doc.note("**This reproduction ran on Fashion-MNIST, not MNIST.** Every number of the "
                 "original write-up is an MNIST number: they are shown for reference but are "
                 "**not directly comparable** with the Fashion-MNIST numbers measured here "
                 "(Fashion-MNIST is the harder task: the published reference point, "
                 "scikit-learn's MLPClassifier with 100 ReLU units, reaches "
                 f"{REFERENCES['fashion-mnist'][0][1]} test accuracy on it against "
                 f"{REFERENCES['mnist'][2][1]} on MNIST). Put the MNIST files on this "
                 "machine (`backproplab data download mnist`) and run again to compare.")
    elif not ctx.image:
        doc.note("**Only the synthetic parts ran** (no MNIST or Fashion-MNIST on this machine). "
                 "Sections Q7 and the extra experiments say so; the rest is complete.")


def _row(ctx: _Ctx, experiment: str, original: str, measured: str, verdict: str) -> None:
    ctx.summary_rows.append([experiment, original, measured, verdict])


def _summary(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[0])
    orig = "original (MNIST)" if ctx.dataset != "mnist" else "original write-up"
    here = f"measured here ({ctx.dataset}{', quick' if ctx.quick else ''})"
    doc.p("The original's numbers are from its write-up (SPEC.md): MNIST, 784-300-10 sigmoid "
          "network, plain SGD, **unscaled pixels**. Accuracies are on the validation split "
          "unless the row says test; `mean ± std (n=k)` is over k seeds, with the sample "
          "standard deviation (ddof=1).")
    doc.table(["experiment", orig, here, "verdict"], ctx.summary_rows)


# -- Q1, Q2 -------------------------------------------------------------------


def _q1(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[1])
    doc.p(f"The derivations, step by step, are in {_derivations_link(ctx.folder.root)}. "
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
            ["softmax Jacobian `dy_i/do_j`", _sci(d["softmax_jacobian_max_abs_error"])],
            ["`dl/dy_c = -1/y_c` (relative)", _sci(d["dl_dy_max_rel_error"])],
        ])
        ok = max(d["softmax_jacobian_max_abs_error"], d["dl_dy_max_rel_error"]) < 1e-6
        _row(ctx, "Q1 softmax and cross-entropy derivatives", "derived by hand",
             "finite-difference error ≤ "
             f"{_sci(max(d['softmax_jacobian_max_abs_error'], d['dl_dy_max_rel_error']))}",
             "correct" if ok else "**check failed**")


def _q2(ctx: _Ctx) -> None:
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
        unfused = "inf (log of 0)" if s["unfused_is_inf"] else _f(s["unfused_loss"])
        doc.table(["check (live)", "result"], [
            ["`y - onehot(c)` vs finite differences of the fused loss",
             _sci(d["dl_do_max_abs_error"])],
            ["chain rule through the Jacobian vs `y - onehot(c)`",
             _sci(d["chain_rule_vs_fused_max_abs_error"])],
            [f"logits {s['logits']}, class {s['target']}: `-log softmax(o)_c`", unfused],
            ["same, fused log-sum-exp", _f(s["fused_loss"], 1)],
        ])
        _row(ctx, "Q2 `dl/do = y - onehot(c)`", "derived",
             f"error vs finite differences {_sci(d['dl_do_max_abs_error'])}",
             "correct; the fused form stays finite where the unfused one gives inf"
             if s["unfused_is_inf"] else "correct")


# -- Q3 -------------------------------------------------------------------------


def _vec(v: Sequence[float], digits: int = 6) -> str:
    return "[" + ", ".join(f"{x + 0.0:.{digits}g}" for x in v) + "]"  # + 0.0: no "-0"


def _q3(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[3])
    w = ctx.check("worked_example")
    if not w:
        return
    r, i = w["result"], w["inputs"]
    doc.p(f"The 2-3-2 network of SPEC.md through the scalar engine (plain Python and `math`): "
          f"input `x = {i['x']}`, class {i['target']}, `W = {i['W']}`, `b = {i['b']}`, "
          f"`V = {i['V']}`, `c = {i['c']}`, sigmoid hidden layer, softmax output. Computed "
          "live:")
    rows = [["hidden pre-activation `k = xW + b`", _vec(r["k"])],
            ["hidden `h = sigmoid(k)`", _vec(r["h"], 16)],
            ["logits `o = hV + c`", _vec(r["o"])],
            ["`y = softmax(o)`", _vec(r["y"])],
            ["loss `-log y_0`", f"{r['loss']:.16g} (ln 2 = {math.log(2):.16g})"],
            ["`dl/do = y - onehot(0)`", _vec(r["do"])]]
    for j, row in enumerate(r["dV"]):
        rows.append([f"`dl/dV` row {j + 1}", _vec(row, 17)])
    rows += [["`dl/dc`", _vec(r["dc"])], ["`dl/dh`", _vec(r["dh"])]]
    rows += [[f"`dl/dW` row {j + 1}", _vec(row)] for j, row in enumerate(r["dW"])]
    rows.append(["`dl/db`", _vec(r["db"])])
    doc.table(["quantity", "value"], rows)
    doc.p(("These equal SPEC.md's values" if w["matches_spec"] else
           "**These differ from SPEC.md's values**") +
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
          f"{_vec(row3, 4)}: " + ("exactly the original's number, so a mistyped weight explains "
                                 "it." if mt["reproduces_original"] else
                                 "which does not reproduce the original's number."))
    _row(ctx, "Q3 third row of dl/dV", f"{ORIGINAL['q3_dv_row3']} (wrong)",
         f"±{abs(r['dV'][2][0]):.4f}",
         "original wrong: a mistyped weight (sign-flipped third hidden unit reproduces "
         f"{ORIGINAL['q3_dv_row3']})" if mt["reproduces_original"] else "original wrong")


# -- Q4 -------------------------------------------------------------------------


def _epoch_table(ctx: _Ctx, group: Mapping, metrics: Sequence[tuple[str, str]],
                 caption: str | None = None, every: int = 1) -> None:
    rows = []
    epochs = group.get("epochs", [])
    last = _last_epoch(group)
    for row in epochs:
        e = row["epoch"]
        if e % every and e != last and e != 1:
            continue
        rows.append([str(e)] + [_pm(row.get(key), n=False) for key, _ in metrics])
    ctx.doc.table(["epoch"] + [label for _, label in metrics], rows,
                  caption or f"mean ± std over {group.get('n', 1)} seed(s) per epoch")


def _q4(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[4])
    if ctx.not_run("q4-synth"):
        return
    g = ctx.folder.groups("q4-synth")[0]
    cfg = g["config"]
    n_train = None
    runs = ctx.folder.run_dirs("q4-synth")
    if runs:
        s = read_json(runs[0] / "summary.json") or {}
        n_train = s.get("n_train")
    doc.p(f"The scalar engine (one example at a time, plain Python floats) trained with "
          f"per-example SGD on the synthetic data: a 2-{'-'.join(map(str, cfg['hidden']))}-2 "
          f"sigmoid network, normal initial weights (std {cfg.get('init_std')}), zero biases, "
          f"lr {cfg['lr']:g}, {cfg['epochs']} epochs over {n_train or '?'} training points, "
          f"{g['n']} seed(s). The inputs are standardized with the training split's mean and "
          "standard deviation, applied unchanged to the validation split. The training loss "
          "is measured after each epoch over the whole training split; the running mean of "
          "the per-example losses during the epoch is also shown.")
    _epoch_table(ctx, g, [("train_loss_running", "running training loss"),
                          ("train_loss", "training loss"), ("train_accuracy", "training acc"),
                          ("eval_loss", "validation loss"), ("eval_accuracy", "validation acc")],
                 every=1)
    ctx.figure("q4_train_val", "Q4: training and validation loss and accuracy per epoch "
                               "(scalar engine).")
    ctx.figure("q4_batch_loss", "Q4: the loss of every example before its update, raw and "
                                "smoothed; the loss drops.")
    ctx.figure("q4_boundary", "Q4: the learned decision boundary (P = 0.5, black) over the "
                              "validation points, with the true ellipse x^T Q x = 0.6 (dashed) "
                              "on top, in the raw coordinates of the data.")
    first = _epoch_stat(g, 1, "train_loss_running")
    last = _epoch_stat(g, _last_epoch(g), "train_loss_running")
    drop = first and last and last["mean"] < first["mean"]
    doc.p(f"The loss drops: running training loss {_pm(first, n=False)} in epoch 1, "
          f"{_pm(last, n=False)} in the last epoch." if drop else
          "**The loss did not drop**: check the runs.")
    o = ORIGINAL["synth"]
    ne = _normalization(ctx)
    measured = (f"train loss {_f(first and first['mean'], 3)} -> {_f(last and last['mean'], 3)}, "
                f"train acc {_pm(_final_stat(g, 'train_accuracy'), 3, n=False)}, val acc "
                f"{_pm(_final_stat(g, 'eval_accuracy'))}"
                + (f" after {cfg['epochs']} epochs" if cfg["epochs"] != o["epochs"] else ""))
    verdict = ("original wrong: a validation accuracy below the majority-class rate means "
               "the validation inputs were not transformed like the training inputs")
    if ne:
        verdict += f"; {ne}"
    _row(ctx, f"synthetic, {o['epochs']} epochs, lr {o['lr']}",
         f"train loss {o['train_loss_first']} -> {o['train_loss_last']}, train acc "
         f"{o['train_accuracy']}, val acc {o['val_accuracy']}", measured, verdict)


def _normalization(ctx: _Ctx) -> str | None:
    """The normalization demonstration (in the Q4 section); returns a phrase for
    the summary with the wrongly-scaled accuracies (``None`` without them)."""
    n = ctx.check("normalization")
    if not n:
        return None
    acc = n["accuracy"]
    rows = [[k, _f(v)] for k, v in acc.items()]
    rows.append(["(always answering the majority class)", _f(n["majority_class_rate"])])
    ctx.doc.p("**Normalization, and the original's below-chance validation accuracy.** The "
              f"original reports {ORIGINAL['synth']['val_accuracy']} validation accuracy, below "
              f"the {n['majority_class_rate']:.3f} of always answering the majority class: the "
              "network is worse than useless on inputs it should classify as well as the "
              "training inputs. The trained model of seed 0 (live), evaluated on the validation "
              "split scaled in different ways:")
    ctx.doc.table(["validation inputs", "validation accuracy"], rows)
    right = next(iter(acc.values()))
    wrong = {k: v for k, v in acc.items() if "min/max" in k}
    own = {k: v for k, v in acc.items() if "own statistics" in k}
    text = []
    if own:
        v = next(iter(own.values()))
        text.append(f"Scaling the validation split by its own statistics gives {v:.4f} here "
                    f"against {right:.4f}: on this data both splits come from the same "
                    "distribution, so their statistics nearly agree and the harm is small; it "
                    "is still wrong, since the network must see one fixed transformation.")
    if wrong:
        v = next(iter(wrong.values()))
        text.append(f"The damage appears when the validation inputs end up on another scale "
                    f"than the training inputs, as when one split is min/max-scaled to [0, 1] "
                    f"and the other standardized: {v:.4f}, "
                    + ("below the majority-class rate like the original's."
                       if v < n["majority_class_rate"] else "far below the correct value."))
    ctx.doc.p(" ".join(text) + " backproplab fits the normalization on the training split only "
                               "and applies it unchanged to every other split.")
    if not wrong:
        return None
    phrase = (f"our model drops to {min(wrong.values()):.3f} when its validation inputs are "
              "min/max-scaled while it was trained on standardized ones")
    if own:
        phrase += (f" (standardizing each split by its own statistics costs little here: "
                   f"{next(iter(own.values())):.3f})")
    return phrase


# -- Q5, Q6 ------------------------------------------------------------------------


def _q5(ctx: _Ctx) -> None:
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
                     _sci(g["max_rel_error"]), f"{g['tol']:g}", "pass" if g["passed"] else
                     "**FAIL**"])
    for name, diff in e["scalar_vs_tensor_max_abs_diff"].items():
        rows.append([f"tensor (float64) vs scalar engine, {name}", "every weight and bias",
                     _sci(diff), "1e-12", "pass" if diff < 1e-12 else "**FAIL**"])
    doc.table(["check (live)", "what", "largest error", "tolerance", "result"], rows,
              "relative errors for the finite-difference checks, absolute differences "
              "between the engines")
    passed = all(g["passed"] for g in e["gradcheck"].values()) and \
        all(d < 1e-12 for d in e["scalar_vs_tensor_max_abs_diff"].values())
    _row(ctx, "Q5 gradients of both engines", "no check reported",
         "finite differences and engine vs engine (this section)",
         "correct" if passed else "**a check failed**")


def _q6(ctx: _Ctx) -> None:
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


# -- Q7 ---------------------------------------------------------------------------


#: How the image runs' ``normalize`` option treats the pixels (uint8 images).
PIXELS = {
    "unit": "pixels divided by 255 (one fixed scale for every split)",
    "standardize": "pixels standardized with the training split's mean and standard deviation",
    "none": "raw 0-255 pixels (not scaled)",
}


def _q7_setting(ctx: _Ctx, group: Mapping) -> str:
    cfg = group["config"]
    pixels = PIXELS.get(cfg.get("normalize") or "unit", f"normalize={cfg.get('normalize')}")
    return (f"{ctx.dataset}, 784-{'-'.join(map(str, cfg.get('hidden') or []))}-10 "
            f"{cfg.get('activation')}, plain SGD, batch {cfg.get('batch_size')}, lr "
            f"{cfg.get('lr'):g}, {cfg.get('epochs')} epochs, normal initial weights (std "
            f"{cfg.get('init_std') or 0.1}), {pixels}"
            + (f", at most {cfg['limit']} training images" if cfg.get("limit") else ""))


def _compare_phrase(ctx: _Ctx, measured: float | None, original: float) -> str:
    if measured is None:
        return "-"
    if not ctx.mnist:
        return "not comparable (original is MNIST)"
    d = measured - original
    if abs(d) < 0.002:
        return "agrees with the original"
    return f"{'higher' if d > 0 else 'lower'} than the original by {abs(d):.4f}"


def _learning_curve(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[7])
    if ctx.not_run("learning-curve"):
        return
    g = ctx.folder.groups("learning-curve")[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}. The loss of every batch (before its update) is "
          "recorded in the run's `batches.jsonl`.")
    ctx.figure("learning_curve", "Per-batch training loss: raw (grey) and smoothed with a "
                                 "bias-corrected exponential moving average (the legend gives "
                                 "its weight and window); dotted lines mark the epochs.")
    acc = _final_stat(g, "eval_accuracy")
    doc.p(f"Validation accuracy after epoch {_last_epoch(g)}: {_pm(acc)}.")
    _row(ctx, "batch 16, lr 0.01, 5 epochs",
         f"val acc {ORIGINAL['learning_curve']['val_accuracy']}",
         f"val acc {_pm(acc)}" + (f" after {_last_epoch(g)} epochs" if _last_epoch(g) != 5
                                  else ""),
         _compare_phrase(ctx, acc and acc["mean"], ORIGINAL["learning_curve"]["val_accuracy"]))


def _train_vs_val(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[8])
    if ctx.not_run("train-vs-val"):
        return
    g = ctx.folder.groups("train-vs-val")[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}. Both losses are measured at the end of each epoch "
          "with the same weights (the training loss in a separate pass over the training "
          "split), so the two curves compare like with like.")
    _epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                          ("train_accuracy", "training acc"), ("eval_accuracy", "validation acc")],
                 caption=f"{seeds_phrase(g['n'])} per epoch")
    ctx.figure("train_vs_val", "Training vs validation loss and accuracy per epoch.")
    last = _last_epoch(g)
    tl, vl = _epoch_stat(g, last, "train_loss"), _epoch_stat(g, last, "eval_loss")
    if tl and vl:
        gap = vl["mean"] - tl["mean"]
        doc.p(f"After {last} epochs the validation loss is {vl['mean']:.4f} and the training "
              f"loss {tl['mean']:.4f} (gap {gap:+.4f}): " +
              ("the network has started to fit the training split more closely than it "
               "generalizes." if gap > 0.02 else
               "no sign of overfitting yet; the two curves still fall together."))


def _seeds(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[9])
    if ctx.not_run("seeds"):
        return
    g = ctx.folder.groups("seeds")[0]
    doc.p(f"Setting: {_q7_setting(ctx, g)}; {g['n']} seeds ({', '.join(map(str, g['seeds']))}). "
          "A seed fixes both the initial weights and the batch order. Mean ± sample standard "
          "deviation (ddof=1) across seeds:")
    _epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                          ("eval_accuracy", "validation acc")])
    ctx.figure("seeds", f"Mean ± std over {g['n']} seeds (bands), each seed as a thin line.")
    acc, loss = _final_stat(g, "eval_accuracy"), _final_stat(g, "eval_loss")
    o = ORIGINAL["seeds"]
    if acc and acc.get("std") is not None:
        doc.p(f"After epoch {_last_epoch(g)} the validation accuracy is {_pm(acc)} and the "
              f"validation loss {_pm(loss, n=False)} across seeds. The original reported "
              f"{o['val_accuracy'][0]} ± {o['val_accuracy'][1]} (accuracy) and "
              f"{o['val_loss'][0]} ± {o['val_loss'][1]} (loss) over {o['n']} runs"
              + ("" if ctx.mnist else " on MNIST, a different level; only the spreads compare")
              + ". A standard deviation over a handful of seeds is itself rough (over 3 "
                "seeds it can easily be off by a factor of 2), so spreads that differ by less "
                "than that agree.")
    _row(ctx, f"{o['n']} runs, 5 epochs",
         f"val acc {o['val_accuracy'][0]} ± {o['val_accuracy'][1]}, val loss "
         f"{o['val_loss'][0]} ± {o['val_loss'][1]}",
         f"val acc {_pm(acc)}, val loss {_pm(loss, n=False)}"
         + (f" after {_last_epoch(g)} epochs" if _last_epoch(g) != 5 else ""),
         _compare_phrase(ctx, acc and acc["mean"], o["val_accuracy"][0]) +
         _spread_phrase(ctx, acc))


def _spread_phrase(ctx: _Ctx, acc: Mapping | None) -> str:
    """Compare the seed-to-seed spread with the gaps between learning rates."""
    if not acc or acc.get("std") is None:
        return ""
    means = sorted((_final_stat(g, "eval_accuracy") or {}).get("mean")
                   for g in ctx.folder.groups("learning-rates")
                   if (_final_stat(g, "eval_accuracy") or {}).get("mean") is not None)
    if len(means) < 2:
        return ""
    gap = min(b - a for a, b in itertools.pairwise(means))
    if gap > 2 * acc["std"]:
        return (f"; the seed-to-seed std ({acc['std']:.4f}) is smaller than half the "
                f"smallest gap between learning rates ({gap:.4f})")
    return (f"; the seed-to-seed std ({acc['std']:.4f}) is as large as some gaps between "
            f"learning rates ({gap:.4f}): single runs cannot rank those")


def _learning_rates(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[10])
    if ctx.not_run("learning-rates"):
        return
    groups = sorted(ctx.folder.groups("learning-rates"), key=lambda g: g["config"]["lr"])
    lr0 = groups[0]["config"]["lr"]
    setting = _q7_setting(ctx, groups[0]).replace(f"lr {lr0:g}", "lr varied")
    doc.p(f"Setting: {setting}; {groups[0]['n']} seeds per learning rate (the same seeds at "
          "every rate, so the runs differ only in the learning rate).")
    rows = []
    for g in groups:
        lr = g["config"]["lr"]
        acc = _final_stat(g, "eval_accuracy")
        orig = ORIGINAL["learning_rates"].get(lr)
        rows.append([f"{lr:g}", _pm(acc), _pm(_final_stat(g, "eval_loss"), n=False),
                     _pm(_final_stat(g, "train_loss"), n=False),
                     f"{orig}" if orig is not None else "-"])
    doc.table(["learning rate", "validation acc", "validation loss", "training loss",
               "original (1 run" + (", MNIST)" if not ctx.mnist else ")")], rows,
              "after the last epoch; mean ± std over seeds")
    ctx.figure("learning_rates", "Validation and training curves per learning rate "
                                 "(mean ± std over seeds).")
    ctx.figure("learning_rates_final", "Last-epoch validation accuracy and loss against the "
                                       "learning rate" + (", with the original's single runs"
                                                          if ctx.mnist else "") + ".")
    best = max(groups, key=lambda g: (_final_stat(g, "eval_accuracy") or {}).get("mean") or -1)
    why = (f"in {_last_epoch(groups[0])} epochs plain SGD with smaller steps has not converged "
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
          f"({_pm(_final_stat(best, 'eval_accuracy'))}): {why}.{edge}")
    meas = ", ".join(
        f"{g['config']['lr']:g}: {_f((_final_stat(g, 'eval_accuracy') or {}).get('mean'))}"
        for g in groups)
    verdict = "" if ctx.mnist else "not comparable (original is MNIST); "
    stds = [(_final_stat(g, "eval_accuracy") or {}).get("std") for g in groups
            if g["config"]["lr"] in (0.003, 0.01)]
    stds = [x for x in stds if x is not None]
    gap = abs(ORIGINAL["learning_rates"][0.003] - ORIGINAL["learning_rates"][0.01])
    if ctx.mnist and stds and max(stds) >= gap / 2:
        verdict += (f"the original ranked lr 0.003 above 0.01 from single runs {gap:.4f} apart, "
                    f"while the seed-to-seed std here is up to {max(stds):.4f}; ")
    _row(ctx, "lr sweep, batch 16",
         " / ".join(f"{v}" for v in ORIGINAL["learning_rates"].values())
         + " for lr " + " / ".join(f"{k:g}" for k in ORIGINAL["learning_rates"]),
         f"mean val acc {meas} (n={groups[0]['n']} each)"
         + (f" after {_last_epoch(groups[0])} epochs" if _last_epoch(groups[0]) != 5 else ""),
         verdict + f"best here: lr {best['config']['lr']:g}")


def _final(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[11])
    choice = ctx.m.get("final_choice")
    if ctx.not_run("final"):
        return

    g = ctx.folder.groups("final")[0]
    cfg = g["config"]
    doc.p(f"**The rule**: {FINAL_RULE}.")
    if choice:
        doc.p(f"**The choice**: lr {choice['lr']:g}, batch {choice['batch_size']}, because "
              f"{choice['reason']}.")
        cands = choice.get("candidates") or []
        if cands:
            doc.table(["rank", "lr", "batch", "validation acc (last epoch)", "from"],
                      [[str(i + 1), f"{c['lr']:g}", str(c["batch_size"]),
                        _pm({"mean": c["mean"], "std": c["std"], "n": c["n"]}),
                        ", ".join(c["from"])] for i, c in enumerate(cands)],
                      "every configuration the rule considered, best first")
    doc.p(f"The final runs train on the **full training set** "
          f"({'at most ' + str(cfg['limit']) + ' images, ' if cfg.get('limit') else ''}"
          f"no validation split held out) for {cfg['epochs']} epochs with {g['n']} seeds and "
          "are evaluated once on the **canonical test set** (10,000 images), which no choice "
          "above has seen.")
    acc, loss = _final_stat(g, "eval_accuracy"), _final_stat(g, "eval_loss")
    rows = [[f"seed {s}", "-", "-"] for s in g["seeds"]]
    for i, t in enumerate(g.get("trials", [])):
        s = read_json(ctx.folder.preset_dir("final") / t / "summary.json") or {}
        rows[i][1:] = [_f(s.get("eval_accuracy")), _f(s.get("eval_loss"))]
    rows.append(["**mean ± std**", _pm(acc), _pm(loss, n=False)])
    doc.table(["run", "test accuracy", "test loss"], rows)
    ctx.figure("final", "Test accuracy of each final run and their mean ± std, with reference "
                        "lines.")
    ctx.figure("final_confusion", "Confusion matrix of the first final run on the test set.")
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
    _row(ctx, f"final: lr {o['lr']}, batch {o['batch_size']}, {o['epochs']} epochs, test set",
         f"test acc {o['test_accuracy']}, test loss {o['test_loss']}",
         f"lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['epochs']} epochs: test acc "
         f"{_pm(acc)}, test loss {_pm(loss, n=False)}",
         _compare_phrase(ctx, acc and acc["mean"], o["test_accuracy"]))


def _full_batch(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[12])
    if ctx.not_run("full-batch"):
        return
    g = ctx.folder.groups("full-batch")[0]
    last = _last_epoch(g)
    o = ORIGINAL["full_batch"]
    doc.p(f"Gradient descent on the whole training split: one weight update per epoch, lr "
          f"{g['config']['lr']:g}, {last} epochs, {g['n']} seed(s) "
          f"({ctx.dataset}"
          + (f", at most {g['config']['limit']} images" if g["config"].get("limit") else "")
          + ").")
    _epoch_table(ctx, g, [("train_loss", "training loss"), ("eval_loss", "validation loss"),
                          ("train_accuracy", "training acc"), ("eval_accuracy", "validation acc")],
                 every=max(1, last // 10))
    ctx.figure("full_batch", "Full-batch gradient descent: training and validation loss and "
                             "accuracy per epoch; the dotted line marks epoch 10.")
    at10 = _epoch_stat(g, o["epochs_run"], "eval_accuracy")
    reach = _first_epoch_reaching(g, "eval_accuracy", o["accuracy"])
    txt = (f"After {o['epochs_run']} epochs: validation accuracy {_pm(at10)}; after {last}: "
           f"{_pm(_final_stat(g, 'eval_accuracy'))}. ")
    if not ctx.mnist:
        txt += f"(The original's {o['accuracy']} is an MNIST number.)"
    elif reach is not None:
        txt += f"The runs first reach the original's {o['accuracy']} at epoch {reach}."
    else:
        txt += f"The runs never reach the original's {o['accuracy']} in {last} epochs."
    doc.p(txt + " With one update per epoch, 10 epochs are only 10 steps: full-batch "
                "gradient descent needs far more epochs than mini-batch SGD for the same "
                "accuracy.")
    _row(ctx, f"full batch, lr {o['lr']}, {o['epochs_run']} epochs (text claims "
              f"{o['epochs_claimed']})", f"acc {o['accuracy']}",
         f"val acc {_f(at10 and at10['mean'])} at epoch {o['epochs_run']}, "
         f"{_f((_final_stat(g, 'eval_accuracy') or {}).get('mean'))} at epoch {last}",
         "original inconsistent: the code ran 10 epochs while the text says 100"
         + ("" if not ctx.mnist else
            f"; we first reach {o['accuracy']} at epoch {reach}" if reach else
            f"; {o['accuracy']} is not reached in {last} epochs here")
         + ("" if ctx.mnist else "; accuracies not comparable (original is MNIST)"))


def _batch_sizes(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[13])
    if ctx.not_run("batch-sizes"):
        return
    groups = sorted(ctx.folder.groups("batch-sizes"), key=lambda g: g["config"]["batch_size"])
    doc.p(f"Batch sizes {', '.join(str(g['config']['batch_size']) for g in groups)} at lr "
          f"{groups[0]['config']['lr']:g}, {groups[0]['n']} seeds each, same seeds at every "
          "size. The figure shows validation accuracy against **epochs** (examples seen: "
          "every epoch is one pass over the training split), against **optimizer steps** (a "
          "smaller batch makes more updates per epoch) and against **training wall time** "
          "(the cumulative time of the training steps alone, without evaluation).")
    rows = []
    for g in groups:
        fin = g.get("final") or {}
        rows.append([str(g["config"]["batch_size"]), _pm(fin.get("eval_accuracy")),
                     _pm(fin.get("eval_loss"), n=False), _pm(fin.get("train_seconds"), 2,
                                                             n=False)])
    doc.table(["batch size", "validation acc (last epoch)", "validation loss",
               "training seconds per epoch (last)"], rows)
    ctx.figure("batch_sizes", "Batch sizes: validation accuracy against epochs, optimizer "
                              "steps (log scale) and training wall time; validation loss per "
                              "epoch (mean ± std over seeds).")
    best = max(groups, key=lambda g: (_final_stat(g, "eval_accuracy") or {}).get("mean") or -1)
    text = (f"After the same number of epochs the best batch size here is "
            f"{best['config']['batch_size']}")
    if best is groups[0]:
        text += (": at a fixed learning rate a smaller batch makes more weight updates per "
                 "pass over the data")
    times = [((g.get("final") or {}).get("train_seconds") or {}).get("mean") for g in groups]
    if all(t is not None for t in times):
        fast = groups[times.index(min(times))]
        slow = groups[times.index(max(times))]
        text += (f". One epoch of training took {min(times):.2f} s with batch "
                 f"{fast['config']['batch_size']} and {max(times):.2f} s with batch "
                 f"{slow['config']['batch_size']} (mean over seeds, last epoch)")
        if (ctx.m.get("workers") or 1) > 1:
            text += (f"; these times were measured while {ctx.m['workers']} runs shared the "
                     "machine, so they are rough (their ± shows the noise)")
    doc.p(text + ".")
    _row(ctx, "batch sizes 8 / 16 / 32 / 64", "plot only",
         ", ".join(f"{g['config']['batch_size']}: "
                   f"{_f((_final_stat(g, 'eval_accuracy') or {}).get('mean'))}" for g in groups),
         f"numbers with mean ± std; best per epoch: batch {best['config']['batch_size']}")


def _unscaled(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[14])
    if ctx.not_run("unscaled-pixels"):
        return
    g = ctx.folder.groups("unscaled-pixels")[0]
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
            ["pixels scaled to [0, 1]", _f(sc["mean_input_norm"], 1),
             f"{sc['saturated_at_init']:.1%}", f"{sc['saturated_after_training']:.1%}"],
            ["raw 0-255 pixels", _f(un["mean_input_norm"], 1), f"{un['saturated_at_init']:.1%}",
             f"{un['saturated_after_training']:.1%}"],
        ], f"a unit is saturated when its output is below 0.01 or above 0.99; over "
           f"{un['examples']} evaluation images (live)")
    rows = []
    if ref:
        rows.append(["pixels scaled to [0, 1]", _pm(_final_stat(ref, "eval_accuracy")),
                     _pm(_final_stat(ref, "eval_loss"), n=False)])
    rows.append(["raw 0-255 pixels", _pm(_final_stat(g, "eval_accuracy")),
                 _pm(_final_stat(g, "eval_loss"), n=False)])
    doc.table(["inputs (batch 16, lr 0.01)", "validation acc (last epoch)", "validation loss"],
              rows)
    ctx.figure("unscaled", "Scaled vs raw pixels at the same settings (mean ± std over seeds).")
    if ref:
        a = (_final_stat(ref, "eval_accuracy") or {}).get("mean")
        b = (_final_stat(g, "eval_accuracy") or {}).get("mean")
        if a is not None and b is not None:
            if a - b > 0.005:
                effect = (f"raw pixels cost {a - b:.4f} of validation accuracy at these "
                          "settings")
            elif b - a > 0.005:
                still = (f" (still {s['unscaled']['saturated_after_training']:.0%} after "
                         "training)" if s else "")
                effect = (f"raw pixels did not cost accuracy at these settings (they are "
                          f"{b - a:.4f} higher): with almost every hidden unit stuck at 0 or "
                          f"1{still} the hidden layer acts as a binary code on which the output "
                          "layer still learns")
            else:
                effect = "raw and scaled pixels end within 0.005 of each other at these settings"
            doc.p(f"Last-epoch validation accuracy: {a:.4f} with scaled pixels, {b:.4f} with "
                  f"raw pixels; {effect}.")
            sat = ""
            if s:
                sat = (f"; {s['unscaled']['saturated_at_init']:.0%} of hidden units saturated "
                       f"at initialization vs {s['scaled']['saturated_at_init']:.1%}")
            _row(ctx, "pixel scaling", "none (raw 0-255)",
                 f"val acc {b:.4f} raw vs {a:.4f} scaled{sat}",
                 f"original wrong: pixels must be scaled, the sigmoids saturate; {effect}")


def _wrong(ctx: _Ctx) -> None:
    doc = ctx.doc
    doc.h(2, SECTIONS[15])
    w = ctx.folder.checks.get("worked_example") or {}
    items = [
        "**Q3, the third row of dl/dV** (0.0596 instead of 0.4404): a mistyped weight. "
        + ("Our engine reproduces 0.0596 exactly when the third hidden unit's incoming "
           "weights are entered with flipped signs (section Q3)."
           if (w.get("mistyped") or {}).get("reproduces_original") else
           "See section Q3."),
        ("**Unscaled pixels**: the MNIST images were fed as 0-255 values, which saturates "
        "the sigmoid hidden units from the first step (section *The original's unscaled "
        "pixels*); every MNIST number of the original is affected."),
        ("**Per-split normalization**: each split was scaled by its own statistics, so the "
        "validation inputs were not transformed like the training inputs. A synthetic "
        f"validation accuracy ({ORIGINAL['synth']['val_accuracy']}) below that of always "
        "answering the majority class shows such a mismatch; section Q4 measures what each "
        "kind costs (the same method with each split's own statistics, and different "
        "scalings for the two splits). Statistics must come from the training split only."),
        ("**10 vs 100 epochs**: the full-batch experiment's text claims 100 epochs, the run "
        "behind its 0.838 had 10 (section *Extra: full-batch gradient descent*, which shows "
        "both)."),
        ("**Single runs**: the learning-rate comparison used one run per rate, so differences "
        "smaller than the seed-to-seed spread (section Q7 (2)) were read as real; here every "
        "comparison is a mean ± std over seeds."),
    ]
    doc.ul(items)


def _how(ctx: _Ctx) -> None:

    doc, m = ctx.doc, ctx.m
    doc.h(2, SECTIONS[16])
    doc.p("Every number above was computed by `backproplab reproduce` in this folder: the "
          "runs are in `presets/NAME/` (one run folder per trial with `config.json`, "
          "`metrics.jsonl`, `batches.jsonl`, `model.npz`, `summary.json`), the aggregated "
          "results in `presets/NAME/results.json` and `results.csv`, the live checks in "
          "`checks.json`, the figures in `figures/`. Rerunning the same command resumes "
          "(finished runs are skipped); `--overwrite` starts over.")
    if m.get("command"):
        doc.code(m["command"])
    rows = []
    for p in PRESETS:
        info = (m.get("presets") or {}).get(p.name)
        res = ctx.folder.results(p.name)
        if res:
            counts = res.get("counts", {})
            state = f"{counts.get('ok', 0)} ok" + (
                f", {counts.get('failed', 0)} failed" if counts.get("failed") else "")
        else:
            state = "not run"
        grid = "; ".join(f"{k} in {', '.join(map(str, v))}" for k, v in p.grid.items()) or "-"
        seeds = p.quick_seeds if ctx.quick else p.seeds
        rows.append([f"`{p.name}`", p.question, grid, str(seeds), state,
                     f"`presets/{p.name}`" if info or res else "-"])
    doc.table(["preset", "answers", "varies", "seeds", "runs", "folder"], rows)
    doc.ul([
        ("Statistics: mean and sample standard deviation (ddof=1, dividing by n-1) across "
        "seeds; `n` is the number of seeds."),
        ("Seeds: a seed fixes the initial weights and the batch order; trials that share a "
        "seed start from the same weights and see the same batches, whatever else differs."),
        ("Per-batch curves are smoothed with a bias-corrected exponential moving average; the "
        "figure legends give its weight."),
        ("Identical configurations in several presets are trained once and copied (their "
        "`summary.json` says `copied_from`)."),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()),
    ])


__all__ = ["SECTIONS", "Doc", "build_report", "write_report"]
