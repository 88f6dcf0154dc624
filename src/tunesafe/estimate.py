"""What an experiment will cost before it runs: generations, training steps and a rough CPU time.

Counts are exact (the audits' samples are built from the bundled data, no model is loaded). Times
are an order-of-magnitude guide for a CPU, scaled from what tunesafe measured for
Qwen2.5-Coder-0.5B-Instruct on 2 cores (docs/benchmarks.md): ``SECONDS_PER_TOKEN`` per generated
token at batch 16 and ``SECONDS_PER_STEP`` per optimiser step (effective batch 8, 256-token rows),
both proportional to the parameter count. A GPU is one to two orders of magnitude faster; steps
already finished (cached generations, finished fine-tunes) cost nothing and are left out.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from tunesafe.config import AuditConfig, ModelSpec, TrainConfig

logger = logging.getLogger(__name__)

REFERENCE_PARAMS = 0.494e9
"""Qwen2.5-Coder-0.5B-Instruct, the model the rates below were measured on."""
SECONDS_PER_TOKEN = 0.035
"""Generation, 2 CPU cores, batch 16: the demo's audits (about 9,400 new tokens in 331 s)."""
SECONDS_PER_STEP = 14.0
"""LoRA training, 2 CPU cores: 16 steps of 8 rows × 256 tokens in about 230 s."""
KNOWN_PARAMS = {"qwen2.5-coder-0.5b-instruct": 0.494e9, "smollm2-135m-instruct": 0.135e9}


class AuditCost(BaseModel):
    """Generations and new tokens (at most) of one audited model, per audit."""

    generations: dict[str, int]
    new_tokens: int
    loglik_requests: int = 0

    @property
    def total(self) -> int:
        return sum(self.generations.values())


def audit_cost(config: AuditConfig) -> AuditCost:
    """Generations each audit of ``config`` asks for (drift with ``known_only``: the upper bound)."""
    from tunesafe.audits import all_audits

    counts: dict[str, int] = {}
    tokens = loglik = 0
    for audit in all_audits():
        spec = audit.spec_of(config.audits)
        if spec is None:
            continue
        cost = audit.cost(spec, config)
        counts[audit.name] = cost.generations
        tokens += cost.new_tokens
        loglik += cost.loglik_requests
    return AuditCost(generations=counts, new_tokens=tokens, loglik_requests=loglik)


def parameter_count(model: ModelSpec) -> float | None:
    """Parameters of ``model`` from its name or its local ``config.json`` (None when unknown without a download)."""
    if model.source in KNOWN_PARAMS:
        return KNOWN_PARAMS[model.source]
    config = Path(model.source) / "config.json"
    if not config.is_file():
        return None
    try:
        return params_from_config(json.loads(config.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def params_from_config(cfg: dict[str, Any]) -> float:
    """A decoder-only transformer's parameters from its HF config: attention and MLP weights per
    layer plus the embeddings (tied or not); within a few percent for Llama / Qwen / Mistral shapes."""
    hidden = int(cfg["hidden_size"])
    layers = int(cfg["num_hidden_layers"])
    vocab = int(cfg["vocab_size"])
    intermediate = int(cfg.get("intermediate_size") or 4 * hidden)
    heads = int(cfg.get("num_attention_heads", 1))
    kv_heads = int(cfg.get("num_key_value_heads", heads))
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    mlp = 3 * hidden * intermediate
    embeddings = vocab * hidden * (1 if cfg.get("tie_word_embeddings", True) else 2)
    return float(layers * (attention + mlp) + embeddings)


def train_steps(config: TrainConfig, n_rows: int) -> int:
    """Optimiser steps of a fine-tune: ``max_steps``, or epochs × rows / effective batch."""
    if config.max_steps > 0:
        return config.max_steps
    per_step = config.per_device_batch_size * config.gradient_accumulation_steps
    return max(1, int(config.num_train_epochs * -(-n_rows // per_step)))


def generation_seconds(cost: AuditCost, params: float | None) -> float | None:
    if params is None:
        return None
    scale = params / REFERENCE_PARAMS
    return cost.new_tokens * SECONDS_PER_TOKEN * scale + cost.loglik_requests * 0.05 * scale


def training_seconds(config: TrainConfig, steps: int, params: float | None) -> float | None:
    if params is None:
        return None
    rows = config.per_device_batch_size * config.gradient_accumulation_steps
    scale = params / REFERENCE_PARAMS * rows / 8 * config.max_length / 256
    return steps * SECONDS_PER_STEP * scale * (3.0 if config.method == "full" else 1.0)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
