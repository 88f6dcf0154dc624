"""The dry-run cost estimate: exact counts from the audits' samples, parameter counts from HF configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, AuditsSpec, DriftAuditSpec, ModelSpec, TrainConfig
from tunesafe.estimate import audit_cost, fmt_duration, parameter_count, params_from_config, train_steps
from tunesafe.experiment import ExperimentConfig, plan_costs, plan_experiment

SMOLLM2_135M = {  # SmolLM2-135M-Instruct's config.json (the fields that count): 134,515,008 parameters
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "vocab_size": 49152,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "tie_word_embeddings": True,
}


def test_parameter_count_from_a_config_matches_the_published_size() -> None:
    assert params_from_config(SMOLLM2_135M) == pytest.approx(134.5e6, rel=0.01)
    untied = params_from_config({**SMOLLM2_135M, "tie_word_embeddings": False})
    assert untied - params_from_config(SMOLLM2_135M) == 49152 * 576


def test_parameter_count_reads_a_local_config(tmp_path: Path) -> None:
    import json

    (tmp_path / "config.json").write_text(json.dumps({**SMOLLM2_135M, "head_dim": None}))
    assert parameter_count(ModelSpec(source=str(tmp_path))) == pytest.approx(134.5e6, rel=0.01)
    assert parameter_count(ModelSpec(source="hf:someone/unknown")) is None
    assert parameter_count(ModelSpec(source="smollm2-135m-instruct")) == 0.135e9


def test_drift_generations_are_questions_times_conditions_times_runs() -> None:
    config = AuditConfig(
        audits=AuditsSpec(
            harmful=None,
            overrefusal=None,
            drift=DriftAuditSpec(limit=10, conditions=["B", "FIP", "RIP"], runs=3, temperature=0.7, known_only=True),
        )
    )
    cost = audit_cost(config)
    assert cost.generations == {"drift": 10 * 3 * 3 + 10}  # + the known-questions screen
    assert cost.new_tokens == 100 * 16


def test_training_steps_from_max_steps_or_epochs() -> None:
    assert train_steps(TrainConfig(max_steps=16), 160) == 16
    epochs = TrainConfig(max_steps=-1, num_train_epochs=2, per_device_batch_size=4, gradient_accumulation_steps=2)
    assert train_steps(epochs, 161) == 2 * 21  # ceil(161 / 8) per epoch


def test_fmt_duration() -> None:
    assert (fmt_duration(None), fmt_duration(30), fmt_duration(600), fmt_duration(7200)) == (
        "?",
        "30 s",
        "10 min",
        "2.0 h",
    )


def test_plan_costs_counts_only_what_is_left(tmp_path: Path) -> None:
    exp = ExperimentConfig.model_validate(
        {
            "base": {"source": "smollm2-135m-instruct"},
            "audits": {"harmful": None, "overrefusal": None, "drift": {"limit": 5}},
            "train": {"max_steps": 4},
            "variants": [{"name": "b", "data": {"recipe": "benign"}}, {"name": "p", "system_prompt": "Be brief."}],
        }
    )
    lines = plan_costs(exp, plan_experiment(exp, tmp_path))
    assert "drift 15 generations" in lines[0]
    assert "to do: 3 audit(s), 45 generations; 1 fine-tune(s), 4 optimiser steps" in lines[1]
    assert "rough time on a 2-core CPU" in lines[2]
