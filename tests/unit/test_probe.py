"""The adapter-applied check on the tiny random model: zero-B LoRA is identical, a perturbed one is not."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes import behaviors
from tests.tiny_model import build_tiny_model

from tunesafe.adapter_check import INFO_KEY, PROBE_PROMPTS, ProbeResult, divergence, divergence_probe, supports_probe
from tunesafe.backends.hf import HFBackend
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec
from tunesafe.results import RunDir
from tunesafe.runner import run_audit
from tunesafe.types import GenParams

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _save_adapter(model_dir: Path, out: Path, *, trained: bool) -> Path:
    """A LoRA adapter saved with PEFT: ``trained`` gives random A and B (changes the logits); otherwise
    PEFT's default init, B = 0, which is what an adapter that was never trained looks like."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=not trained)
    with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, lora).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def zero_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_adapter(tiny_model_dir, tmp_path_factory.mktemp("zero") / "adapter", trained=False)


@pytest.fixture(scope="module")
def perturbed_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_adapter(tiny_model_dir, tmp_path_factory.mktemp("perturbed") / "adapter", trained=True)


def _config(tmp_path: Path) -> AuditConfig:
    return AuditConfig(
        name="probe",
        generation=GenParams(max_new_tokens=3),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(), overrefusal=None),
        cache=CacheSpec(path=str(tmp_path / "gen.sqlite")),
        chunk_size=4,
    )


def test_divergence_on_known_distributions() -> None:
    # p = (1/2, 1/2), q = (3/4, 1/4): KL(p || q) = 1/2 ln(4/3); second position unchanged
    base = [torch.tensor([[0.0, 0.0], [1.0, 0.0]])]
    tuned = [torch.tensor([[math.log(3.0), 0.0], [1.0, 0.0]], dtype=torch.float64)]
    figures = divergence(base, tuned)
    assert figures["n_positions"] == 2
    assert figures["max_kl"] == pytest.approx(0.5 * math.log(4 / 3), abs=1e-12)
    assert figures["mean_kl"] == pytest.approx(0.25 * math.log(4 / 3), abs=1e-12)
    assert figures["max_abs_logit_diff"] == pytest.approx(math.log(3.0), abs=1e-6)
    flipped = divergence([torch.tensor([[1.0, 0.0]])], [torch.tensor([[0.0, 1.0]])])
    assert flipped["top1_changed"] == 1.0
    # a constant shift of every logit leaves the distribution unchanged: KL 0, but a logit difference
    shifted = divergence([torch.tensor([[1.0, 2.0]])], [torch.tensor([[3.0, 4.0]])])
    assert shifted["max_kl"] == pytest.approx(0.0, abs=1e-12) and shifted["max_abs_logit_diff"] == 2.0
    with pytest.raises(ValueError, match="shapes differ"):
        divergence([torch.zeros(1, 2)], [torch.zeros(1, 3)])


def test_reply_logits_switch_the_adapter_off_on_one_model(tiny_model_dir: Path, perturbed_adapter: Path) -> None:
    requests = list(PROBE_PROMPTS[:3])
    tuned = HFBackend(tiny_model_dir, adapter_dir=perturbed_adapter, batch_size=2)
    plain = HFBackend(tiny_model_dir, batch_size=3)
    with_adapter = tuned.reply_logits(requests)
    without = tuned.reply_logits(requests, use_adapter=False)
    reference = plain.reply_logits(requests)
    for (conversation, _reply), off, base, on in zip(requests, without, reference, with_adapter, strict=True):
        assert off.shape == base.shape == on.shape and off.shape[0] >= 2  # generation position + reply tokens
        torch.testing.assert_close(off, base, rtol=0, atol=1e-5)  # adapter off == the base model
        assert not torch.allclose(on, base, atol=1e-3)
        # the generation position's logits are those of the prompt alone
        ids = torch.tensor([plain.encode([conversation])[0]])
        with torch.inference_mode():
            last = plain.model(input_ids=ids).logits[0, -1]
        torch.testing.assert_close(base[0], last, rtol=0, atol=1e-5)
    # the adapter is switched back on afterwards
    torch.testing.assert_close(tuned.reply_logits(requests)[0], with_adapter[0], rtol=0, atol=0)


def test_zero_b_adapter_is_identical(tiny_model_dir: Path, zero_adapter: Path) -> None:
    result = divergence_probe(HFBackend(tiny_model_dir, adapter_dir=zero_adapter, batch_size=4))
    assert result is not None and result.compared == "adapter-disabled"
    assert result.identical and result.max_abs_logit_diff <= result.tolerance
    assert result.mean_kl == pytest.approx(0.0, abs=1e-12) and result.top1_changed == 0.0
    assert result.n_prompts == len(PROBE_PROMPTS) and result.n_positions > result.n_prompts


def test_perturbed_adapter_diverges(tiny_model_dir: Path, perturbed_adapter: Path) -> None:
    result = divergence_probe(HFBackend(tiny_model_dir, adapter_dir=perturbed_adapter, batch_size=4))
    assert result is not None and not result.identical
    assert result.mean_kl > 1e-6 and result.max_kl >= result.mean_kl and result.max_abs_logit_diff > 1e-3


def test_no_adapter_gives_none_unless_a_base_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    plain = HFBackend(tiny_model_dir)
    assert not supports_probe(plain) and divergence_probe(plain) is None
    assert divergence_probe(plain, tiny_model_dir).identical  # a "full fine-tune" equal to its base
    other = build_tiny_model(tmp_path / "other", seed=1)  # same tokenizer, other weights
    full = divergence_probe(HFBackend(other), tiny_model_dir)
    assert full is not None and full.compared == "base-model" and not full.identical and full.mean_kl > 0


def test_run_audit_warns_and_records_a_zero_adapter(
    tiny_model_dir: Path, zero_adapter: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = HFBackend(tiny_model_dir, adapter_dir=zero_adapter, batch_size=4)
    with caplog.at_level(logging.WARNING, logger="tunesafe.adapter_check"):
        run = run_audit(_config(tmp_path), tmp_path / "run", backend=backend, behaviors=behaviors(4))
    recorded = ProbeResult.model_validate(run.manifest().info[INFO_KEY])
    assert recorded.identical and run.manifest().status == "success"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "tunesafe.adapter_check"]
    assert len(warned) == 1 and "this audit measures the base model" in warned[0].getMessage()


def test_run_audit_records_a_perturbed_adapter_and_does_not_probe_again_on_resume(
    tiny_model_dir: Path,
    perturbed_adapter: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, out = _config(tmp_path), tmp_path / "run"
    backend = HFBackend(tiny_model_dir, adapter_dir=perturbed_adapter, batch_size=4)
    with caplog.at_level(logging.WARNING, logger="tunesafe.adapter_check"):
        first = run_audit(config, out, backend=backend, behaviors=behaviors(4)).manifest().info[INFO_KEY]
    assert not first["identical"] and first["mean_kl"] > 0
    assert not [r for r in caplog.records if r.name == "tunesafe.adapter_check"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the probe ran again on resume")

    monkeypatch.setattr("tunesafe.adapter_check.divergence_probe", refuse)
    resumed = run_audit(config, out, backend=backend, behaviors=behaviors(4))
    assert resumed.manifest().info[INFO_KEY] == first and resumed.manifest().status == "success"


def test_run_audit_without_an_adapter_records_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = run_audit(_config(tmp_path), tmp_path / "run", backend=HFBackend(tiny_model_dir), behaviors=behaviors(4))
    assert INFO_KEY not in RunDir(run.path).manifest().info
