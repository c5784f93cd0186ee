"""A real sweep with known outcomes: a large learning-rate gap is significant
with 5 seeds, two nearly equal learning rates are not. Every interval, p-value
and Holm adjustment in results.json is recomputed here from the runs' own
summary.json files with SciPy; the command line's --test choices too."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from backproplab.sweeps import Sweep, run_sweep
from backproplab.training import TrainConfig

#: 2000 synthetic points, 3 epochs: lr 0.01 barely learns, lr 1.0 reaches ~0.95.
BASE = TrainConfig(dataset="synth", limit=2000, hidden=(8,), batch_size=16, epochs=3)
LRS = [0.01, 1.0, 1.001]
SEEDS = [0, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def known_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("known") / "lr"
    outcome = run_sweep(Sweep(BASE, {"lr": LRS}, seeds=SEEDS), out, workers=2,
                        progress="quiet")
    assert outcome.ok
    return out


def per_seed(out: Path, metric: str) -> dict[str, list[float]]:
    """Each group's final ``metric``, one value per seed, read from summary.json."""
    return {f"lr={lr}": [json.loads((out / f"lr={lr}_seed={s}" / "summary.json").read_text())
                         [metric] for s in SEEDS] for lr in LRS}


def holm_by_hand(ps: list[float]) -> list[float]:
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):  # k-th smallest is multiplied by m - k
        running = max(running, min(1.0, (m - k) * ps[i]))
        adjusted[i] = running
    return adjusted


@pytest.mark.parametrize("metric", ["eval_accuracy", "eval_loss"])
def test_results_json_matches_scipy_on_a_real_sweep(known_sweep, metric):
    res = json.loads((known_sweep / "results.json").read_text())
    values = per_seed(known_sweep, metric)
    for group in res["groups"]:
        x = np.array(values[group["label"]])
        stat = group["final"][metric]
        assert stat["values"] == pytest.approx(x.tolist(), rel=1e-12)
        want = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
        assert stat["ci95"] == pytest.approx(want, rel=1e-9)
    comps = [c for c in res["comparisons"] if c["metric"] == metric]
    pairs = list(itertools.combinations(values, 2))
    assert [(c["a"], c["b"]) for c in comps] == pairs
    raw = []
    for c, (a, b) in zip(comps, pairs):
        t = sps.ttest_ind(values[a], values[b], equal_var=False)
        ci = t.confidence_interval(0.95)
        assert c["test"] == "welch"
        assert c["difference"] == pytest.approx(np.mean(values[a]) - np.mean(values[b]))
        assert c["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-9, abs=1e-12)
        assert c["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
        raw.append(t.pvalue)
    assert [c["p_adjusted"] for c in comps] == pytest.approx(holm_by_hand(raw), rel=1e-9)
    assert [c["significant"] for c in comps] == [p < 0.05 for p in holm_by_hand(raw)]
    # the known outcome: lr 0.01 against either large rate is a real difference with 5
    # seeds; 1.0 against 1.001 is not, and no realistic number of seeds would show it
    assert [c["significant"] for c in comps] == [True, True, False]
    assert comps[2]["p_value"] > 0.5 and comps[2]["seeds_needed"] is None
    assert "more than" in comps[2]["note"]
    assert comps[0]["seeds_needed"] <= 5


def test_the_command_line_chooses_the_test(known_sweep, cli):
    acc = per_seed(known_sweep, "eval_accuracy")
    r = cli("sweep", "--aggregate-only", "--test", "paired", "--out", known_sweep)
    assert r.status == 0, r.err
    assert "every pair of groups (paired t-test, Holm-adjusted)" in r.out
    res = json.loads((known_sweep / "results.json").read_text())
    assert res["test"] == "paired"
    first = res["comparisons"][0]
    assert first["test"] == "paired" and first["p_value"] == pytest.approx(
        sps.ttest_rel(acc["lr=0.01"], acc["lr=1.0"]).pvalue, rel=1e-9)

    r = cli("sweep", "--aggregate-only", "--test", "permutation", "--out", known_sweep)
    assert r.status == 0, r.err
    res = json.loads((known_sweep / "results.json").read_text())
    first = res["comparisons"][0]
    # 5 and 5 seeds: the exact test over all 252 splits; complete separation of the two
    # groups is the most extreme outcome, found in 2 of them
    a, b = acc["lr=0.01"], acc["lr=1.0"]
    pooled, observed = np.array(a + b), abs(np.mean(a) - np.mean(b))
    splits = list(itertools.combinations(range(10), 5))
    extreme = sum(abs(pooled[list(s)].mean() - np.delete(pooled, list(s)).mean())
                  >= observed - 1e-12 for s in splits)
    assert first["test"] == "permutation"
    assert first["p_value"] == pytest.approx(extreme / len(splits)) == pytest.approx(2 / 252)

    r = cli("sweep", "--aggregate-only", "--test", "anova", "--out", known_sweep)
    assert r.status == 2 and "invalid choice: 'anova'" in r.err
    r = cli("sweep", "--aggregate-only", "--out", known_sweep)  # back to the default
    assert json.loads((known_sweep / "results.json").read_text())["test"] == "welch"
    assert math.isfinite(json.loads((known_sweep / "results.json").read_text())
                         ["comparisons"][0]["seeds_needed"])
