"""``--track`` on the command line, and what a tracking failure does: a clear error before any work, or a
warning mid-run with the run directory untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests import tracking_readers
from tests.fakes import EFFECTS
from tests.tracking_readers import mlflow_runs, wandb_runs
from typer.testing import CliRunner

from tunesafe.cli import app
from tunesafe.errors import InputError
from tunesafe.report import write_report
from tunesafe.tracking import TrackingError, TrackingSession, TrackingSpec, TrackingUnavailable, tracked, tracking_spec
from tunesafe.tracking.names import audit_metrics

wandb_offline = tracking_readers.wandb_offline
mlflow_store = tracking_readers.mlflow_store


SERVED = ("audit", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1")  # never contacted here


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_compare_and_gate_track_to_mlflow(runs: list[Path], mlflow_store: str, tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = _invoke("compare", *map(str, runs), "-o", str(report), "--track", "mlflow", "--track-dir", mlflow_store)
    assert done.exit_code == 0, done.output
    gated = _invoke(
        "gate", str(report), "--max-asr-increase", "5", "--track", "mlflow", "--track-dir", mlflow_store,
        "--track-name", "release-gate", "--track-project", "ci",
    )  # fmt: skip
    result = json.loads((report / "report.json").read_text(encoding="utf-8"))
    stored = mlflow_runs(mlflow_store)
    assert set(stored) == {"compare"} and stored["compare"].data.params["tunesafe.runs"].startswith("['")
    base, shift = (row["name"] for row in result["judges"][0]["models"][:2])
    judge = result["judges"][0]["judge"]
    change = result["judges"][0]["models"][1]["change"]
    assert stored["compare"].data.metrics[f"compare/harmful/{judge}/{shift}/change/difference"] == pytest.approx(
        change["difference"]
    )
    assert base == "base"
    gate = mlflow_runs(mlflow_store, experiment="ci")["release-gate"]
    assert gate.data.metrics["gate/passed"] == (1.0 if gated.exit_code == 0 else 0.0)
    assert gate.data.tags["gate/reason"] in gated.output


def test_audit_tracks_to_wandb_offline(
    runs: list[Path], wandb_offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tunesafe audit --track wandb --track-offline``: one offline run holding the audit's metrics."""
    import shutil

    import tunesafe.runner
    from tunesafe.results import RunDir

    def audit_as_scripted(cfg: Any, output: Path, **_: object) -> RunDir:  # the served model is a scripted run
        shutil.copytree(runs[1], output)
        return RunDir(output)

    monkeypatch.setattr(tunesafe.runner, "run_audit", audit_as_scripted)
    monkeypatch.delenv("WANDB_MODE")  # --track-offline alone makes it offline
    out = tmp_path / "audit"
    done = _invoke(*SERVED, "--name", "shift", "-o", str(out), "--track", "wandb", "--track-offline", "-q")
    assert done.exit_code == 0, done.output
    run = wandb_runs(wandb_offline)["shift"]
    expected = audit_metrics(json.loads((out / "metrics.json").read_text(encoding="utf-8")))
    assert run.job_type == "audit" and run.exit_code == 0
    assert run.config["tunesafe"]["name"] == "shift"
    assert {name: run.last(name) for name in expected} == pytest.approx(expected)
    assert "offline runs in" in done.output


def test_bad_track_settings_fail_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "audit"
    done = _invoke(*SERVED, "-o", str(out), "--track", "neptune")
    assert done.exit_code == 2 and "--track 'neptune': choose wandb or mlflow" in done.output
    assert not out.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    done = _invoke(*SERVED, "-o", str(out), "--track", "mlflow",
                   "--track-dir", str(a_file / "store"))  # fmt: skip
    assert done.exit_code == 2 and "--track-dir" in done.output and not out.exists()
    monkeypatch.setitem(sys.modules, "wandb", None)  # the extra is not installed
    done = _invoke(*SERVED, "-o", str(out), "--track", "wandb")
    assert done.exit_code == 2 and "pip install 'tunesafe[wandb]'" in done.output and not out.exists()


@pytest.mark.parametrize("service", ["wandb", "mlflow"])
def test_a_missing_extra_is_an_input_error_naming_the_extra(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, service, None)
    spec = tracking_spec(service)
    with (
        pytest.raises(TrackingUnavailable, match=rf"pip install 'tunesafe\[{service}\]'") as caught,
        tracked(spec, "x", job="audit"),
    ):
        pytest.fail("the body must not run")
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)


def test_options_without_track_and_unknown_services_are_refused() -> None:
    assert tracking_spec(None) is None
    with pytest.raises(TrackingError, match="need --track"):
        tracking_spec(None, directory="x")
    with pytest.raises(TrackingError, match="choose wandb or mlflow"):
        tracking_spec("tensorboard")
    assert tracking_spec(" MLflow ", offline=True) == TrackingSpec(service="mlflow", offline=True)


def test_mlflow_offline_refuses_a_remote_server() -> None:
    pytest.importorskip("mlflow")
    spec = TrackingSpec(service="mlflow", directory="http://127.0.0.1:9", offline=True)
    with pytest.raises(TrackingError, match="remote MLflow server"), tracked(spec, "x", job="audit"):
        pytest.fail("the body must not run")


class _Flaky:
    """A tracker that starts, then fails on every log (a service that died mid-run)."""

    service = "mlflow"

    def __init__(self, fail_start: bool = False) -> None:
        self.fail_start, self.ended, self.logged = fail_start, [], 0

    def location(self) -> str:
        return "nowhere"

    def open_group(self, name: str) -> None: ...

    def close_group(self, *, failed: bool = False) -> None: ...

    def start_run(self, name: str, *, job: str, params: Any) -> None:
        if self.fail_start:
            raise ConnectionError("server unreachable")

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        self.logged += 1
        raise ConnectionError("connection reset")

    def log_texts(self, texts: Any) -> None: ...

    def log_artifact(self, paths: Any, *, name: str, kind: str) -> None: ...

    def end_run(self, *, failed: bool = False) -> None:
        self.ended.append(failed)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_failure_mid_run_warns_stops_tracking_and_leaves_the_run_dir_alone(
    runs: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    before = _snapshot(runs[0])
    tracker = _Flaky()
    session = TrackingSession(tracker)
    with session.run("audit", job="audit"):
        session.log_audit(runs[0])  # raises inside: a warning, not an error
        session.log_metrics({"x": 1.0})  # tracking has stopped: not tried again
        assert session.report_to == []  # the trainer is not sent to a broken service either
    assert tracker.logged == 1 and not session.enabled
    assert "the run goes on untracked" in caplog.text and "connection reset" in caplog.text
    assert _snapshot(runs[0]) == before


def test_a_failure_to_start_is_an_error_before_the_body_runs() -> None:
    session = TrackingSession(_Flaky(fail_start=True))
    with pytest.raises(TrackingError, match="could not start .server unreachable"), session.run("a", job="audit"):
        pytest.fail("the body must not run")


def test_report_to_names_the_service_only_while_a_run_is_open(mlflow_store: str, runs: list[Path]) -> None:
    session = TrackingSession(_Flaky())
    assert session.report_to == []
    with session.run("ft", job="finetune"):
        assert session.report_to == ["mlflow"]
    assert session.report_to == []
    assert TrackingSession(None).report_to == [] and not TrackingSession(None).enabled
    write_report(runs, Path(mlflow_store.removeprefix("file://")) / "unused", effects=EFFECTS)  # no tracker: no error


def test_help_imports_neither_service() -> None:
    loaded = "'wandb' in sys.modules or 'mlflow' in sys.modules"
    code = f"import sys, tunesafe.cli, tunesafe.tracking; sys.exit(int({loaded}))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
