"""The report's paired effects: each fine-tune and mitigation against its own reference, on known answers
(the scripted runs of ``tests.fakes.EFFECT_RUNS``: the ``runs`` fixture)."""

import json
from pathlib import Path

import pytest
from tests.fakes import EFFECTS

from tunesafe.report import EffectSpec, compare_runs, write_report
from tunesafe.report.render.markdown.summary import effect_lines, summary_lines


def test_effect_rows_match_hand_computed_changes(runs: list[Path]) -> None:
    comp = compare_runs(runs, effects=EFFECTS)
    assert comp.headline_judge == "keyword-extended" and comp.n_headline == 18
    shift, safe, screened = comp.effects
    assert (shift.variant, shift.reference, shift.kind) == ("shift", "base", "fine-tune")
    assert shift.asr is not None and (shift.asr.n, shift.asr.b, shift.asr.c) == (18, 0, 8)
    assert shift.asr.difference == pytest.approx(8 / 18) and shift.asr.p_value == pytest.approx(2 * 0.5**8)
    # the same pairing as the main table's change vs the base
    main = next(s for s in comp.judges if s.judge == "keyword-extended").models[1].change
    assert main is not None and (main.b, main.c, main.ci_low) == (shift.asr.b, shift.asr.c, shift.asr.ci_low)
    assert safe.asr is not None and (safe.asr.b, safe.asr.c) == (14, 0)
    assert (safe.asr.base_rate, safe.asr.other_rate) == (pytest.approx(17 / 18), pytest.approx(3 / 18))
    assert safe.asr.p_value == pytest.approx(2 * 0.5**14) and safe.asr.ci_high < 0
    assert screened.asr is not None and (screened.asr.b, screened.asr.c) == (2, 1)
    assert screened.asr.p_value == pytest.approx(1.0)  # 2 · P(X ≤ 1 | n = 3) = 2 · 4/8
    # Holm over the three ASR p-values: sorted 2·0.5^14 (×3), 2·0.5^8 (×2), 1 (×1)
    assert safe.asr.p_adjusted == pytest.approx(3 * 2 * 0.5**14)
    assert shift.asr.p_adjusted == pytest.approx(2 * 2 * 0.5**8)
    assert screened.asr.p_adjusted == pytest.approx(1.0)
    assert set(safe.asr_by_judge) == {"keyword-extended", "keyword-zou-qi"}
    assert safe.asr_by_judge["keyword-zou-qi"].b == 14 and safe.asr_by_judge["keyword-extended"].p_adjusted is None
    # over-refusal, paired on the 10 harmless prompts (b: reference refused, variant answered)
    assert safe.overrefusal_judge == "keyword-extended"
    assert safe.overrefusal is not None and (safe.overrefusal.b, safe.overrefusal.c) == (0, 6)
    assert (safe.overrefusal.base_rate, safe.overrefusal.other_rate) == (pytest.approx(0.1), pytest.approx(0.7))
    assert safe.overrefusal.p_value == pytest.approx(2 * 0.5**6)
    assert screened.overrefusal is not None and (screened.overrefusal.c, screened.overrefusal.p_value) == (1, 1.0)
    # drift: the mitigated model believes the false sentence on all 8 questions
    assert set(safe.drift) == {"B", "FIP"}
    assert (safe.drift["B"].b, safe.drift["B"].c) == (0, 0)
    assert (safe.drift["FIP"].n, safe.drift["FIP"].b, safe.drift["FIP"].c) == (8, 8, 0)
    assert safe.drift["FIP"].p_value == pytest.approx(2 * 0.5**8)
    # truthfulness: after the preamble it affirms all 8 false claims (none before)
    assert set(safe.truthfulness) == {"plain", "preamble"}
    assert (safe.truthfulness["preamble"].n, safe.truthfulness["preamble"].c) == (8, 8)
    assert safe.truthfulness["plain"].difference == 0
    assert screened.truthfulness["preamble"].difference == 0


def test_markdown_table_and_sentences(runs: list[Path], tmp_path: Path) -> None:
    files = write_report(runs, tmp_path / "report", effects=EFFECTS)
    text = files.markdown.read_text()
    section = text.split("## What each fine-tune and mitigation did", 1)[1].split("\n## ", 1)[0]
    assert text.index("## Summary") < text.index("## What each fine-tune") < text.index("## Attack success rate")
    assert "| **shift** (fine-tune: identity shift) | base | 50.0% → 94.4% | +44.4 pp [" in section
    assert "| 0.0078 (0.016) | 10.0% → 10.0% | +0.0 pp (1.000) | +0.0 pp (1.000) | +0.0 pp (1.000) |" in section
    assert "| **shift-safe** (mitigation: safety mix 30%) | shift | 94.4% → 16.7% | -77.8 pp [" in section
    assert "| 0.0001 (0.0004) | 10.0% → 70.0% | +60.0 pp (0.031) | +0.0 pp (1.000) | -100.0 pp (0.0078) |" in section
    lines = effect_lines(files.comparison)
    assert len(lines) == 2  # mitigations only
    assert lines[0].startswith(
        "- **shift-safe** (safety mix 30%), against **shift**: lowered the attack success rate from 94.4% to 16.7% "
        "(-77.8 points, 95% CI "
    )
    assert "p = 0.0001, Holm-adjusted p = 0.0004; 18 paired prompts)" in lines[0]
    assert "raised over-refusal on harmless prompts from 10.0% to 70.0% (+60.0 points, p = 0.031)" in lines[0]
    assert "lowered FIP accuracy from 100.0% to 0.0% (-100.0 points, p = 0.0078)" in lines[0]
    assert "no significant change in knowledge-drift accuracy (B)" in lines[0]
    assert "raised false-claim affirmation (preamble) from 0.0% to 100.0% (+100.0 points, p = 0.0078)" in lines[0]
    assert lines[0].endswith("; no significant change in false-claim affirmation (plain).")
    assert lines[1] == (
        "- **shift-screened** (screening), against **shift**: made no significant change in the attack success rate "
        "(94.4% → 88.9%, -5.6 points, 95% CI "
        + lines[1].split("95% CI ", 1)[1].split(",", 1)[0]
        + ", p = 1.000, Holm-adjusted p = 1.000; 18 paired prompts); made no significant change in over-refusal on "
        "harmless prompts (10.0% → 20.0%, +10.0 points, p = 1.000); no significant change in knowledge-drift "
        "accuracy (B, FIP); no significant change in false-claim affirmation (plain, preamble)."
    )
    for line in lines:
        assert line in section
    assert summary_lines(files.comparison)[-2:] == lines  # the CLI prints them after the changes vs the base
    data = json.loads(files.json_path.read_text())
    assert [e["variant"] for e in data["effects"]] == ["shift", "shift-safe", "shift-screened"]
    assert data["effects"][1]["asr"]["p_adjusted"] == pytest.approx(3 * 2 * 0.5**14)


def test_report_without_effects_is_unchanged(runs: list[Path], tmp_path: Path) -> None:
    plain = write_report(runs, tmp_path / "plain")
    empty = write_report(runs, tmp_path / "empty", effects=())
    with_effects = write_report(runs, tmp_path / "with", effects=EFFECTS)
    assert plain.markdown.read_text() == empty.markdown.read_text()
    assert "What each fine-tune" not in plain.markdown.read_text()
    assert "effects" not in json.loads(plain.json_path.read_text())
    # the effects report is the plain one plus its one section, placed after the headline table
    text = with_effects.markdown.read_text()
    start = text.index("## What each fine-tune")
    end = text.index("## ", start + 3)
    panel_or_next = plain.markdown.read_text()
    assert text[:start] + text[end:] == panel_or_next
    assert summary_lines(plain.comparison) == summary_lines(with_effects.comparison)[:3]


def test_unknown_or_self_referencing_labels_are_refused(runs: list[Path]) -> None:
    with pytest.raises(ValueError, match=r"'shift-typo' is not one of the compared runs \(labels: base, shift, "):
        compare_runs(runs, effects=[EffectSpec(variant="shift-typo", reference="base", kind="fine-tune")])
    with pytest.raises(ValueError, match="reference 'nope'"):
        compare_runs(runs, effects=[EffectSpec(variant="shift", reference="nope", kind="mitigation")])
    with pytest.raises(ValueError, match="with itself"):
        compare_runs(runs, effects=[EffectSpec(variant="shift", reference="shift", kind="mitigation")])


def test_pair_without_a_shared_audit_shows_dashes(runs: list[Path]) -> None:
    from tunesafe.report.build.compare import Comparison
    from tunesafe.report.build.effects import EffectRow
    from tunesafe.report.render.markdown.effects import effects_section

    comp = compare_runs(runs[:2], effects=[EffectSpec(variant="shift", reference="base", kind="mitigation")])
    update = {"overrefusal": None, "overrefusal_judge": None, "drift": {}, "truthfulness": {}}
    lines = effects_section(comp.model_copy(update={"effects": [comp.effects[0].model_copy(update=update)]}))
    table_row = next(line for line in lines if line.startswith("| **shift**"))
    assert table_row.endswith("| – | – |")  # no over-refusal pair, and no drift column at all
    assert "Δ B accuracy" not in "\n".join(lines)
    bare = EffectRow(variant="v", reference="r", kind="mitigation", asr=None)
    assert effect_lines(Comparison(runs=[], effects=[bare])) == ["- **v**, against **r**: shares no audit with it."]
