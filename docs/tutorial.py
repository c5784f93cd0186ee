# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # backproplab tutorial: the study Q1 to Q7 through the Python API
#
# This notebook walks through the study that backproplab implements (a
# multilayer perceptron written from scratch twice, trained on a synthetic
# ellipse and on images), one question at a time:
#
# | part | what you do here |
# |---|---|
# | Q1-Q2 | check `dl/do = y - onehot(c)` with finite differences |
# | Q3 | one forward and backward pass of the study's 2-3-2 network, by hand-sized numbers |
# | Q4 | train the pure-Python scalar engine on a few hundred synthetic points |
# | check | compare every gradient of both engines with finite differences |
# | your own | check your own backprop and get the mistake named |
# | Q5-Q6 | train the NumPy tensor engine on `synth` and on Fashion-MNIST |
# | inspect | look at what the networks learned: boundaries, weights, mistakes |
# | Q7 | a small sweep over learning rates and seeds, mean ± std |
#
# The runs it trains go into a temporary folder that is removed at the end; the
# figures it draws are kept in `backproplab-tutorial-figures/` in the current
# folder, and every one is printed with its path. It runs in well under a minute
# on two cores. Open it with `jupyter lab
# docs/tutorial.ipynb` (after `pip install jupyterlab`) or run the same code as a
# script: `python docs/tutorial.py`. The notebook is generated from that script
# by jupytext (`jupytext --to ipynb docs/tutorial.py`): edit the script.

# %%
import math
import os
import tempfile
from pathlib import Path

import numpy as np

# Plots are written to files; no display is needed (inline plots are not used).
os.environ.setdefault("MPLBACKEND", "Agg")

from backproplab import gradcheck, inspection, scalar
from backproplab.check import check_file
from backproplab.data import load_dataset
from backproplab.data.catalog import locate
from backproplab.fileio import read_json
from backproplab.runs import RESULTS, RunFolder
from backproplab.study.figures import compare
from backproplab.sweeps import Sweep, run_sweep
from backproplab.training import ScalarSGD, TrainConfig, fit, run_training

workdir = tempfile.TemporaryDirectory(prefix="backproplab-tutorial-")
WORK = Path(workdir.name)
FIGURES = Path("backproplab-tutorial-figures").resolve()
FIGURES.mkdir(exist_ok=True)


def show(path):
    """Print where a figure is; in a notebook, display it inline too."""
    print("figure:", path)
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Image(filename=str(path)))


print("runs in", WORK, "(temporary); figures in", FIGURES)

# %% [markdown]
# ## Q1-Q2: the derivative of softmax followed by cross-entropy
#
# With logits `o`, probabilities `y = softmax(o)` and the loss `l = -log y_c`
# for the true class `c`, the chain rule through softmax and the logarithm
# collapses to `dl/do_i = y_i - [i == c]`. The full derivation is in
# [`derivations.md`](derivations.md); here we check the formula numerically with
# the scalar engine's own functions and a central finite difference
# `(l(o + eps) - l(o - eps)) / (2 eps)`.

# %%
o, c, eps = [0.3, -1.2, 2.0], 2, 1e-6
y = scalar.softmax(o)
analytic = [y_i - (i == c) for i, y_i in enumerate(y)]
numeric = []
for i in range(len(o)):
    up = [v + eps * (j == i) for j, v in enumerate(o)]
    down = [v - eps * (j == i) for j, v in enumerate(o)]
    numeric.append((scalar.cross_entropy_from_logits(up, c)
                    - scalar.cross_entropy_from_logits(down, c)) / (2 * eps))
print("y          ", [round(v, 6) for v in y])
print("y - onehot ", [round(v, 6) for v in analytic])
print("numeric    ", [round(v, 6) for v in numeric])
assert max(abs(a - n) for a, n in zip(analytic, numeric)) < 1e-8

# %% [markdown]
# ## Q3: the worked example
#
# The study's network has 2 inputs, 3 sigmoid hidden units and 2 softmax
# outputs. `W` is 2x3 (input `i` to hidden unit `j`) and `V` is 3x2 (hidden
# unit `j` to output `k`); the biases `b` and `c` are zero. The input is
# `x = [1, -1]` and the target class is 0. `scalar.MLP.from_weights` builds the
# network from these lists; `forward` keeps every intermediate in a trace and
# `backward` returns every gradient.

# %%
W = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]
b = [0.0, 0.0, 0.0]
V = [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]]
c_bias = [0.0, 0.0]
net = scalar.MLP.from_weights([W, V], [b, c_bias])

trace = net.forward([1.0, -1.0], 0)
print("k    =", trace.k[0])
print("h    =", trace.h[0])
print("o    =", trace.o)
print("y    =", trace.y)
print("loss =", trace.loss, " (ln 2 =", math.log(2), ")")

grads = net.backward(trace)
dW, dV = grads.dW
db, dc = grads.db
print("dl/dV =")
for row in dV:
    print("   ", row)
print("dl/dc =", dc)
print("dl/dW =", dW)
print("dl/db =", db)

# %% [markdown]
# Every row of `dl/dV` is `h_j * (y - onehot(0)) = 0.8808 * [-0.5, 0.5]`, so the
# third row is **[-0.4404, 0.4404]**. The original report printed 0.0596 there,
# from a mistyped weight. `dl/dW` and `dl/db` are exactly zero: the two columns
# of `V` are equal, so both outputs pull on each hidden unit equally and
# `dl/dh = 0`. That symmetry would also hide a bug in the hidden layer's
# backward pass, which is why we check gradients on random networks below.

# %%
h = 1 / (1 + math.exp(-2))
assert all(abs(row[0] + h / 2) < 1e-15 and abs(row[1] - h / 2) < 1e-15 for row in dV)
assert abs(dV[2][1] - 0.44039853898894116) < 1e-15
assert dc == [-0.5, 0.5]
assert all(v == 0.0 for row in dW for v in row) and all(v == 0.0 for v in db)

# %% [markdown]
# ## Q4: the scalar engine learns the ellipse
#
# The synthetic set has two standard-normal features; the label is 1 outside an
# ellipse (`x^T Q x > 0.6`). `load_dataset("synth", limit=...)` keeps the first
# training points and standardizes every split with statistics of the training
# split only. `fit` with `ScalarSGD` runs the study's per-example SGD on a 2-8-2
# scalar network (normal initial weights, zero biases) and records loss and
# accuracy per epoch, through the same epoch loop as the tensor engine; the loss
# must drop.

# %%
synth = load_dataset("synth", limit=400)
print("first points:\n", synth.X_train[:3], "\nlabels:", synth.y_train[:3])
print("class 1 share:", synth.y_train.mean().round(3))

small = scalar.MLP([2, 8, 2], seed=0)
history = fit(small, ScalarSGD(0.1), synth.X_train, synth.y_train, epochs=8, rng=0,
              X_eval=synth.X_eval[:2000], y_eval=synth.y_eval[:2000])
for record in history:
    print(f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}, "
          f"validation accuracy {record['eval_accuracy']:.3f}")

# %% [markdown]
# ## Checking gradients with finite differences
#
# `backproplab.gradcheck` builds random networks of several shapes (random
# biases too, so nothing is symmetric), and compares every analytic gradient with
# a central finite difference. The relative error should be tiny for both
# engines.

# %%
for result in (gradcheck.check_scalar(seed=0), gradcheck.check_tensor(seed=0)):
    print(f"{result.engine}: passed={result.passed}, "
          f"largest relative error {result.max_rel_error:.1e} (tolerance {result.tol:g})")
    assert result.passed

# %% [markdown]
# A check that cannot fail is worth nothing. Here a deliberately broken backward
# pass, which scales the first layer's weight gradients by 0.9, is caught:

# %%
def broken_backward(model, trace):
    grads = model.backward(trace)
    grads.dW[0] = [[0.9 * v for v in row] for row in grads.dW[0]]
    return grads


broken = gradcheck.check_scalar(seed=0, backward=broken_backward)
print(f"broken backward: passed={broken.passed}, "
      f"largest relative error {broken.max_rel_error:.2f}")
assert not broken.passed

# %% [markdown]
# ## Check your own implementation
#
# Finite differences tell you *that* a gradient is wrong. `backproplab check`
# (here its Python form, `backproplab.check.check_file`) tells you *which
# mistake* you made. It runs your `backward(x, t, W, b, V, c)` in its own process
# on several probe networks, compares every quantity with the scalar engine, and
# matches what is wrong against known mistakes (see [`check.md`](check.md)).
#
# Below, a learner's file makes the original write-up's mistake: the sigmoid's
# derivative taken at the pre-activation, `k(1 - k)`, instead of `h(1 - h)`. The
# study's Q3 network cannot reveal it (there `dl/dh = 0`); the other probes do.

# %%
mine = WORK / "my_backprop.py"
mine.write_text("""
import math

def backward(x, t, W, b, V, c):
    k = [b[j] + sum(x[i] * W[i][j] for i in range(len(x))) for j in range(len(b))]
    h = [1 / (1 + math.exp(-v)) for v in k]
    o = [c[n] + sum(h[j] * V[j][n] for j in range(len(h))) for n in range(len(c))]
    e = [math.exp(v - max(o)) for v in o]
    do = [v / sum(e) - (n == t) for n, v in enumerate(e)]
    dh = [sum(V[j][n] * do[n] for n in range(len(do))) for j in range(len(h))]
    dk = [g * kj * (1 - kj) for g, kj in zip(dh, k)]  # the write-up's k(1 - k)
    return {"dW": [[xi * d for d in dk] for xi in x], "db": dk,
            "dV": [[hj * d for d in do] for hj in h], "dc": do}
""")
report, _ = check_file(mine)
print(report.status)
for name, quantity in report.quantities.items():
    print(f"  {name:<3} {'ok' if quantity.ok else 'WRONG'}  largest error {quantity.max_error:.2g}")
for finding in report.diagnoses:
    print(f"[{finding.id}] {finding.message}")
assert [f.id for f in report.diagnoses] == ["sigmoid-derivative-at-preactivation"]

# %% [markdown]
# The same from the command line: `backproplab check my_backprop.py` (add
# `--graph mine.svg` to see your values beside the reference on the computation
# graph, or give a folder to check a whole class's files).

# %% [markdown]
# ## Q5-Q6: the tensor engine, a whole run at a time
#
# The tensor engine computes whole mini-batches in single NumPy calls.
# `run_training` trains from a `TrainConfig` and writes a *run folder*: the
# config, the metrics per epoch and per step, the model and a summary.
# `inspect=True` also stores snapshots (first-layer weights, hidden activations,
# synth's decision boundary) at initialization and after every epoch, for the
# figures further down. `RunFolder` reads a run folder back.

# %%
synth_run = WORK / "synth"
summary = run_training(
    TrainConfig(dataset="synth", limit=5000, hidden=(16,), lr=0.1, batch_size=16,
                epochs=3, inspect=True),
    synth_run, progress="quiet")
print(f"synth: validation accuracy {summary['eval_accuracy']:.3f} "
      f"after {summary['epochs']} epochs ({summary['seconds']:.1f} s)")
run = RunFolder(synth_run)
print("validation loss per epoch:", run.metric("eval_loss").round(4))

# %% [markdown]
# Now images. The study uses MNIST; here we use Fashion-MNIST (clothes, ten
# classes, the same 28x28 format), which Debian installs as
# `dataset-fashion-mnist` and backproplab finds on its own. To stay fast we keep
# 3,000 training images and train the study's 784-300-10 sigmoid network for two
# epochs. Pixels are scaled to [0, 1] (the original report forgot this and
# saturated its sigmoids). If Fashion-MNIST is not on this machine, the notebook
# says so and shows the synthetic run's figures only.

# %%
fashion_run = None
if locate("fashion-mnist") is None:
    print("Fashion-MNIST was not found on this machine (see docs/datasets.md to add it); "
          "the image parts below are skipped and only synth is used.")
else:
    fashion_run = WORK / "fashion"
    summary = run_training(
        TrainConfig(dataset="fashion-mnist", limit=3000, hidden=(300,), lr=0.1,
                    batch_size=16, epochs=2, inspect=True),
        fashion_run, progress="quiet")
    print(f"Fashion-MNIST: validation accuracy {summary['eval_accuracy']:.3f} "
          f"after {summary['epochs']} epochs ({summary['seconds']:.1f} s)")

# %% [markdown]
# ## What the networks learned
#
# `backproplab.inspection` draws figures from run folders only (it never trains);
# given a path, it writes the figure there (here: into the figures folder).
# For the synthetic run: the learned probability of class 1 with the true
# ellipse drawn over it, and how the hidden activations spread out over the
# epochs.

# %%
show(inspection.decision_boundary(synth_run, FIGURES / "synth_boundary.png"))
show(inspection.activations(synth_run, FIGURES / "synth_activations.png"))

# %% [markdown]
# For Fashion-MNIST: a few training images per class; what the first layer
# learned, the change `W - W_init` of each hidden unit's incoming weights as a
# 28x28 tile on its own symmetric scale (the raw weights would look like the
# same random noise before and after two short epochs; their change already
# shows outlines of clothes; `inspection.weights(run, raw=True)` draws the raw
# ones); the validation images the network is most confidently wrong about;
# and the confusion matrix (shirts, T-shirts, pullovers and coats are the usual
# mix-ups).

# %%
if fashion_run is not None:
    for name, figure in (("examples", inspection.examples), ("weights", inspection.weights),
                         ("errors", inspection.misclassified),
                         ("confusion", inspection.confusion)):
        show(figure(fashion_run, FIGURES / f"fashion_{name}.png"))

# %% [markdown]
# `inspection.plot_all(run_folder)` writes every figure a run allows at once (it is
# what the `backproplab plot` command does), including an animated GIF of the
# synthetic boundary epoch by epoch.
#
# ## Q7: a small sweep, mean ± std over seeds
#
# A single run says little: another seed gives another number. A `Sweep` is a
# grid of options times a list of seeds; `run_sweep` trains every trial (here
# two at a time, in worker processes) and aggregates them into `results.json`:
# for each grid point, the mean and the sample standard deviation over seeds,
# per epoch and at the end.
#
# The workers are new Python processes ("spawn"), and each one imports the main
# module again. In a notebook there is no main file; run as `python
# docs/tutorial.py`, the main module is this script, so the cell hides the
# script's path from the workers (they need only backproplab). In a script of
# your own, put the sweep under `if __name__ == "__main__":` instead.

# %%
globals().pop("__file__", None)  # workers must not rerun this script (see above)
sweep = Sweep(TrainConfig(dataset="synth", limit=2000, hidden=(16,), batch_size=16, epochs=3),
              grid={"lr": [0.03, 0.3]}, seeds=[0, 1, 2])
sweep_dir = WORK / "sweep"
outcome = run_sweep(sweep, sweep_dir, workers=2, progress="quiet")
print("trials:", sweep.trial_names(), "all ok:", outcome.ok)

results = read_json(sweep_dir / RESULTS)
for group in results["groups"]:
    final = group["final"]["eval_accuracy"]
    print(f"{group['label']}: validation accuracy {final['mean']:.4f} ± {final['std']:.4f} "
          f"over {final['n']} seeds {group['seeds']}")

# %% [markdown]
# Each trial is an ordinary run folder, so `RunFolder` reads any one seed's
# curve, and `study.figures.compare` draws the groups as mean curves with 95% interval bands.

# %%
for group in results["groups"]:
    for name in group["trials"]:
        trial = RunFolder(sweep_dir / name)
        print(name, "validation accuracy per epoch:", trial.metric("eval_accuracy").round(4))

groups = [(group["label"], [sweep_dir / name for name in group["trials"]])
          for group in results["groups"]]
show(compare(groups, FIGURES / "sweep.png", title="synth, 2-16-2: learning rates over 3 seeds"))
assert np.isfinite(results["groups"][0]["final"]["eval_accuracy"]["std"])

# %% [markdown]
# ## Your own data: a CSV file
#
# A table of your own trains the same way (`--dataset data.csv` on the command
# line): a header row, numeric features, and a label column (`target`, by default
# the last) whose values, numbers or text, become the class names as written. A
# stratified tenth of every class validates, the features are standardized with
# the training split's statistics, and `model.npz` keeps the class names, the
# feature names and the statistics, so the predictor takes raw rows. Reading CSV
# needs pandas (`pip install "backproplab[data]"`). Here the synthetic points
# become a small table with text labels; [`datasets.md`](datasets.md) has the
# other forms (`.npz`, image folders) and the rules for bad input.

# %%
from backproplab.data import synth
from backproplab.predict import load_predictor

points, labels, _, _ = synth.generate(n_train=3000, n_val=1, seed=0)
table = WORK / "ellipse.csv"
table.write_text("x1,x2,where\n" + "".join(
    f"{a:.6f},{b:.6f},{synth.CLASSES[c]}\n" for (a, b), c in zip(points, labels)))
csv_run = WORK / "csv"
summary = run_training(
    TrainConfig(dataset=str(table), target="where", hidden=(16,), activation="tanh",
                lr=0.1, batch_size=16, epochs=10),
    csv_run, progress="quiet")
print(f"ellipse.csv: validation accuracy {summary['eval_accuracy']:.3f} "
      f"on {summary['n_eval']} held-out rows")
predictor = load_predictor(csv_run)
raw = np.array([[0.0, 0.0], [4.0, 4.0]])  # raw coordinates, as in the file
print("features", predictor.preprocessing.features, "->",
      [predictor.classes[k] for k in predictor.predict(raw)])
assert summary["eval_accuracy"] > 0.8

# %% [markdown]
# ## Clean up
#
# The runs lived in a temporary folder, removed here; the figures stay in the
# figures folder (delete it when done). To go further: `backproplab reproduce`
# runs every experiment of the study and writes a report (see
# [`experiments.md`](experiments.md)).

# %%
workdir.cleanup()
print("removed", WORK)
print("figures kept in", FIGURES)
for path in sorted(FIGURES.iterdir()):
    print("   ", path.name)
