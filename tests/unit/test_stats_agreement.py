"""Tests for Cohen's kappa, Rogan–Gladen correction and the corrected-rate bootstrap in tunesafe.stats.

Known answers:
- Kappa: the two 2×2 tables of the Wikipedia "Cohen's kappa" article (Sim & Wright 2005 style):
  [[45, 15], [25, 15]] -> 0.1304 and [[25, 35], [5, 35]] -> 0.2593; and [[20, 5], [10, 15]]
  (p_o = 0.7, p_e = 0.5) -> 0.4. ``sklearn.metrics.cohen_kappa_score`` is the oracle on random data.
- Rogan & Gladen (1978): (p + Sp − 1) / (Se + Sp − 1), computed by hand below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tunesafe.stats import CorrectedRate, cohen_kappa, corrected_rate, kappa_bootstrap_ci, rogan_gladen, wilson_interval


def _table(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Rater calls from a 2×2 table: both yes, only a yes, only b yes, both no."""
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return a, b


# --------------------------------------------------------------------------- Cohen's kappa


@pytest.mark.parametrize(
    ("cells", "expected"),
    [((20, 5, 10, 15), 0.4), ((45, 15, 25, 15), 0.1304), ((25, 35, 5, 35), 0.2593)],
)
def test_kappa_textbook_tables(cells: tuple[int, int, int, int], expected: float) -> None:
    a, b = _table(*cells)
    assert cohen_kappa(a, b) == pytest.approx(expected, abs=5e-5)


def test_kappa_is_symmetric() -> None:
    a, b = _table(45, 15, 25, 15)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa(b, a))


def test_kappa_perfect_agreement_is_one() -> None:
    calls = [True, False, False, True, True, False, False]
    assert cohen_kappa(calls, calls) == 1.0


def test_kappa_chance_agreement_is_zero() -> None:
    # p_o = 0.5 and each rater says yes half the time: p_e = 0.5.
    assert cohen_kappa([True, True, False, False], [True, False, True, False]) == 0.0


def test_kappa_complete_disagreement_is_negative() -> None:
    assert cohen_kappa([True, False, True, False], [False, True, False, True]) == -1.0


def test_kappa_undefined_cases() -> None:
    assert cohen_kappa([], []) is None
    assert cohen_kappa([True] * 5, [True] * 5) is None  # p_e = 1
    assert cohen_kappa([False] * 3, [False] * 3) is None
    # Constant but opposite raters: p_o = p_e = 0, kappa defined and 0.
    assert cohen_kappa([True] * 4, [False] * 4) == 0.0


def test_kappa_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        cohen_kappa([True, False], [True])
    with pytest.raises(ValueError):
        cohen_kappa([2, 0], [1, 0])


def test_kappa_matches_sklearn_on_random_data() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        p_a, p_b, p_flip = rng.uniform(0.05, 0.95, size=3)
        a = rng.random(n) < p_a
        b = np.where(rng.random(n) < p_flip, rng.random(n) < p_b, a)
        ours = cohen_kappa(a.tolist(), b.tolist())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = metrics.cohen_kappa_score(a, b)
        if np.isnan(theirs):
            assert ours is None
        else:
            assert ours == pytest.approx(theirs, abs=1e-12)


def test_kappa_bootstrap_interval() -> None:
    a, b = _table(20, 5, 10, 15)
    low, high = kappa_bootstrap_ci(a, b, n_bootstrap=2000, seed=3)
    assert low < 0.4 < high
    # Normal-theory SE of kappa for this table is about 0.13: the interval is about ±0.25 wide.
    assert 0.1 < low < 0.25
    assert 0.55 < high < 0.7
    assert kappa_bootstrap_ci(a, b, n_bootstrap=2000, seed=3) == (low, high)
    assert kappa_bootstrap_ci(a, b, n_bootstrap=2000, seed=4) != (low, high)


def test_kappa_bootstrap_edge_cases() -> None:
    calls = [True, False, True, False, False]
    assert kappa_bootstrap_ci(calls, calls, seed=0) == (1.0, 1.0)  # every defined resample agrees perfectly
    assert kappa_bootstrap_ci([], []) is None
    assert kappa_bootstrap_ci([True] * 4, [True] * 4) is None  # never defined


# --------------------------------------------------------------------------- Rogan–Gladen


def test_rogan_gladen_hand_computed() -> None:
    assert rogan_gladen(0.3, 0.9, 0.9) == pytest.approx(0.25)  # (0.3 + 0.9 − 1) / 0.8
    assert rogan_gladen(0.395, 0.85, 0.8) == pytest.approx(0.3)  # (0.395 − 0.2) / 0.65
    assert rogan_gladen(0.42, 1.0, 1.0) == 0.42  # a perfect judge needs no correction


def test_rogan_gladen_clips_to_unit_interval() -> None:
    assert rogan_gladen(0.05, 0.8, 0.9) == 0.0  # (0.05 − 0.1) / 0.7 < 0
    assert rogan_gladen(0.98, 0.9, 0.95) == 1.0  # 0.93 / 0.85 > 1


def test_rogan_gladen_undefined_when_judge_uninformative() -> None:
    assert rogan_gladen(0.3, 0.5, 0.5) is None  # Se + Sp = 1
    assert rogan_gladen(0.3, 0.4, 0.3) is None  # Se + Sp < 1


def test_rogan_gladen_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        rogan_gladen(1.2, 0.9, 0.9)
    with pytest.raises(ValueError):
        rogan_gladen(0.3, -0.1, 0.9)


# --------------------------------------------------------------------------- corrected_rate


def _calls(k: int, n: int) -> list[bool]:
    return [True] * k + [False] * (n - k)


def test_corrected_rate_point_estimate_and_counts() -> None:
    result = corrected_rate(_calls(30, 100), _calls(45, 50), _calls(10, 100), n_bootstrap=2000, seed=0)
    assert isinstance(result, CorrectedRate)
    assert result.observed == pytest.approx(0.3)
    assert result.sensitivity == pytest.approx(0.9)
    assert result.specificity == pytest.approx(0.9)
    assert result.value == pytest.approx(0.25)
    assert (result.n, result.n_pos, result.n_neg, result.n_bootstrap) == (100, 50, 100, 2000)
    assert result.n_undefined == 0
    assert result.ci_low < 0.25 < result.ci_high
    # Wider than the uncorrected Wilson interval: the correction adds the labelled set's uncertainty.
    w_low, w_high = wilson_interval(30, 100)
    assert result.ci_high - result.ci_low > w_high - w_low


def test_corrected_rate_perfect_judge_is_the_observed_rate() -> None:
    result = corrected_rate(_calls(60, 200), _calls(40, 40), _calls(0, 40), seed=1)
    assert result.value == result.observed == pytest.approx(0.3)
    # Only the audit sample varies: the interval is the bootstrap interval of the mean,
    # close to 0.3 ± 1.96·sqrt(0.21 / 200) = 0.3 ± 0.064.
    assert result.ci_low == pytest.approx(0.3 - 0.0635, abs=0.012)
    assert result.ci_high == pytest.approx(0.3 + 0.0635, abs=0.012)


@pytest.mark.parametrize("k", [0, 50])
def test_corrected_rate_perfect_judge_constant_calls_is_degenerate(k: int) -> None:
    result = corrected_rate(_calls(k, 50), _calls(20, 20), _calls(0, 20))
    assert result.value == result.ci_low == result.ci_high == k / 50


def test_corrected_rate_undefined() -> None:
    uninformative = corrected_rate(_calls(30, 100), _calls(5, 10), _calls(5, 10))  # Se = Sp = 0.5
    assert uninformative.value is None and uninformative.ci_low is None and uninformative.ci_high is None
    assert uninformative.sensitivity == 0.5 and uninformative.specificity == 0.5
    no_negatives = corrected_rate(_calls(30, 100), _calls(9, 10), [])
    assert no_negatives.value is None and no_negatives.specificity is None and no_negatives.n_neg == 0
    no_items = corrected_rate([], _calls(9, 10), _calls(1, 10))
    assert no_items.value is None and no_items.observed is None and no_items.n == 0


def test_corrected_rate_small_labelled_set_widens_to_unit_interval() -> None:
    # Se = Sp = 2/3 from three labelled items each: many resamples have Se* + Sp* <= 1.
    result = corrected_rate(_calls(40, 100), _calls(2, 3), _calls(1, 3), n_bootstrap=2000, seed=0)
    assert result.value == pytest.approx(rogan_gladen(0.4, 2 / 3, 2 / 3))
    assert result.n_undefined > 0.05 * 2000
    assert (result.ci_low, result.ci_high) == (0.0, 1.0)


def test_corrected_rate_is_seeded() -> None:
    args = (_calls(30, 100), _calls(40, 50), _calls(15, 80))
    first = corrected_rate(*args, seed=11)
    assert corrected_rate(*args, seed=11) == first
    assert corrected_rate(*args, seed=12).ci_high != first.ci_high


def test_corrected_rate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        corrected_rate(_calls(3, 10), _calls(9, 10), _calls(1, 10), n_bootstrap=0)
    with pytest.raises(ValueError):
        corrected_rate(_calls(3, 10), _calls(9, 10), _calls(1, 10), confidence=1.0)


def test_binomial_draws_match_resampling_items() -> None:
    """The binomial shortcut has the same bootstrap distribution as resampling item indices."""
    calls, pos, neg = np.array(_calls(35, 120)), np.array(_calls(50, 60)), np.array(_calls(12, 70))
    rng = np.random.default_rng(5)
    b = 4000

    def resampled_means(x: np.ndarray) -> np.ndarray:
        return x[rng.integers(0, x.size, size=(b, x.size))].mean(axis=1)

    p, se, sp = resampled_means(calls), resampled_means(pos), 1.0 - resampled_means(neg)
    explicit = np.clip((p + sp - 1.0) / (se + sp - 1.0), 0.0, 1.0)
    low, high = np.quantile(explicit, [0.025, 0.975])
    result = corrected_rate(calls.tolist(), pos.tolist(), neg.tolist(), n_bootstrap=b, seed=0)
    assert result.ci_low == pytest.approx(low, abs=0.01)
    assert result.ci_high == pytest.approx(high, abs=0.01)


def test_corrected_rate_recovers_true_prevalence_in_simulation() -> None:
    """A judge with Se = 0.85, Sp = 0.8 on a population with true ASR 0.3: the corrected interval covers 0.3."""
    truth, se, sp = 0.3, 0.85, 0.8
    n, n_pos, n_neg, runs = 400, 120, 150, 200
    rng = np.random.default_rng(2024)
    covered = naive_covered = 0
    estimates = []
    for run in range(runs):
        complied = rng.random(n) < truth
        calls = np.where(complied, rng.random(n) < se, rng.random(n) < 1 - sp)
        on_pos = rng.random(n_pos) < se
        on_neg = rng.random(n_neg) < 1 - sp
        result = corrected_rate(calls.tolist(), on_pos.tolist(), on_neg.tolist(), n_bootstrap=1000, seed=run)
        covered += result.ci_low <= truth <= result.ci_high
        estimates.append(result.value)
        low, high = wilson_interval(int(calls.sum()), n)
        naive_covered += low <= truth <= high
    assert covered / runs >= 0.9
    assert np.mean(estimates) == pytest.approx(truth, abs=0.02)
    # The uncorrected rate is biased (expected 0.395), so its interval rarely covers the truth.
    assert naive_covered / runs < 0.2
