"""Tracking, offline, against the real services: an audit's metrics, a report's changes and effects, a gate's
outcome and the report files, logged to a W&B offline run and an MLflow file store, then read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests import tracking_readers
from tests.fakes import EFFECTS
from tests.tracking_readers import mlflow_runs, wandb_runs

from tunesafe.gate import GateThresholds, evaluate_gate
from tunesafe.report import ReportFiles, write_report
from tunesafe.tracking import TrackingSpec, tracked
from tunesafe.tracking.names import audit_metrics, comparison_metrics, gate_metrics

HEADLINE = "keyword-extended"
wandb_offline = tracking_readers.wandb_offline
mlflow_store = tracking_readers.mlflow_store


@pytest.fixture(scope="module")
def report(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(runs, tmp_path_factory.mktemp("report"), effects=EFFECTS)


def _log_all(spec: TrackingSpec, runs: list[Path], report: ReportFiles) -> Any:
    with tracked(spec, "audit-shift", job="audit", params={"model": {"source": "scripted"}}) as session:
        session.log_audit(runs[1])
    with tracked(spec, "compare", job="compare") as session:
        session.log_report(report)
    result = evaluate_gate(report.json_path, GateThresholds(max_asr_increase=5))
    with tracked(spec, "gate", job="gate") as session:
        session.log_gate(result)
    return result


def _shift_metrics(runs: list[Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((runs[1] / "metrics.json").read_text(encoding="utf-8"))
    return data


def test_wandb_offline_run_holds_audit_report_and_gate(
    runs: list[Path], report: ReportFiles, wandb_offline: Path
) -> None:
    result = _log_all(TrackingSpec(service="wandb", offline=True), runs, report)
    logged = wandb_runs(wandb_offline)
    assert set(logged) == {"audit-shift", "compare", "gate"}
    assert {r.project for r in logged.values()} == {"tunesafe"} and all(r.exit_code == 0 for r in logged.values())

    audit = logged["audit-shift"]
    metrics = _shift_metrics(runs)
    asr = metrics["harmful"]["judges"][HEADLINE]["asr"]
    assert audit.job_type == "audit" and audit.config["tunesafe"] == {"model": {"source": "scripted"}}
    assert audit.last("harmful/asr") == pytest.approx(asr["value"])
    assert audit.last("harmful/asr_ci_high") == pytest.approx(asr["ci_high"])
    assert audit.last(f"harmful/judges/{HEADLINE}/asr/k") == asr["k"]
    refusal = metrics["overrefusal"]["judges"][HEADLINE]["refusal_rate"]["value"]
    assert audit.last("overrefusal/refusal_rate") == pytest.approx(refusal)
    assert audit.last("drift/conditions/FIP/accuracy/value") == pytest.approx(
        metrics["drift"]["conditions"]["FIP"]["accuracy"]["value"]
    )
    (staged,) = [files["metrics.json"] for files in audit.artifacts.values()]
    assert json.loads(staged.read_text(encoding="utf-8")) == metrics

    compare = logged["compare"]
    expected = comparison_metrics(report.comparison)
    effect = next(row for row in report.comparison.effects if row.variant == "shift-safe")
    assert effect.asr is not None and effect.asr.difference is not None
    assert compare.last("effect/shift-safe/shift/asr/difference") == pytest.approx(effect.asr.difference)
    assert compare.last("effect/shift-safe/shift/asr/p_value") == pytest.approx(effect.asr.p_value)
    assert {k for k in expected if k.startswith("effect/")} <= set(compare.history[-1])
    (files,) = compare.artifacts.values()
    assert set(files) == {"report.html", "report.md", "report.json"}
    assert files["report.html"].read_bytes() == report.html.read_bytes()

    gate = logged["gate"]
    assert gate.last("gate/passed") == (1.0 if result.passed else 0.0)
    assert gate.last("gate/n_checks") == len(result.checks) and gate.last("gate/n_failed") == len(result.failures)
    assert gate.summary["gate/reason"] == result.reason
    assert gate.summary["gate/outcome"] == ("passed" if result.passed else "failed")
    (gate_files,) = gate.artifacts.values()
    assert json.loads(gate_files["gate.json"].read_text(encoding="utf-8"))["reason"] == result.reason


def test_mlflow_file_store_holds_audit_report_and_gate(
    runs: list[Path], report: ReportFiles, mlflow_store: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    result = _log_all(TrackingSpec(service="mlflow", directory=mlflow_store), runs, report)
    logged = mlflow_runs(mlflow_store)
    client = MlflowClient(mlflow_store)
    assert set(logged) == {"audit-shift", "compare", "gate"}
    assert {r.info.status for r in logged.values()} == {"FINISHED"}

    audit = logged["audit-shift"]
    metrics = _shift_metrics(runs)
    assert audit.data.tags["tunesafe.job"] == "audit" and audit.data.params == {"tunesafe.model.source": "scripted"}
    assert audit.data.metrics == pytest.approx(audit_metrics(metrics))
    assert audit.data.metrics["harmful/asr"] == pytest.approx(metrics["harmful"]["judges"][HEADLINE]["asr"]["value"])
    downloaded = client.download_artifacts(audit.info.run_id, "audit/metrics.json", str(tmp_path))
    assert json.loads(Path(downloaded).read_text(encoding="utf-8")) == metrics

    compare = logged["compare"]
    assert compare.data.metrics == pytest.approx(comparison_metrics(report.comparison))
    assert sorted(a.path for a in client.list_artifacts(compare.info.run_id, "report")) == [
        "report/report.html",
        "report/report.json",
        "report/report.md",
    ]
    html = client.download_artifacts(compare.info.run_id, "report/report.html", str(tmp_path / "html"))
    assert Path(html).read_bytes() == report.html.read_bytes()

    gate = logged["gate"]
    assert gate.data.metrics == pytest.approx(gate_metrics(result))
    assert gate.data.tags["gate/reason"] == result.reason
    assert [a.path for a in client.list_artifacts(gate.info.run_id, "gate")] == ["gate/gate.json"]


def test_a_failing_body_marks_the_tracked_run_failed_in_both_services(
    runs: list[Path], wandb_offline: Path, mlflow_store: str
) -> None:
    for spec in (TrackingSpec(service="wandb", offline=True), TrackingSpec(service="mlflow", directory=mlflow_store)):
        with pytest.raises(RuntimeError, match="backend died"), tracked(spec, "broken", job="audit"):
            raise RuntimeError("backend died")
    assert wandb_runs(wandb_offline)["broken"].exit_code == 1
    assert mlflow_runs(mlflow_store)["broken"].info.status == "FAILED"


def test_an_experiment_groups_its_runs(wandb_offline: Path, mlflow_store: str) -> None:
    from tunesafe.tracking import open_tracking

    for spec in (TrackingSpec(service="wandb", offline=True), TrackingSpec(service="mlflow", directory=mlflow_store)):
        session = open_tracking(spec)
        with session.group("demo"):
            for name in ("audit-base", "report"):
                with session.run(name, job=name.split("-")[0]):
                    session.log_metrics({"x": 1.0})
    logged = wandb_runs(wandb_offline)
    assert {(r.name, r.group, r.job_type) for r in logged.values()} == {
        ("audit-base", "demo", "audit"),
        ("report", "demo", "report"),
    }
    stored = mlflow_runs(mlflow_store)
    parent = stored["demo"].info.run_id
    assert {stored[n].data.tags.get("mlflow.parentRunId") for n in ("audit-base", "report")} == {parent}
    assert stored["demo"].info.status == "FINISHED"
