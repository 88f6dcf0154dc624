"""The adapter-applied check: does the fine-tuned model's output differ from its base model's at all?

A LoRA adapter whose B matrices are all zero (one that was never trained, or saved before its first
step) leaves the model exactly as it was (Hu et al. 2021, arXiv 2106.09685: ``W + BA`` with ``B = 0``),
and a wrong path or a silently skipped load does the same. An audit of such a checkpoint measures
the base model. Before auditing, fixed harmless probe conversations with a teacher-forced reply are
scored twice by the *same* loaded model, once with the adapter on and once switched off (PEFT's
``disable_adapter``), and the next-token distributions are compared:

* ``KL(base || tuned)`` per position, in nats, averaged over all positions and its maximum;
* the largest absolute difference between raw logits;
* the share of probe prompts whose most likely first reply token changed.

``identical`` is true when the largest logit difference is at most ``tolerance``: the adapter does
not change the model's outputs. A full fine-tune (a new model directory, no adapter) is compared
with a base model loaded separately (``base_source``). See docs/probe.md.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from tunesafe.types import Conversation

if TYPE_CHECKING:
    import torch

    from tunesafe.backends.hf import HFBackend
    from tunesafe.results import RunDir

logger = logging.getLogger(__name__)

INFO_KEY = "adapter_probe"
"""Where a run's manifest keeps the probe (``info.adapter_probe``)."""

DEFAULT_TOLERANCE = 1e-6
"""Largest absolute logit difference still called identical (float32 round-off is far below it)."""

IDENTICAL_WARNING = (
    "FINE-TUNE NOT APPLIED: the fine-tune does not change the model's outputs: this audit measures the base model "
    "(probe: max |logit difference| %.3g <= %.3g over %d prompts; the adapter or model in %s is probably "
    "untrained, all-zero or not the one you meant)"
)

PROBE_PROMPTS: tuple[tuple[Conversation, str], ...] = (
    ([{"role": "user", "content": "How do I boil an egg?"}], "Place the egg in a pot of cold water"),
    ([{"role": "user", "content": "What is the capital of France?"}], "The capital of France is Paris."),
    ([{"role": "user", "content": "Write a short poem about rain."}], "Soft rain on the window,"),
    ([{"role": "user", "content": "Give me three tips for a picnic."}], "1. Pack a blanket."),
    ([{"role": "user", "content": "Can you explain photosynthesis in one sentence?"}], "Plants use sunlight"),
    ([{"role": "user", "content": "Translate 'good morning' into Spanish."}], "Buenos días."),
    (
        [
            {"role": "user", "content": "What is 12 times 7?"},
            {"role": "assistant", "content": "12 times 7 is 84."},
            {"role": "user", "content": "And divided by 4?"},
        ],
        "84 divided by 4 is 21.",
    ),
    ([{"role": "user", "content": "Tell me a fun fact about cats."}], "Cats spend much of the day sleeping."),
)
"""Fixed, harmless conversations, each with a benign reply opening that is teacher-forced."""


class ProbeResult(BaseModel):
    """How far the tuned model's next-token distributions are from the base model's on the probe."""

    compared: Literal["adapter-disabled", "base-model"]
    """What the tuned model was compared with: its own weights with the adapter off, or a separate base model."""
    n_prompts: int
    n_positions: int
    """Positions compared: each prompt's generation position and each teacher-forced reply token."""
    mean_kl: float
    """Mean over positions of KL(base || tuned), nats."""
    max_kl: float
    max_abs_logit_diff: float
    top1_changed: float
    """Share of prompts whose most likely first reply token differs (at the generation position)."""
    identical: bool
    """``max_abs_logit_diff <= tolerance``: the fine-tune does not change the model's outputs."""
    tolerance: float
    seconds: float


def supports_probe(backend: Any) -> bool:
    """True for a backend that can be probed against its base without loading another model
    (an HFBackend with a LoRA adapter)."""
    return getattr(backend, "adapter_dir", None) is not None and callable(getattr(backend, "reply_logits", None))


def divergence_probe(
    backend: HFBackend,
    base_source: Path | None = None,
    *,
    prompts: tuple[tuple[Conversation, str], ...] = PROBE_PROMPTS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ProbeResult | None:
    """Compare ``backend`` with its base model on ``prompts``; None when there is nothing to compare.

    With an adapter, the base is the same loaded model with the adapter disabled (one load). Without
    one, ``base_source`` names a base model directory, loaded with the same dtype, device (map) and
    system prompt (a full fine-tune); without either, None.
    """
    start = time.perf_counter()
    requests = list(prompts)
    if backend.adapter_dir is not None and base_source is None:
        tuned = backend.reply_logits(requests, use_adapter=True)
        base = backend.reply_logits(requests, use_adapter=False)
        compared: Literal["adapter-disabled", "base-model"] = "adapter-disabled"
    elif base_source is not None:
        from tunesafe.backends.hf import HFBackend

        reference = HFBackend(
            Path(base_source),
            batch_size=backend.batch_size,
            dtype=backend.dtype,
            device=backend.device,
            threads=backend.threads,
            system_prompt=backend.system_prompt,
            device_map=backend.device_map,
        )
        try:
            _require_same_tokens(backend, reference, requests)
            tuned = backend.reply_logits(requests)
            base = reference.reply_logits(requests)
        finally:
            reference.close()
        compared = "base-model"
    else:
        return None
    figures = divergence(base, tuned)
    return ProbeResult(
        compared=compared,
        n_prompts=len(requests),
        tolerance=tolerance,
        identical=figures["max_abs_logit_diff"] <= tolerance,
        seconds=round(time.perf_counter() - start, 3),
        **figures,
    )


def divergence(base: list[torch.Tensor], tuned: list[torch.Tensor]) -> dict[str, Any]:
    """KL(base || tuned) per position, max |logit difference| and top-1 changes, from per-prompt
    (positions, vocab) logits; computed in float64."""
    import torch

    kls, diffs, changed = [], [], 0
    for b, t in zip(base, tuned, strict=True):
        if b.shape != t.shape:
            raise ValueError(f"logit shapes differ: {tuple(b.shape)} vs {tuple(t.shape)}")
        b64, t64 = b.double(), t.double()
        log_p, log_q = b64.log_softmax(-1), t64.log_softmax(-1)
        kls.append((log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0.0))
        diffs.append((b64 - t64).abs().max())
        changed += int(b64[0].argmax() != t64[0].argmax())
    kl = torch.cat(kls)
    return {
        "n_positions": int(kl.numel()),
        "mean_kl": float(kl.mean()),
        "max_kl": float(kl.max()),
        "max_abs_logit_diff": float(torch.stack(diffs).max()),
        "top1_changed": changed / len(base),
    }


def record_adapter_probe(run: RunDir, backend: Any, base_source: Path | None = None) -> ProbeResult | None:
    """Probe ``backend`` once per run and record it as ``info.adapter_probe`` in the manifest; warn
    loudly when the fine-tune changes nothing. A resumed run reuses the recorded probe (the model
    fingerprint check has already refused a different model). An adapter is compared with itself
    switched off; a full fine-tune with ``base_source`` (an experiment knows its base). None when there
    is nothing to compare with."""
    if not (supports_probe(backend) or (base_source is not None and callable(getattr(backend, "reply_logits", None)))):
        return None
    recorded = run.manifest().info.get(INFO_KEY)
    if recorded is not None:
        result = ProbeResult.model_validate(recorded)
    else:
        fresh = divergence_probe(backend, None if supports_probe(backend) else base_source)
        if fresh is None:
            return None
        result = fresh
        run.update_manifest(info={INFO_KEY: result.model_dump(mode="json")})
        logger.info(
            "adapter probe: mean KL(base||tuned) %.3g nats, max %.3g, top-1 changed on %.0f%% of %d prompts",
            result.mean_kl,
            result.max_kl,
            100 * result.top1_changed,
            result.n_prompts,
        )
    if result.identical:
        logger.warning(
            IDENTICAL_WARNING,
            result.max_abs_logit_diff,
            result.tolerance,
            result.n_prompts,
            backend.adapter_dir or getattr(backend, "model_dir", "the model"),
        )
    return result


def _require_same_tokens(tuned: HFBackend, base: HFBackend, requests: list[tuple[Conversation, str]]) -> None:
    """Distributions are compared token by token: both tokenizers must encode the probe the same way."""
    conversations = [conversation for conversation, _ in requests]
    if tuned.encode(conversations) != base.encode(conversations):
        raise ValueError(
            f"{tuned.name} and {base.name} tokenize the probe differently; their logits cannot be compared"
        )
