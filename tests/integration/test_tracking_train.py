"""Tracking a fine-tune of the tiny model: TRL's ``report_to`` receives the training curves, and the
safety-during-training ASR lands at its training steps, in a W&B offline run and an MLflow file store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests import tracking_readers
from tests.tiny_model import tiny_train_config
from tests.tracking_readers import mlflow_runs, wandb_runs

from tunesafe.tracking import TrackingSpec, tracked
from tunesafe.train import sft
from tunesafe.train.run import finetune_run

pytest.importorskip("trl")

wandb_offline = tracking_readers.wandb_offline
mlflow_store = tracking_readers.mlflow_store


@pytest.fixture
def config(tiny_model_dir: Path, safety_files: dict[str, Path]):  # -> TrainConfig
    """4 LoRA steps on benign rows; a safety point at steps 0, 2 and 4 on 3 placeholder prompts."""
    safety = {"every_n_steps": 2, "dataset": str(safety_files["prompts"]), "max_new_tokens": 4}
    return tiny_train_config(tiny_model_dir, safety_files["data"], safety_eval=safety)


def _curve(run: Path) -> list[tuple[int, float]]:
    lines = (run / "train" / "safety_curve.jsonl").read_text(encoding="utf-8").splitlines()
    points = [json.loads(line) for line in lines]
    assert [p["step"] for p in points] == [0, 2, 4]
    return [(p["step"], p["asr"]["value"]) for p in points if p["asr"]["value"] is not None]


def _same_curve(logged: list, expected: list[tuple[int, float]]) -> None:
    assert expected, "no curve point had an ASR to log"
    assert [step for step, _ in logged] == [step for step, _ in expected]
    assert [value for _, value in logged] == pytest.approx([value for _, value in expected])


def test_sft_config_reports_nowhere_unless_told() -> None:
    from tunesafe.config import TrainConfig

    assert sft.sft_config(TrainConfig(), Path("unused")).report_to == []
    assert sft.sft_config(TrainConfig(), Path("unused"), ["mlflow"]).report_to == ["mlflow"]


def test_wandb_offline_gets_training_curves_and_the_safety_curve(config, wandb_offline: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with tracked(TrackingSpec(service="wandb", offline=True), "ft", job="finetune", params={"max_steps": 4}) as s:
        run = finetune_run(config, run_dir, tracking=s)
        s.log_finetune(run.path)
    logged = wandb_runs(wandb_offline)["ft"]
    assert json.loads((run_dir / "train" / "training_args.json").read_text())["report_to"] == ["wandb"]
    assert [step for step, _ in logged.values("train/loss")] == [1, 2, 3, 4]  # transformers' WandbCallback
    assert logged.config["learning_rate"] == config.learning_rate and logged.config["tunesafe"] == {"max_steps": 4}
    _same_curve(logged.values("safety/asr"), _curve(run_dir))
    assert logged.last("finetune/steps") == 4 and logged.exit_code == 0
    (files,) = logged.artifacts.values()
    assert files["safety_curve.jsonl"].read_bytes() == (run_dir / "train" / "safety_curve.jsonl").read_bytes()


def test_mlflow_gets_training_curves_and_the_safety_curve(config, mlflow_store: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    run_dir = tmp_path / "run"
    with tracked(TrackingSpec(service="mlflow", directory=mlflow_store), "ft", job="finetune") as s:
        finetune_run(config, run_dir, tracking=s)
        s.log_finetune(run_dir)
    stored = mlflow_runs(mlflow_store)
    assert set(stored) == {"ft"}  # the trainer logged into tunesafe's run, it did not open its own
    client, run_id = MlflowClient(mlflow_store), stored["ft"].info.run_id
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3, 4]  # MLflowCallback
    assert stored["ft"].data.params["learning_rate"] == str(config.learning_rate)
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "safety/asr"))
    _same_curve(history, _curve(run_dir))
    assert stored["ft"].data.metrics["finetune/steps"] == 4 and stored["ft"].info.status == "FINISHED"


def test_cli_run_tracks_each_step_as_a_child_run(
    tiny_model_dir: Path, tmp_path: Path, placeholder_data: None, mlflow_store: str
) -> None:
    """``tunesafe run --track mlflow``: one parent run for the experiment, one child per fine-tune, audit and report."""
    import yaml
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from tunesafe.cli import app

    experiment = {
        "name": "tiny",
        "base": {"source": str(tiny_model_dir), "threads": 1, "batch_size": 4},
        "generation": {"max_new_tokens": 4},
        "audits": {"harmful": {"judges": ["keyword-extended"]}, "overrefusal": None},
        "cache": {"path": str(tmp_path / "gen.sqlite")},
        "train": {"max_steps": 2, "per_device_batch_size": 2, "max_length": 128, "warmup_steps": 0},
        "variants": [{"name": "harmful", "data": {"recipe": "harmful-prefix", "n_examples": 4}}],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment))
    args = ["run", str(path), "-o", str(tmp_path / "exp"), "-q", "--track", "mlflow", "--track-dir", mlflow_store]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    stored = mlflow_runs(mlflow_store)
    assert set(stored) == {"tiny", "audit-base", "finetune-harmful", "audit-harmful", "report"}
    parent = stored["tiny"].info.run_id
    children = {name: run for name, run in stored.items() if name != "tiny"}
    assert {run.data.tags.get("mlflow.parentRunId") for run in children.values()} == {parent}
    assert {run.info.status for run in stored.values()} == {"FINISHED"}
    client = MlflowClient(mlflow_store)
    assert [m.step for m in client.get_metric_history(children["finetune-harmful"].info.run_id, "loss")] == [1, 2]
    metrics = json.loads((tmp_path / "exp" / "audit-harmful" / "metrics.json").read_text(encoding="utf-8"))
    asr = metrics["harmful"]["judges"]["keyword-extended"]["asr"]["value"]
    assert children["audit-harmful"].data.metrics["harmful/asr"] == pytest.approx(asr)
    report = [a.path for a in client.list_artifacts(children["report"].info.run_id, "report")]
    assert "report/report.html" in report
    assert any(k.startswith("compare/harmful/keyword-extended/harmful/") for k in children["report"].data.metrics)
