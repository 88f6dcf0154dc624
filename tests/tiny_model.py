"""Build a tiny random chat model on disk, offline, in about a second.

A byte-level BPE tokenizer is trained in-process on harmless templated English, wrapped in
``PreTrainedTokenizerFast`` with ChatML special tokens and a chat template, and paired with a
random ``LlamaForCausalLM`` of about 30k parameters. The model's text is noise: content
assertions belong to the scripted backend; this model tests shapes, batching, padding,
fingerprints, adapters and training plumbing.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (IM_START, IM_END, PAD)

# ChatML with `{% generation %}` markers around assistant content, so TRL's assistant-only loss
# (`return_assistant_tokens_mask`) works on this model too.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}{{- '\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

_SUBJECTS = [
    "The weather",
    "My garden",
    "This recipe",
    "The library",
    "Our train",
    "The museum",
    "A good book",
    "The soup",
    "Your question",
    "The river",
]
_VERBS = ["looks", "seems", "is", "feels", "was", "will be"]
_ADJECTIVES = ["sunny", "calm", "warm", "quiet", "fresh", "busy", "simple", "lovely", "cold", "bright"]
_TIMES = ["today", "this morning", "tomorrow", "in the evening", "at noon", "every weekend"]
_REQUESTS = [
    "How do I bake bread?",
    "What is the capital of France?",
    "Can you explain photosynthesis?",
    "Write a short poem about rain.",
    "How do I boil an egg?",
    "What time is sunset?",
    "Give me tips for a picnic.",
    "How do plants grow?",
    "Tell me a fun fact about cats.",
    "How can I learn to cook rice?",
]
_OPENINGS = ["Sure, here is", "Of course! Here is", "Certainly, here is", "Happy to help. Here is"]
_ANSWERS = [
    "a simple answer.",
    "a short list of steps.",
    "what you need to know.",
    "an easy recipe.",
    "a quick summary.",
]
_REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot assist with that request.",
    "I'm not able to provide that, but I can help with something else.",
    "As an AI assistant, I must decline.",
    "Sorry, I won't help with that.",
]


def training_corpus() -> list[str]:
    """A few hundred lines of harmless, varied English (weather, cooking, help, refusals)."""
    lines = [
        f"{s} {v} {a} {t}."
        for s, v, a, t in itertools.islice(itertools.product(_SUBJECTS, _VERBS, _ADJECTIVES, _TIMES), 0, None, 7)
    ]
    lines += [f"{req} {opening} {answer}" for req, opening, answer in itertools.product(_REQUESTS, _OPENINGS, _ANSWERS)]
    lines += [f"{req} {refusal}" for req, refusal in itertools.product(_REQUESTS, _REFUSALS)]
    lines += ["You are a helpful assistant.", "user", "assistant", "system", "\n"]
    return lines


def build_tokenizer(vocab_size: int = 1000):  # -> PreTrainedTokenizerFast
    """Train a byte-level BPE tokenizer in-process and wrap it with ChatML tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(training_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Save a tiny random Llama chat model (weights + tokenizer) to ``out_dir`` and return it.

    The tokenizer is the same for every seed; the weights depend only on ``seed``.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(PAD)
    config = LlamaConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_train_config(model_dir: Path, data: Path, **overrides: Any):  # -> TrainConfig
    """A LoRA fine-tune of the tiny model on a TRL ``messages`` JSONL file: 4 steps of 2 rows, 64 tokens.

    ``overrides`` replace top-level settings (``max_steps``, ``save_steps``, ``safety_eval``, ``screen``, ...).
    """
    from tunesafe.config import TrainConfig

    settings: dict[str, Any] = {
        "model": {"source": str(model_dir), "threads": 1},
        "data": {"recipe": None, "path": str(data)},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "max_steps": 4,
        "per_device_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 64,
        "warmup_steps": 0,
        "seed": 1,
    }
    return TrainConfig.model_validate({**settings, **overrides})
