"""Presets: the registry, the sweeps they build, the final run's choice rule, the CLI."""

from __future__ import annotations

import json

import pytest

from backproplab.errors import BackproplabError
from backproplab.study import presets as P

# the experiments docs/study.md asks for, by preset name
REQUIRED = {"q4-synth", "full-batch", "learning-curve", "train-vs-val", "seeds",
            "learning-rates", "batch-sizes", "final"}


def test_every_experiment_of_the_study_has_a_preset():
    names = P.preset_names()
    assert REQUIRED <= set(names)
    assert len(names) == len(set(names))
    for p in P.PRESETS:
        assert p.question and p.answers


def test_presets_follow_the_study():
    assert P.get_preset("learning-rates").grid["lr"] == (0.001, 0.003, 0.01, 0.03)
    assert P.get_preset("learning-rates").seeds >= 3
    assert P.get_preset("batch-sizes").grid["batch_size"] == (8, 16, 32, 64)
    assert P.get_preset("batch-sizes").seeds >= 3
    assert P.get_preset("seeds").seeds >= 5
    fb = P.get_preset("full-batch").options(dataset="mnist")
    assert fb["batch_size"] == "full" and fb["lr"] == 0.1 and fb["epochs"] >= 100
    lc = P.get_preset("learning-curve").options(dataset="mnist")
    assert (lc["batch_size"], lc["lr"], lc["epochs"]) == (16, 0.01, 5)
    q4 = P.get_preset("q4-synth").options(dataset="mnist")
    assert q4["engine"] == "scalar" and q4["dataset"] == "synth"
    final = P.get_preset("final").options(dataset="mnist", chosen={"lr": 0.03,
                                                                   "batch_size": 32})
    assert final["final"] is True and (final["lr"], final["batch_size"]) == (0.03, 32)


@pytest.mark.parametrize("quick", [False, True])
def test_every_preset_builds_a_valid_sweep(quick):
    for p in P.PRESETS:
        sweep = p.sweep(dataset="fashion-mnist", quick=quick, limit=None)
        assert len(sweep) == p.n_trials(quick)
        for trial in sweep.trials("/tmp/unused"):
            cfg = trial.config
            assert cfg["dataset"] == ("synth" if p.synthetic else "fashion-mnist")
            if quick:
                assert cfg["limit"] == P.QUICK_LIMIT


def test_quick_is_smaller_and_limit_overrides():
    for p in P.PRESETS:
        assert p.n_trials(True) <= p.n_trials(False)
        full = p.options(dataset="mnist")
        quick = p.options(dataset="mnist", quick=True)
        assert quick["epochs"] <= full["epochs"]
        assert p.options(dataset="mnist", quick=True, limit=123)["limit"] == 123


def test_image_presets_refuse_synthetic_only():
    with pytest.raises(BackproplabError, match="MNIST or Fashion-MNIST"):
        P.get_preset("seeds").options(dataset="synth")
    assert [p.name for p in P.select(None, synthetic_only=True)] == ["q4-synth"]
    with pytest.raises(BackproplabError, match="seeds"):
        P.select(["seeds"], synthetic_only=True)


def test_select_adds_what_a_preset_needs_in_report_order():
    names = [p.name for p in P.select(["final"])]
    assert names == ["learning-rates", "batch-sizes", "final"]
    assert [p.name for p in P.select(["seeds", "q4-synth"])] == ["q4-synth", "seeds"]
    with pytest.raises(BackproplabError, match="unknown preset 'nope'"):
        P.select(["nope"])


def _results(groups):
    """A results.json with groups of (lr, batch_size, mean, std, n)."""
    return {"groups": [{"config": {"lr": lr, "batch_size": bs},
                        "final": {"eval_accuracy": {"mean": m, "std": s, "n": n},
                                  "epochs": [5]}}
                       for lr, bs, m, s, n in groups]}


def test_choose_final_best_mean():
    lr = _results([(0.001, 16, 0.90, 0.01, 3), (0.01, 16, 0.95, 0.002, 3),
                   (0.03, 16, 0.93, 0.01, 3)])
    bs = _results([(0.01, 8, 0.94, 0.001, 3), (0.01, 16, 0.95, 0.002, 3)])
    choice = P.choose_final({"learning-rates": lr, "batch-sizes": bs})
    assert (choice["lr"], choice["batch_size"]) == (0.01, 16)
    assert not choice["fallback"]
    # the configuration present in both sweeps is one candidate, from both
    same = [c for c in choice["candidates"] if (c["lr"], c["batch_size"]) == (0.01, 16)]
    assert len(same) == 1 and same[0]["from"] == ["learning-rates", "batch-sizes"]
    assert "0.9500" in choice["reason"]


def test_choose_final_ties_go_to_smaller_std_then_larger_batch():
    lr = _results([(0.003, 16, 0.95001, 0.004, 3), (0.01, 16, 0.94999, 0.001, 3)])
    choice = P.choose_final({"learning-rates": lr})
    assert choice["lr"] == 0.01  # equal to 4 decimals, smaller std
    assert "tie" in choice["reason"]
    bs = _results([(0.01, 8, 0.95, 0.002, 3), (0.01, 32, 0.95, 0.002, 3)])
    assert P.choose_final({"batch-sizes": bs})["batch_size"] == 32


def test_choose_final_without_results_falls_back_and_says_so():
    choice = P.choose_final({"learning-rates": None, "batch-sizes": None})
    assert choice["fallback"] and choice["candidates"] == []
    assert (choice["lr"], choice["batch_size"]) == (0.003, 16)
    assert "original" in choice["reason"]


def test_cli_lists_presets_with_their_question(cli):
    r = cli("presets")
    assert r.status == 0
    for p in P.PRESETS:
        line = next(line for line in r.out.splitlines() if line.startswith(p.name + " "))
        assert p.question in line
        n = p.n_trials(False)
        assert f"{n} run{'s' if n != 1 else ''} (" in line  # no "1 runs"


def test_cli_presets_json(cli):
    r = cli("presets", "--json")
    assert r.status == 0
    data = r.json()
    assert [p["name"] for p in data["presets"]] == P.preset_names()
    lr = next(p for p in data["presets"] if p["name"] == "learning-rates")
    assert lr["grid"] == {"lr": [0.001, 0.003, 0.01, 0.03]} and lr["trials"] == 12
    json.dumps(data)  # plain JSON all the way down


def test_cli_one_preset(cli):
    r = cli("presets", "final")
    assert r.status == 0
    assert "learning-rates, batch-sizes" in r.out and "reproduce --only final" in r.out
    r = cli("presets", "seeds", "--json")
    assert r.status == 0 and r.json()["seeds"] >= 5


def test_cli_unknown_preset_exits_2(cli):
    r = cli("presets", "nope")
    assert r.status == 2
    assert "unknown preset 'nope'" in r.err and "Traceback" not in r.err
    r = cli("reproduce", "--only", "nope", "--out", "/nonexistent/should-not-be-created")
    assert r.status == 2 and "unknown preset" in r.err
