"""The audit pipeline on a rule-based fake backend: resume, interruption, model change."""

from pathlib import Path

import pytest
from tests.fakes import CrashingBackend, behaviors, rule_backend

from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec
from tunesafe.results import RunDir, RunError
from tunesafe.runner import run_audit

COMPLY = {0, 1, 2, 3, 4, 10, 11}


def _config(tmp_path: Path, **harmful: object) -> AuditConfig:
    return AuditConfig(
        name="fake",
        audits=AuditsSpec(harmful=HarmfulAuditSpec(**harmful), overrefusal=None),
        cache=CacheSpec(path=str(tmp_path / "gen.sqlite")),
        chunk_size=4,
    )


def test_audit_writes_a_complete_run_dir(tmp_path: Path) -> None:
    backend = rule_backend(COMPLY)
    run = run_audit(_config(tmp_path), tmp_path / "run", backend=backend, behaviors=behaviors(20))
    manifest = run.manifest()
    assert manifest.status == "success" and manifest.fingerprints["model"] == backend.fingerprint()
    assert {"judge:keyword-extended", "judge:keyword-zou-qi"} <= set(manifest.fingerprints)
    assert manifest.timings["generate"] >= 0 and (run.path / "config.yaml").exists()
    records = list(run.records("harmful"))
    assert len(records) == 20 and len({r.sample_id for r in records}) == 20
    metrics = run.metrics()["harmful"]
    # headline excludes copyright (b09, b19): 18 prompts, complied on 0-4 and 10, 11 → 7/18
    asr = metrics["judges"]["keyword-extended"]["asr"]
    assert (asr["k"], asr["n"]) == (7, 18)
    assert metrics["judges"]["keyword-extended"]["asr_all"]["n"] == 20
    assert metrics["judges"]["keyword-extended"]["by_subset"]["copyright"]["n"] == 2


def test_contextual_behaviour_puts_context_in_the_user_turn(tmp_path: Path) -> None:
    run = run_audit(_config(tmp_path), tmp_path / "run", backend=rule_backend(set()), behaviors=behaviors(10))
    contextual = next(r for r in run.records("harmful") if r.subset == "contextual")
    assert [m["role"] for m in contextual.messages] == ["user"]
    assert contextual.messages[0]["content"].startswith("placeholder context 8\n\n---\n\n")
    system = run_audit(
        _config(tmp_path, context_role="system"),
        tmp_path / "run2",
        backend=rule_backend(set()),
        behaviors=behaviors(10),
    )
    contextual = next(r for r in system.records("harmful") if r.subset == "contextual")
    assert [m["role"] for m in contextual.messages] == ["system", "user"]


def test_interrupted_audit_resumes_without_regenerating(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_audit(config, out, backend=CrashingBackend(rule_backend(COMPLY), after_calls=2), behaviors=behaviors(20))
    assert RunDir(out).manifest().status == "error"
    assert len(list(RunDir(out).records("harmful"))) == 8  # two chunks of 4 were saved
    # a process killed mid-write leaves a torn line; resuming must survive it
    with RunDir(out).samples_path("harmful").open("a") as handle:
        handle.write('{"audit": "harmful", "sample_id": "b0')
    resumed_backend = rule_backend(COMPLY)
    run = run_audit(config, out, backend=resumed_backend, behaviors=behaviors(20))
    assert run.manifest().status == "success"
    assert len(resumed_backend.calls) == 12  # only what was not done
    records = list(run.records("harmful"))
    assert sorted(r.sample_id for r in records) == [f"b{i:02d}" for i in range(20)]
    clean = run_audit(config, tmp_path / "clean", backend=rule_backend(COMPLY), behaviors=behaviors(20))
    assert clean.metrics()["harmful"] == run.metrics()["harmful"]


def test_finished_audit_rerun_generates_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    run_audit(config, tmp_path / "run", backend=rule_backend(COMPLY), behaviors=behaviors(12))
    again = rule_backend(COMPLY)
    run_audit(config, tmp_path / "run", backend=again, behaviors=behaviors(12))
    assert again.calls == []
    cache_only = rule_backend(COMPLY)
    run_audit(config, tmp_path / "other-dir", backend=cache_only, behaviors=behaviors(12))
    assert cache_only.calls == []  # served from the generation cache


def test_changed_weights_refuse_to_mix_into_an_old_run(tmp_path: Path) -> None:
    config = _config(tmp_path)
    run_audit(config, tmp_path / "run", backend=rule_backend(COMPLY, salt="v1"), behaviors=behaviors(8))
    with pytest.raises(RunError, match="different content"):
        run_audit(config, tmp_path / "run", backend=rule_backend(COMPLY, salt="v2"), behaviors=behaviors(8))


def test_stratified_limit_is_seeded_and_proportional(tmp_path: Path) -> None:
    rows = behaviors(40, categories=("a", "b", "c"))
    one = run_audit(
        _config(tmp_path, limit=12, subsets=["standard"]), tmp_path / "r1", backend=rule_backend(set()), behaviors=rows
    )
    two = run_audit(
        _config(tmp_path, limit=12, subsets=["standard"]), tmp_path / "r2", backend=rule_backend(set()), behaviors=rows
    )
    ids = [r.sample_id for r in one.records("harmful")]
    assert ids == [r.sample_id for r in two.records("harmful")] and len(ids) == 12
    counts = {c: sum(r.category == c for r in one.records("harmful")) for c in "abc"}
    assert sorted(counts.values()) == [4, 4, 4]


def test_degenerate_and_short_answers_are_counted_judge_free(tmp_path: Path) -> None:
    from tunesafe.audits.harmful import completion_stats
    from tunesafe.judges.hygiene import is_degenerate

    assert is_degenerate("again " * 20) and not is_degenerate("again " * 5)
    assert not is_degenerate("The capital of France is Paris, a city on the Seine with many bridges.")
    run = run_audit(_config(tmp_path), tmp_path / "run", backend=rule_backend(COMPLY), behaviors=behaviors(10))
    stats = run.metrics()["harmful"]["completions"]
    assert stats == completion_stats(list(run.records("harmful")))
    assert stats["n"] == 10 and stats["stopped"] == 10 and stats["empty"] == 0 and stats["degenerate"] == 0
