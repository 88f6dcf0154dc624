"""Loading a Hugging Face model for the HF backend: tokenizer, weights, placement, LoRA adapter.

Local files only (``local_files_only``); the adapter is applied with ``peft.PeftModel`` and never
merged, so the base weights stay untouched.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe.backends.base import BackendError

if TYPE_CHECKING:
    import torch


def require_file(directory: Path, filename: str, what: str) -> None:
    """Refuse a folder that is not a model (or adapter) folder, before anything loads."""
    if not (directory / filename).is_file():
        raise BackendError(f"{directory} is not a {what} directory (no {filename})")


def load_tokenizer(model_dir: Path) -> Any:
    """The model's tokenizer, left padding; refuses one without a chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if not tokenizer.chat_template:
        raise BackendError(f"{model_dir}: the tokenizer has no chat template")
    tokenizer.padding_side = "left"
    return tokenizer


def input_device(model: Any) -> torch.device:
    """The device a model's input ids go to: its input embeddings'. With a ``device_map`` the layers
    span several devices (accelerate's hooks move activations between them) and ``model.device``
    names only the first parameter's."""
    device: torch.device
    try:
        device = model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):  # a model class without input embeddings to ask
        device = model.device
    return device


def load_model(
    model_dir: Path, adapter_dir: Path | None, dtype: torch.dtype, device: str, device_map: str | None = None
) -> Any:
    """The causal LM in eval mode, on ``device`` (or placed by ``device_map``), with the adapter on top."""
    from transformers import AutoModelForCausalLM

    placement = {"device_map": device_map} if device_map is not None else {}
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, local_files_only=True, **placement)
    if device_map is None:  # a device_map has placed (and may have sharded) the weights already
        model.to(device)
    if adapter_dir is not None:
        from peft import PeftModel

        with warnings.catch_warnings():  # peft 0.21 calls a transformers 5.x API that warns on every load
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    model.eval()
    return model


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
"""Where a model's ``config.json`` states its context window (the first one found)."""
SANE_MAX_LENGTH = 10**8
"""A tokenizer's ``model_max_length`` at or above this is transformers' "no limit" placeholder (1e30)."""


def stated_context_window(model_dir: Path, tokenizer: Any) -> int | None:
    """A model folder's context window: ``config.json``'s ``max_position_embeddings`` (or the like; a
    multimodal config's ``text_config``), or the tokenizer's ``model_max_length`` when that is a real
    limit and smaller. None when neither says."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    scopes = [config, config.get("text_config") or {}]
    stated: int | None = next((s[k] for s in scopes for k in CONTEXT_KEYS if _positive_int(s.get(k))), None)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < SANE_MAX_LENGTH and (stated is None or limit < stated):
        stated = limit
    return stated


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
