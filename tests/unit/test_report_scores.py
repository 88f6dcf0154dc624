"""Graded judge scores in the comparison report, on runs whose per-prompt scores are known.

The judged models comply, refuse or give an unclear answer per prompt number; the scripted judge
models grade compliance 5 (Qi et al. rubric) / 0.75 (StrongREJECT: refused 0, convincing 5,
specific 3), a refusal 1 / 0.0, and answer the unclear text with something that does not parse
(unscored: no graded score, left out of the mean and of the pairs).
"""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from tests.fakes import COMPLIANCE, REFUSAL, behaviors

from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec
from tunesafe.report import EffectSpec, compare_runs, write_report
from tunesafe.report.build.scores import GradedScoreSection, graded_changes, graded_value
from tunesafe.report.render.html import render_html
from tunesafe.report.render.markdown import render_markdown
from tunesafe.report.render.markdown.effects import effect_graded_lines
from tunesafe.report.render.markdown.graded import graded_lines
from tunesafe.runner import run_audit
from tunesafe.types import Completion, SampleRecord, Verdict

QI = "qi-rubric@judge"
SR = "strongreject-rubric@judge"
UNCLEAR = "I am not sure what you mean by that."
ROWS = behaviors(20)  # b09 and b19 are copyright, out of the headline: 18 headline prompts

# Headline prompts: 0-8 and 10-18. Per run: the prompts it complies on, and the one whose answer is unclear.
BASE = {0, 1, 2}  # rubric: 3 fives, 15 ones → mean 30/18
TUNED = {0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13}  # prompt 4 unclear: 12 fives, 5 ones over 17 scored → 65/17
RUNS: dict[str, tuple[set[int], set[int]]] = {"base": (BASE, set()), "tuned": (TUNED, {4}), "same": (BASE, set())}
# tuned − base, paired on the 17 prompts both scored (4 dropped): base there has 3 fives and 14 ones (29),
# tuned 65 → +36/17 on the rubric; StrongREJECT: base 3 · 0.75, tuned 12 · 0.75 → +6.75/17.
RUBRIC_DIFF = 36 / 17
SR_DIFF = 6.75 / 17


def _model(complies: set[int], unclear: set[int], name: str) -> ScriptedBackend:
    def respond(conversation: list[dict[str, str]]) -> str:
        number = int(conversation[-1]["content"].rsplit(" ", 1)[-1])
        return COMPLIANCE if number in complies else UNCLEAR if number in unclear else REFUSAL

    return ScriptedBackend(responder=respond, fingerprint_salt=name)


def _judge(compliant: str, refusal: str) -> ScriptedBackend:
    def respond(conversation: list[dict[str, str]]) -> str:
        text = conversation[-1]["content"]
        return compliant if COMPLIANCE in text else "I would rather not rate this." if UNCLEAR in text else refusal

    return ScriptedBackend(responder=respond, fingerprint_salt=re.sub(r"\W", "", compliant))


JUDGE_BACKENDS = {
    QI: _judge("#thereason: follows.\n#thescore: 5", "#thereason: declines.\n#thescore: 1"),
    SR: _judge("1.b 0\n2.b 5\n3.b 3", "1.b 1\n2.b 1\n3.b 1"),
}


def _audit(root: Path, name: str, judges: list[str]) -> Path:
    complies, unclear = RUNS[name]
    config = AuditConfig(
        name=name,
        audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=judges), overrefusal=None),  # type: ignore[arg-type]
        cache=CacheSpec(mode="off"),
        chunk_size=8,
    )
    backend = _model(complies, unclear, name)
    return run_audit(config, root / name, backend=backend, judge_backends=JUDGE_BACKENDS, behaviors=ROWS).path


@pytest.fixture(scope="module")
def graded_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("graded")
    return [_audit(root, name, ["keyword-extended", QI, SR]) for name in RUNS]


@pytest.fixture(scope="module")
def keyword_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("keyword")
    return [_audit(root, name, ["keyword-extended", "keyword-zou-qi"]) for name in RUNS]


def _section(sections: list[GradedScoreSection], judge: str, key: str) -> GradedScoreSection:
    return next(s for s in sections if (s.judge, s.key) == (judge, key))


def test_means_and_paired_changes_match_hand_computed_values(graded_runs: list[Path]) -> None:
    comp = compare_runs(graded_runs)
    assert [(s.judge, s.key) for s in comp.graded] == [(QI, "rubric_score"), (SR, "strongreject_score")]
    rubric = _section(comp.graded, QI, "rubric_score")
    assert rubric.label == "harmfulness score (1–5, Qi et al. 2023)" and rubric.n_aligned == 18
    base, tuned, same = rubric.models
    assert [m.name for m in rubric.models] == ["base", "tuned", "same"]
    assert (base.mean, base.n) == (pytest.approx(30 / 18), 18)
    assert (tuned.mean, tuned.n) == (pytest.approx(65 / 17), 17)  # the unclear answer is unscored, not a 1
    assert base.ci_low < base.mean < base.ci_high and base.change is None
    change = tuned.change
    assert change is not None and change.n == 17 and change.n_bootstrap == 10_000
    assert change.difference == pytest.approx(RUBRIC_DIFF)
    assert (change.base_mean, change.other_mean) == (pytest.approx(29 / 17), pytest.approx(65 / 17))
    assert 0 < change.ci_low < RUBRIC_DIFF < change.ci_high
    assert change.p_value < 0.001
    flat = same.change
    assert flat is not None and flat.difference == 0 and flat.p_value == 1.0 and flat.ci_low == flat.ci_high == 0
    sr = _section(comp.graded, SR, "strongreject_score")
    assert sr.label.startswith("StrongREJECT score (0–1")
    assert sr.models[0].mean == pytest.approx(2.25 / 18) and sr.models[1].mean == pytest.approx(9 / 17)
    assert sr.models[1].change is not None and sr.models[1].change.difference == pytest.approx(SR_DIFF)
    assert sr.models[1].change.p_value < 0.001


def test_means_agree_with_the_runs_own_metrics(graded_runs: list[Path]) -> None:
    """Every run answered the same prompts, so the report's mean and interval are the audit's own."""
    comp = compare_runs(graded_runs)
    rubric = _section(comp.graded, QI, "rubric_score")
    for path, row in zip(graded_runs, rubric.models, strict=True):
        stored = json.loads((path / "metrics.json").read_text())["harmful"]["judges"][QI]["graded"]["rubric_score"]
        assert stored["mean"] == round(row.mean or 0, 4) and stored["n"] == row.n
        assert (stored["ci_low"], stored["ci_high"]) == (row.ci_low, row.ci_high)


def test_effect_rows_carry_the_graded_change_against_their_own_reference(graded_runs: list[Path]) -> None:
    effects = [EffectSpec(variant="tuned", reference="same", kind="fine-tune")]
    comp = compare_runs(graded_runs, effects=effects)
    row = comp.effects[0]
    assert set(row.graded) == {f"{QI}:rubric_score", f"{SR}:strongreject_score"}
    assert row.graded[f"{QI}:rubric_score"].difference == pytest.approx(RUBRIC_DIFF)
    assert row.graded[f"{SR}:strongreject_score"].difference == pytest.approx(SR_DIFF)
    lines = effect_graded_lines(comp)
    assert lines[2] == (
        f"| variant | compared with | Δ `{QI}` harmfulness score (1–5, Qi et al. 2023) [95% CI] (p, n) | "
        f"Δ `{SR}` StrongREJECT score (0–1, Souly et al. 2024) [95% CI] (p, n) |"
    )
    assert lines[4].startswith(f"| **tuned** | same | +{RUBRIC_DIFF:.2f} [") and "p < 0.0001, n=17" in lines[4]


def test_markdown_and_html_show_the_graded_tables(graded_runs: list[Path], tmp_path: Path) -> None:
    files = write_report(graded_runs, tmp_path / "r")
    comp = files.comparison
    markdown = files.markdown.read_text()
    rubric = _section(comp.graded, QI, "rubric_score")
    tuned = rubric.models[1]
    assert tuned.change is not None
    assert f"### `{QI}` — harmfulness score (1–5, Qi et al. 2023)" in markdown
    assert "| model | mean [95% CI] (n) | change vs base [95% bootstrap CI] | p |" in markdown
    assert (
        f"| base | {30 / 18:.2f} [{rubric.models[0].ci_low:.2f}, {rubric.models[0].ci_high:.2f}] (18) | (base) | – |"
        in markdown
    )
    assert (
        f"| tuned | {65 / 17:.2f} [{tuned.ci_low:.2f}, {tuned.ci_high:.2f}] (17) | +{RUBRIC_DIFF:.2f} "
        f"[{tuned.change.ci_low:+.2f}, {tuned.change.ci_high:+.2f}] (n=17) | < 0.0001 |" in markdown
    )
    assert "| same | 1.67 [" in markdown and "| +0.00 [+0.00, +0.00] (n=18) | 1.000 |" in markdown
    assert markdown.index("## Attack success rate — judge `" + SR) < markdown.index("## Graded scores")
    page = files.html.read_text()
    assert '<section id="graded">' in page and '<a href="#graded">Graded scores</a>' in page
    assert f"<h3><code>{QI}</code> — harmfulness score (1–5, Qi et al. 2023)</h3>" in page
    assert f'<td class="num nw">+{RUBRIC_DIFF:.2f} [{tuned.change.ci_low:+.2f}' in page
    stored = json.loads(files.json_path.read_text())["graded"]
    assert [(s["judge"], s["key"]) for s in stored] == [(QI, "rubric_score"), (SR, "strongreject_score")]


def test_the_graded_section_only_adds_lines(graded_runs: list[Path]) -> None:
    """Without it the report is what it was: removing ``graded`` gives the same text minus the section."""
    comp = compare_runs(graded_runs, effects=[EffectSpec(variant="tuned", reference="base", kind="fine-tune")])
    without = comp.model_copy(
        update={"graded": [], "effects": [e.model_copy(update={"graded": {}}) for e in comp.effects]}
    )
    new, old = render_markdown(comp).splitlines(), render_markdown(without).splitlines()
    remaining = iter(new)
    assert all(line in remaining for line in old)  # the old report's lines, in order, all still there
    assert Counter(new) - Counter(old) == Counter(effect_graded_lines(comp) + graded_lines(comp))
    assert len(new) == len(old) + len(effect_graded_lines(comp)) + len(graded_lines(comp))
    assert "## Graded scores" not in render_markdown(without) and 'id="graded"' not in render_html(without)


def test_runs_without_graded_judges_have_no_graded_output(keyword_runs: list[Path], tmp_path: Path) -> None:
    effects = [EffectSpec(variant="tuned", reference="base", kind="fine-tune")]
    files = write_report(keyword_runs, tmp_path / "r", effects=effects)
    comp = files.comparison
    assert comp.graded == [] and comp.effects[0].graded == {}
    data = json.loads(files.json_path.read_text())
    assert "graded" not in data and "graded" not in data["effects"][0]
    assert "## Graded" not in files.markdown.read_text() and 'id="graded"' not in files.html.read_text()


def _record(sample_id: str, details: dict[str, object]) -> SampleRecord:
    return SampleRecord(
        audit="harmful",
        sample_id=sample_id,
        messages=[],
        completion=Completion(text="x", finish_reason="stop"),
        verdicts=[Verdict(judge=QI, score=0.0, details=details)],
    )


def test_only_finite_numbers_are_scores_and_a_single_pair_gives_no_change() -> None:
    assert graded_value(_record("a", {"rubric_score": 3}), QI, "rubric_score") == 3.0
    for bad in (None, True, "4", float("nan")):
        assert graded_value(_record("a", {"rubric_score": bad}), QI, "rubric_score") is None
    assert graded_value(_record("a", {}), QI, "rubric_score") is None
    assert graded_value(_record("a", {"rubric_score": 3}), "other-judge", "rubric_score") is None
    base = [_record("a", {"rubric_score": 1}), _record("b", {})]
    other = [_record("a", {"rubric_score": 5}), _record("b", {"rubric_score": 5})]
    assert graded_changes(base, other, [QI]) == {}  # one prompt scored in both: no bootstrap
    base[1] = _record("b", {"rubric_score": 2})
    both = graded_changes(base, other, [QI])[f"{QI}:rubric_score"]
    assert both.n == 2 and both.difference == pytest.approx(3.5)
