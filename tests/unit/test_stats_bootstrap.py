"""paired_bootstrap_difference against SciPy's bootstrap and the paired t-test, on effects of known size."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from tunesafe.audits.drift import QuestionResult
from tunesafe.report.build.drift_uncertainty import uncertainty_changes
from tunesafe.report.render.markdown.uncertainty import uncertainty_change_lines
from tunesafe.stats import paired_bootstrap_difference


def _mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(b - a, axis=axis)


def _scipy_interval(base: np.ndarray, other: np.ndarray, method: str) -> tuple[float, float]:
    res = sps.bootstrap(
        (base, other),
        _mean_diff,
        paired=True,
        vectorized=True,
        n_resamples=10_000,
        confidence_level=0.95,
        method=method,
        random_state=np.random.default_rng(12345),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@pytest.mark.parametrize(("interval", "method"), [("percentile", "percentile"), ("bca", "BCa")])
def test_intervals_agree_with_scipy_within_monte_carlo_error(interval: str, method: str) -> None:
    rng = np.random.default_rng(7)
    base = rng.exponential(1.0, 60)  # skewed scores, so BCa and percentile differ
    other = base + rng.exponential(0.6, 60) - 0.3
    ours = paired_bootstrap_difference(base, other, interval=interval)
    low, high = _scipy_interval(base, other, method)
    # quantiles of two independent 10 000-resample runs differ by ~0.04 bootstrap SEs; allow 0.1
    # (BCa and percentile differ by 0.19 and 0.34 SEs here, so the wrong method would fail)
    tolerance = 0.1 * ours.se
    assert ours.ci_low == pytest.approx(low, abs=tolerance)
    assert ours.ci_high == pytest.approx(high, abs=tolerance)
    d = other - base
    assert ours.difference == pytest.approx(d.mean())
    assert (ours.base_mean, ours.other_mean) == (pytest.approx(base.mean()), pytest.approx(other.mean()))
    assert ours.se == pytest.approx(d.std() / math.sqrt(d.size), rel=0.05)  # bootstrap SE of a mean
    assert ours.n == 60 and ours.n_bootstrap == 10_000 and interval in ours.method


def test_bca_shifts_towards_the_long_tail() -> None:
    rng = np.random.default_rng(3)
    base = np.zeros(40)
    other = rng.lognormal(0.0, 1.2, 40)  # right-skewed differences
    pct = paired_bootstrap_difference(base, other)
    bca = paired_bootstrap_difference(base, other, interval="bca")
    assert bca.ci_high > pct.ci_high and bca.ci_low > pct.ci_low


def test_large_effect_is_significant() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(2.0, 1.0, 50)
    other = base - 1.0 + rng.normal(0.0, 0.5, 50)  # entropy down by ~1 nat on every question
    result = paired_bootstrap_difference(base, other)
    assert result.p_value < 0.001
    assert result.p_value == pytest.approx(1 / 10_001)  # no centred resample reaches the observed effect
    assert result.ci_high < -0.7 and result.ci_low > -1.3


@pytest.mark.parametrize(("shift", "seed"), [(0.0, 11), (0.1, 12), (0.25, 13)])
def test_p_value_matches_the_paired_t_test(shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, 100)
    other = base + shift + rng.normal(0.0, 1.0, 100)
    result = paired_bootstrap_difference(base, other)
    t_test = sps.ttest_rel(other, base).pvalue
    assert result.p_value == pytest.approx(t_test, abs=0.03)


def test_null_case_has_a_large_p_and_an_interval_covering_zero() -> None:
    rng = np.random.default_rng(5)
    base = rng.uniform(0.0, 1.0, 80)
    other = base + rng.normal(0.0, 0.2, 80)
    other = other - (other - base).mean() + 0.005  # observed mean change 0.005, SE ~0.02
    result = paired_bootstrap_difference(base, other)
    assert result.difference == pytest.approx(0.005)
    assert result.p_value > 0.5
    assert result.ci_low < 0.0 < result.ci_high


def test_deterministic_and_degenerate_cases() -> None:
    a, b = [0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 1.0, 0.6]
    assert paired_bootstrap_difference(a, b, seed=3) == paired_bootstrap_difference(a, b, seed=3)
    assert paired_bootstrap_difference(a, b, seed=3) != paired_bootstrap_difference(a, b, seed=4)
    same = paired_bootstrap_difference(a, a, n_bootstrap=500)
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_bootstrap_difference(a, [x + 0.5 for x in a], n_bootstrap=500, interval="bca")
    assert shifted.ci_low == pytest.approx(0.5) and shifted.ci_high == pytest.approx(0.5)
    assert shifted.p_value == pytest.approx(1 / 501)


@pytest.mark.parametrize(
    ("base", "other", "kwargs", "message"),
    [
        ([1.0, 2.0], [1.0], {}, "pair up item by item, got 2 and 1"),
        ([], [], {}, "at least 2 paired items"),
        ([1.0], [2.0], {}, "at least 2 paired items"),
        ([1.0, float("nan")], [1.0, 2.0], {}, "finite"),
        ([1.0, 2.0], [1.0, float("inf")], {}, "finite"),
        ([1.0, 2.0], [1.0, 3.0], {"interval": "studentized"}, "percentile' or 'bca'"),
        ([1.0, 2.0], [1.0, 3.0], {"n_bootstrap": 0}, "n_bootstrap"),
        ([1.0, 2.0], [1.0, 3.0], {"confidence": 1.5}, "confidence"),
    ],
)
def test_input_validation(base: list[float], other: list[float], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_difference(base, other, **kwargs)


def _results(entropies: dict[str, list[float | None]]) -> dict[str, dict[str, QuestionResult]]:
    return {
        condition: {
            f"q{i}": QuestionResult(
                question_id=f"q{i}",
                condition=condition,
                answer="a",
                correct=True,
                adopted=False,
                runs=1,
                agreement=1.0,
                metrics={"entropy": h, "probability": None if h is None else 1.0 - h / 10},
            )
            for i, h in enumerate(values)
        }
        for condition, values in entropies.items()
    }


def test_drift_uncertainty_changes_pair_questions_per_condition() -> None:
    rng = np.random.default_rng(0)
    b_base, fip_base = rng.uniform(0.5, 1.5, 30), rng.uniform(1.0, 2.0, 30)
    base = _results({"B": list(b_base), "FIPx1": list(fip_base)})
    fip_other: list[float | None] = list(fip_base + 0.8 + rng.normal(0, 0.1, 30))
    fip_other[0] = None  # no score for q0 in the fine-tune: q0 leaves the pairs
    other = _results({"B": list(b_base + rng.normal(0, 0.05, 30)), "FIPx1": fip_other, "RIP": [1.0] * 30})
    changes = uncertainty_changes(base, other, n_bootstrap=2000)
    assert set(changes) == {"B", "FIPx1"}  # RIP: the base has none
    fip = changes["FIPx1"]["entropy"]
    assert fip.n == 29
    assert fip.difference == pytest.approx(np.mean(np.array(fip_other[1:]) - fip_base[1:]))
    assert fip.p_value == pytest.approx(1 / 2001) and fip.ci_low > 0.7  # the smallest p 2000 resamples give
    assert changes["FIPx1"]["probability"].difference == pytest.approx(-fip.difference / 10)
    assert changes["B"]["entropy"].ci_low < 0 < changes["B"]["entropy"].ci_high
    lines = uncertainty_change_lines({"ft": changes}, "base")
    assert lines[2] == "| model | B | FIPx1 |"
    assert lines[4].startswith("| ft | ") and lines[4].endswith("| +0.820 [+0.781, +0.860] (p = 0.0005, n=29) |")
    assert uncertainty_change_lines({"ft": {}}, "base") == []
