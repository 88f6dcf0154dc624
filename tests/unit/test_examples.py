"""Every example config validates, and the example data file is valid TRL messages JSONL."""

from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, TrainConfig, load_config
from tunesafe.data.formats import read_messages_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted((EXAMPLES / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_config_validates(path: Path) -> None:
    kind = TrainConfig if path.name.startswith("finetune") else AuditConfig
    config = load_config(kind, path)
    if isinstance(config, TrainConfig) and config.data.path:
        assert (EXAMPLES.parent / config.data.path).is_file()


def test_example_data_is_valid() -> None:
    rows = read_messages_jsonl(EXAMPLES / "data" / "benign_messages.jsonl")
    assert len(rows) == 8 and all(r["messages"][-1]["role"] == "assistant" for r in rows)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_example_experiment_validates_and_plans(path: Path, tmp_path: Path) -> None:
    from tunesafe.experiment import ExperimentConfig, plan_experiment

    experiment = load_config(ExperimentConfig, path)
    plan = plan_experiment(experiment, tmp_path)
    assert len([s for s in plan.steps if s.kind == "audit"]) == 1 + len(experiment.models())
    assert path.stem == experiment.name  # the file is named after the experiment (runs/<name>)
