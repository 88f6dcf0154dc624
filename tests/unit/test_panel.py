"""Judge-panel agreement (tunesafe.judges.agreement) and its Markdown (report.render.markdown.panel), hand-built."""

from __future__ import annotations

import pytest

from tunesafe.judges.agreement import (
    JudgeCalibration,
    PanelSummary,
    agreement,
    calibrate,
    gold_label,
    panel_summary,
)
from tunesafe.report.render.fmt import fmt_rate, pct
from tunesafe.report.render.markdown.panel import panel_markdown
from tunesafe.stats import cohen_kappa, rogan_gladen
from tunesafe.types import Completion, SampleRecord, Verdict

# A judge's score: 1.0 complied, 0.0 refused, None unscored; a judge absent from the dict has no verdict.
Scores = dict[str, "float | None"]


def _record(index: int, scores: Scores, gold: bool | None = None) -> SampleRecord:
    metadata = {} if gold is None else {"gold_complied": gold}
    return SampleRecord(
        audit="harmful",
        sample_id=f"s{index:03d}",
        messages=[{"role": "user", "content": f"placeholder request {index}"}],
        completion=Completion(text="I'm sorry, but I can't help with that."),
        verdicts=[Verdict(judge=judge, score=score) for judge, score in scores.items()],
        metadata=metadata,
    )


def _records(rows: list[Scores]) -> list[SampleRecord]:
    return [_record(i, scores) for i, scores in enumerate(rows)]


def _audit() -> list[SampleRecord]:
    """Judges a and b on 50 scored items with the 2×2 table [[20, 5], [10, 15]] (kappa 0.4), plus
    2 items a could not score, 1 item b has no verdict on, and judge c scoring everything as refused."""
    rows: list[Scores] = [{"a": 1.0, "b": 1.0}] * 20 + [{"a": 1.0, "b": 0.0}] * 5
    rows += [{"a": 0.0, "b": 1.0}] * 10 + [{"a": 0.0, "b": 0.0}] * 15
    rows += [{"a": None, "b": 1.0}] * 2 + [{"a": 1.0}]
    return [_record(i, {**scores, "c": 0.0}) for i, scores in enumerate(rows)]


def _labelled() -> list[SampleRecord]:
    """Labelled set: 20 gold-complied, 30 gold-refused items.

    Judge a: 18/20 positives flagged (1 unscored among the other 2 → 18/19), 27/30 negatives passed.
    Judge b: 16/20 and 24/30. Judge c: never flags (Se = 0, Sp = 1).
    """
    records = []
    for i in range(20):
        a = None if i == 19 else (1.0 if i < 18 else 0.0)
        records.append(_record(i, {"a": a, "b": 1.0 if i < 16 else 0.0, "c": 0.0}, gold=True))
    for i in range(30):
        records.append(_record(100 + i, {"a": 1.0 if i < 3 else 0.0, "b": 1.0 if i < 6 else 0.0, "c": 0.0}, gold=False))
    return records


# --------------------------------------------------------------------------- agreement


def test_agreement_pair_counts_and_kappa() -> None:
    pairs = agreement(_audit(), ["a", "b", "c"], n_bootstrap=500, seed=0)
    assert [(p.judge_a, p.judge_b) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    ab = pairs[0]
    assert (ab.n, ab.agree) == (50, 35)  # unscored and missing verdicts are left out
    assert ab.agreement == pytest.approx(0.7)
    assert ab.kappa == pytest.approx(0.4)
    assert ab.kappa_ci_low < 0.4 < ab.kappa_ci_high
    ac = pairs[1]
    # a scored 51 items (50 + the one b lacks); c calls all refused.
    assert (ac.n, ac.agree) == (51, 25)
    assert ac.kappa == pytest.approx(0.0)  # a constant rater agrees only by chance
    bc = pairs[2]
    assert bc.n == 52


def test_agreement_without_bootstrap_and_with_missing_judge() -> None:
    pairs = agreement(_audit(), ["a", "nobody"], n_bootstrap=0)
    assert pairs[0].n == 0 and pairs[0].agreement is None and pairs[0].kappa is None
    assert pairs[0].kappa_ci_low is None and pairs[0].kappa_ci_high is None
    assert agreement(_audit(), ["a"]) == []


def test_agreement_identical_constant_judges_has_undefined_kappa() -> None:
    records = _records([{"x": 0.0, "y": 0.0}] * 6)
    (pair,) = agreement(records, ["x", "y"])
    assert (pair.n, pair.agree, pair.agreement) == (6, 6, 1.0)
    assert pair.kappa is None and pair.kappa_ci_low is None


# --------------------------------------------------------------------------- calibration


def test_calibrate_sensitivity_specificity_accuracy() -> None:
    cal = calibrate(_labelled(), "a")
    assert isinstance(cal, JudgeCalibration)
    assert (cal.n_pos, cal.n_neg, cal.unscored) == (20, 30, 1)
    assert (cal.sensitivity.k, cal.sensitivity.n, cal.sensitivity.unscored) == (18, 19, 1)
    assert (cal.specificity.k, cal.specificity.n, cal.specificity.unscored) == (27, 30, 0)
    assert (cal.accuracy.k, cal.accuracy.n) == (45, 49)
    assert cal.sensitivity.ci_low < 18 / 19 < cal.sensitivity.ci_high


def test_calibrate_counts_a_missing_judge_as_unscored() -> None:
    cal = calibrate(_labelled(), "nobody")
    assert (cal.n_pos, cal.n_neg, cal.unscored) == (20, 30, 50)
    assert cal.sensitivity.value is None and cal.sensitivity.unscored == 20
    assert cal.specificity.value is None and cal.specificity.unscored == 30


def test_gold_label_is_required() -> None:
    assert gold_label(_record(0, {}, gold=True)) is True
    assert gold_label(_record(0, {}, gold=False)) is False
    with pytest.raises(ValueError, match="gold_complied"):
        gold_label(_record(0, {"a": 1.0}))
    with pytest.raises(ValueError):
        calibrate([_record(0, {"a": 1.0})], "a")


# --------------------------------------------------------------------------- summary


def test_panel_summary_without_calibration() -> None:
    summary = panel_summary(_audit(), ["a", "b", "c"], n_bootstrap=200)
    assert isinstance(summary, PanelSummary)
    assert summary.n == 53
    a = summary.rates["a"]
    assert (a.k, a.n, a.unscored) == (26, 51, 2)  # 25 + the extra item; 2 unscored
    b = summary.rates["b"]
    assert (b.k, b.n, b.unscored) == (32, 52, 1)  # missing verdict counted, not a refusal
    assert summary.rates["c"].value == 0.0
    # Every judge scored 50 items; all three agree only where a and b both said refused.
    assert (summary.all_agree.k, summary.all_agree.n, summary.all_agree.unscored) == (15, 50, 3)
    assert summary.calibration == {} and summary.corrected == {}


def test_panel_summary_with_calibration_corrects_each_judge() -> None:
    summary = panel_summary(_audit(), ["a", "b", "c"], _labelled(), n_bootstrap=1000, seed=0)
    assert set(summary.calibration) == set(summary.corrected) == {"a", "b", "c"}
    a = summary.corrected["a"]
    assert (a.n, a.n_pos, a.n_neg) == (51, 19, 30)
    assert a.value == pytest.approx(rogan_gladen(26 / 51, 18 / 19, 27 / 30))
    assert a.ci_low <= a.value <= a.ci_high
    b = summary.corrected["b"]
    assert b.value == pytest.approx(rogan_gladen(32 / 52, 16 / 20, 24 / 30))
    c = summary.corrected["c"]  # Se = 0, Sp = 1: no information, no correction
    assert c.value is None and c.sensitivity == 0.0 and c.specificity == 1.0


def test_panel_summary_is_seeded_and_handles_missing_judge() -> None:
    first = panel_summary(_audit(), ["a", "b"], _labelled(), n_bootstrap=300, seed=5)
    assert panel_summary(_audit(), ["a", "b"], _labelled(), n_bootstrap=300, seed=5) == first
    ghost = panel_summary(_audit(), ["a", "ghost"], _labelled(), n_bootstrap=300)
    assert ghost.rates["ghost"].n == 0 and ghost.rates["ghost"].unscored == 53
    assert "ghost" not in ghost.corrected and "ghost" not in ghost.calibration  # it judged none of the labelled set
    assert ghost.all_agree.n == 0
    with pytest.raises(ValueError):
        panel_summary(_audit(), ["a"], n_bootstrap=0)


def test_kappa_in_summary_matches_stats() -> None:
    records = _audit()
    calls = [(r.verdict("a").complied, r.verdict("b").complied) for r in records[:50]]
    expected = cohen_kappa([x for x, _ in calls], [y for _, y in calls])
    summary = panel_summary(records, ["a", "b"], n_bootstrap=100)
    assert summary.agreement[0].kappa == pytest.approx(expected)


# --------------------------------------------------------------------------- Markdown


def test_markdown_shows_the_numbers() -> None:
    summary = panel_summary(_audit(), ["a", "b", "c"], _labelled(), n_bootstrap=500, seed=0)
    text = "\n".join(panel_markdown({"variant-1": summary}))
    assert "## Judge panel" in text and "### variant-1" in text
    assert fmt_rate(summary.rates["a"]) in text
    assert fmt_rate(summary.calibration["a"].sensitivity) in text
    assert fmt_rate(summary.calibration["b"].specificity) in text
    corrected = summary.corrected["a"]
    assert f"{pct(corrected.value)} [{pct(corrected.ci_low)}, {pct(corrected.ci_high)}]" in text
    assert "– (Se + Sp ≤ 1)" in text  # judge c
    ab = summary.agreement[0]
    assert f"| `a` vs `b` | 50 | 70.0% (35/50) | 0.40 [{ab.kappa_ci_low:.2f}, {ab.kappa_ci_high:.2f}] |" in text
    assert "All 3 judges agree on 15 of the 50 prompts" in text
    assert "20 completions labelled complied, 30 labelled refused" in text
    assert "0.6" in text and "only as good as that set" in text


def test_markdown_without_calibration_or_second_judge() -> None:
    plain = panel_summary(_audit(), ["a", "b"], n_bootstrap=100)
    single = panel_summary(_audit(), ["a"], n_bootstrap=100)
    lines = panel_markdown({"base": plain, "tuned": single})
    text = "\n".join(lines)
    assert "sensitivity [95% CI]" not in text and "corrected ASR [95% bootstrap CI]" not in text
    assert "### base" in text and "### tuned" in text
    assert text.count("| `a` vs `b` |") == 1
    assert "Both judges agree on 35 of the 50 prompts every judge scored (70.0%)." in text
    assert "One judge: no agreement to measure." in text
    assert panel_markdown({}) == []
