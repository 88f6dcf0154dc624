"""Paper view: the published figures verbatim, tunesafe's recomputation from the printed counts, and this run."""

import json
from pathlib import Path

import pytest
from tests.fakes import behaviors
from tests.fakes import rule_backend as RuleBackend

from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec, JudgeSpec
from tunesafe.report import PaperSpec, compare_runs, write_report
from tunesafe.report.build.paper import PAPERS, paper_view
from tunesafe.report.build.sections import DriftSection
from tunesafe.report.render.markdown.paper import paper_section

BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8}  # 9/18 headline prompts
HARMFUL = BASE | {10, 11, 12, 13, 14, 15, 16, 17}  # 17/18
SAFE = {0}  # 1/18
JUDGES = [JudgeSpec(kind="keyword-extended"), JudgeSpec(kind="keyword-zou-qi")]
KUMAR = PaperSpec(name="kumar2024", models={"base": "base", "harmful": "harmful", "safe": "safe"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("paper")
    out = []
    for name, comply in (("base", BASE), ("harmful", HARMFUL), ("safe", SAFE)):
        config = AuditConfig(
            name=name,
            audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=JUDGES), overrefusal=None),
            cache=CacheSpec(mode="off"),
        )
        backend = RuleBackend(comply, salt=name)
        out.append(run_audit(config, root / name, backend))
    return out


def run_audit(config: AuditConfig, path: Path, backend: RuleBackend) -> Path:
    from tunesafe.runner import run_audit as run

    return run(config, path, backend=backend, behaviors=behaviors(20)).path


def test_kumar_table_3_printed_recomputed_and_this_run(runs: list[Path], tmp_path: Path) -> None:
    plain = write_report(runs, tmp_path / "plain")
    files = write_report(runs, tmp_path / "paper", paper=KUMAR)
    view = files.comparison.paper
    assert view is not None and view.paper == "kumar2024"
    assert [(r.paper_model, r.printed, r.recomputed) for r in view.rows] == [
        ("base", "59.06%", 40.94),
        ("harmful", "94.06%", 94.06),
        ("safe", "7.38%", 6.88),
    ]
    assert [(r.unsafe, r.safe) for r in view.rows] == [(131, 189), (301, 19), (22, 298)]
    harmful = view.rows[1]
    assert (harmful.run, harmful.judge) == ("harmful", "keyword-extended")
    assert harmful.rate is not None and (harmful.rate.k, harmful.rate.n) == (17, 18)
    text = files.markdown.read_text()
    title = "## Paper view: Kumar 2024, Overriding Safety Protections of Open-source Models (arXiv 2409.19476)"
    assert title in text
    assert (
        "| base (Llama-3.1-8B-Instruct (4-bit)) | ASR, 320 HarmBench prompts, Llama Guard 3 (Table 3) | 59.06% | "
        "40.94% (131 unsafe / 320) | base | 50.0% [29.0%, 71.0%] (9/18) | `keyword-extended` | 18 |"
    ) in text
    assert "| 94.06% | 94.06% (301 unsafe / 320) | harmful | 94.4% [" in text
    assert "| 7.38% | 6.88% (22 unsafe / 320) | safe | 5.6% [" in text
    # the A.8 note: the printed percentages do not all follow the paper's own definition
    assert "do not all follow that definition" in text
    assert "recomputed from the printed counts they are 40.94%, 94.06%, 6.88%" in text
    assert "Judges, prompts and models differ" in text
    assert "Tables 4 and 5" not in text.split(title, 1)[1].split("\n## ", 1)[0]  # no drift audit: no pointer
    # the paper view is one added section; report.json has ``paper`` only when asked
    start = text.index(title)
    end = text.index("\n## ", start) + 1
    assert text[:start] + text[end:] == plain.markdown.read_text()
    assert json.loads(files.json_path.read_text())["paper"]["rows"][0]["recomputed"] == 40.94
    assert "paper" not in json.loads(plain.json_path.read_text())
    html = files.html.read_text()
    assert '<section id="paper">' in html and "40.94% (131 unsafe / 320)" in html
    assert '<section id="paper">' not in plain.html.read_text()


def test_qi_rates_have_no_counts_and_keyword_rows_use_the_zou_qi_judge(runs: list[Path]) -> None:
    spec = PaperSpec(name="qi2023", models={"initial": "base", "tier1-100shot": "harmful"})
    comp = compare_runs(runs, paper=spec)
    assert comp.paper is not None
    rows = comp.paper.rows
    assert all(r.recomputed is None for r in rows)
    tier1 = [r for r in rows if r.paper_model == "tier1-100shot"]
    assert [(r.source, r.printed) for r in tier1] == [("Table 1", "80.0% (score 4.54)"), ("Appendix E", "95.6%")]
    assert [r.judge for r in tier1] == ["keyword-extended", "keyword-zou-qi"]
    assert all(r.rate is not None and r.rate.n == 18 for r in tier1)
    unmapped = [r for r in rows if r.paper_model in ("tier2-aoa-10ep", "tier3-alpaca")]
    assert [r.printed for r in unmapped] == ["68.2% (score 4.15)", "93.9%", "16.1% (score 1.79)", "5.2%"]
    assert all(r.run is None and r.rate is None for r in unmapped)
    lines = paper_section(comp)
    assert lines[0].startswith("## Paper view: Qi et al. 2023, Fine-tuning Aligned Language Models")
    row = next(line for line in lines if "(Table 2) | 68.2% (score 4.15)" in line)
    assert row.endswith("| 68.2% (score 4.15) | – | not mapped | – | – | – |")
    assert "GPT-4" in lines[2] and "HEx-PHI" in lines[2]
    assert any("prints no counts" in line for line in lines)


def test_drift_tables_are_pointed_to_not_repeated(runs: list[Path]) -> None:
    comp = compare_runs(runs)
    comp.drift = DriftSection(conditions=["B"], n_questions=0, models=[])
    view = paper_view(KUMAR, comp.judges, comp.headline_judge, comp.drift is not None)
    assert any("Tables 4 and 5" in note and "Knowledge drift section" in note for note in view.notes)
    assert "55.1" not in json.dumps(view.model_dump())  # Table 4 stays in the drift section only


def test_unknown_labels_and_keys_are_refused(runs: list[Path]) -> None:
    with pytest.raises(ValueError, match=r"'harmful' is mapped to 'harmfull', not a compared run \(labels: base, "):
        compare_runs(runs, paper=PaperSpec(name="kumar2024", models={"harmful": "harmfull"}))
    with pytest.raises(ValueError, match=r"kumar2024 has no model 'tier1' \(known: base, harmful, safe\)"):
        PaperSpec(name="kumar2024", models={"tier1": "harmful"})
    with pytest.raises(ValueError):
        PaperSpec(name="zhang2025", models={})  # type: ignore[arg-type]


def test_registry_is_the_published_numbers() -> None:
    kumar = PAPERS["kumar2024"].figures
    assert [(f.printed, f.safe, f.unsafe) for f in kumar] == [
        ("59.06%", 189, 131),
        ("94.06%", 19, 301),
        ("7.38%", 298, 22),
    ]
    qi = {(f.model, f.source, f.metric): f.printed for f in PAPERS["qi2023"].figures}
    assert qi[("initial", "Table 1", "asr")] == "0.3% (score 1.06)"
    assert qi[("tier2-aoa-10ep", "Appendix E", "keyword-asr")] == "93.9%"
    assert qi[("tier3-alpaca", "Table 3", "asr")] == "16.1% (score 1.79)"
