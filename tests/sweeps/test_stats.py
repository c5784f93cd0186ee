"""The statistics over seeds against SciPy's own tests and hand-written definitions
(Holm's adjustment, the exact permutation distribution, power from the
noncentral t), on fixed numbers."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from backproplab.errors import BackproplabError
from backproplab.sweeps import power as P
from backproplab.sweeps import stats as S

A = [0.912, 0.905, 0.918, 0.909, 0.915]
B = [0.861, 0.874, 0.858, 0.869, 0.866, 0.871]
C = [0.910, 0.902, 0.921, 0.899, 0.914]


@pytest.mark.parametrize("module", [S, P], ids=lambda m: m.__name__)
def test_doctests_pass(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize("values", [A, B, [1.0, 3.0], [2.5, 2.5, 2.6]])
def test_mean_ci_is_scipys_t_interval(values):
    x = np.array(values)
    want = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert S.mean_ci(values) == pytest.approx(want, rel=1e-12)
    assert S.t_interval(x.mean(), x.std(ddof=1), len(x)) == pytest.approx(want, rel=1e-12)


def test_fewer_than_two_values_give_no_interval_test_or_seed_count():
    assert S.mean_ci([0.9]) is None and S.mean_ci([]) is None
    assert S.mean_ci([0.9, math.nan]) is None  # non-finite values are left out
    r = S.welch_test([0.9], A)
    assert r.p_value is None and r.ci95 is None and r.note == S.FEW_SEEDS
    assert r.difference == pytest.approx(0.9 - np.mean(A))
    assert S.seeds_needed([0.9], A) == (None, S.FEW_SEEDS)
    (c,) = S.compare_groups({"one": [0.9], "five": A}, "eval_accuracy")
    assert c["p_value"] is c["p_adjusted"] is c["significant"] is c["seeds_needed"] is None
    assert "at least 2 seeds" in c["note"]
    assert "too few seeds to decide" in S.describe(c)


def test_no_spread_is_said_not_divided_by():
    r = S.welch_test([1.0, 1.0, 1.0], [1.0, 1.0])
    assert r.p_value is None and r.note == S.NO_SPREAD
    assert S.seeds_needed([1.0, 1.0], [0.5, 0.5]) == (None, S.NO_SPREAD)
    assert S.seeds_needed([1.0, 2.0], [2.0, 1.0])[0] is None  # equal means


@pytest.mark.parametrize("a, b", [(A, B), (A, C), ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]),
                                  ([0.5, 0.5, 0.6], [0.1, 0.9, 0.4])])
def test_welch_matches_scipy(a, b):
    want = sps.ttest_ind(a, b, equal_var=False)
    got = S.welch_test(a, b)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-10)
    ci = want.confidence_interval(0.95)
    assert got.ci95 == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert got.difference == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12)


def test_paired_and_one_sample_match_scipy():
    a, b = A, C
    want = sps.ttest_rel(a, b)
    got = S.paired_test(a, b)
    ci = want.confidence_interval(0.95)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-10)
    assert got.ci95 == pytest.approx((ci.low, ci.high), rel=1e-10)
    want1 = sps.ttest_1samp(A, 0.9)
    got1 = S.one_sample_test(A, 0.9)
    ci1 = want1.confidence_interval(0.95)
    assert got1.p_value == pytest.approx(want1.pvalue, rel=1e-10)
    assert got1.ci95 == pytest.approx((ci1.low - 0.9, ci1.high - 0.9), rel=1e-10)
    with pytest.raises(BackproplabError, match="one value per seed"):
        S.paired_test(A, B)


def test_permutation_p_value_is_the_exact_share_of_splits():
    a, b = A[:4], C[:4]
    pooled = np.array(a + b)
    observed = abs(np.mean(a) - np.mean(b))
    extreme = total = 0
    for idx in itertools.combinations(range(8), 4):
        rest = [i for i in range(8) if i not in idx]
        total += 1
        extreme += abs(pooled[list(idx)].mean() - pooled[rest].mean()) >= observed - 1e-12
    got = S.permutation_test(a, b)
    assert total == 70 and got.p_value == pytest.approx(extreme / total, rel=1e-12)
    assert got.ci95 == S.welch_test(a, b).ci95


def holm_by_definition(ps):
    """Holm: sort ascending; step i (1-based) compares p_(i) with alpha / (m - i + 1);
    the adjusted value is the largest (m - j + 1) p_(j) over j <= i, capped at 1."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    for pos, i in enumerate(order):
        out[i] = min(1.0, max((m - j) * ps[order[j]] for j in range(pos + 1)))
    return out


@pytest.mark.parametrize("ps", [[0.01, 0.04, 0.03], [0.2, 0.001, 0.5, 0.02, 0.02],
                                [0.9, 0.8], [0.004]])
def test_holm_matches_its_definition(ps):
    assert S.holm(ps) == pytest.approx(holm_by_definition(ps), rel=1e-15)
    assert S.holm([None, *ps]) == [None, *S.holm(ps)]


def test_compare_groups_holm_adjusts_per_metric_and_pairs_in_order():
    groups = {"a": A, "b": B, "c": C}
    out = S.compare_groups(groups, "eval_accuracy")
    assert [(c["a"], c["b"]) for c in out] == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = [sps.ttest_ind(groups[c["a"]], groups[c["b"]], equal_var=False).pvalue for c in out]
    assert [c["p_value"] for c in out] == pytest.approx(raw, rel=1e-10)
    assert [c["p_adjusted"] for c in out] == pytest.approx(holm_by_definition(raw), rel=1e-10)
    assert [c["significant"] for c in out] == [p < 0.05 for p in holm_by_definition(raw)]
    assert [c["significant"] for c in out] == [True, False, True]
    assert all(c["test"] == "welch" and c["metric"] == "eval_accuracy" for c in out)
    assert out[0]["n_a"] == 5 and out[0]["n_b"] == 6


def test_compare_groups_paired_uses_shared_seeds_and_permutation_is_recorded():
    groups = {"a": A, "c": C}
    seeds = {"a": [0, 1, 2, 3, 4], "c": [4, 3, 2, 1, 0]}
    (c,) = S.compare_groups(groups, "m", test="paired", seeds=seeds)
    assert c["test"] == "paired"
    assert c["p_value"] == pytest.approx(sps.ttest_rel(A, C[::-1]).pvalue, rel=1e-10)
    (c,) = S.compare_groups(groups, "m", test="paired",
                            seeds={"a": [0, 1, 2, 3, 4], "c": [7, 8, 9, 3, 4]})
    assert c["p_value"] == pytest.approx(sps.ttest_rel(A[3:], C[3:]).pvalue, rel=1e-10)
    # as docs/experiments.md says: the difference is over the shared seeds, n over all
    assert c["difference"] == pytest.approx(np.mean(np.subtract(A[3:], C[3:])), rel=1e-12)
    assert (c["n_a"], c["n_b"]) == (5, 5) and c["mean_a"] == pytest.approx(np.mean(A))
    (c,) = S.compare_groups(groups, "m", test="paired", seeds={"a": [0] * 5, "c": [1] * 5})
    assert c["p_value"] is None and "shared" in c["note"]
    with pytest.raises(BackproplabError, match="seeds"):
        S.compare_groups(groups, "m", test="paired")
    with pytest.raises(BackproplabError, match="'welch', 'paired' or 'permutation'"):
        S.compare_groups(groups, "m", test="anova")
    (c,) = S.compare_groups(groups, "m", test="permutation")
    assert c["test"] == "permutation" and 0 < c["p_value"] <= 1


def power_by_hand(n, d, alpha=0.05):
    """Power of the two-sided two-sample t-test: P(|T| > t_crit) with T noncentral t
    (the far tail is nearly 0 for these effects; SciPy's nct.cdf can give NaN there)."""
    df = 2 * n - 2
    crit = sps.t.isf(alpha / 2, df)
    dist = sps.nct(df, d * math.sqrt(n / 2))
    far = dist.cdf(-crit)
    assert math.isnan(far) or far < 1e-3
    return dist.sf(crit) + (0.0 if math.isnan(far) else far)


# textbook sample sizes (Cohen 1988, G*Power: two-tailed, alpha 0.05, power 0.8)
@pytest.mark.parametrize("d, n", [(0.5, 64), (0.8, 26), (1.0, 17), (2.0, 6)])
def test_seeds_needed_reaches_80_percent_power_with_the_fewest_seeds(d, n):
    # two groups of 3 with std 1 and the given difference of means
    a = [d - 1.0, d, d + 1.0]
    b = [-1.0, 0.0, 1.0]
    got, why = S.seeds_needed(a, b)
    assert (got, why) == (n, None)
    assert power_by_hand(got, d) >= 0.8 > power_by_hand(got - 1, d)


# one-sample t-test, two-tailed, alpha 0.05, power 0.8 (G*Power: 34 for d = 0.5, 10 for 1)
@pytest.mark.parametrize("d, want", [(0.5, 34), (1.0, 10), (2.5, None)])
def test_seeds_needed_against_a_number_is_the_one_sample_power(d, want):
    values = [d - 1.0, d, d + 1.0]  # std 1, mean d above the reference 0
    n, why = S.seeds_needed_against(values, 0.0)
    assert why is None and (want is None or n == want)

    def one_sample_power(k):
        crit = sps.t.isf(0.025, k - 1)
        return sps.nct.sf(crit, k - 1, d * math.sqrt(k)) + sps.nct.sf(crit, k - 1,
                                                                      -d * math.sqrt(k))
    assert one_sample_power(n) >= 0.8 and (n == 2 or one_sample_power(n - 1) < 0.8)
    assert S.seeds_needed_against([0.9], 0.8) == (None, "needs at least 2 seeds")


def test_seeds_needed_uses_the_pooled_spread():
    a, b = A, B
    sp = math.sqrt((4 * np.var(a, ddof=1) + 5 * np.var(b, ddof=1)) / 9)
    d = (np.mean(a) - np.mean(b)) / sp
    n, _ = S.seeds_needed(a, b)
    assert power_by_hand(n, d) >= 0.8 and (n == 2 or power_by_hand(n - 1, d) < 0.8)
    tiny = S.seeds_needed([0.0, 1.0], [0.0, 1.0 + 1e-9])
    assert tiny == (None, f"more than {S.MAX_SEEDS} seeds per group")


def test_describe_says_what_the_seeds_support():
    (sig,) = S.compare_groups({"lr=0.1": A, "lr=0.01": B}, "eval_accuracy")
    text = S.describe(sig)
    assert text.startswith("lr=0.1 - lr=0.01 = +0.04")
    assert "Welch t-test p = " in text and "significant at the 5% level" in text
    (undecided,) = S.compare_groups({"a": A, "c": C}, "eval_accuracy")
    text = S.describe(undecided)
    assert "not significant" in text
    assert f"about {undecided['seeds_needed']} seeds per group" in text
    assert undecided["seeds_needed"] > 5


def test_spread_test_is_the_two_sided_f_test():
    a = np.array([0.91, 0.93, 0.90, 0.95, 0.92])
    sd, ref_sd = a.std(ddof=1), 0.004
    r = S.spread_test(sd, 5, ref_sd, 3)
    f = sd ** 2 / ref_sd ** 2
    p = 2 * min(sps.f.cdf(f, 4, 2), sps.f.sf(f, 4, 2))
    assert r["ratio"] == pytest.approx(sd / ref_sd) and r["p_value"] == pytest.approx(p)
    # the interval holds the ratios whose test would not reject at 5%
    lo, hi = r["ci95"]
    for ratio, inside in ((lo * 1.001, True), (hi * 0.999, True), (lo * 0.99, False),
                          (hi * 1.01, False)):
        g = f / ratio ** 2
        assert bool(2 * min(sps.f.cdf(g, 4, 2), sps.f.sf(g, 4, 2)) > 0.05) is inside
    assert S.spread_test(0.01, 1, 0.01, 3)["note"] == S.FEW_SEEDS


def test_the_command_line_loads_scipy_only_to_compute_statistics():
    import subprocess
    import sys

    code = ("import sys; from backproplab.cli import build_parser; build_parser(); "
            "import backproplab.sweeps.stats as s; before = 'scipy.stats' in sys.modules; "
            "s.mean_ci([1.0, 2.0]); print(before, 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]
