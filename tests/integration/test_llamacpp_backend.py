"""The in-process llama.cpp backend on the real bundled SmolLM2 GGUF (marked ``real_model``).

Batched decoding must give what one-at-a-time decoding gives, sampling must not depend on batch
neighbours, log-likelihoods must agree with the HF backend on the same weights (the HF model is
the GGUF dequantized), and a PEFT LoRA converted by llama.cpp's own converter must act as it does
under peft.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from tests.fakes import require_llama_cpp

from tunesafe.backends.base import BackendError, supports_loglikelihood
from tunesafe.types import GenParams

pytestmark = pytest.mark.real_model
MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Who wrote Hamlet?",
    "Give me one tip for learning Python.",
    "Describe a cat in one sentence.",
]
CONVERSATIONS = [[{"role": "user", "content": p}] for p in PROMPTS]


@pytest.fixture(scope="module")
def hf_dir() -> Path:
    from tunesafe.models import resolve_model_source

    return resolve_model_source(MODEL)


@pytest.fixture(scope="module")
def lora_adapter(hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (non-zero) PEFT LoRA on SmolLM2, saved the way peft saves adapters."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    out = tmp_path_factory.mktemp("lora")
    get_peft_model(model, config).save_pretrained(out)
    return out


def _backend(smollm2_gguf: Path, **kwargs: object):  # noqa: ANN202
    from tunesafe.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(smollm2_gguf, threads=2, **kwargs)  # type: ignore[arg-type]


def test_batched_greedy_decoding_matches_one_at_a_time(smollm2_gguf: Path) -> None:
    params = GenParams(max_new_tokens=24)
    backend = _backend(smollm2_gguf, batch_size=6, flash_attn=False)
    batched = backend.generate(CONVERSATIONS, params)
    assert [c.text for c in backend.generate(CONVERSATIONS, params)] == [c.text for c in batched]  # deterministic
    single = _backend(smollm2_gguf, batch_size=1, flash_attn=False)
    alone = [single.generate([c], params)[0] for c in CONVERSATIONS]
    # a batch runs other matrix kernels than one row, so a near-tie can flip late in a text (as with
    # padding in transformers); most texts agree whole
    same = sum(a.text == b.text for a, b in zip(batched, alone, strict=True))
    assert same >= 4, [(a.text, b.text) for a, b in zip(batched, alone, strict=True)]
    for completion in batched:
        assert completion.finish_reason in {"stop", "length"}
        assert 1 <= completion.n_tokens <= 24
        assert "<|im_end|>" not in completion.text  # control tokens are not rendered


def test_sampling_is_seeded_per_conversation_not_per_batch(smollm2_gguf: Path) -> None:
    backend = _backend(smollm2_gguf, batch_size=4)
    params = GenParams(max_new_tokens=16, temperature=0.9, top_p=0.9, seed=7)
    together = backend.generate(CONVERSATIONS, params)
    reordered = backend.generate(CONVERSATIONS[::-1], params)[::-1]
    assert [c.text for c in together] == [c.text for c in reordered]
    other_seed = backend.generate(CONVERSATIONS, params.model_copy(update={"seed": 8}))
    assert [c.text for c in together] != [c.text for c in other_seed]


def test_a_one_token_reply_to_a_prompt_just_generated_from_is_not_read_again(smollm2_gguf: Path) -> None:
    requests = [(c, v) for c in CONVERSATIONS for v in ("True", "False")]
    requests += [(CONVERSATIONS[0], "The capital of France is Paris.")]  # several tokens: read again
    fresh = _backend(smollm2_gguf, batch_size=4).loglikelihood(requests)
    backend = _backend(smollm2_gguf, batch_size=4)
    backend.generate(CONVERSATIONS, GenParams(max_new_tokens=4))
    reads: list[int] = []
    prefill = backend.runtime.prefill
    backend.runtime.prefill = lambda ctx, rows, first: reads.append(len(rows)) or prefill(ctx, rows, first)  # type: ignore[method-assign]
    reused = backend.loglikelihood(requests)
    assert reads == [1]  # only the multi-token continuation's prompt
    assert [s.n_tokens for s in reused] == [s.n_tokens for s in fresh]
    assert [s.logprob for s in reused] == pytest.approx([s.logprob for s in fresh], abs=1e-3)
    backend.close()  # a reloaded model reads prompts anew
    reads.clear()
    backend.loglikelihood(requests[:2])
    assert reads == [1]


def test_token_logprobs_and_entropy(smollm2_gguf: Path) -> None:
    completion = _backend(smollm2_gguf, batch_size=2).generate(
        CONVERSATIONS[:2], GenParams(max_new_tokens=8, logprobs=5)
    )[0]
    assert completion.steps is not None and len(completion.steps) == completion.n_tokens
    for step in completion.steps:
        assert step.logprob <= 0.0 and step.entropy >= 0.0
        assert step.top_ids[0] == step.token_id  # greedy: the chosen token is the most likely one
        assert step.top_logprobs == sorted(step.top_logprobs, reverse=True)
        assert sum(math.exp(v) for v in step.top_logprobs) <= 1.0 + 1e-6


def test_loglikelihood_agrees_with_the_hf_backend(smollm2_gguf: Path, hf_dir: Path) -> None:
    from tunesafe.backends.hf import HFBackend

    requests = [(c, " True") for c in CONVERSATIONS] + [(c, " False") for c in CONVERSATIONS]
    requests += [(CONVERSATIONS[0], "The capital of France is Paris.")]
    backend = _backend(smollm2_gguf, batch_size=4, flash_attn=False)
    assert supports_loglikelihood(backend)
    ours = backend.loglikelihood(requests)
    theirs = HFBackend(hf_dir, batch_size=4).loglikelihood(requests)
    assert [s.n_tokens for s in ours] == [s.n_tokens for s in theirs]
    diffs = [abs(a.logprob - b.logprob) for a, b in zip(ours, theirs, strict=True)]
    # the same weights; llama.cpp quantizes activations in its dot products, so not bit-equal
    assert sum(diffs) / len(diffs) < 0.5
    # " True" and " False" after one prompt share one forward pass; alone, each gets its own
    pair = [(CONVERSATIONS[1], " True"), (CONVERSATIONS[1], " False")]
    shared = backend.loglikelihood(pair)
    alone = [backend.loglikelihood([r])[0] for r in pair]
    assert [s.logprob for s in shared] == pytest.approx([s.logprob for s in alone], abs=1e-4)


def test_lora_adapter_converted_once_and_applied(smollm2_gguf: Path, hf_dir: Path, lora_adapter: Path) -> None:
    from tunesafe.backends.gguf_export import resolve_gguf_adapter
    from tunesafe.backends.hf import HFBackend

    lora, identity = resolve_gguf_adapter(str(lora_adapter), MODEL)
    stamp = lora.stat().st_mtime_ns
    assert resolve_gguf_adapter(str(lora_adapter), MODEL)[0].stat().st_mtime_ns == stamp  # cached, not redone
    requests = [(c, " Sure.") for c in CONVERSATIONS]
    base = _backend(smollm2_gguf, flash_attn=False).loglikelihood(requests)
    tuned = _backend(smollm2_gguf, lora_path=lora, adapter_identity=identity, flash_attn=False)
    with_lora = tuned.loglikelihood(requests)
    peft = HFBackend(hf_dir, adapter_dir=lora_adapter).loglikelihood(requests)
    moved = [abs(a.logprob - b.logprob) for a, b in zip(with_lora, base, strict=True)]
    agree = [abs(a.logprob - b.logprob) for a, b in zip(with_lora, peft, strict=True)]
    assert sum(moved) / len(moved) > 4 * sum(agree) / len(agree)  # the adapter acts, as it does under peft
    assert tuned.fingerprint() != _backend(smollm2_gguf).fingerprint()


def test_fingerprint_is_content_not_path(smollm2_gguf: Path, tmp_path: Path) -> None:
    copy = tmp_path / "renamed.gguf"
    shutil.copyfile(smollm2_gguf, copy)
    assert _backend(copy).fingerprint() == _backend(smollm2_gguf).fingerprint()
    assert _backend(smollm2_gguf, system_prompt="Be kind.").fingerprint() != _backend(smollm2_gguf).fingerprint()
    assert _backend(smollm2_gguf, flash_attn=False).fingerprint() != _backend(smollm2_gguf).fingerprint()


def test_full_checkpoint_exported_to_gguf(hf_dir: Path) -> None:
    require_llama_cpp()
    from tunesafe.backends.gguf_export import resolve_gguf_model

    exported = resolve_gguf_model(str(hf_dir))
    assert exported.suffix == ".gguf" and resolve_gguf_model(str(hf_dir)) == exported
    completion = _backend(exported).generate(CONVERSATIONS[:1], GenParams(max_new_tokens=12))[0]
    assert completion.text and completion.n_tokens >= 1


def test_audit_through_the_runner_records_backend_and_resumes(smollm2_gguf: Path, tmp_path: Path) -> None:
    from tunesafe.config import (
        AuditConfig,
        AuditsSpec,
        CacheSpec,
        DriftAuditSpec,
        HarmfulAuditSpec,
        ModelSpec,
        OverrefusalAuditSpec,
        TruthfulnessAuditSpec,
    )
    from tunesafe.runner import run_audit

    config = AuditConfig(
        name="llamacpp",
        model=ModelSpec(source=MODEL, backend="llamacpp", batch_size=8, threads=2),
        generation=GenParams(max_new_tokens=16),
        audits=AuditsSpec(
            harmful=HarmfulAuditSpec(subsets=["standard", "contextual"], limit=8, judges=["keyword-extended"]),
            overrefusal=OverrefusalAuditSpec(limit=6, judges=["keyword-extended"]),
            drift=DriftAuditSpec(limit=4),
            truthfulness=TruthfulnessAuditSpec(limit=4),
        ),
        cache=CacheSpec(path=str(tmp_path / "gen.sqlite")),
    )
    run = run_audit(config, tmp_path / "run")
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["status"] == "success"
    assert manifest["info"]["backend"].startswith("llamacpp:")
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["harmful"]["n"] if "n" in metrics["harmful"] else metrics["harmful"]
    assert "loglik" in json.dumps(metrics["truthfulness"])  # margins came from the llama.cpp logits
    drift = [json.loads(line) for line in (run.path / "samples" / "drift.jsonl").read_text().splitlines()]
    assert drift and all(r["completion"]["steps"] for r in drift)
    again = run_audit(config, tmp_path / "run")
    assert json.loads((again.path / "manifest.json").read_text())["info"]["cache_misses"] == 0


def test_missing_gguf_is_a_clear_error(tmp_path: Path) -> None:
    require_llama_cpp()
    from tunesafe.backends.llamacpp import LlamaCppBackend

    with pytest.raises(BackendError, match="no such GGUF file"):
        LlamaCppBackend(tmp_path / "absent.gguf")


def test_adapter_applied_check_runs_on_the_gguf_lora(smollm2_gguf: Path, lora_adapter: Path) -> None:
    from tunesafe.adapter_check import divergence_probe, supports_probe
    from tunesafe.backends.gguf_export import resolve_gguf_adapter

    lora, identity = resolve_gguf_adapter(str(lora_adapter), MODEL)
    tuned = _backend(smollm2_gguf, lora_path=lora, adapter_identity=identity, adapter_dir=lora_adapter)
    assert supports_probe(tuned) and not supports_probe(_backend(smollm2_gguf))
    result = divergence_probe(tuned)
    assert result is not None and result.compared == "adapter-disabled"
    assert not result.identical and result.mean_kl > 0.0
    # switching the adapter off for the probe leaves it on for what follows
    on = tuned.loglikelihood([(CONVERSATIONS[0], " Sure.")])[0].logprob
    base = _backend(smollm2_gguf).loglikelihood([(CONVERSATIONS[0], " Sure.")])[0].logprob
    assert on != pytest.approx(base, abs=1e-3)
