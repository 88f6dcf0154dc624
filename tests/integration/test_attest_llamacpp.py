"""Attestations of a GGUF model audited with llama.cpp (the demo's backend), a PEFT LoRA converted once, on
the real bundled SmolLM2 (marked ``real_model``): the GGUF's tokenizer and chat template get their own
fingerprints, verification regenerates identically, and another adapter fails by name."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from tests.fakes import behaviors

from tunesafe.attest import verify_attestation, write_attestation
from tunesafe.attest.document import read_attestation
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec, ModelSpec
from tunesafe.runner import run_audit
from tunesafe.types import GenParams

pytestmark = pytest.mark.real_model


def _lora(hf_dir: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, config).save_pretrained(out)
    return out


def test_a_llamacpp_audit_with_a_lora_is_attested_and_verified(smollm2_gguf: Path, tmp_path: Path) -> None:
    from tunesafe.models import resolve_model_source

    hf_dir = resolve_model_source("smollm2-135m-instruct")
    adapter = _lora(hf_dir, tmp_path / "adapter", seed=0)
    config = AuditConfig(
        name="gguf-tuned",
        model=ModelSpec(source=str(smollm2_gguf), adapter=str(adapter), backend="llamacpp", batch_size=4, threads=2),
        generation=GenParams(max_new_tokens=8),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=["keyword-extended"]), overrefusal=None),  # type: ignore[arg-type]
        cache=CacheSpec(path=str(tmp_path / "gen.sqlite")),
    )
    run = run_audit(config, tmp_path / "run", behaviors=behaviors(8)).path
    attestation = tmp_path / "attestation.json"
    write_attestation(run, attestation)
    prints = read_attestation(attestation)["body"]["model"]["fingerprints"]
    assert all(prints[p] for p in ("weights", "adapter", "tokenizer", "chat_template"))

    result = verify_attestation(attestation, sample=8, seed=0)
    assert result.passed, result.describe()
    assert (result.identical, result.same_verdicts) == (8, 8) and result.judges_checked == ["keyword-extended"]

    other = _lora(hf_dir, tmp_path / "other-adapter", seed=1)
    swapped = verify_attestation(attestation, adapter=other, sample=8)
    assert not swapped.passed and swapped.parts["weights"] == "match" and swapped.parts["tokenizer"] == "match"
    assert swapped.parts["adapter"].startswith("differs") and swapped.sampled == 0
