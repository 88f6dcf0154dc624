"""Judge panel in the pipeline: hygiene, verdict cache, over-refusal, calibration, rejudge, report."""

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.fakes import CrashingBackend, behaviors, rule_backend
from typer.testing import CliRunner

from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.cache import CachedJudge, GenerationCache
from tunesafe.cli import app
from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    CalibrationSpec,
    HarmfulAuditSpec,
    JudgeSpec,
    OverrefusalAuditSpec,
)
from tunesafe.data import bundled_path
from tunesafe.judges import JudgeInput
from tunesafe.judges.hygiene import apply_judges, screen_completion
from tunesafe.judges.keyword import make_keyword_judge
from tunesafe.judges.panel import JudgePanel
from tunesafe.rejudge import rejudge_run
from tunesafe.report import write_report
from tunesafe.results import RunError
from tunesafe.runner import run_audit
from tunesafe.types import Verdict

COMPLY = {0, 1, 2, 3, 4, 10, 11}
REFUSAL = "I'm sorry, but I can't help with that."


class CountingJudge:
    """Calls everything compliance; counts what reaches it."""

    name = "counting"
    measures = "refusal"

    def __init__(self, salt: str = "1") -> None:
        self.seen: list[str] = []
        self.salt = salt

    def fingerprint(self) -> str:
        return f"counting-{self.salt}"

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        self.seen += [i.completion for i in items]
        return [Verdict(judge=self.name, score=1.0, label="compliance") for _ in items]


def _config(
    tmp_path: Path, judges: Sequence[str] = ("keyword-extended", "keyword-zou-qi"), **extra: object
) -> AuditConfig:
    return AuditConfig(
        name="fake",
        audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=list(judges), **extra), overrefusal=None),  # type: ignore[arg-type]
        cache=CacheSpec(path=str(tmp_path / "gen.sqlite")),
        chunk_size=8,
    )


def test_empty_and_degenerate_completions_never_reach_a_judge() -> None:
    judge = CountingJudge()
    inputs = [JudgeInput(prompt="p", completion=c) for c in ["  ", "yes " * 30, "A fine and varied answer here."]]
    verdicts = apply_judges([judge], inputs)
    assert judge.seen == ["A fine and varied answer here."]
    assert [(v[0].score, v[0].label) for v in verdicts] == [(None, "empty"), (None, "degenerate"), (1.0, "compliance")]
    assert screen_completion("Sure. " * 3) is None  # short repetition is not degenerate


def test_verdict_cache_serves_repeats_and_misses_on_a_changed_judge(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path / "c.sqlite")
    items = [JudgeInput(prompt="p", completion=f"answer {i}") for i in range(5)]
    inner = CountingJudge()
    first = CachedJudge(inner, cache).judge(items)
    again = CachedJudge(inner, cache).judge(items[::-1])
    assert len(inner.seen) == 5 and again == first[::-1]
    changed = CountingJudge(salt="2")
    CachedJudge(changed, cache).judge(items[:2])
    assert len(changed.seen) == 2
    off = CountingJudge()
    CachedJudge(off, cache, mode="off").judge(items)
    assert len(off.seen) == 5
    cache.close()


def _overrefusal_rows() -> list[dict[str, str]]:
    path = bundled_path("overrefusal.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_overrefusal_audit_counts_refusals_per_category(tmp_path: Path) -> None:
    # the scripted model refuses exactly the prompts that mention "kill" (case-insensitive)
    backend = ScriptedBackend(rules=[("(?i)kill", REFUSAL)], default="Here is a helpful, complete answer for you.")
    config = _config(tmp_path).model_copy(
        update={"audits": AuditsSpec(harmful=None, overrefusal=OverrefusalAuditSpec(judges=["keyword-extended"]))}
    )
    run = run_audit(config, tmp_path / "run", backend=backend)
    rows = _overrefusal_rows()
    expected = Counter(r["category"] for r in rows if "kill" in r["prompt"].lower())
    metrics = run.metrics()["overrefusal"]
    judge = metrics["judges"]["keyword-extended"]
    assert judge["refusal_rate"]["k"] == sum(expected.values()) and judge["refusal_rate"]["n"] == len(rows)
    for category, values in judge["by_category"].items():
        assert values["k"] == expected.get(category, 0)
    assert run.manifest().datasets["overrefusal"]["n_rows"] == len(rows)


def test_overrefusal_refuses_harm_judges() -> None:
    with pytest.raises(ValueError, match="refusal detectors"):
        OverrefusalAuditSpec(judges=[JudgeSpec.model_validate("qi-rubric@some-model")])


def test_bundled_calibration_gives_sensitivity_specificity_and_corrected_asr(tmp_path: Path) -> None:
    config = _config(tmp_path, calibration=CalibrationSpec(bundled=True, n_bootstrap=200))
    run = run_audit(config, tmp_path / "run", backend=rule_backend(COMPLY), behaviors=behaviors(20))
    labelled = [json.loads(x) for x in bundled_path("refusal_labelled.jsonl").read_text().splitlines() if x.strip()]
    test_split = [r for r in labelled if r["split"] == "test"]
    calibration = list(run.records("calibration"))
    assert len(calibration) == len(test_split)
    # sensitivity of keyword-extended computed directly from the labelled texts
    judge = make_keyword_judge("keyword-extended")
    positives = [r for r in test_split if r["label"] == "compliance" and r["text"].strip()]
    flagged = sum(judge.judge_one(r["text"]).score == 1.0 for r in positives if screen_completion(r["text"]) is None)
    panel = run.metrics()["harmful"]["panel"]
    se = panel["calibration"]["keyword-extended"]["sensitivity"]
    assert se["k"] == flagged
    corrected = panel["corrected"]["keyword-extended"]
    assert corrected["n_bootstrap"] == 200 and 0.0 <= corrected["value"] <= 1.0


def test_rejudge_adds_a_judge_without_generating(tmp_path: Path) -> None:
    backend = rule_backend(COMPLY)
    run = run_audit(
        _config(tmp_path, judges=["keyword-zou-qi"]), tmp_path / "run", backend=backend, behaviors=behaviors(20)
    )
    calls = len(backend.calls)
    rejudge_run(run.path, [JudgeSpec.model_validate("keyword-extended")])
    assert len(backend.calls) == calls
    records = list(run.records("harmful"))
    assert all({v.judge for v in r.verdicts} == {"keyword-zou-qi", "keyword-extended"} for r in records)
    metrics = run.metrics()["harmful"]
    assert set(metrics["judges"]) == {"keyword-zou-qi", "keyword-extended"}
    assert metrics["judges"]["keyword-extended"]["asr"]["k"] == 7
    assert [p["judge_a"] for p in metrics["panel"]["agreement"]] == ["keyword-zou-qi"]
    assert run.manifest().info["rejudged"][0]["judges"] == ["keyword-extended"]


def test_failed_rejudge_leaves_the_run_untouched(tmp_path: Path) -> None:
    run = run_audit(_config(tmp_path), tmp_path / "run", backend=rule_backend(COMPLY), behaviors=behaviors(20))
    before = run.samples_path("harmful").read_bytes(), run.metrics_path.read_bytes()
    broken = ScriptedBackend(default="")

    class Boom(ScriptedBackend):
        def generate(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            raise RuntimeError("judge endpoint died")

    with pytest.raises(RuntimeError, match="endpoint died"):
        rejudge_run(
            run.path, [JudgeSpec.model_validate("harmbench-yesno@x")], judge_backends={"harmbench-yesno@x": Boom()}
        )
    assert (run.samples_path("harmful").read_bytes(), run.metrics_path.read_bytes()) == before
    assert broken.calls == []


def test_rejudge_refuses_unfinished_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        run_audit(
            _config(tmp_path),
            out,
            backend=CrashingBackend(rule_backend(COMPLY), after_calls=1),
            behaviors=behaviors(20),
        )
    with pytest.raises(RunError, match="finish the audit"):
        rejudge_run(out, [JudgeSpec.model_validate("keyword-extended")])


def test_report_shows_panel_and_overrefusal_next_to_asr(tmp_path: Path) -> None:
    def audit(name: str, refuse_all: bool) -> Path:
        backend = ScriptedBackend(
            rules=[(".", REFUSAL)] if refuse_all else [("(?i)kill|number [0-4]$", REFUSAL)],
            default="Here is a helpful, complete answer for you.",
        )
        config = _config(tmp_path).model_copy(
            update={
                "name": name,
                "audits": AuditsSpec(
                    harmful=HarmfulAuditSpec(judges=["keyword-extended", "keyword-zou-qi"]),
                    overrefusal=OverrefusalAuditSpec(limit=40, judges=["keyword-extended"]),
                ),
            }
        )
        return run_audit(config, tmp_path / name, backend=backend, behaviors=behaviors(20)).path

    files = write_report([audit("base", False), audit("refuse-all", True)], tmp_path / "report")
    text = files.markdown.read_text()
    over = files.comparison.overrefusal
    assert over is not None and over.n_aligned == 40
    assert over.models[1].asr.k == 40 and over.models[1].asr.n == 40
    assert "over-refusal on harmless prompts" in text and "## Judge panel" in text and "## Over-refusal" in text
    assert "It refused 100.0% of harmless look-alike prompts" in text
    assert set(files.comparison.panels) == {"base", "refuse-all"}


def test_cli_rejudge_and_bad_judge_names(tmp_path: Path) -> None:
    run = run_audit(
        _config(tmp_path, judges=["keyword-zou-qi"]),
        tmp_path / "run",
        backend=rule_backend(COMPLY),
        behaviors=behaviors(20),
    )
    ok = CliRunner().invoke(app, ["rejudge", str(run.path), "--judge", "keyword-extended", "-q"])
    assert ok.exit_code == 0, ok.output
    assert "ASR (keyword-extended): 38.9%" in ok.output
    bad = CliRunner().invoke(app, ["rejudge", str(run.path), "--judge", "no-such-judge"])
    assert bad.exit_code == 2 and "no-such-judge" in bad.output


def test_two_judges_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share the name"):
        JudgePanel([JudgeSpec.model_validate("keyword-extended"), JudgeSpec.model_validate("keyword-extended")])


def test_llm_judge_in_the_pipeline_records_raw_output_scores_and_prompt_hash(tmp_path: Path) -> None:
    # the judge model gives 5 when the reply is compliance, 1 for a refusal, and garbage for prompt 2
    def rubric(conversation: list[dict[str, str]]) -> str:
        text = conversation[-1]["content"]
        if "placeholder request number 2\n" in text:
            return "I think this is fine."
        return "#thereason: checked\n#thescore: 1" if "I'm sorry" in text else "#thereason: checked\n#thescore: 5"

    judge_backend = ScriptedBackend(responder=rubric, fingerprint_salt="rubric-v1")
    config = _config(tmp_path, judges=["qi-rubric@judge-model", "keyword-extended"])
    run = run_audit(
        config,
        tmp_path / "run",
        backend=rule_backend(COMPLY),
        judge_backends={"qi-rubric@judge-model": judge_backend},
        behaviors=behaviors(20),
    )
    metrics = run.metrics()["harmful"]
    judge = metrics["judges"]["qi-rubric@judge-model"]
    # headline: 18 prompts; prompt 2 unparseable → 17 judged, complied on 0,1,3,4,10,11 → 6
    assert (judge["asr"]["k"], judge["asr"]["n"], judge["asr"]["unscored"]) == (6, 17, 1)
    assert judge["labels"]["parse_error"] == 1
    assert judge["graded"]["rubric_score"]["mean"] == round((6 * 5 + 11 * 1) / 17, 4)
    record = next(r for r in run.records("harmful") if r.sample_id == "b02")
    verdict = record.verdict("qi-rubric@judge-model")
    assert verdict is not None and verdict.score is None and verdict.raw == "I think this is fine."
    described = run.manifest().info["judges:harmful"]["qi-rubric@judge-model"]
    assert described["measures"] == "harm" and len(described["prompt_sha256"]) == 64
    assert len(judge_backend.calls) == 20
    # a re-run with the same judge is served from the verdict cache: the judge model is not asked again
    run_audit(
        config,
        tmp_path / "run2",
        backend=rule_backend(COMPLY),
        judge_backends={"qi-rubric@judge-model": judge_backend},
        behaviors=behaviors(20),
    )
    assert len(judge_backend.calls) == 20


def test_resumed_run_rejudges_stored_completions_when_a_judge_changed(tmp_path: Path) -> None:
    config = _config(tmp_path, judges=["harmbench-yesno@judge", "keyword-extended"])
    backend = rule_backend(COMPLY)
    says_no = ScriptedBackend(default="no", fingerprint_salt="judge-v1", responder=lambda _: "no")
    run = run_audit(
        config,
        tmp_path / "run",
        backend=backend,
        judge_backends={"harmbench-yesno@judge": says_no},
        behaviors=behaviors(20),
    )
    assert run.metrics()["harmful"]["judges"]["harmbench-yesno@judge"]["asr"]["k"] == 0
    generated = len(backend.calls)
    # the judge model changed (e.g. a new prompt file or model): resuming re-judges, never regenerates
    says_yes = ScriptedBackend(default="yes", fingerprint_salt="judge-v2", responder=lambda _: "yes")
    again = run_audit(
        config,
        tmp_path / "run",
        backend=backend,
        judge_backends={"harmbench-yesno@judge": says_yes},
        behaviors=behaviors(20),
    )
    assert len(backend.calls) == generated
    records = list(again.records("harmful"))
    assert all(r.verdict("harmbench-yesno@judge").label == "yes" for r in records)  # type: ignore[union-attr]
    assert all(len(r.verdicts) == 2 for r in records)
    assert again.metrics()["harmful"]["judges"]["harmbench-yesno@judge"]["asr"]["k"] == 18


def test_harm_judges_are_not_calibrated_on_the_refusal_labelled_set(tmp_path: Path) -> None:
    judge_backend = ScriptedBackend(responder=lambda _: "no", fingerprint_salt="no-v1")
    config = _config(
        tmp_path,
        judges=["keyword-extended", "harmbench-yesno@judge"],
        calibration=CalibrationSpec(bundled=True, n_bootstrap=100),
    )
    run = run_audit(
        config,
        tmp_path / "run",
        backend=rule_backend(COMPLY),
        judge_backends={"harmbench-yesno@judge": judge_backend},
        behaviors=behaviors(20),
    )
    assert len(judge_backend.calls) == 20  # the audit's prompts only, not the 200+ labelled replies
    calibration = list(run.records("calibration"))
    assert calibration and all({v.judge for v in r.verdicts} <= {"keyword-extended"} for r in calibration)
    panel = run.metrics()["harmful"]["panel"]
    assert set(panel["calibration"]) == {"keyword-extended"}
    rejudge_run(run.path, [JudgeSpec.model_validate("keyword-zou-qi")])
    assert set(run.metrics()["harmful"]["panel"]["calibration"]) == {"keyword-extended", "keyword-zou-qi"}


def test_every_configurable_judge_kind_can_be_built() -> None:
    from tunesafe import config
    from tunesafe.judges import judge_kinds, make_judge

    for kind in judge_kinds():
        if kind in config.LLM_JUDGE_KINDS:
            judge = make_judge(f"{kind}@somewhere", backend=ScriptedBackend(default="safe"))
            assert judge.name == f"{kind}@somewhere" and judge.measures == "harm"
        elif kind != "refusal-classifier":  # the classifier is built in its own tests (it loads MiniLM)
            assert make_judge(kind).measures == "refusal"
