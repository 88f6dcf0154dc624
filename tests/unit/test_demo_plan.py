"""The demo is a bundled experiment file: every HarmBench standard and contextual behaviour, audited on
llama.cpp when it is there, with the same audit configs (hence run directories) as before it was one."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from tunesafe.audits.harmful import build_samples
from tunesafe.config import config_hash
from tunesafe.experiment import audit_config, available_backend, demo_experiment, plan_experiment, train_config

# The base audit's config hash under the demo as it was written before (tunesafe.demo.DemoPlan, commit
# 553bb45): equal hashes mean a demo directory made then resumes its audits now.
BASE_AUDIT_HASH = {
    False: "dbe96ee77a1f448e160df5d3fa2e82edbe93ea89a9939624347ac20ea7c21f6d",
    True: "e9dd3ebc59bc4c4b83079cef96895f799079b403013cd34623fe6dbafc511c98",
}


# The fine-tunes' config hashes under that same demo (tunesafe.demo._train_config, commit 6fe653e): a demo
# folder's finetune-harmful-prefix and finetune-refusal made then are reused now, not trained again.
FINETUNE_HASH = {
    (False, "harmful-prefix"): "994becc71b1a4982d6dd7718a7c8e9f0404846b0741776405095fcbcddcf2bb9",
    (False, "refusal"): "40690d72a006d74f4ac09cc594911fead35eee0254359405456a2bbc44b871ae",
    (True, "harmful-prefix"): "1db78166b2b7711bdd7ef3fd722cdd4ae7708f3e0e7fefd45790e1a3284df0e8",
    (True, "refusal"): "d4bdd11dbdbca9737e0df70ba0a27285c82d45de2d5ca7b2aa429c41553b7a0b",
}


@pytest.mark.parametrize(("quick", "variant"), sorted(FINETUNE_HASH))
def test_the_fine_tunes_are_the_demo_of_before(quick: bool, variant: str) -> None:
    experiment = demo_experiment(quick)
    config = train_config(experiment, next(v for v in experiment.variants if v.name == variant))
    assert (config.name, config.model.batch_size) == (f"{variant}-finetune", 8)
    assert config_hash(config) == FINETUNE_HASH[(quick, variant)]


@pytest.mark.parametrize("quick", [False, True])
def test_the_base_audit_is_the_demo_of_before(quick: bool) -> None:
    experiment = demo_experiment(quick)
    model = experiment.base.model_copy(update={"backend": "llamacpp"})
    config = audit_config(experiment, "base", model)
    assert config_hash(config) == BASE_AUDIT_HASH[quick]
    assert config.model.batch_size == 16


def test_default_demo_audits_all_240_standard_and_contextual_behaviours() -> None:
    experiment = demo_experiment()
    spec = experiment.audits.harmful
    assert experiment.audit_backend == "llamacpp" and spec is not None and spec.limit is None
    samples, _ = build_samples(spec, experiment.seed, None)
    assert len(samples) == 240
    assert {s.subset for s in samples} == {"standard", "contextual"}


def test_demo_fine_tunes_and_plan(tmp_path: Path) -> None:
    experiment = demo_experiment()
    assert [v.name for v in experiment.variants] == ["harmful-prefix", "refusal"]
    tuned = train_config(experiment, experiment.variants[0])
    assert tuned.method == "lora" and (tuned.lora.r, tuned.lora.alpha) == (16, 16)
    assert (tuned.max_steps, tuned.seed, tuned.data.n_examples, tuned.data.recipe) == (12, 3407, 160, "harmful-prefix")
    plan = plan_experiment(experiment, tmp_path)
    assert [(s.kind, s.variant) for s in plan.steps] == [
        ("audit", "base"),
        ("finetune", "harmful-prefix"),
        ("audit", "harmful-prefix"),
        ("finetune", "refusal"),
        ("audit", "refusal"),
    ]


def test_quick_demo_stays_small() -> None:
    quick = demo_experiment(quick=True)
    assert quick.base.source == "smollm2-135m-instruct"
    assert quick.audits.harmful is not None and quick.audits.harmful.limit is not None
    assert quick.audits.harmful.limit <= 60


def test_overrides_reach_the_demo() -> None:
    experiment = demo_experiment(overrides=["audit_backend=hf", "generation.max_new_tokens=8"])
    assert experiment.audit_backend == "hf" and experiment.generation.max_new_tokens == 8


def test_llamacpp_falls_back_to_transformers_when_not_installed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with caplog.at_level(logging.WARNING):
        assert available_backend("llamacpp") == "hf"
    assert "llama-cpp-python is not installed" in caplog.text
    assert available_backend("hf") == "hf"
