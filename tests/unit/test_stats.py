"""Tests for tunesafe.stats against published values, scipy, and hand computations.

Published reference values used:
- Wilson: Newcombe (1998a, Stat Med 17:857) Table I, 81/263 -> 0.2553 to 0.3662.
- Unpaired Newcombe method 10: Newcombe (1998a, Stat Med 17:873) Table II examples
  (56/70 − 48/80 -> 0.0524 to 0.3339, 9/10 − 3/10 -> 0.1705 to 0.8090, ...).
- Paired Newcombe method 10: Fagerland, Lydersen & Laake (2014, Stat Med 33:2850) / their book
  "Statistical Analysis of Contingency Tables" (2017) ch. 8, Cavo et al. (2012) table
  [[59, 6], [16, 80]] -> −0.0621 (−0.1186 to −0.0046), exact McNemar p = 0.052.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tunesafe.stats import (
    PairedDifference,
    benjamini_hochberg,
    binom_cdf_half,
    bootstrap_mean_ci,
    holm_adjust,
    mcnemar_exact,
    paired_rate_difference,
    rate,
    unpaired_rate_difference_interval,
    wilson_interval,
    z_value,
)

scipy_stats = pytest.importorskip("scipy.stats")


def _pairs(a: int, b: int, c: int, d: int) -> list[tuple[bool, bool]]:
    """a: both yes, b: base yes/other no, c: base no/other yes, d: both no."""
    return [(True, True)] * a + [(True, False)] * b + [(False, True)] * c + [(False, False)] * d


# --------------------------------------------------------------------------- Wilson


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(1.959963985, abs=1e-9)
    assert z_value(0.99) == pytest.approx(2.575829304, abs=1e-9)
    with pytest.raises(ValueError):
        z_value(1.0)
    with pytest.raises(ValueError):
        z_value(0.0)


def test_wilson_published_newcombe_table1() -> None:
    low, high = wilson_interval(81, 263)
    assert round(low, 4) == 0.2553
    assert round(high, 4) == 0.3662


def test_wilson_extremes() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=5e-5)
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(0.7225, abs=5e-5)


def test_wilson_n_zero_is_whole_unit_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 100, 320, 1000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_scipy(n: int, confidence: float) -> None:
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ours = wilson_interval(k, n, confidence)
        ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        assert ours[0] == pytest.approx(ref.low, abs=1e-12)
        assert ours[1] == pytest.approx(ref.high, abs=1e-12)


def test_wilson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        wilson_interval(-1, 4)
    with pytest.raises(TypeError):
        wilson_interval(1.5, 4)  # type: ignore[arg-type]


def test_rate() -> None:
    est = rate(131, 320, unscored=2)
    assert est.value == pytest.approx(131 / 320)
    assert (est.k, est.n, est.unscored, est.method) == (131, 320, 2, "wilson")
    assert (est.ci_low, est.ci_high) == wilson_interval(131, 320)
    assert est.ci_low < est.value < est.ci_high


def test_rate_empty_has_no_value() -> None:
    est = rate(0, 0, unscored=3)
    assert est.value is None and est.ci_low is None and est.ci_high is None
    assert est.unscored == 3


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_hand_computed() -> None:
    # X ~ Bin(10, 1/2): P(X <= 1) = 11/1024; two-sided p = 22/1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    assert round(mcnemar_exact(9, 1), 5) == 0.02148


def test_mcnemar_edge_cases() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 1) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_mcnemar_matches_scipy_grid() -> None:
    for b in range(0, 31):
        for c in range(0, 31):
            if b + c == 0:
                continue
            ref = scipy_stats.binomtest(min(b, c), b + c, 0.5).pvalue
            assert mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize(("b", "c"), [(150, 210), (1000, 1100), (2400, 2600), (3000, 3000), (10, 4000)])
def test_mcnemar_exact_for_large_n(b: int, c: int) -> None:
    ref = scipy_stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_binom_cdf_half_exact() -> None:
    assert binom_cdf_half(2, 4) == 11 / 16
    assert binom_cdf_half(-1, 4) == 0.0
    assert binom_cdf_half(4, 4) == 1.0
    assert binom_cdf_half(5000, 10000) == pytest.approx(scipy_stats.binom.cdf(5000, 10000, 0.5), rel=1e-12)


# --------------------------------------------------------------------------- paired difference


def test_paired_published_cavo_example() -> None:
    # Fagerland et al. (2014): before/after table [[59, 6], [16, 80]]; the estimate there is
    # p(1+) − p(+1) = 65/161 − 75/161. Our difference is other − base, so "other" is the row margin.
    result = paired_rate_difference(_pairs(a=59, b=16, c=6, d=80))
    assert isinstance(result, PairedDifference)
    assert result.n == 161 and (result.b, result.c) == (16, 6)
    assert round(result.difference, 4) == -0.0621
    assert round(result.ci_low, 4) == -0.1186
    assert round(result.ci_high, 4) == -0.0046
    assert round(result.p_value, 3) == 0.052
    assert result.base_rate == pytest.approx(75 / 161)
    assert result.other_rate == pytest.approx(65 / 161)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
        (10, 10, 0, 10, 0.6075, 1.0),
    ],
)
def test_unpaired_newcombe_published(k1: int, n1: int, k2: int, n2: int, low: float, high: float) -> None:
    ours = unpaired_rate_difference_interval(k1, n1, k2, n2)
    assert round(ours[0], 4) == low
    assert round(ours[1], 4) == high


def test_paired_empty() -> None:
    result = paired_rate_difference([])
    assert result.n == 0
    assert result.difference is None and result.ci_low is None and result.ci_high is None
    assert result.base_rate is None and result.other_rate is None
    assert result.p_value == 1.0


def test_paired_all_concordant() -> None:
    result = paired_rate_difference(_pairs(a=7, b=0, c=0, d=13))
    assert result.difference == 0.0
    assert result.p_value == 1.0
    assert result.ci_low < 0.0 < result.ci_high


@pytest.mark.parametrize("table", [(20, 0, 0, 0), (0, 0, 0, 20), (0, 20, 0, 0), (0, 0, 20, 0), (5, 5, 0, 0)])
def test_paired_degenerate_margins_take_phi_zero(table: tuple[int, int, int, int]) -> None:
    a, b, c, d = table
    n = a + b + c + d
    result = paired_rate_difference(_pairs(a, b, c, d))
    unpaired = unpaired_rate_difference_interval(a + c, n, a + b, n)
    assert result.ci_low == pytest.approx(unpaired[0])
    assert result.ci_high == pytest.approx(unpaired[1])
    assert -1.0 <= result.ci_low <= result.difference <= result.ci_high <= 1.0


def test_paired_equals_unpaired_when_phi_zero() -> None:
    # ad − bc = 0 -> phi = 0 -> paired interval = unpaired Newcombe interval with equal n.
    a, b, c, d = 10, 10, 5, 5  # ad = 50 = bc
    n = a + b + c + d
    result = paired_rate_difference(_pairs(a, b, c, d))
    unpaired = unpaired_rate_difference_interval(a + c, n, a + b, n)
    assert result.ci_low == pytest.approx(unpaired[0], abs=1e-12)
    assert result.ci_high == pytest.approx(unpaired[1], abs=1e-12)


def test_paired_correlation_narrows_interval() -> None:
    # Strong positive correlation (most items concordant) must give a narrower interval than
    # treating the two runs as independent.
    a, b, c, d = 40, 3, 12, 45
    n = a + b + c + d
    paired = paired_rate_difference(_pairs(a, b, c, d))
    unpaired = unpaired_rate_difference_interval(a + c, n, a + b, n)
    assert paired.ci_high - paired.ci_low < unpaired[1] - unpaired[0]


def test_paired_properties_random_tables() -> None:
    rng = random.Random(1234)
    for _ in range(400):
        a, b, c, d = (rng.randint(0, 40) for _ in range(4))
        if a + b + c + d == 0:
            continue
        result = paired_rate_difference(_pairs(a, b, c, d))
        assert -1.0 <= result.ci_low <= result.difference <= result.ci_high <= 1.0
        assert result.difference == pytest.approx((c - b) / (a + b + c + d))
        assert result.p_value == pytest.approx(mcnemar_exact(b, c))
        # Swapping base and other mirrors the interval.
        mirrored = paired_rate_difference(_pairs(a, c, b, d))
        assert mirrored.ci_low == pytest.approx(-result.ci_high, abs=1e-12)
        assert mirrored.ci_high == pytest.approx(-result.ci_low, abs=1e-12)


def test_paired_interval_narrows_with_n() -> None:
    widths = []
    for scale in (1, 4, 16, 64):
        result = paired_rate_difference(_pairs(5 * scale, 2 * scale, 6 * scale, 7 * scale))
        widths.append(result.ci_high - result.ci_low)
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < widths[0] / 4


def test_paired_confidence_level_widens() -> None:
    pairs = _pairs(30, 4, 11, 55)
    narrow = paired_rate_difference(pairs, confidence=0.80)
    wide = paired_rate_difference(pairs, confidence=0.99)
    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high
    assert wide.confidence == 0.99


# --------------------------------------------------------------------------- multiplicity


def test_holm_hand_computed() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_order() -> None:
    assert holm_adjust([0.5, 0.9, 0.2]) == pytest.approx([1.0, 1.0, 0.6])
    assert holm_adjust([]) == []
    assert holm_adjust([0.3]) == [0.3]


def test_bh_hand_computed() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 -> running min from top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_bh_monotone_and_capped() -> None:
    p = [0.9, 0.8, 0.95, 0.001, 0.02]
    adjusted = benjamini_hochberg(p)
    order = np.argsort(p)
    assert all(np.diff(np.asarray(adjusted)[order]) >= 0)
    assert max(adjusted) <= 1.0
    assert benjamini_hochberg([]) == []


def test_adjustments_match_scipy_bh_and_never_below_raw() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 0.2, size=25).tolist()
    ref = scipy_stats.false_discovery_control(p, method="bh")
    assert benjamini_hochberg(p) == pytest.approx(ref.tolist())
    for adjusted in (holm_adjust(p), benjamini_hochberg(p)):
        assert all(a >= raw - 1e-15 for a, raw in zip(adjusted, p, strict=True))
    assert all(h >= b - 1e-15 for h, b in zip(holm_adjust(p), benjamini_hochberg(p), strict=True))


def test_statsmodels_if_available() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.5]
    assert holm_adjust(p) == pytest.approx(multitest.multipletests(p, method="holm")[1].tolist())
    assert benjamini_hochberg(p) == pytest.approx(multitest.multipletests(p, method="fdr_bh")[1].tolist())


def test_pvalue_validation() -> None:
    with pytest.raises(ValueError):
        holm_adjust([0.1, 1.2])
    with pytest.raises(ValueError):
        benjamini_hochberg([math.nan])


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_deterministic_and_covers_mean() -> None:
    values = [float(v) for v in np.random.default_rng(0).normal(3.0, 1.0, size=200)]
    first = bootstrap_mean_ci(values, seed=11)
    again = bootstrap_mean_ci(values, seed=11)
    assert first == again
    assert first[0] < float(np.mean(values)) < first[1]
    # Close to the normal-theory interval for a mean of 200 draws.
    se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
    assert (first[1] - first[0]) == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_degenerate_and_errors() -> None:
    assert bootstrap_mean_ci([2.5]) == (2.5, 2.5)
    assert bootstrap_mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError):
        bootstrap_mean_ci([1.0, math.inf])


def test_bootstrap_chunking_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesafe.stats as stats_module

    values = list(range(50))
    whole = bootstrap_mean_ci(values, n_resamples=500, seed=3)
    monkeypatch.setattr(stats_module, "_BOOTSTRAP_CHUNK_CELLS", 50 * 7)
    chunked = bootstrap_mean_ci(values, n_resamples=500, seed=3)
    # Same generator stream drawn in row-major chunks gives the same resamples.
    assert chunked == pytest.approx(whole)
