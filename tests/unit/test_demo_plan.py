"""The demo's plan: every HarmBench standard and contextual behaviour, audited on llama.cpp when it is there."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from tunesafe import demo
from tunesafe.audits.harmful import build_samples
from tunesafe.config import HarmfulAuditSpec


def test_default_plan_audits_all_240_standard_and_contextual_behaviours() -> None:
    plan = demo.DemoPlan()
    assert plan.backend == "llamacpp" and plan.audit_limit is None
    samples, _ = build_samples(HarmfulAuditSpec(subsets=plan.subsets, limit=plan.audit_limit), plan.seed, None)
    assert len(samples) == 240
    assert {s.subset for s in samples} == {"standard", "contextual"}


def test_quick_plan_stays_small() -> None:
    quick = demo.DemoPlan.quick()
    assert quick.model == "smollm2-135m-instruct" and quick.audit_limit is not None and quick.audit_limit <= 60


def test_llamacpp_falls_back_to_transformers_when_not_installed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with caplog.at_level(logging.WARNING):
        assert demo.audit_backend("llamacpp") == "hf"
    assert "llama-cpp-python is not installed" in caplog.text
    assert demo.audit_backend("hf") == "hf"


def test_audit_configs_carry_the_chosen_backend() -> None:
    from tunesafe.config import CacheSpec, ModelSpec

    plan = demo.DemoPlan()
    config = demo._audit_config("base", ModelSpec(source=plan.model, backend="llamacpp"), plan, CacheSpec())
    assert config.model.backend == "llamacpp" and config.model.batch_size == plan.batch_size
    assert config.audits.harmful is not None and config.audits.harmful.limit is None
