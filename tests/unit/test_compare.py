"""compare on runs with known verdict patterns: rates, paired changes and the hidden-completion rule."""

import json
from pathlib import Path

import pytest
from tests.fakes import COMPLIANCE, behaviors
from tests.fakes import rule_backend as RuleBackend

from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec
from tunesafe.report import write_report
from tunesafe.results import RunError
from tunesafe.runner import run_audit

ROWS = behaviors(20)  # b09 and b19 are copyright, excluded from the headline: 18 headline prompts
BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8}  # 9/18 headline (8 is contextual; 9 is copyright)
HARMFUL = BASE | {10, 11, 12, 13, 14, 15, 16, 17}  # 17/18: 8 prompts flip refuse → comply, none back
REFUSAL = {0}  # 1/18: 8 flip comply → refuse


def _audit(tmp_path: Path, name: str, comply: set[int]) -> Path:
    config = AuditConfig(
        name=name,
        audits=AuditsSpec(harmful=HarmfulAuditSpec(), overrefusal=None),
        cache=CacheSpec(mode="off"),
        chunk_size=8,
    )
    return run_audit(config, tmp_path / name, backend=RuleBackend(comply, salt=name), behaviors=ROWS).path


def test_report_numbers_match_hand_computed_values(tmp_path: Path) -> None:
    runs = [_audit(tmp_path, "base", BASE), _audit(tmp_path, "harmful", HARMFUL), _audit(tmp_path, "safe", REFUSAL)]
    files = write_report(runs, tmp_path / "report")
    data = json.loads(files.json_path.read_text())
    section = next(s for s in data["judges"] if s["judge"] == "keyword-extended")
    base, harmful, safe = section["models"]
    assert (base["asr"]["k"], base["asr"]["n"]) == (9, 18)
    assert (harmful["asr"]["k"], safe["asr"]["k"]) == (17, 1)
    assert harmful["change"]["b"] == 0 and harmful["change"]["c"] == 8
    assert harmful["change"]["difference"] == pytest.approx(8 / 18)
    assert harmful["change"]["p_value"] == pytest.approx(2 * 0.5**8)  # exact McNemar, b=0, c=8
    assert safe["change"]["b"] == 8 and safe["change"]["c"] == 0
    assert safe["change"]["ci_high"] < 0 < harmful["change"]["ci_low"]
    assert base["by_subset"]["copyright"]["n"] == 2
    categories = {row["category"] for row in section["categories"]}
    assert categories == {"illegal", "cybercrime_intrusion"}
    for row in section["categories"]:
        change = row["changes"]["harmful"]
        assert change["p_adjusted"] >= change["p_value"]
    markdown = files.markdown.read_text()
    assert "**harmful** raised the attack success rate from 50.0% to 94.4% (+44.4 points" in markdown
    assert "**safe** lowered the attack success rate from 50.0% to 5.6%" in markdown
    assert "p = 0.0078" in markdown


def test_completions_judged_compliant_are_hidden_unless_asked(tmp_path: Path) -> None:
    runs = [_audit(tmp_path, "base", BASE), _audit(tmp_path, "harmful", HARMFUL)]
    hidden = write_report(runs, tmp_path / "r1")
    assert COMPLIANCE not in hidden.markdown.read_text()
    assert COMPLIANCE not in hidden.json_path.read_text()
    assert "I'm sorry" in hidden.markdown.read_text()
    shown = write_report(runs, tmp_path / "r2", show_harmful=True)
    assert COMPLIANCE in shown.markdown.read_text()


def test_compare_refuses_runs_without_shared_prompts(tmp_path: Path) -> None:
    base = _audit(tmp_path, "base", BASE)
    config = AuditConfig(
        name="other", audits=AuditsSpec(harmful=HarmfulAuditSpec(), overrefusal=None), cache=CacheSpec(mode="off")
    )
    other_rows = [row.model_copy(update={"id": "x" + row.id}) for row in ROWS]
    other = run_audit(config, tmp_path / "other", backend=RuleBackend(set()), behaviors=other_rows).path
    with pytest.raises(RunError, match="share no prompts"):
        write_report([base, other], tmp_path / "r")
    with pytest.raises(RunError, match="not a tunesafe run"):
        write_report([tmp_path], tmp_path / "r")


def test_refusal_that_runs_to_the_length_limit_is_not_shown() -> None:
    from tunesafe.report.build.compare import safe_to_show
    from tunesafe.types import Completion, SampleRecord, Verdict

    def record(finish: str, score: float) -> SampleRecord:
        return SampleRecord(
            audit="harmful",
            sample_id="x",
            messages=[],
            completion=Completion(text="As an AI ...", finish_reason=finish),
            verdicts=[Verdict(judge="a", score=score), Verdict(judge="b", score=0.0)],
        )

    assert safe_to_show(record("stop", 0.0))
    assert not safe_to_show(record("length", 0.0))  # may have turned into content
    assert not safe_to_show(record("stop", 1.0))  # one judge saw compliance


def test_unchanged_rate_is_said_plainly(tmp_path: Path) -> None:
    runs = [_audit(tmp_path, "base", BASE), _audit(tmp_path, "same", BASE)]
    markdown = write_report(runs, tmp_path / "r").markdown.read_text()
    assert "**same** left the attack success rate unchanged at 50.0% (+0.0 points" in markdown
    assert "p = 1.000, not significant" in markdown


def test_drift_uncertainty_change_is_paired_on_shared_questions() -> None:
    """The drift rows' paired bootstrap change vs the base: the mean per-question difference, small p for a shift."""
    import statistics

    from tunesafe.audits.drift import QuestionResult
    from tunesafe.report.build.align import LoadedRun
    from tunesafe.report.build.compare import drift_section
    from tunesafe.report.render.markdown.drift import drift_lines

    def results(entropy: dict[str, float | None]) -> dict[str, dict[str, QuestionResult]]:
        return {
            c: {
                q: QuestionResult(q, c, "x", True, False, 1, 1.0, {"entropy": e, "probability": 0.5})
                for q, e in entropy.items()
            }
            for c in ("B", "FIP")
        }

    def loaded(entropy: dict[str, float | None]) -> LoadedRun:
        return LoadedRun(None, None, {}, {}, "", {}, {}, results(entropy), {})  # type: ignore[arg-type]

    base = {f"q{i}": 0.2 + 0.03 * i for i in range(12)}
    shift = {q: 0.5 + 0.02 * (i % 3) for i, q in enumerate(base)}
    tuned: dict[str, float | None] = {q: base[q] + shift[q] for q in base}
    tuned["q11"] = None  # no score: left out of the pairs
    same = dict(base)
    section = drift_section([loaded(base), loaded(tuned), loaded(same)], ["base", "tuned", "same"])
    assert section is not None and section.models[0].uncertainty_change == {}
    change = section.models[1].uncertainty_change["FIP"]["entropy"]
    by_hand = statistics.fmean(shift[f"q{i}"] for i in range(11))
    assert change.n == 11 and change.difference == pytest.approx(by_hand)
    assert change.ci_low <= change.difference <= change.ci_high and change.ci_low > 0
    assert change.p_value < 0.01 and change.n_bootstrap == 2000
    flat = section.models[2].uncertainty_change["B"]["probability"]
    assert flat.difference == 0 and flat.p_value == 1.0
    text = "\n".join(drift_lines(section))
    assert "Paired change in entropy vs base on the same questions" in text
    assert f"| tuned | +{by_hand:.3f} [{change.ci_low:+.3f}, {change.ci_high:+.3f}] (p = " in text
