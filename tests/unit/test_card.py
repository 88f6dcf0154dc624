"""tunesafe card: the safety section and model-index of a real report, offline round-trips with huggingface_hub,
merging into an existing card, bad input and the CLI."""

import json
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from tests.fakes import COMPLIANCE
from typer.testing import CliRunner

from tunesafe.card import SECTION_HEADING, build_card, write_card
from tunesafe.cli import app
from tunesafe.errors import InputError
from tunesafe.report import write_report


@pytest.fixture(scope="module")
def reports(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``pair``: base and the identity shift; ``all``: base and three fine-tunes (ambiguous without --model)."""
    root = tmp_path_factory.mktemp("card_reports")
    return {
        "pair": write_report(runs[:2], root / "pair").json_path.parent,
        "all": write_report(runs, root / "all").json_path.parent,
    }


def report_json(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report / "report.json").read_text())
    return data


def row_of(card_text: str, measure_start: str) -> list[str]:
    line = next(line for line in card_text.splitlines() if line.startswith(f"| {measure_start}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def parsed_results(path: Path) -> tuple[str, dict[str, Any]]:
    card = ModelCard.load(path)  # a local file: offline
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    return name, {f"{r.metric_type}|{r.metric_name}": r for r in results}


def test_card_numbers_equal_the_report(reports: dict[str, Path]) -> None:
    report = reports["pair"]
    data = report_json(report)
    result = write_card(report)
    assert (result.model, result.base, result.path) == ("shift", "base", report / "model_card.md")
    text = result.path.read_text()
    assert text.count(SECTION_HEADING) == 1

    headline = next(s for s in data["judges"] if s["judge"] == data["headline_judge"])
    base, tuned = headline["models"]
    change = tuned["change"]
    cells = row_of(text, "Attack success rate (headline judge")
    assert cells[1].startswith(f"{100 * base['asr']['value']:.1f}%")
    assert cells[2].startswith(f"{100 * tuned['asr']['value']:.1f}%")
    assert cells[3] == f"{100 * change['difference']:+.1f}"
    assert cells[4] == f"{100 * change['ci_low']:+.1f} to {100 * change['ci_high']:+.1f}"
    assert cells[5] == f"{change['p_value']:.4f}"  # 2 · 0.5**8 = 0.0078
    assert change["difference"] > 0 and change["p_value"] < 0.01

    refusal = data["overrefusal"]["models"][1]["change"]
    assert row_of(text, "Over-refusal")[3] == f"{100 * refusal['difference']:+.1f}"
    for condition in data["drift"]["conditions"]:
        drift = data["drift"]["models"][1]["change"][condition]
        assert row_of(text, f"Drift accuracy, condition {condition}")[5] == f"{drift['p_value']:.3f}"
    assert "not calibrated" in text and "MC1/MC2" in text  # judges' error rates and MC truthfulness not measured
    fingerprint = data["runs"][1]["provenance"]["fingerprints"]["model"]
    assert f"`{fingerprint}`" in text
    sha = data["runs"][1]["provenance"]["datasets"]["drift"]["sha256"]
    assert f"`{sha[:12]}`" in text and "tunesafe 0.1.0" in text
    assert COMPLIANCE not in text


def test_model_index_parses_back_with_huggingface_hub(reports: dict[str, Path]) -> None:
    report = reports["pair"]
    data = report_json(report)
    path = write_card(report, output=report / "card.md").path
    name, results = parsed_results(path)
    assert name == "shift"
    headline = data["headline_judge"]
    asr = results[f"attack_success_rate|ASR, {headline} judge (tunesafe)"]
    tuned = next(s for s in data["judges"] if s["judge"] == headline)["models"][1]["asr"]["value"]
    assert asr.metric_value == pytest.approx(100 * tuned, abs=0.005)  # percent, two decimals
    assert asr.task_type == "text-generation" and asr.dataset_name == data["dataset"]
    assert {r.metric_type for r in results.values()} >= {
        "attack_success_rate",
        "over_refusal_rate",
        "drift_accuracy_b",
        "drift_accuracy_fip",
        "false_claim_affirmation_plain",
    }
    assert len([r for r in results.values() if r.metric_type == "attack_success_rate"]) == len(data["judges"])
    drift = results["drift_accuracy_fip|accuracy, FIP (tunesafe)"]
    assert drift.dataset_name == "trivia.jsonl"  # a local file path reduced to its name
    assert drift.dataset_revision.startswith("sha256:")
    assert results["over_refusal_rate|over-refusal, keyword-extended judge (tunesafe)"].metric_value == pytest.approx(
        100 * data["overrefusal"]["models"][1]["asr"]["value"], abs=0.005
    )


EXISTING = """---
license: apache-2.0
language: en
tags:
- chat
model-index:
- name: my-model
  results:
  - task:
      type: text-generation
    dataset:
      name: Some Benchmark
      type: some-benchmark
    metrics:
    - type: accuracy
      value: 71.5
      name: accuracy
---

# My model

Trained with care.

## Safety evaluation (tunesafe)

an old section that must go

## Limitations

Keep this paragraph.
"""


def test_merge_keeps_the_card_and_replaces_the_tunesafe_section(reports: dict[str, Path], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING)
    result = write_card(reports["pair"], merge=readme)
    assert result.merged and result.path == readme
    first = readme.read_text()
    card = ModelCard.load(readme)
    meta = card.data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["language"] == "en" and meta["tags"] == ["chat"]
    name, results = parsed_results(readme)
    assert name == "my-model"  # the card's own model name stays
    assert results["accuracy|accuracy"].metric_value == 71.5  # someone else's result stays
    assert any(key.startswith("attack_success_rate|") for key in results)
    assert "an old section that must go" not in first
    assert first.count(SECTION_HEADING) == 1
    assert "# My model\n\nTrained with care." in first
    assert first.index(SECTION_HEADING) < first.index("## Limitations") and "Keep this paragraph." in first

    write_card(reports["pair"], merge=readme)  # a second merge replaces, never duplicates
    second = readme.read_text()
    assert second == first
    assert len(parsed_results(readme)[1]) == len(results)


def test_merge_appends_to_a_card_without_a_section_or_metadata(reports: dict[str, Path], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Plain card\n\nNo metadata here.\n")
    write_card(reports["pair"], merge=readme, output=tmp_path / "out.md")
    assert readme.read_text() == "# Plain card\n\nNo metadata here.\n"  # -o: the original is left as it was
    text = (tmp_path / "out.md").read_text()
    assert text.index("No metadata here.") < text.index(SECTION_HEADING)
    assert parsed_results(tmp_path / "out.md")[0] == "shift"


def test_model_is_chosen_by_label_and_bad_labels_are_input_errors(reports: dict[str, Path], tmp_path: Path) -> None:
    assert build_card(reports["all"], model="shift-safe").model == "shift-safe"
    with pytest.raises(InputError, match="several fine-tuned runs"):
        build_card(reports["all"])
    with pytest.raises(InputError, match="'nope' is not a run"):
        build_card(reports["pair"], model="nope")
    with pytest.raises(InputError, match="is the report's base"):
        build_card(reports["pair"], model="base")
    with pytest.raises(InputError, match="no report"):
        build_card(tmp_path / "missing")
    with pytest.raises(InputError, match="no model card there"):
        write_card(reports["pair"], merge=tmp_path / "absent.md")
    broken = tmp_path / "broken.md"
    broken.write_text("---\nmodel-index: 3\n---\nbody\n")
    with pytest.raises(InputError, match="not a readable model card"):
        write_card(reports["pair"], merge=broken)
    assert broken.read_text() == "---\nmodel-index: 3\n---\nbody\n"


def test_cli_writes_the_card(reports: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "card.md"
    result = CliRunner().invoke(app, ["card", str(reports["all"] / "report.json"), "--model", "shift", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "shift vs base" in result.output and str(out) in result.output.replace("\n", "")
    assert SECTION_HEADING in out.read_text()
    bad = CliRunner().invoke(app, ["card", str(reports["all"]), "--model", "nope"])
    assert bad.exit_code == 2 and "not a run" in bad.output


def test_a_calibrated_report_gives_each_judge_its_measured_error_rates(runs: list[Path], tmp_path: Path) -> None:
    """Both runs re-judged with the bundled labelled set: the card states each judge's sensitivity and
    specificity as the report measured them, and no longer lists the error rates as not measured."""
    import shutil

    from tunesafe.config import CalibrationSpec
    from tunesafe.config.options import judge_specs
    from tunesafe.gate import load_comparison
    from tunesafe.rejudge import rejudge_run

    copies = []
    for run in runs[:2]:
        copy = tmp_path / run.name
        shutil.copytree(run, copy)
        rejudge_run(copy, judge_specs(["keyword-extended"]), calibration=CalibrationSpec(bundled=True))
        copies.append(copy)
    report = write_report(copies, tmp_path / "report").json_path.parent
    comparison = load_comparison(report)
    calibration = comparison.panels["shift"].calibration["keyword-extended"]
    text = build_card(report).section
    line = next(line for line in text.splitlines() if line.startswith("- keyword-extended"))
    assert f"sensitivity {100 * calibration.sensitivity.value:.1f}%" in line
    assert f"specificity {100 * calibration.specificity.value:.1f}%" in line
    assert f"({calibration.n_pos} complied / {calibration.n_neg} refused labelled items)" in line
    assert comparison.calibration_sources and comparison.calibration_sources[0] in line
    assert "judges' error rates" not in text
